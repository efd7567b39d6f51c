"""`import_model` beyond single operators: the dynamic batch, the format choice, labels, the
manifest, the files written, the errors, and the promise that no weight value is in the text."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest

from ezlang.manifest import Manifest, TensorEntry, name_labels
from ezlang.onnx_import import ImportFailure, ImportOptions, import_model, write_bundle
from ezlang.onnx_import.bundle import read_labels
from ezlang.onnx_import.library import parse_param, standard_library, with_scale
from ezlang.onnx_import.plan import Namer
from ezlang.weights import decode_weights
from onnx_support import assert_close, import_and_run, model, node, reference


def _mlp(rng: np.random.Generator, batch: object = "N") -> onnx.ModelProto:
    weights = {"fc1.weight": rng.normal(0, 0.3, (6, 16)), "fc1.bias": rng.normal(0, 0.1, 6),
               "fc2.weight": rng.normal(0, 0.3, (4, 6)), "fc2.bias": rng.normal(0, 0.1, 4)}
    nodes = [node("Flatten", ["x"], ["flat"]),
             node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["h"], transB=1),
             node("Relu", ["h"], ["r"]),
             node("Gemm", ["r", "fc2.weight", "fc2.bias"], ["logits"], transB=1)]
    return model(nodes, {"x": [batch, 4, 4]}, ["logits"], weights)


def _save(proto: onnx.ModelProto, folder: Path) -> Path:
    path = folder / "model.onnx"
    onnx.save(proto, str(path))
    return path


def test_a_dynamic_batch_is_chosen_at_run_time(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    proto = _mlp(rng)
    for batch in (1, 3):
        x = rng.uniform(-1, 1, (batch, 4, 4)).astype(np.float32)
        imported = import_and_run(proto, {"x": x}, tmp_path, batch=batch)
        assert_close(imported.outputs[0], reference(proto, {"x": x})[0], 2e-3)
    program = imported.bundle.program
    assert "input(ALL, batch, int32_pl, [1, 1024]);" in program
    assert "fixed<16>_al[batch*4*4]" in program and "GemmRelu(batch, 16, 6," in program
    assert imported.bundle.manifest.batch == "dynamic"
    assert json.loads(imported.bundle.public or "") == {"batch": 1}


def test_batch_fixed_at_import(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    proto = _mlp(rng)
    x = rng.uniform(-1, 1, (2, 4, 4)).astype(np.float32)
    imported = import_and_run(proto, {"x": x}, tmp_path, options=ImportOptions(bitlen=64, scale=16, batch=2))
    assert_close(imported.outputs[0], reference(proto, {"x": x})[0], 2e-3)
    assert "batch" not in imported.bundle.program.split("def void main")[1]
    assert imported.bundle.public is None and imported.bundle.manifest.batch == 2


def test_the_program_holds_no_weight_value(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    bundle = import_model(_save(_mlp(rng), tmp_path), ImportOptions(input_range=(-1.0, 1.0)))
    weights = decode_weights(bundle.weights, "model.weights")
    main = bundle.program.split("def void main")[1]
    for literal in re.findall(r"\d+\.\d+", main):  # only the declared ranges: powers of two
        value = Fraction(literal)
        assert value == 0 or value.numerator == 1 or value.denominator == 1, literal
        assert (value.numerator * value.denominator) & (value.numerator * value.denominator - 1) == 0, literal
    for values in weights.values():
        for value in values.reshape(-1):
            assert f"{abs(float(value)):.5f}"[1:] not in bundle.program  # no 5-digit fraction of any weight
    assert set(weights) == {"fc1Weight", "fc1Bias", "fc2Weight", "fc2Bias"}
    assert weights["fc1Weight"].shape == (16, 6)  # transposed for Gemm (transB folded)


def test_weight_ranges_are_rounded_out_to_powers_of_two(tmp_path: Path) -> None:
    weights = {"W": np.array([[0.3, -0.2], [0.1, 0.05]])}
    proto = model([node("MatMul", ["x", "W"], ["y"])], {"x": [1, 2]}, ["y"], weights)
    bundle = import_model(_save(proto, tmp_path), ImportOptions(bitlen=32, scale=12))
    assert "input(SERVER, W, fixed<12>_al[2*2], [-0.5, 0.5]);" in bundle.program


def test_calibration_declares_the_input_range_and_chooses_the_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    samples = tmp_path / "samples.npy"
    np.save(samples, rng.uniform(-0.3, 0.7, (10, 4, 4)).astype(np.float32))
    bundle = import_model(_save(_mlp(rng), tmp_path), ImportOptions(calibrate=samples))
    assert "input(CLIENT, x, fixed<%d>_al[batch*4*4], [-1.0, 1.0]);" % bundle.manifest.scale in bundle.program
    assert bundle.format_reason.startswith(f"--bitlen {bundle.manifest.bitlen} --scale {bundle.manifest.scale} fits")
    assert (bundle.manifest.bitlen, bundle.manifest.scale) == (32, 13)


def test_without_input_ranges_the_defaults_are_used(tmp_path: Path) -> None:
    bundle = import_model(_save(_mlp(np.random.default_rng(4)), tmp_path))
    assert (bundle.manifest.bitlen, bundle.manifest.scale) == (32, 12)
    assert "no declared range" in bundle.format_reason


def test_manifest_and_labels(tmp_path: Path) -> None:
    labels = tmp_path / "names.csv"
    labels.write_text("Number,Cluster Name,Notes\n1,alpha,\n2,beta,x\n3,alpha,\n4,gamma,\n5,delta,\n")
    options = ImportOptions(bitlen=64, scale=16, labels=labels, argmax=True)
    bundle = import_model(_save(_mlp(np.random.default_rng(5)), tmp_path), options)
    document = json.loads(bundle.manifest.to_json())
    assert document["labels"] == ["alpha", "beta", "gamma", "delta"]
    assert document["inputs"] == [{"name": "batch", "shape": [], "party": "ALL"},
                                  {"name": "x", "shape": ["batch", 4, 4], "party": "CLIENT"}]
    assert document["outputs"] == [{"name": "logitsLabel", "shape": ["batch"], "kind": "label"}]
    assert (document["scale"], document["bitlen"], document["batch"]) == (16, 64, "dynamic")


def test_labels_must_match_the_classes(tmp_path: Path) -> None:
    labels = tmp_path / "names.txt"
    labels.write_text("a\nb\nc\n")
    with pytest.raises(ImportFailure) as caught:
        import_model(_save(_mlp(np.random.default_rng(6)), tmp_path), ImportOptions(labels=labels))
    assert caught.value.diagnostic.code == "E0805"
    assert caught.value.diagnostic.message == f"{labels} gives 3 labels but the model has 4 classes"


def test_labels_from_a_csv_need_a_name_column(tmp_path: Path) -> None:
    labels = tmp_path / "names.csv"
    labels.write_text("id,group\n1,a\n")
    assert read_labels(labels, "group") == ("a",)
    with pytest.raises(ImportFailure) as caught:
        read_labels(labels)
    assert caught.value.diagnostic.code == "E0805"


def test_label_names_follow_class_indices() -> None:
    manifest = Manifest("m", (), (TensorEntry("label", ("batch",), kind="label"),), 12, 32, "dynamic",
                        ("rest", "visual", "motor"))
    text = "SERVER:\n  (no outputs)\nCLIENT:\n  label = [1.0, 0.0, 7.0]\n  other = [1.0]\n"
    named = name_labels(text, manifest)
    assert named == "SERVER:\n  (no outputs)\nCLIENT:\n  label = [1 (visual), 0 (rest), 7.0]\n  other = [1.0]\n"
    assert name_labels(named, manifest) == named


def test_unsupported_operators_are_listed_in_one_error(tmp_path: Path) -> None:
    nodes = [node("Relu", ["x"], ["a"]), node("Erf", ["a"], ["b"]), node("Floor", ["b"], ["c"]),
             node("ArgMax", ["c"], ["y"], select_last_index=1)]
    with pytest.raises(ImportFailure) as caught:
        import_model(_save(model(nodes, {"x": [2, 3]}, ["y"], indices=["y"]), tmp_path))
    diagnostic = caught.value.diagnostic
    assert diagnostic.code == "E0802"
    assert diagnostic.message.endswith("model.onnx: 3 node(s) cannot be imported")
    assert diagnostic.notes == ('node "Erf_b": operator Erf', 'node "Floor_c": operator Floor',
                                'node "ArgMax_y" (ArgMax): select_last_index=1')


def test_an_unreadable_model_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ImportFailure) as caught:
        import_model(path)
    assert caught.value.diagnostic.code == "E0801"
    assert caught.value.diagnostic.message.startswith(f"{path} is not a valid ONNX model: ")


def test_an_unsupported_shape_names_the_node(tmp_path: Path) -> None:
    proto = model([node("Add", ["a", "b"], ["y"])], {"a": [2, 3], "b": [2, 1]}, ["y"])
    with pytest.raises(ImportFailure) as caught:
        import_model(_save(proto, tmp_path))
    assert caught.value.diagnostic.code == "E0803"
    assert caught.value.diagnostic.message.startswith('node "Add_y" (Add): Add of [2, 3] and [2, 1]')


def test_too_large_a_batch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFailure) as caught:
        import_model(_save(_mlp(np.random.default_rng(7)), tmp_path), ImportOptions(max_batch=1 << 28))
    assert caught.value.diagnostic.code == "E0803"


def test_write_bundle_keeps_other_files(tmp_path: Path) -> None:
    bundle = import_model(_save(_mlp(np.random.default_rng(8)), tmp_path), ImportOptions(bitlen=32, scale=12))
    out = tmp_path / "out"
    out.mkdir()
    (out / "scan.npy").write_bytes(b"keep me")
    written = write_bundle(bundle, out)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.ezpc", "model.weights", "public.json",
                                                     "scan.npy"]
    assert [p.name for p in written] == ["model.ezpc", "model.weights", "manifest.json", "public.json"]
    assert (out / "model.ezpc").read_text() == bundle.program


def test_names_are_ezpc_identifiers() -> None:
    namer = Namer({"Gemm"})
    assert [namer.fresh(n) for n in ("/fc1/Gemm_output_0", "fc1.weight", "0.bias", "batch", "Gemm", "fc1.weight")] \
        == ["fc1GemmOutput0", "fc1Weight", "t0Bias", "batch2", "Gemm2", "fc1Weight2"]


def test_library_copies_are_written_at_the_model_scale() -> None:
    text = "(* a fixed comment *)\ninline def void F(int32_pl n, fixed_al[n] X, fixed<0>_al[n] Y) {\n" \
           "  fixed_pl half = 0.5;\n  for i = [0 : n] { Y[i] = X[i] > half ? 1 : 0 }\n}\n"
    assert with_scale(text, 20) == text.replace("fixed_al", "fixed<20>_al").replace("fixed_pl", "fixed<20>_pl")
    params = [parse_param(p) for p in ("int32_pl n", "fixed_al[n*\n  m] X", "fixed<0>_al[n] Y")]
    assert [(p.name, p.is_array, p.declared(20)) for p in params] == \
        [("n", False, "int32_pl"), ("X", True, "fixed<20>_al"), ("Y", True, "fixed<0>_al")]
    assert "inline def void ArgMax(int32_pl N, int32_pl M, fixed<9>_al[N*M] X, fixed<0>_al[N] Y)" in \
        standard_library().source(["ArgMax"], 9)


def test_calibration_must_hold_every_input(tmp_path: Path) -> None:
    samples = tmp_path / "samples.npz"
    np.savez(samples, other=np.zeros(3))
    with pytest.raises(ImportFailure) as caught:
        import_model(_save(_mlp(np.random.default_rng(9)), tmp_path), ImportOptions(calibrate=samples))
    assert caught.value.diagnostic.code == "E0804"
    assert caught.value.diagnostic.message == f"{samples} has no samples for input `x` (it has other)"


def test_no_format_fits_an_unbounded_range(tmp_path: Path) -> None:
    options = ImportOptions(input_range=(-1e9, 1e9), bitlen=32)
    with pytest.raises(ImportFailure) as caught:
        import_model(_save(_mlp(np.random.default_rng(10)), tmp_path), options)
    assert caught.value.diagnostic.code == "E0806"
    assert caught.value.diagnostic.message.startswith("no format fits: at --bitlen 32 --scale 8, ")


def test_division_by_a_zero_constant_is_refused(tmp_path: Path) -> None:
    proto = model([node("Div", ["x", "c"], ["y"])], {"x": [2]}, ["y"], {"c": np.array([1.0, 0.0])})
    with pytest.raises(ImportFailure) as caught:
        import_model(_save(proto, tmp_path))
    assert caught.value.diagnostic.message == 'node "Div_y" (Div): division by the constant `c`, which holds a zero'
