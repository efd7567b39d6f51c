"""Intervals of exact integers and the transfer function of every integer operator.

Why: range analysis (ezlang.passes.ranges) must see a value leave its ring, so an interval's
ends are Python ints that never wrap; `wrap_to` then says what the program holds afterwards.

Assumes: every operand value lies in its interval and is canonical for the operand base.
Guarantees: `binary`, `unary` and `convert` return an interval holding the exact result, i.e.
the value ezlang.semantics computes before reducing it modulo 2^w (for `+ - * / << ^^`), or the
result itself for operators that cannot overflow (bitwise, `>>`, `>>>`, `%`, comparisons,
conversions). A power's ends are computed with its exponent cut at 2w + 1: beyond that the
true ends are further out still, and the value is reported as overflowing either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ezlang.semantics import convert_fn
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Base, Type


@dataclass(frozen=True)
class Interval:
    """The integers lo..hi (inclusive). `wrapped`: the bound is the whole ring because a value
    upstream overflowed, so an overflow found downstream is a consequence, not a new cause."""

    lo: int
    hi: int
    wrapped: bool = False

    def join(self, other: "Interval") -> "Interval":
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi), self.wrapped or other.wrapped)

    def meet(self, other: "Interval") -> Optional["Interval"]:
        lo, hi = max(self.lo, other.lo), min(self.hi, other.hi)
        return Interval(lo, hi, self.wrapped and other.wrapped) if lo <= hi else None

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.lo <= value <= self.hi

    @property
    def bits(self) -> int:
        """Bits of a two's-complement integer that holds every value (sign bit included)."""
        return max(_signed_bits(self.lo), _signed_bits(self.hi))

    def __str__(self) -> str:
        return f"[{self.lo}, {self.hi}]"


def point(value: int) -> Interval:
    return Interval(value, value)


def hull(*values: int) -> Interval:
    return Interval(min(values), max(values))


def _signed_bits(value: int) -> int:
    return (value if value >= 0 else ~value).bit_length() + 1


BOOLS = Interval(0, 1)


def type_range(base: Base) -> Interval:
    """Every canonical value of an integer or bool base (bools as 0 and 1)."""
    if base is Base.BOOL:
        return BOOLS
    if base.signed:
        return Interval(-(1 << (base.width - 1)), (1 << (base.width - 1)) - 1)
    return Interval(0, (1 << base.width) - 1)


def fits(interval: Interval, base: Base) -> bool:
    ring = type_range(base)
    return ring.lo <= interval.lo and interval.hi <= ring.hi


def wrap_to(interval: Interval, base: Base) -> Interval:
    """The values a program holds once an exact result in `interval` is reduced into `base`."""
    if fits(interval, base):
        return interval
    ring = type_range(base)
    size = 1 << base.width
    turns = (interval.lo - ring.lo) // size
    if (interval.hi - ring.lo) // size == turns:  # one turn of the ring: the bounds move along
        return Interval(interval.lo - turns * size, interval.hi - turns * size, True)
    return Interval(ring.lo, ring.hi, True)


def convert(interval: Interval, src: Type, dst: Type) -> Interval:
    """An implicit conversion: unchanged, or a reinterpretation in `dst` (not an overflow)."""
    if convert_fn(src, dst) is None:
        return interval
    return Interval(*_ends(wrap_to(interval, dst.base)), interval.wrapped)


def _ends(interval: Interval) -> tuple[int, int]:
    return interval.lo, interval.hi


def accumulated(start: Interval, step: Interval, count: int) -> Interval:
    """start + k·step for every k in 0..count: where `count` additions of a step can lead."""
    return Interval(start.lo + min(0, count * step.lo), start.hi + max(0, count * step.hi),
                    start.wrapped or step.wrapped)


# ---------------------------------------------------------------- arithmetic


def _add(a: Interval, b: Interval, base: Base) -> Interval:
    return Interval(a.lo + b.lo, a.hi + b.hi)


