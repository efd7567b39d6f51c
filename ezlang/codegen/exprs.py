"""Typed expressions → LLVM values (the emitter's expression half).

Why: each node becomes a few instructions in the current block; public operations come from
ezlang.codegen.arith, secret ones from the module's SecretOps, so one emitter serves every backend.

Assumes: a typed program (every Expr.ty set, implicit conversions explicit). A conversion the
checker left implicit is still applied from the types at hand, as the interpreter does.
Guarantees: the interpreter's evaluation order and results: operands left to right, every operand
of `&&` and `||` evaluated, only the chosen branch of a `?:` with a public condition, an index
checked after the array and the index are evaluated, and a failed check leaves the function with
its error site recorded. A scalar expression yields an SSA value of its type's representation;
an array expression yields an ArrayRef.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from llvmlite import ir

from ezlang.codegen import arith
from ezlang.codegen.abi import I1, I64
from ezlang.codegen.function import ArrayRef, ArrayVar, FunctionBase, GlobalConst, ScalarVar
from ezlang.codegen.sites import BoundsSite, CallSite, ExternResultSite, RingSite
from ezlang.interp import BUILTIN_EXTERNS
from ezlang.interp.exprs import typed
from ezlang.interp.result import NO_EXTERN_IMPLEMENTATION
from ezlang.passes.fused_ops import relu_rescale
from ezlang.semantics import is_shift, to_f32
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Role, Type

Value = Union[ir.Value, ArrayRef]

_ROLE_VALUES = {Role.SERVER: 0, Role.CLIENT: 1, Role.ALL: 2}
COMPARISONS = frozenset({BinaryOp.LT, BinaryOp.GT, BinaryOp.LE, BinaryOp.GE, BinaryOp.EQ})


def widen(b: ir.IRBuilder, value: ir.Value, base: Base) -> ir.Value:
    """An integer as i64 with its value kept (what error sites and dimensions take)."""
    return arith.resize(b, value, I64, signed=base.signed)


def join_operands(a: Type, b: Type) -> Type:
    """The operand type of a comparison, as ezlang.interp.exprs._join decides it."""
    if a.base is b.base or not a.base.is_int:
        return a
    return a if a.base.width >= b.base.width else b


class ExprEmitter(FunctionBase):
    """Emits the expressions of one function body (or of the global constants' initialisers)."""

    def expr(self, node: ast.Expr) -> Any:
        typed(node.ty, node)
        return _EXPRESSIONS[type(node)](self, node)

    def expr_as(self, node: ast.Expr, ty: Type) -> Any:
        """`node` converted to the destination type `ty`."""
        return self.coerce(self.expr(node), typed(node.ty, node), ty)

    def coerce(self, value: Any, src: Type, dst: Type) -> Any:
        if src.rank or dst.rank or src.scalar() == dst.scalar():
            return value
        if dst.label.is_secret:
            return self.mx.secret.convert(self.b, self.ctx, src.scalar(), dst.scalar(), value)
        return arith.convert(self.b, src.base, dst.base, value)

    # ------------------------------------------------------------ leaves

    def _int_lit(self, node: ast.IntLit) -> ir.Value:
        return arith.constant(typed(node.ty, node).base, node.value)

    def _float_lit(self, node: ast.FloatLit) -> ir.Value:
        return arith.constant(Base.FLOAT, to_f32(node.value))

    def _bool_lit(self, node: ast.BoolLit) -> ir.Value:
        return arith.constant(Base.BOOL, node.value)

    def _role_lit(self, node: ast.RoleLit) -> ir.Value:
        return arith.constant(Base.UINT32, _ROLE_VALUES[node.role])

    def _var(self, node: ast.Var) -> Value:
        binding = self.lookup(node.name)
        if isinstance(binding, ScalarVar):
            return self.b.load(binding.slot, typ=self.mx.layout.value_type(binding.ty), name=node.name)
        if isinstance(binding, ArrayVar):
            return binding.ref(self.b, node.name)
        assert isinstance(binding, GlobalConst)
        if not binding.stored:
            return binding.value
        return self.b.load(binding.value, typ=self.mx.layout.value_type(binding.ty), name=node.name)

    # ------------------------------------------------------------ arrays

    def _index(self, node: ast.Index) -> Value:
        array: ArrayRef = self.expr(node.array)
        position = self.checked_index(array, node)
        element = typed(node.ty, node)
        memory = self.mx.layout.memory_type(element)
        if element.rank:
            offset = self.b.mul(position, self.stride(array.dims[1:]), name="offset")
            return ArrayRef(self.b.gep(array.data, [offset], source_etype=memory, name="row"), array.dims[1:])
        pointer = self.b.gep(array.data, [position], source_etype=memory, name="at")
        return self.mx.layout.load(self.b, pointer, element, "elem")

    def checked_index(self, array: ArrayRef, node: ast.Index) -> ir.Value:
        """Evaluates the index of `node` and checks it against the outer dimension; an i64."""
        index_ty = typed(node.index.ty, node.index)
        position = widen(self.b, self.expr(node.index), index_ty.base)
        self.check_bounds(array, position, node, index_ty.base)
        return position

    def check_bounds(self, array: ArrayRef, position: ir.Value, node: ast.Index, base: Base) -> None:
        # One unsigned comparison covers both ends: a negative index is a huge unsigned one.
        inside = self.b.icmp_unsigned("<", position, array.dims[0], name="inside")
        site = self.error_site(BoundsSite(node.span, node.array.span.text, base))
        self.fail_unless(inside, site, (position, array.dims[0]), "bounds")

    def stride(self, dims: tuple[ir.Value, ...]) -> ir.Value:
        """Elements per step of the outer index: the product of the inner dimensions."""
        product: ir.Value = ir.Constant(I64, 1)
        for dim in dims:
            product = self.b.mul(product, dim, name="stride")
        return product

    def element_pointer(self, array: ArrayRef, position: ir.Value, element: Type) -> ir.Value:
        return self.b.gep(array.data, [position], source_etype=self.mx.layout.memory_type(element), name="at")

    # ------------------------------------------------------------ operators

    def _binary(self, node: ast.Binary) -> ir.Value:
        ty = typed(node.ty, node)
        label = node.label
        assert label is not None, "a typed Binary has its label"
        if is_shift(node.op):
            return self._shift(node, ty)
        left_ty, right_ty = typed(node.left.ty, node.left), typed(node.right.ty, node.right)
        operand = join_operands(left_ty, right_ty) if node.op in COMPARISONS else ty
        left, right = self.expr_as(node.left, operand), self.expr_as(node.right, operand)
        if node.op is BinaryOp.POW and operand.base.signed:
            self._check_not_negative(right, node, operand.base)
        if label.is_secret:
            return self.mx.secret.binary(self.b, self.ctx, node.op, label, operand.scalar(), left, right)
        return arith.binary(self.b, node.op, operand.base, left, right)

    def _shift(self, node: ast.Binary, ty: Type) -> ir.Value:
        assert node.label is not None
        fused = relu_rescale(node)
        if fused is not None:  # evaluates x once: it has no calls, so the same value and errors
            x = self.expr_as(fused.x, ty)
            return self.mx.secret.relu_rescale(self.b, self.ctx, ty.scalar(), x, fused.shift)
        left, amount = self.expr_as(node.left, ty), self.expr(node.right)
        amount_base = typed(node.right.ty, node.right).base
        if amount_base.signed:
            self._check_not_negative(amount, node, ty.base)
        if node.label.is_secret:
            return self.mx.secret.shift(self.b, self.ctx, node.op, node.label, ty.scalar(), left, amount)
        return arith.shift(self.b, node.op, ty.base, left, amount)

    def _check_not_negative(self, value: ir.Value, node: ast.Binary, operand: Base) -> None:
        """Shift amounts and exponents must not be negative (RingError in the interpreter)."""
        ok = self.b.icmp_signed(">=", value, ir.Constant(value.type, 0), name="nonneg")
        site = self.error_site(RingSite(node.span, node.op, operand))
        self.fail_unless(ok, site, (arith.resize(self.b, value, I64, signed=True),), "sign")

    def _unary(self, node: ast.Unary) -> ir.Value:
        ty = typed(node.ty, node)
        operand = self.expr_as(node.operand, ty)
        assert node.label is not None
        if node.label.is_secret:
            return self.mx.secret.unary(self.b, self.ctx, node.op, node.label, ty.scalar(), operand)
        return arith.unary(self.b, node.op, ty.base, operand)

    def _ternary(self, node: ast.Ternary) -> ir.Value:
        ty = typed(node.ty, node)
        cond = self.expr(node.cond)
        if typed(node.cond.ty, node.cond).label.is_secret:  # oblivious: both branches run
            then, other = self.expr_as(node.then, ty), self.expr_as(node.other, ty)
            return self.mx.secret.select(self.b, self.ctx, ty.scalar(), cond, then, other)
        return self._branching(cond, lambda: self.expr_as(node.then, ty), lambda: self.expr_as(node.other, ty),
                               self.mx.layout.value_type(ty))

    def _branching(self, cond: ir.Value, then: Callable[[], ir.Value], other: Callable[[], ir.Value],
                   ty: ir.Type) -> ir.Value:
        then_block, other_block, merge = self.block("then"), self.block("else"), self.block("merge")
        self.b.cbranch(cond, then_block, other_block)
        incoming = []
        for block, emit in ((then_block, then), (other_block, other)):
            self.continue_at(block)
            value = emit()
            incoming.append((value, self.b.block))
            self.b.branch(merge)
        self.continue_at(merge)
        phi = self.b.phi(ty, name="choice")
        for value, block in incoming:
            phi.add_incoming(value, block)
        return phi

    def _convert(self, node: Union[ast.Convert, ast.Subsume]) -> Any:
        return self.expr_as(node.operand, typed(node.ty, node))

    # ------------------------------------------------------------ calls

    def _call(self, node: ast.Call) -> Optional[ir.Value]:
        return self.call(node.name, node.args, node.span)

    def call(self, name: str, args: tuple[ast.Expr, ...], span: Span) -> Optional[ir.Value]:
        callee = self.mx.functions.get(name)
        if callee is None:
            return self._call_extern(self.mx.externs[name], args, span)
        node = callee.node
        arguments: list[ir.Value] = [self.ctx]
        for param, arg in zip(node.params, args):
            value = self.expr_as(arg, ast.declared_type(param.type))
            arguments.extend([value.data, *value.dims] if isinstance(value, ArrayRef) else [value])
        ret = None if node.ret is None else ast.declared_type(node.ret)
        slot = None
        if ret is not None:
            slot = self.alloca(self.mx.layout.value_type(ret), f"{name}.result")
            arguments.append(slot)
        status = self.b.call(callee.fn, arguments, name=f"{name}.status")
        self.check_status(status, self.error_site(CallSite(span, name, node.name_span)))
        if slot is None or ret is None:
            return None
        return self.b.load(slot, typ=self.mx.layout.value_type(ret), name=name)

    def _call_extern(self, extern: ast.Extern, args: tuple[ast.Expr, ...], span: Span) -> Optional[ir.Value]:
        """The interpreter's built-in externs do nothing; a backend may lower others natively
        (`lower_extern`, the secure backend's Athos functions); the rest have no implementation."""
        lower = getattr(self.mx.secret, "lower_extern", None)
        if lower is not None and extern.name not in BUILTIN_EXTERNS and lower(self, extern, args):
            return None
        if extern.name not in BUILTIN_EXTERNS:
            self.mx.diags.error(NO_EXTERN_IMPLEMENTATION, f"extern `{extern.name}` has no implementation in "
                                "compiled code", span, label="called here",
                                help="compiled code implements only the built-in no-op externs "
                                     "(ClearMem*, StartComputation, EndComputation); run the program "
                                     "with `ezlang interpret` and pass an implementation")
        for param, arg in zip(extern.params, args):
            self.expr_as(arg, ast.declared_type(param.type))
        if extern.ret is None:
            return None
        ret = ast.declared_type(extern.ret)
        site = self.error_site(ExternResultSite(span, extern.name, ret.base))
        self.fail_unless(ir.Constant(I1, 0), site, (), "extern")
        return self.mx.layout.zero(ret)


_EXPRESSIONS: dict[type, Callable[[ExprEmitter, Any], Any]] = {
    ast.IntLit: ExprEmitter._int_lit, ast.FloatLit: ExprEmitter._float_lit, ast.BoolLit: ExprEmitter._bool_lit,
    ast.RoleLit: ExprEmitter._role_lit, ast.Var: ExprEmitter._var, ast.Index: ExprEmitter._index,
    ast.Call: ExprEmitter._call, ast.Binary: ExprEmitter._binary, ast.Unary: ExprEmitter._unary,
    ast.Ternary: ExprEmitter._ternary, ast.Subsume: ExprEmitter._convert, ast.Convert: ExprEmitter._convert,
}
