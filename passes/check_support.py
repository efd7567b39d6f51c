"""The vocabulary shared by the expression and statement checkers: function signatures, where a
value is stored, operand kinds, and the explicit conversions of the typed IR."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Base, Label, Type

from ezlang.passes import infer_labels as rules
from ezlang.passes import type_codes as codes
from ezlang.passes.type_codes import quote

BOOL_PL = Type(Base.BOOL, Label.PL)
BOOL_BL = Type(Base.BOOL, Label.BL)


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[tuple[str, Type], ...]
    ret: Optional[Type]
    span: Span

    @property
    def impure(self) -> bool:
        """Passing an array to a non-const array parameter lets the callee write it."""
        return any(ty.is_array and not ty.const for _, ty in self.params)


@dataclass(frozen=True)
class Destination:
    """Where a value is stored (a description, or the assigned expression, quoted only when an
    error needs it) and the declaration it points to."""

    what: Union[str, ast.Expr]
    declared: Optional[Span] = None

    def describe(self) -> str:
        return self.what if isinstance(self.what, str) else quote(self.what)


@dataclass(frozen=True)
class Kind:
    """A class of operand types, with the error reported for a value outside it."""

    test: Callable[[Type], bool]
    noun: str
    plural: str
    code: str


NUMERIC = Kind(rules.is_numeric, "an integer or float", "integers or floats", codes.NOT_NUMERIC)
INTEGER = Kind(rules.is_integer, "an integer", "integers", codes.NOT_INTEGER)
BOOLEAN = Kind(rules.is_bool, "a bool", "bools", codes.NOT_BOOL)


def fit(expr: ast.Expr, dst: Type) -> ast.Expr:
    """`expr` with an explicit Convert when its scalar type differs from `dst` (widening or
    signedness); a label Convert already in place is merged into one."""
    assert expr.ty is not None
    if expr.ty == dst or expr.ty.is_array or dst.is_array:
        return expr
    if isinstance(expr, ast.Convert):
        return ast.Convert(expr.span, expr.operand, ty=dst)
    return ast.Convert(expr.span, expr, ty=dst)


def op_text(e: ast.Binary | ast.Unary) -> str:
    return f"`{e.op}_{e.label}`" if e.label is not None else f"`{e.op}`"


def flow_of_operand(op: ast.BinaryOp) -> tuple[str, str]:
    if op is ast.BinaryOp.POW:
        return codes.SECRET_POW, ("`^^` is computed in the clear: use repeated `*` for a secret base, "
                                  "and keep exponents public")
    return codes.SECRET_PUBLIC_OP, "drop the `_pl` label so the operation is computed on secret shares"


def kind_help(kind: Kind, ty: Type) -> Optional[str]:
    if kind is NUMERIC and ty.base is Base.BOOL:
        return "bools are not numbers: for equality of bools write `!(p @ q)`; `p @ q` is their xor"
    if kind is INTEGER and ty.base is Base.FLOAT:
        return "`%`, `^^`, bitwise operators, shifts and indices need integers"
    if kind is INTEGER and ty.is_fixed:
        return "fixed-point values are not integers: indices, sizes and loop bounds need integer values"
    if kind is BOOLEAN:
        return "compare explicitly, e.g. `x > 0`"
    return None
