"""From a checked program to the integer program that is interpreted, compiled and run, and the
boundary between that program and the world: the one step every command takes after checking.

Steps, for a fixed-point program: lower it to integers (ezlang.passes.scales); inline the calls
of `inline def` functions such as the layer library's (ezlang.passes.inline: their loop bounds
become the caller's constants, which the accumulator rule needs); bound every value from the
declared input ranges (ezlang.passes.ranges); apply the certified rewrite rules with those
bounds discharging their range preconditions (ezlang.passes.rewrite; skipped with
`optimize=False`, which the differential tests compare against); and warn (W0401) where a value
of the final program can overflow the ring. An integer program is passed through untouched:
its `>>` are the user's, and no rule may change what they compute.

Assumes: a checked program (ezlang.passes.pipeline) at `bitlen`.
Guarantees: `Prepared.program` has no fixed-point type (ezlang.passes.scales); `inputs` makes
input sources encode fixed-point inputs at their scales and enforce declared ranges, and
`outputs`/`run_result` decode fixed-point outputs to floats at their scales, so a fixed-point
program reads and prints reals. A program without fixed point is passed through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional

from ezlang.diagnostics import Diagnostic
from ezlang.fixed import decode, encode
from ezlang.inputs import InputSource, at_boundary
from ezlang.interp.result import OutputValue, RunResult
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Role

from ezlang.passes import rewrite
from ezlang.passes.inline import inline_calls
from ezlang.passes.pipeline import acyclic
from ezlang.passes.ranges import RangeOracle
from ezlang.passes.relu_bounds import bound_relus
from ezlang.passes.rewrite import Optimized
from ezlang.passes.scales import Boundary, Truncation, lower_fixed


@dataclass(frozen=True)
class Prepared:
    """The integer program, the truncations placed in it, its boundary scales, and the warnings
    found while preparing it."""

    program: ast.Program
    truncations: tuple[Truncation, ...]
    boundary: Boundary
    diagnostics: tuple[Diagnostic, ...] = ()
    optimized: Optional[Optimized] = None

    def inputs(self, sources: Mapping[Role, InputSource]) -> dict[Role, InputSource]:
        """Each party's source reading reals for fixed-point inputs and checking declared ranges."""
        return {role: at_boundary(source, self.boundary.inputs, self.boundary.ranges)
                for role, source in sources.items()}

    def outputs(self, values: Iterable[OutputValue]) -> tuple[OutputValue, ...]:
        """Output values with fixed-point ones decoded to floats and typed at their scale."""
        return tuple(self._decoded(out) for out in values)

    def run_result(self, run: RunResult) -> RunResult:
        """An interpreter run's outputs decoded (the trace keeps the integers the program computed)."""
        return replace(run, outputs={role: self.outputs(values) for role, values in run.outputs.items()})

    def _decoded(self, out: OutputValue) -> OutputValue:
        scale = self.boundary.outputs.get(out.span.start)
        if scale is None:
            return out
        return replace(out, type=out.type.rescaled(scale), value=_decode_nested(out.value, scale))


def prepare(checked: ast.Program, *, bitlen: int, optimize: bool = True,
            input_ranges: Mapping[str, tuple[float, float]] = MappingProxyType({})) -> Prepared:
    """The integer program of a checked program, optimised unless `optimize` is False, with the
    truncations the lowering placed, its boundary and its overflow warnings; `input_ranges`
    (reals by input name) replace declared ranges in the analysis (ranges_format's overrides)."""
    with acyclic():
        lowered = lower_fixed(checked, bitlen=bitlen)
        if lowered.program is checked:
            return Prepared(lowered.program, lowered.truncations, lowered.boundary)
        lowered = replace(lowered, program=inline_calls(lowered.program))
        analysed = replace(lowered.boundary, ranges={**lowered.boundary.ranges, **input_ranges})
        oracle = RangeOracle(bitlen=bitlen, input_bounds=declared_bounds(analysed))
        program, boundary, optimized = lowered.program, lowered.boundary, None
        if optimize:
            optimized = rewrite.optimize(program, output_scales=boundary.outputs,
                                         fits=rewrite.fits_from_intervals(oracle.interval),
                                         overflows=oracle.overflows)
            program, boundary = optimized.program, replace(boundary, outputs=dict(optimized.output_scales))
        warnings = oracle.report(program).diagnostics() if boundary.ranges else ()
        if boundary.ranges:
            program = bound_relus(program, oracle.interval, bitlen)
    return Prepared(program, lowered.truncations, boundary, tuple(warnings), optimized)


def declared_bounds(boundary: Boundary) -> dict[str, tuple[int, int]]:
    """The declared real input ranges as ring integers at each input's scale (encoding is
    monotone, so every accepted input lies inside)."""
    return {name: (encode(lo, boundary.inputs.get(name, 0)), encode(hi, boundary.inputs.get(name, 0)))
            for name, (lo, hi) in boundary.ranges.items()}


def _decode_nested(value: Any, scale: int) -> Any:
    if isinstance(value, list):
        return [_decode_nested(v, scale) for v in value]
    return decode(value, scale)


def explain_scales(prepared: Prepared) -> str:
    """`--explain-scales`: every truncation placed at file:line:col and a count, then each rewrite
    rule applied with its error bound and the truncation counts before and after, then the
    boundary scales."""
    lines = [_truncation_line(t) for t in prepared.truncations]
    count = len(prepared.truncations)
    lines.append(f"{count} truncation{'s' * (count != 1)} placed")
    if prepared.optimized is not None:
        lines.append("rewrites:")
        lines += ["  " + line for line in rewrite.explain(prepared.optimized).splitlines()]
    lines += [f"input `{name}`: scale {scale}" for name, scale in prepared.boundary.inputs.items()]
    lines += [f"{Span(prepared.program.file, start, start)}: output decoded at scale {scale}"
              for start, scale in prepared.boundary.outputs.items()]
    return "\n".join(lines)


def _truncation_line(t: Truncation) -> str:
    text = " ".join(t.span.text.split())
    what = f"after `{text}`" if t.reason == "product" else f"converting `{text}`"
    return f"{t.span}: truncate by {t.shift} {what} (scale {t.from_scale} → {t.to_scale})"

