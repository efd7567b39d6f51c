"""From an ONNX graph to a plan of layer-library calls (one walk over the nodes, in order).

Why: each ONNX operator becomes one library call on flat tensors (docs/import.md has the
table), a rename (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: flat arrays do not
change), or, when all its inputs are constants, a constant computed here with numpy. Operators
with several parts are written as the calls they amount to, which folding (ezlang.onnx_import.
fold) merges back where it can: Gemm is a transpose, a product, a scaling and a bias;
BatchNormalization a per-channel scaling and shift; Div by a constant a product by its inverse;
Sub a sum with a negation.

Assumes: a Graph from ezlang.onnx_import.read. Guarantees: a Plan whose calls are in an order
that computes every tensor before it is read; every constant an activation needs is a Weight;
shapes are the ONNX ones; or an ImportFailure naming the node (E0802 unsupported attribute
values or operand kinds, E0803 shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterable, Optional, Union

import numpy as np

from ezlang.onnx_import import ops_array, ops_linear
from ezlang.onnx_import.errors import UNSUPPORTED, UNSUPPORTED_SHAPE, ImportFailure
from ezlang.onnx_import.fold_constants import FOLDABLE, evaluate
from ezlang.onnx_import.plan import Arg, Call, Namer, Plan, ProgramInput, ProgramOutput, Tensor, Weight
from ezlang.onnx_import.read import Graph, Node
from ezlang.onnx_import.shapes import Shape, ShapeError, Size, broadcast, describe, numel

Operand = Union[Tensor, Weight]


@dataclass
class Lowering:
    """The state of the walk: what each ONNX value is, and the calls emitted so far."""

    graph: Graph
    namer: Namer = field(default_factory=Namer)
    values: dict[str, Union[Tensor, np.ndarray]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)  # variables holding ArgMax indices
    node: Optional[Node] = None  # the node being lowered

    # ------------------------------------------------------------ values

    def const(self, name: str) -> Optional[np.ndarray]:
        value = self.values.get(name) if name else None
        return value if isinstance(value, np.ndarray) else None

    def require_const(self, name: str, what: str) -> np.ndarray:
        value = self.const(name)
        if value is None:
            raise self.unsupported(f"its {what} `{name}` is computed by the model, not a constant")
        return value

    def operand(self, name: str) -> Operand:
        """An activation, or a constant as a SERVER weight."""
        value = self.values.get(name)
        if value is None:
            raise self.failure(UNSUPPORTED_SHAPE, f"its input `{name}` is not produced by any node")
        if isinstance(value, Tensor):
            return value
        return self.weight(name, value)  # not shared: folding may change one use's values

    def weight(self, source: str, values: np.ndarray) -> Weight:
        return Weight(self.namer.fresh(source, "w"), np.asarray(values, dtype=np.float64), source)

    def bind(self, name: str, value: Union[Tensor, np.ndarray]) -> None:
        self.values[name] = value

    def tensor(self, onnx_name: str, shape: Shape) -> Tensor:
        return Tensor(self.namer.fresh(onnx_name, "t"), shape)

    # ------------------------------------------------------------ calls

    def call(self, function: str, out: Tensor, **args: Arg) -> Tensor:
        assert self.node is not None
        self.calls.append(Call(((self.node.name, self.node.op),), function, tuple(args.items()) + (("Y", out),)))
        return out

    def mul_const(self, x: Operand, constant: np.ndarray, out_name: str, source: str) -> Tensor:
        """x · constant (broadcast to x's shape), the constant a weight named after the ONNX value
        `source`: MulChannel for one factor per channel (axis 1 of a rank ≥ 3 tensor), else
        MulBroadcast over x's leading axes."""
        return self._with_constant("Mul", x, constant, out_name, source)

    def add_const(self, x: Operand, constant: np.ndarray, out_name: str, source: str) -> Tensor:
        """x + constant, as `mul_const`."""
        return self._with_constant("Add", x, constant, out_name, source)

    def scale_by(self, x: Operand, factor: float, out_name: str) -> Tensor:
        """x · factor for a factor of the architecture (an attribute, or -1 for a negation), which
        the program may show: MulConst with a literal."""
        return self.call("MulConst", self.tensor(out_name, x.shape), n=x.size, c=factor, X=x)

    def _with_constant(self, op: str, x: Operand, constant: np.ndarray, out_name: str, source: str) -> Tensor:
        out = self.tensor(out_name, x.shape)
        channels = _per_channel(x.shape, constant)
        if channels is not None:
            return self.call(f"{op}Channel", out, N=x.shape[0], C=x.shape[1], S=numel(x.shape[2:]), A=x,
                             B=self.weight(source, channels))
        n, m, values = self.broadcast_over(x.shape, constant)
        return self.call(f"{op}Broadcast", out, n=n, m=m, A=x, B=self.weight(source, values))

    def broadcast_over(self, shape: Shape, constant: np.ndarray) -> tuple[Size, Size, np.ndarray]:
        """(n, m, values): `constant` broadcast to `shape` is `values` (m elements, the trailing
        dimensions) repeated n times over the leading ones."""
        try:
            if broadcast(shape, tuple(Size(d) for d in constant.shape)) != shape:
                raise ShapeError(f"a constant of shape {list(constant.shape)} would enlarge {describe(shape)}")
            padded = constant.reshape((1,) * (len(shape) - constant.ndim) + constant.shape)
            lead = next((i for i, d in enumerate(padded.shape) if d != 1), len(shape))
            trailing = tuple(d.static for d in shape[lead:])
        except ShapeError as error:
            raise self.failure(UNSUPPORTED_SHAPE, str(error)) from None
        values = np.broadcast_to(padded.reshape(padded.shape[lead:]), trailing)
        return numel(shape[:lead]), Size(int(np.prod(trailing, dtype=np.int64))), np.ascontiguousarray(values)

    # ------------------------------------------------------------ errors

    def unsupported(self, detail: str) -> ImportFailure:
        return self.failure(UNSUPPORTED, detail)

    def failure(self, code: str, detail: str) -> ImportFailure:
        assert self.node is not None
        return ImportFailure(code, f'node "{self.node.name}" ({self.node.op}): {detail}')


def _per_channel(shape: Shape, constant: np.ndarray) -> Optional[np.ndarray]:
    """The constant's value per channel, when it varies along axis 1 of a rank ≥ 3 tensor only."""
    if len(shape) < 3 or constant.ndim > len(shape) or shape[1].batched:
        return None
    padded = constant.reshape((1,) * (len(shape) - constant.ndim) + constant.shape)
    others = [d for i, d in enumerate(padded.shape) if i != 1]
    if padded.shape[1] != shape[1].factor or padded.shape[1] == 1 or any(d != 1 for d in others):
        return None
    return padded.reshape(-1)


Handler = Callable[[Lowering, Node], None]


def lower(graph: Graph, *, reserved: Iterable[str] = (), argmax: bool = False) -> Plan:
    """The plan of `graph` (see the module docstring); its variables avoid the `reserved` names
    (the library's functions). With `argmax`, each output that is not already a class index is
    replaced by its ArgMax over the last axis."""
    low = Lowering(graph)
    low.namer.reserve(*reserved)
    for name, value in graph.constants.items():
        low.bind(name, value)
    inputs = []
    for name, shape in graph.inputs:
        tensor = low.tensor(name, shape)
        low.bind(name, tensor)
        inputs.append(ProgramInput(tensor, name))
    for node in graph.nodes:
        low.node = node
        _lower_node(low, node)
    low.node = None
    outputs = tuple(_output(low, name) for name in graph.outputs)
    if argmax:
        outputs = tuple(_argmax_of(low, out) for out in outputs)
    batched = any(d.batched for i in inputs for d in i.tensor.shape)
    return Plan(graph.name, tuple(inputs), tuple(low.calls), outputs, batched)


def _lower_node(low: Lowering, node: Node) -> None:
    present = [i for i in node.inputs if i]
    if node.op in FOLDABLE and present and all(low.const(i) is not None for i in present):
        results = evaluate(node, [low.const(i) for i in node.inputs], low.graph.opset)
        for name, value in zip(node.outputs, results):
            low.bind(name, value)
        return
    try:
        HANDLERS[node.op](low, node)
    except ShapeError as error:
        raise low.failure(UNSUPPORTED_SHAPE, str(error)) from None


def _output(low: Lowering, name: str) -> ProgramOutput:
    value = low.values.get(name)
    if not isinstance(value, Tensor):
        raise ImportFailure(UNSUPPORTED, f"output `{name}` is a constant of the model; "
                                         "ezlang imports models whose outputs depend on their inputs")
    return ProgramOutput(value, name, "label" if value.var in low.labels else "logits")


def _argmax_of(low: Lowering, out: ProgramOutput) -> ProgramOutput:
    if out.kind == "label":
        return out
    low.node = Node(f"ArgMax of {out.name}", "ArgMax", (out.name,), (out.name + "Label",),
                    MappingProxyType({"axis": -1, "keepdims": 0}))
    HANDLERS["ArgMax"](low, low.node)
    low.node = None
    label = low.values[out.name + "Label"]
    assert isinstance(label, Tensor)
    return ProgramOutput(label, out.name, "label")


HANDLERS: dict[str, Handler] = {**ops_linear.HANDLERS, **ops_array.HANDLERS}
