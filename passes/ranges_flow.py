"""Control flow for the range analysis: sequences, branches and loops (the loop rule).

Why: ezlang.passes.ranges must bound values computed in loops without running them; widening
alone would push an accumulator such as `acc = acc + x[i] * w[i]` to its type's range, so the
loop rule bounds it by its start plus the trip count times what one iteration can add.

Assumes: sound states on entry (ranges_state); the statement half (ranges_stmts) provides
`statements`, the table by statement class. Guarantees (proof in ezlang.passes.ranges):
* `for` with an accumulator (ranges_shapes.loop_facts): the accumulator is iterated relative to
  the start of an iteration, its hull P over one iteration is collected, and every value it
  takes during the loop lies in start + k·P for some k in 0..N, N the trip count (1 when every
  update indexes an array by the loop variable, as different iterations then touch different
  elements); the updates are then recorded clamped to that bound;
* every other variable of a loop is iterated to a fixpoint, widened to its type's range after
  WIDEN_AFTER rounds, or, in a `for` of at most UNROLL trips, iterated as often as the loop
  runs (without widening);
* a public `if` or `while` condition comparing a variable narrows it in the branch it selects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Base

from ezlang.passes import ranges_domain as domain
from ezlang.passes.ranges_domain import Interval, fits, point, wrap_to
from ezlang.passes.ranges_exprs import INT32_PL, NEGATED, ExprAnalyzer, Frame, Key, assume, typed
from ezlang.passes.ranges_shapes import LoopFacts, Update, loop_facts, strip, walk
from ezlang.passes.ranges_state import Roots, State, Value, join, widen

WIDEN_AFTER = 2
UNROLL = 8

Pass = Callable[[State], Optional[State]]


@dataclass(frozen=True)
class Accumulator:
    """One variable or allocation site a `for` loop accumulates into."""

    key: Key
    base: Base
    factor: int  # how many iterations' worth of updates one value can collect
    binaries: tuple[int, ...]  # ids of the `X ± e` nodes of its updates


class FlowAnalyzer(ExprAnalyzer):
    """Runs statement sequences, branches and loops; ranges_stmts.Analyzer adds the statements."""

    def __init__(self, program: ast.Program):
        super().__init__(program)
        self.bases: dict[int, Base] = {}  # allocation site → element base
        self.facts: dict[int, LoopFacts] = {}
        self.updates: dict[int, Update] = {}
        self.statements: dict[type, Callable[[Any, State, Frame], Optional[State]]] = {}

    # ------------------------------------------------------------ sequences

    def body(self, stmts: tuple[ast.Stmt, ...], state: Optional[State], frame: Frame) -> Optional[State]:
        for stmt in stmts:
            if state is None:
                return None
            state = self.statements[type(stmt)](stmt, state, frame)
        return state

    def scoped(self, stmts: tuple[ast.Stmt, ...], state: State, frame: Frame) -> Optional[State]:
        state.push()
        out = self.body(stmts, state, frame)
        if out is not None:
            out.pop()
        return out

    def _block(self, node: ast.Block, state: State, frame: Frame) -> Optional[State]:
        return self.body(node.body, state, frame)

    # ------------------------------------------------------------ accumulators

    def _relative_update(self, update: Update, state: State, frame: Frame) -> bool:
        """`X = X ± e` while a loop iterates X relative to an iteration's start: no wrap."""
        keys = self._keys(update.name, state)
        if not keys or any(key not in frame.trackers for key in keys):
            return False
        delta = self.eval_as(update.delta, typed(update.binary), state, frame)
        assert isinstance(delta, Interval), "accumulators are integers"
        if update.negate:
            delta = Interval(-delta.hi, -delta.lo, delta.wrapped)
        for key in keys:
            old = _get(key, state)
            assert isinstance(old, Interval)
            new = Interval(old.lo + delta.lo, old.hi + delta.hi, old.wrapped or delta.wrapped)
            _set(key, state, new if key[0] == "var" else old.join(new))
            frame.trackers[key] = frame.trackers[key].join(new)
        return True

    def _keys(self, name: str, state: State) -> list[Key]:
        try:
            value = state.lookup(name)[1]
        except KeyError:
            return []
        if isinstance(value, Roots):
            return [("site", site) for site in sorted(value.ids)]
        return [("var", name)]

    # ------------------------------------------------------------ branches

    def _if(self, node: ast.If, state: State, frame: Frame) -> Optional[State]:
        cond = self.eval(node.cond, state, frame)
        outcomes: list[Optional[State]] = []
        for branch, truth in ((node.then, True), (node.other, False)):
            if isinstance(cond, Interval) and int(truth) not in cond:
                continue
            narrowed = self.assume(node.cond, truth, state.copy(), frame)
            outcomes.append(self.scoped((branch,), narrowed, frame) if branch is not None else narrowed)
        return join_all(outcomes)

    def assume(self, cond: ast.Expr, truth: bool, state: State, frame: Frame) -> State:
        """`state` with the variables `cond` compares narrowed to where `cond` has value `truth`."""
        cond = strip(cond)
        if isinstance(cond, ast.Unary) and cond.op is UnaryOp.NOT:
            return self.assume(cond.operand, not truth, state, frame)
        if not isinstance(cond, ast.Binary):
            return state
        if (cond.op is BinaryOp.AND and truth) or (cond.op is BinaryOp.OR and not truth):
            return self.assume(cond.right, truth, self.assume(cond.left, truth, state, frame), frame)
        if cond.op not in NEGATED or any(isinstance(node, ast.Call) for node in walk(cond)):
            return state
        recording = self.recording
        self.recording = False
        try:
            left, right = self.eval(cond.left, state, frame), self.eval(cond.right, state, frame)
        finally:
            self.recording = recording
        if not isinstance(left, Interval) or not isinstance(right, Interval):
            return state
        facts = assume(cond.op if truth else NEGATED[cond.op], left, right)
        for side, fact in zip((cond.left, cond.right), facts):
            side = strip(side)
            if isinstance(side, ast.Var) and isinstance(state.lookup(side.name)[1], Interval):
                state.assign(side.name, fact)
        return state

    # ------------------------------------------------------------ loops

    def _for(self, node: ast.For, state: State, frame: Frame) -> Optional[State]:
        lo, hi = (self.eval_as(bound, INT32_PL, state, frame) for bound in (node.lo, node.hi))
        assert isinstance(lo, Interval) and isinstance(hi, Interval)
        if hi.hi <= lo.lo:
            return state  # the body never runs
        counter, trips = Interval(lo.lo, hi.hi - 1), hi.hi - lo.lo
        facts = self._loop_facts(node)

        def one_pass(entry: State) -> Optional[State]:
            entry.push()
            entry.declare(node.var, INT32_PL, counter)
            out = self.body(node.body, entry, frame)
            if out is not None:
                out.pop()
            return out
        return self._loop(state, frame, one_pass, self._accumulators(facts, trips, state), trips)

    def _while(self, node: ast.While, state: State, frame: Frame) -> Optional[State]:
        def one_pass(entry: State) -> Optional[State]:
            cond = self.eval(node.cond, entry, frame)
            if isinstance(cond, Interval) and cond.hi == 0:
                return None
            return self.scoped(node.body, self.assume(node.cond, True, entry, frame), frame)
        head = self._loop(state, frame, one_pass, [], None)
        if head is None:
            return None
        cond = self.eval(node.cond, head, frame)
        return None if isinstance(cond, Interval) and cond.lo == 1 else self.assume(node.cond, False, head, frame)

    def _loop_facts(self, node: ast.For) -> LoopFacts:
        facts = self.facts.get(id(node))
        if facts is None:
            facts = self.facts[id(node)] = loop_facts(node)
            self.updates.update((id(u.stmt), u) for group in facts.accumulators.values() for u in group)
        return facts

    def _accumulators(self, facts: LoopFacts, trips: int, state: State) -> list[Accumulator]:
        found: list[Accumulator] = []
        for name, updates in facts.accumulators.items():
            ty, value = state.lookup(name)
            binaries = tuple(id(u.binary) for u in updates)
            if isinstance(value, Interval) and ty.base.is_int:
                found.append(Accumulator(("var", name), ty.base, trips, binaries))
            elif isinstance(value, Roots) and self._unaliased(name, value, facts, state) and \
                    all(isinstance(state.heap.get(site), Interval) for site in value.ids):
                factor = 1 if name in facts.elementwise else trips
                found += [Accumulator(("site", site), self.bases[site], factor, binaries) for site in value.ids]
        return found

    def _unaliased(self, name: str, roots: Roots, facts: LoopFacts, state: State) -> bool:
        for other in facts.names - {name}:
            try:
                value = state.lookup(other)[1]
            except KeyError:
                continue
            if isinstance(value, Roots) and value.ids & roots.ids:
                return False
        return True

    def _loop(self, entry: State, frame: Frame, one_pass: Pass, accumulators: list[Accumulator],
              trips: Optional[int]) -> Optional[State]:
        """Iterate `one_pass` to its invariant (accumulators relative to each iteration's start),
        record one pass over the invariant, and return the state after the loop."""
        starts = {acc.key: _get(acc.key, entry) for acc in accumulators}
        outer = {acc.key: frame.trackers.get(acc.key) for acc in accumulators}
        frame.trackers.update((acc.key, point(0)) for acc in accumulators)

        def relative_pass(state: State) -> Optional[State]:
            for acc in accumulators:
                _set(acc.key, state, point(0))
            out = one_pass(state)
            for acc in accumulators if out is not None else ():
                _set(acc.key, out, starts[acc.key])  # type: ignore[arg-type]
            return out
        recording = self.recording
        self.recording = False
        try:
            head, after = self._fixpoint(entry, relative_pass, trips)
        finally:
            self.recording = recording
        proved = {acc.key: domain.accumulated(starts[acc.key], frame.trackers[acc.key], acc.factor)  # type: ignore[arg-type]
                  for acc in accumulators}
        for key, tracker in outer.items():
            frame.trackers.pop(key)
            if tracker is not None:
                frame.trackers[key] = tracker
        if recording:
            self._record_pass(head, frame, one_pass, accumulators, proved)
        for acc in accumulators:
            _set(acc.key, after, self._settled(acc, proved[acc.key], frame))
        return after

    def _fixpoint(self, entry: State, one_pass: Pass, trips: Optional[int]) -> tuple[State, State]:
        """The states at the head of every iteration, and after the loop. After k rounds the
        head holds the states after 0..k iterations, so a loop of at most UNROLL trips stops
        after its trip count without widening; other loops widen after WIDEN_AFTER rounds until
        the head is an invariant (both results)."""
        head, rounds = entry.copy(), 0
        unrolled = trips is not None and trips <= UNROLL
        while True:
            new = join(entry, one_pass(head.copy()))
            assert new is not None
            rounds += 1
            if unrolled and rounds >= trips:  # type: ignore[operator]
                return head, new
            if rounds > WIDEN_AFTER and not unrolled:
                new = widen(head, new, self.bases)
            if new == head:
                return head, head
            head = new

    def _record_pass(self, head: State, frame: Frame, one_pass: Pass, accumulators: list[Accumulator],
                     proved: dict[Key, Interval]) -> None:
        """One pass over the invariant with each accumulator at the bound the loop rule proved,
        which also bounds every value its updates compute."""
        state = head.copy()
        saved_clamps, saved_bounds = dict(self.clamps), dict(frame.bounds)
        for acc in accumulators:
            bound = proved[acc.key]
            _set(acc.key, state, wrap_to(bound, acc.base))
            if fits(bound, acc.base):
                known = frame.bounds.get(acc.key)
                frame.bounds[acc.key] = bound if known is None else (bound.meet(known) or known)
            for binary in acc.binaries:
                self.clamps[binary] = _tighter(self.clamps.get(binary), bound, acc.base)
        try:
            one_pass(state)
        finally:
            self.clamps = saved_clamps
            frame.bounds = saved_bounds

    def _settled(self, acc: Accumulator, bound: Interval, frame: Frame) -> Interval:
        """An accumulator's value after the loop: exact while an outer loop iterates it."""
        if acc.key in frame.trackers:
            frame.trackers[acc.key] = frame.trackers[acc.key].join(bound)
            return bound
        return wrap_to(bounded(bound, frame.bounds.get(acc.key)), acc.base)  # type: ignore[arg-type]


def _tighter(known: Optional[Interval], bound: Interval, base: Base) -> Interval:
    """The clamp of an update node: an enclosing loop's bound, if any, holds inside this loop
    too; an enclosing bound that overflows stays (the values inside are wrapped)."""
    if known is None:
        return bound
    if not fits(known, base):
        return known
    return bound.meet(known) or known


def bounded(value: Value, bound: Optional[Interval]) -> Value:
    if bound is None or not isinstance(value, Interval):
        return value
    return value.meet(bound) or value


def _get(key: Key, state: State) -> Value:
    kind, what = key
    return state.lookup(what)[1] if kind == "var" else state.heap.get(what)  # type: ignore[arg-type]


def _set(key: Key, state: State, value: Value) -> None:
    kind, what = key
    if kind == "var":
        state.assign(what, value)  # type: ignore[arg-type]
    else:
        state.heap[what] = value  # type: ignore[index,assignment]


def join_all(states: list[Optional[State]]) -> Optional[State]:
    result: Optional[State] = None
    for state in states:
        result = join(result, state)
    return result
