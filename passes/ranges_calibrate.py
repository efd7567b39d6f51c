"""Calibration: the input bounds and value ranges that sample runs actually show.

Why: an input without a declared range ranges over its whole type, and then almost every
product can overflow; the ranges seen on representative samples bound it in practice (they
are no guarantee: a later input outside them can still overflow, so docs/ranges.md advises
declaring ranges). Observed ranges also show how far the analysis' bounds are from the data.

Assumes: a checked integer program (e.g. the lowered one) and samples as `interpret` takes them
(fixed-point inputs already encoded, e.g. by ezlang.passes.fixed_pipeline.Prepared.inputs).
Guarantees: `calibrate` gives, per input name, the least and greatest integer any sample read
for it (for an array: any element; bools as 0 and 1; float inputs left out); when every input
is a top-level statement of `main`, each run stops once the last one is read. `observe_ranges`
gives, per scalar integer or bool expression, the hull of the values it took in the samples.
Run-time errors of a sample (InterpError) propagate.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Optional, Sequence

from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.syntax import ast
from ezlang.types import Role

from ezlang.passes.ranges_domain import Interval
from ezlang.passes.ranges_shapes import walk

Sample = Mapping[Role, InputSource]


class _InputsRead(Exception):
    """Raised by the observer to end a run once every input has been read."""


def calibrate(program: ast.Program, samples: Sequence[Sample]) -> Mapping[str, tuple[int, int]]:
    """Observed bounds of every integer or bool input over all samples."""
    last = _last_input(program)
    bounds: dict[str, tuple[int, int]] = {}

    def observe(node: object, value: Any) -> None:
        if isinstance(node, ast.Input):
            _note(bounds, node.name, _integers(value))
            if node is last:
                raise _InputsRead
    for sample in samples:
        try:
            interpret(program, sample, observe=observe)
        except _InputsRead:
            pass
    return MappingProxyType(bounds)


@dataclass(frozen=True)
class ObservedRanges:
    """Hull of the values each expression took in the sample runs."""

    _intervals: Mapping[int, tuple[ast.Expr, Interval]]

    def interval(self, expr: ast.Expr) -> Optional[Interval]:
        found = self._intervals.get(id(expr))
        return found[1] if found is not None and found[0] is expr else None


def observe_ranges(program: ast.Program, samples: Sequence[Sample]) -> ObservedRanges:
    """Run every sample to its end, keeping the hull of each scalar expression's values."""
    seen: dict[int, tuple[ast.Expr, Interval]] = {}

    def observe(node: Any, value: Any) -> None:
        if type(value) is int or type(value) is bool:
            known = seen.get(id(node))
            point = Interval(int(value), int(value))
            seen[id(node)] = (node, point if known is None else known[1].join(point))
    for sample in samples:
        interpret(program, sample, observe=observe)
    return ObservedRanges(MappingProxyType(seen))


def _last_input(program: ast.Program) -> Optional[ast.Input]:
    """The last input statement when all of them are top-level statements of `main`."""
    main = next(g for g in reversed(program.globals) if isinstance(g, ast.FunDef) and g.name == "main")
    top = [s for s in main.body if isinstance(s, ast.Input)]
    everywhere = [n for g in program.globals for n in walk(g) if isinstance(n, ast.Input)]
    return top[-1] if top and len(top) == len(everywhere) else None


def _integers(value: Any) -> Iterator[int]:
    if isinstance(value, list):
        for item in value:
            yield from _integers(item)
    elif type(value) is int or type(value) is bool:
        yield int(value)


def _note(bounds: dict[str, tuple[int, int]], name: str, values: Iterator[int]) -> None:
    found = list(values)
    if not found:
        return
    lo, hi = min(found), max(found)
    if name in bounds:
        lo, hi = min(lo, bounds[name][0]), max(hi, bounds[name][1])
    bounds[name] = (lo, hi)
