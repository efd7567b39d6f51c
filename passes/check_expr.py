"""Expression checking: variables, literals, arrays, calls and subsumptions, the automatic
conversions at every destination (§4.4), and the dispatch to the operator rules.

Assumes: names resolved without errors; `signatures` holds every function of the program.
Guarantees: `check` returns the expression with every `ty` set, every operator's `label` set to
the label it is computed under, and every implicit conversion made an explicit `Convert`; or
None after reporting the root cause. A parent of a failed sub-expression reports nothing that
depends on it, so one mistake gives one diagnostic.

Inside `<l1 |> l2> e` the reference neither infers labels nor inserts conversions; `infer=False`
reproduces that. A number literal in a fixed-point context (next to a fixed operand or branch,
stored into a fixed destination) takes that fixed type here, checked to fit the ring (E0427).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

from ezlang.diagnostics import Diagnostics, SecondarySpan
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Base, Label, Type

from ezlang.fixed import representable
from ezlang.passes import check_fixed as fixed
from ezlang.passes import infer_labels as rules
from ezlang.passes import type_codes as codes
from ezlang.passes.check_operators import OperatorChecker
from ezlang.passes.check_support import BOOL_PL, INTEGER, Destination, Kind, Signature, fit, kind_help
from ezlang.passes.resolve_names import Resolution
from ezlang.passes.secret_origin import Origins
from ezlang.passes.type_codes import quote
from ezlang.passes.type_help import label_help, mismatch_help


@dataclass
class ExprChecker:
    resolution: Resolution
    signatures: Mapping[int, Signature]
    origins: Origins
    diags: Diagnostics
    operators: OperatorChecker = field(init=False)
    ill_formed: set[int] = field(default_factory=set)
    """Bindings and functions (by id) whose declared types were rejected: their uses fail
    silently, since the declaration already carries the error."""

    def __post_init__(self) -> None:
        self.operators = OperatorChecker(self)

    # ------------------------------------------------------------ entry points

    def check(self, expr: ast.Expr, infer: bool = True) -> Optional[ast.Expr]:
        """`expr` typed, or None after reporting; `infer=False` inside a subsumption."""
        return _CHECKS[type(expr)](self, expr, infer)

    def _literal(self, expr: ast.Expr, infer: bool) -> ast.Expr:
        match expr:
            case ast.IntLit():
                return ast.IntLit(expr.span, expr.value, expr.base, ty=Type(expr.base, Label.PL))
            case ast.FloatLit():
                return replace(expr, ty=Type(Base.FLOAT, Label.PL))
            case ast.BoolLit():
                return replace(expr, ty=BOOL_PL)
        return replace(expr, ty=Type(Base.UINT32, Label.PL))

    def _var(self, expr: ast.Var, infer: bool) -> Optional[ast.Expr]:
        binding = self.resolution.binding(expr)
        if id(binding) in self.ill_formed:
            return None
        return self.origins.typed(ast.Var(expr.span, expr.name, ty=binding.ty), expr)

    def _convert(self, expr: ast.Convert, infer: bool) -> Optional[ast.Expr]:
        """Conversions of an already typed tree are derived again."""
        return self.check(expr.operand, infer)

    def in_context(self, expr: ast.Expr, other: ast.Expr, op: Optional[ast.BinaryOp] = None) -> Optional[ast.Expr]:
        """`expr` as an operand of `op` (a ternary branch when None) beside `other`: a literal
        next to a fixed value takes its fixed type; None after reporting that it does not fit."""
        target = fixed.literal_target(op, expr, other)
        return expr if target is None else self._typed_literal(expr, target)

    def _typed_literal(self, literal: ast.Expr, target: Type) -> Optional[ast.Expr]:
        assert isinstance(literal, (ast.IntLit, ast.FloatLit))
        typed = fixed.as_typed_literal(literal, target)
        if typed is None:
            width, scale = target.base.width, target.scale or 0
            self.diags.error(codes.FIXED_LITERAL_RANGE, f"{quote(literal)} does not fit "
                             f"{target.scalar().relabel(Label.PL)} in the {width}-bit ring", literal.span,
                             label=f"{target.scalar()} holds {representable(scale, width)}",
                             help="use fewer fractional bits (`fixed<8>`) for larger values, or check with "
                                  "--bitlen 64" if width == 32 else "use fewer fractional bits for larger values")
        return typed

    def flow_into(self, value: ast.Expr, dst: Type, where: Destination) -> Optional[ast.Expr]:
        """`value` converted for storing into `where` of type `dst`, or None after an error."""
        if dst.is_fixed and not dst.is_array and fixed.is_plain_literal(value):
            literal = self._typed_literal(value, dst.scalar().relabel(Label.PL))
            if literal is None:
                return None
            value = literal
        converted = self.coerce(value, dst.label)
        if converted is None:
            return None
        assert converted.ty is not None and value.ty is not None
        if rules.compatible(converted.ty, dst):
            return fit(converted, dst)
        secondary = (SecondarySpan(where.declared, f"declared {dst} here"),) if where.declared else ()
        if converted.ty.is_fixed and not dst.is_fixed and not dst.is_array and not converted.ty.is_array:
            self.diags.error(codes.FIXED_TO_INT, f"fixed-point {quote(value)} ({value.ty}) cannot be stored into "
                             f"{where.describe()} ({dst}): it would lose its fraction", value.span,
                             label=f"this is {value.ty}", secondary=secondary,
                             help=f"declare the destination {converted.ty.relabel(dst.label)}; nothing rounds "
                                  "fixed point to an integer implicitly: compare with a threshold (`x > 0.5`) "
                                  "to decide on it, or output the fixed value")
        elif rules.fixed_with_integer(converted.ty, dst):
            self.diags.error(codes.FIXED_INT_MIX, f"{quote(value)} ({value.ty}) cannot be stored into "
                             f"{where.describe()} ({dst})", value.span, label=f"this is {value.ty}",
                             secondary=secondary,
                             help=f"fixed point takes signed integers of the ring ({dst.base}) and literals")
        elif rules.leaks(converted.ty, dst):
            self.flow_error(codes.SECRET_TO_PUBLIC, value,
                            f"secret value {quote(value)} ({value.ty}) cannot flow into {where.describe()} ({dst})",
                            "secrets leave only through `output(ROLE, e)`", secondary)
        else:
            self.diags.error(codes.MISMATCH,
                             f"{quote(value)} has type {value.ty}, but {where.describe()} has type {dst}",
                             value.span, label=f"this is {value.ty}", secondary=secondary,
                             help=mismatch_help(value.ty, dst))
        return None

    def arguments(self, call: ast.Call | ast.CallStmt, infer: bool = True) -> Optional[tuple[ast.Expr, ...]]:
        """The call's arguments checked and converted to the parameter types."""
        sig = self.signature(call)
        args = [self.check(arg, infer) for arg in call.args]
        if id(self.resolution.function(call)) in self.ill_formed:
            return None
        if len(args) != len(sig.params):
            self._arity_error(call, sig)
            return None
        fitted = [self._argument(call, sig, i, arg) for i, arg in enumerate(args)]
        if any(arg is None for arg in fitted):
            return None
        return tuple(a for a in fitted if a is not None)

    def signature(self, call: ast.Call | ast.CallStmt) -> Signature:
        return self.signatures[id(self.resolution.function(call))]

    def coerce(self, expr: ast.Expr, target: Optional[Label], infer: bool = True) -> Optional[ast.Expr]:
        """The automatic label conversion of `expr` towards `target`, where EzPC inserts one."""
        assert expr.ty is not None
        source = rules.expr_label(expr)
        if not infer or target is None or expr.ty.is_array or not rules.converts(source, target):
            return expr
        if expr.ty.label is not source:
            self.diags.error(codes.WRONG_LABEL, f"{quote(expr)} has type {expr.ty} but counts as {source}: "
                             f"it cannot be converted to {target}", expr.span,
                             help="an `==` computed under al still yields a boolean-shared result; "
                                  "drop the `_al` label")
            return None
        return ast.Convert(expr.span, expr, ty=expr.ty.relabel(target))

    def require(self, expr: ast.Expr, kind: Kind, label: Label, role: str,
                flow_code: str = codes.SECRET_PUBLIC_OP, flow_help: str = "") -> bool:
        """Report unless `expr` is a scalar of `kind` with `label`; `role` names its position,
        with `{}` where the quoted expression goes ("operand {} of `+`")."""
        ty = expr.ty
        assert ty is not None
        subject = role.format(quote(expr))
        if kind.test(ty) and ty.label is label:
            return True
        if ty.is_array:
            self.diags.error(codes.NOT_SCALAR, f"{subject} is an array ({ty}), not {kind.noun}",
                             expr.span, label="array", help="index the array to get one element")
        elif not kind.test(ty):
            self.diags.error(kind.code, f"{subject} has type {ty}, but must be {kind.noun}",
                             expr.span, label=f"this is {ty}", help=kind_help(kind, ty))
        elif label is Label.PL:
            self.flow_error(flow_code, expr, f"{subject} is secret ({ty}), but must be public",
                            flow_help or "public operations cannot see secrets; secrets leave only "
                                         "through `output(ROLE, e)`")
        else:
            self.diags.error(codes.WRONG_LABEL, f"{subject} has type {ty}, but is needed as {label}",
                             expr.span, label=f"this is {ty.label}", help=label_help(ty, label))
        return False

    def flow_error(self, code: str, expr: ast.Expr, message: str, help_text: str,
                   secondary: tuple[SecondarySpan, ...] = (), at: Optional[Span] = None) -> None:
        """Report a secret where a public value is needed, explaining where `expr`'s secret
        comes from; the primary span is `at`, by default the expression itself."""
        why = self.origins.explain(expr)
        self.diags.error(code, message, at or expr.span, label="secret", help=help_text,
                         secondary=secondary + why.secondary, notes=why.notes)

    # ------------------------------------------------------------ arrays, calls, subsumption

    def _index(self, e: ast.Index, infer: bool) -> Optional[ast.Expr]:
        array, index = self.check(e.array, infer), self.check(e.index, infer)
        ok = True
        if array is not None and array.ty is not None and not array.ty.is_array:
            self.diags.error(codes.NOT_ARRAY, f"{quote(e.array)} has type {array.ty} and cannot be indexed",
                             e.array.span, label="not an array", help="only arrays can be indexed")
            ok = False
        if index is not None:
            ok = self.require(index, INTEGER, Label.PL, "array index {}", codes.SECRET_INDEX,
                              "indices must be public; to read at a secret position, loop over all "
                              "positions and select with a ternary: `v = (i == k) ? A[i] : v`") and ok
        if array is None or index is None or not ok:
            return None
        assert array.ty is not None
        return ast.Index(e.span, array, index, ty=array.ty.element())

    def _call(self, e: ast.Call, infer: bool) -> Optional[ast.Expr]:
        sig = self.signature(e)
        args = self.arguments(e, infer)
        if id(self.resolution.function(e)) in self.ill_formed:
            return None
        if sig.ret is None:
            self.diags.error(codes.VOID_VALUE, f"`{e.name}` is void, so {quote(e)} has no value", e.span,
                             label="used as a value", secondary=(SecondarySpan(sig.span, "declared void here"),),
                             help=f"call it as a statement: `{e.span.text};`")
            return None
        if sig.impure:
            array_params = ", ".join(f"`{n}`" for n, ty in sig.params if ty.is_array and not ty.const)
            self.diags.error(codes.IMPURE_CALL, f"{quote(e)} passes arrays to non-const parameters "
                             f"({array_params}), so it may modify them inside an expression", e.span,
                             label="call with side effects",
                             secondary=(SecondarySpan(sig.span, "declared here"),),
                             help="declare those parameters `const`, or make the function void and call it "
                                  "as a statement")
            return None
        if args is None:
            return None
        return self.origins.typed(replace(e, args=args, ty=sig.ret), e)

    def _argument(self, call: ast.Call | ast.CallStmt, sig: Signature, i: int,
                  arg: Optional[ast.Expr]) -> Optional[ast.Expr]:
        if arg is None:
            return None
        name, ty = sig.params[i]
        return self.flow_into(arg, ty, Destination(f"parameter `{name}` of `{sig.name}`", None))

    def _arity_error(self, call: ast.Call | ast.CallStmt, sig: Signature) -> None:
        expected, found = len(sig.params), len(call.args)
        params = ", ".join(f"{ty} {n}" for n, ty in sig.params)
        self.diags.error(codes.ARITY, f"`{call.name}` takes {expected} argument{'s' * (expected != 1)} "
                         f"but {quote(call.span if isinstance(call, ast.CallStmt) else call)} passes {found}",
                         call.span, label=f"{found} argument{'s' * (found != 1)}",
                         secondary=(SecondarySpan(sig.span, f"`{sig.name}({params})` declared here"),),
                         help=f"pass one argument per parameter: `{sig.name}({params})`")

    def _subsume(self, e: ast.Subsume, infer: bool) -> Optional[ast.Expr]:
        operand = self.check(e.operand, infer=False)
        ok = True
        if e.dst is Label.PL and e.src.is_secret:
            self.flow_error(codes.SECRET_DECLASSIFIED, operand or e.operand,
                            f"{quote(e)} tries to make the secret {quote(e.operand)} public",
                            "nothing converts a secret to public: secrets leave only through `output(ROLE, e)`",
                            at=e.span)
            return None
        if e.dst is e.src or e.dst is Label.PL:
            self.diags.error(codes.BAD_SUBSUMPTION, f"{quote(e)} converts {e.src} to {e.dst}", e.span,
                             label="invalid conversion",
                             help="a subsumption goes to a different secret label; nothing converts to pl")
            ok = False
        if operand is None or not ok:
            return None
        assert operand.ty is not None
        if operand.ty.is_array or operand.ty.label is not e.src:
            self.diags.error(codes.WRONG_LABEL, f"{quote(e.operand)} has type {operand.ty}, but `<{e.src} |> "
                             f"{e.dst}>` expects a scalar labelled {e.src}", e.operand.span,
                             label=f"this is {operand.ty}", help=f"write `<{operand.ty.label} |> {e.dst}>`")
            return None
        return replace(e, operand=operand, ty=operand.ty.relabel(e.dst))


_CHECKS: Mapping[type, Callable[[ExprChecker, Any, bool], Optional[ast.Expr]]] = MappingProxyType({
    ast.IntLit: ExprChecker._literal, ast.FloatLit: ExprChecker._literal, ast.BoolLit: ExprChecker._literal,
    ast.RoleLit: ExprChecker._literal, ast.Var: ExprChecker._var, ast.Index: ExprChecker._index,
    ast.Call: ExprChecker._call, ast.Subsume: ExprChecker._subsume, ast.Convert: ExprChecker._convert,
    ast.Binary: lambda c, e, infer: c.operators.binary(e, infer),
    ast.Unary: lambda c, e, infer: c.operators.unary(e, infer),
    ast.Ternary: lambda c, e, infer: c.operators.ternary(e, infer),
})
