"""Label inference and coercion rules (§4.3–4.5), as pure functions over labels and types.

Assumes: operand labels are the reference's "label of an expression" (see `expr_label`).
Guarantees: the operator labels, automatic conversions, joins and compatibility decisions of the
reference compiler (infer.ml, tc.ml), so that a checker built on them accepts exactly the
programs the reference accepts. Nothing here reports errors; callers decide what a None means.

The lattice: pl flows into every secret label; al and bl convert into each other; fl (SecFloat)
converts to and from nothing but pl. Nothing ever becomes public again.

Fixed point (Type.scale set) joins and converts by scale, never by label: two scales join to the
larger one, a signed integer of the ring (or a public int32 in a 64-bit ring) joins a fixed
value at scale 0, and a fixed value never flows into an integer (that would drop its fraction).
"""

from __future__ import annotations

from typing import Optional

from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Base, Label, Type

ADDITIVE = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.DIV, BinaryOp.MOD})
COMPARISONS = frozenset({BinaryOp.LT, BinaryOp.GT, BinaryOp.LE, BinaryOp.GE, BinaryOp.EQ})
SHIFTS = frozenset({BinaryOp.SHL, BinaryOp.SHR, BinaryOp.SHRL})
BITWISE = frozenset({BinaryOp.BAND, BinaryOp.BOR, BinaryOp.BXOR})
LOGICAL = frozenset({BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR})
NUMERIC_OPERANDS = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV}) | COMPARISONS
INTEGER_OPERANDS = frozenset({BinaryOp.MOD, BinaryOp.POW}) | BITWISE

# Labels under which each operator can be computed (§4.6); pl is always allowed.
_SECRET_LABELS: dict[BinaryOp, frozenset[Label]] = {
    **{op: frozenset({Label.AL, Label.BL, Label.FL}) for op in (BinaryOp.ADD, BinaryOp.SUB, BinaryOp.DIV)},
    **{op: frozenset({Label.AL, Label.BL, Label.FL}) for op in COMPARISONS},
    BinaryOp.MUL: frozenset({Label.AL, Label.FL}),
    BinaryOp.MOD: frozenset({Label.AL, Label.BL}),
    BinaryOp.POW: frozenset(),
    **{op: frozenset({Label.BL}) for op in SHIFTS | BITWISE | LOGICAL},
}

_CONVERTIBLE = frozenset({Label.AL, Label.BL})
_PUBLIC_WIDENING = {(Base.INT32, Base.INT64), (Base.UINT32, Base.UINT64)}


def infer_binary(op: BinaryOp, left: Label, right: Label, any_float: bool) -> Optional[Label]:
    """The label of an unlabelled binary operator; None when `+ - / %` mix al and bl."""
    if left is Label.PL and right is Label.PL:
        return Label.PL
    if op in ADDITIVE:
        if left is Label.PL or left is right:
            return right
        return left if right is Label.PL else None
    if op is BinaryOp.MUL:
        return Label.FL if any_float else Label.AL
    if op is BinaryOp.POW:
        return Label.PL
    if op in COMPARISONS:
        return Label.FL if any_float else Label.BL
    return Label.BL


def infer_unary(operand: Label) -> Label:
    return Label.PL if operand is Label.PL else Label.BL


def infer_ternary(cond: Label, then: Label, other: Label) -> Label:
    if cond is Label.PL:
        return Label.PL
    return Label.FL if Label.FL in (cond, then, other) else Label.BL


def binary_label_allowed(op: BinaryOp, label: Label) -> bool:
    return label is Label.PL or label in _SECRET_LABELS[op]


def allowed_labels(op: BinaryOp) -> list[Label]:
    return [Label.PL] + sorted(_SECRET_LABELS[op], key=lambda label: label.value)


def unary_label_allowed(op: UnaryOp, label: Label) -> bool:
    return label in (Label.PL, Label.BL)


def join_labels(a: Label, b: Label) -> Optional[Label]:
    """Label of a public-condition ternary's branches: equal, or the secret one of pl and secret."""
    if a is b or b is Label.PL:
        return a
    return b if a is Label.PL else None


