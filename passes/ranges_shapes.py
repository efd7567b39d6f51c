"""Syntactic facts the range analysis needs: expression shapes and accumulation loops.

Why: the loop rule of ezlang.passes.ranges bounds `acc = acc + e` by trip count × bound(e)
instead of widening, and the ternary rule narrows `x > 0 ? x : 0`; both must recognise
expressions by structure, since the fixed-point lowering copies subtrees with fresh spans and
wraps literals in public→secret Converts.

Assumes: a typed program (every Expr.ty set). Guarantees: `shape` is equal for two expressions
exactly when they compute the same value from the same variables (value-preserving conversions
ignored; a call never matches, as it may have effects); `accumulators` returns only variables
whose every occurrence in the loop body is in one of their own updates `X = X ± e`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from typing import Hashable, Iterator, Optional

from ezlang.semantics import convert_fn
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp


def strip(expr: ast.Expr) -> ast.Expr:
    """`expr` without the conversions that leave its value unchanged (labels, widening)."""
    while isinstance(expr, (ast.Convert, ast.Subsume)) and _preserving(expr):
        expr = expr.operand
    return expr


def _preserving(node: ast.Convert | ast.Subsume) -> bool:
    source, target = node.operand.ty, node.ty
    return source is not None and target is not None and convert_fn(source, target) is None


def shape(expr: ast.Expr) -> Optional[Hashable]:
    """A structural key ignoring spans, types and labels; None when `expr` contains a call."""
    expr = strip(expr)
    if isinstance(expr, (ast.IntLit, ast.BoolLit, ast.FloatLit)):
        return (type(expr).__name__, expr.value)
    if isinstance(expr, ast.RoleLit):
        return ("role", expr.role)
    if isinstance(expr, ast.Var):
        return ("var", expr.name)
    parts: tuple[Optional[Hashable], ...]
    if isinstance(expr, ast.Index):
        parts = ("index", shape(expr.array), shape(expr.index))
    elif isinstance(expr, ast.Binary):
        parts = ("binary", expr.op, shape(expr.left), shape(expr.right))
    elif isinstance(expr, ast.Unary):
        parts = ("unary", expr.op, shape(expr.operand))
    elif isinstance(expr, ast.Ternary):
        parts = ("ternary", shape(expr.cond), shape(expr.then), shape(expr.other))
    elif isinstance(expr, ast.Convert) and expr.ty is not None:
        parts = ("convert", expr.ty.base, shape(expr.operand))
    else:
        return None
    return None if None in parts else parts


def walk(node: object) -> Iterator[object]:
    """Every AST node under `node` (itself included): statements, expressions, written types."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for name in _children(type(current)):
            value = getattr(current, name)
            if type(value) is tuple:
                stack.extend(item for item in value if type(item) in _NODE_CLASSES)
            elif type(value) in _NODE_CLASSES:
                stack.append(value)


_NODE_CLASSES = frozenset(cls for cls in vars(ast).values()
                          if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == ast.__name__)


@cache
def _children(cls: type) -> tuple[str, ...]:
    """The fields of an AST class that can hold nodes (spans, types and names cannot)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("span", "ty", "known_to", "file"))


def root(target: ast.Expr) -> Optional[ast.Var]:
    """The variable an lvalue or element read starts from (`a` in `a[i][j]`)."""
    while isinstance(target, ast.Index):
        target = strip(target.array)
    return target if isinstance(target, ast.Var) else None


def indices(target: ast.Expr) -> tuple[ast.Expr, ...]:
    found: list[ast.Expr] = []
    while isinstance(target, ast.Index):
        found.append(target.index)
        target = strip(target.array)
    return tuple(reversed(found))


@dataclass(frozen=True)
class Update:
    """`X = X ± delta` (X a variable or an element read and written at the same index)."""

    stmt: ast.Assign
    name: str
    binary: ast.Binary
    delta: ast.Expr
    negate: bool
    read: ast.Var  # the root of the X read on the right-hand side
    indices: tuple[ast.Expr, ...]


def match_update(stmt: ast.Assign) -> Optional[Update]:
    target = root(stmt.target)
    value = strip(stmt.value)
    if target is None or not isinstance(value, ast.Binary) or value.op not in (BinaryOp.ADD, BinaryOp.SUB):
        return None
    if value.ty is None or stmt.target.ty is None or value.ty.base is not stmt.target.ty.base:
        return None
    key = shape(stmt.target)
    sides = [(value.left, value.right)] + ([(value.right, value.left)] if value.op is BinaryOp.ADD else [])
    for read, delta in sides:
        read_root = root(strip(read))
        if key is not None and read_root is not None and shape(read) == key:
            return Update(stmt, target.name, value, delta, value.op is BinaryOp.SUB, read_root,
                          indices(stmt.target))
    return None


@dataclass(frozen=True)
class LoopFacts:
    """What the analysis needs to know of one loop body, computed once per loop."""

    accumulators: dict[str, tuple[Update, ...]]
    names: frozenset[str]  # every variable the body mentions
    elementwise: frozenset[str]  # accumulators whose every update indexes by the loop variable


def loop_facts(loop: ast.For) -> LoopFacts:
    nodes = [node for stmt in loop.body for node in walk(stmt)]
    declared = {_declared(node) for node in nodes} - {None}
    written = _written(nodes)
    updates = _updates_outside_while(loop.body)
    allowed = {id(var) for group in updates.values() for u in group for var in (root(u.stmt.target), u.read)}
    mentions: dict[str, list[int]] = {}
    for node in nodes:
        if isinstance(node, ast.Var):
            mentions.setdefault(node.name, []).append(id(node))
    no_return = not any(isinstance(node, ast.Return) for node in nodes)
    accumulators = {name: group for name, group in updates.items()
                    if no_return and name not in declared and all(m in allowed for m in mentions[name])
                    and written.count(name) == len(group)}  # no write but its updates, none in a `while`
    counter = shape(ast.Var(loop.var_span, loop.var))
    stable = loop.var not in declared and loop.var not in written
    elementwise = frozenset(name for name, group in accumulators.items()
                            if stable and all(any(shape(i) == counter for i in u.indices) for u in group))
    return LoopFacts(accumulators, frozenset(mentions), elementwise)


def _declared(node: object) -> Optional[str]:
    if isinstance(node, (ast.Decl, ast.Input)):
        return node.name
    if isinstance(node, ast.For):
        return node.var
    return None


def _written(nodes: list[object]) -> list[str]:
    """The variable each assignment writes (once per assignment)."""
    targets = (root(node.target) for node in nodes if isinstance(node, ast.Assign))
    return [target.name for target in targets if target is not None]


def _updates_outside_while(body: tuple[ast.Stmt, ...]) -> dict[str, tuple[Update, ...]]:
    """Updates by variable, leaving out those a `while` encloses (its trip count is unknown)."""
    found: dict[str, list[Update]] = {}
    stack: list[object] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.While):
            continue
        if isinstance(node, ast.Assign):
            update = match_update(node)
            if update is not None:
                found.setdefault(update.name, []).append(update)
        elif isinstance(node, (ast.For, ast.Block)):
            stack.extend(node.body)
        elif isinstance(node, ast.If):
            stack.extend(s for s in (node.then, node.other) if s is not None)
    return {name: tuple(group) for name, group in found.items()}