def _sub(a: Interval, b: Interval, base: Base) -> Interval:
    return Interval(a.lo - b.hi, a.hi - b.lo)


def _mul(a: Interval, b: Interval, base: Base) -> Interval:
    return hull(a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def _div(a: Interval, b: Interval, base: Base) -> Interval:
    """Truncating division is monotone in each operand on either side of 0, so its extremes lie
    at the corners of each sign part of the divisor; x / 0 is all ones (ezlang.semantics)."""
    ends: list[int] = []
    for part in _nonzero_parts(b):
        ends += [_trunc_div(x, y) for x in (a.lo, a.hi) for y in _ends(part)]
    if 0 in b:
        ends.append(-1 if base.signed else (1 << base.width) - 1)
    return hull(*ends)


def _nonzero_parts(b: Interval) -> list[Interval]:
    parts = []
    if b.lo < 0:
        parts.append(Interval(b.lo, min(b.hi, -1)))
    if b.hi > 0:
        parts.append(Interval(max(b.lo, 1), b.hi))
    return parts


def _mod(a: Interval, b: Interval, base: Base) -> Interval:
    """The remainder takes the dividend's sign and is smaller than the divisor; x % 0 = x."""
    parts = _nonzero_parts(b)
    result: Optional[Interval] = a if 0 in b else None
    if parts:
        limit = max(abs(b.lo), abs(b.hi)) - 1
        bounded = Interval(max(a.lo, -limit) if a.lo < 0 else 0, min(a.hi, limit) if a.hi > 0 else 0)
        result = bounded if result is None else result.join(bounded)
    assert result is not None
    return result


def _pow(a: Interval, b: Interval, base: Base) -> Interval:
    """Extremes of x^k lie at x in {lo, hi, -1, 0, 1} and k next to either end (for parity)."""
    cut = 2 * base.width + 1
    k_lo, k_hi = max(b.lo, 0), max(min(b.hi, cut), 0)
    exponents = {k for k in (k_lo, k_lo + 1, k_hi - 1, k_hi) if k_lo <= k <= k_hi}
    bases = {a.lo, a.hi} | {x for x in (-1, 0, 1) if x in a}
    return hull(*(x ** k for x in bases for k in exponents))


def _amounts(b: Interval, width: int) -> tuple[int, int]:
    """A shift amount's range; negative amounts stop the run (E0602), so they add no value."""
    return min(max(b.lo, 0), width), min(max(b.hi, 0), width)


def _shl(a: Interval, b: Interval, base: Base) -> Interval:
    """x << n = x·2^n is monotone in n for either sign of x; an amount ≥ w gives 0."""
    n_lo, n_hi = _amounts(b, base.width)
    amounts = {n for n in (n_lo, min(n_hi, base.width - 1)) if n_lo <= n < base.width}
    ends = [x << n for x in (a.lo, a.hi) for n in amounts]
    if n_hi >= base.width:
        ends.append(0)
    return hull(*ends)


def _shr(a: Interval, b: Interval, base: Base) -> Interval:
    n_lo, n_hi = _amounts(b, base.width)
    return hull(*(x >> n for x in (a.lo, a.hi) for n in (n_lo, n_hi)))


def _shrl(a: Interval, b: Interval, base: Base) -> Interval:
    """Logical shift: a negative value is read as unsigned (x + 2^w) when the amount is 1..w-1;
    amount 0 leaves it and amount w gives 0."""
    if not base.signed or a.lo >= 0:
        return _shr(a, b, base)
    n_lo, n_hi = _amounts(b, base.width)
    negative = Interval(a.lo, min(a.hi, -1))
    ends: list[int] = []
    if a.hi >= 0:
        ends += _ends(_shr(Interval(0, a.hi), b, base))
    if n_lo == 0:
        ends += _ends(negative)
    if n_hi >= 1 and n_lo < base.width:
        unsigned = Interval(negative.lo + (1 << base.width), negative.hi + (1 << base.width))
        ends += _ends(_shr(unsigned, Interval(max(n_lo, 1), min(n_hi, base.width - 1)), base))
    if n_hi >= base.width:
        ends.append(0)
    return hull(*ends)


def _bitwise(op: BinaryOp) -> Callable[[Interval, Interval, Base], Interval]:
    """Two's complement with k value bits and a sign is closed under & | ^; `&` of a
    non-negative operand is at most that operand."""
    def transfer(a: Interval, b: Interval, base: Base) -> Interval:
        if op is BinaryOp.BAND and (a.lo >= 0 or b.lo >= 0):
            return Interval(0, min(x.hi for x in (a, b) if x.lo >= 0))
        width = max(a.bits, b.bits) - 1
        if a.lo >= 0 and b.lo >= 0:
            return Interval(0, (1 << width) - 1)
        return Interval(-(1 << width), (1 << width) - 1)
    return transfer


_ARITHMETIC: dict[BinaryOp, Callable[[Interval, Interval, Base], Interval]] = {
    BinaryOp.ADD: _add, BinaryOp.SUB: _sub, BinaryOp.MUL: _mul, BinaryOp.DIV: _div,
    BinaryOp.MOD: _mod, BinaryOp.POW: _pow, BinaryOp.SHL: _shl, BinaryOp.SHR: _shr,
    BinaryOp.SHRL: _shrl, BinaryOp.BAND: _bitwise(BinaryOp.BAND),
    BinaryOp.BOR: _bitwise(BinaryOp.BOR), BinaryOp.BXOR: _bitwise(BinaryOp.BXOR),
}

# Operators whose exact result can leave the ring (the others are reductions or bit operations).
CAN_OVERFLOW = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.POW, BinaryOp.SHL})


