"""Test programs for the rewrite engine: EzPC source checked into the typed IR, with every
`>> literal` on a signed integer marked as a truncation placed by the fixed-point lowering."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ezlang.passes.pipeline import check_source
from ezlang.passes.rewrite_tree import (
    functions,
    literal,
    map_children,
    map_stmt,
    stmt_exprs,
    walk,
    walk_stmts,
)

from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Role


def checked(text: str, *, bitlen: int = 32, mark: bool = True) -> ast.Program:
    result = check_source(SourceFile("t.ezpc", text), bitlen=bitlen)
    assert result.program is not None, [str(d) for d in result.diagnostics.items]
    return mark_truncations(result.program) if mark else result.program


def mark_truncations(program: ast.Program) -> ast.Program:
    def visit(node: ast.Expr) -> ast.Expr:
        node = map_children(node, visit)
        if (isinstance(node, ast.Binary) and node.op is BinaryOp.SHR and node.ty is not None
                and node.ty.base.signed and literal(node.right) is not None):
            return dataclasses.replace(node, rescale=True)
        return node

    def stmts(body: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        return tuple(map_stmt(s, visit, stmts) for s in body)

    return dataclasses.replace(program, globals=tuple(
        dataclasses.replace(g, body=stmts(g.body)) if isinstance(g, ast.FunDef) else g for g in program.globals))


def outputs(program: ast.Program) -> list[ast.Output]:
    return [s for f in functions(program) for s in walk_stmts(f.body) if isinstance(s, ast.Output)]


def scales(program: ast.Program, scale: int = 12) -> dict[int, int]:
    return {o.span.start: scale for o in outputs(program)}


def run(program: ast.Program, server: Mapping[str, Any], client: Mapping[str, Any],
        public: Mapping[str, Any] | None = None) -> list[Any]:
    result = interpret(program, {Role.SERVER: InputSource.from_mapping(server),
                                 Role.CLIENT: InputSource.from_mapping(client),
                                 Role.ALL: InputSource.from_mapping(public or {})})
    return [o.value for o in result.outputs[Role.CLIENT]]


def nodes(program: ast.Program) -> list[ast.Expr]:
    return [n for f in functions(program) for s in walk_stmts(f.body) for e in stmt_exprs(s) for n in walk(e)]


def truncations(program: ast.Program) -> list[ast.Binary]:
    return [n for n in nodes(program) if isinstance(n, ast.Binary) and n.op is BinaryOp.SHR and n.rescale]


def flat(values: Sequence[Any]) -> list[int]:
    out: list[int] = []
    for v in values:
        out.extend(flat(v) if isinstance(v, list) else [v])
    return out


def show(node: ast.Expr) -> str:
    """An expression as text with every operation parenthesised, label conversions left out."""
    if isinstance(node, ast.Convert):
        same_base = node.ty is not None and node.operand.ty is not None and node.ty.base is node.operand.ty.base
        return show(node.operand) if same_base else f"({node.ty.base if node.ty else '?'}){show(node.operand)}"
    if isinstance(node, ast.Binary):
        return f"({show(node.left)} {node.op} {show(node.right)})"
    if isinstance(node, ast.Ternary):
        return f"({show(node.cond)} ? {show(node.then)} : {show(node.other)})"
    if isinstance(node, ast.Index):
        return f"{show(node.array)}[{show(node.index)}]"
    if isinstance(node, ast.IntLit):
        return str(node.value)
    if isinstance(node, ast.Var):
        return node.name
    if isinstance(node, ast.Unary):
        return f"{node.op}{show(node.operand)}"
    if isinstance(node, ast.Call):
        return f"{node.name}({', '.join(show(a) for a in node.args)})"
    return type(node).__name__


def value_of(program: ast.Program, name: str) -> str:
    """The last value assigned to (or initialising) `name` in main, shown."""
    found = ""
    for f in functions(program):
        for s in walk_stmts(f.body):
            if isinstance(s, ast.Decl) and s.name == name and s.init is not None:
                found = show(s.init)
            elif isinstance(s, ast.Assign) and isinstance(s.target, ast.Var) and s.target.name == name:
                found = show(s.value)
    return found


def output_values(program: ast.Program) -> list[str]:
    return [show(o.value) for o in outputs(program)]
