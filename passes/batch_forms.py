"""The forms the round batching writes, and the small AST helpers it is written with.

Why: three passes write batches (ezlang.passes.batch_rounds hoists the operations of one loop,
ezlang.passes.batch_nests lifts those batches out of enclosing loops, ezlang.passes.batch_sums
turns batches of products that are only summed into sums) and the code generator
(ezlang.codegen.batch, ezlang.codegen.sums) lowers them; all must agree on one shape of a batch
loop, of a read of a batch and of a loop's bounds, so those shapes are defined here once (the
sum loops' in ezlang.passes.batch_matrices).

Assumes: a typed program (every Expr.ty set, implicit conversions explicit as `Convert` nodes).
Guarantees: every name made here contains `$`, which no EzPC name can; `batch_loop` recognises
exactly the loops written from `BatchLoop`'s shape (the assignments to `batch$` arrays).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator, Optional

from ezlang.passes.fused_ops import literal, nodes
from ezlang.semantics import may_raise
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

BATCH_PREFIX = "batch$"
EXPAND_PREFIX = "expand$"
_DONE_SUFFIX = "$done"
# Scalars the passes declare for loop bounds and batch sizes: pure functions of their initialiser.
_BOUND_PREFIXES = ("lo", "hi", "len", "size")
INT32 = Type(Base.INT32, Label.PL)
INT64 = Type(Base.INT64, Label.PL)
BOOL = Type(Base.BOOL, Label.PL)
INT64_MAX = 2 ** 63 - 1


# ---------------------------------------------------------------- batch loops


@dataclass(frozen=True)
class BatchLoop:
    """A batch loop: a nest `for v1 = [lo1 : hi1] { ... for vm = [lom : him] { temp_1[index] =
    value_1; ...; done[index] = true } }` (m ≥ 1, outermost first, each level's body the next
    level alone) whose innermost body stores operations of one level and call kind, then marks
    the element computed in the group's `done` mask. The nest is rectangular (no bound mentions a
    variable of the nest) and `index` is the iteration's position in row-major order, so the code
    generator may count positions instead."""

    done: str
    loops: tuple[ast.For, ...]
    index: ast.Expr
    items: tuple[tuple[str, ast.Expr], ...]


def batch_loop(node: ast.For) -> Optional[BatchLoop]:
    """The batch loop `node` is, or None for any other loop."""
    loops = loop_nest(node)
    stores = [array_store(stmt, BATCH_PREFIX) for stmt in loops[-1].body]
    if len(stores) < 2 or any(store is None for store in stores):
        return None
    items = [store for store in stores if store is not None]
    (done, index, _) = items.pop()
    if done != done_name(items[0][0]):
        return None
    return BatchLoop(done, loops, index, tuple((temp, value) for temp, _, value in items))


# ---------------------------------------------------------------- nests and stores (batch and sum loops)


def array_store(stmt: ast.Stmt, prefix: str) -> Optional[tuple[str, ast.Expr, ast.Expr]]:
    """The array, index and value of `<prefix>...[index] = value`, or None for any other statement."""
    if not (isinstance(stmt, ast.Assign) and isinstance(stmt.target, ast.Index)):
        return None
    array = stmt.target.array
    if not (isinstance(array, ast.Var) and array.name.startswith(prefix)):
        return None
    return array.name, stmt.target.index, stmt.value


def loop_nest(node: ast.For) -> tuple[ast.For, ...]:
    """`node` and the loops nested in it, each the only statement of the one around it."""
    loops = [node]
    while len(loops[-1].body) == 1 and isinstance(loops[-1].body[0], ast.For):
        loops.append(loops[-1].body[0])
    return tuple(loops)


def mask_store(stmt: ast.Stmt) -> Optional[tuple[str, ast.Expr]]:
    """The mask and index of `...$done[index] = true`, or None for any other statement."""
    if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.BoolLit) and stmt.value.value
            and isinstance(stmt.target, ast.Index) and isinstance(stmt.target.array, ast.Var)
            and stmt.target.array.name.endswith(_DONE_SUFFIX)):
        return None
    return stmt.target.array.name, stmt.target.index


def with_innermost(stmt: ast.For, fn: Callable[[tuple[ast.Stmt, ...]], tuple[ast.Stmt, ...]]) -> ast.For:
    """The nest `stmt` with `fn` applied to its innermost body."""
    inner = stmt.body[0] if len(stmt.body) == 1 and isinstance(stmt.body[0], ast.For) else None
    body = (with_innermost(inner, fn),) if inner is not None else fn(stmt.body)
    return dataclasses.replace(stmt, body=body)


def done_name(temp: str) -> str:
    """`batch$G$done`, the mask of the elements computed, for the batch `batch$G$m` of group G."""
    return temp.rsplit("$", 1)[0] + _DONE_SUFFIX


def done_store(span: Span, done: str, index: ast.Expr) -> ast.Assign:
    """`done[index] = true`: the element at `index` was computed."""
    array = ast.Var(span, done, ty=Type(Base.BOOL, Label.PL, 1))
    return ast.Assign(span, ast.Index(span, array, index, ty=BOOL), ast.BoolLit(span, True, ty=BOOL))


def is_bound_name(name: str) -> bool:
    """A scalar declared for a loop's bound, trip count or batch size (`lo$3`, `size$7`)."""
    return "$" in name and name.split("$", 1)[0] in _BOUND_PREFIXES


