"""The rewrite pass: applies the proven rules (passes/rules/*.rules) to a lowered fixed-point program.

Why: the lowering (passes/scales.py) truncates after every product; each truncation of a secret
costs a protocol round. The proven rules merge truncations, move them past ReLU and max (where
the runtime fuses the two), sum products before truncating, keep loop accumulators at the finer
scale and read outputs at more fractional bits. The engine is generic: each rule's `from` is
compiled to a tree pattern (rewrite_match) and its `to` instantiated; no rule has code here.

Order: expression rules to a fixpoint (whole-program sweeps; in a sweep, children before parents,
rules in file order, a node rewritten again until no rule applies); then each accumulator form
(rewrite_accumulators), one at a time, each followed by an expression fixpoint, since its new
truncations (`acc >> s`) are what the rules move next; then the final-truncation forms
(rewrite_vars).
A variable-level change is kept only if `overflows` reports no site the program did not already
have (without `overflows` it is kept and reported as "unchecked range").

Assumes: a typed integer program (the lowering's output: no Type has a scale) whose truncations
placed by the lowering are `Binary(SHR, x, IntLit k, rescale=True)`; `output_scales` maps each
fixed-point Output statement's span.start to the scale its value is decoded at.
Guarantees: the program in `Optimized` computes every output exactly as the input program does
when only exact rules applied, and otherwise within `error_bound_ulps` ulps of the unoptimised
output's scale (None: no bound known without ranges), when no value overflows; only rules whose
text the certificate records as proved are used (the others are listed in `notes`); every
application is recorded with its rule, span and bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Optional

from ezlang.passes.rewrite_accumulators import accumulators
from ezlang.passes.rewrite_errors import Count, Dropped, Error, Sites, count_truncations, error_bounds
from ezlang.passes.rewrite_match import Compiled, Matcher, Replacement, compile_rule
from ezlang.passes.rewrite_pre import Fits, fits_from_intervals
from ezlang.passes.rewrite_tree import (
    functions,
    global_constants,
    is_label_change,
    map_children,
    map_stmt,
    strip,
    walk_stmts,
)
from ezlang.passes.rewrite_vars import Change, final_truncations
from ezlang.passes.rules import certificate, load

from ezlang.source import Span
from ezlang.syntax import ast

__all__ = ["Application", "Fits", "Optimized", "Overflows", "builtin_rules", "explain", "fits_from_intervals",
           "optimize"]

Overflows = Callable[[ast.Program], Sequence[Span]]
_FUEL = 1_000_000  # applications per optimize call: only a cycle of rules could use them up
_SWEEPS = 100


@dataclass(frozen=True)
class Application:
    """One use of a rule: which, where (the replaced expression or statement) and its error bound
    in ulps at the result's scale (0: exact)."""

    rule: str
    span: Span
    bound: int
    detail: str = ""


@dataclass(frozen=True)
class Optimized:
    """The optimised program and what was done to it (`explain` renders it for people)."""

    program: ast.Program
    output_scales: Mapping[int, int]          # Output span.start -> decode scale after optimisation
    applications: tuple[Application, ...]
    truncations_before: Count
    truncations_after: Count
    error_bound_ulps: Mapping[int, Error]     # per output, ulps of its scale before optimisation
    notes: tuple[str, ...] = ()               # rules left out, and why


@lru_cache(maxsize=1)
def builtin_rules() -> tuple[load.Rule, ...]:
    return tuple(rule for path in load.builtin_paths() for rule in load.load_file(path))


