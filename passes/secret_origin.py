"""Where a secret comes from: the explanation attached to every information-flow error (E03xx).

Assumes: typed expressions (every `ty` set) and the Resolution of the program being checked.
Guarantees: `explain` names the first secret ingredient of an expression and follows a variable
back through the assignments seen so far to the party input it was computed from, giving a
secondary span at that declaration and a one-line note ("`score` is secret (arithmetic): it comes
from CLIENT input `x` on line 3"). It only describes; it never decides whether a flow is legal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional

from ezlang.diagnostics import SecondarySpan
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Label

from ezlang.passes.resolve_names import Binding, BindingKind, Resolution

_SHARING = {Label.AL: "arithmetic", Label.BL: "boolean", Label.FL: "float"}


@dataclass(frozen=True)
class Explanation:
    secondary: tuple[SecondarySpan, ...] = ()
    notes: tuple[str, ...] = ()


def secret_kind(label: Label) -> str:
    return f"secret ({_SHARING[label]})" if label.is_secret else "public"


def _children(expr: ast.Expr) -> tuple[ast.Expr, ...]:
    match expr:
        case ast.Index():
            return (expr.array, expr.index)
        case ast.Call():
            return expr.args
        case ast.Binary():
            return (expr.left, expr.right)
        case ast.Unary() | ast.Subsume() | ast.Convert():
            return (expr.operand,)
        case ast.Ternary():
            return (expr.cond, expr.then, expr.other)
    return ()


def _walk(expr: ast.Expr) -> Iterator[ast.Expr]:
    """The secret sub-expressions, pre-order, left to right (public ones hide no secret source)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if _is_secret(node):
            yield node
            stack.extend(reversed(_children(node)))


def _is_secret(expr: ast.Expr) -> bool:
    return expr.ty is not None and expr.ty.label.is_secret


@dataclass
class Origins:
    """Per-program memory of which party input each secret variable was computed from."""

    resolution: Resolution
    sources: dict[Binding, Binding] = field(default_factory=dict)
    originals: dict[int, tuple[ast.Expr, ast.Expr]] = field(default_factory=dict)

    def typed(self, typed: ast.Expr, original: ast.Expr) -> ast.Expr:
        """Register the typed copy of a variable or call so its declaration can be found again."""
        self.originals[id(typed)] = (typed, original)
        return typed

    def binding(self, var: ast.Var) -> Binding:
        original = self.originals.get(id(var), (var, var))[1]
        assert isinstance(original, ast.Var)
        return self.resolution.binding(original)

    def record(self, target: Binding, value: Optional[ast.Expr]) -> None:
        """Remember the input a secret `value` stored into `target` comes from (first one wins)."""
        if value is None or target in self.sources or not target.ty.label.is_secret:
            return
        source = self._first_secret_var(value)
        if source is not None and source != target:
            self.sources[target] = self.sources.get(source, source)

    def explain(self, expr: ast.Expr) -> Explanation:
        var = next((n for n in _walk(expr) if isinstance(n, ast.Var)), None)
        if var is not None:
            return self._explain_var(var)
        call = next((n for n in _walk(expr) if isinstance(n, ast.Call)), None)
        if call is not None:
            return self._explain_call(call)
        op = next((n for n in _walk(expr) if isinstance(n, (ast.Binary, ast.Unary, ast.Ternary, ast.Subsume))),
                  None)
        if op is not None and op.ty is not None:
            return Explanation((SecondarySpan(op.span, "computed on secret shares"),),
                               (f"`{_text(op.span)}` is {secret_kind(op.ty.label)} because its operator "
                                "is labelled secret",))
        return Explanation()

    def _first_secret_var(self, expr: ast.Expr) -> Optional[Binding]:
        for node in _walk(expr):
            if isinstance(node, ast.Var):
                return self.binding(node)
        return None

    def _explain_var(self, var: ast.Var) -> Explanation:
        binding = self.binding(var)
        kind = secret_kind(binding.ty.label)
        if binding.kind is BindingKind.INPUT:
            return Explanation((SecondarySpan(binding.span, f"{binding.role} input"),),
                               (f"`{var.name}` is {kind}: it is {binding.role} input `{binding.name}`, "
                                f"read on line {binding.span.line}",))
        source = self.sources.get(binding)
        if source is not None and source.kind is BindingKind.INPUT:
            return Explanation((SecondarySpan(source.span, f"{source.role} input"),),
                               (f"`{var.name}` is {kind}: it comes from {source.role} input `{source.name}` "
                                f"on line {source.span.line}",))
        return Explanation((SecondarySpan(binding.span, f"declared {binding.ty} here"),),
                           (f"`{var.name}` is {kind}: {binding.kind} declared {binding.ty} "
                            f"on line {binding.span.line}",))

    def _explain_call(self, call: ast.Call) -> Explanation:
        original = self.originals.get(id(call), (call, call))[1]
        assert isinstance(original, ast.Call)
        function = self.resolution.function(original)
        assert call.ty is not None
        return Explanation((SecondarySpan(function.name_span, f"returns {call.ty}"),),
                           (f"`{call.name}` returns a {secret_kind(call.ty.label)} value ({call.ty}), "
                            f"declared on line {function.name_span.line}",))


def _text(span: Span) -> str:
    return " ".join(span.text.split())