@dataclass(frozen=True)
class Bounds:
    """The names of one loop's bounds and trip count, evaluated once before its batch loops."""

    span: Span
    number: int

    def var(self, prefix: str, ty: Type) -> ast.Var:
        return ast.Var(self.span, f"{prefix}${self.number}", ty=ty)

    def lo_var(self) -> ast.Var:
        return self.var("lo", INT32)

    def hi_var(self) -> ast.Var:
        return self.var("hi", INT32)

    def len_var(self) -> ast.Var:
        return self.var("len", INT64)

    def prelude(self, node: ast.For) -> tuple[ast.Stmt, ...]:
        span = self.span
        lo, hi = self.lo_var(), self.hi_var()
        more = ast.Binary(span, BinaryOp.GT, hi, lo, Label.PL, ty=BOOL)
        length = ast.Ternary(span, more, sub64(span, hi, lo), int64(span, 0), Label.PL, ty=INT64)
        return (decl(span, lo.name, INT32, node.lo), decl(span, hi.name, INT32, node.hi),
                decl(span, self.len_var().name, INT64, length))

    def offset(self, var: str) -> ast.Expr:
        """`(int64) var - (int64) lo$L`: the element of iteration `var`."""
        return sub64(self.span, ast.Var(self.span, var, ty=INT32), self.lo_var())


# ---------------------------------------------------------------- reads of a batch


def read(span: Span, temp: str, ty: Type, position: ast.Expr, fallback: ast.Expr) -> ast.Expr:
    """`batch$G$done[position] ? temp[position] : fallback`: the batch's element where it was
    computed, else the operation itself (`fallback`), whose operands then fail."""
    array = ast.Var(span, temp, ty=Type(ty.base, ty.label, 1))
    element = ast.Index(span, array, position, ty=Type(ty.base, ty.label))
    mask = ast.Var(span, done_name(temp), ty=Type(Base.BOOL, Label.PL, 1))
    return ast.Ternary(span, ast.Index(span, mask, position, ty=BOOL), element, fallback, Label.PL, ty=ty)


def read_done(node: ast.Expr) -> Optional[str]:
    """The mask a read of a batch (`read`) tests, or None for any other expression."""
    if not (isinstance(node, ast.Ternary) and isinstance(node.cond, ast.Index)):
        return None
    mask = node.cond.array
    return mask.name if isinstance(mask, ast.Var) and mask.name.startswith(BATCH_PREFIX) else None


def reposition(node: ast.Ternary, fn: Callable[[ast.Expr], ast.Expr]) -> ast.Ternary:
    """A read (`read`) with `fn` applied to its position, in the mask and in the batch alike."""
    assert isinstance(node.cond, ast.Index) and isinstance(node.then, ast.Index)
    cond = dataclasses.replace(node.cond, index=fn(node.cond.index))
    return dataclasses.replace(node, cond=cond, then=dataclasses.replace(node.then, index=fn(node.then.index)))


# ---------------------------------------------------------------- building nodes


def decl(span: Span, name: str, ty: Type, init: ast.Expr) -> ast.Decl:
    return ast.Decl(span, ast.TypeNode(span, ty.base, ty.label), name, span, init)


def int64(span: Span, value: int) -> ast.IntLit:
    return ast.IntLit(span, value, Base.INT64, ty=INT64)


def sub64(span: Span, left: ast.Expr, right: ast.Expr) -> ast.Expr:
    return ast.Binary(span, BinaryOp.SUB, ast.Convert(span, left, ty=INT64), ast.Convert(span, right, ty=INT64),
                      Label.PL, ty=INT64)


def public(span: Span, op: BinaryOp, left: ast.Expr, right: ast.Expr) -> ast.Binary:
    """A public int64 operation (a bool one for comparisons)."""
    ty = BOOL if op in (BinaryOp.EQ, BinaryOp.LT, BinaryOp.LE) else INT64
    return ast.Binary(span, op, left, right, Label.PL, ty=ty)


def saturated_product(span: Span, left: ast.Expr, right: ast.Expr) -> ast.Expr:
    """left · right for non-negative int64 sizes, saturated at 2^63 − 1 (MAX) instead of wrapping:
    no allocation of MAX elements succeeds, so a size that large fails where it is allocated."""
    fits = public(span, BinaryOp.LE, left, public(span, BinaryOp.DIV, int64(span, INT64_MAX), right))
    product = ast.Ternary(span, fits, public(span, BinaryOp.MUL, left, right), int64(span, INT64_MAX), Label.PL,
                          ty=INT64)
    empty = public(span, BinaryOp.EQ, right, int64(span, 0))
    return ast.Ternary(span, empty, int64(span, 0), product, Label.PL, ty=INT64)