# ---------------------------------------------------------------- comparisons and logic


def _decided(always: bool, never: bool) -> Interval:
    return point(1) if always else point(0) if never else BOOLS


def compare(op: BinaryOp, a: Interval, b: Interval) -> Interval:
    if op is BinaryOp.LT:
        return _decided(a.hi < b.lo, a.lo >= b.hi)
    if op is BinaryOp.LE:
        return _decided(a.hi <= b.lo, a.lo > b.hi)
    if op is BinaryOp.GT:
        return _decided(a.lo > b.hi, a.hi <= b.lo)
    if op is BinaryOp.GE:
        return _decided(a.lo >= b.hi, a.hi < b.lo)
    return _decided(a.lo == a.hi == b.lo == b.hi, a.hi < b.lo or b.hi < a.lo)


def _logic(op: BinaryOp, a: Interval, b: Interval) -> Interval:
    if op is BinaryOp.AND:
        return _decided(a.lo == 1 and b.lo == 1, a.hi == 0 or b.hi == 0)
    if op is BinaryOp.OR:
        return _decided(a.lo == 1 or b.lo == 1, a.hi == 0 and b.hi == 0)
    if a.lo == a.hi and b.lo == b.hi:
        return point(int(a.lo != b.lo))
    return BOOLS


def binary(op: BinaryOp, base: Base, a: Interval, b: Interval) -> Interval:
    """`a op b` on operands of base `base` (the left operand's, for shifts)."""
    if op in _ARITHMETIC:
        result = _ARITHMETIC[op](a, b, base)
    elif op in (BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR):
        result = _logic(op, a, b)
    else:
        result = compare(op, a, b)
    return Interval(result.lo, result.hi, a.wrapped or b.wrapped)


def unary(op: UnaryOp, base: Base, a: Interval) -> Interval:
    if op is UnaryOp.NOT:
        return Interval(1 - a.hi, 1 - a.lo, a.wrapped)
    if base.signed:
        return Interval(-a.hi - 1, -a.lo - 1, a.wrapped)
    mask = (1 << base.width) - 1
    return Interval(mask - a.hi, mask - a.lo, a.wrapped)
