"""Sums of products: a batch of products that are only summed becomes one matrix product, and
only the sums are opened.

Why: after ezlang.passes.batch_rounds, a network layer
`for j { acc = b[j] << s; for i { acc = acc + x[i] * w[i][j] }; ... }` computes its K·M products
in one batch (one call of element-wise masked-Beaver products: every product opened, K·M values
sent by each party, 3·K·M from the dealer) only to add them up. The sums of a matrix product are
what the matrix Beaver protocol opens (ezrt_matmul_many, docs/protocols.md §5.9): M values per
party, and the dealer's correlation for the masks of x, of w and of the M sums. This pass finds
such batches and the accumulation reading them, and writes the sums instead.

A batch loop (`BatchLoop`, a rectangular nest v1 .. vm, the innermost loop i = vm) becomes a
sum loop when every one of its operations is a product `batch$G$k = x * y` (secret integers)
such that:
* the batch is read exactly once, by an *accumulation* `T = T + read` (or `T = read + T`) in a
  loop `for vm = [lo : hi]` (the consumer, F) placed after the batch loop, in which each of
  v1 .. v(m-1) is the loop variable of an enclosing loop with the nest's bounds, and whose body
  holds nothing but such accumulations, one per product of the batch loop (so that the sums
  are one call, as the products were);
* T is the product's type, and the same place in every iteration of F: its indices read neither
  i, nor a name F assigns, nor an array, nor call anything (a scalar `acc`, or `y[n * M + j]`);
* the products over the nest are a matrix product (`matrix_form`, ezlang.passes.batch_matrices):
  x[i] · w[i][j], w[j][i], w[i*M + j], w[j*K + i]; x[n*K + i] · any of those with a batch loop n
  outside; w[i] · x[i] (m = 1: a 1×K by K×1 product); the layer library's flattened
  `X[(p / M)*K + k] * W[k*M + p % M]`.
Otherwise the batch loop stays as it is (its products opened one by one, in one call).

The rewrite (G the batch's group, k its number; the names contain `$`, which no user name can):

    int64 rows$G = len(v1) · ... · len(v(m-1))   (1 for m = 1; saturated as the batch sizes are)
    T_ty[rows$G] sums$G$k; ...;  bool[rows$G] sums$G$done;
    for v1 .. { for vm { sums$G$k[q] = sums$G$k[q] + x * y; ...; sums$G$done[q] = true } }
        (the sum loop, `SumLoop`, where the batch loop was; q = the row-major position of v1 .. v(m-1))
    ... F becomes
    if (sums$G$done[q]) { T = T + sums$G$k[q]; ... } else { F with each read replaced by its product }

and the batch loop's batches and mask are no longer declared.

Values: T gets, in F's place, the same ring sum: F adds the batch's elements of row q in
iteration order, the sum loop adds the same products (the same operands, evaluated where the batch
evaluated them) into sums$G$k[q], and addition mod 2^n is associative and commutative (so also
where two accumulations of F update one place). Errors: T is the same place in every iteration,
so its evaluation fails in the rewrite exactly where F's first iteration failed, and F has one
iteration at least where sums$G$done[q] holds (the code generator marks a row only when the
innermost loop runs). A row whose operands fail a check is not marked; the `else` branch then runs
F as the program wrote it, which fails at the first failing operand, as the program does (the
products before it in that row cost a round each: only in a run that fails). The interpreter,
running the rewritten program, fails in the sum loop at the first failing product, as it fails in
a batch loop.

Assumes: a program rewritten by ezlang.passes.batch_rounds (batch loops, reads of batches, loop
bounds `lo$N`/`hi$N` with their trip counts `len$N` declared before the batch loop, as that pass
writes them).
Guarantees: a typed program with the same outputs and errors as the input (above), every new sum
loop recognised by `sum_loop` with the items it wrote; a batch loop that does not qualify is
unchanged.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional, Union

from ezlang.passes.batch_forms import (
    BATCH_PREFIX,
    BOOL,
    INT32,
    INT64,
    BatchLoop,
    batch_loop,
    decl,
    done_name,
    done_store,
    int64,
    nodes,
    public,
    read_done,
    saturated_product,
    shape,
    sub64,
    typed,
    with_innermost,
)
from ezlang.passes.batch_matrices import SUMS_PREFIX, matrix_form
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Type

__all__ = ["batch_sums"]


def batch_sums(program: ast.Program) -> ast.Program:
    """The program with the batches of products that are only summed computed as sums."""
    globals_ = tuple(_function(g) if isinstance(g, ast.FunDef) else g for g in program.globals)
    return dataclasses.replace(program, globals=globals_)


def _function(node: ast.FunDef) -> ast.FunDef:
    uses = Counter(item.name for item in nodes(node.body) if isinstance(item, ast.Var))
    return dataclasses.replace(node, body=_Rewriter(uses).block(node.body))


@dataclass(frozen=True)
class _Accumulation:
    """`target = target + read` (or `read + target`) in the consumer; `item` the batch it reads."""

    stmt: ast.Assign
    item: tuple[str, ast.Binary]
    read: ast.Ternary


@dataclass(frozen=True)
class _Rewriter:
    """Rewrites the statement lists of one function; `uses` counts the Var nodes of each name."""

    uses: Counter[str]

    def block(self, stmts: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        out = list(stmts)
        for stmt in stmts:
            plan = batch_loop(stmt) if isinstance(stmt, ast.For) else None
            if plan is not None:  # found by identity: converting keeps the other statements' objects
                out = self.convert(out, next(k for k, s in enumerate(out) if s is stmt), plan) or out
        return tuple(self.nested(stmt) for stmt in out)

    def nested(self, stmt: ast.Stmt) -> ast.Stmt:
        if isinstance(stmt, (ast.For, ast.While, ast.Block)):
            return dataclasses.replace(stmt, body=self.block(stmt.body))
        if isinstance(stmt, ast.If):
            other = None if stmt.other is None else self.single(stmt.other)
            return dataclasses.replace(stmt, then=self.single(stmt.then), other=other)
        return stmt

    def single(self, stmt: ast.Stmt) -> ast.Stmt:
        out = self.block((stmt,))
        return out[0] if len(out) == 1 else ast.Block(stmt.span, out)

    def convert(self, stmts: list[ast.Stmt], at: int, plan: BatchLoop) -> Optional[list[ast.Stmt]]:
        """`stmts` with the batch loop stmts[at] and its consumer rewritten, or None if none of its
        products qualifies (module docstring)."""
        lengths = _lengths(plan, stmts[:at])
        found = _consumer(tuple(stmts[at + 1:]), plan)
        if lengths is None or found is None:
            return None
        accumulations = _accumulations(found, plan, self.uses)
        if accumulations is None or len(accumulations) < len(plan.items):
            return None  # all of the call's products, or none: one call either way
        sums = _Sums(plan, lengths, accumulations)
        gone = {temp for temp, _ in plan.items} | {plan.done}
        out: list[ast.Stmt] = []
        for k, stmt in enumerate(stmts):
            if k == at:
                out += sums.declarations()
                out.append(sums.loop())
            elif not (isinstance(stmt, ast.Decl) and stmt.name in gone):
                out.append(_replace(stmt, found, sums.consumer(found)) if k > at else stmt)
        return out


# ---------------------------------------------------------------- what qualifies


def _lengths(plan: BatchLoop, before: list[ast.Stmt]) -> Optional[tuple[ast.Var, ...]]:
    """The trip counts `len$N` of the nest's outer loops, if declared before it in its list."""
    declared = {stmt.name for stmt in before if isinstance(stmt, ast.Decl)}
    lengths: list[ast.Var] = []
    for loop in plan.loops[:-1]:
        if not isinstance(loop.lo, ast.Var) or not loop.lo.name.startswith("lo$"):
            return None
        name = "len$" + loop.lo.name.split("$", 1)[1]
        if name not in declared:
            return None
        lengths.append(ast.Var(loop.span, name, ty=INT64))
    return tuple(lengths)


