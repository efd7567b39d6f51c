"""The Python side of a compiled program: what each input, output and error site stands for.

Why: compiled code identifies an I/O statement or a failed check by a small integer; names, types,
spans and message texts stay here, so the driver can validate inputs with ezlang.inputs and turn
a failure into exactly the InterpError the reference interpreter raises for it.

Assumes: an error site receives the operands it documents as two i64 values (sign-extended for
signed sources, zero-extended for unsigned ones).
Guarantees: `ErrorSite.error` reproduces the interpreter's code, message, span and label; message
texts come from the same functions the interpreter uses (ezlang.semantics, interp.exprs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

from ezlang.codegen import abi
from ezlang.diagnostics import register
from ezlang.interp.exprs import out_of_bounds
from ezlang.interp.result import (BAD_EXTERN_RESULT, CALL_TOO_DEEP, MISSING_RETURN, NEGATIVE_DIMENSION,
                                  InterpError)
from ezlang.semantics import RingError, binary_fn
from ezlang.source import Span
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Role, Type

ARRAY_TOO_LARGE = register("E0610", "array too large to allocate")


def _value(bits: int, base: Base) -> int:
    """The value an i64 operand stands for: unsigned sources were zero-extended."""
    return bits if base.signed else bits & ((1 << 64) - 1)


@dataclass(frozen=True)
class InputSite:
    """`input(role, name, type)`; `type` has the declared rank."""

    span: Span
    name: str
    role: Role
    type: Type


@dataclass(frozen=True)
class OutputSite:
    """`output(recipient, e)`; `text` is e's source text and `type` its type."""

    span: Span
    recipient: Role
    text: str
    type: Type


@dataclass(frozen=True)
class BoundsSite:
    """An index of `text` (of base `index`) checked against the dimension: (index, length)."""

    span: Span
    text: str
    index: Base

    def error(self, values: Sequence[int]) -> InterpError:
        return out_of_bounds(self.span, self.text, _value(values[0], self.index), values[1])


@dataclass(frozen=True)
class RingSite:
    """A shift amount or exponent found negative: (amount,)."""

    span: Span
    op: BinaryOp
    base: Base

    def error(self, values: Sequence[int]) -> InterpError:
        try:
            binary_fn(self.op, self.base)(0, values[0])
        except RingError as failure:
            return InterpError.at(self.span, failure.code, failure.message)
        raise AssertionError(f"`{self.op}` by {values[0]} does not fail")


@dataclass(frozen=True)
class DimensionSite:
    """An array dimension found negative (n,), or an array too large to allocate."""

    span: Span

    def error(self, values: Sequence[int]) -> InterpError:
        if values[0] < 0:
            return InterpError.at(self.span, NEGATIVE_DIMENSION, f"array dimension {values[0]} is negative")
        return InterpError.at(self.span, ARRAY_TOO_LARGE, "the array is too large to allocate",
                              help="array dimensions multiply: check them")


@dataclass(frozen=True)
class CallSite:
    """A call whose callee answered (status,) = STATUS_NO_RETURN or STATUS_TOO_DEEP."""

    span: Span
    callee: str
    callee_span: Span

    def error(self, values: Sequence[int]) -> InterpError:
        if values[0] == abi.STATUS_TOO_DEEP:
            return InterpError.at(self.span, CALL_TOO_DEEP, f"calls nest too deeply at `{self.callee}`",
                                  help="compiled code allows as many nested calls as half the native "
                                       "stack holds")
        return InterpError.at(self.callee_span, MISSING_RETURN, f"`{self.callee}` ended without returning a value",
                              label=f"called from {self.span}")


@dataclass(frozen=True)
class ExternResultSite:
    """A built-in (no-op) extern declared with a result, which it never produces."""

    span: Span
    name: str
    base: Base

    def error(self, values: Sequence[int]) -> InterpError:
        return InterpError.at(self.span, BAD_EXTERN_RESULT,
                              f"extern `{self.name}` returned None, which is not of type {self.base}")


ErrorSite = Union[BoundsSite, RingSite, DimensionSite, CallSite, ExternResultSite]


@dataclass(frozen=True)
class Tables:
    inputs: tuple[InputSite, ...]
    outputs: tuple[OutputSite, ...]
    errors: tuple[ErrorSite, ...]


@dataclass
class TableBuilder:
    """Collects sites while a module is emitted; each `add` returns the site's number."""

    inputs: list[InputSite] = field(default_factory=list)
    outputs: list[OutputSite] = field(default_factory=list)
    errors: list[ErrorSite] = field(default_factory=list)

    def add_input(self, site: InputSite) -> int:
        self.inputs.append(site)
        return len(self.inputs) - 1

    def add_output(self, site: OutputSite) -> int:
        self.outputs.append(site)
        return len(self.outputs) - 1

    def add_error(self, site: ErrorSite) -> int:
        self.errors.append(site)
        return len(self.errors) - 1

    def freeze(self) -> Tables:
        return Tables(tuple(self.inputs), tuple(self.outputs), tuple(self.errors))
