"""Lowering of the linear layers: Gemm, MatMul, Conv, ConvTranspose, BatchNormalization.

Why here: these are the layers with weights, whose attributes (transposes, alpha/beta, pads,
strides, dilations, groups, batch-norm statistics) are absorbed into the weight values at
import time, so that the program only sees `Y = X·W + B` or a convolution (docs/import.md).

Convolutions of every rank use the library's one 3-D Conv: a 1-D input [N, C, W] is seen as
[N, C, 1, 1, W] and a 2-D one as [N, C, 1, H, W], with kernel size 1, no padding, stride and
dilation 1 on the added axes; the weight tensor's row-major order is unchanged by that view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ezlang.onnx_import.plan import Tensor, Weight
from ezlang.onnx_import.shapes import (ShapeError, Size, matmul, numel, same_pads, transposed_output,
                                       window_output)

if TYPE_CHECKING:
    from ezlang.onnx_import.lower import Lowering, Operand
    from ezlang.onnx_import.read import Node


def gemm(low: "Lowering", node: "Node") -> None:
    """Y = alpha · A' · B' + beta · C, as a transpose of A if transA, a product (with alpha
    folded into a constant B), a scaling by alpha otherwise, and a bias."""
    a = low.operand(node.input(0))
    if len(a.shape) != 2:
        raise ShapeError(f"Gemm's A must have rank 2, not {len(a.shape)}")
    out_name, alpha = node.outputs[0], float(node.attr("alpha", 1.0))
    if node.attr("transA", 0):
        a = transposed(low, a, (1, 0), out_name + "A")
    b_const = low.const(node.input(1))
    if b_const is not None:
        folded = alpha * (b_const.T if node.attr("transB", 0) else b_const)
        y = _matmul(low, a, low.weight(node.input(1), folded), out_name + "Product")
    else:
        b = low.operand(node.input(1))
        if node.attr("transB", 0):
            b = transposed(low, b, (1, 0), out_name + "B")
        y = _matmul(low, a, b, out_name + "Product")
        if alpha != 1.0:
            y = low.scale_by(y, alpha, out_name + "Scaled")
    low.bind(out_name, _gemm_bias(low, node, y, out_name))


def _gemm_bias(low: "Lowering", node: "Node", y: Tensor, out_name: str) -> Tensor:
    c_name = node.input(2)
    if not c_name:
        return y
    beta = float(node.attr("beta", 1.0))
    c_const = low.const(c_name)
    if c_const is not None:
        return low.add_const(y, beta * c_const, out_name, c_name)
    from ezlang.onnx_import.ops_array import add_tensors  # ops_array builds on this module

    c = low.operand(c_name)
    if beta != 1.0:
        c = low.scale_by(c, beta, out_name + "C")
    return add_tensors(low, y, c, out_name)


def matmul_node(low: "Lowering", node: "Node") -> None:
    low.bind(node.outputs[0], _matmul(low, low.operand(node.input(0)), low.operand(node.input(1)),
                                      node.outputs[0]))


def _matmul(low: "Lowering", a: "Operand", b: "Operand", out_name: str) -> Tensor:
    """numpy.matmul(a, b) for b of rank 1 or 2: the leading dimensions of a are rows."""
    right = tuple(d for d in b.shape[:-2] if d != Size(1)) + b.shape[-2:] if len(b.shape) > 2 else b.shape
    left = a.shape if len(a.shape) > 1 else (Size(1),) + a.shape
    right2 = right if len(right) == 2 else right + (Size(1),)
    shape = matmul(left, right2)
    rows, inner, cols = numel(left[:-1]), left[-1], right2[-1]
    if len(a.shape) == 1:
        shape = shape[1:]
    if len(right) == 1:
        shape = shape[:-1]
    return low.call("MatMul", low.tensor(out_name, shape), N=rows, K=inner, M=cols, X=a, W=b)


# ---------------------------------------------------------------- convolutions


def spatial_triple(values: Sequence[int], fill: int) -> list[int]:
    """A per-axis list of 1 to 3 spatial values, as the library's (D, H, W) triple."""
    return [fill] * (3 - len(values)) + list(values)


def window_attributes(low: "Lowering", node: "Node", spatial: Sequence[int], kernel: Sequence[int],
                      transposed_conv: bool = False) -> tuple[list[int], list[int], list[int], list[int]]:
    """(pads_begin, pads_end, strides, dilations) per spatial axis from the node's attributes."""
    rank = len(spatial)
    strides = list(node.attr("strides", (1,) * rank))
    dilations = list(node.attr("dilations", (1,) * rank))
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER") and not transposed_conv:
        pairs = [same_pads(s, k, st, d, auto_pad == "SAME_UPPER")
                 for s, k, st, d in zip(spatial, kernel, strides, dilations)]
        return [p[0] for p in pairs], [p[1] for p in pairs], strides, dilations
    if auto_pad not in ("NOTSET", "VALID"):
        raise low.unsupported(f"auto_pad={auto_pad}")
    pads = list(node.attr("pads", (0,) * (2 * rank))) if auto_pad == "NOTSET" else [0] * (2 * rank)
    if len(pads) != 2 * rank or len(strides) != rank or len(dilations) != rank:
        raise ShapeError(f"pads, strides or dilations do not match {rank} spatial axes")
    return pads[:rank], pads[rank:], strides, dilations


