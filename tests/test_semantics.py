"""Exact values of every operator and conversion (ezlang.semantics), with property tests
against numpy's fixed-width integers and IEEE single floats."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang.semantics import (RingError, binary, binary_fn, convert, int_range, is_canonical, to_f32,
                              unary, wrap, zero)
from ezlang.syntax.ast import BinaryOp as B
from ezlang.syntax.ast import UnaryOp as U
from ezlang.types import Base, Label, Type

I32, U32, I64, U64 = Base.INT32, Base.UINT32, Base.INT64, Base.UINT64
INTS = (I32, U32, I64, U64)
MIN32, MAX32 = -2**31, 2**31 - 1
MIN64, MAX64 = -2**63, 2**63 - 1
NP = {I32: np.int32, U32: np.uint32, I64: np.int64, U64: np.uint64}


def op(o: B, base: Base, a, b, label: Label = Label.PL):
    return binary(o, Type(base, label), a, b)


# ---------------------------------------------------------------- exact tables


@pytest.mark.parametrize("o, base, a, b, expected", [
    (B.ADD, I32, MAX32, 1, MIN32), (B.ADD, U32, 2**32 - 1, 1, 0), (B.ADD, I64, MAX64, 1, MIN64),
    (B.ADD, U64, 2**64 - 1, 2, 1), (B.ADD, I32, -5, 3, -2),
    (B.SUB, I32, MIN32, 1, MAX32), (B.SUB, U32, 0, 1, 2**32 - 1), (B.SUB, U64, 0, 1, 2**64 - 1),
    (B.SUB, I64, MIN64, 1, MAX64),
    (B.MUL, I32, 65536, 65536, 0), (B.MUL, I32, MAX32, 2, -2), (B.MUL, U32, 2**31, 2, 0),
    (B.MUL, I64, 2**32, 2**32, 0), (B.MUL, U64, 2**63, 3, 2**63), (B.MUL, I32, -3, 7, -21),
    (B.MUL, I32, MIN32, -1, MIN32),
])
def test_ring_arithmetic(o, base, a, b, expected):
    assert op(o, base, a, b) == expected


@pytest.mark.parametrize("base, a, b, quotient, remainder", [
    (I32, 7, 2, 3, 1), (I32, -7, 2, -3, -1), (I32, 7, -2, -3, 1), (I32, -7, -2, 3, -1),
    (I32, MIN32, -1, MIN32, 0), (I64, MIN64, -1, MIN64, 0), (I32, MIN32, 1, MIN32, 0),
    (I32, 5, 0, -1, 5), (I32, -5, 0, -1, -5), (I32, 0, 0, -1, 0), (I64, 9, 0, -1, 9),
    (U32, 5, 0, 2**32 - 1, 5), (U64, 5, 0, 2**64 - 1, 5), (U32, 0, 0, 2**32 - 1, 0),
    (U32, 2**32 - 1, 2, 2**31 - 1, 1), (U64, 2**64 - 1, 2**63, 1, 2**63 - 1),
    (I32, MAX32, MIN32, 0, MAX32), (I32, MIN32, MAX32, -1, -1),
])
def test_division_truncates_and_is_total(base, a, b, quotient, remainder):
    assert op(B.DIV, base, a, b) == quotient
    assert op(B.MOD, base, a, b) == remainder


@pytest.mark.parametrize("o, base, a, n, expected", [
    (B.SHL, I32, 1, 31, MIN32), (B.SHL, I32, 3, 31, MIN32), (B.SHL, I32, 1, 32, 0), (B.SHL, I32, -1, 100, 0),
    (B.SHL, U32, 2**32 - 1, 4, 2**32 - 16), (B.SHL, U64, 1, 63, 2**63), (B.SHL, U64, 1, 64, 0),
    (B.SHL, I64, 5, 0, 5), (B.SHL, I64, -1, 63, MIN64),
    (B.SHR, I32, -7, 1, -4), (B.SHR, I32, -1, 31, -1), (B.SHR, I32, -1, 32, -1), (B.SHR, I32, -8, 200, -1),
    (B.SHR, I32, MIN32, 31, -1), (B.SHR, I32, MAX32, 31, 0), (B.SHR, I32, 8, 40, 0),
    (B.SHR, U32, 2**32 - 1, 31, 1), (B.SHR, U32, 2**32 - 1, 32, 0), (B.SHR, I64, MIN64, 63, -1),
    (B.SHR, U64, 2**64 - 1, 63, 1), (B.SHR, U64, 2**64 - 1, 64, 0),
    (B.SHRL, I32, -1, 1, MAX32), (B.SHRL, I32, -8, 1, 2**31 - 4), (B.SHRL, I32, -1, 0, -1),
    (B.SHRL, I32, -1, 31, 1), (B.SHRL, I32, -1, 32, 0), (B.SHRL, I64, -1, 1, MAX64),
    (B.SHRL, U32, 2**32 - 1, 4, 2**28 - 1), (B.SHRL, U64, 2**64 - 1, 64, 0),
])
def test_shifts(o, base, a, n, expected):
    assert op(o, base, a, n) == expected


@pytest.mark.parametrize("o", [B.SHL, B.SHR, B.SHRL])
def test_negative_shift_amount_is_an_error(o):
    with pytest.raises(RingError) as caught:
        op(o, I32, 1, -1)
    assert caught.value.code == "E0602"
    assert caught.value.message == f"negative shift amount -1 in `{o}`"


def test_shift_amount_of_a_wider_type():
    # The amount keeps its own type (never converted): a uint64 amount on an int32 value.
    assert binary_fn(B.SHL, I32)(1, 2**64 - 1) == 0
    assert binary_fn(B.SHR, I32)(-16, 2**40) == -1


@pytest.mark.parametrize("base, a, b, expected", [
    (I32, 2, 10, 1024), (I32, 2, 31, MIN32), (I32, 2, 32, 0), (I32, -2, 3, -8), (I32, -1, MAX32, -1),
    (I32, 0, 0, 1), (I32, 7, 0, 1), (U32, 3, 21, 3**21 % 2**32), (U32, 2**32 - 1, 2, 1),
    (I64, 3, 39, 3**39), (I64, 3, 40, 3**40 - 2**64), (U64, 10, 20, 10**20 % 2**64),
    (I32, 3, MAX32, wrap(pow(3, MAX32, 2**32), I32)),
])
def test_power_is_exact_then_wrapped(base, a, b, expected):
    assert op(B.POW, base, a, b) == expected


def test_negative_exponent_is_an_error():
    with pytest.raises(RingError) as caught:
        op(B.POW, I32, 2, -1)
    assert (caught.value.code, caught.value.message) == ("E0603", "negative exponent -1 in `^^`")


@pytest.mark.parametrize("o, base, a, b, expected", [
    (B.BAND, I32, -1, 0x0F0F, 0x0F0F), (B.BAND, I32, -8, -3, -8), (B.BOR, I32, MIN32, 1, MIN32 + 1),
    (B.BXOR, I32, -1, MAX32, MIN32), (B.BAND, U32, 2**32 - 1, 2**31, 2**31), (B.BOR, U64, 2**63, 1, 2**63 + 1),
    (B.BXOR, U64, 2**64 - 1, 1, 2**64 - 2), (B.BXOR, I64, MIN64, -1, MAX64),
])
def test_bitwise(o, base, a, b, expected):
    assert op(o, base, a, b) == expected


@pytest.mark.parametrize("base, a, expected", [
    (I32, 0, -1), (I32, MIN32, MAX32), (U32, 0, 2**32 - 1), (U32, 2**31, 2**31 - 1), (I64, -1, 0),
    (U64, 1, 2**64 - 2),
])
def test_bitwise_not(base, a, expected):
    assert unary(U.BNOT, Type(base, Label.PL), a) == expected


@pytest.mark.parametrize("base, a, b, lt", [
    (I32, -1, 0, True), (U32, 2**32 - 1, 0, False), (I64, MIN64, MAX64, True), (U64, 2**63, 1, False),
    (I32, 5, 5, False),
])
def test_comparisons_follow_signedness(base, a, b, lt):
    assert op(B.LT, base, a, b) is lt
    assert op(B.GT, base, b, a) is lt
    assert op(B.GE, base, a, b) is (not lt)
    assert op(B.LE, base, b, a) is (not lt)
    assert op(B.EQ, base, a, b) is (a == b)


def test_bool_operators():
    for a in (False, True):
        assert unary(U.NOT, Type(Base.BOOL, Label.BL), a) is (not a)
        for b in (False, True):
            assert op(B.AND, Base.BOOL, a, b) is (a and b)
            assert op(B.OR, Base.BOOL, a, b) is (a or b)
            assert op(B.XOR, Base.BOOL, a, b) is (a != b)


def test_floats_are_single_precision():
    F = Base.FLOAT
    assert op(B.ADD, F, 0.1, 0.2) == to_f32(to_f32(0.1) + to_f32(0.2)) != 0.1 + 0.2
    assert op(B.ADD, F, 16777216.0, 1.0) == 16777216.0
    assert op(B.MUL, F, 3.4028234663852886e38, 2.0) == math.inf
    assert op(B.DIV, F, 1.0, 3.0) == float(np.float32(1) / np.float32(3))
    assert op(B.DIV, F, 1.0, 0.0) == math.inf
    assert op(B.DIV, F, -1.0, 0.0) == -math.inf
    assert op(B.DIV, F, 1.0, -0.0) == -math.inf
    assert math.isnan(op(B.DIV, F, 0.0, 0.0))
    assert op(B.SUB, F, 1.5, 2.5) == -1.0
    assert op(B.LT, F, math.nan, 1.0) is False and op(B.EQ, F, math.nan, math.nan) is False
    assert op(B.GE, F, 2.0, 2.0) is True


@pytest.mark.parametrize("o", list(B))
@pytest.mark.parametrize("label", [Label.AL, Label.BL])
def test_labels_never_change_a_value(o, label):
    if o in (B.AND, B.OR, B.XOR):
        assert op(o, Base.BOOL, True, False, label) == op(o, Base.BOOL, True, False)
        return
    for a, b in ((-7, 3), (MIN32, 31), (5, 0), (123456, 17), (MAX32, 40)):
        assert op(o, I32, a, b, label) == op(o, I32, a, b)


@pytest.mark.parametrize("o", [B.AND, B.DIV, B.POW])
def test_ill_typed_operations_are_rejected(o):
    with pytest.raises(ValueError):
        binary_fn(o, Base.BOOL if o is not B.AND else I32)


# ---------------------------------------------------------------- conversions


def T(base: Base, label: Label = Label.PL) -> Type:
    return Type(base, label)


@pytest.mark.parametrize("src, dst, value, expected", [
    (T(I32), T(I64), -1, -1), (T(I32), T(I64), MIN32, MIN32), (T(U32), T(U64), 2**32 - 1, 2**32 - 1),
    (T(I32), T(U32), -1, 2**32 - 1), (T(U32), T(I32), 2**31, MIN32), (T(I64), T(U64), -2, 2**64 - 2),
    (T(U64), T(I64), 2**64 - 1, -1), (T(I32, Label.AL), T(U32, Label.BL), -5, 2**32 - 5),
    (T(I32), T(U64), -1, 2**64 - 1), (T(U32), T(I64), 2**32 - 1, 2**32 - 1),
    (T(I32), T(I32, Label.AL), -9, -9), (T(I32, Label.AL), T(I32, Label.BL), -9, -9),
    (T(Base.BOOL), T(Base.BOOL, Label.BL), True, True), (T(Base.FLOAT), T(Base.FLOAT, Label.FL), 0.5, 0.5),
])
def test_conversions(src, dst, value, expected):
    assert convert(src, dst, value) == expected


def test_impossible_conversion_is_rejected():
    with pytest.raises(ValueError):
        convert(T(I32), T(Base.FLOAT), 1)


def test_canonical_values_and_zero():
    assert [zero(b) for b in (I32, Base.BOOL, Base.FLOAT)] == [0, False, 0.0]
    assert is_canonical(MIN32, I32) and not is_canonical(2**31, I32) and not is_canonical(-1, U32)
    assert not is_canonical(True, I32) and not is_canonical(1, Base.BOOL)
    assert is_canonical(0.5, Base.FLOAT) and not is_canonical(0.1, Base.FLOAT)
    assert int_range(U64) == range(0, 2**64)


# ---------------------------------------------------------------- properties against numpy


def ints(base: Base) -> st.SearchStrategy[int]:
    r = int_range(base)
    edges = st.sampled_from([r.start, r.start + 1, -1 if base.signed else 1, 0, r.stop - 1, r.stop - 2])
    return st.one_of(edges, st.integers(r.start, r.stop - 1))


def as_np(base: Base, v: int) -> np.ndarray:
    return np.array([v], dtype=NP[base])


def back(array: np.ndarray) -> int:
    return int(array[0])


def numpy_model(o: B, base: Base, a: int, b: int) -> int:
    """The same operation with numpy's wrapping fixed-width arrays and C remainder."""
    x, y = as_np(base, a), as_np(base, b)
    if o is B.ADD:
        return back(x + y)
    if o is B.SUB:
        return back(x - y)
    if o is B.MUL:
        return back(x * y)
    if o in (B.DIV, B.MOD):
        if b == 0:
            return back(np.array([-1]).astype(NP[base])) if o is B.DIV else a
        if base.signed and b == -1:
            return back(-x) if o is B.DIV else 0
        remainder = np.fmod(x, y)
        return back((x - remainder) // y) if o is B.DIV else back(remainder)
    return back({B.BAND: np.bitwise_and, B.BOR: np.bitwise_or, B.BXOR: np.bitwise_xor}[o](x, y))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INTS), st.sampled_from([B.ADD, B.SUB, B.MUL, B.DIV, B.MOD, B.BAND, B.BOR, B.BXOR]),
       st.data())
