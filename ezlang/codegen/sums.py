"""Sum loops (ezlang.passes.batch_sums) → gathered matrices and ONE matrix-product call.

Why: a sum loop `for v1 .. { for vm { sums$G$k[q] = sums$G$k[q] + x * y; ...; done[q] = true } }`
sums products that form matrix products (`SumItem`: A[p][i] = x, B[i][s] = y). Lowered as
written it would be one round per product; as a batch, one round but every product opened. Here
the factors are gathered into dense matrices, and one `ezrt_matmul_many` call opens only the
sums: one round, `rows` values per party and sum (docs/protocols.md §5.9).

With K the innermost loop's trip count and `rows` the sums' length (the outer loops' trip
counts multiplied), when both are positive:
* every row is marked in `done`, then per item (split t; P and S the trip counts of the outer
  loops before and from t, so P·S = rows): A (P·K elements) is the factor a evaluated over the
  loops v1 .. vt, vm and B (K·S) the factor b over vm, v(t+1) .. v(m-1), row-major, with the
  batch loops' evaluation (`Evaluation`): an element whose operands fail a check is skipped and
  not marked; a row r = p·S + s keeps its mark only if every A[p][i] and B[i][s] was marked;
* the secure backend calls ezrt_matmul_many once for all items (sums$G$k = A·B); other backends
  add the products through their SecretOps, in the order i = 0 .. K-1 (the same ring sum).
Otherwise nothing runs: the sums stay 0 and no row is marked (the consumer then runs its loop,
which has no iteration or never runs).

Assumes: `plan` is `sum_loop(node)` for a loop ezlang.passes.batch_sums wrote, whose sums and
mask are declared with `rows` elements; secure wires are i64 in memory.
Guarantees: the sums of marked rows are the sums of the products, bit for bit; every role makes
the same calls with the same sizes (marks and sizes depend on public values only); buffers are
freed on the normal path; a failed runtime call leaves the function with STATUS_ERROR, an
allocation that fails is error E0610 at the loop, as for a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from llvmlite import ir

from ezlang.codegen import abi
from ezlang.codegen.abi import I32, I64, PTR
from ezlang.codegen.batch import (Evaluation, Level, Operand, allocate, array_ref, each, element, levels,
                                  runtime_function)
from ezlang.codegen.secure import SecureSecretOps
from ezlang.interp.exprs import typed
from ezlang.passes.batch_matrices import COLUMN_VAR, ROW_VAR, MatrixForm, SumItem, SumLoop
from ezlang.passes.protocols import OneSided, Other, Side
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

if TYPE_CHECKING:
    from ezlang.codegen.stmts import StmtEmitter

_INT32_PL = Type(Base.INT32, Label.PL)
_BOOL_PL = Type(Base.BOOL, Label.PL)
_INT64_MAX = 2 ** 63 - 1
_SERVER, _CLIENT, _DEALER = 0, 1, 2  # EZRT_ROLE_SERVER, _CLIENT, _DEALER


@dataclass(frozen=True)
class _Matrices:
    """One item's gathered factors: A (rows × inner), B (inner × columns), where the product C
    goes (`out`: the sums, or for a divided form a buffer whose first entries are the sums) and
    every buffer to free."""

    item: SumItem
    rows: ir.Value
    inner: ir.Value
    columns: ir.Value
    a: ir.Value
    b: ir.Value
    out: ir.Value
    row_ok: ir.Value
    column_ok: ir.Value
    buffers: tuple[ir.Value, ...]
    known: Optional["_Known"] = None


@dataclass(frozen=True)
class _Known:
    """A one-sided product's state: the plan's choice, whether its slot was registered before
    this execution (i1), whether the known factor is complete (i1), and which gathered buffer
    is the known factor and which the other."""

    choice: OneSided
    ready: ir.Value
    complete: ir.Value
    matrix: ir.Value
    other: ir.Value


def lower_sums(e: "StmtEmitter", node: ast.For, plan: SumLoop) -> None:
    """Emits the sum loop `node` as gathers, one matrix-product call and the rows' marks."""
    length = array_ref(e, plan.items[0].temp).dims[0]
    done = array_ref(e, plan.done).data
    bounds = levels(e, plan.loops)
    trips = [_trips(e, lo, hi) for _, lo, hi in bounds]
    divisors = {item.temp: _divisor(e, item.form, bounds[0]) for item in plan.items}
    secure = e.mx.secret if isinstance(e.mx.secret, SecureSecretOps) else None
    choices = {item.temp: secure.protocols.product(item.temp) if secure else None for item in plan.items}
    work, after = e.block("sums.work"), e.block("sums.after")
    zero = ir.Constant(I64, 0)
    runs = e.b.and_(e.b.icmp_signed(">", length, zero), e.b.icmp_signed(">", trips[-1], zero))
    for divisor in divisors.values():
        runs = e.b.and_(runs, divisor[1]) if divisor is not None else runs
    e.b.cbranch(runs, work, after)
    e.continue_at(work)
    each(e, length, lambda r: _store_bool(e, done, r, ir.Constant(ir.IntType(1), 1)))
    matrices = [_gather(e, node, plan, item, bounds, trips, divisors[item.temp], choices[item.temp])
                for item in plan.items]
    for product in matrices:
        _unmark(e, done, length, product)
    if secure is not None:
        general = [product for product in matrices if product.known is None]
        if general:
            _call(e, general)
        for product in matrices:
            if product.known is not None:
                _call_one_sided(e, product)
    else:
        for product in matrices:
            _products(e, product)
    for product in matrices:
        _copy_sums(e, product, length)
    for buffer in (buf for product in matrices for buf in product.buffers):
        e.b.call(e.mx.helper("free"), [buffer])
    e.b.branch(after)
    e.continue_at(after)