_Scope = dict[str, Union[ast.For, ast.Decl]]


def _consumer(stmts: tuple[ast.Stmt, ...], plan: BatchLoop) -> Optional[ast.For]:
    """The first loop over the nest's innermost variable and bounds, in `stmts`, inside loops
    binding each outer variable of the nest with its bounds."""
    return next(_loops_over(stmts, plan, {}), None)


def _loops_over(stmts: tuple[ast.Stmt, ...], plan: BatchLoop, scope: _Scope) -> Iterator[ast.For]:
    scope = dict(scope)
    for stmt in stmts:
        if isinstance(stmt, ast.Decl):
            scope[stmt.name] = stmt
        elif isinstance(stmt, ast.For):
            inner = plan.loops[-1]
            if _same_loop(stmt, inner) and all(_same_loop(scope.get(loop.var), loop) for loop in plan.loops[:-1]):
                yield stmt
            yield from _loops_over(stmt.body, plan, {**scope, stmt.var: stmt})
        elif isinstance(stmt, (ast.While, ast.Block)):
            yield from _loops_over(stmt.body, plan, scope)
        elif isinstance(stmt, ast.If):
            for branch in (stmt.then, stmt.other):
                yield from _loops_over((branch,) if branch is not None else (), plan, scope)


def _same_loop(node: object, loop: ast.For) -> bool:
    return (isinstance(node, ast.For) and node.var == loop.var and shape(node.lo) == shape(loop.lo)
            and shape(node.hi) == shape(loop.hi))


