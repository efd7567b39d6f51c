"""Every supported ONNX operator, imported and run in the interpreter, against onnxruntime.

Each test draws shapes and attributes from a seeded generator (so failures reproduce), builds a
small model with onnx.helper, and compares ezlang's outputs with onnxruntime's. Programs run at
--bitlen 64 --scale 16: one step of the scale is 2^-16 ≈ 1.5e-5, and each truncation or
rounded input adds at most one step, so exact layers stay within TOLERANCE; the approximations
(Sigmoid, Tanh, Softmax) within the bounds docs/nn.md states for them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ezlang.onnx_import import ImportOptions
from onnx_support import assert_close, import_and_run, model, node, reference

TOLERANCE = 2e-3
SEEDS = range(3)


def _check(proto, feeds, tmp_path: Path, tolerance: float = TOLERANCE, **kwargs) -> str:
    expected = reference(proto, feeds)
    imported = import_and_run(proto, feeds, tmp_path, **kwargs)
    for actual, wanted in zip(imported.outputs, expected):
        assert_close(actual, wanted, tolerance)
    return imported.bundle.program


def _uniform(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.uniform(-scale, scale, shape).astype(np.float32)


# ---------------------------------------------------------------- linear layers


@pytest.mark.parametrize("seed", SEEDS)
def test_gemm_with_transposes_alpha_beta_and_bias_shapes(seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    n, k, m = 2, int(rng.integers(2, 6)), int(rng.integers(2, 6))
    trans_a, trans_b = int(rng.integers(0, 2)), int(rng.integers(0, 2))
    bias_shape = [(m,), (1, m), (n, m), (1,)][seed % 4]
    weights = {"B": _uniform(rng, *((m, k) if trans_b else (k, m)), scale=0.5), "C": _uniform(rng, *bias_shape)}
    gemm = node("Gemm", ["a", "B", "C"], ["y"], transA=trans_a, transB=trans_b,
                alpha=float(rng.uniform(0.5, 1.5)), beta=float(rng.uniform(0.5, 1.5)))
    proto = model([gemm], {"a": [k, n] if trans_a else [n, k]}, ["y"], weights)
    _check(proto, {"a": _uniform(rng, *((k, n) if trans_a else (n, k)))}, tmp_path)


def test_gemm_of_two_computed_tensors(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    gemm = node("Gemm", ["a", "b", "c"], ["y"], transB=1, alpha=0.5, beta=2.0)
    proto = model([gemm], {"a": [2, 3], "b": [4, 3], "c": [2, 4]}, ["y"])
    program = _check(proto, {"a": _uniform(rng, 2, 3), "b": _uniform(rng, 4, 3), "c": _uniform(rng, 2, 4)}, tmp_path)
    assert "Transpose(" in program and "MulConst(" in program


@pytest.mark.parametrize("seed", SEEDS)
def test_matmul_flattens_leading_dimensions(seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    lead, k, m = [2, 3][: 1 + seed % 2], int(rng.integers(2, 5)), int(rng.integers(1, 5))
    proto = model([node("MatMul", ["a", "W"], ["y"])], {"a": lead + [k]}, ["y"], {"W": _uniform(rng, k, m)})
    _check(proto, {"a": _uniform(rng, *lead, k)}, tmp_path)


def test_matmul_of_two_computed_tensors(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    proto = model([node("MatMul", ["a", "b"], ["y"])], {"a": [3, 4], "b": [4, 2]}, ["y"])
    _check(proto, {"a": _uniform(rng, 3, 4), "b": _uniform(rng, 4, 2)}, tmp_path)


def _conv_attributes(rng: np.random.Generator, rank: int, kernel: list[int], spatial: list[int]) -> dict:
    strides = [int(rng.integers(1, 3)) for _ in range(rank)]
    dilations = [int(rng.integers(1, 3)) for _ in range(rank)]
    pads = [int(rng.integers(0, k)) for k in kernel] + [int(rng.integers(0, k)) for k in kernel]
    return {"strides": strides, "dilations": dilations, "pads": pads}


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("seed", range(2))
def test_conv_with_pads_strides_dilations_and_groups(rank: int, seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(10 * rank + seed)
    group = int(rng.integers(1, 3))
    channels, filters = group * int(rng.integers(1, 3)), group * int(rng.integers(1, 3))
    kernel = [int(rng.integers(1, 4)) for _ in range(rank)]
    spatial = [int(rng.integers(5, 8)) for _ in range(rank)] if rank < 3 else [4, 5, 4]
    attrs = _conv_attributes(rng, rank, kernel, spatial)
    inputs = ["x", "W", "B"] if seed == 0 else ["x", "W"]
    weights = {"W": _uniform(rng, filters, channels // group, *kernel, scale=0.5), "B": _uniform(rng, filters)}
    proto = model([node("Conv", inputs, ["y"], group=group, kernel_shape=kernel, **attrs)],
                  {"x": [1, channels, *spatial]}, ["y"], weights)
    _check(proto, {"x": _uniform(rng, 1, channels, *spatial)}, tmp_path)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_auto_pad(auto_pad: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    proto = model([node("Conv", ["x", "W"], ["y"], auto_pad=auto_pad, strides=[2, 1])], {"x": [1, 2, 6, 5]}, ["y"],
                  {"W": _uniform(rng, 3, 2, 2, 3)})
    _check(proto, {"x": _uniform(rng, 1, 2, 6, 5)}, tmp_path)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("seed", range(2))
def test_conv_transpose_with_output_padding(rank: int, seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(20 * rank + seed)
    group = 1 + seed
    channels, filters = 2 * group, group * int(rng.integers(1, 3))
    kernel = [int(rng.integers(2, 4)) for _ in range(rank)]
    strides = [int(rng.integers(1, 3)) for _ in range(rank)]
    dilations = [1 + seed for _ in range(rank)]
    extra = [int(rng.integers(0, s)) for s in strides]  # onnxruntime: output padding below the stride
    pads = [int(rng.integers(0, k)) for k in kernel] * 2
    spatial = [int(rng.integers(3, 5)) for _ in range(rank)] if rank < 3 else [2, 3, 2]
    conv = node("ConvTranspose", ["x", "W", "B"], ["y"], group=group, strides=strides, dilations=dilations,
                pads=pads, output_padding=extra)
    weights = {"W": _uniform(rng, channels, filters // group, *kernel, scale=0.5), "B": _uniform(rng, filters)}
    proto = model([conv], {"x": [1, channels, *spatial]}, ["y"], weights)
    _check(proto, {"x": _uniform(rng, 1, channels, *spatial)}, tmp_path)


def test_batch_normalization_is_folded_into_the_convolution(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    weights = {"W": _uniform(rng, 3, 2, 3, 3), "scale": rng.uniform(0.5, 2, 3), "bias": _uniform(rng, 3),
               "mean": _uniform(rng, 3), "var": rng.uniform(0.5, 2, 3)}
    nodes = [node("Conv", ["x", "W"], ["c"]), node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["b"]),
             node("Relu", ["b"], ["y"])]
    program = _check(model(nodes, {"x": [1, 2, 5, 5]}, ["y"], weights), {"x": _uniform(rng, 1, 2, 5, 5)}, tmp_path)
    assert program.count("ConvRelu(") == 2  # the definition, and one call: BN and ReLU folded in
    assert "MulChannel(" not in program and "AddChannel(" not in program


def test_batch_normalization_of_an_input_is_a_scaling_and_a_shift(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    weights = {"scale": rng.uniform(0.5, 2, 3), "bias": _uniform(rng, 3), "mean": _uniform(rng, 3),
               "var": rng.uniform(0.5, 2, 3)}
    proto = model([node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], epsilon=1e-3)],
                  {"x": [2, 3, 4]}, ["y"], weights)
    program = _check(proto, {"x": _uniform(rng, 2, 3, 4)}, tmp_path)
    assert "MulChannel(2, 3, 4" in program and "AddChannel(2, 3, 4" in program


# ---------------------------------------------------------------- element-wise


@pytest.mark.parametrize("op", ["Relu", "LeakyRelu", "Sigmoid", "Tanh"])
def test_activations(op: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(len(op))
    attrs = {"alpha": float(rng.uniform(0.01, 0.3))} if op == "LeakyRelu" else {}
    proto = model([node(op, ["x"], ["y"], **attrs)], {"x": [3, 7]}, ["y"])
    tolerance = {"Sigmoid": 0.002, "Tanh": 0.004}.get(op, TOLERANCE)  # docs/nn.md: 0.0015 and twice that
    _check(proto, {"x": _uniform(rng, 3, 7, scale=6.0)}, tmp_path, tolerance)


CONSTANT_SHAPES = [(), (1,), (5,), (4, 1), (1, 4, 5), (3, 4, 5), (1, 1, 1)]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("left", [True, False])
def test_arithmetic_with_a_constant(op: str, left: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(len(op) + left)
    shape = CONSTANT_SHAPES[(len(op) * 3 + left) % len(CONSTANT_SHAPES)]
    constant = rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)
    inputs = ["c", "x"] if left and op != "Div" else ["x", "c"]
    proto = model([node(op, inputs, ["y"])], {"x": [3, 4, 5]}, ["y"], {"c": constant})
    _check(proto, {"x": _uniform(rng, 3, 4, 5)}, tmp_path)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_arithmetic_between_tensors(op: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(len(op))
    a, b = _uniform(rng, 2, 3, 4), rng.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
    proto = model([node(op, ["a", "b"], ["y"])], {"a": [2, 3, 4], "b": [2, 3, 4]}, ["y"])
    _check(proto, {"a": a, "b": b}, tmp_path)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
@pytest.mark.parametrize("small_first", [True, False])
def test_arithmetic_broadcasting_a_tensor_along_leading_axes(op: str, small_first: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    shapes = {"big": [2, 3, 4], "small": [3, 4]}
    inputs = ["small", "big"] if small_first else ["big", "small"]
    proto = model([node(op, inputs, ["y"])], shapes, ["y"])
    _check(proto, {"big": _uniform(rng, 2, 3, 4), "small": _uniform(rng, 3, 4)}, tmp_path)


# ---------------------------------------------------------------- pooling


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pooling(op: str, rank: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(rank * 7 + len(op))
    kernel = [int(rng.integers(2, 4)) for _ in range(rank)]
    attrs = {"kernel_shape": kernel, "strides": [int(rng.integers(1, 3)) for _ in range(rank)],
             "pads": [int(rng.integers(0, k)) for k in kernel] * 2, "ceil_mode": int(rank == 2)}
    if op == "AveragePool":
        attrs["count_include_pad"] = int(rank == 1)
    elif rank == 1:
        attrs["dilations"] = [2]
    spatial = [6, 7, 5][:rank] if rank < 3 else [4, 4, 5]
    proto = model([node(op, ["x"], ["y"], **attrs)], {"x": [1, 2, *spatial]}, ["y"])
    _check(proto, {"x": _uniform(rng, 1, 2, *spatial)}, tmp_path)


def test_global_average_pool(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    proto = model([node("GlobalAveragePool", ["x"], ["y"])], {"x": [2, 3, 4, 5]}, ["y"])
    _check(proto, {"x": _uniform(rng, 2, 3, 4, 5)}, tmp_path)


# ---------------------------------------------------------------- layout


def test_renames_cost_no_call(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    nodes = [node("Flatten", ["x"], ["f"], axis=2), node("Reshape", ["f", "shape"], ["r"]),
             node("Unsqueeze", ["r", "axes"], ["u"]), node("Squeeze", ["u", "axes"], ["s"]),
             node("Identity", ["s"], ["i"]), node("Dropout", ["i"], ["d"]), node("Relu", ["d"], ["y"])]
    proto = model(nodes, {"x": [2, 3, 2, 2]}, ["y"], {"shape": np.array([0, -1, 2]), "axes": np.array([1])})
    program = _check(proto, {"x": _uniform(rng, 2, 3, 2, 2)}, tmp_path)
    assert [line.strip().split("(")[0] for line in program.split("def void main")[1].splitlines()
            if line.strip().endswith(");") and not line.strip().startswith(("input", "output"))] == ["Relu"]


def test_squeeze_and_unsqueeze_with_axes_attributes_before_opset_13(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    nodes = [node("Unsqueeze", ["x"], ["u"], axes=[0, 3]), node("Squeeze", ["u"], ["s"], axes=[0]),
             node("Relu", ["s"], ["y"])]
    _check(model(nodes, {"x": [2, 3]}, ["y"], opset=11), {"x": _uniform(rng, 2, 3)}, tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_transpose(seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    shape = [2, 3, 4, 2][: 2 + seed]
    perm = [int(p) for p in rng.permutation(len(shape))]
    if perm == sorted(perm):
        perm = perm[::-1]
    _check(model([node("Transpose", ["x"], ["y"], perm=perm)], {"x": shape}, ["y"]),
           {"x": _uniform(rng, *shape)}, tmp_path)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_of_tensors_and_a_constant(axis: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(axis + 5)
    shapes = [[2, 3, 2], [2, 3, 2], [2, 3, 2]]
    for shape, extra in zip(shapes, (1, 2, 3)):
        shape[axis] = extra
    proto = model([node("Concat", ["a", "b", "c"], ["y"], axis=axis)], {"a": shapes[0], "b": shapes[1]}, ["y"],
                  {"c": _uniform(rng, *shapes[2])})
    _check(proto, {"a": _uniform(rng, *shapes[0]), "b": _uniform(rng, *shapes[1])}, tmp_path)


# ---------------------------------------------------------------- softmax and argmax


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax(opset: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(opset)
    proto = model([node("Softmax", ["x"], ["y"], axis=1 if opset < 13 else -1)], {"x": [2, 3, 4]}, ["y"], opset=opset)
    _check(proto, {"x": _uniform(rng, 2, 3, 4, scale=3.0)}, tmp_path, tolerance=0.01)


@pytest.mark.parametrize("keepdims", [0, 1])
def test_argmax_of_softmax_drops_the_softmax(keepdims: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(keepdims)
    nodes = [node("Softmax", ["x"], ["p"], axis=-1), node("ArgMax", ["p"], ["y"], axis=-1, keepdims=keepdims)]
    program = _check(model(nodes, {"x": [4, 6]}, ["y"], indices=["y"]), {"x": _uniform(rng, 4, 6)}, tmp_path,
                     tolerance=0)
    assert "Softmax(" not in program


def test_import_option_argmax_outputs_the_label(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    proto = model([node("MatMul", ["x", "W"], ["y"])], {"x": [3, 4]}, ["y"], {"W": _uniform(rng, 4, 5)})
    x = _uniform(rng, 3, 4)
    expected = np.argmax(reference(proto, {"x": x})[0], axis=-1)
    imported = import_and_run(proto, {"x": x}, tmp_path, options=ImportOptions(bitlen=64, scale=16, argmax=True))
    assert imported.outputs[0].tolist() == expected.tolist()
    assert [o.kind for o in imported.bundle.manifest.outputs] == ["label"]

