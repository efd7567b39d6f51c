"""Interval range analysis of an integer program: bounds every value, finds possible overflows.

Why: a fixed-point program is lowered (ezlang.passes.scales) to integers in a ring of 2^w; a
value that leaves [-2^(w-1), 2^(w-1)) wraps and the result is garbage, silently. This pass
bounds every value from the inputs' declared bounds and warns (W0401) where the exact value can
leave the ring, so that the user can lower the scale, use --bitlen 64 or bound the inputs.
docs/ranges.md explains it with an example; ezlang.passes.ranges_format picks scale and width.

Assumes: a typed program (ezlang.passes.pipeline) without fixed-point types, e.g. the lowered
one. `input_bounds` maps an input's name to ring integers (for an array: every element); an
input without bounds ranges over its type.
Guarantees (soundness): for every run on inputs within their bounds, and every scalar integer or
bool expression e evaluated in it, the value e has lies in `interval(e)`, or e is listed in
`overflows` (its exact value may leave its ring; the value it has then lies in the ring).
Intervals are exact integers: `interval(a * b)` is the product's exact range before reduction.

Proof of the loop rule (ranges_stmts). Let a `for` loop run at most N times, and let X be a
variable (or an array) whose every occurrence in the body is in an update `X = X ± e` (for an
array, `X[i..] = X[i..] ± e` read and written at the same indices), X not declared in the body,
no update inside a `while`, no `return` in the body, no other name in the body aliasing X.
Nothing else in the body reads X, so every other variable takes the same values whatever X
holds, and the fixpoint of the other variables is computed with X set aside. Within one
iteration, X changes only by its updates, each adding a value of e; the analysis runs the body
with X relative to its value at the iteration's start (0 there) and collects the hull P of every
value X takes in the iteration (P contains 0 and the change d over the whole iteration, since
the hull is over all points, later ones included). After k whole iterations and part of one more,
X = X0 + d1 + ... + dk + p with every dj, p in P, so X - X0 lies in (k + 1)·P, and (k + 1)·P lies
in the hull of 0 and N·P for k + 1 <= N. Hence every value X takes during and after the loop lies
in X0 + [min(0, N·P.lo), max(0, N·P.hi)], which is what `accumulated` computes. For an array whose
every update indexes it by the loop variable (not reassigned in the body), two iterations write
different elements, so each element collects updates of one iteration only: N = 1 for it. This
bound also bounds each update's exact value (it becomes X's next value), so the update node's
interval is clamped to it; if it leaves the ring, the update is reported as overflowing. Nested
loops compose: an inner loop adds its own bound to X relative to the outer iteration's start.

Keys: `interval(expr)` is keyed by node identity, so ask with nodes of the program analysed (the
report keeps it alive). A node evaluated in several contexts (a function called twice, a loop
body) has the join of its intervals; a node no run reaches has None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Optional

from ezlang.diagnostics import Diagnostic, Severity, register
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Base

from ezlang.passes.pipeline import acyclic
from ezlang.passes.ranges_domain import Interval, type_range
from ezlang.passes.ranges_stmts import Analyzer

__all__ = ["Interval", "Overflow", "RangeOracle", "RangeReport", "analyze", "OVERFLOW"]

OVERFLOW = register("W0401", "value can overflow the ring")

OVERFLOW_HELP = ("lower the fixed-point scale (--scale), use --bitlen 64, or declare a tighter input "
                 "range (`input(CLIENT, x, fixed_al[n], [-1.0, 1.0])`)")


@dataclass(frozen=True)
class Overflow:
    """An expression whose exact value can leave the ring of its type (`bitlen` bits wide).

    `primary`: no operand had overflowed already (the others are consequences)."""

    expr: ast.Expr
    interval: Interval
    bitlen: int
    primary: bool

    @property
    def span(self) -> Span:
        return self.expr.span

    @property
    def ring(self) -> Interval:
        """The values of the expression's type."""
        return type_range(self.expr.ty.base) if self.expr.ty is not None else type_range(Base.INT64)