def _trips(e: "StmtEmitter", lo: ir.Value, hi: ir.Value) -> ir.Value:
    """A loop's trip count as i64 (0 for an empty range)."""
    span = e.b.sub(e.b.sext(hi, I64), e.b.sext(lo, I64), name="trips")
    return e.b.select(e.b.icmp_signed(">", hi, lo), span, ir.Constant(I64, 0))


def _divisor(e: "StmtEmitter", form: MatrixForm, outer: Level) -> Optional[tuple[ir.Value, ir.Value]]:
    """A divided form's M (i32) and whether it applies: the loop starts at 0 and M > 0 (then
    p / M and p % M are the row and the column of p); None for a separable form."""
    if form.divisor is None:
        return None
    divisor = e.expr_as(form.divisor, _INT32_PL)
    zero = ir.Constant(I32, 0)
    return divisor, e.b.and_(e.b.icmp_signed("==", outer[1], zero), e.b.icmp_signed(">", divisor, zero))


def _product(e: "StmtEmitter", counts: Sequence[ir.Value]) -> ir.Value:
    out: ir.Value = ir.Constant(I64, 1)
    for count in counts:
        out = _times(e, out, count)
    return out


def _times(e: "StmtEmitter", x: ir.Value, y: ir.Value) -> ir.Value:
    """x · y for positive sizes, saturated at 2^63 − 1 (an allocation of that many fails)."""
    limit = e.b.sdiv(ir.Constant(I64, _INT64_MAX), x)
    return e.b.select(e.b.icmp_signed("<=", y, limit), e.b.mul(x, y), ir.Constant(I64, _INT64_MAX))


