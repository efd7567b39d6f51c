"""The surface AST of .ezpc programs: frozen dataclasses, a source span on every node.

The parser fills labels only where the user wrote them (`label` is None otherwise). The
checker (ezlang.passes.pipeline) returns the same node classes with every `Expr.ty` set and
every implicit conversion made explicit as a `Convert` node: that annotated tree is the typed
IR that the interpreter, the flow analyses and the compiler consume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional, Union

from ezlang.source import SourceFile, Span
from ezlang.types import Base, Label, Role, Type, default_label


class BinaryOp(Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    POW = "^^"
    SHL = "<<"
    SHR = ">>"
    SHRL = ">>>"
    BAND = "&"
    BOR = "|"
    BXOR = "^"
    LT = "<"
    GT = ">"
    LE = "<="
    GE = ">="
    EQ = "=="
    AND = "&&"
    OR = "||"
    XOR = "@"

    def __str__(self) -> str:
        return self.value


class UnaryOp(Enum):
    NOT = "!"
    BNOT = "~"

    def __str__(self) -> str:
        return self.value


# ---------------------------------------------------------------- types as written


@dataclass(frozen=True)
class TypeNode:
    """A type as written: `const int32_al[n][m]`; label None when omitted.

    `fixed<s>` parses to base FIXED with scale s (None for plain `fixed`); the checker
    (ezlang.passes.fixed_types) rewrites it to the ring's signed integer with the scale decided,
    and the lowering (ezlang.passes.scales) drops the scale again."""

    span: Span
    base: Base
    label: Optional[Label]
    dims: tuple["Expr", ...] = ()
    const: bool = False
    scale: Optional[int] = None


def declared_type(node: TypeNode) -> Type:
    """The checked type a written type stands for, with EzPC's default label when omitted."""
    label = node.label if node.label is not None else default_label(node.base)
    return Type(node.base, label, len(node.dims), node.const, node.scale)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class IntLit:
    """An integer literal; `value` is already reduced to the literal's type (`-1u` = 2^32-1)."""

    span: Span
    value: int
    base: Base
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class FloatLit:
    span: Span
    value: float
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class BoolLit:
    span: Span
    value: bool
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class RoleLit:
    """`SERVER`, `CLIENT` or `ALL` used as a value (a public uint32)."""

    span: Span
    role: Role
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Var:
    span: Span
    name: str
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Index:
    """`array[index]`; on a multi-dimensional array a partial index is a sub-array."""

    span: Span
    array: "Expr"
    index: "Expr"
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Call:
    span: Span
    name: str
    name_span: Span
    args: tuple["Expr", ...]
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Binary:
    """`left op_label right`; `label` is the written subscript, or the inferred one once typed.

    `rescale` marks a `>>` that the fixed-point lowering (ezlang.passes.scales) placed to bring a
    product back to its scale: only such truncations may be moved by rules that are exact only
    within an error bound, since a `>>` the user wrote must keep its exact meaning.

    `magnitude` m, on a fused ReLU-and-truncation `(x > 0 ? x : 0) >> s` only
    (ezlang.passes.relu_bounds), records that the range analysis proved -2^m <= x < 2^m, so the
    secure runtime compares x's sign on m bits instead of the ring's width."""

    span: Span
    op: BinaryOp
    left: "Expr"
    right: "Expr"
    label: Optional[Label] = None
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)
    rescale: bool = field(default=False, kw_only=True, compare=False)
    magnitude: Optional[int] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Unary:
    span: Span
    op: UnaryOp
    operand: "Expr"
    label: Optional[Label] = None
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Ternary:
    """`cond ?_label then : other`; a secret condition selects obliviously (both sides evaluated)."""

    span: Span
    cond: "Expr"
    then: "Expr"
    other: "Expr"
    label: Optional[Label] = None
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Subsume:
    """`<src |> dst> operand`: an explicit conversion between secret sharings."""

    span: Span
    src: Label
    dst: Label
    operand: "Expr"
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Convert:
    """An implicit conversion made explicit by the checker: public→secret, al↔bl, widening,
    or a signedness reinterpretation. `ty` is the target type; never written by users."""

    span: Span
    operand: "Expr"
    ty: Optional[Type] = field(default=None, kw_only=True, compare=False)
    known_to: Optional[frozenset[Role]] = field(default=None, kw_only=True, compare=False)


Expr = Union[IntLit, FloatLit, BoolLit, RoleLit, Var, Index, Call, Binary, Unary, Ternary, Subsume, Convert]
LValue = Union[Var, Index]


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class Decl:
    span: Span
    type: TypeNode
    name: str
    name_span: Span
    init: Optional[Expr] = None


@dataclass(frozen=True)
class Assign:
    span: Span
    target: LValue
    value: Expr


@dataclass(frozen=True)
class CallStmt:
    span: Span
    name: str
    name_span: Span
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Return:
    span: Span
    value: Optional[Expr] = None


@dataclass(frozen=True)
class Input:
    """`input(role, name, type)`: declares `name` and fills it from `role`'s input.

    `input(role, name, type, [lo, hi])` also declares that every value lies in [lo, hi]: values
    outside are input errors, so range analysis may rely on the bounds."""

    span: Span
    role: Role
    name: str
    name_span: Span
    type: TypeNode
    range: Optional[tuple[float, float]] = None
    range_span: Optional[Span] = field(default=None, compare=False)


@dataclass(frozen=True)
class Output:
    span: Span
    role: Role
    value: Expr


@dataclass(frozen=True)
class For:
    """`for var = [lo : hi] { body }`, upper bound exclusive; qualifier 'unroll'/'partition'."""

    span: Span
    var: str
    var_span: Span
    lo: Expr
    hi: Expr
    body: tuple["Stmt", ...]
    qualifier: Optional[str] = None


@dataclass(frozen=True)
class While:
    span: Span
    cond: Expr
    body: tuple["Stmt", ...]


@dataclass(frozen=True)
class If:
    span: Span
    cond: Expr
    then: "Stmt"
    other: Optional["Stmt"] = None


@dataclass(frozen=True)
class Block:
    """`{ ... }`: groups statements without opening a scope (EzPC rule)."""

    span: Span
    body: tuple["Stmt", ...]


Stmt = Union[Decl, Assign, CallStmt, Return, Input, Output, For, While, If, Block]


# ---------------------------------------------------------------- top level


@dataclass(frozen=True)
class Param:
    span: Span
    type: TypeNode
    name: str


@dataclass(frozen=True)
class FunDef:
    """`[partition|inline] def ret name(params) { body }`; ret None means void."""

    span: Span
    ret: Optional[TypeNode]
    name: str
    name_span: Span
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    qualifier: Optional[str] = None


@dataclass(frozen=True)
class Extern:
    span: Span
    ret: Optional[TypeNode]
    name: str
    name_span: Span
    params: tuple[Param, ...]


@dataclass(frozen=True)
class GlobalConst:
    """`int32 N = 10;` at top level: always public, never assignable; `scale` as in TypeNode."""

    span: Span
    base: Base
    name: str
    name_span: Span
    value: Expr
    scale: Optional[int] = None


Global = Union[FunDef, Extern, GlobalConst]


@dataclass(frozen=True)
class Program:
    file: SourceFile = field(compare=False, repr=False)
    globals: tuple[Global, ...]
