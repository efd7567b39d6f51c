"""Operators: label inference (§4.5), automatic conversions and the typing rules of §4.6 for
binary and unary operators and the ternary.

Assumes: operands are checked through the owning ExprChecker.
Guarantees: the operator node with its label decided, its operands converted to that label (and
to their joined type), and its result type; or None after reporting the root cause. Labels that
could only be inferred are never reported on when an operand already failed. With a fixed-point
operand the scales follow ezlang.passes.check_fixed, and a literal next to it takes its type
before labels are inferred, so it counts as the public fixed constant it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

from ezlang.diagnostics import Diagnostics
from ezlang.syntax import ast
from ezlang.syntax.ast import UnaryOp
from ezlang.types import Base, Label, Type

from ezlang.passes import check_fixed as fixed
from ezlang.passes import infer_labels as rules
from ezlang.passes import type_codes as codes
from ezlang.passes.check_support import (BOOL_BL, BOOL_PL, BOOLEAN, INTEGER, NUMERIC, Kind, fit,
                                         flow_of_operand, kind_help, op_text)
from ezlang.passes.type_codes import quote
from ezlang.passes.type_help import join_help, label_help

if TYPE_CHECKING:
    from ezlang.passes.check_expr import ExprChecker


@dataclass
class OperatorChecker:
    exprs: "ExprChecker"

    @property
    def diags(self) -> Diagnostics:
        return self.exprs.diags

    def binary(self, e: ast.Binary, infer: bool) -> Optional[ast.Expr]:
        left, right = self.exprs.check(e.left, infer), self.exprs.check(e.right, infer)
        if e.label is not None and not rules.binary_label_allowed(e.op, e.label):
            allowed = ", ".join(f"`{e.op}_{lab}`" if lab.is_secret else f"`{e.op}` on public values"
                                for lab in rules.allowed_labels(e.op))
            self.diags.error(codes.BINARY_LABEL, f"`{e.op}` cannot be computed under {e.label} in {quote(e)}",
                             e.span, label=f"`{e.op}_{e.label}` does not exist", help=f"available: {allowed}")
            return None
        if left is None or right is None or not self._fixed_operator(e, left, right):
            return None
        left, right = self.exprs.in_context(left, right, e.op), self.exprs.in_context(right, left, e.op)
        if left is None or right is None:
            return None
        label = e.label or self._infer_binary(e, left, right, infer)
        if label is None:
            return None
        if e.op in rules.SHIFTS:
            return self._shift(e, left, right, label, infer)
        if e.op in rules.LOGICAL:
            return self._logical(e, left, right, label, infer)
        return self._arithmetic(e, left, right, label, infer)

    def _fixed_operator(self, e: ast.Binary | ast.Unary, *operands: ast.Expr) -> bool:
        """Report a fixed-point operand of an operator that fixed point does not have."""
        if isinstance(e, ast.Binary) and e.op in fixed.FIXED_OPERATORS:
            return True
        culprit = next((o for o in operands if fixed.is_fixed(o)), None)
        if culprit is None:
            return True
        self.diags.error(codes.FIXED_OPERATOR, f"{op_text(e)} is not defined on fixed point, but {quote(culprit)} "
                         f"is {culprit.ty}", e.span, label=f"{op_text(e)} on fixed point",
                         help="fixed point has `+ - * /` and comparisons; `x * 0.5` halves, `0.0 - x` negates, "
                              "and bit-level operators need an integer variable holding the encoding")
        return False

    def _infer_binary(self, e: ast.Binary, left: ast.Expr, right: ast.Expr, infer: bool) -> Optional[Label]:
        if not infer:
            self._uninferred(e)
            return None
        assert left.ty is not None and right.ty is not None
        any_float = Base.FLOAT in (left.ty.base, right.ty.base)
        label = rules.infer_binary(e.op, rules.expr_label(left), rules.expr_label(right), any_float)
        if label is None:
            self.diags.error(codes.NO_LABEL, f"cannot tell whether {quote(e)} is computed in arithmetic or "
                             "boolean sharing", e.span,
                             label=f"{quote(e.left)} is {rules.expr_label(left)}, {quote(e.right)} is "
                                   f"{rules.expr_label(right)}",
                             help=f"label the operator: `{e.op}_al` or `{e.op}_bl`")
        return label

    def _uninferred(self, e: ast.Binary | ast.Unary | ast.Ternary) -> None:
        self.diags.error(codes.NO_LABEL, f"operator in {quote(e)} needs an explicit label inside `<l |> l>`",
                         e.span, label="no label inferred here",
                         help="labels are not inferred inside a subsumption: write e.g. `+_al`, or move "
                              "the computation out of the `<l |> l>` form")

    def _operands(self, e: ast.Binary, left: ast.Expr, right: ast.Expr, label: Label,
                  infer: bool) -> Optional[tuple[ast.Expr, ast.Expr]]:
        lhs, rhs = self.exprs.coerce(left, label, infer), self.exprs.coerce(right, label, infer)
        if lhs is None or rhs is None:
            return None
        return lhs, rhs

    def _arithmetic(self, e: ast.Binary, left: ast.Expr, right: ast.Expr, label: Label,
                    infer: bool) -> Optional[ast.Expr]:
        operands = self._operands(e, left, right, label, infer)
        if operands is None:
            return None
        lhs, rhs = operands
        kind = NUMERIC if e.op in rules.NUMERIC_OPERANDS else INTEGER
        if self._both_wrong_kind(e, lhs, rhs, kind):
            return None
        flow, flow_help = flow_of_operand(e.op)
        role = f"operand {{}} of {op_text(e)}"
        ok_l = self.exprs.require(lhs, kind, label, role, flow, flow_help)
        ok_r = self.exprs.require(rhs, kind, label, role, flow, flow_help)
        if not (ok_l and ok_r):
            return None
        assert lhs.ty is not None and rhs.ty is not None and left.ty is not None and right.ty is not None
        types = self._operand_types(e.op, lhs.ty, rhs.ty)
        if types is None:
            self._join_error(e, left.ty, right.ty, lhs.ty, rhs.ty, "operator")
            return None
        left_ty, right_ty, result = types
        ty = Type(Base.BOOL, Label.BL if label is Label.FL else label) if e.op in rules.COMPARISONS else result
        return replace(e, left=fit(lhs, left_ty), right=fit(rhs, right_ty), label=label, ty=ty)

    @staticmethod
    def _operand_types(op: ast.BinaryOp, a: Type, b: Type) -> Optional[tuple[Type, Type, Type]]:
        if a.is_fixed or b.is_fixed:
            return fixed.operand_types(op, a, b)
        joined = rules.join_types(a, b)
        return None if joined is None else (joined, joined, joined)

    def _join_error(self, e: ast.Binary | ast.Ternary, written_a: Type, written_b: Type, a: Type, b: Type,
                    construct: str) -> None:
        parts = (e.left, e.right) if isinstance(e, ast.Binary) else (e.then, e.other)
        if rules.fixed_with_integer(a, b):
            integer, written = (parts[1], written_b) if a.is_fixed else (parts[0], written_a)
            ring = (a if a.is_fixed else b).base
            self.diags.error(codes.FIXED_INT_MIX, f"{quote(integer)} ({written}) cannot be combined with fixed "
                             f"point in {quote(e)}", integer.span,
                             label="unsigned" if not written.base.signed else f"not {ring}, the ring's integer",
                             help=f"fixed point combines with signed {ring} integers (the ring's) and literals: "
                                  f"declare the integer {ring}")
        elif construct == "operator":
            assert isinstance(e, ast.Binary)
            self.diags.error(codes.NO_JOIN, f"`{e.op}` cannot combine {quote(e.left)} ({written_a}) and "
                             f"{quote(e.right)} ({written_b})", e.span, label="operands of different types",
                             help=join_help(a, b, construct))
        else:
            self.diags.error(codes.NO_JOIN, f"the branches {quote(parts[0])} ({written_a}) and {quote(parts[1])} "
                             f"({written_b}) have incompatible types", e.span, label="branches differ",
                             help=join_help(a, b, construct))

    def _both_wrong_kind(self, e: ast.Binary, left: ast.Expr, right: ast.Expr, kind: Kind) -> bool:
        """One error for `p == q` on two bools, rather than one per operand."""
        assert left.ty is not None and right.ty is not None
        a, b = left.ty, right.ty
        if kind.test(a) or kind.test(b) or a.is_array or b.is_array or a.base is not b.base:
            return False
        self.diags.error(kind.code, f"{op_text(e)} needs {kind.plural}, but {quote(e)} has {a.base} operands",
                         e.span, label=f"{a.base} operands",
                         help=kind_help(kind, a))
        return True

    def _shift(self, e: ast.Binary, left: ast.Expr, right: ast.Expr, label: Label,
               infer: bool) -> Optional[ast.Expr]:
        lhs = self.exprs.coerce(left, label, infer)
        if lhs is None:
            return None
        ok_l = self.exprs.require(lhs, INTEGER, label, f"operand {{}} of {op_text(e)}")
        ok_r = self.exprs.require(right, INTEGER, Label.PL, "shift amount {}", codes.SECRET_SHIFT,
                            "shift amounts must be public; to shift by a secret amount, compute every "
                            "public shift and select the result with a ternary")
        if not (ok_l and ok_r):
            return None
        return replace(e, left=lhs, right=right, label=label, ty=lhs.ty)

    def _logical(self, e: ast.Binary, left: ast.Expr, right: ast.Expr, label: Label,
                 infer: bool) -> Optional[ast.Expr]:
        operands = self._operands(e, left, right, label, infer)
        if operands is None:
            return None
        lhs, rhs = operands
        if self._both_wrong_kind(e, lhs, rhs, BOOLEAN):
            return None
        role = f"operand {{}} of {op_text(e)}"
        ok_l, ok_r = self.exprs.require(lhs, BOOLEAN, label, role), self.exprs.require(rhs, BOOLEAN, label, role)
        if not (ok_l and ok_r):
            return None
        return replace(e, left=lhs, right=rhs, label=label, ty=lhs.ty)

    def unary(self, e: ast.Unary, infer: bool) -> Optional[ast.Expr]:
        operand = self.exprs.check(e.operand, infer)
        if e.label is not None and not rules.unary_label_allowed(e.op, e.label):
            self.diags.error(codes.UNARY_LABEL, f"`{e.op}` cannot be computed under {e.label} in {quote(e)}",
                             e.span, label=f"`{e.op}_{e.label}` does not exist",
                             help=f"use `{e.op}_bl`, or no label")
            return None
        if operand is None or not self._fixed_operator(e, operand):
            return None
        if e.label is None and not infer:
            self._uninferred(e)
            return None
        label = e.label or rules.infer_unary(rules.expr_label(operand))
        o = self.exprs.coerce(operand, label, infer)
        if o is None:
            return None
        kind = BOOLEAN if e.op is UnaryOp.NOT else INTEGER
        if not self.exprs.require(o, kind, label, f"operand {{}} of {op_text(e)}"):
            return None
        return replace(e, operand=o, label=label, ty=o.ty)

    # ------------------------------------------------------------ ternary

    def ternary(self, e: ast.Ternary, infer: bool) -> Optional[ast.Expr]:
        parts = (self.exprs.check(e.cond, infer), self.exprs.check(e.then, infer), self.exprs.check(e.other, infer))
        cond, then, other = parts
        if cond is None or then is None or other is None:
            return None
        then, other = self.exprs.in_context(then, other), self.exprs.in_context(other, then)
        if then is None or other is None:
            return None
        if e.label is None and not infer:
            self._uninferred(e)
            return None
        label = e.label or rules.infer_ternary(*(rules.expr_label(p) for p in (cond, then, other)))
        if label is Label.PL:
            return self._public_ternary(e, cond, then, other, infer)
        return self._secret_ternary(e, cond, then, other, label, infer)

    def _public_ternary(self, e: ast.Ternary, cond: ast.Expr, then: ast.Expr, other: ast.Expr,
                        infer: bool) -> Optional[ast.Expr]:
        ok = self._public_condition(cond)
        branch_label = rules.join_labels(rules.expr_label(then), rules.expr_label(other))
        a, b = self.exprs.coerce(then, branch_label, infer), self.exprs.coerce(other, branch_label, infer)
        if a is None or b is None or not (self._scalar_branch(a) & self._scalar_branch(b)) or not ok:
            return None
        return self._join_branches(e, cond, a, b, Label.PL, then, other)

    def _public_condition(self, cond: ast.Expr) -> bool:
        assert cond.ty is not None
        if cond.ty == BOOL_PL:
            return True
        if rules.is_bool(cond.ty):
            self.exprs.flow_error(codes.SECRET_TERNARY, cond, f"condition {quote(cond)} of a public ternary is secret "
                            f"({cond.ty})", "drop the `_pl` label: a secret condition selects obliviously")
        else:
            self.diags.error(codes.MISMATCH, f"ternary condition {quote(cond)} has type {cond.ty}, but must be "
                             "a bool", cond.span, label=f"this is {cond.ty}",
                             help="compare explicitly, e.g. `x > 0 ? a : b`")
        return False

    def _secret_ternary(self, e: ast.Ternary, cond: ast.Expr, then: ast.Expr, other: ast.Expr,
                        label: Label, infer: bool) -> Optional[ast.Expr]:
        c = self.exprs.coerce(cond, label, infer)
        a, b = self.exprs.coerce(then, label, infer), self.exprs.coerce(other, label, infer)
        if c is None or a is None or b is None:
            return None
        ok = self._secret_condition(e, c, label)
        ok_a, ok_b = self._branch_label(a, label), self._branch_label(b, label)
        if not (ok and ok_a and ok_b):
            return None
        return self._join_branches(e, c, a, b, label, then, other)

    def _secret_condition(self, e: ast.Ternary, cond: ast.Expr, label: Label) -> bool:
        assert cond.ty is not None
        if cond.ty == BOOL_BL:
            return True
        if not rules.is_bool(cond.ty):
            self.diags.error(codes.NOT_BOOL, f"ternary condition {quote(cond)} has type {cond.ty}, but must be "
                             "a bool", cond.span, label=f"this is {cond.ty}", help="compare explicitly, e.g. `x > 0`")
        else:
            self.diags.error(codes.WRONG_LABEL, f"a secret ternary selects in boolean sharing, but {quote(e)} "
                             f"makes its condition {cond.ty}", cond.span, label=f"condition is {cond.ty}",
                             help="write `?_bl` or leave the ternary unlabelled")
        return False

    def _scalar_branch(self, branch: ast.Expr) -> bool:
        assert branch.ty is not None
        if not branch.ty.is_array:
            return True
        self.diags.error(codes.NOT_SCALAR, f"ternary branch {quote(branch)} is an array ({branch.ty})",
                         branch.span, label="array", help="a ternary selects between scalars: index the array")
        return False

    def _branch_label(self, branch: ast.Expr, label: Label) -> bool:
        assert branch.ty is not None
        if not self._scalar_branch(branch):
            return False
        if branch.ty.label is label:
            return True
        self.diags.error(codes.WRONG_LABEL, f"ternary branch {quote(branch)} has type {branch.ty}, but the "
                         f"selection is computed under {label}", branch.span, label=f"this is {branch.ty.label}",
                         help=label_help(branch.ty, label))
        return False

    def _join_branches(self, e: ast.Ternary, cond: ast.Expr, a: ast.Expr, b: ast.Expr, label: Label,
                       then: ast.Expr, other: ast.Expr) -> Optional[ast.Expr]:
        assert a.ty is not None and b.ty is not None and then.ty is not None and other.ty is not None
        joined = rules.join_types(a.ty, b.ty)
        if joined is None:
            self._join_error(e, then.ty, other.ty, a.ty, b.ty, "ternary")
            return None
        return replace(e, cond=cond, then=fit(a, joined), other=fit(b, joined), label=label, ty=joined)
