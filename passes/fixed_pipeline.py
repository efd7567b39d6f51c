"""From a checked program to the integer program that is interpreted, compiled and run, and the
boundary between that program and the world: the one step every command takes after checking.

Assumes: a checked program (ezlang.passes.pipeline) at `bitlen`.
Guarantees: `Prepared.program` has no fixed-point type (ezlang.passes.scales); `inputs` makes
input sources encode fixed-point inputs at their scales and enforce declared ranges, and
`outputs`/`run_result` decode fixed-point outputs to floats at their scales, so a fixed-point
program reads and prints reals. A program without fixed point is passed through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from ezlang.diagnostics import Diagnostic
from ezlang.fixed import decode
from ezlang.inputs import InputSource, at_boundary
from ezlang.interp.result import OutputValue, RunResult
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Role

from ezlang.passes.pipeline import acyclic
from ezlang.passes.scales import Boundary, Truncation, lower_fixed


@dataclass(frozen=True)
class Prepared:
    """The integer program, the truncations placed in it, its boundary scales, and the warnings
    found while preparing it."""

    program: ast.Program
    truncations: tuple[Truncation, ...]
    boundary: Boundary
    diagnostics: tuple[Diagnostic, ...] = ()

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


def prepare(checked: ast.Program, *, bitlen: int) -> Prepared:
    """The integer program of a checked program, with its truncations and boundary."""
    with acyclic():
        lowered = lower_fixed(checked, bitlen=bitlen)
    return Prepared(lowered.program, lowered.truncations, lowered.boundary)


def _decode_nested(value: Any, scale: int) -> Any:
    if isinstance(value, list):
        return [_decode_nested(v, scale) for v in value]
    return decode(value, scale)


def explain_scales(prepared: Prepared) -> str:
    """`--explain-scales`: every truncation at file:line:col, a count, then the boundary scales."""
    lines = [_truncation_line(t) for t in prepared.truncations]
    count = len(prepared.truncations)
    lines.append(f"{count} truncation{'s' * (count != 1)} placed")
    lines += [f"input `{name}`: scale {scale}" for name, scale in prepared.boundary.inputs.items()]
    lines += [f"{Span(prepared.program.file, start, start)}: output decoded at scale {scale}"
              for start, scale in prepared.boundary.outputs.items()]
    return "\n".join(lines)


def _truncation_line(t: Truncation) -> str:
    text = " ".join(t.span.text.split())
    what = f"after `{text}`" if t.reason == "product" else f"converting `{text}`"
    return f"{t.span}: truncate by {t.shift} {what} (scale {t.from_scale} → {t.to_scale})"

