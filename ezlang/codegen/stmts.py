"""Typed statements → LLVM control flow (the emitter's statement half).

Why: control flow and memory are the same in every backend (conditions, loop bounds and array
sizes are public), so they are lowered here once; only operations on secret values and secret
I/O go through SecretOps.

Assumes: a typed program whose names the checker resolved with EzPC's scopes.
Guarantees: the dynamic semantics the interpreter implements (ezlang.interp.stmts): `for` bounds
are evaluated once and the loop variable is set from a hidden counter; a declaration zero-fills,
and an array is heap-allocated afresh on each execution and freed when its scope ends; dimensions
are checked one by one as they are evaluated; an input reads through its site after its
dimensions are evaluated; `return` stores the value and leaves through `exit`. A batch loop
(ezlang.passes.batch_rounds) is lowered by ezlang.codegen.batch as one vectorised operation, a
sum loop (ezlang.passes.batch_sums) by ezlang.codegen.sums as one matrix product.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from llvmlite import ir

from ezlang.codegen import abi
from ezlang.codegen.abi import I64, PTR
from ezlang.codegen.batch import lower_batch
from ezlang.codegen.exprs import ExprEmitter, widen
from ezlang.codegen.function import ArrayRef, ArrayVar, ScalarVar
from ezlang.codegen.sums import lower_sums
from ezlang.codegen.sites import DimensionSite, InputSite, OutputSite
from ezlang.interp.exprs import typed
from ezlang.passes.batch_matrices import sum_loop
from ezlang.passes.batch_rounds import batch_loop
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Base, Label, Type

_INT32_PL = Type(Base.INT32, Label.PL)


class StmtEmitter(ExprEmitter):
    """Emits the statements of one function body."""

    def body(self, stmts: tuple[ast.Stmt, ...]) -> None:
        for stmt in stmts:
            _STATEMENTS[type(stmt)](self, stmt)

    def scoped(self, stmts: tuple[ast.Stmt, ...]) -> None:
        self.push()
        self.body(stmts)
        self.free(self.pop())

    # ------------------------------------------------------------ declarations and assignment

    def _decl(self, node: ast.Decl) -> None:
        ty = ast.declared_type(node.type)
        if ty.rank:
            self.declare(node.name, self.allocate(node.name, node.type))
            return
        value = self.expr_as(node.init, ty) if node.init is not None else self.mx.layout.zero(ty)
        slot = self.alloca(self.mx.layout.value_type(ty), node.name)
        self.b.store(value, slot)
        self.declare(node.name, ScalarVar(slot, ty))

    def allocate(self, name: str, node: ast.TypeNode) -> ArrayVar:
        """A zero-filled array of the written type; its dimensions are evaluated and checked in
        order, before the name is declared (so they see the enclosing bindings)."""
        ty = ast.declared_type(node)
        dims = [self._dimension(d) for d in node.dims]
        count = self._element_count(dims, node.span)
        data = self.b.call(self.mx.helper("calloc"), [self._at_least_one(count), self._size_of(ty.scalar())],
                           name=f"{name}.mem")
        site = self.error_site(DimensionSite(node.span))
        self.fail_unless(self.b.icmp_unsigned("!=", data, ir.Constant(PTR, None), name="allocated"), site,
                         (ir.Constant(I64, 0),), "alloc")
        array = self.local_array(name, ty.rank, ty)
        self.b.store(data, array.data)
        for slot, dim in zip(array.dims, dims):
            self.b.store(dim, slot)
        return array

    def _size_of(self, element: Type) -> ir.Value:
        """The element's size in bytes, as the target lays it out (LLVM folds this to a constant)."""
        end = self.b.gep(ir.Constant(PTR, None), [ir.Constant(I64, 1)],
                         source_etype=self.mx.layout.memory_type(element), name="end")
        return self.b.ptrtoint(end, I64, name="size")

    def _dimension(self, node: ast.Expr) -> ir.Value:
        base = typed(node.ty, node).base
        value = widen(self.b, self.expr(node), base)
        if base.signed:
            ok = self.b.icmp_signed(">=", value, ir.Constant(I64, 0), name="nonneg")
            self.fail_unless(ok, self.error_site(DimensionSite(node.span)), (value,), "dim")
        return value

    def _element_count(self, dims: list[ir.Value], span: Span) -> ir.Value:
        """The product of the dimensions; one that overflows 63 bits cannot be allocated."""
        count: ir.Value = ir.Constant(I64, 1)
        multiply = self.mx.helper("llvm.umul.with.overflow.i64")
        site = self.error_site(DimensionSite(span))
        for dim in dims:
            product = self.b.call(multiply, [count, dim], name="count.ov")
            count = self.b.extract_value(product, 0, name="count")
            overflow = self.b.or_(self.b.extract_value(product, 1), self.b.icmp_signed("<", count, ir.Constant(I64, 0)),
                                  name="overflow")
            self.fail_unless(self.b.not_(overflow, name="fits"), site, (ir.Constant(I64, 0),), "size")
        return count

    def _at_least_one(self, count: ir.Value) -> ir.Value:
        """calloc(0, n) may return NULL, which must not read as a failed allocation."""
        empty = self.b.icmp_unsigned("==", count, ir.Constant(I64, 0), name="empty")
        return self.b.select(empty, ir.Constant(I64, 1), count, name="cells")

    def _assign(self, node: ast.Assign) -> None:
        target = node.target
        ty = typed(target.ty, target)
        if isinstance(target, ast.Var):
            binding = self.lookup(target.name)
            assert isinstance(binding, ScalarVar), "the checker allows assigning scalar variables only"
            self.b.store(self.expr_as(node.value, ty), binding.slot)
            return
        array: ArrayRef = self.expr(target.array)
        index_ty = typed(target.index.ty, target.index)
        position = widen(self.b, self.expr(target.index), index_ty.base)
        value = self.expr_as(node.value, ty)
        self.check_bounds(array, position, target, index_ty.base)
        self.mx.layout.store(self.b, value, self.element_pointer(array, position, ty), ty)

    # ------------------------------------------------------------ calls and returns

    def _call_stmt(self, node: ast.CallStmt) -> None:
        self.call(node.name, node.args, node.span)

    def _return(self, node: ast.Return) -> None:
        if node.value is not None:
            assert self.ret is not None and self.result is not None
            self.b.store(self.expr_as(node.value, self.ret), self.result)
        self.leave(abi.STATUS_OK)

    # ------------------------------------------------------------ control flow

    def _for(self, node: ast.For) -> None:
        plan = batch_loop(node)
        if plan is not None:
            lower_batch(self, node, plan)
            return
        sums = sum_loop(node)
        if sums is not None:
            lower_sums(self, node, sums)
            return
        lo, hi = self.expr_as(node.lo, _INT32_PL), self.expr_as(node.hi, _INT32_PL)
        counter = self.alloca(lo.type, f"{node.var}.next")
        self.b.store(lo, counter)
        head, body, done = self.block("for.head"), self.block("for.body"), self.block("for.done")
        self.b.branch(head)
        self.continue_at(head)
        current = self.b.load(counter, typ=lo.type, name=f"{node.var}.at")
        self.b.cbranch(self.b.icmp_signed("<", current, hi, name="more"), body, done)
        self.continue_at(body)
        self.push()
        variable = self.alloca(lo.type, node.var)
        self.b.store(current, variable)
        self.declare(node.var, ScalarVar(variable, _INT32_PL))
        self.body(node.body)
        self.free(self.pop())
        self._loop_back(head, lambda: self.b.store(self.b.add(current, ir.Constant(lo.type, 1), name="step"),
                                                   counter))
        self.continue_at(done)

    def _loop_back(self, head: ir.Block, step: Callable[[], None]) -> None:
        if not self.b.block.is_terminated:
            step()
            self.b.branch(head)

    def _while(self, node: ast.While) -> None:
        head, body, done = self.block("while.head"), self.block("while.body"), self.block("while.done")
        self.b.branch(head)
        self.continue_at(head)
        self.b.cbranch(self.expr(node.cond), body, done)
        self.continue_at(body)
        self.scoped(node.body)
        self._loop_back(head, lambda: None)
        self.continue_at(done)

    def _if(self, node: ast.If) -> None:
        cond = self.expr(node.cond)
        then, done = self.block("if.then"), self.block("if.done")
        other = self.block("if.else") if node.other is not None else done
        self.b.cbranch(cond, then, other)
        for block, branch in ((then, node.then), (other, node.other)):
            if branch is None:
                continue
            self.continue_at(block)
            self.scoped((branch,))
            if not self.b.block.is_terminated:
                self.b.branch(done)
        self.continue_at(done)

    def _block(self, node: ast.Block) -> None:
        self.body(node.body)

    # ------------------------------------------------------------ input and output

    def _input(self, node: ast.Input) -> None:
        ty = ast.declared_type(node.type)
        site = self.mx.tables.add_input(InputSite(node.span, node.name, node.role, ty))
        if ty.rank:
            array = self.allocate(node.name, node.type)
            ref = array.ref(self.b, node.name)
            self._transfer(self.mx.secret.input if ty.label.is_secret else _host_input, site, ty, ref)
            self.declare(node.name, array)
            return
        buffer = self.alloca(self.mx.layout.memory_type(ty), f"{node.name}.in")
        self._transfer(self.mx.secret.input if ty.label.is_secret else _host_input, site, ty, buffer)
        slot = self.alloca(self.mx.layout.value_type(ty), node.name)
        self.b.store(self.mx.layout.load(self.b, buffer, ty, node.name), slot)
        self.declare(node.name, ScalarVar(slot, ty))

    def _output(self, node: ast.Output) -> None:
        ty = typed(node.value.ty, node.value)
        value = self.expr(node.value)
        site = self.mx.tables.add_output(OutputSite(node.span, node.role, node.value.span.text, ty))
        if not isinstance(value, ArrayRef):
            buffer = self.alloca(self.mx.layout.memory_type(ty), "out")
            self.mx.layout.store(self.b, value, buffer, ty)
            value = buffer
        self._transfer(self.mx.secret.output if ty.label.is_secret else _host_output, site, ty, value)

    def _transfer(self, hook: Callable[..., ir.Value], site: int, ty: Type, where: Any) -> None:
        """Moves one value across a site: an array with its dimensions, or a scalar's buffer."""
        if isinstance(where, ArrayRef):
            shape = self.alloca(ir.ArrayType(I64, len(where.dims)), "shape")
            for k, dim in enumerate(where.dims):
                self.b.store(dim, self.b.gep(shape, [ir.Constant(I64, 0), ir.Constant(I64, k)], name="dim"))
            count = self.stride(where.dims)
            status = hook(self.b, self.ctx, site, ty.scalar(), shape, count, where.data)
        else:
            status = hook(self.b, self.ctx, site, ty.scalar(), None, ir.Constant(I64, 1), where)
        self.check_status(status)


def _host_input(b: ir.IRBuilder, ctx: ir.Value, site: int, ty: Type, dims: Optional[ir.Value],
                count: ir.Value, buffer: ir.Value) -> ir.Value:
    return abi.call_host(b, ctx, "read_input", site, dims, count, buffer)


def _host_output(b: ir.IRBuilder, ctx: ir.Value, site: int, ty: Type, dims: Optional[ir.Value],
                 count: ir.Value, buffer: ir.Value) -> ir.Value:
    return abi.call_host(b, ctx, "write_output", site, dims, count, buffer)


_STATEMENTS: dict[type, Callable[[StmtEmitter, Any], None]] = {
    ast.Decl: StmtEmitter._decl, ast.Assign: StmtEmitter._assign, ast.CallStmt: StmtEmitter._call_stmt,
    ast.Return: StmtEmitter._return, ast.Input: StmtEmitter._input, ast.Output: StmtEmitter._output,
    ast.For: StmtEmitter._for, ast.While: StmtEmitter._while, ast.If: StmtEmitter._if,
    ast.Block: StmtEmitter._block,
}
