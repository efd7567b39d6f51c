"""The cleartext meaning of every EzPC operator and conversion, as LLVM instructions.

Why: public values are computed in the clear by every backend, and the cleartext backend computes
secret values the same way. ezlang.semantics is the specification; this module is its LLVM
transcription, one function per operator family.

Assumes: operands are SSA values in the cleartext representation of their base (abi.value_type),
and shift amounts and exponents are not negative (the caller checks: the error needs a position).
Guarantees: every result equals ezlang.semantics bit for bit, with no undefined behaviour and no
poison: a division by zero or an oversized shift is selected away, never executed.
"""

from __future__ import annotations

from typing import Callable

from llvmlite import ir

from ezlang.codegen.abi import I1, value_type
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Base

Emit = Callable[[ir.IRBuilder, ir.Value, ir.Value], ir.Value]

_RING: dict[BinaryOp, Emit] = {
    BinaryOp.ADD: lambda b, x, y: b.add(x, y, name="add"),
    BinaryOp.SUB: lambda b, x, y: b.sub(x, y, name="sub"),
    BinaryOp.MUL: lambda b, x, y: b.mul(x, y, name="mul"),
    BinaryOp.BAND: lambda b, x, y: b.and_(x, y, name="and"),
    BinaryOp.BOR: lambda b, x, y: b.or_(x, y, name="or"),
    BinaryOp.BXOR: lambda b, x, y: b.xor(x, y, name="xor"),
}
_FLOAT: dict[BinaryOp, Emit] = {
    BinaryOp.ADD: lambda b, x, y: b.fadd(x, y, name="fadd"),
    BinaryOp.SUB: lambda b, x, y: b.fsub(x, y, name="fsub"),
    BinaryOp.MUL: lambda b, x, y: b.fmul(x, y, name="fmul"),
    BinaryOp.DIV: lambda b, x, y: b.fdiv(x, y, name="fdiv"),
}
_BOOL: dict[BinaryOp, Emit] = {
    BinaryOp.AND: lambda b, x, y: b.and_(x, y, name="and"),
    BinaryOp.OR: lambda b, x, y: b.or_(x, y, name="or"),
    BinaryOp.XOR: lambda b, x, y: b.xor(x, y, name="xor"),
}
_COMPARE = {BinaryOp.LT: "<", BinaryOp.GT: ">", BinaryOp.LE: "<=", BinaryOp.GE: ">=", BinaryOp.EQ: "=="}
_NAMES = {BinaryOp.LT: "lt", BinaryOp.GT: "gt", BinaryOp.LE: "le", BinaryOp.GE: "ge", BinaryOp.EQ: "eq"}
POW_PREFIX = "ezrt.pow."


def constant(base: Base, value: object) -> ir.Constant:
    """A canonical value of `base` as an LLVM constant (unsigned values by their bit pattern)."""
    ty = value_type(base)
    if base is Base.FLOAT:
        return ir.Constant(ty, float(value))  # type: ignore[arg-type]
    number = int(value)  # type: ignore[call-overload]
    width = 1 if base is Base.BOOL else base.width
    if width > 1 and number >= 1 << (width - 1):
        number -= 1 << width
    return ir.Constant(ty, number)


def binary(b: ir.IRBuilder, op: BinaryOp, base: Base, x: ir.Value, y: ir.Value) -> ir.Value:
    """`x op y` for operands of `base`, every operator but the shifts; comparisons give an i1."""
    if op in _COMPARE:
        return _compare(b, op, base, x, y)
    if base is Base.BOOL:
        return _BOOL[op](b, x, y)
    if base is Base.FLOAT:
        return _FLOAT[op](b, x, y)
    if op is BinaryOp.DIV:
        return _divide(b, base, x, y)
    if op is BinaryOp.MOD:
        return _remainder(b, base, x, y)
    if op is BinaryOp.POW:
        return b.call(power_function(b.module, base), [x, y], name="pow")
    return _RING[op](b, x, y)


def _compare(b: ir.IRBuilder, op: BinaryOp, base: Base, x: ir.Value, y: ir.Value) -> ir.Value:
    name = _NAMES[op]
    if base is Base.FLOAT:
        return b.fcmp_ordered(_COMPARE[op], x, y, name=name)  # false on NaN, as in Python
    if base is Base.BOOL:
        raise ValueError(f"`{op}` is not defined on bool operands (ill-typed program)")
    compare = b.icmp_signed if base.signed else b.icmp_unsigned
    return compare(_COMPARE[op], x, y, name=name)


def _int_min(base: Base) -> ir.Constant:
    return ir.Constant(value_type(base), -(1 << (base.width - 1)))


