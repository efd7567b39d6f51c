"""The accumulator form of sum-of-products: a loop's accumulator kept at the finer scale.

Why: the expression rules see one expression at a time, but a dot product written with a loop
truncates every product into a variable (`acc = acc + (P >> s)`): n truncations where one will
do. In a statement list S: `acc = E` (or `int acc = E`), then a `for` loop L whose only writes
of acc are `acc = acc + (P >> s)` (truncations placed by the lowering, one s, in L's body or in
`for` loops nested in it, with public constant trip counts), then statements that only read acc,
up to the end of S or a plain `acc = E'`. S holds every mention of acc, or S is the scope that
declares it, or its declaration without an initialiser is the only mention outside S. Then acc
is kept at s more bits: E becomes `E << s`, the updates `acc = acc + P`, and each read
`acc >> s` (rescale=True), if the reads run fewer times than the updates. Unrolling L shows the
justification: the n updates are n-1 applications of sum-of-products, so the reads are within
n-1 ulp when acc at the finer scale does not overflow (the caller's `overflows` checks that on
the rewritten program). An array cell `y[e] = y[e] + (P >> s)` is the same, when every mention
of y is `y[e]` inside S and nothing in S writes what e reads.

Assumes: a typed integer program whose `>>` with rescale=True are the lowering's truncations.
Guarantees: every Change yields a typed program in which the new truncations carry
rescale=True, the replaced statements keep their spans, and Sites records the error each new
truncation adds (n-1 ulp, plus what removed truncations carried); nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Optional

from ezlang.passes.rewrite_errors import Error, Sites, add, times
from ezlang.passes.rewrite_tree import (
    amount,
    coerce,
    expr_mentions,
    functions,
    literal,
    map_children,
    map_stmt,
    mentions,
    nested_bodies,
    ring_literal,
    root_name,
    same,
    stmt_exprs,
    strip,
    trip_count,
    truncation,
    walk,
    walk_stmts,
    written,
)
from ezlang.passes.rewrite_vars import Change, proven_for, substitute_program
from ezlang.passes.rules.load import Rule

from ezlang.semantics import wrap
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Type


def accumulators(program: ast.Program, rule: Rule, consts: Mapping[str, int], sites: Sites) -> Iterator[Change]:
    """Every accumulator form (a) the program has, in source order, each applied alone."""
    for function in functions(program):
        for stmts, scoped in _lists(function.body):
            for i, stmt in enumerate(stmts):
                if not isinstance(stmt, ast.For):
                    continue
                seen: list[ast.Expr] = []
                for update in _updates(stmt.body):
                    if any(same(update.target, cell) for cell in seen):
                        continue
                    seen.append(update.target)
                    change = _Accumulator(program, function, stmts, scoped, i, update.target, rule, consts,
                                          sites).apply()
                    if change is not None:
                        yield change


def _lists(body: tuple[ast.Stmt, ...], scoped: bool = True) -> Iterator[tuple[tuple[ast.Stmt, ...], bool]]:
    """Every statement list, and whether it is a scope of its own (a function, loop or branch
    body; a bare `{ }` opens none, resolve_names)."""
    yield body, scoped
    for stmt in body:
        yield from _lists_in(stmt)


def _lists_in(stmt: ast.Stmt) -> Iterator[tuple[tuple[ast.Stmt, ...], bool]]:
    if isinstance(stmt, (ast.For, ast.While)):
        yield from _lists(stmt.body)
    elif isinstance(stmt, ast.Block):
        yield from _lists(stmt.body, False)
    elif isinstance(stmt, ast.If):
        for branch in (stmt.then, stmt.other):
            if isinstance(branch, ast.Block):
                yield from _lists(branch.body)
            elif branch is not None:
                yield from _lists_in(branch)


def _updates(body: tuple[ast.Stmt, ...]) -> Iterator[ast.Assign]:
    """Assignments of the form `T = T + (P >> s)` in `body` and the `for` loops nested in it."""
    for stmt in body:
        if isinstance(stmt, ast.Assign) and _update_parts(stmt) is not None:
            yield stmt
        elif isinstance(stmt, (ast.For, ast.Block)):
            yield from _updates(stmt.body)


def _update_parts(stmt: ast.Assign) -> Optional[tuple[ast.Expr, ast.Expr, int]]:
    """(the truncated operand as written, P, s) for `T = T + (P >> s)` or `T = (P >> s) + T`."""
    total = strip(stmt.value)
    if not (isinstance(total, ast.Binary) and total.op is BinaryOp.ADD):
        return None
    for own, other in ((total.left, total.right), (total.right, total.left)):
        parts = truncation(other, -1)
        if same(own, stmt.target) and not isinstance(strip(own), ast.Convert) and parts is not None:
            return other, parts[0], parts[1]
    return None


class _Accumulator:
    def __init__(self, program: ast.Program, function: ast.FunDef, stmts: tuple[ast.Stmt, ...], scoped: bool,
                 index: int, cell: ast.Expr, rule: Rule, consts: Mapping[str, int], sites: Sites) -> None:
        self.program, self.function, self.stmts, self.scoped, self.index = program, function, stmts, scoped, index
        loop = stmts[index]
        assert isinstance(loop, ast.For)
        self.loop: ast.For = loop
        self.cell, self.rule, self.consts, self.sites = cell, rule, consts, sites
        self.name = root_name(cell) or ""

    def apply(self) -> Optional[Change]:
        shape = self._shape()
        if shape is None:
            return None
        init_at, end, shift, updates, reads = shape
        if reads >= updates or not proven_for(self.rule, self.cell, shift):
            return None
        init = self._scaled_init(self.stmts[init_at], shift)
        if init is None:
            return None
        extra = self._removed_extra()
        new_loop = _rewrite_updates(self.loop, self.cell, self.sites)
        region = tuple(_wrap_reads(s, self.cell, shift, add(updates - 1, extra), self.sites)
                       for s in self.stmts[self.index + 1:end])
        new_list = (self.stmts[:init_at] + (init,) + self.stmts[init_at + 1:self.index] + (new_loop,) + region
                    + self.stmts[end:])
        line = f"{self.loop.span.line}:{self.loop.span.col}"
        # the name, not only the text: inlined copies of one library function share spans and text
        return Change(("accumulator", self.loop.span.start, self.cell.span.text, self.name),
                      substitute_program(self.program, self.function, self.stmts, new_list), self.rule.name,
                      self.loop.span, updates - 1,
                      f"`{self.cell.span.text}` kept at {shift} more fractional bits over the loop at {line}: "
                      f"{updates} truncations become {reads}")

    def _shape(self) -> Optional[tuple[int, int, int, int, int]]:
        """(init index, end of the read region, s, weighted updates, weighted reads), or None."""
        if not self._owned() or not self._index_is_stable():
            return None
        shifts = {parts[2] for u in _updates(self.loop.body) if same(u.target, self.cell)
                  for parts in [_update_parts(u)] if parts is not None}
        updates = _weighted_updates(self.loop, self.cell, self.consts)
        if len(shifts) != 1 or updates is None:
            return None
        init_at = max((k for k in range(self.index) if mentions((self.stmts[k],), self.name)), default=None)
        if init_at is None or not self._is_init(self.stmts[init_at]) or not self._quiet_before(init_at):
            return None
        end = next((k for k in range(self.index + 1, len(self.stmts))
                    if self.name in written((self.stmts[k],))), len(self.stmts))
        if end < len(self.stmts) and not self._is_init(self.stmts[end]):
            return None
        reads = _weighted_reads(self.stmts[self.index + 1:end], self.cell, self.name, self.consts)
        if reads is None:
            return None
        return init_at, end, shifts.pop(), updates, reads

    def _owned(self) -> bool:
        """Every mention of the variable that S does not hold is its initialiser-less declaration,
        or S is the scope that declares it (then mentions elsewhere are other variables)."""
        ty = strip(self.cell).ty
        if ty is None or not ty.base.signed or ty.rank:
            return False
        declared = [s for s in walk_stmts(self.stmts) if isinstance(s, (ast.Decl, ast.Input)) and s.name == self.name]
        if self.scoped and len(declared) == 1 and any(declared[0] is s for s in self.stmts):
            return True
        if declared or any(p.name == self.name for p in self.function.params):
            return False
        outer = [s for s in walk_stmts(self.function.body)
                 if isinstance(s, (ast.Decl, ast.Input)) and s.name == self.name]
        outside = mentions(self.function.body, self.name) - mentions(self.stmts, self.name)
        return len(outer) == 1 and isinstance(outer[0], ast.Decl) and outer[0].init is None and outside == 1

    def _index_is_stable(self) -> bool:
        """What the cell's index reads is not written in S, and holds no calls."""
        if isinstance(self.cell, ast.Var):
            return True
        changing = written(self.stmts)
        node: ast.Expr = self.cell
        while isinstance(node, ast.Index):
            for part in walk(node.index):
                if isinstance(part, ast.Call) or (isinstance(part, ast.Var) and part.name in changing):
                    return False
            node = node.array
        return True

    def _is_init(self, stmt: ast.Stmt) -> bool:
        if isinstance(stmt, ast.Decl):
            return (stmt.name == self.name and stmt.init is not None and isinstance(self.cell, ast.Var)
                    and not expr_mentions(stmt.init, self.name))
        return (isinstance(stmt, ast.Assign) and same(stmt.target, self.cell)
                and mentions((stmt,), self.name) == 1)

    def _quiet_before(self, init_at: int) -> bool:
        """Before the initialisation, S mentions the cell only by an initialiser-less declaration."""
        return all(isinstance(s, ast.Decl) and s.init is None or not mentions((s,), self.name)
                   for s in self.stmts[:init_at])

    def _scaled_init(self, stmt: ast.Stmt, shift: int) -> Optional[ast.Stmt]:
        assert isinstance(stmt, (ast.Decl, ast.Assign))
        value = stmt.init if isinstance(stmt, ast.Decl) else stmt.value
        assert value is not None and value.ty is not None
        base = value.ty.base
        constant = literal(value)
        if constant is not None:
            if wrap(constant << shift, base) != constant << shift:
                return None
            scaled: ast.Expr = coerce(ring_literal(value, constant << shift, base), value.ty)
        else:
            label = value.ty.label
            scaled = coerce(ast.Binary(value.span, BinaryOp.SHL, value, amount(value, shift), label,
                                       ty=Type(base, label)), value.ty)
        if isinstance(stmt, ast.Decl):
            return replace(stmt, init=scaled)
        return replace(stmt, value=scaled)

    def _removed_extra(self) -> Error:
        """Errors the removed truncations carried, once per execution."""
        total: Error = 0
        for update, weight in _weighted(self.loop.body, trip_count(self.loop, self.consts), self.consts):
            parts = _update_parts(update) if same(update.target, self.cell) else None
            if parts is not None:
                total = add(total, times(self.sites.get(strip(parts[0])), weight))
        return total


