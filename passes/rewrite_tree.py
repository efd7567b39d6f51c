"""Tree helpers of the rewrite engine: seeing through label conversions, structural equality,
rebuilding nodes, walking statements, public constants and loop trip counts.

Why a module of its own: the expression rules (rewrite_match), the variable-level forms
(rewrite_accumulators, rewrite_vars) and the error and cost accounting (rewrite_errors) all need
the same notion of "the same value": two subtrees are the same when they compute the same value, whatever their
spans, types, known_to, operator labels and label-only conversions (al ↔ bl ↔ pl is the same
ring element; the checker inserts such `Convert`s around operands of `?:` and comparisons).

Assumes: a typed integer program (every Expr.ty set, no fixed-point scale left).
Guarantees: nothing is mutated; helpers that rebuild return the same object when nothing changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional, TypeVar

from ezlang.semantics import binary_fn, wrap
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

ExprFn = Callable[[ast.Expr], ast.Expr]
Node = TypeVar("Node")
_IGNORED_FIELDS = frozenset({"span", "name_span", "ty", "known_to", "rescale", "label"})
AMOUNT_TYPE = Type(Base.INT32, Label.PL)


def is_label_change(node: ast.Expr) -> bool:
    """A `Convert` that changes only the label (same base and rank): the value is unchanged."""
    if not isinstance(node, ast.Convert) or node.ty is None or node.operand.ty is None:
        return False
    return node.ty.base is node.operand.ty.base and node.ty.rank == node.operand.ty.rank


def strip(node: ast.Expr) -> ast.Expr:
    while is_label_change(node):
        assert isinstance(node, ast.Convert)
        node = node.operand
    return node


def literal(node: ast.Expr) -> Optional[int]:
    """The value of an integer literal seen through any conversions (each reduces to its type)."""
    if isinstance(node, ast.IntLit):
        return node.value
    if isinstance(node, ast.Convert) and node.ty is not None and node.ty.base.is_int:
        inner = literal(node.operand)
        return None if inner is None else wrap(inner, node.ty.base)
    return None


def same(a: Any, b: Any) -> bool:
    """Structural equality of subtrees, ignoring spans, types, labels and label-only conversions."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if not (dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b)):
        return bool(a == b)
    if isinstance(a, ast.Convert):
        a = strip(a)
    if isinstance(b, ast.Convert):
        b = strip(b)
    if type(a) is not type(b):
        return False
    return all(same(getattr(a, f.name), getattr(b, f.name))
               for f in dataclasses.fields(a) if f.name not in _IGNORED_FIELDS)


def children(node: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(node, ast.Index):
        return (node.array, node.index)
    if isinstance(node, ast.Call):
        return node.args
    if isinstance(node, ast.Binary):
        return (node.left, node.right)
    if isinstance(node, ast.Ternary):
        return (node.cond, node.then, node.other)
    if isinstance(node, (ast.Unary, ast.Subsume, ast.Convert)):
        return (node.operand,)
    return ()


def map_children(node: ast.Expr, fn: ExprFn) -> ast.Expr:
    """`node` with `fn` applied to each direct child; the same object when no child changed."""
    if isinstance(node, ast.Index):
        changes: dict[str, Any] = {"array": fn(node.array), "index": fn(node.index)}
    elif isinstance(node, ast.Call):
        changes = {"args": tuple(fn(arg) for arg in node.args)}
    elif isinstance(node, ast.Binary):
        changes = {"left": fn(node.left), "right": fn(node.right)}
    elif isinstance(node, ast.Ternary):
        changes = {"cond": fn(node.cond), "then": fn(node.then), "other": fn(node.other)}
    elif isinstance(node, (ast.Unary, ast.Subsume, ast.Convert)):
        changes = {"operand": fn(node.operand)}
    else:
        return node
    if all(_identical(value, getattr(node, name)) for name, value in changes.items()):
        return node
    return dataclasses.replace(node, **changes)


def _identical(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))
    return a is b


def walk(node: ast.Expr) -> Iterator[ast.Expr]:
    """`node` and all its subexpressions, parents first."""
    yield node
    for child in children(node):
        yield from walk(child)