def _accumulations(consumer: ast.For, plan: BatchLoop, uses: Counter[str]) -> Optional[tuple[_Accumulation, ...]]:
    """The consumer's statements as accumulations of distinct qualifying products, or None."""
    items = {temp: value for temp, value in plan.items if _summable(value, plan)}
    out = [_accumulation(stmt, plan, items) for stmt in consumer.body]
    found = [acc for acc in out if acc is not None]
    temps = [acc.item[0] for acc in found]
    if not found or len(found) < len(out) or len(set(temps)) < len(temps):
        return None
    assigned = {_base(acc.stmt.target) for acc in found}
    if any(uses[temp] != 2 or not _same_place(acc.stmt.target, consumer.var, assigned)
           for temp, acc in zip(temps, found)):
        return None  # a batch read elsewhere too (its store and this read are its only uses)
    return tuple(found)


def _summable(value: ast.Expr, plan: BatchLoop) -> bool:
    return (isinstance(value, ast.Binary) and value.op is BinaryOp.MUL and typed(value).base.is_int
            and typed(value).label.is_secret and matrix_form(plan.loops, value) is not None)


def _accumulation(stmt: ast.Stmt, plan: BatchLoop, items: dict[str, ast.Expr]) -> Optional[_Accumulation]:
    if not isinstance(stmt, ast.Assign) or not isinstance(stmt.value, ast.Binary):
        return None
    value = stmt.value
    if value.op is not BinaryOp.ADD or typed(value) != typed(stmt.target).scalar():
        return None
    for target, read in ((value.left, value.right), (value.right, value.left)):
        if shape(target) != shape(stmt.target) or read_done(read) != plan.done:
            continue
        assert isinstance(read, ast.Ternary) and isinstance(read.then, ast.Index)
        temp = read.then.array
        product = items.get(temp.name) if isinstance(temp, ast.Var) else None
        if isinstance(product, ast.Binary) and typed(product) == typed(value) and \
                shape(read.then.index) == shape(plan.index) and shape(read.other) == shape(product):
            assert isinstance(temp, ast.Var)
            return _Accumulation(stmt, (temp.name, product), read)
    return None


def _same_place(target: ast.Expr, var: str, assigned: set[str]) -> bool:
    """Whether the place `target` denotes is the same in every iteration of the consumer: its
    indices read no array, no call, not the loop's variable and nothing the consumer assigns."""
    if isinstance(target, ast.Var):
        return True
    if not isinstance(target, ast.Index):
        return False
    for item in nodes(target.index):
        if isinstance(item, ast.Call) or (isinstance(item, ast.Var) and (
                item.name == var or item.name in assigned or typed(item).rank)):
            return False
    return _same_place(target.array, var, assigned)


def _base(target: ast.Expr) -> str:
    while isinstance(target, ast.Index):
        target = target.array
    return target.name if isinstance(target, ast.Var) else ""


# ---------------------------------------------------------------- the rewrite