def _weighted(body: tuple[ast.Stmt, ...], weight: Optional[int], consts: Mapping[str, int]
              ) -> Iterator[tuple[ast.Assign, Optional[int]]]:
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            yield stmt, weight
        elif isinstance(stmt, ast.For):
            trips = trip_count(stmt, consts)
            yield from _weighted(stmt.body, None if weight is None or trips is None else weight * trips, consts)
        elif isinstance(stmt, ast.Block):
            yield from _weighted(stmt.body, weight, consts)


def _weighted_updates(loop: ast.For, cell: ast.Expr, consts: Mapping[str, int]) -> Optional[int]:
    """How many updates of `cell` one execution of the loop runs; None unless every write of the
    cell in the loop is such an update outside any `if`/`while`, with constant trip counts."""
    name = root_name(cell) or ""
    count = 0
    updates = 0
    for stmt, weight in _weighted(loop.body, trip_count(loop, consts), consts):
        if root_name(stmt.target) != name:
            continue
        if weight is None or not same(stmt.target, cell) or _update_parts(stmt) is None:
            return None
        count += weight
        updates += 1
    if updates == 0 or mentions(loop.body, name) != 2 * updates or name in _written_in_branches(loop.body):
        return None
    return count


def _written_in_branches(body: tuple[ast.Stmt, ...]) -> set[str]:
    names: set[str] = set()
    for stmt in walk_stmts(body):
        if isinstance(stmt, (ast.If, ast.While)):
            names |= written(tuple(s for b in nested_bodies(stmt) for s in b))
    return names


