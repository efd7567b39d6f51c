"""The exact cleartext meaning of every EzPC operator and implicit conversion.

This module is the specification the secure runtime is tested against, so every rule is
written out here once (docs: ezpc-language.md §5.2, and the project's fixed decisions):

* Integers are two's complement of their type's width and wrap modulo 2^width. A value is
  *canonical* when it lies in its type's range: [-2^(w-1), 2^(w-1)) signed, [0, 2^w) unsigned.
* `/` and `%` truncate toward zero (C). Division by zero is total, as in RISC-V: x / 0 is all
  ones (-1 signed, 2^w - 1 unsigned) and x % 0 = x; signed MIN / -1 = MIN and MIN % -1 = 0.
* `<<` drops bits, `>>` is arithmetic for signed and logical for unsigned types, `>>>` is always
  logical. An amount ≥ the width gives 0 (all sign bits for a signed `>>`); a negative amount
  is a run-time error. The amount may have any integer type (it is never converted).
* `^^` is the exact integer power wrapped to the width (0 ^^ 0 = 1); a negative exponent is a
  run-time error.
* Floats are IEEE-754 single precision, each result rounded to nearest-even; division by zero
  gives ±inf or NaN as IEEE prescribes. Comparisons with NaN are false.
* Labels never change a value: `a +_bl b` and `a +_al b` mean the same number.

Assumes: operands are canonical for the operand type the caller names.
Guarantees: results are canonical for the result type; invalid operations raise RingError.
"""

from __future__ import annotations

import math
import operator
import struct
from functools import cache
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

from ezlang.diagnostics import register
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Base, Type

NEGATIVE_SHIFT = register("E0602", "negative shift amount")
NEGATIVE_EXPONENT = register("E0603", "negative exponent")

Value = Any  # int | bool | float, canonical for its type
BinaryFn = Callable[[Value, Value], Value]
UnaryFn = Callable[[Value], Value]

_F32 = struct.Struct("<f")
_COMPARISONS: dict[BinaryOp, BinaryFn] = {
    BinaryOp.LT: operator.lt, BinaryOp.GT: operator.gt, BinaryOp.LE: operator.le,
    BinaryOp.GE: operator.ge, BinaryOp.EQ: operator.eq,
}
_SHIFTS = frozenset({BinaryOp.SHL, BinaryOp.SHR, BinaryOp.SHRL})


class RingError(Exception):
    """An operation with no defined result (negative shift or exponent); the caller adds a span."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def int_range(base: Base) -> range:
    """The canonical values of an integer base type."""
    if base.signed:
        return range(-(1 << (base.width - 1)), 1 << (base.width - 1))
    return range(0, 1 << base.width)


def wrap(value: int, base: Base) -> int:
    """`value` reduced modulo 2^width into the canonical range of `base`."""
    mask = (1 << base.width) - 1
    if base.signed:
        half = 1 << (base.width - 1)
        return ((value + half) & mask) - half
    return value & mask


def to_f32(value: float) -> float:
    """`value` rounded to the nearest IEEE single (ties to even), overflowing to ±inf."""
    try:
        return _F32.unpack(_F32.pack(value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def zero(base: Base) -> Value:
    """The value of an uninitialised scalar."""
    if base is Base.BOOL:
        return False
    if base is Base.FLOAT:
        return 0.0
    return 0


def is_canonical(value: object, base: Base) -> bool:
    if base is Base.BOOL:
        return type(value) is bool
    if base is Base.FLOAT:
        return type(value) is float and (math.isnan(value) or to_f32(value) == value)
    return type(value) is int and value in int_range(base)


# ---------------------------------------------------------------- integers


def _trunc_div(a: int, b: int) -> int:
    """Quotient rounded toward zero; b != 0."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def _int_ops(base: Base) -> dict[BinaryOp, BinaryFn]:
    width, signed = base.width, base.signed
    mask = (1 << width) - 1
    half = 1 << (width - 1)
    wr: Callable[[int], int] = (lambda v: ((v + half) & mask) - half) if signed else (lambda v: v & mask)
    all_ones = wr(-1)

    def div(a: int, b: int) -> int:
        return all_ones if b == 0 else wr(_trunc_div(a, b))

    def mod(a: int, b: int) -> int:
        return a if b == 0 else a - b * _trunc_div(a, b)

    def power(a: int, b: int) -> int:
        if b < 0:
            raise RingError(NEGATIVE_EXPONENT, f"negative exponent {b} in `^^`")
        return wr(pow(a, b, 1 << width))

    # + - * are the hot path of every loop: spelled out rather than composed with `wr`.
    ring: dict[BinaryOp, BinaryFn] = {
        BinaryOp.ADD: lambda a, b: ((a + b + half) & mask) - half,
        BinaryOp.SUB: lambda a, b: ((a - b + half) & mask) - half,
        BinaryOp.MUL: lambda a, b: ((a * b + half) & mask) - half,
    } if signed else {
        BinaryOp.ADD: lambda a, b: (a + b) & mask,
        BinaryOp.SUB: lambda a, b: (a - b) & mask,
        BinaryOp.MUL: lambda a, b: (a * b) & mask,
    }
    return {
        **ring, BinaryOp.DIV: div, BinaryOp.MOD: mod, BinaryOp.POW: power,
        BinaryOp.BAND: operator.and_, BinaryOp.BOR: operator.or_, BinaryOp.BXOR: operator.xor,
        **_shift_ops(width, wr), **_COMPARISONS,
    }


