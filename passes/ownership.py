"""Ownership: who knows each value in the clear, so the compiler can pick one-sided protocols.

A secret value that depends only on the server's inputs and public data (say, a model's weights
times a public scale) is something the server can compute alone; multiplying it by the client's
secret then needs a protocol in which only one operand is shared. The facts come from the
dependency analysis (passes/dependencies.py), which is sound, so a party is never said to know a
value that mixes in the other party's secret.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, ClassVar

from ezlang.passes.dependencies import Dependencies, Variable, analyze
from ezlang.syntax import ast
from ezlang.types import Role

BOTH = frozenset({Role.SERVER, Role.CLIENT})

_NOT_CHILDREN = frozenset({"span", "name_span", "var_span", "file", "ty", "known_to", "name", "op", "label",
                           "base", "role", "src", "dst", "qualifier", "const"})
_EXPRS = (ast.IntLit, ast.FloatLit, ast.BoolLit, ast.RoleLit, ast.Var, ast.Index, ast.Call, ast.Binary,
          ast.Unary, ast.Ternary, ast.Subsume, ast.Convert)


@dataclass(frozen=True)
class Ownership:
    """Assumes: a typed program (every Expr has `ty`; names resolve).
    Guarantees: every Expr has `known_to` set: {SERVER, CLIENT} for public values and for secrets
    that depend on no party's secret input; {SERVER} (or {CLIENT}) for a secret that depends on
    that party's secret inputs only; frozenset() when it mixes both parties' secrets or depends on
    a secret parameter of a function that nothing in the program calls."""

    name: ClassVar[str] = "ownership"
    # Per extern, the parameter positions it writes; unnamed externs may write every array argument.
    extern_writes: tuple[tuple[str, frozenset[int]], ...] = ()

    def run(self, program: ast.Program) -> ast.Program:
        deps = analyze(program, extern_writes=dict(self.extern_writes))
        annotated = _Annotator(deps).copy(program)
        assert isinstance(annotated, ast.Program)
        return annotated


def known_to(expr: ast.Expr, deps: Dependencies) -> frozenset[Role]:
    if expr.ty is not None and expr.ty.is_public:
        return BOTH
    mask = deps.expr_masks.get(id(expr))
    return frozenset() if mask is None else deps.knowers(mask)


def ownership_of_variables(program: ast.Program, deps: Dependencies | None = None) -> dict[Variable, frozenset[Role]]:
    """Who knows every value a variable ever holds (a union over the whole function)."""
    deps = deps if deps is not None else analyze(program)
    return {var: deps.knowers(mask) if var.secret else BOTH for var, mask in deps.variable_masks.items()}


class _Annotator:
    """Copies a tree, setting `known_to` on every expression below it.

    Recursion follows nesting only; statement sequences are mapped by comprehension."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.node_types = {obj for obj in vars(ast).values() if isinstance(obj, type) and is_dataclass(obj)}
        self.children: dict[type, tuple[str, ...]] = {}

    def copy(self, node: Any) -> Any:
        if isinstance(node, tuple):
            return tuple(self.copy(item) for item in node)
        if isinstance(node, ast.If):
            return self._if_chain(node)
        if type(node) not in self.node_types:
            return node
        return self._copy_fields(node, self._children_of(type(node)))

    def _copy_fields(self, node: Any, names: tuple[str, ...]) -> Any:
        changes: dict[str, Any] = {}
        for name in names:
            value = getattr(node, name)
            new = self.copy(value)
            if new is not value:
                changes[name] = new
        if isinstance(node, _EXPRS):
            changes["known_to"] = known_to(node, self.deps)
        return replace(node, **changes) if changes else node

    def _if_chain(self, node: ast.If) -> Any:
        """`if ... else if ...` rebuilt from its last `else` up, so a long chain costs no recursion."""
        chain: list[ast.If] = []
        rest: Any = node
        while isinstance(rest, ast.If):
            chain.append(rest)
            rest = rest.other
        other = self.copy(rest)
        for link in reversed(chain):
            copied = self._copy_fields(link, ("cond", "then"))
            other = copied if other is link.other else replace(copied, other=other)
        return other

    def _children_of(self, kind: type) -> tuple[str, ...]:
        names = self.children.get(kind)
        if names is None:
            names = tuple(f.name for f in fields(kind) if f.name not in _NOT_CHILDREN)
            self.children[kind] = names
        return names