def _gather(e: "StmtEmitter", node: ast.For, plan: SumLoop, item: SumItem, bounds: list[Level],
            trips: list[ir.Value], divisor: Optional[tuple[ir.Value, ir.Value]],
            choice: Optional[OneSided]) -> _Matrices:
    """The item's factors as dense matrices, with a mark per row of A and per column of B that
    every one of its entries was computed. For a one-sided product whose slot the session has
    registered, the known factor is neither gathered nor checked: it is the matrix registered
    (same shape, same entries: passes/protocols.py) and its checks passed then."""
    ty = typed(item.product.ty, item.product).scalar()
    form, inner = item.form, trips[-1]
    if divisor is None:
        a_levels, b_levels = (*bounds[:form.split], bounds[-1]), (bounds[-1], *bounds[form.split:-1])
        rows, columns = _product(e, trips[:form.split]), _product(e, trips[form.split:-1])
    else:  # rows (T - 1) / M + 1 (T ≥ 1 and M > 0 here), columns M
        m = divisor[0]
        count = e.b.add(e.b.sdiv(e.b.sub(e.b.trunc(trips[0], I32), ir.Constant(I32, 1)), m), ir.Constant(I32, 1))
        zero = ir.Constant(I32, 0)
        a_levels, b_levels = ((ROW_VAR, zero, count), bounds[-1]), (bounds[-1], (COLUMN_VAR, zero, m))
        rows, columns = e.b.sext(count, I64), e.b.sext(m, I64)
    sizes = (_times(e, rows, inner), _times(e, inner, columns))
    ready = _ready(e, choice)
    known_side = None if choice is None else (0 if choice.side is Side.LEFT else 1)
    gathered = [e.b.select(ready, ir.Constant(I64, 0), size) if side == known_side else size
                for side, size in enumerate(sizes)]
    a, b = (allocate(e, size, ty, node) for size in gathered)
    a_ok, b_ok = (allocate(e, size, _BOOL_PL, node) for size in gathered)
    row_ok, column_ok = allocate(e, rows, _BOOL_PL, node), allocate(e, columns, _BOOL_PL, node)

    def gather_a() -> None:
        Evaluation(e, a_levels, sizes[0], a_ok).run([(Operand(form.a, ty), a)])
        each(e, rows, lambda p: _all(e, row_ok, p, inner, lambda i: e.b.add(e.b.mul(p, inner), i), a_ok))

    def gather_b() -> None:
        Evaluation(e, b_levels, sizes[1], b_ok).run([(Operand(form.b, ty), b)])
        each(e, columns, lambda s: _all(e, column_ok, s, inner, lambda i: e.b.add(e.b.mul(i, columns), s), b_ok))

    gathers = (gather_a, gather_b)
    known: Optional[_Known] = None
    for side, gather in enumerate(gathers):
        if side != known_side:
            gather()
    if choice is not None:
        marks, count = (row_ok, rows) if known_side == 0 else (column_ok, columns)
        known = _Known(choice, ready, _gather_known(e, ready, gathers[known_side], marks, count),
                       a if known_side == 0 else b, b if known_side == 0 else a)
    out = array_ref(e, item.temp).data
    buffers: tuple[ir.Value, ...] = (a, b, a_ok, b_ok, row_ok, column_ok)
    if divisor is not None:
        out = allocate(e, _times(e, rows, columns), ty, node)
        buffers += (out,)
    return _Matrices(item, rows, inner, columns, a, b, out, row_ok, column_ok, buffers, known)


def _ready(e: "StmtEmitter", choice: Optional[OneSided]) -> ir.Value:
    """Whether the session holds the one-sided product's registered known matrix (i1)."""
    if choice is None:
        return ir.Constant(ir.IntType(1), 0)
    session = e.b.load(abi.field(e.b, e.ctx, "runtime"), typ=PTR, name="session")
    ready = e.b.call(runtime_function(e.b.module, "ezrt_onesided_ready"), [session, ir.Constant(I32, choice.slot)],
                     name="slot.ready")
    return e.b.icmp_unsigned("!=", ready, ir.Constant(I32, 0))