def test_ring_ops_match_numpy(base, o, data):
    a, b = data.draw(ints(base)), data.draw(ints(base))
    with np.errstate(all="ignore"):
        assert op(o, base, a, b) == numpy_model(o, base, a, b)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INTS), st.data())
def test_shifts_match_numpy(base, data):
    a, n = data.draw(ints(base)), data.draw(st.integers(0, base.width - 1))
    x = as_np(base, a)
    unsigned = NP[base.with_signedness(False)]
    assert op(B.SHL, base, a, n) == back(np.left_shift(x, NP[base](n)))
    assert op(B.SHR, base, a, n) == back(np.right_shift(x, NP[base](n)))
    logical = np.right_shift(x.view(unsigned), unsigned(n)).view(NP[base])
    assert op(B.SHRL, base, a, n) == back(logical)
    assert unary(U.BNOT, T(base), a) == back(np.invert(x))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(INTS), st.data())
def test_power_matches_repeated_multiplication(base, data):
    a, e = data.draw(ints(base)), data.draw(st.integers(0, 70))
    with np.errstate(all="ignore"):
        assert op(B.POW, base, a, e) == back(np.power(as_np(base, a), NP[base](e)))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INTS), st.data())
def test_comparisons_match_numpy(base, data):
    a, b = data.draw(ints(base)), data.draw(ints(base))
    x, y = as_np(base, a), as_np(base, b)
    for o, model in ((B.LT, np.less), (B.GT, np.greater), (B.LE, np.less_equal),
                     (B.GE, np.greater_equal), (B.EQ, np.equal)):
        assert op(o, base, a, b) is bool(model(x, y)[0])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INTS), st.sampled_from(INTS), st.data())
def test_conversion_matches_numpy_cast(src, dst, data):
    a = data.draw(ints(src))
    if src.signed == dst.signed and src.width <= dst.width:
        expected = a  # widening keeps the value
    else:
        expected = back(as_np(src, a).astype(NP[dst]))
    assert convert(T(src), T(dst), a) == expected


def bits(x: float) -> bytes:
    return struct.pack("<f", x)


singles = st.floats(width=32, allow_nan=True, allow_infinity=True)


@settings(max_examples=400, deadline=None)
@given(singles, singles, st.sampled_from([B.ADD, B.SUB, B.MUL, B.DIV]))
def test_float_ops_match_ieee_single(a, b, o):
    x, y = np.float32(a), np.float32(b)
    with np.errstate(all="ignore"):
        expected = {B.ADD: x + y, B.SUB: x - y, B.MUL: x * y, B.DIV: x / y}[o]
    result = op(o, Base.FLOAT, a, b)
    assert (math.isnan(result) and np.isnan(expected)) or bits(result) == bits(float(expected))
