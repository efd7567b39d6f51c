"""The typing rules of fixed point (docs/fixed-point.md §2), as pure functions over types and
literals: which operators apply, the scale of each operand and result, and the fixed type a
literal takes from its context.

Assumes: operand types are checked scalars whose labels were already made equal.
Guarantees: the decisions of the rules below; nothing here reports (callers turn a None into a
diagnostic), so the rules can be read, and tested, on their own.

* `+ -` and comparisons align both operands to the larger scale; an integer operand (the ring's
  signed integer, or a public int32 in a 64-bit ring) counts as scale 0.
* `*` keeps its operands' scales and has the larger one (the lowering truncates the product of
  scales a and b by min(a, b)); fixed times integer keeps the fixed scale, with no truncation.
* `/` has the dividend's scale: fixed / integer is integer division of the encoding; fixed /
  fixed pre-shifts the dividend in the lowering; an integer dividend over a fixed divisor is
  first converted to the divisor's scale.
* A literal next to a fixed operand takes its fixed type, except that an integer literal in `*`
  and `/` takes the ring's integer type, where it is exact (so `x * 2` needs no `2L` at 64 bits).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional, Union

from ezlang.fixed import encode_in_ring
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

from ezlang.passes import infer_labels as rules

FIXED_OPERATORS = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV}) | rules.COMPARISONS
EXACT_WITH_INTEGERS = frozenset({BinaryOp.MUL, BinaryOp.DIV})
Literal = Union[ast.IntLit, ast.FloatLit]


def is_fixed(expr: ast.Expr) -> bool:
    return expr.ty is not None and expr.ty.is_fixed


def is_plain_literal(expr: ast.Expr) -> bool:
    """A checked number literal that has not taken a fixed type yet (`5`, `-1.25`, not `5u`)."""
    if isinstance(expr, ast.FloatLit):
        return expr.ty is not None and not expr.ty.is_fixed
    return (isinstance(expr, ast.IntLit) and expr.base.signed and expr.ty is not None
            and not expr.ty.is_fixed)


def literal_target(op: Optional[BinaryOp], literal: ast.Expr, other: ast.Expr) -> Optional[Type]:
    """The public type `literal` takes as an operand of `op` (None for a ternary branch) next to
    `other`, or None when it keeps its own type."""
    if not is_plain_literal(literal) or not is_fixed(other):
        return None
    assert other.ty is not None
    if other.ty.is_array:
        return None
    if op in EXACT_WITH_INTEGERS and isinstance(literal, ast.IntLit):
        return Type(other.ty.base, Label.PL)
    return Type(other.ty.base, Label.PL, scale=other.ty.scale)


def as_typed_literal(literal: Literal, target: Type) -> Optional[ast.Expr]:
    """`literal` typed as the public scalar `target` (fixed, or the ring's integer); None when
    its encoding does not fit the ring (E0427)."""
    if encode_in_ring(literal.value, target.scale or 0, target.base.width) is None:
        return None
    if isinstance(literal, ast.IntLit):
        return ast.IntLit(literal.span, literal.value, target.base, ty=target)
    return replace(literal, ty=target)


def operand_types(op: BinaryOp, a: Type, b: Type) -> Optional[tuple[Type, Type, Type]]:
    """For an operator with at least one fixed operand: the types the left and right operands
    are converted to and the result's type (a comparison's bool result is the caller's); None
    when the operands do not combine."""
    if op not in EXACT_WITH_INTEGERS:
        joined = rules.join_types(a, b)
        return None if joined is None else (joined, joined, joined)
    ring = a.base if a.is_fixed else b.base
    left, right = _operand(a, ring), _operand(b, ring)
    if left is None or right is None:
        return None
    if op is BinaryOp.MUL:
        scale = max(s for s in (a.scale, b.scale) if s is not None)
        return left, right, left.rescaled(scale)
    if right.is_fixed and not left.is_fixed:
        left = left.rescaled(right.scale)
    return left, right, left


def _operand(ty: Type, ring: Base) -> Optional[Type]:
    return ty.scalar() if ty.is_fixed else rules.ring_integer(ty, ring)
