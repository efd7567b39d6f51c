"""Reading an ONNX model into the importer's graph: nodes, constants, inputs with their shapes.

Why: the rest of the importer should not touch protobuf. This module loads the file, lets onnx
validate it (checker and strict shape inference), turns initializers and Constant nodes into
numpy constants, gives every graph input its shape (a dynamic dimension becomes the run-time
`batch`, or the `--batch` given at import), and rejects, in ONE error, every node whose operator
or attribute values the importer does not support.

Assumes: a path to an .onnx file. Guarantees: a Graph whose nodes are in topological order and
use only operators of SUPPORTED (Constant nodes removed), whose constants are float64 (floats)
or int64 arrays, and whose inputs are float tensors of at most one symbolic dimension; or an
ImportFailure (E0801 unreadable or invalid, E0802 unsupported operators, E0803 shapes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Optional

import numpy as np

from ezlang.onnx_import.errors import UNREADABLE_MODEL, UNSUPPORTED, UNSUPPORTED_SHAPE, ImportFailure
from ezlang.onnx_import.shapes import BATCH, Shape, Size

SUPPORTED = frozenset({
    "Gemm", "MatMul", "Conv", "ConvTranspose", "Relu", "LeakyRelu", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Add", "Sub",
    "Mul", "Div", "BatchNormalization", "Concat", "Identity", "Dropout", "Softmax", "ArgMax",
    "Sigmoid", "Tanh", "Constant"})


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]  # "" marks an omitted optional input
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any]

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, i: int) -> str:
        """The i-th input's name, or "" when it is omitted."""
        return self.inputs[i] if i < len(self.inputs) else ""


@dataclass(frozen=True)
class Graph:
    name: str
    opset: int
    nodes: tuple[Node, ...]
    constants: Mapping[str, np.ndarray]
    inputs: tuple[tuple[str, Shape], ...]
    outputs: tuple[str, ...]


def read_model(path: str | Path, *, batch: Optional[int] = None) -> Graph:
    """The graph of the model at `path`; a dynamic dimension becomes `batch` when it is given."""
    import onnx  # only `ezlang import` needs it

    model = _load(Path(path), onnx)
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    constants = {t.name: _array(onnx.numpy_helper.to_array(t)) for t in graph.initializer}
    nodes = []
    for index, proto in enumerate(graph.node):
        node = Node(proto.name or f"{proto.op_type}_{index}", proto.op_type, tuple(proto.input),
                    tuple(proto.output), MappingProxyType({a.name: _attribute(a, onnx) for a in proto.attribute}))
        if proto.domain not in ("", "ai.onnx"):
            node = Node(node.name, f"{proto.domain}.{proto.op_type}", node.inputs, node.outputs, node.attrs)
        nodes.append(node)
    _check_supported(nodes, path)
    for node in nodes:
        if node.op == "Constant":
            constants[node.outputs[0]] = _constant_value(node, onnx)
    inputs = tuple((value.name, _input_shape(value, batch, onnx)) for value in graph.input
                   if value.name not in constants)
    return Graph(graph.name or Path(path).stem, opset, tuple(n for n in nodes if n.op != "Constant"),
                 constants, inputs, tuple(value.name for value in graph.output))


def _load(path: Path, onnx: Any) -> Any:
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except FileNotFoundError:
        raise ImportFailure(UNREADABLE_MODEL, f"{path}: no such file") from None
    except Exception as error:  # protobuf DecodeError, onnx ValidationError, InferenceError
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ImportFailure(UNREADABLE_MODEL, f"{path} is not a valid ONNX model: {first}",
                            help="export it again, and check it with onnx.checker.check_model") from None


def _array(value: np.ndarray) -> np.ndarray:
    if value.dtype.kind == "f":
        return value.astype(np.float64)
    if value.dtype.kind in "iub":
        return value.astype(np.int64)
    raise ImportFailure(UNSUPPORTED, f"a constant has element type {value.dtype}")


def _attribute(attribute: Any, onnx: Any) -> Any:
    value = onnx.helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return tuple(v.decode("utf-8") if isinstance(v, bytes) else v for v in value)
    if isinstance(value, onnx.TensorProto):
        return _array(onnx.numpy_helper.to_array(value))
    return value


def _constant_value(node: Node, onnx: Any) -> np.ndarray:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            value = node.attrs[key]
            return value if isinstance(value, np.ndarray) else _array(np.asarray(value))
    raise ImportFailure(UNSUPPORTED, f'node "{node.name}" (Constant) holds a sparse tensor or strings')


def _input_shape(value: Any, batch: Optional[int], onnx: Any) -> Shape:
    kind = value.type.tensor_type
    if kind.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
        raise ImportFailure(UNSUPPORTED, f"input `{value.name}` has element type "
                                         f"{onnx.TensorProto.DataType.Name(kind.elem_type)}; "
                                         "ezlang imports models whose inputs are floats")
    if not kind.HasField("shape"):
        raise ImportFailure(UNSUPPORTED_SHAPE, f"input `{value.name}` has no shape")
    symbols = {d.dim_param or "?" for d in kind.shape.dim if not d.HasField("dim_value")}
    if len(symbols) > 1:
        raise ImportFailure(UNSUPPORTED_SHAPE, f"input `{value.name}` has {len(symbols)} dynamic dimensions "
                                               f"({', '.join(sorted(symbols))}); only one, the batch, can be dynamic",
                            help="fix the others when exporting the model")
    dynamic = BATCH if batch is None else Size(batch)
    return tuple(Size(d.dim_value) if d.HasField("dim_value") else dynamic for d in kind.shape.dim)


# ---------------------------------------------------------------- what is supported


def _check_supported(nodes: list[Node], path: str | Path) -> None:
    problems = []
    for node in nodes:
        if node.op not in SUPPORTED:
            problems.append(f'node "{node.name}": operator {node.op}')
        else:
            problems += [f'node "{node.name}" ({node.op}): {p}' for p in _attribute_problems(node)]
    if problems:
        raise ImportFailure(UNSUPPORTED, f"{path}: {len(problems)} node(s) cannot be imported", notes=problems,
                            help="docs/import.md lists the supported operators and attributes; re-export the "
                                 "model without these, or replace them by supported ones")


def _attribute_problems(node: Node) -> list[str]:
    problems = []
    used_outputs = [o for o in node.outputs[1:] if o]
    if used_outputs and node.op in ("MaxPool", "Dropout", "BatchNormalization"):
        problems.append(f"its extra output(s) {', '.join(used_outputs)} (only the first output is supported)")
    if node.op == "AveragePool" and node.attr("ceil_mode", 0) and node.attr("count_include_pad", 0):
        problems.append("ceil_mode=1 together with count_include_pad=1")
    if node.op == "ConvTranspose" and "output_shape" in node.attrs:
        problems.append("output_shape (give pads and output_padding instead)")
    if node.op == "ConvTranspose" and node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        problems.append(f"auto_pad={node.attr('auto_pad')}")
    if node.op == "ArgMax" and node.attr("select_last_index", 0):
        problems.append("select_last_index=1")
    if node.op == "BatchNormalization" and node.attr("training_mode", 0):
        problems.append("training_mode=1")
    return problems