def _gather_known(e: "StmtEmitter", ready: ir.Value, gather: Callable[[], None], marks: ir.Value,
                  count: ir.Value) -> ir.Value:
    """Gathers the known factor unless `ready` (then its marks are all set), and returns whether
    every entry of it was computed (i1). Where one was not, every mark of the known side is
    cleared: no row is then marked, the product is not registered, and the consumer computes
    every row itself and fails at the failing operand (ezlang.passes.batch_sums)."""
    gather_block, skip_block, join = e.block("known.gather"), e.block("known.skip"), e.block("known.join")
    e.b.cbranch(ready, skip_block, gather_block)
    e.continue_at(gather_block)
    gather()
    e.b.branch(join)
    e.continue_at(skip_block)
    each(e, count, lambda k: _store_bool(e, marks, k, ir.Constant(ir.IntType(1), 1)))
    e.b.branch(join)
    e.continue_at(join)
    every = e.alloca(ir.IntType(1), "known.every")
    e.b.store(ir.Constant(ir.IntType(1), 1), every)
    each(e, count, lambda k: e.b.store(e.b.and_(e.b.load(every, typ=ir.IntType(1)), _load_bool(e, marks, k)), every))
    all_ok = e.b.load(every, typ=ir.IntType(1), name="known.all")
    each(e, count, lambda k: _store_bool(e, marks, k, e.b.and_(_load_bool(e, marks, k), all_ok)))
    return all_ok


def _unmark(e: "StmtEmitter", done: ir.Value, length: ir.Value, product: _Matrices) -> None:
    """Row r of the sums (r = p·columns + s, for both forms) stays marked only if A's row p and
    B's column s were computed entirely."""
    def unmark(r: ir.Value) -> None:
        columns = product.columns
        ok = e.b.and_(_load_bool(e, product.row_ok, e.b.udiv(r, columns)),
                      _load_bool(e, product.column_ok, e.b.urem(r, columns)))
        _store_bool(e, done, r, e.b.and_(_load_bool(e, done, r), ok))

    each(e, length, unmark)


def _copy_sums(e: "StmtEmitter", product: _Matrices, length: ir.Value) -> None:
    """A divided form's sums: the first `length` entries of C (row-major, r·M + c = p)."""
    if product.item.form.divisor is None:
        return
    ty = typed(product.item.product.ty, product.item.product).scalar()
    sums = array_ref(e, product.item.temp).data

    def copy(k: ir.Value) -> None:
        value = e.mx.layout.load(e.b, element(e, product.out, k, ty), ty, "sums.c")
        e.mx.layout.store(e.b, value, element(e, sums, k, ty), ty)

    each(e, length, copy)


def _all(e: "StmtEmitter", out: ir.Value, at: ir.Value, count: ir.Value, position: Callable[[ir.Value], ir.Value],
         marks: ir.Value) -> None:
    """out[at] = every marks[position(i)] for i < count."""
    _store_bool(e, out, at, ir.Constant(ir.IntType(1), 1))
    each(e, count, lambda i: _store_bool(e, out, at, e.b.and_(_load_bool(e, out, at),
                                                               _load_bool(e, marks, position(i)))))


def _load_bool(e: "StmtEmitter", buffer: ir.Value, k: ir.Value) -> ir.Value:
    return e.mx.layout.load(e.b, element(e, buffer, k, _BOOL_PL), _BOOL_PL, "sums.ok")


def _store_bool(e: "StmtEmitter", buffer: ir.Value, k: ir.Value, value: ir.Value) -> None:
    e.mx.layout.store(e.b, value, element(e, buffer, k, _BOOL_PL), _BOOL_PL)


def _call(e: "StmtEmitter", matrices: Sequence[_Matrices]) -> None:
    """ezrt_matmul_many over every item: one round."""
    b, count = e.b, len(matrices)
    shapes = e.alloca(ir.ArrayType(I64, 3 * count), "sums.shapes")
    pointers = [e.alloca(ir.ArrayType(PTR, count), f"sums.{name}") for name in ("a", "b", "c")]
    for q, product in enumerate(matrices):
        for k, size in enumerate((product.rows, product.inner, product.columns)):
            b.store(size, b.gep(shapes, [ir.Constant(I32, 0), ir.Constant(I32, 3 * q + k)]))
        for array, value in zip(pointers, (product.a, product.b, product.out)):
            b.store(value, b.gep(array, [ir.Constant(I32, 0), ir.Constant(I32, q)]))
    session = b.load(abi.field(b, e.ctx, "runtime"), typ=PTR, name="session")
    call = runtime_function(b.module, "ezrt_matmul_many")
    status = b.call(call, [session, ir.Constant(I64, count), shapes, *pointers], name="ezrt_matmul_many.status")
    e.check_status(b.zext(b.icmp_unsigned("!=", status, ir.Constant(I32, 0)), I32, name="rt.status"))