def _checked_amount(op: BinaryOp, amount: int) -> int:
    if amount < 0:
        raise RingError(NEGATIVE_SHIFT, f"negative shift amount {amount} in `{op}`")
    return amount


def _shift_ops(width: int, wr: Callable[[int], int]) -> dict[BinaryOp, BinaryFn]:
    """Shifts of a `width`-bit value; Python's `>>` on a canonical signed int is arithmetic."""
    mask = (1 << width) - 1

    def shl(a: int, n: int) -> int:
        n = _checked_amount(BinaryOp.SHL, n)
        return 0 if n >= width else wr(a << n)

    def shr(a: int, n: int) -> int:
        return a >> min(_checked_amount(BinaryOp.SHR, n), width)

    def shrl(a: int, n: int) -> int:
        n = _checked_amount(BinaryOp.SHRL, n)
        return 0 if n >= width else wr((a & mask) >> n)

    return {BinaryOp.SHL: shl, BinaryOp.SHR: shr, BinaryOp.SHRL: shrl}


# ---------------------------------------------------------------- floats and bools


def _float_div(a: float, b: float) -> float:
    if b != 0.0:
        return to_f32(a / b)
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _float_ops() -> dict[BinaryOp, BinaryFn]:
    # A double holds the exact sum, difference or product of two singles, and rounding the
    # correctly rounded double quotient to single equals rounding the exact one (53 ≥ 2·24 + 2),
    # so computing in double and rounding once is IEEE single arithmetic.
    return {
        BinaryOp.ADD: lambda a, b: to_f32(a + b), BinaryOp.SUB: lambda a, b: to_f32(a - b),
        BinaryOp.MUL: lambda a, b: to_f32(a * b), BinaryOp.DIV: _float_div, **_COMPARISONS,
    }


def _bool_ops() -> dict[BinaryOp, BinaryFn]:
    return {
        BinaryOp.AND: lambda a, b: a and b, BinaryOp.OR: lambda a, b: a or b,
        BinaryOp.XOR: operator.ne,
    }


@cache
def _ops_for(base: Base) -> Mapping[BinaryOp, BinaryFn]:
    """The operators on one base type (built once per base: they are pure)."""
    return MappingProxyType(_build_ops(base))


def _build_ops(base: Base) -> dict[BinaryOp, BinaryFn]:
    if base is Base.BOOL:
        return _bool_ops()
    if base is Base.FLOAT:
        return _float_ops()
    return _int_ops(base)


# ---------------------------------------------------------------- public entry points


def binary_fn(op: BinaryOp, operand: Base) -> BinaryFn:
    """The function computing `a op b` for operands of base `operand` (the left one, for shifts).

    Comparisons return bool; every other operator returns a value of the operand base."""
    fn = _ops_for(operand).get(op)
    if fn is None:
        raise ValueError(f"`{op}` is not defined on {operand} operands (ill-typed program)")
    return fn


def unary_fn(op: UnaryOp, operand: Base) -> UnaryFn:
    if op is UnaryOp.NOT and operand is Base.BOOL:
        return operator.not_
    if op is UnaryOp.BNOT and operand.is_int:
        mask = (1 << operand.width) - 1
        return operator.invert if operand.signed else (lambda a: a ^ mask)
    raise ValueError(f"`{op}` is not defined on {operand} operands (ill-typed program)")


def binary(op: BinaryOp, operand: Type, a: Value, b: Value) -> Value:
    """`a op b` where `operand` is the (left) operand type; its label does not matter."""
    return binary_fn(op, operand.base)(a, b)


def unary(op: UnaryOp, operand: Type, a: Value) -> Value:
    return unary_fn(op, operand.base)(a)


def may_raise(op: BinaryOp) -> bool:
    """Only shifts and `^^` can fail (on a negative amount or exponent)."""
    return op in _SHIFTS or op is BinaryOp.POW


def is_shift(op: BinaryOp) -> bool:
    """Shifts take their right operand unconverted, of any integer type."""
    return op in _SHIFTS


def convert_fn(src: Type, dst: Type) -> Optional[UnaryFn]:
    """The conversion of a `src` value to `dst`, or None when the value is unchanged.

    Labels never change a value. An integer keeps its mathematical value when widened (sign
    extension from a signed source, zero extension from an unsigned one) and is then reinterpreted
    in the destination's signedness: both are `wrap` to the destination."""
    if src.rank or dst.rank or src.base is dst.base:
        return None
    if src.base.is_int and dst.base.is_int:
        if src.base.signed == dst.base.signed and src.base.width <= dst.base.width:
            return None
        target = dst.base
        return lambda v: wrap(v, target)
    raise ValueError(f"no conversion from {src} to {dst} (ill-typed program)")


def convert(src: Type, dst: Type, value: Value) -> Value:
    fn = convert_fn(src, dst)
    return value if fn is None else fn(value)
