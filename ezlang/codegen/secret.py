"""The one hook through which the emitter computes on secret values: SecretOps.

Why: the cleartext backend and the secure backend differ only in what an operation on a secret
value becomes. The emitter (ezlang.codegen.exprs, .stmts) lowers control flow, public values,
arrays, calls and errors itself, and calls a SecretOps method for every secret operation: a
binary or unary operator with a secret label, a selection under a secret condition, a conversion
into a secret label (public→secret, al↔bl), and reading or writing a secret input or output. A
backend is one implementation of this interface, never a copy of the emitter.

`ClearSecretOps` erases labels and computes every secret value in the clear (like EzPC's CPP
backend), so compiled programs agree with the reference interpreter bit for bit. The secure
backend will implement the same methods over shares: local steps (additions of arithmetic
shares, XOR of boolean shares, multiplication by a public value) as native instructions,
interactive steps as calls into runtime/include/ezrt.h with the runtime handle kept in the
context's `runtime` field (docs/codegen.md).

Assumes: operands are in this implementation's representation of their type (`value_type`).
Guarantees: results are in that representation; any status that can fail is returned as an i32
(abi.STATUS_*), never thrown.
"""

from __future__ import annotations

from typing import Optional, Protocol

from llvmlite import ir

from ezlang.codegen import abi, arith
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Base, Label, Type


class SecretOps(Protocol):
    """Every operation on a secret value. `b` is positioned where the code goes; `ctx` is the run
    context (for the runtime handle); types are scalar types whose label is secret."""

    def value_type(self, ty: Type) -> ir.Type:
        """The SSA representation of a secret scalar of type `ty`."""
        ...

    def memory_type(self, ty: Type) -> ir.Type:
        """The representation of one element of a secret array in memory."""
        ...

    def zero(self, ty: Type) -> ir.Constant:
        """The value of an uninitialised secret scalar (a valid sharing of 0)."""
        ...

    def binary(self, b: ir.IRBuilder, ctx: ir.Value, op: BinaryOp, label: Label, operand: Type,
               x: ir.Value, y: ir.Value) -> ir.Value:
        """`x op_label y` for operands of type `operand`; not a shift."""
        ...

    def shift(self, b: ir.IRBuilder, ctx: ir.Value, op: BinaryOp, label: Label, operand: Type,
              x: ir.Value, amount: ir.Value) -> ir.Value:
        """`x op_label amount`; `amount` is a public, non-negative integer of any width."""
        ...

    def unary(self, b: ir.IRBuilder, ctx: ir.Value, op: UnaryOp, label: Label, operand: Type,
              x: ir.Value) -> ir.Value:
        ...

    def relu_rescale(self, b: ir.IRBuilder, ctx: ir.Value, operand: Type, x: ir.Value, shift: int) -> ir.Value:
        """`(x > 0 ? x : 0) >> shift` for a secret signed `operand` and a literal shift >= 0: the
        fused form ezlang.passes.fused_ops recognises."""
        ...

    def select(self, b: ir.IRBuilder, ctx: ir.Value, ty: Type, cond: ir.Value, then: ir.Value,
               other: ir.Value) -> ir.Value:
        """`cond ? then : other` under a secret condition: both sides are already computed."""
        ...

    def convert(self, b: ir.IRBuilder, ctx: ir.Value, src: Type, dst: Type, x: ir.Value) -> ir.Value:
        """`x` of type `src` (public or secret) as a value of the secret type `dst`."""
        ...

    def input(self, b: ir.IRBuilder, ctx: ir.Value, site: int, ty: Type, dims: Optional[ir.Value],
              count: ir.Value, buffer: ir.Value) -> ir.Value:
        """Fills `buffer` (count elements of the secret type `ty`) with a party's input; a status."""
        ...

    def output(self, b: ir.IRBuilder, ctx: ir.Value, site: int, ty: Type, dims: Optional[ir.Value],
               count: ir.Value, buffer: ir.Value) -> ir.Value:
        """Reveals `buffer` (count elements of the secret type `ty`) to the site's recipient; a status."""
        ...


class ClearSecretOps:
    """Labels erased: a secret value is its cleartext, computed exactly as a public one."""

    def value_type(self, ty: Type) -> ir.Type:
        return abi.value_type(ty.base)

    def memory_type(self, ty: Type) -> ir.Type:
        return abi.memory_type(ty.base)

    def zero(self, ty: Type) -> ir.Constant:
        return arith.constant(ty.base, 0)

    def binary(self, b: ir.IRBuilder, ctx: ir.Value, op: BinaryOp, label: Label, operand: Type,
               x: ir.Value, y: ir.Value) -> ir.Value:
        return arith.binary(b, op, operand.base, x, y)

    def shift(self, b: ir.IRBuilder, ctx: ir.Value, op: BinaryOp, label: Label, operand: Type,
              x: ir.Value, amount: ir.Value) -> ir.Value:
        return arith.shift(b, op, operand.base, x, amount)

    def unary(self, b: ir.IRBuilder, ctx: ir.Value, op: UnaryOp, label: Label, operand: Type,
              x: ir.Value) -> ir.Value:
        return arith.unary(b, op, operand.base, x)

    def relu_rescale(self, b: ir.IRBuilder, ctx: ir.Value, operand: Type, x: ir.Value, shift: int) -> ir.Value:
        zero = arith.constant(operand.base, 0)
        rectified = arith.select(b, b.icmp_signed(">", x, zero, name="positive"), x, zero)
        return arith.shift(b, BinaryOp.SHR, operand.base, rectified, arith.constant(Base.UINT64, shift))

    def select(self, b: ir.IRBuilder, ctx: ir.Value, ty: Type, cond: ir.Value, then: ir.Value,
               other: ir.Value) -> ir.Value:
        return arith.select(b, cond, then, other)

    def convert(self, b: ir.IRBuilder, ctx: ir.Value, src: Type, dst: Type, x: ir.Value) -> ir.Value:
        return arith.convert(b, src.base, dst.base, x)

    def input(self, b: ir.IRBuilder, ctx: ir.Value, site: int, ty: Type, dims: Optional[ir.Value],
              count: ir.Value, buffer: ir.Value) -> ir.Value:
        return abi.call_host(b, ctx, "read_input", site, dims, count, buffer)

    def output(self, b: ir.IRBuilder, ctx: ir.Value, site: int, ty: Type, dims: Optional[ir.Value],
               count: ir.Value, buffer: ir.Value) -> ir.Value:
        return abi.call_host(b, ctx, "write_output", site, dims, count, buffer)
