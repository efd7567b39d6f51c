"""The interval transfer functions against ezlang.semantics, operand by operand.

For random small intervals, every pair of operands in them is evaluated exactly (the true
integer result of `+ - * / << ^^`, the result itself for the other operators); that value must
lie in the interval the transfer function gives.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang.passes.ranges_domain import (CAN_OVERFLOW, Interval, accumulated, binary, convert, type_range,
                                         wrap_to)
from ezlang.semantics import binary_fn, wrap
from ezlang.semantics import convert as convert_value
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

INT_BASES = (Base.INT32, Base.UINT32, Base.INT64, Base.UINT64)
AMOUNT_OPS = (BinaryOp.SHL, BinaryOp.SHR, BinaryOp.SHRL, BinaryOp.POW)
OPS = tuple(op for op in BinaryOp if op not in (BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR))


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


EXACT = {
    BinaryOp.ADD: lambda a, b, w: a + b, BinaryOp.SUB: lambda a, b, w: a - b, BinaryOp.MUL: lambda a, b, w: a * b,
    BinaryOp.DIV: lambda a, b, w: None if b == 0 else _trunc_div(a, b), BinaryOp.POW: lambda a, b, w: a ** b,
    BinaryOp.SHL: lambda a, b, w: a << b if b < w else 0,
}


@st.composite
def intervals(draw: st.DrawFn, base: Base, amount: bool = False) -> Interval:
    """A short interval of canonical values, near 0, near an end of the range, or anywhere;
    shift amounts and exponents stay in 0..w+2 (0..6 for exponents, to keep powers small)."""
    ring = type_range(base)
    if amount:
        lo = draw(st.integers(0, base.width + 2))
        return Interval(lo, lo + draw(st.integers(0, 3)))
    start = draw(st.one_of(st.integers(-8, 8), st.sampled_from((ring.lo, ring.hi - 5)),
                           st.integers(ring.lo, ring.hi - 5)))
    start = min(max(start, ring.lo), ring.hi - 5)
    return Interval(start, start + draw(st.integers(0, 5)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[BinaryOp, Base, Interval, Interval]:
    op, base = draw(st.sampled_from(OPS)), draw(st.sampled_from(INT_BASES))
    right = draw(intervals(base, amount=op in AMOUNT_OPS))
    if op is BinaryOp.POW:
        right = Interval(right.lo % 7, right.lo % 7 + right.hi - right.lo)
    return op, base, draw(intervals(base)), right


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(cases())
def test_every_result_lies_in_the_transfer_functions_interval(case: tuple[BinaryOp, Base, Interval, Interval]) -> None:
    op, base, left, right = case
    result = binary(op, base, left, right)
    fn = binary_fn(op, base)
    for a in range(left.lo, left.hi + 1):
        for b in range(right.lo, right.hi + 1):
            exact = EXACT[op](a, b, base.width) if op in EXACT else None
            value = int(fn(a, b)) if exact is None else exact
            assert value in result, (op, base, left, right, a, b, value, result)
            if op not in CAN_OVERFLOW:
                assert wrap(value, base) == value  # these never leave the ring


def test_wrapping_moves_one_turn_and_gives_up_beyond() -> None:
    assert wrap_to(Interval(1 << 31, (1 << 31) + 4), Base.INT32) == Interval(-(1 << 31), -(1 << 31) + 4, True)
    assert wrap_to(Interval(-3, 4), Base.UINT32) == Interval(0, (1 << 32) - 1, True)
    assert wrap_to(Interval(-3, 4), Base.INT32) == Interval(-3, 4)


def test_a_reinterpreting_conversion_is_not_an_overflow() -> None:
    signed, unsigned = Type(Base.INT32, Label.PL), Type(Base.UINT32, Label.PL)
    result = convert(Interval(-2, -1), signed, unsigned)
    assert result == Interval((1 << 32) - 2, (1 << 32) - 1)
    assert {convert_value(signed, unsigned, v) for v in (-2, -1)} <= set(range(result.lo, result.hi + 1))


def test_an_accumulation_moves_by_at_most_count_steps_either_way() -> None:
    assert accumulated(Interval(10, 10), Interval(-3, 5), 4) == Interval(-2, 30)
    assert accumulated(Interval(0, 0), Interval(2, 5), 3) == Interval(0, 15)  # 0 steps taken is possible


def test_bits_count_the_sign() -> None:
    assert Interval(-128, 127).bits == 8
    assert Interval(0, 128).bits == 9
    assert type_range(Base.INT64).bits == 64
