"""The type language shared by the checker, the interpreter and the compiler.

A type is a base type, a label (who may see the value) and a rank (number of array
dimensions; sizes are run-time values and never part of the static type, as in EzPC).
A fixed-point type is the ring's signed integer with a scale: `fixed<12>_al` checked at
--bitlen 32 is Type(INT32, AL, scale=12), the integer round(v·2^12) standing for the real v.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional


class Label(Enum):
    """Visibility of a value: public, or secret in one of three sharings."""

    PL = "pl"  # public: every party computes it in the clear
    AL = "al"  # secret, arithmetic shares modulo 2^bitlen
    BL = "bl"  # secret, boolean shares
    FL = "fl"  # secret IEEE-754 float (SecFloat)

    @property
    def is_secret(self) -> bool:
        return self is not Label.PL

    def __str__(self) -> str:
        return self.value


class Base(Enum):
    INT32 = "int32"
    INT64 = "int64"
    UINT32 = "uint32"
    UINT64 = "uint64"
    FLOAT = "float"
    BOOL = "bool"
    FIXED = "fixed"  # only as written: the checker makes it the ring's signed integer with a scale

    @property
    def is_int(self) -> bool:
        return self in _INT_BASES

    @property
    def width(self) -> int:
        """Bit width of an integer base; 32 for float (single precision), 1 for bool."""
        return _WIDTH[self]

    @property
    def signed(self) -> bool:
        return self in (Base.INT32, Base.INT64)

    def with_signedness(self, signed: bool) -> "Base":
        return _INT_BY_SHAPE[(self.width, signed)]

    def __str__(self) -> str:
        return self.value


_INT_BASES = frozenset({Base.INT32, Base.INT64, Base.UINT32, Base.UINT64})
_WIDTH = {Base.INT32: 32, Base.UINT32: 32, Base.INT64: 64, Base.UINT64: 64, Base.FLOAT: 32, Base.BOOL: 1}
_INT_BY_SHAPE = {(32, True): Base.INT32, (32, False): Base.UINT32, (64, True): Base.INT64, (64, False): Base.UINT64}


class Role(Enum):
    SERVER = "SERVER"
    CLIENT = "CLIENT"
    ALL = "ALL"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Type:
    """A checked type: base, label, array rank, const-ness (const only on arrays) and, for
    fixed point, the scale (number of fractional bits; None for every other type)."""

    base: Base
    label: Label
    rank: int = 0
    const: bool = False
    scale: Optional[int] = None

    @property
    def is_array(self) -> bool:
        return self.rank > 0

    @property
    def is_public(self) -> bool:
        return self.label is Label.PL

    @property
    def is_fixed(self) -> bool:
        return self.scale is not None

    def scalar(self) -> "Type":
        return Type(self.base, self.label, scale=self.scale)

    def element(self) -> "Type":
        """The type of `a[i]`: one rank less, const-ness kept for sub-arrays."""
        rank = self.rank - 1
        return Type(self.base, self.label, rank, self.const and rank > 0, self.scale)

    def relabel(self, label: Label) -> "Type":
        return Type(self.base, label, self.rank, self.const, self.scale)

    def rescaled(self, scale: Optional[int]) -> "Type":
        """The same type at another scale; None gives the plain integer that encodes it."""
        return Type(self.base, self.label, self.rank, self.const, scale)

    def __str__(self) -> str:
        base = f"fixed<{self.scale}>" if self.scale is not None else str(self.base)
        return f"{'const ' if self.const else ''}{base}_{self.label}" + "[]" * self.rank


def default_label(base: Base) -> Label:
    """EzPC's label for an unlabelled local, parameter, return or input type (§4.2)."""
    if base is Base.BOOL:
        return Label.BL
    if base is Base.FLOAT:
        return Label.FL
    return Label.AL
