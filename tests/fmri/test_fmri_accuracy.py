"""bench/accuracy.py: reading a secure run's outputs and comparing them with onnxruntime's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accuracy import HarnessError, client_outputs, compare, main
from ezlang.manifest import Manifest, TensorEntry

LOGITS = TensorEntry("logits", ("batch", 3), kind="logits")
LABEL = TensorEntry("label", ("batch",), kind="label")


def manifest(*outputs: TensorEntry) -> Manifest:
    return Manifest("m", (TensorEntry("x", ("batch", 4), party="CLIENT"),), outputs, scale=12, bitlen=64,
                    batch="dynamic")


def test_client_outputs_are_read_in_order_with_label_names_dropped() -> None:
    text = ("SERVER:\n  (no outputs)\nCLIENT:\n  logits = [[1.5, -2.0, 0.25], [0.0, 1.0, 2.0]]\n"
            "  label = [0 (DMN-RSC), 2 (ATTENTION-DORSAL-IPS-MID)]\n")
    logits, label = client_outputs(text)
    np.testing.assert_array_equal(logits, [[1.5, -2.0, 0.25], [0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(label, [0, 2])


def test_agreement_and_errors_against_the_float_logits() -> None:
    want = {"logits": np.array([[0.0, 1.0, 0.5], [2.0, 1.9, 0.0]], dtype=np.float32)}
    got = [np.array([[0.001, 0.998, 0.5], [1.9, 1.95, 0.0]])]
    result = compare(manifest(LOGITS), want, got, 2)
    assert result["argmax_agreement"] == 1
    assert result["max_logit_error"] == pytest.approx(0.1, rel=1e-6)
    assert result["disagreements"] == [{"input": 1, "onnxruntime": 0, "secure": 1,
                                        "float_margin": pytest.approx(0.1, rel=1e-6)}]


def test_a_secure_label_output_decides_the_agreement() -> None:
    want = {"logits": np.array([[0.0, 1.0, 0.5], [2.0, 1.9, 0.0]], dtype=np.float32), "label": np.array([1, 0])}
    got = [np.array([[0.0, 1.0, 0.5], [2.0, 1.9, 0.0]]), np.array([1.0, 2.0])]
    result = compare(manifest(LOGITS, LABEL), want, got, 2)
    assert (result["argmax_agreement"], result["argmax_from"]) == (1, "secure ArgMax output")
    assert result["label_equals_argmax_of_secure_logits"] == 1


def test_a_run_that_printed_another_number_of_outputs_is_an_error() -> None:
    with pytest.raises(HarnessError, match="printed 1 outputs; the manifest lists 2"):
        compare(manifest(LOGITS, LABEL), {"logits": np.zeros((1, 3))}, [np.zeros(3)], 1)


def test_asking_for_more_inputs_than_the_file_holds_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "batch.npy"
    np.save(inputs, np.zeros((3, 4), dtype=np.float32))
    assert main([str(tmp_path / "model.onnx"), "--inputs", str(inputs), "--n", "5"]) == 1
    assert capsys.readouterr().err == f"accuracy: {inputs} holds 3 inputs; --n 5 asks for more\n"


def test_a_model_that_does_not_import_is_reported_with_the_importer_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, inputs = tmp_path / "model.onnx", tmp_path / "batch.npy"
    model.write_bytes(b"not onnx")
    np.save(inputs, np.zeros((1, 4), dtype=np.float32))
    assert main([str(model), "--inputs", str(inputs), "--n", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"accuracy: ezlang import {model} failed (exit ")
    assert "model.onnx" in err.split("\n", 1)[1]


def test_a_session_needs_every_query_at_one_batch_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "batch.npy"
    np.save(inputs, np.zeros((5, 4), dtype=np.float32))
    assert main([str(tmp_path / "model.onnx"), "--inputs", str(inputs), "--n", "5", "--batch", "2", "--session"]) == 1
    assert capsys.readouterr().err == ("accuracy: --session runs every query at one batch size: --n 5 is not a "
                                       "multiple of --batch 2\n")