@dataclass(frozen=True)
class _Sums:
    """The sums of one batch loop's qualifying products: declarations, sum loop, consumer."""

    plan: BatchLoop
    lengths: tuple[ast.Var, ...]
    accumulations: tuple[_Accumulation, ...]

    @property
    def group(self) -> str:
        return self.plan.done[len(BATCH_PREFIX):].split("$", 1)[0]

    def name(self, temp: str) -> str:
        return f"{SUMS_PREFIX}{self.group}${temp.rsplit('$', 1)[1]}"

    def rows(self) -> ast.Var:
        return ast.Var(self.plan.loops[0].span, f"rows${self.group}", ty=INT64)

    def declarations(self) -> list[ast.Stmt]:
        span = self.plan.loops[0].span
        size: Optional[ast.Expr] = None
        for length in self.lengths:
            size = length if size is None else saturated_product(span, size, length)
        out: list[ast.Stmt] = [decl(span, self.rows().name, INT64, size if size is not None else int64(span, 1))]
        for acc in self.accumulations:
            ty = typed(acc.item[1])
            out.append(_array(span, self.name(acc.item[0]), ty, self.rows()))
        out.append(_array(span, done_name(self.name(self.accumulations[0].item[0])), BOOL, self.rows()))
        return out

    def row(self, span: Span) -> ast.Expr:
        """q: the row-major position of the outer loops' variables (0 for a single loop)."""
        position: Optional[ast.Expr] = None
        for loop, length in zip(self.plan.loops[:-1], self.lengths):
            offset = sub64(span, ast.Var(span, loop.var, ty=INT32), loop.lo)
            position = offset if position is None else public(
                span, BinaryOp.ADD, public(span, BinaryOp.MUL, position, length), offset)
        return position if position is not None else int64(span, 0)

    def element(self, span: Span, temp: str, ty: Type) -> ast.Index:
        array = ast.Var(span, self.name(temp), ty=dataclasses.replace(ty, rank=1))
        return ast.Index(span, array, self.row(span), ty=ty)

    def loop(self) -> ast.For:
        def body(_: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
            stores: list[ast.Stmt] = []
            for acc in self.accumulations:
                temp, product = acc.item
                span, ty = product.span, typed(product)
                place = self.element(span, temp, ty)
                total = ast.Binary(span, BinaryOp.ADD, place, product, product.label, ty=ty)
                stores.append(ast.Assign(span, place, total))
            span = self.plan.loops[-1].span
            return (*stores, done_store(span, done_name(self.name(self.accumulations[0].item[0])), self.row(span)))
        return with_innermost(self.plan.loops[0], body)

    def consumer(self, node: ast.For) -> ast.Stmt:
        """`if (done[q]) { T = T + sums[q]; ... } else { node, reading the products themselves }`."""
        span = node.span
        mask = ast.Var(span, done_name(self.name(self.accumulations[0].item[0])), ty=Type(Base.BOOL, BOOL.label, 1))
        sums = tuple(_with_read(acc, self.element(span, acc.item[0], typed(acc.item[1])))
                     for acc in self.accumulations)
        original = dataclasses.replace(node, body=tuple(_with_read(acc, acc.read.other) for acc in self.accumulations))
        return ast.If(span, ast.Index(span, mask, self.row(span), ty=BOOL), ast.Block(span, sums), original)


def _with_read(acc: _Accumulation, value: ast.Expr) -> ast.Assign:
    """The accumulation with its read of the batch replaced by `value`."""
    total = acc.stmt.value
    assert isinstance(total, ast.Binary)

    def swap(node: ast.Expr) -> ast.Expr:
        return value if node is acc.read else node
    return dataclasses.replace(acc.stmt, value=dataclasses.replace(total, left=swap(total.left),
                                                                   right=swap(total.right)))


def _array(span: Span, name: str, ty: Type, length: ast.Expr) -> ast.Decl:
    return ast.Decl(span, ast.TypeNode(span, ty.base, ty.label, (length,)), name, span)


def _replace(stmt: ast.Stmt, old: ast.Stmt, new: ast.Stmt) -> ast.Stmt:
    """`stmt` with the statement `old` (the very object) replaced by `new`; `stmt` itself if it
    does not contain `old`."""
    if stmt is old:
        return new
    if isinstance(stmt, (ast.For, ast.While, ast.Block)):
        body = tuple(_replace(s, old, new) for s in stmt.body)
        changed = any(a is not b for a, b in zip(body, stmt.body))
        return dataclasses.replace(stmt, body=body) if changed else stmt
    if isinstance(stmt, ast.If):
        then = _replace(stmt.then, old, new)
        other = None if stmt.other is None else _replace(stmt.other, old, new)
        changed = then is not stmt.then or other is not stmt.other
        return dataclasses.replace(stmt, then=then, other=other) if changed else stmt
    return stmt