def optimize(program: ast.Program, *, output_scales: Mapping[int, int], fits: Optional[Fits] = None,
             overflows: Optional[Overflows] = None, rules: Optional[Sequence[load.Rule]] = None) -> Optimized:
    """Apply the certified rules among `rules` (default: the built-in ones) to `program`.

    `output_scales` maps each fixed-point Output's span.start to its decode scale; `fits`
    discharges `pre:` conditions (see rewrite_match.Fits; None: such rules do not fire) and gives
    magnitudes for error bounds; `overflows` lists the overflow sites of a program (None: the
    variable-level forms are applied unchecked and say so)."""
    usable, skipped = certificate.certified(builtin_rules() if rules is None else rules, certificate.read())
    notes = list(skipped)
    compiled: list[Compiled] = []
    for rule in usable:
        result = compile_rule(rule)
        if isinstance(result, str):
            notes.append(f"{result}; not applied")
        elif rule.decode is None:
            compiled.append(result)
    engine = _Engine(tuple(Matcher(c, fits) for c in compiled), overflows, dict(output_scales))
    consts = global_constants(program)
    before = count_truncations(program, consts)
    by_name = {rule.name: rule for rule in usable}
    optimised = engine.expressions(program)
    if "sum-of-products" in by_name:
        optimised = engine.variables(optimised, lambda p: accumulators(p, by_name["sum-of-products"], consts,
                                                                        engine.sites))
    if "drop-final-rescale" in by_name:
        optimised = engine.variables(optimised, lambda p: final_truncations(
            p, by_name["drop-final-rescale"], engine.output_scales, engine.sites))
    magnitude = None if fits is None else _magnitude(fits, optimised)
    bounds = error_bounds(optimised, engine.sites, consts, output_scales, engine.dropped, magnitude)
    return Optimized(optimised, engine.output_scales, tuple(engine.applications), before,
                     count_truncations(optimised, consts), bounds, tuple(notes) + tuple(engine.notes))


class _Engine:
    def __init__(self, matchers: tuple[Matcher, ...], overflows: Optional[Overflows],
                 output_scales: dict[int, int]) -> None:
        self.matchers, self.overflows, self.output_scales = matchers, overflows, output_scales
        self.sites = Sites()
        self.applications: list[Application] = []
        self.notes: list[str] = []
        self.dropped: dict[int, Dropped] = {}
        self.fuel = _FUEL

    def expressions(self, program: ast.Program) -> ast.Program:
        for _ in range(_SWEEPS):
            sweep = _Sweep(self, program)
            program = sweep.run()
            if not sweep.applied:
                return program
        raise RuntimeError("rewrite rules did not reach a fixpoint: two rules undo each other")

    def variables(self, program: ast.Program, find: Callable[[ast.Program], Iterable[Change]]) -> ast.Program:
        rejected: set[tuple[str, int, str]] = set()
        baseline = None if self.overflows is None else _sites_of(self.overflows(program))
        while True:
            change = next((c for c in find(program) if c.key not in rejected), None)
            if change is None:
                return program
            detail = change.detail
            if self.overflows is None:
                detail += " (unchecked range)"
            else:
                after = _sites_of(self.overflows(change.program))
                assert baseline is not None
                if not after <= baseline:
                    rejected.add(change.key)
                    self.notes.append(f"{change.span}: {change.rule} not applied, it would add an overflow site "
                                      f"({change.detail})")
                    continue
            self.applications.append(Application(change.rule, change.span, change.bound, detail))
            for key, drop in change.dropped.items():
                self.dropped[key] = drop
                self.output_scales[key] = self.output_scales[key] + drop.shift
            program = self.expressions(change.program)
            baseline = None if self.overflows is None else _sites_of(self.overflows(program))


def _sites_of(spans: Sequence[Span]) -> set[tuple[int, int]]:
    return {(span.start, span.end) for span in spans}


