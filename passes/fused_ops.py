"""Fused operations: expressions the secure backend runs as one runtime call instead of several.

Why: after the fixed-point lowering and the rewrite rule rescale-past-relu, every ReLU of a
network is `(x > 0 ? x : 0) >> s`: a comparison, a selection and an exact shift, 3 online rounds
when lowered one by one. The runtime's ezrt_relu_rescale computes the same value in 2
(docs/protocols.md §5.8). The round batching (ezlang.passes.batch_rounds) and the code generator
(ezlang.codegen.exprs, .batch) ask `relu_rescale` whether an expression is such a form, so both
treat it as one operation of its own call kind.

Assumes: a typed program (every Expr.ty set, implicit conversions explicit as `Convert` nodes).
Guarantees: `relu_rescale(node)` is not None only if `node`'s value is
`[x > 0]·(x >> shift)` with x evaluated once: x is signed, secret and free of calls, the zeros are
literals (under conversions), the amount a non-negative literal; the occurrences of x in the
condition and the selected branch agree up to spans, types and label conversions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Hashable, Iterator, Optional

from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Type


@dataclass(frozen=True)
class ReluRescale:
    """`(x > 0 ? x : 0) >> shift` on a secret signed x. `x` is its occurrence in the condition,
    which the interpreter evaluates first (so an error of x is reported at that span), without
    label conversions (al↔bl: the same ring element)."""

    x: ast.Expr
    shift: int
    magnitude: Optional[int] = None  # -2^m <= x < 2^m, proven (ezlang.passes.relu_bounds)

    def with_operand(self, node: ast.Binary, x: ast.Expr) -> ast.Binary:
        """`node` (the matched expression) with `x` in place of both occurrences of its operand."""
        def put(operand: ast.Expr) -> ast.Expr:
            return x if shape(operand) == shape(self.x) else operand  # the zero stays

        def fill(ternary: ast.Expr) -> ast.Expr:
            assert isinstance(ternary, ast.Ternary) and isinstance(ternary.cond, ast.Binary)
            cond = ternary.cond
            cond = dataclasses.replace(cond, left=_under_labels(cond.left, put), right=_under_labels(cond.right, put))
            return dataclasses.replace(ternary, cond=cond, then=_under_labels(ternary.then, put))

        return dataclasses.replace(node, left=_under_labels(node.left, fill))


def relu_rescale(node: ast.Expr) -> Optional[ReluRescale]:
    """The fused form of `node` if it is `(x > 0 ? x : 0) >> s`, or the same with `x >= 0`,
    `0 < x` or `0 <= x` (equal values: at x = 0 both branches are 0)."""
    if not (isinstance(node, ast.Binary) and node.op is BinaryOp.SHR and _secret_signed(node.ty)):
        return None
    shift, ternary = literal(node.right), _unlabelled(node.left)
    if shift is None or shift < 0 or not isinstance(ternary, ast.Ternary) or not _secret(ternary.cond.ty):
        return None
    x, operand = _rectified(ternary.cond), _unlabelled(ternary.then)
    if x is None or literal(ternary.other) != 0 or shape(operand) != shape(x):
        return None
    assert node.ty is not None
    if not all(_typed_as(item, node.ty.base) for item in (x, operand, ternary)):
        return None
    if any(isinstance(item, ast.Call) for item in nodes(operand)):
        return None
    return ReluRescale(x, shift, node.magnitude)


def literal(node: ast.Expr) -> Optional[int]:
    """The value of an integer literal under any conversions, else None."""
    while isinstance(node, ast.Convert):
        node = node.operand
    return node.value if isinstance(node, ast.IntLit) else None


def shape(node: object) -> Hashable:
    """`node`'s structure without spans, types and what the label inference adds: expressions of
    equal shape compute the same value."""
    if not dataclasses.is_dataclass(node) or isinstance(node, (type, Span)):
        return node if not isinstance(node, tuple) else tuple(shape(item) for item in node)
    return (type(node).__name__,) + tuple(shape(getattr(node, f.name)) for f in dataclasses.fields(node)
                                          if f.name not in ("span", "name_span", "var_span", "known_to", "ty"))


def _rectified(cond: ast.Expr) -> Optional[ast.Expr]:
    """x of a signed comparison `x > 0`, `x >= 0`, `0 < x` or `0 <= x`, label conversions removed."""
    if not isinstance(cond, ast.Binary) or cond.left.ty is None or cond.right.ty is None:
        return None
    if not _signed_comparison(cond.left.ty.base, cond.right.ty.base):
        return None
    if cond.op in (BinaryOp.GT, BinaryOp.GE) and literal(cond.right) == 0:
        return _unlabelled(cond.left)
    if cond.op in (BinaryOp.LT, BinaryOp.LE) and literal(cond.left) == 0:
        return _unlabelled(cond.right)
    return None


def _signed_comparison(left: Base, right: Base) -> bool:
    """Whether the comparison is signed: its operand type (ezlang.interp.exprs._join) is."""
    joined = left if left is right or not left.is_int or left.width >= right.width else right
    return joined.signed


def _label_only(node: ast.Expr) -> bool:
    """A conversion between secret labels of one base: the same ring element."""
    return (isinstance(node, ast.Convert) and node.ty is not None and node.operand.ty is not None
            and node.ty.label.is_secret and node.operand.ty.label.is_secret and node.ty.base is node.operand.ty.base)


def _unlabelled(node: ast.Expr) -> ast.Expr:
    while isinstance(node, ast.Convert) and _label_only(node):
        node = node.operand
    return node


def _under_labels(node: ast.Expr, fn: Callable[[ast.Expr], ast.Expr]) -> ast.Expr:
    """`node` with `fn` applied to what its label conversions wrap."""
    if isinstance(node, ast.Convert) and _label_only(node):
        return dataclasses.replace(node, operand=_under_labels(node.operand, fn))
    return fn(node)


def _typed_as(node: ast.Expr, base: Base) -> bool:
    return node.ty is not None and node.ty.base is base and not node.ty.rank


def _secret(ty: Optional[Type]) -> bool:
    return ty is not None and ty.label.is_secret


def _secret_signed(ty: Optional[Type]) -> bool:
    return _secret(ty) and ty is not None and ty.base.signed and not ty.rank


def nodes(value: object) -> Iterator[object]:
    """Every statement and expression node under `value` (a node or a tuple of them)."""
    if isinstance(value, tuple):
        for item in value:
            yield from nodes(item)
        return
    if not dataclasses.is_dataclass(value) or isinstance(value, (type, Span)):
        return
    yield value
    for item in dataclasses.fields(value):
        if item.name not in ("ty", "known_to", "span", "name_span", "var_span", "file"):
            yield from nodes(getattr(value, item.name))
