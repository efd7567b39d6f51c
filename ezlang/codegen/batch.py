"""Batch loops (ezlang.passes.batch_rounds) → one vectorised operation over all their elements.

Why: a batch loop `for v = [lo : hi] { batch$K[v - lo] = x(v) OP y(v) }` holds one interactive
operation per iteration, all independent. Lowered as a loop it would cost one round per element;
here it becomes three steps: a loop that evaluates the operands of every element into buffers,
ONE runtime call over all of them (ezrt_mul, ezrt_lt: one round), and a loop of local steps
writing the results into `batch$K`. Backends without vectorised calls (the cleartext one) get
the same steps with the operation applied element by element through their SecretOps.

Errors: a check that fails while the operands are evaluated (an index out of bounds, a negative
shift amount) does not fail: the batch stops at that element, the elements before it are
computed, and `batch$K$count` says how many; the loop body then evaluates the operation itself
from that iteration on, so the program fails where and how it would have without batching.

Assumes: `plan` is `batch_loop(node)` for a loop the pass wrote; its operation is one that
`ezlang.passes.batch_rounds.interactive` accepts; secure wires are i64 in memory.
Guarantees: every role performs the same calls with the same counts (counts and failures depend
on public values only); buffers are freed on the normal path; a failed runtime call leaves the
function with STATUS_ERROR (the session has the message), like SecureSecretOps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from llvmlite import ir

from ezlang.codegen import abi
from ezlang.codegen.abi import I32, I64, PTR
from ezlang.codegen.exprs import COMPARISONS, join_operands
from ezlang.codegen.function import ArrayVar, ScalarVar
from ezlang.codegen.secure import RUNTIME_FUNCTIONS, SecureSecretOps
from ezlang.codegen.sites import DimensionSite
from ezlang.interp.exprs import typed
from ezlang.passes.batch_rounds import BatchLoop
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

if TYPE_CHECKING:
    from ezlang.codegen.stmts import StmtEmitter

_INT32_PL = Type(Base.INT32, Label.PL)
_BOOL_LOGIC = {BinaryOp.BAND: BinaryOp.AND, BinaryOp.BOR: BinaryOp.OR, BinaryOp.BXOR: BinaryOp.XOR}


def lower_batch(e: "StmtEmitter", node: ast.For, plan: BatchLoop) -> None:
    """Emits the batch loop `node` as operand loop, vectorised operation, result loop."""
    lo, hi = e.expr_as(node.lo, _INT32_PL), e.expr_as(node.hi, _INT32_PL)
    b = e.b
    wide_lo, wide_hi = b.sext(lo, I64, name="batch.lo"), b.sext(hi, I64, name="batch.hi")
    length = b.select(b.icmp_signed(">", wide_hi, wide_lo), b.sub(wide_hi, wide_lo), ir.Constant(I64, 0),
                      name="batch.len")
    operands = _operands(plan.value)
    capacity = b.shl(length, ir.Constant(I64, 1), name="batch.cap") if _doubled(plan.value) else length
    buffers = [_allocate(e, capacity, ty, node) for _, ty in operands]
    done = _evaluate(e, node, lo, hi, operands, buffers)
    count = e.lookup(plan.count)
    assert isinstance(count, ScalarVar)
    e.b.store(done, count.slot)
    target = e.lookup(plan.temp)
    assert isinstance(target, ArrayVar)
    out = target.ref(e.b, plan.temp).data
    if isinstance(e.mx.secret, SecureSecretOps):
        _Wires(e, e.mx.secret).apply(plan.value, buffers, done, out)
    else:
        _elementwise(e, plan.value, [ty for _, ty in operands], buffers, done, out)
    for buffer in buffers:
        e.b.call(e.mx.helper("free"), [buffer])


# ---------------------------------------------------------------- operands


def _operands(value: ast.Expr) -> list[tuple[ast.Expr, Type]]:
    """The operands of the batched operation and the type each is evaluated as (as exprs.py does)."""
    ty = typed(value.ty, value)
    if isinstance(value, ast.Ternary):
        return [(value.cond, typed(value.cond.ty, value.cond)), (value.then, ty), (value.other, ty)]
    assert isinstance(value, ast.Binary)
    left, right = typed(value.left.ty, value.left), typed(value.right.ty, value.right)
    operand = join_operands(left, right) if value.op in COMPARISONS else ty
    return [(value.left, operand.scalar()), (value.right, operand.scalar())]


def _doubled(value: ast.Expr) -> bool:
    """`==` asks lt(x, y) and lt(y, x) in one call of 2n elements."""
    return isinstance(value, ast.Binary) and value.op is BinaryOp.EQ


def _allocate(e: "StmtEmitter", count: ir.Value, ty: Type, node: ast.For) -> ir.Value:
    b = e.b
    memory = e.mx.layout.memory_type(ty)
    size = b.ptrtoint(b.gep(ir.Constant(PTR, None), [ir.Constant(I64, 1)], source_etype=memory), I64, name="size")
    cells = b.select(b.icmp_unsigned("==", count, ir.Constant(I64, 0)), ir.Constant(I64, 1), count)
    buffer = b.call(e.mx.helper("calloc"), [cells, size], name="batch.buf")
    site = e.error_site(DimensionSite(node.span))
    e.fail_unless(b.icmp_unsigned("!=", buffer, ir.Constant(PTR, None)), site, (ir.Constant(I64, 0),), "alloc")
    return buffer


def _evaluate(e: "StmtEmitter", node: ast.For, lo: ir.Value, hi: ir.Value,
              operands: Sequence[tuple[ast.Expr, Type]], buffers: Sequence[ir.Value]) -> ir.Value:
    """Evaluates the operands of iterations lo.. into the buffers; returns how many iterations
    succeeded (all of them, or up to the first whose operands fail a check)."""
    counter = e.alloca(I32, f"{node.var}.next")
    computed = e.alloca(I64, "batch.done")
    b = e.b
    b.store(lo, counter)
    wide_lo = b.sext(lo, I64)
    head, body, stop, done = (e.block(name) for name in ("batch.head", "batch.body", "batch.stop", "batch.done"))
    b.branch(head)
    e.continue_at(head)
    at = b.load(counter, typ=I32, name=f"{node.var}.at")
    b.store(b.sub(b.sext(at, I64), wide_lo), computed)
    b.cbranch(b.icmp_signed("<", at, hi, name="more"), body, done)
    e.continue_at(body)
    e.push()
    variable = e.alloca(I32, node.var)
    b.store(at, variable)
    e.declare(node.var, ScalarVar(variable, _INT32_PL))
    position = b.sub(b.sext(at, I64), wide_lo, name="batch.at")
    outer, e.failure = e.failure, stop
    for (expr, ty), buffer in zip(operands, buffers):
        value = e.expr_as(expr, ty)
        e.mx.layout.store(e.b, value, _element(e, buffer, position, ty), ty)
    e.failure = outer
    e.free(e.pop())
    e.b.store(e.b.add(at, ir.Constant(I32, 1), name="step"), counter)
    e.b.branch(head)
    e.continue_at(stop)  # `computed` still holds the failing iteration's position
    e.b.branch(done)
    e.continue_at(done)
    return e.b.load(computed, typ=I64, name="batch.count")


def _element(e: "StmtEmitter", buffer: ir.Value, position: ir.Value, ty: Type) -> ir.Value:
    return e.b.gep(buffer, [position], source_etype=e.mx.layout.memory_type(ty), name="batch.el")


def _each(e: "StmtEmitter", count: ir.Value, step: Callable[[ir.Value], None]) -> None:
    """`step(k)` for k = 0 .. count-1 (an i64 loop)."""
    slot = e.alloca(I64, "batch.k")
    e.b.store(ir.Constant(I64, 0), slot)
    head, body, done = e.block("each.head"), e.block("each.body"), e.block("each.done")
    e.b.branch(head)
    e.continue_at(head)
    k = e.b.load(slot, typ=I64, name="k")
    e.b.cbranch(e.b.icmp_signed("<", k, count), body, done)
    e.continue_at(body)
    step(k)
    e.b.store(e.b.add(k, ir.Constant(I64, 1)), slot)
    e.b.branch(head)
    e.continue_at(done)


# ---------------------------------------------------------------- any backend, element by element


def _elementwise(e: "StmtEmitter", value: ast.Expr, types: Sequence[Type], buffers: Sequence[ir.Value],
                 count: ir.Value, out: ir.Value) -> None:
    ty = typed(value.ty, value).scalar()

    def step(k: ir.Value) -> None:
        x = [e.mx.layout.load(e.b, _element(e, buf, k, t), t, "batch.x") for buf, t in zip(buffers, types)]
        if isinstance(value, ast.Ternary):
            result = e.mx.secret.select(e.b, e.ctx, ty, x[0], x[1], x[2])
        else:
            assert isinstance(value, ast.Binary) and value.label is not None
            result = e.mx.secret.binary(e.b, e.ctx, value.op, value.label, types[0], x[0], x[1])
        e.mx.layout.store(e.b, result, _element(e, out, k, ty), ty)

    _each(e, count, step)


# ---------------------------------------------------------------- the secure backend, vectorised


class _Wires:
    """The operation on n masked wires at once: one ezrt_mul or ezrt_lt call, then local steps."""

    def __init__(self, e: "StmtEmitter", ops: SecureSecretOps):
        self.e, self.ops = e, ops
        self.session = e.b.load(abi.field(e.b, e.ctx, "runtime"), typ=PTR, name="session")

    def apply(self, value: ast.Expr, buffers: Sequence[ir.Value], n: ir.Value, out: ir.Value) -> None:
        if isinstance(value, ast.Ternary):
            self._select(buffers, n, out)
            return
        assert isinstance(value, ast.Binary)
        op = value.op
        x, y = buffers
        operand = typed(value.left.ty, value.left)
        if operand.base is Base.BOOL:
            op = _BOOL_LOGIC.get(op, op)
        if op in COMPARISONS:
            self._compare(op, join_operands(operand, typed(value.right.ty, value.right)).base.signed, x, y, n, out)
            return
        self._call("ezrt_mul", [x, y, out, n])
        if op is BinaryOp.OR:  # p + q - pq
            self._each3(n, x, y, out, lambda p, q, pq: self.e.b.sub(self.e.b.add(p, q), pq))
        elif op is BinaryOp.XOR:  # p + q - 2pq
            self._each3(n, x, y, out, lambda p, q, pq: self.e.b.sub(self.e.b.add(p, q),
                                                                     self.e.b.shl(pq, ir.Constant(I64, 1))))

    def _compare(self, op: BinaryOp, signed: bool, x: ir.Value, y: ir.Value, n: ir.Value, out: ir.Value) -> None:
        """`<` is lt(x, y), `>` lt(y, x); `<=` and `>=` are 1 − the other one; `==` is
        1 − lt(x, y) − lt(y, x), both in one call over 2n elements."""
        flag = ir.Constant(I32, int(signed))
        if op is BinaryOp.EQ:
            self._each(n, lambda k: self._mirror(x, y, n, k))
            both = self._buffer(self.e.b.shl(n, ir.Constant(I64, 1)))
            self._call("ezrt_lt", [flag, x, y, both, self.e.b.shl(n, ir.Constant(I64, 1))])
            one = self._one()
            self._each(n, lambda k: self._set(out, k, self.e.b.sub(
                self.e.b.sub(one, self._get(both, k)), self._get(both, self.e.b.add(k, n)))))
            self.e.b.call(self.e.mx.helper("free"), [both])
            return
        first, second = (x, y) if op in (BinaryOp.LT, BinaryOp.GE) else (y, x)
        self._call("ezrt_lt", [flag, first, second, out, n])
        if op in (BinaryOp.LE, BinaryOp.GE):
            one = self._one()
            self._each(n, lambda k: self._set(out, k, self.e.b.sub(one, self._get(out, k))))

    def _mirror(self, x: ir.Value, y: ir.Value, n: ir.Value, k: ir.Value) -> None:
        """x[n + k] = y[k], y[n + k] = x[k]: the second half asks lt(y, x)."""
        upper = self.e.b.add(k, n)
        left, right = self._get(x, k), self._get(y, k)
        self._set(x, upper, right)
        self._set(y, upper, left)

    def _select(self, buffers: Sequence[ir.Value], n: ir.Value, out: ir.Value) -> None:
        """c ? t : o = o + c·(t − o)."""
        cond, then, other = buffers
        self._each(n, lambda k: self._set(then, k, self.e.b.sub(self._get(then, k), self._get(other, k))))
        self._call("ezrt_mul", [cond, then, out, n])
        self._each(n, lambda k: self._set(out, k, self.e.b.add(self._get(other, k), self._get(out, k))))

    # ------------------------------------------------------------ helpers

    def _each(self, n: ir.Value, step: Callable[[ir.Value], None]) -> None:
        _each(self.e, n, step)

    def _each3(self, n: ir.Value, x: ir.Value, y: ir.Value, out: ir.Value,
               fn: Callable[[ir.Value, ir.Value, ir.Value], ir.Value]) -> None:
        self._each(n, lambda k: self._set(out, k, fn(self._get(x, k), self._get(y, k), self._get(out, k))))

    def _get(self, buffer: ir.Value, k: ir.Value) -> ir.Value:
        return self.e.b.load(self.e.b.gep(buffer, [k], source_etype=I64), typ=I64, name="w")

    def _set(self, buffer: ir.Value, k: ir.Value, value: ir.Value) -> None:
        """Stores a wire, reduced to the ring."""
        if self.ops.bits < 64:
            value = self.e.b.and_(value, ir.Constant(I64, self.ops.mask))
        self.e.b.store(value, self.e.b.gep(buffer, [k], source_etype=I64))

    def _buffer(self, count: ir.Value) -> ir.Value:
        cells = self.e.b.select(self.e.b.icmp_unsigned("==", count, ir.Constant(I64, 0)), ir.Constant(I64, 1), count)
        return self.e.b.call(self.e.mx.helper("calloc"), [cells, ir.Constant(I64, 8)], name="batch.lt")

    def _one(self) -> ir.Value:
        """The wire of the public constant 1 (ezrt_share_public: local)."""
        clear, wire = self.e.alloca(I64, "batch.one.clear"), self.e.alloca(I64, "batch.one")
        self.e.b.store(ir.Constant(I64, 1), clear)
        self._call("ezrt_share_public", [clear, wire, ir.Constant(I64, 1)])
        return self.e.b.load(wire, typ=I64, name="one")

    def _call(self, name: str, args: list[ir.Value]) -> None:
        b = self.e.b
        status = b.call(_runtime(b.module, name), [self.session, *args], name=f"{name}.status")
        self.e.check_status(b.zext(b.icmp_unsigned("!=", status, ir.Constant(I32, 0)), I32, name="rt.status"))


def _runtime(module: ir.Module, name: str) -> ir.Function:
    """The runtime function `name` (secure.RUNTIME_FUNCTIONS), declared on first use."""
    if name in module.globals:
        return module.globals[name]
    ret, params = RUNTIME_FUNCTIONS[name]
    return ir.Function(module, ir.FunctionType(ret, params), name)