def _safe_divisor(b: ir.IRBuilder, base: Base, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(y == 0, a divisor that is 1 wherever y is 0 or the signed quotient would overflow)."""
    ty = x.type
    by_zero = b.icmp_unsigned("==", y, ir.Constant(ty, 0), name="by.zero")
    unsafe = by_zero
    if base.signed:
        overflow = b.and_(b.icmp_signed("==", x, _int_min(base)), b.icmp_signed("==", y, ir.Constant(ty, -1)),
                          name="overflow")
        unsafe = b.or_(by_zero, overflow, name="unsafe")
    return by_zero, b.select(unsafe, ir.Constant(ty, 1), y, name="divisor")


def _divide(b: ir.IRBuilder, base: Base, x: ir.Value, y: ir.Value) -> ir.Value:
    """Truncating division; x / 0 is all ones and MIN / -1 is MIN (x / 1 with the safe divisor)."""
    by_zero, divisor = _safe_divisor(b, base, x, y)
    quotient = (b.sdiv if base.signed else b.udiv)(x, divisor, name="quot")
    return b.select(by_zero, ir.Constant(x.type, -1), quotient, name="div")


def _remainder(b: ir.IRBuilder, base: Base, x: ir.Value, y: ir.Value) -> ir.Value:
    """C remainder; x % 0 is x and MIN % -1 is 0 (x % 1 with the safe divisor)."""
    by_zero, divisor = _safe_divisor(b, base, x, y)
    remainder = (b.srem if base.signed else b.urem)(x, divisor, name="rem")
    return b.select(by_zero, x, remainder, name="mod")


def shift(b: ir.IRBuilder, op: BinaryOp, base: Base, x: ir.Value, amount: ir.Value) -> ir.Value:
    """`x op amount` for a non-negative amount of any integer type; amounts ≥ the width give 0,
    or all sign bits for a signed `>>`."""
    width = base.width
    ty = x.type
    big = b.icmp_unsigned(">=", amount, ir.Constant(amount.type, width), name="big")
    fitted = resize(b, amount, ty)
    if op is BinaryOp.SHR and base.signed:
        return b.ashr(x, b.select(big, ir.Constant(ty, width - 1), fitted, name="amount"), name="shr")
    safe = b.select(big, ir.Constant(ty, 0), fitted, name="amount")
    shifted = b.shl(x, safe, name="shl") if op is BinaryOp.SHL else b.lshr(x, safe, name="shr")
    return b.select(big, ir.Constant(ty, 0), shifted, name=str(op.name).lower())


def resize(b: ir.IRBuilder, value: ir.Value, ty: ir.IntType, signed: bool = False) -> ir.Value:
    """`value` truncated or extended (sign-extended when `signed`) to the integer type `ty`."""
    if value.type.width == ty.width:
        return value
    if value.type.width > ty.width:
        return b.trunc(value, ty, name="trunc")
    return (b.sext if signed else b.zext)(value, ty, name="ext")


def unary(b: ir.IRBuilder, op: UnaryOp, base: Base, x: ir.Value) -> ir.Value:
    if (op is UnaryOp.NOT and base is Base.BOOL) or (op is UnaryOp.BNOT and base.is_int):
        return b.not_(x, name="not")
    raise ValueError(f"`{op}` is not defined on {base} operands (ill-typed program)")


def convert(b: ir.IRBuilder, src: Base, dst: Base, x: ir.Value) -> ir.Value:
    """An integer keeps its value when widened (extension by the source's signedness) and is then
    reinterpreted in the destination's signedness: ezlang.semantics.convert_fn in bits."""
    if src is dst:
        return x
    if src.is_int and dst.is_int:
        return resize(b, x, value_type(dst), signed=src.signed)
    raise ValueError(f"no conversion from {src} to {dst} (ill-typed program)")


def select(b: ir.IRBuilder, cond: ir.Value, then: ir.Value, other: ir.Value) -> ir.Value:
    return b.select(cond, then, other, name="select")


def power_function(module: ir.Module, base: Base) -> ir.Function:
    """`@ezrt.pow.iW(x, e)`: x^e modulo 2^W by squaring, the exponent read as unsigned."""
    ty = value_type(base)
    name = f"{POW_PREFIX}i{base.width}"
    existing = module.globals.get(name)
    if isinstance(existing, ir.Function):
        return existing
    fn = ir.Function(module, ir.FunctionType(ty, [ty, ty]), name)
    fn.linkage = "internal"
    x, e = fn.args
    x.name, e.name = "x", "e"
    entry, loop, step, done = (fn.append_basic_block(n) for n in ("entry", "loop", "step", "done"))
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    result, square, rest = (b.phi(ty, name=n) for n in ("result", "square", "rest"))
    b.cbranch(b.icmp_unsigned("==", rest, ir.Constant(ty, 0), name="finished"), done, step)
    b.position_at_end(step)
    odd = b.trunc(rest, I1, name="odd")
    next_result = b.select(odd, b.mul(result, square, name="times"), result, name="result.next")
    next_square = b.mul(square, square, name="square.next")
    next_rest = b.lshr(rest, ir.Constant(ty, 1), name="rest.next")
    b.branch(loop)
    for phi, start, again in ((result, ir.Constant(ty, 1), next_result), (square, x, next_square),
                              (rest, e, next_rest)):
        phi.add_incoming(start, entry)
        phi.add_incoming(again, step)
    b.position_at_end(done)
    b.ret(result)
    return fn