def coerce(node: ast.Expr, ty: Optional[Type]) -> ast.Expr:
    """`node` made to have type `ty` by a label-only `Convert` (as the checker writes them)."""
    if ty is None or node.ty == ty:
        return node
    assert node.ty is not None and node.ty.base is ty.base and node.ty.rank == ty.rank, (node.ty, ty)
    if isinstance(node, ast.Convert) and is_label_change(node):
        return coerce(node.operand, ty)
    return ast.Convert(node.span, node, ty=ty)


def amount(node: ast.Expr, value: int) -> ast.IntLit:
    """A public shift amount, typed as the checker types the `12` in `x >> 12`."""
    return ast.IntLit(node.span, value, Base.INT32, ty=AMOUNT_TYPE)


def ring_literal(node: ast.Expr, value: int, base: Base) -> ast.IntLit:
    return ast.IntLit(node.span, wrap(value, base), base, ty=Type(base, Label.PL))


def truncation(node: ast.Expr, shift: int) -> Optional[tuple[ast.Expr, int]]:
    """(x, s) when `node` is a truncation placed by the lowering: `x >> s` (rescale=True) on a
    signed integer with a literal amount."""
    node = strip(node)
    if not (isinstance(node, ast.Binary) and node.op is BinaryOp.SHR and node.rescale):
        return None
    s = literal(node.right)
    if s is None or node.ty is None or not node.ty.base.signed or not 0 <= s or (shift >= 0 and s != shift):
        return None
    return node.left, s


# ---------------------------------------------------------------- statements


StmtsFn = Callable[[tuple[ast.Stmt, ...]], tuple[ast.Stmt, ...]]


def map_stmt(stmt: ast.Stmt, fn: ExprFn, stmts_fn: Optional[StmtsFn] = None) -> ast.Stmt:
    """`stmt` with `fn` applied to each expression it holds (not to written types' sizes); nested
    bodies go through `stmts_fn` (default: map each statement the same way)."""
    body = stmts_fn or (lambda stmts: tuple(map_stmt(s, fn) for s in stmts))
    if isinstance(stmt, ast.Decl):
        return stmt if stmt.init is None else _replace(stmt, init=fn(stmt.init))
    if isinstance(stmt, ast.Assign):
        return _replace(stmt, target=_map_target(stmt.target, fn), value=fn(stmt.value))
    if isinstance(stmt, ast.CallStmt):
        return _replace(stmt, args=tuple(fn(arg) for arg in stmt.args))
    if isinstance(stmt, (ast.Return, ast.Output)):
        return stmt if stmt.value is None else _replace(stmt, value=fn(stmt.value))
    if isinstance(stmt, ast.For):
        return _replace(stmt, lo=fn(stmt.lo), hi=fn(stmt.hi), body=body(stmt.body))
    if isinstance(stmt, ast.While):
        return _replace(stmt, cond=fn(stmt.cond), body=body(stmt.body))
    if isinstance(stmt, ast.If):
        then = body((stmt.then,))[0]
        other = None if stmt.other is None else body((stmt.other,))[0]
        return _replace(stmt, cond=fn(stmt.cond), then=then, other=other)
    if isinstance(stmt, ast.Block):
        return _replace(stmt, body=body(stmt.body))
    return stmt


def _map_target(target: ast.LValue, fn: ExprFn) -> ast.LValue:
    if isinstance(target, ast.Index):
        array = _map_target(target.array, fn) if isinstance(target.array, (ast.Var, ast.Index)) else target.array
        return _replace(target, array=array, index=fn(target.index))
    return target


def _replace(node: Node, **changes: Any) -> Node:
    if all(_identical(value, getattr(node, name)) for name, value in changes.items()):
        return node
    return dataclasses.replace(node, **changes)  # type: ignore[type-var]


def nested_bodies(stmt: ast.Stmt) -> tuple[tuple[ast.Stmt, ...], ...]:
    if isinstance(stmt, (ast.For, ast.While, ast.Block)):
        return (stmt.body,)
    if isinstance(stmt, ast.If):
        return ((stmt.then,),) + (() if stmt.other is None else ((stmt.other,),))
    return ()


