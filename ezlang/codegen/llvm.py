"""Typed program → LLVM module (llvmlite): one LLVM function per EzPC function, plus the entry.

Why: this is the code generator's front door. It declares every function first (so calls and
recursion need no order), folds the global constants it can, lowers each body with StmtEmitter,
and writes `ezpc_entry`, which sets the stack limit, evaluates the remaining global constants in
program order and runs `main`. No optimisation and no JIT here (ezlang.codegen.jit does both).

Assumes: a typed program (ezlang.passes.pipeline) with a `main`.
Guarantees: an EmittedModule whose IR verifies, whose functions are named `ezpc.<name>` (the
prefix keeps EzPC names clear of C library symbols), and whose tables describe every I/O and
error site; or CompileError when the program uses something compiled code cannot run (an extern
without a compiled implementation, a missing `main`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from llvmlite import ir

from ezlang.codegen import abi, arith
from ezlang.codegen.abi import I1, I32, I64, PTR
from ezlang.codegen.function import (CALL_FAILED, FAIL, ArrayVar, Callee, GlobalConst, Layout, ModuleContext,
                                     ScalarVar)
from ezlang.codegen.secret import ClearSecretOps, SecretOps
from ezlang.codegen.sites import Tables
from ezlang.codegen.exprs import COMPARISONS, join_operands
from ezlang.codegen.stmts import StmtEmitter
from ezlang.diagnostics import CompileError, Diagnostics
from ezlang.interp.result import NO_MAIN
from ezlang.semantics import RingError, binary, convert, is_shift, to_f32, unary, wrap
from ezlang.syntax import ast
from ezlang.types import Label, Role, Type

FUNCTION_PREFIX = "ezpc."
_ROLE_VALUES = {Role.SERVER: 0, Role.CLIENT: 1, Role.ALL: 2}


@dataclass(frozen=True)
class EmittedModule:
    """LLVM IR text (as llvmlite writes it) and the Python-side tables of its sites."""

    ir: str
    tables: Tables


def emit_module(program: ast.Program, secret: Optional[SecretOps] = None, *, triple: str = "",
                data_layout: str = "") -> EmittedModule:
    """Lowers a typed program; `secret` defaults to the cleartext backend. With a target's triple
    and data layout, LLVM knows the alignment of every load and store from the start."""
    ops: SecretOps = secret if secret is not None else ClearSecretOps()
    module = ir.Module(name=program.file.name, context=ir.Context())
    module.triple = triple or module.triple
    module.data_layout = data_layout
    mx = ModuleContext(module, ops, Layout(ops), Diagnostics())
    attach = getattr(ops, "attach", None)
    if attach is not None:  # a backend that reads the sites' roles (ezlang.codegen.secure)
        attach(mx.tables)
    _declare_support(module)
    for node in program.globals:
        if isinstance(node, ast.Extern):
            mx.externs[node.name] = node
        elif isinstance(node, ast.FunDef):
            mx.functions[node.name] = Callee(_declare(module, node, mx.layout), node)
    runtime_globals = _fold_globals(mx, [g for g in program.globals if isinstance(g, ast.GlobalConst)])
    for callee in mx.functions.values():
        _define(mx, callee)
    _define_entry(mx, runtime_globals, program)
    if mx.diags.has_errors:
        raise CompileError(mx.diags)
    return EmittedModule(str(module), mx.tables.freeze())


# ---------------------------------------------------------------- functions


def _declare(module: ir.Module, node: ast.FunDef, layout: Layout) -> ir.Function:
    """`i32 @ezpc.f(ptr ctx, params..., [ptr result])`: an array parameter is its data pointer and
    one i64 per dimension; a result is written through the last pointer."""
    types: list[ir.Type] = [PTR]
    names = ["ctx"]
    for param in node.params:
        ty = ast.declared_type(param.type)
        if ty.rank:
            types += [PTR] + [I64] * ty.rank
            names += [f"{param.name}.data"] + [f"{param.name}.dim{k}" for k in range(ty.rank)]
        else:
            types.append(layout.value_type(ty))
            names.append(param.name)
    if node.ret is not None:
        types.append(PTR)
        names.append("result")
    fn = ir.Function(module, ir.FunctionType(I32, types), FUNCTION_PREFIX + node.name)
    fn.linkage = "internal"
    for arg, name in zip(fn.args, names):
        arg.name = name
    return fn


def _define(mx: ModuleContext, callee: Callee) -> None:
    node, fn = callee.node, callee.fn
    ret = None if node.ret is None else ast.declared_type(node.ret)
    emitter = StmtEmitter(mx, fn, fn.args[0], fn.args[-1] if ret is not None else None, ret)
    args = iter(fn.args[1:])
    for param in node.params:
        ty = ast.declared_type(param.type)
        if ty.rank:
            data = next(args)
            emitter.declare(param.name, ArrayVar(data, tuple(next(args) for _ in range(ty.rank)), ty, owned=False))
            continue
        slot = emitter.alloca(mx.layout.value_type(ty), param.name)  # parameters are assignable
        emitter.entry.store(next(args), slot)
        emitter.declare(param.name, ScalarVar(slot, ty))
    emitter.body(node.body)
    emitter.finish(stack_check=True)


def _define_entry(mx: ModuleContext, runtime_globals: list[ast.GlobalConst], program: ast.Program) -> None:
    fn = ir.Function(mx.module, ir.FunctionType(I32, [PTR]), abi.ENTRY)
    fn.args[0].name = "ctx"
    emitter = StmtEmitter(mx, fn, fn.args[0])
    b = emitter.b
    frame = b.ptrtoint(b.call(mx.helper("llvm.frameaddress.p0"), [ir.Constant(I32, 0)], name="frame"), I64, name="sp")
    budget = b.load(abi.field(b, emitter.ctx, "stack_budget"), typ=I64, name="budget")
    room = b.icmp_unsigned(">", frame, budget, name="room")
    b.store(b.select(room, b.sub(frame, budget), ir.Constant(I64, 0), name="limit"),
            abi.field(b, emitter.ctx, "stack_limit"))
    for constant in runtime_globals:
        binding = mx.globals[constant.name]
        b = emitter.b
        b.store(emitter.expr_as(constant.value, binding.ty), binding.value)
    main = mx.functions.get("main")
    if main is None:
        mx.diags.error(NO_MAIN, f"{program.file.name} has no `main` function to run", None)
    else:
        emitter.call("main", (), main.node.name_span)
    emitter.finish(stack_check=False)


# ---------------------------------------------------------------- global constants


def _fold_globals(mx: ModuleContext, constants: list[ast.GlobalConst]) -> list[ast.GlobalConst]:
    """Binds every global constant; returns those that must be evaluated at run time (in order)."""
    values: dict[str, Any] = {}
    runtime: list[ast.GlobalConst] = []
    for constant in constants:
        ty = Type(constant.base, Label.PL)
        value = _fold_as(constant.value, ty, values)
        if value is not None:
            values[constant.name] = value
            mx.globals[constant.name] = GlobalConst(arith.constant(ty.base, value), ty, stored=False)
            continue
        variable = ir.GlobalVariable(mx.module, mx.layout.value_type(ty), f"global.{constant.name}")
        variable.linkage = "internal"
        variable.initializer = mx.layout.zero(ty)
        mx.globals[constant.name] = GlobalConst(variable, ty, stored=True)
        runtime.append(constant)
    return runtime


def _fold_as(node: ast.Expr, ty: Type, env: dict[str, Any]) -> Any:
    value = _fold(node, env)
    return None if value is None or node.ty is None else convert(node.ty, ty, value)


def _fold(node: ast.Expr, env: dict[str, Any]) -> Any:
    """The value of a constant expression by ezlang.semantics, or None if it is not constant
    (a call or index) or would fail (its error is then raised at run time, in program order)."""
    ty = node.ty
    assert ty is not None
    if isinstance(node, ast.IntLit):
        return wrap(node.value, ty.base)
    if isinstance(node, ast.FloatLit):
        return to_f32(node.value)
    if isinstance(node, (ast.BoolLit, ast.RoleLit)):
        return bool(node.value) if isinstance(node, ast.BoolLit) else _ROLE_VALUES[node.role]
    if isinstance(node, ast.Var):
        return env.get(node.name)
    if isinstance(node, (ast.Convert, ast.Subsume)):
        return _fold_as(node.operand, ty, env)
    if isinstance(node, ast.Unary):
        operand = _fold_as(node.operand, ty, env)
        return None if operand is None else unary(node.op, ty, operand)
    if isinstance(node, ast.Binary):
        return _fold_binary(node, ty, env)
    if isinstance(node, ast.Ternary):
        cond = _fold(node.cond, env)
        return None if cond is None else _fold_as(node.then if cond else node.other, ty, env)
    return None


def _fold_binary(node: ast.Binary, ty: Type, env: dict[str, Any]) -> Any:
    if is_shift(node.op):
        operand, left, right = ty, _fold_as(node.left, ty, env), _fold(node.right, env)
    else:
        assert node.left.ty is not None and node.right.ty is not None
        operand = join_operands(node.left.ty, node.right.ty) if node.op in COMPARISONS else ty
        left, right = _fold_as(node.left, operand, env), _fold_as(node.right, operand, env)
    if left is None or right is None:
        return None
    try:
        return binary(node.op, operand, left, right)
    except RingError:
        return None


# ---------------------------------------------------------------- support functions


def _declare_support(module: ir.Module) -> None:
    """The C library allocator, two intrinsics, and the error recorders every function shares."""
    ir.Function(module, ir.FunctionType(PTR, [I64, I64]), "calloc")
    ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), "free")
    ir.Function(module, ir.FunctionType(PTR, [I32]), "llvm.frameaddress.p0")
    ir.Function(module, ir.FunctionType(ir.LiteralStructType([I64, I1]), [I64, I64]), "llvm.umul.with.overflow.i64")
    _define_fail(module)
    _define_call_failed(module)


def _define_fail(module: ir.Module) -> None:
    """`i32 @ezrt.fail(ctx, site, a, b)`: records an error site and its operands; returns STATUS_ERROR."""
    fn = ir.Function(module, ir.FunctionType(I32, [PTR, I32, I64, I64]), FAIL)
    fn.linkage = "internal"
    fn.attributes.add("cold")
    fn.attributes.add("noinline")
    ctx, site, first, second = fn.args
    for arg, name in zip(fn.args, ("ctx", "site", "a", "b")):
        arg.name = name
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.store(site, abi.field(b, ctx, "error_site"))
    values = abi.field(b, ctx, "error_values")
    for k, value in enumerate((first, second)):
        b.store(value, b.gep(values, [ir.Constant(I32, 0), ir.Constant(I32, k)], source_etype=ir.ArrayType(I64, 2)))
    b.ret(ir.Constant(I32, abi.STATUS_ERROR))


def _define_call_failed(module: ir.Module) -> None:
    """`i32 @ezrt.call_failed(ctx, status, site)`: a callee's error passes through; its
    STATUS_NO_RETURN or STATUS_TOO_DEEP becomes an error of the call site."""
    fn = ir.Function(module, ir.FunctionType(I32, [PTR, I32, I32]), CALL_FAILED)
    fn.linkage = "internal"
    fn.attributes.add("cold")
    fn.attributes.add("noinline")
    ctx, status, site = fn.args
    for arg, name in zip(fn.args, ("ctx", "status", "site")):
        arg.name = name
    entry, record, passed = (fn.append_basic_block(n) for n in ("entry", "record", "pass"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_unsigned("==", status, ir.Constant(I32, abi.STATUS_ERROR), name="error"), passed, record)
    b.position_at_end(passed)
    b.ret(status)
    b.position_at_end(record)
    fail = module.globals[FAIL]
    b.ret(b.call(fail, [ctx, site, b.zext(status, I64, name="code"), ir.Constant(I64, 0)], name="failed"))
