"""The importer's plan of a program: layer-library calls on flat tensors, before any text exists.

Why: lowering (ezlang.onnx_import.lower) decides what each ONNX node becomes, folding
(ezlang.onnx_import.fold) merges calls, and emitting (ezlang.onnx_import.emit) writes text; a
plan of typed records between them keeps each of the three simple and testable.

A Tensor is a flat `fixed<S>_al[n]` array of the program with its logical (row-major) shape;
several Tensors may share one variable (Reshape, Flatten, Squeeze... only rename). A Weight is a
tensor of the model owner's: a SERVER input whose values go to model.weights, never into the
program text. A Call is one library call; its arguments are named as the library's parameters
(Y, the output, included), so that the emitter can order them by the library's signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Union

import numpy as np

from ezlang.onnx_import.shapes import Shape, Size, describe, numel


@dataclass(frozen=True)
class Tensor:
    """An activation: the flat array `var` of the program, seen with `shape`."""

    var: str
    shape: Shape

    @property
    def size(self) -> Size:
        return numel(self.shape)


@dataclass(frozen=True, eq=False)
class Weight:
    """A SERVER tensor: read with `input(SERVER, var, ...)`; `values` keeps its logical shape."""

    var: str
    values: np.ndarray = field(repr=False)
    source: str = ""  # the ONNX initializer it comes from, for the program's comments

    @property
    def size(self) -> Size:
        return Size(int(self.values.size))

    @property
    def shape(self) -> Shape:
        return tuple(Size(int(d)) for d in self.values.shape)


Arg = Union[Size, float, int, Tensor, Weight]


@dataclass(frozen=True)
class Call:
    """`function(args...)` for the ONNX nodes `nodes` ((name, operator) pairs: one, or several
    once folded into one call); `args` by parameter name."""

    nodes: tuple[tuple[str, str], ...]
    function: str
    args: tuple[tuple[str, Arg], ...]

    def arg(self, name: str) -> Arg:
        return dict(self.args)[name]

    def with_args(self, **changes: Arg) -> "Call":
        return replace(self, args=tuple((name, changes.get(name, value)) for name, value in self.args))

    def absorbing(self, other: "Call") -> "Call":
        """This call, now also standing for `other`'s nodes and writing `other`'s output."""
        nodes = self.nodes + tuple(n for n in other.nodes if n not in self.nodes)
        return replace(self, nodes=nodes).with_args(Y=other.output)

    @property
    def output(self) -> Tensor:
        value = self.arg("Y")
        assert isinstance(value, Tensor)
        return value

    @property
    def reads(self) -> tuple[str, ...]:
        """Variables of activations the call reads (its output excluded)."""
        return tuple(value.var for name, value in self.args if isinstance(value, Tensor) and name != "Y")

    def describe(self) -> str:
        tensors = [f"{value.var}{describe(value.shape)}" for name, value in self.args
                   if isinstance(value, (Tensor, Weight)) and name != "Y"]
        origin = ", ".join(f'"{name}" ({op})' for name, op in self.nodes)
        return f'{origin}: {", ".join(tensors)} -> {describe(self.output.shape)}'


@dataclass(frozen=True)
class ProgramInput:
    """A CLIENT input of the model: its flat variable and ONNX shape."""

    tensor: Tensor
    name: str  # the ONNX input name


@dataclass(frozen=True)
class ProgramOutput:
    tensor: Tensor
    name: str  # the ONNX output name
    kind: str  # "logits" or "label"


@dataclass(frozen=True)
class Plan:
    model: str
    inputs: tuple[ProgramInput, ...]
    calls: tuple[Call, ...]
    outputs: tuple[ProgramOutput, ...]
    batched: bool  # whether sizes use the run-time `batch`

    def weights(self) -> tuple[Weight, ...]:
        """Every weight, once, in the order the calls first use them."""
        seen: dict[int, Weight] = {}
        for call in self.calls:
            for _, value in call.args:
                if isinstance(value, Weight):
                    seen.setdefault(id(value), value)
        return tuple(seen.values())


_RESERVED = frozenset({
    "batch", "main", "input", "output", "for", "while", "if", "else", "def", "void", "return", "inline",
    "partition", "unroll", "extern", "const", "int32", "int64", "uint32", "uint64", "float", "bool",
    "fixed", "pl", "al", "bl", "fl", "true", "false", "SERVER", "CLIENT", "ALL"})


@dataclass
class Namer:
    """Unique EzPC identifiers ([A-Za-z][A-Za-z0-9]*) made from ONNX names: `fc1.weight` →
    `fc1Weight`, `/conv/Conv_output_0` → `convConvOutput0`."""

    taken: set[str] = field(default_factory=set)

    def reserve(self, *names: str) -> None:
        self.taken.update(names)

    def fresh(self, onnx_name: str, fallback: str = "t") -> str:
        words = [w for w in re.split(r"[^A-Za-z0-9]+", onnx_name) if w]
        base = "".join(w if i == 0 else w[:1].upper() + w[1:] for i, w in enumerate(words)) or fallback
        if not base[0].isalpha():
            base = fallback + base
        base = base[:48]
        name, counter = base, 1
        while name in self.taken or name in _RESERVED:
            counter += 1
            name = f"{base}{counter}"
        self.taken.add(name)
        return name
