"""Choosing the fixed-point format: the ring width (--bitlen) and the default scale (--scale).

Why: the question every EzPC user asks is which --bitlen and scale to use. More fractional bits
mean more precision but larger integers; a 64-bit ring costs twice the communication of a
32-bit one. The answer is the smallest ring and, in it, the most fractional bits for which the
range analysis (ezlang.passes.ranges) proves that no value can overflow.

Assumes: the text of a program; the bounds of its inputs come from the ranges it declares
(`input(..., [lo, hi])`), from `input_ranges` (reals, overriding those), or else from
calibration samples (real-valued input sources, encoded at each candidate's scales).
Guarantees: with `fits`, the program checks at (bitlen, scale) and the analysis finds no
overflow there (and the widest value leaves `headroom` bits unused), bitlen is the smallest of
`bitlens` for which some scale in [min_scale, max_scale] has that property and scale is the
largest such; the reason names the widest value at that format and the value that overflows
one scale up (file:line:col). Without `fits`, no candidate works: the result is the widest
ring at min_scale, and the reason names the value that overflows there. Calibrated bounds
hold for the samples only (see ranges_calibrate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Optional, Sequence

from ezlang.diagnostics import render_text
from ezlang.interp import InterpError
from ezlang.source import SourceFile, Span

from ezlang.passes.fixed_pipeline import Prepared, declared_bounds, prepare
from ezlang.passes.pipeline import DEFAULT_SCALE, check_source
from ezlang.passes.ranges import Overflow, RangeReport, analyze
from ezlang.passes.ranges_calibrate import Sample, calibrate
from ezlang.passes.scales import lower_fixed
from ezlang.passes.ranges_domain import Interval

RealRanges = Mapping[str, tuple[float, float]]
# without the keyword no program has a fixed-point value (`fixed_al`: `_` is not part of a name)
_FIXED_KEYWORD = re.compile(r"(?<![A-Za-z0-9])fixed(?![A-Za-z0-9])")


@dataclass(frozen=True)
class FormatChoice:
    """A ring width and default scale; `headroom_bits` = bitlen − bits of the widest value."""

    bitlen: int
    scale: int
    fits: bool
    headroom_bits: int
    limiting: Optional[Span]
    limiting_interval: Optional[Interval]
    reason: str


@dataclass(frozen=True)
class _Attempt:
    bitlen: int
    scale: int
    report: Optional[RangeReport]
    headroom: int = 0  # bits the widest value must leave unused
    problem: str = ""  # why the program cannot run at this format, when report is None
    truncations: Optional[int] = None  # executed after the rewrite rules (None: not known)

    @property
    def fits(self) -> bool:
        if self.report is None or self.report.overflows:
            return False
        widest = self.report.widest()
        return widest is None or widest[1].bits <= self.bitlen - self.headroom

    def overflow(self) -> Optional[Overflow]:
        """The first overflow that is not a consequence of another."""
        if self.report is None or not self.report.overflows:
            return None
        return next((o for o in self.report.overflows if o.primary), self.report.overflows[0])

    def what_overflows(self) -> str:
        first = self.overflow()
        if first is None and self.report is not None and self.report.widest() is not None:
            expr, interval = self.report.widest()  # type: ignore[misc]
            return (f"`{_text(expr.span)}` at {expr.span} can reach {interval}, which leaves less than "
                    f"{self.headroom} bit(s) of the {self.bitlen}-bit ring unused")
        if first is None:
            return self.problem
        return (f"`{_text(first.span)}` at {first.span} can reach {first.interval}, which overflows the "
                f"{self.bitlen}-bit ring")


def choose_format(source: SourceFile, *, input_ranges: Optional[RealRanges] = None,
                  calibration: Optional[Sequence[Sample]] = None, bitlens: Sequence[int] = (32, 64),
                  min_scale: int = 8, max_scale: Optional[int] = None, headroom: int = 0) -> FormatChoice:
    """The smallest ring and, in it, the largest scale without overflow that executes as few
    truncations as the smallest scale does (a larger scale must not cost rounds: where keeping
    an accumulator at the finer scale would overflow, the rewrite rules leave its truncations in
    place); see the module docstring;
    `max_scale` defaults to (bitlen − 2) // 2, where a product of two values of magnitude 1
    fills the ring; `headroom` asks the widest value to leave that many bits of the ring unused
    (a margin for inputs beyond calibrated ranges, or for probabilistic truncation)."""
    rejected: list[_Attempt] = []
    for bitlen in sorted(bitlens):
        highest = min(max_scale, bitlen - 1) if max_scale is not None else (bitlen - 2) // 2
        if highest < min_scale:
            continue
        tried: dict[int, _Attempt] = {}

        def at(scale: int) -> _Attempt:
            if scale not in tried:
                tried[scale] = _attempt(source, bitlen, scale, input_ranges or {}, calibration or (), headroom)
            return tried[scale]

        fewest = at(min_scale).truncations
        best = _largest_fitting(lambda scale: at(scale).fits and at(scale).truncations == fewest, min_scale, highest)
        if best is not None:
            return _chosen(at(best), tried.get(best + 1), rejected)
        rejected.append(at(min_scale))
    if not rejected:
        raise ValueError(f"no candidate format: min_scale {min_scale} is above max_scale {max_scale}")
    return _none_fits(rejected[-1])


def _largest_fitting(good: Callable[[int], bool], low: int, high: int) -> Optional[int]:
    """The largest scale in [low, high] that is good, by bisection. Good is monotone: one more
    fractional bit doubles every value of the program, so a scale that overflows makes every
    larger one overflow too, and the rewrite rules keep an accumulator at the finer scale only
    when that adds no overflow, so a larger scale never executes fewer truncations."""
    if not good(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if good(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _attempt(source: SourceFile, bitlen: int, scale: int, input_ranges: RealRanges,
             calibration: Sequence[Sample], headroom: int) -> _Attempt:
    checked = check_source(source, bitlen=bitlen, scale=scale)
    if checked.program is None:
        first = checked.diagnostics.errors()[0]
        problem = f"the program does not check: {render_text(first).splitlines()[0]}"
        return _Attempt(bitlen, scale, None, headroom, problem)
    prepared = prepare(checked.program, bitlen=bitlen, input_ranges=input_ranges)
    try:
        bounds = input_bounds(prepared, input_ranges, calibration)
    except InterpError as error:
        return _Attempt(bitlen, scale, None, headroom, f"a calibration sample does not fit: {error}")
    executed = prepared.optimized.truncations_after.executed if prepared.optimized is not None else None
    return _Attempt(bitlen, scale, analyze(prepared.program, bitlen=bitlen, input_bounds=bounds), headroom,
                    truncations=executed)


def input_bounds(prepared: Prepared, input_ranges: RealRanges,
                 calibration: Sequence[Sample]) -> dict[str, tuple[int, int]]:
    """Ring-integer bounds per input: given or declared real ranges encoded at each input's
    scale (encoding is monotone, so it keeps every value inside), else calibrated ones."""
    bounds: dict[str, tuple[int, int]] = {}
    if calibration:
        bounds.update(calibrate(prepared.program, [prepared.inputs(sample) for sample in calibration]))
    bounds.update(declared_bounds(replace(prepared.boundary, ranges={**prepared.boundary.ranges, **input_ranges})))
    return bounds


def _chosen(attempt: _Attempt, above: Optional[_Attempt], rejected: list[_Attempt]) -> FormatChoice:
    assert attempt.report is not None
    widest = attempt.report.widest()
    bits = widest[1].bits if widest is not None else 1
    reason = f"--bitlen {attempt.bitlen} --scale {attempt.scale} fits"
    if widest is not None:
        reason += (f": the widest value, `{_text(widest[0].span)}` at {widest[0].span}, lies in {widest[1]} "
                   f"({bits} of {attempt.bitlen} bits, {attempt.bitlen - bits} to spare)")
    reason += "." + "".join(f" At --bitlen {a.bitlen} --scale {a.scale}, {_why_not(a, attempt)}."
                            for a in ([above] if above is not None else []) + rejected)
    return FormatChoice(attempt.bitlen, attempt.scale, True, attempt.bitlen - bits,
                        widest[0].span if widest else None, widest[1] if widest else None, reason)


def _why_not(rejected: _Attempt, chosen: _Attempt) -> str:
    if rejected.fits:
        return (f"nothing overflows, but {rejected.truncations} truncations run instead of {chosen.truncations}: "
                "an accumulator kept at the finer scale would overflow there, so its truncations stay")
    return rejected.what_overflows()


def _none_fits(attempt: _Attempt) -> FormatChoice:
    reason = (f"no format fits: at --bitlen {attempt.bitlen} --scale {attempt.scale}, {attempt.what_overflows()}; "
              "declare tighter input ranges or allow a smaller scale")
    overflow = attempt.overflow()
    headroom = attempt.bitlen - overflow.interval.bits if overflow is not None else 0
    return FormatChoice(attempt.bitlen, attempt.scale, False, headroom,
                        overflow.span if overflow else None, overflow.interval if overflow else None, reason)


def _text(span: Span) -> str:
    return " ".join(span.text.split())


def format_for(source: SourceFile, *, bitlen: Optional[int] = None, scale: Optional[int] = None) -> tuple[int, int]:
    """The format a command runs `source` at when --bitlen or --scale is not given: for a
    fixed-point program that declares the range of every fixed-point input, the choice of `choose_format` within the
    given values (so every role, reading the same text, picks the same format); otherwise
    --bitlen 32 and scale DEFAULT_SCALE, as before fixed point existed."""
    fallback = (bitlen or 32, DEFAULT_SCALE if scale is None else scale)
    if (bitlen is not None and scale is not None) or not _FIXED_KEYWORD.search(source.text):
        return fallback
    probe = check_source(source, bitlen=fallback[0], scale=fallback[1])
    if probe.program is None:
        return fallback
    lowered = lower_fixed(probe.program, bitlen=fallback[0])
    if lowered.program is probe.program or set(lowered.boundary.inputs) - set(lowered.boundary.ranges):
        return fallback
    bitlens = (bitlen,) if bitlen is not None else (32, 64)
    if scale is not None:
        choice = choose_format(source, bitlens=bitlens, min_scale=scale, max_scale=scale)
    else:
        choice = choose_format(source, bitlens=bitlens)
    return choice.bitlen, choice.scale
