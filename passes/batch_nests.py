"""Lifting batches out of their enclosing loop: one batch, one call, for a whole loop nest.

Why: ezlang.passes.batch_rounds batches the operations of one loop level, so a network layer
`for j { acc = b[j]; for i { acc = acc + x[i] * w[i][j] }; ... }` computes the products of one j
per call: one round per output neuron. When the inner loop's batch depends on nothing the outer
loop changes, the batches of all iterations of j are one batch, computed before the outer loop in
one call over the product of the trip counts. Applied at every level of a nest, from the inside
out, the operations of a whole nest of loops cost the rounds of one call.

`lift_batches` takes a loop `for v = [lo$L : hi$L] { body }` whose inner loops are batched and
moves, from the top level of its body to just before it:
* the declarations of loop bounds, trip counts and batch sizes (`lo$`, `hi$`, `len$`, `size$`)
  whose initialisers cannot fail and read only *outside names*: names the loop leaves alone (not
  v, nothing the body declares or assigns, no array it may write) and names moved before;
* each batch loop (`batch_loop`, a nest of loops over its batches) that reads only its own loop
  variables, v and outside names (batches lifted before it included), whose shift amounts do not
  mention v (one call has one amount), with the declarations of its batches and `done` mask.
  It becomes `for v = [lo$L : hi$L] { nest }`, storing the element of iteration v at position p of
  the former nest at `(v - lo$L) · d + p`, d being the former length (the former nest's trip
  count); its batches get `size$N` = len$L · d elements, saturated at 2^63 − 1 so that the
  size never wraps (no allocation of that size succeeds: the run stops with the allocation error
  instead of running 2^63 iterations);
* and every read of a lifted batch, in the body and in lifted batches, then reads position
  `(v - lo$L) · d + p` of the lifted batch and mask.

Outputs and errors stay those of the program: a moved declaration has the same value before the
loop as in every iteration (nothing assigns its name or what it reads) and cannot fail, so
evaluating it once, even for a loop of no iteration, changes nothing. The lifted batch computes
the element of (v, p) from the operands iteration v's batch had at p, so the same value, and
skips it where those operands fail, as that batch did; a read at (v, p) takes the element if it
was computed, else evaluates the operation itself, whose operands then fail as they did.
Rounds: only batch loops at the top level of the body are lifted, those that every iteration
reaching that point runs, each whole (all operations of its call), so one call replaces one call
per such iteration (a call on no element costs no round). The one call is extra only when no
iteration reaches the point (the loop returns or fails before it in its first iteration), as
for any batch loop placed before its loop.

Assumes: `node`'s inner loops were batched by ezlang.passes.batch_rounds (declarations of
batches, masks and bounds at the top level of the body, as it writes them); `leaves_alone` is true only
of names `node`'s body neither declares nor assigns nor may write (not `node.var`).
Guarantees: a lifted batch loop is a rectangular nest whose positions are row-major (`BatchLoop`);
no statement is moved unless a batch loop is lifted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from ezlang.passes.batch_forms import (
    INT64,
    BatchLoop,
    Bounds,
    batch_loop,
    decl,
    infallible,
    is_bound_name,
    map_children,
    map_stmt,
    nodes,
    public,
    read_done,
    reposition,
    saturated_product,
    var_names,
    with_innermost,
)
from ezlang.passes.fused_ops import relu_rescale
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp


@dataclass(frozen=True)
class Lifted:
    """The statements to place before the loop (after its bounds) and the loop's new body."""

    before: tuple[ast.Stmt, ...]
    body: tuple[ast.Stmt, ...]


def lift_batches(node: ast.For, bounds: Bounds, leaves_alone: Callable[[str], bool],
                 names: Iterator[int]) -> Optional[Lifted]:
    """The batch loops of `node`'s body lifted out of it (module docstring), or None if none can be."""
    outside = _Outside(node.var, leaves_alone)
    moved = tuple(stmt for stmt in node.body if outside.movable(stmt))
    decls = {stmt.name: stmt for stmt in node.body if isinstance(stmt, ast.Decl)}
    groups = [(stmt, plan) for stmt, plan in _batch_loops(node.body) if outside.liftable(plan, decls)]
    if not groups:
        return None
    lifter = _Lifter(node, bounds, names, decls)
    nests = tuple(out for stmt, plan in groups for out in lifter.group(stmt, plan))
    gone = {id(stmt) for stmt in moved} | {id(stmt) for stmt, _ in groups}
    gone |= {id(decls[name]) for _, plan in groups for name in (*_temps(plan), plan.done)}
    body = tuple(map_stmt(stmt, lifter.relocate) for stmt in node.body if id(stmt) not in gone)
    return Lifted((*moved, *lifter.sizes.values(), *nests), body)


def _batch_loops(body: tuple[ast.Stmt, ...]) -> Iterator[tuple[ast.For, BatchLoop]]:
    for stmt in body:
        plan = batch_loop(stmt) if isinstance(stmt, ast.For) else None
        if isinstance(stmt, ast.For) and plan is not None:
            yield stmt, plan