def typed(node: ast.Expr) -> Type:
    assert node.ty is not None, "a typed program"
    return node.ty


# ---------------------------------------------------------------- walking nodes


def infallible(node: object) -> bool:
    """A node of an expression that cannot fail: no index, no call, no `^^`, shifts by
    non-negative literals only."""
    if isinstance(node, ast.Binary):
        if node.op in (BinaryOp.SHL, BinaryOp.SHR, BinaryOp.SHRL):
            amount = literal(node.right)
            return amount is not None and amount >= 0
        return not may_raise(node.op)
    return isinstance(node, (ast.Unary, ast.Ternary, ast.Convert, ast.Subsume, ast.Var, ast.IntLit, ast.BoolLit,
                             ast.FloatLit))


def shape(node: object) -> Hashable:
    """`node`'s structure without its spans: equal shapes of loop-invariant public expressions
    have equal values, and equal shapes of lvalues denote the same place."""
    if not dataclasses.is_dataclass(node) or isinstance(node, (type, Span)):
        return node if not isinstance(node, tuple) else tuple(shape(item) for item in node)
    return (type(node).__name__,) + tuple(shape(getattr(node, f.name)) for f in dataclasses.fields(node)
                                          if f.name not in ("span", "name_span", "var_span", "known_to"))


def var_names(value: object) -> Iterator[str]:
    """The names of the variables `value` (a node or a tuple of them) reads or writes."""
    return (item.name for item in nodes(value) if isinstance(item, ast.Var))


def replace_vars(node: ast.Expr, fn: Callable[[ast.Var], ast.Expr]) -> ast.Expr:
    if isinstance(node, ast.Var):
        return fn(node)
    return map_children(node, lambda child: replace_vars(child, fn))


_EXPR_FIELDS = {ast.Index: ("array", "index"), ast.Binary: ("left", "right"), ast.Unary: ("operand",),
                ast.Ternary: ("cond", "then", "other"), ast.Subsume: ("operand",), ast.Convert: ("operand",)}


def children(node: ast.Expr) -> Iterator[ast.Expr]:
    if isinstance(node, ast.Call):
        yield from node.args
        return
    for name in _EXPR_FIELDS.get(type(node), ()):
        yield getattr(node, name)


def map_children(node: ast.Expr, fn: Callable[[ast.Expr], ast.Expr]) -> ast.Expr:
    if isinstance(node, ast.Call):
        return dataclasses.replace(node, args=tuple(fn(arg) for arg in node.args))
    changes: dict[str, Any] = {name: fn(getattr(node, name)) for name in _EXPR_FIELDS.get(type(node), ())}
    return dataclasses.replace(node, **changes) if changes else node


ExprFn = Callable[[ast.Expr], ast.Expr]


def map_stmt(stmt: ast.Stmt, fn: ExprFn) -> ast.Stmt:
    """`stmt` with `fn` applied to each of its outermost expressions, nested statements included.
    Array dimensions in declarations are left alone (evaluated once per declaration anyway)."""
    mapper = _STMT_MAPPERS.get(type(stmt))
    return stmt if mapper is None else mapper(stmt, fn)


def _map_decl(stmt: ast.Decl, fn: ExprFn) -> ast.Stmt:
    return stmt if stmt.init is None else dataclasses.replace(stmt, init=fn(stmt.init))


def _map_assign(stmt: ast.Assign, fn: ExprFn) -> ast.Stmt:
    target = stmt.target
    if isinstance(target, ast.Index):
        target = dataclasses.replace(target, array=fn(target.array), index=fn(target.index))
    return dataclasses.replace(stmt, target=target, value=fn(stmt.value))


def _map_value(stmt: Any, fn: ExprFn) -> ast.Stmt:
    """A `return` or an `output`."""
    return stmt if stmt.value is None else dataclasses.replace(stmt, value=fn(stmt.value))


def _map_if(stmt: ast.If, fn: ExprFn) -> ast.Stmt:
    other = None if stmt.other is None else map_stmt(stmt.other, fn)
    return dataclasses.replace(stmt, cond=fn(stmt.cond), then=map_stmt(stmt.then, fn), other=other)


def _map_body(stmts: tuple[ast.Stmt, ...], fn: ExprFn) -> tuple[ast.Stmt, ...]:
    return tuple(map_stmt(s, fn) for s in stmts)


_STMT_MAPPERS: dict[type, Callable[[Any, ExprFn], ast.Stmt]] = {
    ast.Decl: _map_decl, ast.Assign: _map_assign, ast.Return: _map_value, ast.Output: _map_value, ast.If: _map_if,
    ast.CallStmt: lambda s, fn: dataclasses.replace(s, args=tuple(fn(arg) for arg in s.args)),
    ast.For: lambda s, fn: dataclasses.replace(s, lo=fn(s.lo), hi=fn(s.hi), body=_map_body(s.body, fn)),
    ast.While: lambda s, fn: dataclasses.replace(s, cond=fn(s.cond), body=_map_body(s.body, fn)),
    ast.Block: lambda s, fn: dataclasses.replace(s, body=_map_body(s.body, fn)),
}
