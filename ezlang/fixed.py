"""The fixed-point encoding, written once: the checker, the lowering and the input and output
boundary all use it, so a literal, an input and an output mean the same number.

A real v at scale s is the integer round(v·2^s), rounded half away from zero, which must lie in
the signed range of the ring [-2^(w-1), 2^(w-1)); an integer n at scale s decodes to n / 2^s.
Rounding is exact, on the binary value of v (scaling a double by 2^s is exact, and so is the
fraction it leaves), so it never depends on how large v·2^s is.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Optional, Union

Real = Union[int, float, Fraction]


def encode(value: Real, scale: int) -> int:
    """round(value·2^scale), halves away from zero; `value` must be finite."""
    if isinstance(value, int):
        return value << scale
    scaled = value * float(1 << scale) if isinstance(value, float) else math.inf
    if math.isinf(scaled):  # a Fraction, or a double too large to scale: exactly, through Fraction
        exact = Fraction(value) * (1 << scale)
        magnitude = math.floor(abs(exact) + Fraction(1, 2))
        return -magnitude if exact < 0 else magnitude
    whole = math.floor(abs(scaled))  # abs(scaled) - whole is exact: the two are within 1 of each other
    magnitude = whole + 1 if abs(scaled) - whole >= 0.5 else whole
    return -magnitude if scaled < 0 else magnitude


def decode(encoded: int, scale: int) -> float:
    """The real an encoded integer stands for (correctly rounded to a double)."""
    return encoded / (1 << scale)


def fits(encoded: int, width: int) -> bool:
    """Whether an encoded value lies in the signed range of a `width`-bit ring."""
    return -(1 << (width - 1)) <= encoded < 1 << (width - 1)


def encode_in_ring(value: Real, scale: int, width: int) -> Optional[int]:
    """The encoding of `value`, or None when it is not finite or does not fit the ring."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    encoded = encode(value, scale)
    return encoded if fits(encoded, width) else None


def representable(scale: int, width: int) -> str:
    """The reals a `width`-bit ring holds at `scale`, for messages: `-524288 to 524287.999755859375`."""
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return f"{_exact(Fraction(low, 1 << scale))} to {_exact(Fraction(high, 1 << scale))}"


def _exact(value: Fraction) -> str:
    """A dyadic rational in full decimal: every digit, no exponent."""
    if value.denominator == 1:
        return str(value.numerator)
    digits = value.denominator.bit_length() - 1  # 2^-k has exactly k decimal places
    text = f"{abs(value.numerator) * 5 ** digits:0{digits + 1}d}"
    sign = "-" if value < 0 else ""
    return f"{sign}{text[:-digits]}.{text[-digits:].rstrip('0')}"