def converts(src: Label, dst: Label) -> bool:
    """Whether a value labelled `src` is automatically converted when `dst` is needed."""
    if src is dst:
        return False
    return (src is Label.PL) or (src in _CONVERTIBLE and dst in _CONVERTIBLE)


def expr_label(expr: ast.Expr) -> Label:
    """The reference's label of a typed expression, which decides inference and conversions.

    It is the type's label except for operators, whose own label counts (a comparison computed
    in fl has a bool_bl result but counts as fl), and a secret `==` always counts as bl."""
    match expr:
        case ast.Binary(op=BinaryOp.EQ, label=label) if label is not None and label.is_secret:
            return Label.BL
        case ast.Binary(label=label) | ast.Unary(label=label) if label is not None:
            return label
    assert expr.ty is not None
    return expr.ty.label


def join_types(a: Type, b: Type) -> Optional[Type]:
    """The common type of two operands or branches (labels already equal), or None."""
    if a.is_array or b.is_array or a.label is not b.label:
        return None
    if a.is_fixed or b.is_fixed:
        return _join_fixed(a, b)
    if a.base is b.base:
        return a.scalar()
    if a.label is Label.PL and (a.base, b.base) in _PUBLIC_WIDENING:
        return b.scalar()
    if a.label is Label.PL and (b.base, a.base) in _PUBLIC_WIDENING:
        return a.scalar()
    return None


def ring_integer(ty: Type, ring: Base) -> Optional[Type]:
    """The integer scalar `ty` becomes next to a fixed value of the ring `ring`: itself when it is
    the ring's signed integer, int64 for a public int32 in a 64-bit ring; None for unsigned or
    other-width integers and for everything that is not an integer."""
    if ty.is_array or ty.is_fixed or not ty.base.is_int or not ty.base.signed:
        return None
    if ty.base is ring:
        return ty.scalar()
    if ty.label is Label.PL and (ty.base, ring) in _PUBLIC_WIDENING:
        return Type(ring, Label.PL)
    return None


def fixed_with_integer(a: Type, b: Type) -> bool:
    """Whether one scalar is fixed and the other an integer that cannot join it (unsigned, or of
    another width than the ring)."""
    if a.is_fixed == b.is_fixed:
        return False
    ring, other = (a.base, b) if a.is_fixed else (b.base, a)
    return other.base.is_int and not other.is_array and ring_integer(other, ring) is None


def _join_fixed(a: Type, b: Type) -> Optional[Type]:
    ring = a.base if a.is_fixed else b.base
    scales = []
    for ty in (a, b):
        if not ty.is_fixed and ring_integer(ty, ring) is None:
            return None
        scales.append(ty.scale or 0)
    return Type(ring, a.label, scale=max(scales))


def compatible(src: Type, dst: Type) -> bool:
    """§4.4: may a value of type `src` be used where `dst` is expected (after label conversion)?"""
    if src.is_array or dst.is_array:
        return (src.base is dst.base and src.label is dst.label and src.rank == dst.rank
                and src.scale == dst.scale and not (src.const and not dst.const))
    if src.label is not dst.label:
        return False
    if dst.is_fixed:
        return src.base is dst.base if src.is_fixed else ring_integer(src, dst.base) is not None
    if src.is_fixed:
        return False
    if src.base is dst.base:
        return True
    if src.label is Label.PL and (src.base, dst.base) in _PUBLIC_WIDENING:
        return True
    return src.base.is_int and dst.base.is_int and src.base.width == dst.base.width


def leaks(src: Type, dst: Type) -> bool:
    """Whether `src` fails to fit `dst` only because it is secret and `dst` is public."""
    return src.label.is_secret and dst.label is Label.PL and compatible(src.relabel(Label.PL), dst)


def is_numeric(ty: Type) -> bool:
    return not ty.is_array and ty.base is not Base.BOOL


def is_integer(ty: Type) -> bool:
    return not ty.is_array and ty.base.is_int and not ty.is_fixed


def is_bool(ty: Type) -> bool:
    return not ty.is_array and ty.base is Base.BOOL
