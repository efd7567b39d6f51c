"""The numpy references the library is tested against mean what ONNX means: each agrees with
onnxruntime (float32) on the shapes and attributes of test_layers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import references as ref
from test_layers import CONVS, POOLS, TRANSPOSED

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402


def run_onnx(op: str, inputs: list[np.ndarray], out_rank: int, **attributes: Any) -> np.ndarray:
    names = [f"in{i}" for i in range(len(inputs))]
    node = helper.make_node(op, names, ["out"], **attributes)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape)) for n, a in zip(names, inputs)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None] * out_rank)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {n: a.astype(np.float32) for n, a in zip(names, inputs)})[0]


@pytest.mark.parametrize("size,kernel,pads,strides,dilations,group,cin,cout,bitlen,scale", CONVS)
def test_conv_reference_agrees_with_onnxruntime(size, kernel, pads, strides, dilations, group, cin, cout, bitlen,
                                                scale) -> None:
    rng = np.random.default_rng(len(size))
    x = rng.uniform(-1, 1, (2, cin, *size))
    w = rng.uniform(-1, 1, (cout, cin // group, *kernel))
    b = rng.uniform(-1, 1, cout)
    expected = run_onnx("Conv", [x, w, b], x.ndim, pads=list(pads), strides=list(strides),
                        dilations=list(dilations), group=group)
    np.testing.assert_allclose(ref.conv(x, w, b, pads, strides, dilations, group), expected, atol=1e-5)


@pytest.mark.parametrize("size,kernel,pads,strides,dilations,group,output_padding,cin,cout", TRANSPOSED)
def test_conv_transpose_reference_agrees_with_onnxruntime(size, kernel, pads, strides, dilations, group,
                                                          output_padding, cin, cout) -> None:
    rng = np.random.default_rng(len(size))
    x = rng.uniform(-1, 1, (1, cin, *size))
    w = rng.uniform(-1, 1, (cin, cout // group, *kernel))
    b = rng.uniform(-1, 1, cout)
    expected = run_onnx("ConvTranspose", [x, w, b], x.ndim, pads=list(pads), strides=list(strides),
                        dilations=list(dilations), group=group, output_padding=list(output_padding))
    actual = ref.conv_transpose(x, w, b, pads, strides, dilations, group, output_padding)
    np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.parametrize("size,kernel,pads,strides,dilations", POOLS)
def test_pool_references_agree_with_onnxruntime(size, kernel, pads, strides, dilations) -> None:
    x = np.random.default_rng(len(size)).uniform(-1, 1, (2, 3, *size))
    attributes = dict(kernel_shape=list(kernel), pads=list(pads), strides=list(strides), dilations=list(dilations))
    np.testing.assert_allclose(ref.max_pool(x, kernel, pads, strides, dilations),
                               run_onnx("MaxPool", [x], x.ndim, **attributes), atol=1e-6)
    for include in (0, 1):
        np.testing.assert_allclose(ref.average_pool(x, kernel, pads, strides, dilations, bool(include)),
                                   run_onnx("AveragePool", [x], x.ndim, count_include_pad=include, **attributes),
                                   atol=1e-6)