def _reads_of(node: ast.Expr, cell: ast.Expr) -> int:
    return sum(1 for n in walk(node) if not isinstance(n, ast.Convert) and same(n, cell))


def _weighted_reads(stmts: tuple[ast.Stmt, ...], cell: ast.Expr, name: str, consts: Mapping[str, int]
                    ) -> Optional[int]:
    """How often the statements read the cell; None if they mention it otherwise (a write, another
    element, the whole array) or read it in a loop without a constant trip count."""
    total = 0
    for stmt in stmts:
        own = sum(_reads_of(e, cell) for e in stmt_exprs(stmt))
        inner_mentions = sum(mentions(b, name) for b in nested_bodies(stmt))
        if own + inner_mentions != mentions((stmt,), name):
            return None
        total += own
        for body in nested_bodies(stmt):
            inner = _weighted_reads(body, cell, name, consts)
            trips = trip_count(stmt, consts) if isinstance(stmt, ast.For) else (
                None if isinstance(stmt, ast.While) else 1)
            if inner is None or (inner and trips is None):
                return None
            total += inner * (trips or 0)
    return total


def _rewrite_updates(loop: ast.For, cell: ast.Expr, sites: Sites) -> ast.For:
    """The loop with every `cell = cell + (P >> s)` made `cell = cell + P`."""
    def stmts(body: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        result = []
        for stmt in body:
            parts = _update_parts(stmt) if isinstance(stmt, ast.Assign) and same(stmt.target, cell) else None
            if parts is not None and isinstance(stmt, ast.Assign):
                operand, product, _ = parts
                stmt = replace(stmt, value=_replace_node(stmt.value, operand, coerce(product, operand.ty), sites))
            elif isinstance(stmt, (ast.For, ast.Block)):
                stmt = replace(stmt, body=stmts(stmt.body))
            result.append(stmt)
        return tuple(result)

    return replace(loop, body=stmts(loop.body))


def _replace_node(tree: ast.Expr, old: ast.Expr, new: ast.Expr, sites: Sites) -> ast.Expr:
    def visit(node: ast.Expr) -> ast.Expr:
        if node is old:
            return new
        rebuilt = map_children(node, visit)
        sites.carry(node, rebuilt)
        return rebuilt
    return visit(tree)


def _wrap_reads(stmt: ast.Stmt, cell: ast.Expr, shift: int, extra: Error, sites: Sites) -> ast.Stmt:
    """`stmt` with each read of the cell `c` replaced by `c >> shift` (rescale=True)."""
    def visit(node: ast.Expr) -> ast.Expr:
        if not isinstance(node, ast.Convert) and same(node, cell):
            assert node.ty is not None
            truncated = ast.Binary(node.span, BinaryOp.SHR, node, amount(node, shift), node.ty.label, ty=node.ty,
                                   rescale=True)
            sites.put(truncated, extra)
            return truncated
        rebuilt = map_children(node, visit)
        sites.carry(node, rebuilt)
        return rebuilt
    return map_stmt(stmt, visit)
