"""What an optimisation cost in accuracy and saved in truncations: per-output error bounds and
truncation counts.

Why: rules that are exact only within K ulp (sum-of-products, drop-final-rescale and the
accumulator form built on it) make the optimised program's outputs differ from the unoptimised
ones; the user needs a bound, and the bound must survive later rewrites of the same nodes.

Error sites. `Sites` records, per node of the optimised program, an *extra* error: how far the
node's value may be from the value the unoptimised program computes at that place, beyond what
the errors of its operands explain (a truncation of an accumulator kept at s more bits adds
n-1 ulp). When a rule replaces a tree holding such nodes, the engine moves their extras to the
replacement, multiplied by how much the rule's operators can grow an error (rewrite_match).

Error analysis (`error_bounds`): a forward pass over the optimised `main` computing, for every
variable, a bound on |optimised − unoptimised| in units of the optimised value (a variable kept
at s more bits counts in its finer units; the truncation that reads it divides by 2^s, rounding
up). Transfer: + − add bounds; truncation by s divides by 2^s rounding up; `<< k` multiplies by
2^k; ReLU and max (`a > b ? a : b`) keep the larger bound; a product with a literal c multiplies
by |c|; a product of two values needs their magnitudes, asked of `fits` (|a'b' − ab| ≤
|a'|·e_b + (|b'| + e_b)·e_a); a comparison, a ternary on a changed condition, an index or a call
touched by an error, and anything else has no bound (None). Loops run abstractly until the bounds
stop changing (at most the trip count); past CAP iterations, a variable read only by its own
updates `X = X ± e` grows by trip count × its largest increment, and other bounds still growing
have none.

Assumes: a typed integer program; `Sites` filled by the engine for the same program.
Guarantees: error_bounds(...)[k] is None or a bound, in ulps of output k's scale before
optimisation, on |unoptimised value − optimised value decoded at its scale| for every execution
where no value overflows (the rules' preconditions); Count.executed is None when a truncation
sits in a loop without a constant trip count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Optional

from ezlang.passes.rewrite_match import select_operands
from ezlang.passes.rewrite_tree import (
    expr_mentions,
    functions,
    is_label_change,
    literal,
    mentions,
    nested_bodies,
    root_name,
    same,
    stmt_exprs,
    strip,
    trip_count,
    walk,
    walk_stmts,
)

from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp

Error = Optional[int]  # None: no bound
Magnitude = Callable[[ast.Expr], Optional[int]]
CAP = 64


def add(a: Error, b: Error) -> Error:
    return None if a is None or b is None else a + b


def times(a: Error, factor: Optional[int]) -> Error:
    if a == 0:
        return 0
    return None if a is None or factor is None else a * factor


def shrink(a: Error, shift: int) -> Error:
    """A bound after a truncation by `shift`: |⌊x/2^s⌋ − ⌊y/2^s⌋| ≤ ⌈|x − y| / 2^s⌉."""
    return None if a is None else -(-a >> shift)


def join(a: Error, b: Error) -> Error:
    return None if a is None or b is None else max(a, b)


class Sites:
    """Extra error per node (by identity; the table keeps its nodes alive so ids stay unique)."""

    def __init__(self) -> None:
        self._table: dict[int, tuple[ast.Expr, Error]] = {}

    def get(self, node: ast.Expr) -> Error:
        return self._table.get(id(node), (node, 0))[1]

    def put(self, node: ast.Expr, extra: Error) -> None:
        if extra != 0:
            self._table[id(node)] = (node, add(self.get(node), extra))

    def carry(self, old: ast.Expr, new: ast.Expr) -> None:
        if old is not new and id(old) in self._table:
            self._table[id(new)] = (new, self._table[id(old)][1])

    def nodes(self) -> list[ast.Expr]:
        return [node for node, _ in self._table.values()]


@dataclass(frozen=True)
class Dropped:
    """An output whose final truncation by `shift` was dropped; `extra` bounds what that added."""

    shift: int
    extra: Error


def error_bounds(program: ast.Program, sites: Sites, consts: Mapping[str, int], outputs: Mapping[int, int],
                 dropped: Mapping[int, Dropped], magnitude: Optional[Magnitude]) -> dict[int, Error]:
    """A bound per output key (see the module docstring); 0 when no approximation reaches it."""
    analysis = _Analysis(program, sites, consts, dropped, magnitude)
    main = next((f for f in functions(program) if f.name == "main"), None)
    if main is not None:
        analysis.stmts(main.body, {})
    return {key: analysis.outputs.get(key, 0) for key in outputs}


class _Analysis:
    def __init__(self, program: ast.Program, sites: Sites, consts: Mapping[str, int],
                 dropped: Mapping[int, Dropped], magnitude: Optional[Magnitude]) -> None:
        self.sites, self.consts, self.dropped, self.magnitude = sites, consts, dropped, magnitude
        self.outputs: dict[int, Error] = {}
        marked = {id(n) for n in sites.nodes()}
        self.tainted = {f.name for f in functions(program) if f.name != "main" and any(
            id(n) in marked for s in walk_stmts(f.body) for e in stmt_exprs(s) for n in walk(e))}

    # ------------------------------------------------------------ statements

    def stmts(self, body: tuple[ast.Stmt, ...], env: dict[str, Error]) -> dict[str, Error]:
        for stmt in body:
            env = self.stmt(stmt, env)
        return env

    def stmt(self, stmt: ast.Stmt, env: dict[str, Error]) -> dict[str, Error]:
        env = dict(env)
        if isinstance(stmt, ast.Decl):
            env[stmt.name] = 0 if stmt.init is None else self.expr(stmt.init, env)
        elif isinstance(stmt, ast.Input):
            env[stmt.name] = 0
        elif isinstance(stmt, ast.Assign):
            self._assign(stmt, env)
        elif isinstance(stmt, ast.Output):
            self._output(stmt, env)
        elif isinstance(stmt, ast.CallStmt):
            self._call(stmt.name, stmt.args, env)
        elif isinstance(stmt, ast.For):
            env = self._loop(stmt.body, env, trip_count(stmt, self.consts))
        elif isinstance(stmt, ast.While):
            env = self._loop(stmt.body, env, None, stmt.cond)
        elif isinstance(stmt, ast.If):
            env = self._branch(stmt, env)
        elif isinstance(stmt, ast.Block):
            env = self.stmts(stmt.body, env)
        return env

    def _assign(self, stmt: ast.Assign, env: dict[str, Error]) -> None:
        value = self.expr(stmt.value, env)
        name = root_name(stmt.target)
        if name is None:
            return
        if isinstance(stmt.target, ast.Var):
            env[name] = value
            return
        target: ast.Expr = stmt.target
        while isinstance(target, ast.Index):
            if self.expr(target.index, env) != 0:
                value = None
            target = target.array
        env[name] = join(env.get(name, 0), value)

    def _output(self, stmt: ast.Output, env: dict[str, Error]) -> None:
        error = self.expr(stmt.value, env)
        dropped = self.dropped.get(stmt.span.start)
        if dropped is not None:
            error = add(shrink(error, dropped.shift), dropped.extra)
        self.outputs[stmt.span.start] = join(self.outputs.get(stmt.span.start, 0), error)

    def _branch(self, stmt: ast.If, env: dict[str, Error]) -> dict[str, Error]:
        then = self.stmt(stmt.then, env)
        other = env if stmt.other is None else self.stmt(stmt.other, env)
        merged = {name: join(then.get(name, 0), other.get(name, 0)) for name in set(then) | set(other)}
        if self.expr(stmt.cond, env) != 0:  # a changed condition may take the other branch
            merged.update({n: None for body in nested_bodies(stmt) for n in _assigned(body)})
        return merged

    def _loop(self, body: tuple[ast.Stmt, ...], env: dict[str, Error], trips: Optional[int],
              cond: Optional[ast.Expr] = None) -> dict[str, Error]:
        """The bounds after the loop: exact abstract iterations while they change, at most `trips`
        of them; with an unknown count, the join over every count. Past CAP iterations, an
        accumulator (below) grows by its largest increment per iteration, and any other bound
        still growing has none."""
        if cond is not None and self.expr(cond, env) != 0:
            env = {**env, **{n: None for n in _assigned(body)}}
        limit = CAP if trips is None else min(trips, CAP)
        joined, current = dict(env), dict(env)
        for _ in range(limit):
            following = self.stmts(body, current)
            if following == current:
                return joined if trips is None else current
            current = following
            joined = _join_envs(joined, current)
        if trips is not None and trips <= CAP:
            return current
        accumulated = self._accumulated(body, env, trips) if trips is not None else None
        return accumulated if accumulated is not None else self._widened(body, joined, current, trips)

    def _accumulated(self, body: tuple[ast.Stmt, ...], env: dict[str, Error], trips: int
                     ) -> Optional[dict[str, Error]]:
        """Variables read only by their own updates `X = X ± e` take no part in the other
        variables' bounds; each iteration adds at most the errors of its e's. So run the body with
        the accumulators' errors set to 0 until the other bounds are stable, and add `trips` times
        the largest increment: sound for every trip count, and exact for sums of products."""
        names = _accumulators(body)
        if not names:
            return None
        zeroed = {name: 0 for name in names}
        current: dict[str, Error] = {**env, **zeroed}
        increments: dict[str, Error] = dict(zeroed)
        for _ in range(CAP):
            following = self.stmts(body, current)
            increments = {n: join(increments[n], following.get(n, 0)) for n in names}
            following.update(zeroed)
            if following == current:
                return {**current, **{n: add(env.get(n, 0), times(increments[n], trips)) for n in names}}
            current = following
        return None

    def _widened(self, body: tuple[ast.Stmt, ...], joined: dict[str, Error], current: dict[str, Error],
                 trips: Optional[int]) -> dict[str, Error]:
        """Bounds still growing have none; the others are propagated until stable."""
        for _ in range(len(current) + 1):
            following = self.stmts(body, current)
            grown = {n: None for n in following if following[n] != current.get(n, 0)}
            if not grown:
                break
            current = {**following, **grown}
        return _join_envs(joined, current) if trips is None else current

    # ------------------------------------------------------------ expressions

    def expr(self, node: ast.Expr, env: dict[str, Error]) -> Error:
        return add(self._transfer(node, env), self.sites.get(node))

    def _transfer(self, node: ast.Expr, env: dict[str, Error]) -> Error:
        if isinstance(node, ast.Var):
            return env.get(node.name, 0)
        if isinstance(node, ast.Index):
            if self.expr(node.index, env) != 0:
                return None
            return self.expr(node.array, env)
        if isinstance(node, (ast.Convert, ast.Subsume)):
            inner = self.expr(node.operand, env)
            return inner if is_label_change(node) or isinstance(node, ast.Subsume) or inner == 0 else None
        if isinstance(node, ast.Binary):
            return self._binary(node, env)
        if isinstance(node, ast.Unary):
            inner = self.expr(node.operand, env)
            return inner if node.op is ast.UnaryOp.BNOT or inner == 0 else None
        if isinstance(node, ast.Ternary):
            return self._ternary(node, env)
        if isinstance(node, ast.Call):
            return self._call(node.name, node.args, env)
        return 0

    def _binary(self, node: ast.Binary, env: dict[str, Error]) -> Error:
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        if node.op in (BinaryOp.ADD, BinaryOp.SUB):
            return add(left, right)
        if node.op is BinaryOp.MUL:
            return self._product(node, left, right)
        k = literal(node.right)
        if node.op is BinaryOp.SHL and k is not None and right == 0:
            return times(left, 1 << k)
        if node.op is BinaryOp.SHR and k is not None and right == 0 and node.ty is not None and node.ty.base.signed:
            return shrink(left, k)
        return 0 if left == 0 and right == 0 else None

    def _product(self, node: ast.Binary, left: Error, right: Error) -> Error:
        if left == 0 and right == 0:
            return 0
        for value, other_error, error in ((node.right, right, left), (node.left, left, right)):
            c = literal(value)
            if c is not None and other_error == 0:
                return times(error, abs(c))
        if left is None or right is None or self.magnitude is None:
            return None
        size_left, size_right = self.magnitude(node.left), self.magnitude(node.right)
        if size_left is None or size_right is None:
            return None
        return size_left * right + (size_right + right) * left

    def _ternary(self, node: ast.Ternary, env: dict[str, Error]) -> Error:
        for op in ("relu", "max"):
            operands = select_operands(op, node)
            if operands is not None:
                errors = [self.expr(o, env) for o in operands]
                return errors[0] if op == "relu" else join(errors[0], errors[1])
        then, other = self.expr(node.then, env), self.expr(node.other, env)
        return join(then, other) if self.expr(node.cond, env) == 0 else None

    def _call(self, name: str, args: tuple[ast.Expr, ...], env: dict[str, Error]) -> Error:
        if name not in self.tainted and all(self.expr(a, env) == 0 for a in args):
            return 0
        for arg in args:
            array = root_name(arg)
            if array is not None and strip(arg).ty is not None and strip(arg).ty.is_array:
                env[array] = None
        return None


def _assigned(body: tuple[ast.Stmt, ...]) -> set[str]:
    names: set[str] = set()
    for stmt in walk_stmts(body):
        if isinstance(stmt, ast.Assign):
            names.add(root_name(stmt.target) or "")
        elif isinstance(stmt, ast.Decl):
            names.add(stmt.name)
    return names


def _accumulators(body: tuple[ast.Stmt, ...]) -> set[str]:
    """Names whose every mention in `body` is in an update `X = X + e`, `X = e + X` or `X = X - e`
    (e not mentioning X; arrays at any index), none inside a `while` or declared in the body."""
    candidates: set[str] = set()
    updates: dict[str, int] = {}
    for stmt in walk_stmts(body):
        if isinstance(stmt, ast.Assign):
            name = root_name(stmt.target)
            value = strip(stmt.value)
            if name is not None and isinstance(value, ast.Binary) and value.op in (BinaryOp.ADD, BinaryOp.SUB):
                sides = (value.left, value.right) if value.op is BinaryOp.ADD else (value.left,)
                for own in sides:
                    rest = value.right if own is value.left else value.left
                    if same(own, stmt.target) and not expr_mentions(rest, name):
                        candidates.add(name)
                        updates[name] = updates.get(name, 0) + 1
                        break
    looping = {n for s in walk_stmts(body) if isinstance(s, ast.While) for n in _assigned(s.body)}
    declared = {s.name for s in walk_stmts(body) if isinstance(s, (ast.Decl, ast.Input))}
    return {n for n in candidates - looping - declared if mentions(body, n) == 2 * updates[n]}


def _join_envs(a: Mapping[str, Error], b: Mapping[str, Error]) -> dict[str, Error]:
    return {name: join(a.get(name, 0), b.get(name, 0)) for name in set(a) | set(b)}


# ---------------------------------------------------------------- truncation counts


@dataclass(frozen=True)
class Count:
    """Truncations placed by the lowering (`>>` with rescale=True): static sites, and how many run
    (loop bodies weighted by their public trip counts, both branches of an `if`; None when a
    truncation sits in a loop whose trip count is not a constant)."""

    static: int
    executed: Optional[int]


def count_truncations(program: ast.Program, consts: Mapping[str, int]) -> Count:
    defs = {f.name: f for f in functions(program)}
    static = sum(_local_truncations(s) for f in defs.values() for s in walk_stmts(f.body))
    memo: dict[str, Optional[int]] = {}

    def function(name: str, active: frozenset[str]) -> Optional[int]:
        if name in active:
            return None
        if name not in memo:
            memo[name] = stmts(defs[name].body, active | {name})
        return memo[name]

    def stmts(body: tuple[ast.Stmt, ...], active: frozenset[str]) -> Optional[int]:
        total: Optional[int] = 0
        for stmt in body:
            here: Optional[int] = _local_truncations(stmt)
            for callee in _callees(stmt, defs):
                here = _plus(here, function(callee, active))
            for inner in nested_bodies(stmt):
                inner_count = stmts(inner, active)
                trips = trip_count(stmt, consts) if isinstance(stmt, ast.For) else (
                    None if isinstance(stmt, ast.While) else 1)
                here = _plus(here, 0 if inner_count == 0 else (None if trips is None or inner_count is None
                                                               else trips * inner_count))
            total = _plus(total, here)
        return total

    executed = function("main", frozenset()) if "main" in defs else 0
    return Count(static, executed)


def _plus(a: Optional[int], b: Optional[int]) -> Optional[int]:
    return None if a is None or b is None else a + b


def _local_truncations(stmt: ast.Stmt) -> int:
    return sum(1 for e in stmt_exprs(stmt) for n in walk(e)
               if isinstance(n, ast.Binary) and n.op is BinaryOp.SHR and n.rescale)


def _callees(stmt: ast.Stmt, defs: Mapping[str, ast.FunDef]) -> list[str]:
    names = [n.name for e in stmt_exprs(stmt) for n in walk(e) if isinstance(n, ast.Call) and n.name in defs]
    if isinstance(stmt, ast.CallStmt) and stmt.name in defs:
        names.append(stmt.name)
    return names