def _call_one_sided(e: "StmtEmitter", product: _Matrices) -> None:
    """ezrt_onesided_matmul for one item (one round), if its known factor is complete: the
    SERVER passes the known matrix when the slot is not registered yet, NULL once it is; the
    other factor goes from every role for a wire, from the CLIENT only for its clear input, from
    the parties only for additive shares."""
    known = product.known
    assert known is not None
    b = e.b
    call_block, after = e.block("onesided.call"), e.block("onesided.after")
    b.cbranch(known.complete, call_block, after)
    e.continue_at(call_block)
    session = b.load(abi.field(b, e.ctx, "runtime"), typ=PTR, name="session")
    role = b.call(runtime_function(b.module, "ezrt_session_role"), [session], name="role")
    null = ir.Constant(PTR, None)
    is_server = b.icmp_unsigned("==", role, ir.Constant(role.type, _SERVER))
    matrix = b.select(b.and_(is_server, b.not_(known.ready)), known.matrix, null, name="onesided.known")
    other = known.other
    if known.choice.other is Other.CLIENT_CLEAR:
        other = b.select(b.icmp_unsigned("==", role, ir.Constant(role.type, _CLIENT)), other, null,
                         name="onesided.other")
    elif known.choice.other is Other.SHARED:
        other = b.select(b.icmp_unsigned("==", role, ir.Constant(role.type, _DEALER)), null, other,
                         name="onesided.other")
    choice = known.choice
    args = [session, ir.Constant(I32, choice.slot), ir.Constant(I32, int(choice.side)),
            ir.Constant(I32, int(choice.other)), product.rows, product.inner, product.columns, matrix, other,
            product.out]
    status = b.call(runtime_function(b.module, "ezrt_onesided_matmul"), args, name="ezrt_onesided_matmul.status")
    e.check_status(b.zext(b.icmp_unsigned("!=", status, ir.Constant(I32, 0)), I32, name="rt.status"))
    b.branch(after)
    e.continue_at(after)


def _products(e: "StmtEmitter", product: _Matrices) -> None:
    """sums[p·S + s] = Σ_i A[p][i] · B[i][s] through the backend's SecretOps, i ascending."""
    ty = typed(product.item.product.ty, product.item.product).scalar()
    label = product.item.product.label
    assert label is not None
    value_type = e.mx.layout.value_type(ty)
    slot = e.alloca(value_type, "sums.acc")

    def load(buffer: ir.Value, k: ir.Value) -> ir.Value:
        return e.mx.layout.load(e.b, element(e, buffer, k, ty), ty, "sums.x")

    def add(p: ir.Value, s: ir.Value, i: ir.Value) -> None:
        x = load(product.a, e.b.add(e.b.mul(p, product.inner), i))
        y = load(product.b, e.b.add(e.b.mul(i, product.columns), s))
        term = e.mx.secret.binary(e.b, e.ctx, BinaryOp.MUL, label, ty, x, y)
        e.b.store(e.mx.secret.binary(e.b, e.ctx, BinaryOp.ADD, label, ty, e.b.load(slot, typ=value_type), term), slot)

    def cell(p: ir.Value, s: ir.Value) -> None:
        e.b.store(e.mx.layout.zero(ty), slot)
        each(e, product.inner, lambda i: add(p, s, i))
        at = e.b.add(e.b.mul(p, product.columns), s)
        e.mx.layout.store(e.b, e.b.load(slot, typ=value_type), element(e, product.out, at, ty), ty)

    each(e, product.rows, lambda p: each(e, product.columns, lambda s: cell(p, s)))
