"""How to fix a type mismatch: the `help:` lines of E0401 and E0402, chosen from the two types.

Pure functions of two types; they explain EzPC's conversion rules (§4.4) in terms of the case at
hand instead of restating the whole table.
"""

from __future__ import annotations

from ezlang.types import Base, Label, Type

_CONVERSIONS = ("EzPC converts only labels (pl → al/bl/fl, al ↔ bl), signedness at the same width, and "
                "public int32 → int64 / uint32 → uint64")
_SUFFIX = {Base.INT32: "", Base.UINT32: "u", Base.INT64: "L", Base.UINT64: "uL"}


def mismatch_help(src: Type, dst: Type) -> str:
    """Why a value of type `src` cannot be stored where `dst` is expected, and what to write."""
    if src.is_array != dst.is_array:
        return ("index the array to get a scalar" if src.is_array
                else "an array is expected here: pass a whole array or a partially indexed one")
    if src.is_array:
        if src.const and not dst.const and src.base is dst.base and src.label is dst.label:
            return "a const array cannot be passed where a non-const array is expected"
        return ("arrays are passed by reference and never converted: element type, label"
                + (", scale" if src.is_fixed or dst.is_fixed else "") + " and number of dimensions must match exactly")
    if src.label is not dst.label and src.label.is_secret:
        return label_help(src, dst.label)
    return _scalar_help(src, dst)


def label_help(src: Type, dst: Label) -> str:
    """Why a value of type `src` was not converted to label `dst`."""
    if Label.FL in (src.label, dst) and src.label.is_secret:
        return "fl (SecFloat) values convert to and from no other secret label"
    if src == Type(Base.BOOL, Label.AL):
        return "a comparison computed under al yields a bool_al, which converts to nothing: drop the `_al` label"
    return f"inside `<l |> l>` nothing is converted automatically: convert explicitly with `<{src.label} |> {dst}>`"


def _fixed_help(a: Type, b: Type) -> str:
    if Base.FLOAT in (a.base, b.base):
        return ("fixed point and float never convert into each other: write a constant as a real literal "
                "(`0.75`), which takes the fixed-point type of its context")
    return "fixed point combines only with fixed point, signed integers of the ring and number literals"


def _scalar_help(src: Type, dst: Type) -> str:
    if src.is_fixed or dst.is_fixed:
        return _fixed_help(src, dst)
    if not (src.base.is_int and dst.base.is_int):
        return "EzPC has no conversion between bool, integer and float types"
    if src.base.width == dst.base.width:
        return _CONVERSIONS
    if dst.label.is_secret:
        return (f"secret integers never change width: use a value of type {dst.base}"
                + (f" (a literal `1{_SUFFIX[dst.base]}`)" if src.label is Label.PL else ""))
    if src.base.width > dst.base.width:
        return "public integers widen (int32 → int64) but never narrow"
    return (f"public widening keeps the signedness (int32 → int64, uint32 → uint64): "
            f"write the value as {dst.base}, e.g. a literal with suffix `{_SUFFIX[dst.base]}`")


def join_help(a: Type, b: Type, construct: str) -> str:
    """Why two operands (construct "operator") or ternary branches ("ternary") have no common type."""
    if a.label is not b.label and construct == "ternary":
        return (f"one branch is {a.label} and the other {b.label}, and a public condition converts neither: "
                f"convert one branch, e.g. `<{a.label} |> {b.label}> x`")
    if a.label is not b.label:
        return f"one side is {a.label} and the other {b.label}: label the operator (`_al` or `_bl`)"
    if a.is_fixed or b.is_fixed:
        return _fixed_help(a, b)
    if not (a.base.is_int and b.base.is_int):
        return "EzPC has no conversion between bool, integer and float types"
    if a.base.signed != b.base.signed:
        return ("EzPC never mixes signed and unsigned operands: make both the same, e.g. with literal "
                "suffixes `5u` / `5uL` for unsigned")
    if a.label.is_secret:
        return "secret integers all have the --bitlen width: use 64-bit literals (`1L`) with 64-bit secrets"
    return _CONVERSIONS