class _Sweep:
    """One pass over the program: every expression rewritten bottom-up to a local fixpoint."""

    def __init__(self, engine: _Engine, program: ast.Program) -> None:
        self.engine, self.start = engine, program
        self.applied = 0
        self.normal: dict[int, ast.Expr] = {}

    def run(self) -> ast.Program:
        globals_ = tuple(self._function(g) if isinstance(g, ast.FunDef) else g for g in self.start.globals)
        if not self.applied:
            return self.start
        return replace(self.start, globals=globals_)

    def _function(self, function: ast.FunDef) -> ast.FunDef:
        body = tuple(map_stmt(stmt, self.expr) for stmt in function.body)
        if all(a is b for a, b in zip(body, function.body)):
            return function
        return replace(function, body=body)

    def expr(self, node: ast.Expr) -> ast.Expr:
        if id(node) in self.normal:
            return node
        current = self._children(node)
        while not is_label_change(current):
            replacement = self._first(current)
            if replacement is None:
                break
            current = self._children(replacement)
        self.normal[id(current)] = current
        return current

    def _children(self, node: ast.Expr) -> ast.Expr:
        rebuilt = map_children(node, self.expr)
        self.engine.sites.carry(node, rebuilt)
        return rebuilt

    def _first(self, node: ast.Expr) -> Optional[ast.Expr]:
        for matcher in self.engine.matchers:
            replacement = matcher.rewrite(node, self.start)
            if replacement is not None:
                return self._record(matcher, node, replacement)
        return None

    def _record(self, matcher: Matcher, node: ast.Expr, replacement: Replacement) -> ast.Expr:
        self.engine.fuel -= 1
        if self.engine.fuel < 0:
            raise RuntimeError("rewrite rules did not reach a fixpoint: two rules undo each other")
        self.applied += 1
        rule = matcher.rule
        self.engine.applications.append(Application(rule.name, node.span, rule.ulps))
        extra: Error = rule.ulps
        sites = self.engine.sites
        for consumed, growth in replacement.consumed:
            carried = sites.get(consumed)
            if carried != 0:
                extra = None if extra is None or carried is None or growth is None else extra + growth * carried
        result = replacement.node
        if extra != 0:
            target = strip(result)
            if any(target is value for value in replacement.match.values.values()):
                result = target = ast.Convert(target.span, target, ty=target.ty)  # its own node to carry the error
            sites.put(target, extra)
        return result


def _magnitude(fits: Fits, program: ast.Program) -> Callable[[ast.Expr], Optional[int]]:
    """The smallest power of two bounding |value| that `fits` confirms, or None."""
    known: dict[int, tuple[ast.Expr, Optional[int]]] = {}

    def bound(node: ast.Expr) -> Optional[int]:
        if id(node) not in known:
            width = node.ty.base.width if node.ty is not None and node.ty.base.is_int else 64
            found = next((1 << k for k in range(width + 1) if fits(node, -(1 << k), 1 << k, program)), None)
            known[id(node)] = (node, found)
        return known[id(node)][1]
    return bound


def explain(optimized: Optimized) -> str:
    """Each application at file:line:col with its bound, then the truncation counts and error bounds."""
    lines = []
    for app in optimized.applications:
        bound = "exact" if app.bound == 0 else f"within {app.bound} ulp"
        lines.append(f"{app.span}: {app.rule} ({bound})" + (f": {app.detail}" if app.detail else ""))
    before, after = optimized.truncations_before, optimized.truncations_after
    lines.append(f"truncations after products: {_count_text(before)} before, {_count_text(after)} after")
    for key, error in sorted(optimized.error_bound_ulps.items()):
        where = _output_span(optimized.program, key)
        bound = "no bound known without value ranges" if error is None else f"error ≤ {error} ulp"
        lines.append(f"{where}: output decoded at scale {optimized.output_scales[key]}: {bound}")
    lines.extend(optimized.notes)
    return "\n".join(lines)


def _count_text(count: Count) -> str:
    executed = "an unknown number" if count.executed is None else str(count.executed)
    return f"{count.static} site{'s' * (count.static != 1)} ({executed} executed)"


def _output_span(program: ast.Program, key: int) -> str:
    for function in functions(program):
        for stmt in walk_stmts(function.body):
            if isinstance(stmt, ast.Output) and stmt.span.start == key:
                return str(stmt.span)
    return f"offset {key}"
