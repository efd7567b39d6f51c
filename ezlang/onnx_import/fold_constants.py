"""Nodes whose inputs are all constants, computed at import time with numpy.

Why: exporters leave constant subgraphs in models (a weight transposed or reshaped before use,
a scale computed as a quotient, shape tensors for Reshape); computing them here keeps them out
of the secure program, where they would cost rounds and, as SERVER inputs, communication.

Assumes: the node's operator is in FOLDABLE and its inputs are numpy arrays ("" inputs as None).
Guarantees: the node's outputs as ONNX defines them (float64 for floats, int64 for integers).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ezlang.onnx_import.read import Node

Inputs = Sequence[Any]  # numpy arrays, None for an omitted optional input


def _reshape(node: Node, inputs: Inputs, opset: int) -> np.ndarray:
    data, target = inputs[0], [int(d) for d in inputs[1]]
    allowzero = node.attr("allowzero", 0)
    dims = [data.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    return data.reshape(dims)


def _flatten(node: Node, inputs: Inputs, opset: int) -> np.ndarray:
    data, at = inputs[0], node.attr("axis", 1)
    at = at + data.ndim if at < 0 else at
    return data.reshape(int(np.prod(data.shape[:at], dtype=np.int64)), -1)


def _axes(node: Node, inputs: Inputs, opset: int) -> "list[int] | None":
    if opset >= 13:
        return None if len(inputs) < 2 or inputs[1] is None else [int(a) for a in inputs[1]]
    axes = node.attr("axes")
    return None if axes is None else list(axes)


def _squeeze(node: Node, inputs: Inputs, opset: int) -> np.ndarray:
    axes = _axes(node, inputs, opset)
    return np.squeeze(inputs[0]) if axes is None else np.squeeze(inputs[0], axis=tuple(axes))


def _unsqueeze(node: Node, inputs: Inputs, opset: int) -> np.ndarray:
    axes = _axes(node, inputs, opset) or []
    rank = inputs[0].ndim + len(axes)
    return np.expand_dims(inputs[0], axis=tuple(a % rank for a in axes))


def _transpose(node: Node, inputs: Inputs, opset: int) -> np.ndarray:
    perm = node.attr("perm")
    return np.transpose(inputs[0], None if perm is None else tuple(perm))


def _concat(node: Node, inputs: Inputs, opset: int) -> np.ndarray:
    return np.concatenate([i for i in inputs if i is not None], axis=node.attr("axis"))


def _divide(node: Node, inputs: Inputs, opset: int) -> np.ndarray:
    left, right = inputs
    if left.dtype.kind == "i":
        return np.trunc(left / right).astype(np.int64)  # ONNX integer division truncates
    return left / right


def _gemm(node: Node, inputs: Inputs, opset: int) -> np.ndarray:
    a = inputs[0].T if node.attr("transA", 0) else inputs[0]
    b = inputs[1].T if node.attr("transB", 0) else inputs[1]
    out = node.attr("alpha", 1.0) * (a @ b)
    return out if len(inputs) < 3 or inputs[2] is None else out + node.attr("beta", 1.0) * inputs[2]


_EVALUATORS: dict[str, Callable[[Node, Inputs, int], np.ndarray]] = {
    "Identity": lambda node, inputs, opset: inputs[0],
    "Dropout": lambda node, inputs, opset: inputs[0],
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Transpose": _transpose,
    "Concat": _concat,
    "Add": lambda node, inputs, opset: inputs[0] + inputs[1],
    "Sub": lambda node, inputs, opset: inputs[0] - inputs[1],
    "Mul": lambda node, inputs, opset: inputs[0] * inputs[1],
    "Div": _divide,
    "MatMul": lambda node, inputs, opset: np.matmul(inputs[0], inputs[1]),
    "Gemm": _gemm,
    "Relu": lambda node, inputs, opset: np.maximum(inputs[0], 0.0),
}
FOLDABLE = frozenset(_EVALUATORS)


def evaluate(node: Node, inputs: Inputs, opset: int) -> tuple[np.ndarray, ...]:
    return (np.asarray(_EVALUATORS[node.op](node, inputs, opset)),)