@dataclass(frozen=True)
class RangeReport:
    """The analysis' result for one program (see the module docstring for its guarantees)."""

    program: ast.Program = field(repr=False)
    bitlen: int
    overflows: tuple[Overflow, ...]
    _intervals: Mapping[int, tuple[ast.Expr, Interval]] = field(repr=False)
    _variables: Mapping[tuple[str, str], Interval] = field(repr=False)

    def interval(self, expr: ast.Expr) -> Optional[Interval]:
        """Every value of `expr` (a node of `program`); None when no run evaluates it."""
        found = self._intervals.get(id(expr))
        return found[1] if found is not None and found[0] is expr else None

    def variable(self, name: str, function: str = "main") -> Optional[Interval]:
        """Every value variable `name` of `function` holds (for an array: every element)."""
        return self._variables.get((function, name))

    def widest(self) -> Optional[tuple[ast.Expr, Interval]]:
        """The signed ring-width expression whose values need the most bits (ties: the first in
        the text): what limits the scale of a fixed-point program."""
        integers = [(expr, interval) for expr, interval in self._intervals.values()
                    if expr.ty is not None and expr.ty.base.signed and expr.ty.base.width == self.bitlen]
        if not integers:
            return None
        return max(integers, key=lambda item: (item[1].bits, -item[0].span.start))

    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """W0401 at each overflow that is not a consequence of another, in source order."""
        primary = sorted((o for o in self.overflows if o.primary), key=lambda o: o.span.start)
        consequences = len(self.overflows) - len(primary)
        return tuple(_warning(o, consequences if i == 0 else 0) for i, o in enumerate(primary))


def analyze(program: ast.Program, *, bitlen: int, input_bounds: Mapping[str, tuple[int, int]]) -> RangeReport:
    """Bound every value of a checked integer program (see the module docstring)."""
    analyzer = Analyzer(program, input_bounds)
    with acyclic():
        analyzer.run(program)
    overflows = tuple(Overflow(o.node, o.interval, o.node.ty.base.width, o.primary)  # type: ignore[union-attr]
                      for o in sorted(analyzer.overflows.values(), key=lambda o: o.node.span.start))
    variables = dict(analyzer.variables)
    for key, sites in analyzer.array_sites.items():
        for site in sites:
            cell = analyzer.final_heap.get(site)
            if isinstance(cell, Interval):
                variables[key] = cell if key not in variables else variables[key].join(cell)
    return RangeReport(program, bitlen, overflows, MappingProxyType(dict(analyzer.intervals)),
                       MappingProxyType(variables))


class RangeOracle:
    """The analysis as the rewrite engine asks for it (ezlang.passes.rewrite.optimize's
    `fits=fits_from_intervals(oracle.interval)` and `overflows=oracle.overflows`): one analysis
    per program object, with fixed ring width and input bounds."""

    def __init__(self, *, bitlen: int, input_bounds: Mapping[str, tuple[int, int]]):
        self.bitlen = bitlen
        self.input_bounds = dict(input_bounds)
        self._reports: dict[int, tuple[ast.Program, RangeReport]] = {}

    def report(self, program: ast.Program) -> RangeReport:
        known = self._reports.get(id(program))
        if known is None or known[0] is not program:
            known = self._reports[id(program)] = (program, analyze(program, bitlen=self.bitlen,
                                                                    input_bounds=self.input_bounds))
        return known[1]

    def interval(self, program: ast.Program, expr: ast.Expr) -> Optional[tuple[int, int]]:
        """Bounds of `expr`'s exact value; None when unknown (unreached, or it may overflow)."""
        report = self.report(program)
        found = report.interval(expr)
        if found is None or any(o.expr is expr for o in report.overflows):
            return None
        return found.lo, found.hi

    def overflows(self, program: ast.Program) -> tuple[Span, ...]:
        return tuple(o.span for o in self.report(program).overflows)


def _warning(overflow: Overflow, consequences: int) -> Diagnostic:
    interval = overflow.interval
    notes = [f"the {overflow.bitlen}-bit ring holds {overflow.ring}; this value needs {interval.bits} bits"]
    if consequences:
        notes.append(f"{consequences} more value(s) computed from overflowing ones can overflow too")
    return Diagnostic(OVERFLOW, Severity.WARNING, f"value can overflow the {overflow.bitlen}-bit ring",
                      overflow.span, f"`{overflow.span.text}` can reach {interval}", (), OVERFLOW_HELP,
                      tuple(notes))