def _temps(plan: BatchLoop) -> tuple[str, ...]:
    return tuple(temp for temp, _ in plan.items)


@dataclass(frozen=True)
class _Outside:
    """The names a statement moved before the loop `var` may read: those the loop leaves alone,
    and those declared by statements moved out (growing as they are found, in body order)."""

    var: str
    leaves_alone: Callable[[str], bool]
    moved: set[str] = field(default_factory=set)

    def available(self, name: str) -> bool:
        return name in self.moved or (name != self.var and self.leaves_alone(name))

    def movable(self, stmt: ast.Stmt) -> bool:
        """A bound, trip count or size that can be computed before the loop; noted if so."""
        if not (isinstance(stmt, ast.Decl) and is_bound_name(stmt.name) and stmt.init is not None
                and not stmt.type.dims):
            return False
        if not all(infallible(item) for item in nodes(stmt.init)):
            return False
        if not all(self.available(name) for name in var_names(stmt.init)):
            return False
        self.moved.add(stmt.name)
        return True

    def liftable(self, plan: BatchLoop, decls: dict[str, ast.Decl]) -> bool:
        """Whether the batch loop reads only its variables, the loop's and outside names; noted if so."""
        names = (*_temps(plan), plan.done)
        if not all(name in decls for name in names):
            return False
        own = {loop.var for loop in plan.loops} | {self.var} | set(names)
        read = (*plan.loops, *(decls[name].type.dims for name in names))
        if not all(name in own or self.available(name) for name in var_names(read)):
            return False
        if any(self.var in var_names(amount) for amount in _shift_amounts(plan)):
            return False
        self.moved.update(names)
        return True


def _shift_amounts(plan: BatchLoop) -> Iterator[ast.Expr]:
    """The amounts of the right shifts the batch loop's call applies (the fused form has a literal)."""
    for _, value in plan.items:
        if (isinstance(value, ast.Binary) and value.op in (BinaryOp.SHR, BinaryOp.SHRL)
                and relu_rescale(value) is None):
            yield value.right


class _Lifter:
    """Rewrites the lifted batch loops of one loop, and the reads of their batches."""

    def __init__(self, node: ast.For, bounds: Bounds, names: Iterator[int], decls: dict[str, ast.Decl]):
        self.node, self.bounds, self.names, self.decls = node, bounds, names, decls
        self.sizes: dict[str, ast.Decl] = {}  # former length's name -> the declaration of its size$N
        self.lengths: dict[str, ast.Expr] = {}  # mask of a lifted batch -> its former length

    def group(self, stmt: ast.For, plan: BatchLoop) -> list[ast.Stmt]:
        """The declarations and the lifted nest of one batch loop."""
        length = self.decls[plan.items[0][0]].type.dims[0]
        self.lengths[plan.done] = length
        size = self._size(length)
        out: list[ast.Stmt] = []
        for name in (*_temps(plan), plan.done):
            declared = self.decls[name]
            out.append(dataclasses.replace(declared, type=dataclasses.replace(declared.type, dims=(size,))))
        nest = with_innermost(stmt, lambda body: tuple(self._store(item, length) for item in body))
        out.append(ast.For(stmt.span, self.node.var, self.node.var_span, self.bounds.lo_var(), self.bounds.hi_var(),
                           (nest,)))
        return out

    def relocate(self, node: ast.Expr) -> ast.Expr:
        """`node` with every read of a lifted batch reading its position in the lifted batch."""
        done = read_done(node)
        node = map_children(node, self.relocate)
        if done is not None and done in self.lengths:
            assert isinstance(node, ast.Ternary)
            length = self.lengths[done]
            return reposition(node, lambda position: self._flat(position, length))
        return node

    def _store(self, item: ast.Stmt, length: ast.Expr) -> ast.Stmt:
        assert isinstance(item, ast.Assign) and isinstance(item.target, ast.Index)
        target = dataclasses.replace(item.target, index=self._flat(item.target.index, length))
        return dataclasses.replace(item, target=target, value=self.relocate(item.value))

    def _flat(self, position: ast.Expr, length: ast.Expr) -> ast.Expr:
        """`(v - lo$L) · length + position`."""
        span = self.node.span
        return public(span, BinaryOp.ADD, public(span, BinaryOp.MUL, self.bounds.offset(self.node.var), length),
                      position)

    def _size(self, length: ast.Expr) -> ast.Var:
        """`size$N`, declared once per former length: len$L · length, saturated at 2^63 − 1."""
        assert isinstance(length, ast.Var)
        span = self.node.span
        if length.name not in self.sizes:
            name = f"size${next(self.names)}"
            self.sizes[length.name] = decl(span, name, INT64, saturated_product(span, self.bounds.len_var(), length))
        return ast.Var(span, self.sizes[length.name].name, ty=INT64)

