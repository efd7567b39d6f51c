"""Calls of the Athos tensor library's externs, lowered onto the runtime's native functions.

Why: an Athos program spends nearly all its time in a few tensor functions (MatMul2D,
convolutions, Relu, pools); run element by element they would cost a round per element. The
runtime implements each one vectorised over whole arrays (runtime/src/athos_*.c, one or two
rounds per layer), so a call becomes one runtime call with the extern's own arguments: every
public size or flag as an int64_t, every secret array as its data pointer and element count.
All three roles make the same call; the dealer's arrays hold masks.

Assumes: a typed program; the extern's declaration matches one of the library's signatures
(ezlang.lib.athos: the same rule as the interpreter's) and returns nothing, else `native_function`
is None and the secure backend refuses the call (E0701).
Guarantees: the arguments are evaluated in order, as the interpreter does, before the call; a
failing call (bad sizes, a lost peer) leaves the function with STATUS_ERROR and the session's
message, like every other runtime call of the secure backend.
"""

from __future__ import annotations

from typing import Any, Optional

from llvmlite import ir

from ezlang.codegen import abi, arith
from ezlang.codegen.abi import I32, I64, PTR
from ezlang.lib.athos import ATHOS_EXTERNS, _ring
from ezlang.syntax import ast
from ezlang.types import Base

# Athos extern -> the runtime function implementing it (ezrt.h, "the Athos tensor library").
NATIVE: dict[str, str] = {
    "MatMul2D": "ezrt_athos_matmul2d",
    "ArgMax": "ezrt_athos_argmax",
    "Relu": "ezrt_athos_relu",
    "Floor": "ezrt_athos_floor",
    "MaxPool": "ezrt_athos_maxpool",
    "AvgPool": "ezrt_athos_avgpool",
    "ElemWiseSecretSharedVectorMult": "ezrt_athos_elemwise_mult",
    "ElemWiseActModelVectorMult": "ezrt_athos_elemwise_mult",
    "ElemWiseVectorPublicDiv": "ezrt_athos_elemwise_public_div",
    "ScaleUp": "ezrt_athos_scale_up",
    "ScaleDown": "ezrt_athos_scale_down",
    "Conv2DWrapper": "ezrt_athos_conv2d",
    "Conv2DGroupWrapper": "ezrt_athos_conv2d_group",
    "Conv3DWrapper": "ezrt_athos_conv3d",
    "ConvTranspose2DWrapper": "ezrt_athos_conv_transpose2d",
    "ConvTranspose3DWrapper": "ezrt_athos_conv_transpose3d",
}
# Parameters the library accepts but that mean nothing (docs/athos.md): evaluated, not passed.
_IGNORED = frozenset({"consSF"})


def native_function(extern: ast.Extern) -> Optional[tuple[str, tuple[str, ...]]]:
    """The runtime function and the parameter kinds (P, B, S<k> or "-" for ignored) of an extern
    the runtime implements natively, or None."""
    library = ATHOS_EXTERNS.get(extern.name)
    if library is None or extern.name not in NATIVE or extern.ret is not None:
        return None
    for signature in library.signatures:
        params = [p.split() for p in signature.split(", ")]
        if _ring(params, extern) is not None:
            return NATIVE[extern.name], tuple("-" if name in _IGNORED else kind for kind, name in params)
    return None


def lower_call(emitter: Any, extern: ast.Extern, args: tuple[ast.Expr, ...]) -> bool:
    """Emits a native call of `extern` with `args` through `emitter` (an ExprEmitter); False
    (and nothing emitted) if the runtime has no native implementation of it."""
    native = native_function(extern)
    if native is None:
        return False
    name, kinds = native
    b = emitter.b
    values = [emitter.expr_as(arg, ast.declared_type(p.type)) for p, arg in zip(extern.params, args)]
    arguments: list[ir.Value] = [b.load(abi.field(b, emitter.ctx, "runtime"), typ=PTR, name="session")]
    for kind, value, param in zip(kinds, values, extern.params):
        if kind == "-":
            continue
        if kind.startswith("S"):
            arguments.extend([value.data, _count(b, value.dims)])
        else:
            base = ast.declared_type(param.type).base
            arguments.append(arith.resize(b, value, I64, signed=base is not Base.BOOL and base.signed))
    status = b.call(_declare(b.module, name, arguments), arguments, name=f"{extern.name}.status")
    failed, passed = b.function.append_basic_block("athos.fail"), b.function.append_basic_block("athos.ok")
    b.cbranch(b.icmp_unsigned("==", status, ir.Constant(I32, 0)), passed, failed)
    b.position_at_end(failed)
    b.ret(ir.Constant(I32, abi.STATUS_ERROR))
    b.position_at_end(passed)
    return True


def _count(b: ir.IRBuilder, dims: tuple[ir.Value, ...]) -> ir.Value:
    """The element count of an array: the product of its dimensions (checked not to overflow
    when the array was allocated)."""
    count: ir.Value = ir.Constant(I64, 1)
    for dim in dims:
        count = b.mul(count, dim, name="athos.count")
    return count


def _declare(module: ir.Module, name: str, arguments: list[ir.Value]) -> ir.Function:
    if name in module.globals:
        return module.globals[name]
    return ir.Function(module, ir.FunctionType(I32, [a.type for a in arguments]), name)


__all__ = ["NATIVE", "lower_call", "native_function"]
