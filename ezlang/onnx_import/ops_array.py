"""Lowering of the operators without weights: element-wise arithmetic and activations, pooling,
Softmax and ArgMax, Concat and Transpose, and the renames (Reshape, Flatten, Squeeze,
Unsqueeze, Identity, Dropout), which cost nothing on flat arrays.

Why here: these operators share the element-wise and broadcasting conventions of the library
(docs/nn.md): an operand broadcast along leading dimensions is an `…Broadcast(n, m, A, B, Y)`
call, B holding the m trailing elements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from ezlang.onnx_import.ops_linear import spatial_triple, transposed, window_attributes
from ezlang.onnx_import.plan import Tensor
from ezlang.onnx_import.shapes import (Shape, ShapeError, Size, axis, broadcast, describe, numel, reshape,
                                       window_output)

if TYPE_CHECKING:
    from ezlang.onnx_import.lower import Lowering, Operand
    from ezlang.onnx_import.read import Node


# ---------------------------------------------------------------- element-wise


def binary(low: "Lowering", node: "Node") -> None:
    left, right, out = node.input(0), node.input(1), node.outputs[0]
    left_const, right_const = low.const(left), low.const(right)
    if right_const is not None:
        y = _with_constant(low, node.op, low.operand(left), right_const, out, right, constant_right=True)
    elif left_const is not None:
        y = _with_constant(low, node.op, low.operand(right), left_const, out, left, constant_right=False)
    else:
        y = _between(low, node.op, low.operand(left), low.operand(right), out)
    low.bind(out, y)


def _with_constant(low: "Lowering", op: str, x: "Operand", constant: np.ndarray, out: str, source: str,
                   constant_right: bool) -> Tensor:
    constant = constant.astype(np.float64)
    if op == "Add":
        return low.add_const(x, constant, out, source)
    if op == "Mul":
        return low.mul_const(x, constant, out, source)
    if op == "Sub" and constant_right:
        return low.add_const(x, -constant, out, source)
    if op == "Sub":
        return low.add_const(low.scale_by(x, -1.0, out + "Negated"), constant, out, source)
    if constant_right and not (constant == 0).any():
        return low.mul_const(x, 1.0 / constant, out, source)
    if constant_right:
        raise low.unsupported(f"division by the constant `{source}`, which holds a zero")
    raise low.unsupported("division of a constant by a computed tensor")


def _between(low: "Lowering", op: str, a: "Operand", b: "Operand", out: str) -> Tensor:
    """a op b for two computed tensors: the same shape, or one broadcast along leading axes."""
    if a.shape == b.shape:
        return low.call(op, low.tensor(out, a.shape), n=a.size, A=a, B=b)
    shape = broadcast(a.shape, b.shape)
    big, small = (a, b) if a.shape == shape else (b, a)
    trailing = _strip_ones(small.shape)
    if big.shape != shape or shape[len(shape) - len(trailing):] != trailing or op == "Div":
        raise ShapeError(f"{op} of {describe(a.shape)} and {describe(b.shape)}: ezlang broadcasts a computed "
                         "tensor along leading axes only, and divides tensors of the same shape only")
    n, m = numel(shape[:len(shape) - len(trailing)]), numel(trailing)
    if op == "Sub" and big is b:  # a - b = (-b) + a
        big, op = low.scale_by(b, -1.0, out + "Negated"), "Add"
    return low.call(f"{op}Broadcast", low.tensor(out, shape), n=n, m=m, A=big, B=small)


def add_tensors(low: "Lowering", a: "Operand", b: "Operand", out: str) -> Tensor:
    return _between(low, "Add", a, b, out)


def _strip_ones(shape: Shape) -> Shape:
    start = next((i for i, d in enumerate(shape) if d != Size(1)), len(shape))
    return shape[start:]


def activation(low: "Lowering", node: "Node") -> None:
    x = low.operand(node.input(0))
    extra = {"alpha": float(node.attr("alpha", 0.01))} if node.op == "LeakyRelu" else {}
    low.bind(node.outputs[0], low.call(node.op, low.tensor(node.outputs[0], x.shape), n=x.size, **extra, X=x))


# ---------------------------------------------------------------- pooling


def pool(low: "Lowering", node: "Node") -> None:
    x = low.operand(node.input(0))
    if not 3 <= len(x.shape) <= 5:
        raise ShapeError(f"{node.op} of a rank-{len(x.shape)} input: ezlang supports 1-D, 2-D and 3-D")
    spatial = [d.static for d in x.shape[2:]]
    kernel = list(node.attr("kernel_shape"))
    begin, end, strides, dilations = window_attributes(low, node, spatial, kernel)
    ceil = bool(node.attr("ceil_mode", 0))
    out = [window_output(s, k, b, e, st, dl, ceil)
           for s, k, b, e, st, dl in zip(spatial, kernel, begin, end, strides, dilations)]
    # ceil_mode's extra windows read past the end: the same as padding there, which pooling skips
    end = [max(e, (o - 1) * st + (k - 1) * dl + 1 - s - b)
           for e, o, st, k, dl, s, b in zip(end, out, strides, kernel, dilations, spatial, begin)]
    args: dict[str, Size] = {"N": x.shape[0], "C": x.shape[1]}
    args.update(zip("DHW", map(Size, spatial_triple(spatial, 1))))
    for prefix, values, fill, suffix in (("K", kernel, 1, ""), ("pad", begin, 0, "0"), ("pad", end, 0, "1"),
                                         ("stride", strides, 1, ""), ("dil", dilations, 1, "")):
        args.update({f"{prefix}{a}{suffix}": Size(v) for a, v in zip("DHW", spatial_triple(values, fill))})
    function = "MaxPool"
    if node.op == "AveragePool":
        function, args["countIncludePad"] = "AvgPool", Size(int(node.attr("count_include_pad", 0)))
    y = low.tensor(node.outputs[0], x.shape[:2] + tuple(Size(o) for o in out))
    low.bind(node.outputs[0], low.call(function, y, **args, X=x))


def global_average_pool(low: "Lowering", node: "Node") -> None:
    x = low.operand(node.input(0))
    if len(x.shape) < 3:
        raise ShapeError(f"GlobalAveragePool of a rank-{len(x.shape)} input")
    y = low.tensor(node.outputs[0], x.shape[:2] + (Size(1),) * (len(x.shape) - 2))
    low.bind(node.outputs[0], low.call("GlobalAvgPool", y, N=x.shape[0], C=x.shape[1],
                                       S=numel(x.shape[2:]), X=x))


# ---------------------------------------------------------------- softmax and argmax


def softmax(low: "Lowering", node: "Node") -> None:
    x = low.operand(node.input(0))
    legacy = low.graph.opset < 13  # before opset 13, Softmax flattens to 2-D at `axis`
    at = axis(node.attr("axis", 1 if legacy else -1), len(x.shape))
    if not legacy and numel(x.shape[at + 1:]) != Size(1):
        raise low.unsupported(f"Softmax over axis {at} of {describe(x.shape)}, which is not the last axis")
    rows, cols = numel(x.shape[:at]), numel(x.shape[at:])
    low.bind(node.outputs[0], low.call("Softmax", low.tensor(node.outputs[0], x.shape), N=rows, M=cols, X=x))


def argmax(low: "Lowering", node: "Node") -> None:
    x = low.operand(node.input(0))
    at = axis(node.attr("axis", 0), len(x.shape))
    if numel(x.shape[at + 1:]) != Size(1):
        raise low.unsupported(f"ArgMax over axis {at} of {describe(x.shape)}, which is not the last axis")
    kept = (Size(1),) if node.attr("keepdims", 1) else ()
    y = low.tensor(node.outputs[0], x.shape[:at] + kept + x.shape[at + 1:])
    low.labels.add(y.var)
    low.bind(node.outputs[0], low.call("ArgMax", y, N=numel(x.shape[:at]), M=x.shape[at], X=x))


# ---------------------------------------------------------------- layout


def concat(low: "Lowering", node: "Node") -> None:
    parts = [low.operand(name) for name in node.inputs if name]
    rank = len(parts[0].shape)
    at = axis(node.attr("axis"), rank)
    result: "Operand" = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        if len(part.shape) != rank or part.shape[:at] != result.shape[:at] \
                or part.shape[at + 1:] != result.shape[at + 1:]:
            raise ShapeError(f"Concat of {describe(result.shape)} and {describe(part.shape)} along axis {at}")
        joined = _add_sizes(result.shape[at], part.shape[at])
        shape = result.shape[:at] + (joined,) + result.shape[at + 1:]
        name = node.outputs[0] if i == len(parts) - 1 else f"{node.outputs[0]}Part{i}"
        result = low.call("Concat", low.tensor(name, shape), outer=numel(shape[:at]), a=result.shape[at],
                          b=part.shape[at], inner=numel(shape[at + 1:]), A=result, B=part)
    low.bind(node.outputs[0], _renamed(result, result.shape))  # one input: Concat is a rename


def _add_sizes(a: Size, b: Size) -> Size:
    if a.batched != b.batched:
        raise ShapeError("Concat along the batch axis of a batched and an unbatched tensor")
    return Size(a.factor + b.factor, a.batched)


def transpose(low: "Lowering", node: "Node") -> None:
    x = low.operand(node.input(0))
    rank = len(x.shape)
    perm = tuple(node.attr("perm", tuple(reversed(range(rank)))))
    shape = tuple(x.shape[p] for p in perm)
    moved = [p for p in perm if x.shape[p] != Size(1)]
    if moved == sorted(moved):  # only axes of size 1 move: the flat order is unchanged
        low.bind(node.outputs[0], _renamed(x, shape))
        return
    low.bind(node.outputs[0], transposed(low, x, perm, node.outputs[0]))


def _renamed(x: "Operand", shape: Shape) -> Tensor:
    if isinstance(x, Tensor):
        return Tensor(x.var, shape)
    raise ShapeError("a constant reached a rename")  # constants are folded before this point


def rename(low: "Lowering", node: "Node") -> None:
    """Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: the same flat array."""
    x = low.operand(node.input(0))
    low.bind(node.outputs[0], _renamed(x, _renamed_shape(low, node, x.shape)))


def _renamed_shape(low: "Lowering", node: "Node", shape: Shape) -> Shape:
    if node.op in ("Identity", "Dropout"):
        return shape
    if node.op == "Flatten":
        at = node.attr("axis", 1)
        at = at + len(shape) if at < 0 else at
        return numel(shape[:at]), numel(shape[at:])
    if node.op == "Reshape":
        target = low.require_const(node.input(1), "shape")
        return reshape(shape, [int(d) for d in target], bool(node.attr("allowzero", 0)))
    axes = _axes(low, node)
    if node.op == "Squeeze":
        drop = {axis(a, len(shape)) for a in axes} if axes is not None else \
            {i for i, d in enumerate(shape) if d == Size(1)}
        if any(shape[i] != Size(1) for i in drop):
            raise ShapeError(f"Squeeze of axes {sorted(drop)} of {describe(shape)}: not all have size 1")
        return tuple(d for i, d in enumerate(shape) if i not in drop)
    rank = len(shape) + len(axes or ())
    inserted = {axis(a, rank) for a in axes or ()}
    dims = iter(shape)
    return tuple(Size(1) if i in inserted else next(dims) for i in range(rank))


def _axes(low: "Lowering", node: "Node") -> Optional[list[int]]:
    if low.graph.opset >= 13:
        name = node.input(1)
        return [int(a) for a in low.require_const(name, "axes")] if name else None
    axes = node.attr("axes")
    return None if axes is None else list(axes)


HANDLERS = {
    "Add": binary, "Sub": binary, "Mul": binary, "Div": binary,
    "Relu": activation, "LeakyRelu": activation, "Sigmoid": activation, "Tanh": activation,
    "MaxPool": pool, "AveragePool": pool, "GlobalAveragePool": global_average_pool,
    "Softmax": softmax, "ArgMax": argmax, "Concat": concat, "Transpose": transpose,
    "Reshape": rename, "Flatten": rename, "Squeeze": rename, "Unsqueeze": rename, "Identity": rename,
    "Dropout": rename,
}