def stmt_exprs(stmt: ast.Stmt) -> tuple[ast.Expr, ...]:
    """The expressions `stmt` itself holds (not those of nested bodies); a written target counts."""
    if isinstance(stmt, ast.Assign):
        return (stmt.target, stmt.value)
    found: list[ast.Expr] = []

    def collect(node: ast.Expr) -> ast.Expr:
        found.append(node)
        return node

    map_stmt(stmt, collect, lambda stmts: stmts)
    return tuple(found)


def walk_stmts(stmts: tuple[ast.Stmt, ...]) -> Iterator[ast.Stmt]:
    for stmt in stmts:
        yield stmt
        for body in nested_bodies(stmt):
            yield from walk_stmts(body)


def root_name(node: ast.Expr) -> Optional[str]:
    """The variable an lvalue or array read is rooted at (`y` for `y[i][j]`)."""
    node = strip(node)
    while isinstance(node, ast.Index):
        node = strip(node.array)
    return node.name if isinstance(node, ast.Var) else None


def mentions(stmts: tuple[ast.Stmt, ...], name: str) -> int:
    """How many times `name` occurs in the statements: declarations, inputs, reads and writes."""
    count = 0
    for stmt in walk_stmts(stmts):
        if isinstance(stmt, (ast.Decl, ast.Input)) and stmt.name == name:
            count += 1
        count += sum(expr_mentions(e, name) for e in stmt_exprs(stmt))
    return count


def expr_mentions(node: ast.Expr, name: str) -> int:
    return sum(1 for n in walk(node) if isinstance(n, ast.Var) and n.name == name)


def written(stmts: tuple[ast.Stmt, ...]) -> set[str]:
    """Every name the statements assign, declare, read as input or use as a loop variable."""
    names: set[str] = set()
    for stmt in walk_stmts(stmts):
        if isinstance(stmt, ast.Assign):
            names.add(root_name(stmt.target) or "")
        elif isinstance(stmt, (ast.Decl, ast.Input)):
            names.add(stmt.name)
        elif isinstance(stmt, ast.For):
            names.add(stmt.var)
        elif isinstance(stmt, ast.CallStmt):
            names.update(root_name(a) or "" for a in stmt.args)
    return names


# ---------------------------------------------------------------- public constants


def global_constants(program: ast.Program) -> dict[str, int]:
    """The value of every top-level `int32 N = ...;` that folds to an integer."""
    values: dict[str, int] = {}
    for item in program.globals:
        if isinstance(item, ast.GlobalConst):
            value = constant(item.value, values)
            if value is not None:
                values[item.name] = wrap(value, item.base)
    return values


def constant(node: ast.Expr, consts: Mapping[str, int]) -> Optional[int]:
    """The value of a public expression of literals and global constants, if it folds."""
    node = strip(node)
    if isinstance(node, (ast.IntLit, ast.Convert)):
        return literal(node)
    if isinstance(node, ast.Var):
        return consts.get(node.name)
    if isinstance(node, ast.Binary) and node.op in _FOLDABLE:
        left, right = constant(node.left, consts), constant(node.right, consts)
        if left is None or right is None or node.ty is None or not node.ty.base.is_int:
            return None
        if node.op is BinaryOp.SHL and not 0 <= right < node.ty.base.width:
            return None  # the program's own run-time error (a negative amount) is not folded away
        return binary_fn(node.op, node.ty.base)(wrap(left, node.ty.base), right)
    return None


# `/` and `<<` too: a library's tap count (C / group)·K and the rule mul-pow2-to-shl's shifts
# appear in loop bounds, whose trip counts the accumulator form needs
_FOLDABLE = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.SHL})


def trip_count(loop: ast.For, consts: Mapping[str, int]) -> Optional[int]:
    lo, hi = constant(loop.lo, consts), constant(loop.hi, consts)
    return None if lo is None or hi is None else max(0, hi - lo)


def functions(program: ast.Program) -> tuple[ast.FunDef, ...]:
    return tuple(g for g in program.globals if isinstance(g, ast.FunDef))
