"""Batch loops (ezlang.passes.batch_rounds) → one vectorised call per call kind over all their elements.

Why: a batch loop `for v = [lo : hi] { batch$G$0[v - lo] = x0(v) OP0 y0(v); ... }`, or a nest of
loops around such stores (`BatchLoop`: a whole loop nest's operations), holds independent
interactive operations, one per iteration each. Lowered as loops it would cost rounds per
element and operation; here it becomes: loops that evaluate the operands of every element of
every operation into buffers, then per call kind (`call_kind`) a loop packing the arguments of
all its operations side by side, ONE runtime call over them (ezrt_mul, ezrt_lt, ezrt_and,
ezrt_shr, ezrt_relu_rescale or ezrt_divmod), and a loop of local steps writing the results into
the batches. Backends without vectorised calls (the cleartext one) get the operand loops and then
each operation applied element by element through their SecretOps.

Errors: a check that fails while the operands are evaluated (an index out of bounds, a negative
shift amount) does not fail: that element is skipped, for all operations of the loop, and its
mark in the `done` mask stays false; the others are computed. The loop body evaluates the
operation itself where the mask is false, so the program fails where and how it would have
without batching, and an element of an iteration that never runs costs nothing. Elements are
counted in iteration order and never past the batches' length, whatever the loops' bounds say,
so no store leaves a buffer. The calls run on every element visited (those skipped hold operands
that passed their checks, or zeros): their results are not read.

Assumes: `plan` is `batch_loop(node)` for a loop the passes wrote; its operations are ones that
`ezlang.passes.batch_rounds.interactive` accepts, and those of one call kind of a shift have
equal amounts (the kind includes the amount's shape); all its batches have one length; secure
wires are i64 in memory.
Guarantees: every role performs the same calls with the same counts (counts, failures and masks
depend on public values only); buffers are freed on the normal path; a failed runtime call leaves the
function with STATUS_ERROR (the session has the message), like SecureSecretOps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from llvmlite import ir

from ezlang.codegen import abi, arith
from ezlang.codegen.abi import I32, I64, PTR
from ezlang.codegen.exprs import COMPARISONS, join_operands
from ezlang.codegen.function import ArrayRef, ArrayVar, ScalarVar
from ezlang.codegen.secure import RUNTIME_FUNCTIONS, SecureSecretOps
from ezlang.codegen.sites import DimensionSite, RingSite
from ezlang.interp.exprs import typed
from ezlang.passes.batch_rounds import BatchLoop, call_kind
from ezlang.passes.fused_ops import relu_rescale
from ezlang.semantics import is_shift
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

if TYPE_CHECKING:
    from ezlang.codegen.stmts import StmtEmitter

_INT32_PL = Type(Base.INT32, Label.PL)
_BOOL_PL = Type(Base.BOOL, Label.PL)


@dataclass(frozen=True)
class Operand:
    """An operand of a batched operation, the type it is evaluated as, and for a shift amount
    the operation whose sign check it needs."""

    expr: ast.Expr
    ty: Type
    shift: Optional[ast.Binary] = None


@dataclass(frozen=True)
class _Op:
    """One operation of a batch loop: its value, operand buffers and result array."""

    value: ast.Expr
    operands: tuple[Operand, ...]
    buffers: tuple[ir.Value, ...]
    out: ir.Value


def lower_batch(e: "StmtEmitter", node: ast.For, plan: BatchLoop) -> None:
    """Emits the batch loop `node` as one operand loop (nest), one vectorised call per call kind,
    and result loops."""
    arrays = [array_ref(e, temp) for temp, _ in plan.items]
    length = arrays[0].dims[0]  # every batch of the loop has this length: the nest's trip count
    planned = [(value, _operands(value)) for _, value in plan.items]
    buffers = [tuple(allocate(e, length, operand.ty, node) for operand in operands) for _, operands in planned]
    done = array_ref(e, plan.done).data
    operands = [(op, buf) for (_, ops), bufs in zip(planned, buffers) for op, buf in zip(ops, bufs)]
    visited = Evaluation(e, levels(e, plan.loops), length, done).run(operands)
    ops = [_Op(value, operands, bufs, array.data) for (value, operands), bufs, array in zip(planned, buffers, arrays)]
    if isinstance(e.mx.secret, SecureSecretOps):
        kinds = [_secure_kind(e.mx.secret, temp, op.value) for (temp, _), op in zip(plan.items, ops)]
        for kind in dict.fromkeys(kinds):
            _Wires(e, e.mx.secret, node.span).apply([op for op, k in zip(ops, kinds) if k == kind], visited, kind)
    else:
        for op in ops:
            _elementwise(e, op, visited, done)
    for buffer in (buf for bufs in buffers for buf in bufs):
        e.b.call(e.mx.helper("free"), [buffer])


def _secure_kind(ops: SecureSecretOps, temp: str, value: ast.Expr) -> tuple:
    """The call kind of a batch's operation; a fused ReLU whose results the protocol plan keeps
    as additive shares (ezlang.passes.protocols) is a kind of its own."""
    kind = call_kind(value)
    if kind[0] == "relu_rescale" and ops.protocols.to_shares(temp):
        fused = relu_rescale(value)
        assert fused is not None
        return ("relu_rescale_shares", *kind[1:], fused.magnitude or ops.bits - 1)
    return kind


def array_ref(e: "StmtEmitter", name: str) -> ArrayRef:
    target = e.lookup(name)
    assert isinstance(target, ArrayVar)
    return target.ref(e.b, name)


# ---------------------------------------------------------------- operands


def _operands(value: ast.Expr) -> tuple[Operand, ...]:
    """The operands of the batched operation and the type each is evaluated as (as exprs.py does)."""
    ty = typed(value.ty, value)
    fused = relu_rescale(value)
    if fused is not None:
        return (Operand(fused.x, ty.scalar()),)
    if isinstance(value, ast.Ternary):
        return (Operand(value.cond, typed(value.cond.ty, value.cond)), Operand(value.then, ty),
                Operand(value.other, ty))
    assert isinstance(value, ast.Binary)
    left, right = typed(value.left.ty, value.left), typed(value.right.ty, value.right)
    if is_shift(value.op):
        return (Operand(value.left, ty.scalar()), Operand(value.right, right.scalar(), value))
    operand = join_operands(left, right) if value.op in COMPARISONS else ty
    return (Operand(value.left, operand.scalar()), Operand(value.right, operand.scalar()))


def allocate(e: "StmtEmitter", count: ir.Value, ty: Type, node: ast.For) -> ir.Value:
    b = e.b
    memory = e.mx.layout.memory_type(ty)
    size = b.ptrtoint(b.gep(ir.Constant(PTR, None), [ir.Constant(I64, 1)], source_etype=memory), I64, name="size")
    cells = b.select(b.icmp_unsigned("==", count, ir.Constant(I64, 0)), ir.Constant(I64, 1), count)
    buffer = b.call(e.mx.helper("calloc"), [cells, size], name="batch.buf")
    site = e.error_site(DimensionSite(node.span))
    e.fail_unless(b.icmp_unsigned("!=", buffer, ir.Constant(PTR, None)), site, (ir.Constant(I64, 0),), "alloc")
    return buffer


# A loop variable of a rectangular nest and its bounds (i32), evaluated before the nest runs.
Level = tuple[str, ir.Value, ir.Value]


def levels(e: "StmtEmitter", loops: Sequence[ast.For]) -> list[Level]:
    """The levels of a rectangular nest whose bounds are the loop bounds the passes declared
    (`lo$N`, `hi$N`: variables that nothing assigns and that cannot fail), evaluated once."""
    return [(loop.var, e.expr_as(loop.lo, _INT32_PL), e.expr_as(loop.hi, _INT32_PL)) for loop in loops]


class Evaluation:
    """Evaluates operands over the iterations of a rectangular nest of `levels` (a batch loop's,
    or the gathers of a sum loop's), in order, into buffers, and marks each element whose operands passed
    every check in the `done` mask; an element whose operands fail a check is skipped (the loop
    body evaluates it itself, and fails there). One loop per level of the nest, positions
    counted from 0 (the nest is rectangular, so the count is the row-major position, the
    `plan.index` the pass computes for a batch loop), never past `limit` (the buffers' length);
    `run` gives how many positions were visited."""

    def __init__(self, e: "StmtEmitter", levels: Sequence[Level], limit: ir.Value, done: ir.Value):
        self.e, self.levels, self.limit, self.done = e, levels, limit, done
        self.position = e.alloca(I64, "batch.position")
        self.full = e.block("batch.full")

    def run(self, operands: Sequence[tuple[Operand, ir.Value]]) -> ir.Value:
        e = self.e
        e.b.store(ir.Constant(I64, 0), self.position)
        finished = e.block("batch.finished")
        self._level(0, operands)
        e.b.branch(finished)
        e.continue_at(self.full)
        e.b.branch(finished)
        e.continue_at(finished)
        return e.b.load(self.position, typ=I64, name="batch.visited")

    def _level(self, depth: int, operands: Sequence[tuple[Operand, ir.Value]]) -> None:
        e, (var, lo, hi) = self.e, self.levels[depth]
        counter = e.alloca(I32, f"{var}.next")
        e.b.store(lo, counter)
        head, body, after = e.block("batch.head"), e.block("batch.body"), e.block("batch.after")
        e.b.branch(head)
        e.continue_at(head)
        at = e.b.load(counter, typ=I32, name=f"{var}.at")
        e.b.cbranch(e.b.icmp_signed("<", at, hi, name="more"), body, after)
        e.continue_at(body)
        e.push()
        variable = e.alloca(I32, var)
        e.b.store(at, variable)
        e.declare(var, ScalarVar(variable, _INT32_PL))
        if depth + 1 < len(self.levels):
            self._level(depth + 1, operands)
        else:
            self.element(operands)
        e.free(e.pop())
        e.b.store(e.b.add(at, ir.Constant(I32, 1), name="step"), counter)
        e.b.branch(head)
        e.continue_at(after)

    def element(self, operands: Sequence[tuple[Operand, ir.Value]]) -> None:
        e = self.e
        position = e.b.load(self.position, typ=I64, name="batch.at")
        room, skip = e.block("batch.room"), e.block("batch.skip")
        e.b.cbranch(e.b.icmp_signed("<", position, self.limit, name="fits"), room, self.full)
        e.continue_at(room)
        outer, e.failure = e.failure, skip
        for operand, buffer in operands:
            value = e.expr_as(operand.expr, operand.ty)
            if operand.shift is not None and operand.ty.base.signed:
                _check_amount(e, operand.shift, value)
            e.mx.layout.store(e.b, value, element(e, buffer, position, operand.ty), operand.ty)
        e.failure = outer
        e.mx.layout.store(e.b, ir.Constant(e.mx.layout.value_type(_BOOL_PL), 1),
                          element(e, self.done, position, _BOOL_PL), _BOOL_PL)
        e.b.branch(skip)
        e.continue_at(skip)
        e.b.store(e.b.add(position, ir.Constant(I64, 1), name="next"), self.position)


def _check_amount(e: "StmtEmitter", shift: ast.Binary, amount: ir.Value) -> None:
    """A negative shift amount fails (stops the batch), as in ExprEmitter._shift."""
    ok = e.b.icmp_signed(">=", amount, ir.Constant(amount.type, 0), name="nonneg")
    site = e.error_site(RingSite(shift.span, shift.op, typed(shift.ty, shift).base))
    e.fail_unless(ok, site, (arith.resize(e.b, amount, I64, signed=True),), "sign")


def element(e: "StmtEmitter", buffer: ir.Value, position: ir.Value, ty: Type) -> ir.Value:
    return e.b.gep(buffer, [position], source_etype=e.mx.layout.memory_type(ty), name="batch.el")


def each(e: "StmtEmitter", count: ir.Value, step: Callable[[ir.Value], None]) -> None:
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


def _elementwise(e: "StmtEmitter", op: _Op, count: ir.Value, done: ir.Value) -> None:
    """The operation on each computed element (the `done` mask is public)."""
    value = op.value
    ty = typed(value.ty, value).scalar()
    types = [operand.ty for operand in op.operands]

    def apply(k: ir.Value) -> None:
        x = [e.mx.layout.load(e.b, element(e, buf, k, t), t, "batch.x") for buf, t in zip(op.buffers, types)]
        fused = relu_rescale(value)
        if fused is not None:
            result = e.mx.secret.relu_rescale(e.b, e.ctx, ty, x[0], fused.shift)
        elif isinstance(value, ast.Ternary):
            result = e.mx.secret.select(e.b, e.ctx, ty, x[0], x[1], x[2])
        else:
            assert isinstance(value, ast.Binary) and value.label is not None
            if is_shift(value.op):
                result = e.mx.secret.shift(e.b, e.ctx, value.op, value.label, types[0], x[0], x[1])
            else:
                result = e.mx.secret.binary(e.b, e.ctx, value.op, value.label, types[0], x[0], x[1])
        e.mx.layout.store(e.b, result, element(e, op.out, k, ty), ty)

    def step(k: ir.Value) -> None:
        computed, after = e.block("batch.apply"), e.block("batch.applied")
        e.b.cbranch(e.mx.layout.load(e.b, element(e, done, k, _BOOL_PL), _BOOL_PL, "batch.done"), computed, after)
        e.continue_at(computed)
        apply(k)
        e.b.branch(after)
        e.continue_at(after)

    each(e, count, step)


# ---------------------------------------------------------------- the secure backend, vectorised

# Comparisons asked as lt(y, x).
_SWAPPED = frozenset({BinaryOp.GT, BinaryOp.LE})


class _Wires:
    """Operations of one call kind on n masked wires each: their arguments packed side by side
    into one runtime call (ezrt_mul, ezrt_lt, ezrt_and, ezrt_shr, ezrt_relu_rescale or ezrt_divmod),
    then local steps. Operation m's slot s of element k is at (offset_m + s)·n + k."""

    def __init__(self, e: "StmtEmitter", ops: SecureSecretOps, span: Span):
        self.e, self.ops, self.span = e, ops, span
        self.session = e.b.load(abi.field(e.b, e.ctx, "runtime"), typ=PTR, name="session")

    def apply(self, ops: Sequence[_Op], n: ir.Value, kind: tuple) -> None:
        slots = [_slots(op.value) for op in ops]
        offsets = [sum(slots[:m]) for m in range(len(ops))]
        total = self.e.b.mul(n, ir.Constant(I64, sum(slots)), name="batch.n")
        x, y = self._buffer(total), self._buffer(total)
        z = self._buffer(self.e.b.shl(total, ir.Constant(I64, 1)) if kind[0] == "divmod" else total)

        def pack(k: ir.Value) -> None:
            for op, offset in zip(ops, offsets):
                for s, (left, right) in enumerate(self._arguments(op, k)):
                    at = self._at(offset + s, n, k)
                    self._set(x, at, left)
                    self._set(y, at, right)

        self.each(n, pack)
        self._call_kind(kind, ops[0], x, y, z, total)
        one = self._one() if kind[0] == "lt" else None

        def unpack(k: ir.Value) -> None:
            for op, offset in zip(ops, offsets):
                remainder = kind[0] == "divmod" and _binary(op.value).op is BinaryOp.MOD
                results = [self._get(z, self.e.b.add(total, self._at(offset, n, k)) if remainder
                                     else self._at(offset + s, n, k)) for s in range(_slots(op.value))]
                self._set(op.out, k, self._result(op, k, results, one))

        self.each(n, unpack)
        for buffer in (x, y, z):
            self.e.b.call(self.e.mx.helper("free"), [buffer])

    def _arguments(self, op: _Op, k: ir.Value) -> list[tuple[ir.Value, ir.Value]]:
        """The (x, y) pairs operation `op` puts into the call for element k."""
        loaded = [self._get(buffer, k) for buffer in op.buffers]
        if isinstance(op.value, ast.Ternary):  # c ? t : o = o + c·(t − o)
            return [(loaded[0], self.e.b.sub(loaded[1], loaded[2]))]
        binary = _binary(op.value)
        if binary.op is BinaryOp.EQ:
            return [(loaded[0], loaded[1]), (loaded[1], loaded[0])]
        if is_shift(binary.op):  # a fused ReLU and truncation too: x is its one operand
            return [(loaded[0], loaded[0])]
        return [(loaded[1], loaded[0])] if binary.op in _SWAPPED else [(loaded[0], loaded[1])]

    def _result(self, op: _Op, k: ir.Value, results: list[ir.Value], one: Optional[ir.Value]) -> ir.Value:
        """The operation's value from its call results (a remainder's is the second half of z):
        local steps only."""
        b, z = self.e.b, results[0]
        if isinstance(op.value, ast.Ternary):
            return b.add(self._get(op.buffers[2], k), z)
        binary = _binary(op.value)
        if binary.op in COMPARISONS:
            assert one is not None
        if binary.op is BinaryOp.EQ:  # 1 − lt(x, y) − lt(y, x)
            return b.sub(b.sub(one, z), results[1])
        if binary.op in (BinaryOp.LE, BinaryOp.GE):
            return b.sub(one, z)
        logic = _OR_LIKE.get(binary.op)
        if logic is None:
            return z
        x, y = self._get(op.buffers[0], k), self._get(op.buffers[1], k)
        return b.sub(b.add(x, y), b.shl(z, ir.Constant(I64, logic)))  # p + q − pq, p + q − 2pq

    def _call_kind(self, kind: tuple, first: _Op, x: ir.Value, y: ir.Value, z: ir.Value, n: ir.Value) -> None:
        b = self.e.b
        if kind[0] == "mul":
            self._call("ezrt_mul", [x, y, z, n])
        elif kind[0] == "and":
            self._call("ezrt_and", [x, y, z, n])
        elif kind[0] == "lt":
            self._call("ezrt_lt", [ir.Constant(I32, int(kind[1])), x, y, z, n])
        elif kind[0] == "divmod":
            self._call("ezrt_divmod", [ir.Constant(I32, int(kind[1])), x, y, z, b.gep(z, [n], source_etype=I64), n])
        elif kind[0] == "relu_rescale":  # amounts past the width clamped, as SecureSecretOps does
            self._call("ezrt_relu_rescale", [ir.Constant(I32, min(kind[1], self.ops.bits)), x, z, n])
        elif kind[0] == "relu_rescale_shares":
            self._call("ezrt_relu_rescale_shares", [ir.Constant(I32, min(kind[1], self.ops.bits)),
                                                    ir.Constant(I32, kind[-1]), x, z, n])
        else:
            self._call("ezrt_shr", [ir.Constant(I32, int(kind[1])), self._amount(first, n), x, z, n])

    def _amount(self, first: _Op, n: ir.Value) -> ir.Value:
        """The shift amount, the same for every computed element and operation of the call,
        clamped to the ring width as SecureSecretOps does. An element skipped holds that amount
        or 0 (its slot unwritten: amounts that fail their check are not stored), so the largest
        unsigned value of the buffer is the amount (0 when no element was computed)."""
        b, ty = self.e.b, first.operands[1].ty
        largest = self.e.alloca(I64, "batch.amount")
        b.store(ir.Constant(I64, 0), largest)

        def keep(k: ir.Value) -> None:
            loaded = self.e.mx.layout.load(self.e.b, element(self.e, first.buffers[1], k, ty), ty, "batch.amount")
            amount = arith.resize(self.e.b, loaded, I64, signed=False)
            so_far = self.e.b.load(largest, typ=I64, name="batch.largest")
            self.e.b.store(self.e.b.select(self.e.b.icmp_unsigned(">", amount, so_far), amount, so_far), largest)

        self.each(n, keep)
        amount, width = b.load(largest, typ=I64, name="batch.amount"), ir.Constant(I64, self.ops.bits)
        return b.trunc(b.select(b.icmp_unsigned("<", amount, width), amount, width), I32, name="batch.shr.k")

    # ------------------------------------------------------------ helpers

    def _at(self, slot: int, n: ir.Value, k: ir.Value) -> ir.Value:
        return self.e.b.add(self.e.b.mul(n, ir.Constant(I64, slot)), k)

    def each(self, n: ir.Value, step: Callable[[ir.Value], None]) -> None:
        each(self.e, n, step)

    def _get(self, buffer: ir.Value, k: ir.Value) -> ir.Value:
        return self.e.b.load(self.e.b.gep(buffer, [k], source_etype=I64), typ=I64, name="w")

    def _set(self, buffer: ir.Value, k: ir.Value, value: ir.Value) -> None:
        """Stores a wire, reduced to the ring."""
        if self.ops.bits < 64:
            value = self.e.b.and_(value, ir.Constant(I64, self.ops.mask))
        self.e.b.store(value, self.e.b.gep(buffer, [k], source_etype=I64))

    def _buffer(self, count: ir.Value) -> ir.Value:
        cells = self.e.b.select(self.e.b.icmp_unsigned("==", count, ir.Constant(I64, 0)), ir.Constant(I64, 1), count)
        buffer = self.e.b.call(self.e.mx.helper("calloc"), [cells, ir.Constant(I64, 8)], name="batch.args")
        site = self.e.error_site(DimensionSite(self.span))
        ok = self.e.b.icmp_unsigned("!=", buffer, ir.Constant(PTR, None))
        self.e.fail_unless(ok, site, (ir.Constant(I64, 0),), "alloc")
        return buffer

    def _one(self) -> ir.Value:
        """The wire of the public constant 1 (ezrt_share_public: local)."""
        clear, wire = self.e.alloca(I64, "batch.one.clear"), self.e.alloca(I64, "batch.one")
        self.e.b.store(ir.Constant(I64, 1), clear)
        self._call("ezrt_share_public", [clear, wire, ir.Constant(I64, 1)])
        return self.e.b.load(wire, typ=I64, name="one")

    def _call(self, name: str, args: list[ir.Value]) -> None:
        b = self.e.b
        status = b.call(runtime_function(b.module, name), [self.session, *args], name=f"{name}.status")
        self.e.check_status(b.zext(b.icmp_unsigned("!=", status, ir.Constant(I32, 0)), I32, name="rt.status"))


# `|`-like operations: p + q − (pq << shift) after a product or an `&`.
_OR_LIKE = {BinaryOp.OR: 0, BinaryOp.BOR: 0, BinaryOp.XOR: 1, BinaryOp.BXOR: 1}


def _binary(value: ast.Expr) -> ast.Binary:
    assert isinstance(value, ast.Binary)
    return value


def _slots(value: ast.Expr) -> int:
    """Call elements per element of the batch: `==` asks lt(x, y) and lt(y, x)."""
    return 2 if isinstance(value, ast.Binary) and value.op is BinaryOp.EQ else 1


def runtime_function(module: ir.Module, name: str) -> ir.Function:
    """The runtime function `name` (secure.RUNTIME_FUNCTIONS), declared on first use."""
    if name in module.globals:
        return module.globals[name]
    ret, params = RUNTIME_FUNCTIONS[name]
    return ir.Function(module, ir.FunctionType(ret, params), name)