def _conv_common(low: "Lowering", node: "Node") -> tuple["Operand", np.ndarray, list[int], int]:
    x = low.operand(node.input(0))
    if not 3 <= len(x.shape) <= 5:
        raise ShapeError(f"{node.op} of a rank-{len(x.shape)} input: ezlang supports 1-D, 2-D and 3-D")
    weights = low.require_const(node.input(1), "weight")
    spatial = [d.static for d in x.shape[2:]]
    return x, weights, spatial, int(node.attr("group", 1))


def conv(low: "Lowering", node: "Node") -> None:
    x, weights, spatial, group = _conv_common(low, node)
    channels, filters = x.shape[1].static, weights.shape[0]
    if weights.shape[1] * group != channels or filters % group:
        raise ShapeError(f"Conv weights {list(weights.shape)} with group {group} do not fit {channels} channels")
    kernel = list(node.attr("kernel_shape", weights.shape[2:]))
    begin, end, strides, dilations = window_attributes(low, node, spatial, kernel)
    out = [window_output(*args) for args in zip(spatial, kernel, begin, end, strides, dilations)]
    bias = _bias(low, node, filters)
    y = low.tensor(node.outputs[0], (x.shape[0], Size(filters)) + tuple(Size(o) for o in out))
    low.bind(node.outputs[0], low.call("Conv", y, **_conv_args(x, channels, filters, spatial, kernel, begin,
                                                               end, strides, dilations, group),
                                       X=x, Wt=low.weight(node.input(1), weights), B=bias))


def conv_transpose(low: "Lowering", node: "Node") -> None:
    x, weights, spatial, group = _conv_common(low, node)
    channels, filters = x.shape[1].static, weights.shape[1] * group
    if weights.shape[0] != channels or channels % group:
        raise ShapeError(f"ConvTranspose weights {list(weights.shape)} with group {group} do not fit "
                         f"{channels} channels")
    kernel = list(node.attr("kernel_shape", weights.shape[2:]))
    begin, end, strides, dilations = window_attributes(low, node, spatial, kernel, transposed_conv=True)
    extra = list(node.attr("output_padding", (0,) * len(spatial)))
    out = [transposed_output(*args) for args in zip(spatial, kernel, begin, end, strides, dilations, extra)]
    bias = _bias(low, node, filters)
    y = low.tensor(node.outputs[0], (x.shape[0], Size(filters)) + tuple(Size(o) for o in out))
    end = [e - o for e, o in zip(end, extra)]  # output padding adds positions at the end (docs/nn.md)
    args = _conv_args(x, channels, filters, spatial, kernel, begin, end, strides, dilations, group)
    low.bind(node.outputs[0], low.call("ConvTranspose", y, **args, X=x,
                                       Wt=low.weight(node.input(1), weights), B=bias))


def _conv_args(x: "Operand", channels: int, filters: int, spatial: Sequence[int], kernel: Sequence[int],
               begin: Sequence[int], end: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
               group: int) -> dict[str, Size]:
    args: dict[str, Size] = {"N": x.shape[0], "C": Size(channels)}
    args.update(zip("DHW", map(Size, spatial_triple(spatial, 1))))
    args["F"] = Size(filters)
    for prefix, values, fill, suffix in (("K", kernel, 1, ""), ("pad", begin, 0, "0"), ("pad", end, 0, "1"),
                                         ("stride", strides, 1, ""), ("dil", dilations, 1, "")):
        args.update({f"{prefix}{axis}{suffix}": Size(v) for axis, v in zip("DHW", spatial_triple(values, fill))})
    args["group"] = Size(group)
    return args


def transposed(low: "Lowering", x: "Operand", perm: Sequence[int], out_name: str) -> Tensor:
    """x with its axes permuted as ONNX Transpose's `perm`: the library's rank-6 Transpose, the
    shape padded with leading dimensions 1."""
    rank = len(x.shape)
    if rank > 6:
        raise low.unsupported(f"Transpose of a rank-{rank} tensor (ezlang supports rank up to 6)")
    dims = (Size(1),) * (6 - rank) + x.shape
    full = tuple(range(6 - rank)) + tuple(p + 6 - rank for p in perm)
    args = {f"d{i}": d for i, d in enumerate(dims)}
    args.update({f"p{i}": Size(p) for i, p in enumerate(full)})
    return low.call("Transpose", low.tensor(out_name, tuple(x.shape[p] for p in perm)), **args, X=x)


def _bias(low: "Lowering", node: "Node", filters: int) -> Weight:
    if not node.input(2):
        return low.weight(node.name + "Bias", np.zeros(filters))
    return low.weight(node.input(2), low.require_const(node.input(2), "bias"))


def batch_normalization(low: "Lowering", node: "Node") -> None:
    """y = (x - mean) / sqrt(var + epsilon) · scale + bias, per channel (axis 1): a scaling and
    a shift, which folding moves into a preceding convolution or Gemm."""
    x = low.operand(node.input(0))
    scale, bias, mean, var = (low.require_const(node.input(i), what)
                              for i, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")))
    factor = scale / np.sqrt(var + float(node.attr("epsilon", 1e-5)))
    per_channel = (-1,) + (1,) * (len(x.shape) - 2)
    scaled = low.mul_const(x, factor.reshape(per_channel), node.outputs[0] + "Scaled", node.input(1))
    shift = (bias - mean * factor).reshape(per_channel)
    low.bind(node.outputs[0], low.add_const(scaled, shift, node.outputs[0], node.input(2)))


HANDLERS = {"Gemm": gemm, "MatMul": matmul_node, "Conv": conv, "ConvTranspose": conv_transpose,
            "BatchNormalization": batch_normalization}
