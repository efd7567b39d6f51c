"""The secure backend: SecretOps over masked wires, lowered onto the runtime's session calls.

Why: docs/protocols.md represents every secret value, whatever its label, as one masked wire in
Z_N, N = 2^bitlen: the parties hold x + r_x, the dealer holds r_x. Linear operations are then the
same instructions in all three roles, so one compiled program serves SERVER, CLIENT and DEALER;
every role-dependent or interactive step is a call into the runtime (runtime/include/ezrt.h)
through the session kept in the context's `runtime` field.

| operation | lowering |
|---|---|
| secret `+ -`, `* public`, `<< public` | i64 arithmetic, masked to the ring |
| public → secret | `ezrt_share_public` (parties get the value, the dealer 0) |
| secret `*` | `ezrt_mul` |
| `< > <= >=`, `==` | `ezrt_lt` (signed per operand type); `==` = 1 − lt(x,y) − lt(y,x), one call of 2 |
| `c ? a : b` | b + c·(a − b) |
| `&& || @ !` on bool wires | p·q, p + q − p·q, p + q − 2p·q, 1 − p |
| secret integer `& | ^` | `ezrt_and`, `ezrt_or`, `ezrt_xor` (bits of both operands, then one product round) |
| secret integer `~x` | −1 − x (local) |
| secret `>>`, `>>>` by a public amount | `ezrt_shr` (arithmetic for a signed `>>`, else logical) |
| `(x > 0 ? x : 0) >> s`, signed x, literal s | `ezrt_relu_rescale` (2 rounds, not 3; `ezlang.passes.fused_ops`) |
| secret `/`, `%` | `ezrt_divmod` (signed per operand type; the unwanted result is NULL) |
| al↔bl, signedness | nothing |
| input / output | the host callback with ring elements, then `ezrt_input` / `ezrt_output` |

Assumes: a typed program that `unsupported_operations` finds nothing in (secure_diagnostics
reports the rest at compile time); secret integers are `bitlen` wide (the checker's E0415).
Guarantees: every wire the code holds is reduced mod 2^bitlen; a failed runtime call leaves the
current function at once with STATUS_ERROR (the error is the session's: `ezrt_session_error`),
which every caller propagates; input and output hooks return a status like ClearSecretOps.
The host side of I/O (ezlang.run.driver) sees ring elements (uint64) at secret sites: it fills
the clear buffer of an input it owns and reads the clear buffer of an output it receives.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, Optional

from llvmlite import ir

from ezlang.codegen import abi, arith, externs_secure
from ezlang.codegen.abi import I8, I32, I64, PTR
from ezlang.codegen.sites import TableBuilder
from ezlang.diagnostics import CompileError, Diagnostics, register
from ezlang.interp import BUILTIN_EXTERNS
from ezlang.passes.protocols import EMPTY_PLAN, PrivateInput, ProtocolPlan
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Base, Label, Role, Type

UNSUPPORTED_SECURE = register("E0701", "operation not supported by the secure runtime")

RECIPIENT_ALL = 3  # EZRT_RECIPIENT_ALL; SERVER and CLIENT are their role numbers
_OWNERS = {Role.SERVER: 0, Role.CLIENT: 1}
_RECIPIENTS = {Role.SERVER: 0, Role.CLIENT: 1, Role.ALL: RECIPIENT_ALL}

# name -> (return type, parameter types) of the session calls compiled code makes (ezrt.h).
RUNTIME_FUNCTIONS: dict[str, tuple[ir.Type, tuple[ir.Type, ...]]] = {
    "ezrt_session_role": (I8, (PTR,)),
    "ezrt_share_public": (I32, (PTR, PTR, PTR, I64)),
    "ezrt_input": (I32, (PTR, I8, PTR, PTR, I64)),
    "ezrt_output": (I32, (PTR, I8, PTR, PTR, I64)),
    "ezrt_mul": (I32, (PTR, PTR, PTR, PTR, I64)),
    "ezrt_lt": (I32, (PTR, I32, PTR, PTR, PTR, I64)),
    "ezrt_and": (I32, (PTR, PTR, PTR, PTR, I64)),
    "ezrt_or": (I32, (PTR, PTR, PTR, PTR, I64)),
    "ezrt_xor": (I32, (PTR, PTR, PTR, PTR, I64)),
    "ezrt_shr": (I32, (PTR, I32, I32, PTR, PTR, I64)),
    "ezrt_relu_rescale": (I32, (PTR, I32, PTR, PTR, I64)),
    "ezrt_relu_rescale_shares": (I32, (PTR, I32, I32, PTR, PTR, I64)),
    "ezrt_divmod": (I32, (PTR, I32, PTR, PTR, PTR, PTR, I64)),
    "ezrt_matmul_many": (I32, (PTR, I64, PTR, PTR, PTR, PTR)),
    "ezrt_onesided_ready": (I32, (PTR, I32)),
    "ezrt_onesided_matmul": (I32, (PTR, I32, I32, I32, I64, I64, I64, PTR, PTR, PTR)),
}

_LOCAL = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.SHL})
_COMPARISONS = frozenset({BinaryOp.LT, BinaryOp.GT, BinaryOp.LE, BinaryOp.GE, BinaryOp.EQ})
_LOGIC = frozenset({BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR})
# On bool wires the bitwise operators are the logical ones.
_BOOL_BITWISE = {BinaryOp.BAND: BinaryOp.AND, BinaryOp.BOR: BinaryOp.OR, BinaryOp.BXOR: BinaryOp.XOR}
# On integer wires they are runtime calls, as are `/` and `%` (one call computes both).
_INT_BITWISE = {BinaryOp.BAND: "ezrt_and", BinaryOp.BOR: "ezrt_or", BinaryOp.BXOR: "ezrt_xor"}
_DIVISION = frozenset({BinaryOp.DIV, BinaryOp.MOD})
_RIGHT_SHIFTS = frozenset({BinaryOp.SHR, BinaryOp.SHRL})
_SCRATCH = 6  # i64 slots: two operands and a result of up to two elements each
_WIRES = "ezrt.wires"


# ---------------------------------------------------------------- what the runtime cannot run yet


def unsupported_operations(program: ast.Program) -> list[tuple[Span, str]]:
    """Every construct of a typed program the secure runtime does not implement, in source order."""
    externs = frozenset(g.name for g in program.globals
                        if isinstance(g, ast.Extern) and externs_secure.native_function(g) is None)
    found: dict[Span, str] = {}
    for node in _walk(program.globals):
        what = _unsupported(node, externs)
        if what is not None and node.span not in found:
            found[node.span] = what
    return sorted(found.items(), key=lambda item: (item[0].file.name, item[0].start))


def check_supported(program: ast.Program) -> None:
    """Raises CompileError with one diagnostic listing every unsupported operation."""
    found = unsupported_operations(program)
    if not found:
        return
    diags = Diagnostics()
    span, first = found[0]
    diags.error(UNSUPPORTED_SECURE,
                f"the secure runtime does not support {_count(len(found))} of this program yet",
                span, label=first,
                notes=tuple(f"{where}: {what}" for where, what in found),
                help="run it in the clear with `ezlang interpret`, or keep floats and extern calls out "
                     "of secret computations")
    raise CompileError(diags)


def _count(n: int) -> str:
    return "this operation" if n == 1 else f"these {n} operations"


def _unsupported(node: object, externs: frozenset[str]) -> Optional[str]:
    if isinstance(node, ast.Binary) and node.label is not None and node.label.is_secret:
        return _unsupported_binary(node)
    if isinstance(node, ast.Unary) and node.label is not None and node.label.is_secret:
        operand = node.operand.ty
        if operand is not None and operand.base is Base.FLOAT:
            return f"secret `{node.op}` on float"
        return None
    if isinstance(node, (ast.Ternary, ast.Convert, ast.Subsume)) and _secret_float(node.ty):
        return "secret float value"
    if isinstance(node, (ast.Decl, ast.Input)) and _secret_float(ast.declared_type(node.type)):
        return "secret float variable"
    if isinstance(node, (ast.Call, ast.CallStmt)) and node.name in externs and node.name not in BUILTIN_EXTERNS:
        return f"call of extern `{node.name}`"
    return None


def _unsupported_binary(node: ast.Binary) -> Optional[str]:
    left = node.left.ty
    base = left.base if left is not None else None
    if base is Base.FLOAT or _secret_float(node.ty):
        return f"secret `{node.op}` on float"
    if base is Base.BOOL and node.op in _BOOL_BITWISE:
        return None
    if node.op in _LOCAL or node.op in _COMPARISONS or node.op in _LOGIC or node.op in _INT_BITWISE:
        return None
    if node.op in _DIVISION or node.op in _RIGHT_SHIFTS:
        return None
    return f"secret `{node.op}` on {base}"


def _secret_float(ty: Optional[Type]) -> bool:
    return ty is not None and ty.base is Base.FLOAT and ty.label.is_secret


def _walk(value: object) -> Iterator[object]:
    if isinstance(value, tuple):
        for item in value:
            yield from _walk(item)
        return
    if not dataclasses.is_dataclass(value) or isinstance(value, (type, ast.TypeNode, Span)):
        return
    yield value
    for item in dataclasses.fields(value):
        if item.name not in ("ty", "known_to", "span", "name_span", "var_span", "file"):
            yield from _walk(getattr(value, item.name))


# ---------------------------------------------------------------- the lowering


class SecureSecretOps:
    """Masked wires in Z_2^bits, one i64 per secret scalar or array element."""

    def __init__(self, bits: int, protocols: ProtocolPlan = EMPTY_PLAN):
        assert bits in (32, 64)
        self.bits = bits
        self.protocols = protocols
        self.mask = (1 << bits) - 1
        # wire produced by share_public -> the public value it came from (for local products)
        self._public: dict[int, tuple[ir.Value, ir.Value]] = {}
        self._sites: Optional[TableBuilder] = None

    # ------------------------------------------------------------ representation

    def value_type(self, ty: Type) -> ir.Type:
        return I64

    def memory_type(self, ty: Type) -> ir.Type:
        return I64

    def zero(self, ty: Type) -> ir.Constant:
        return ir.Constant(I64, 0)  # 0 with mask 0: the same in every role

    # ------------------------------------------------------------ operators

    def binary(self, b: ir.IRBuilder, ctx: ir.Value, op: BinaryOp, label: Label, operand: Type,
               x: ir.Value, y: ir.Value) -> ir.Value:
        if operand.base is Base.BOOL:
            op = _BOOL_BITWISE.get(op, op)
        if op is BinaryOp.ADD:
            return self._ring(b, b.add(x, y, name="w.add"))
        if op is BinaryOp.SUB:
            return self._ring(b, b.sub(x, y, name="w.sub"))
        if op is BinaryOp.MUL or op is BinaryOp.AND:
            return self._mul(b, ctx, x, y)
        if op is BinaryOp.OR:
            return self._ring(b, b.sub(b.add(x, y), self._mul(b, ctx, x, y), name="w.or"))
        if op is BinaryOp.XOR:
            twice = b.shl(self._mul(b, ctx, x, y), ir.Constant(I64, 1))
            return self._ring(b, b.sub(b.add(x, y), twice, name="w.xor"))
        if op in _COMPARISONS:
            return self._compare(b, ctx, op, operand.base.signed, x, y)
        if op in _INT_BITWISE:
            return self._runtime_binary(b, ctx, _INT_BITWISE[op], x, y)
        if op in _DIVISION:
            return self._divmod(b, ctx, operand.base.signed, op is BinaryOp.DIV, x, y)
        raise AssertionError(f"secret `{op}` reached the secure backend (check_supported refuses it)")

    def shift(self, b: ir.IRBuilder, ctx: ir.Value, op: BinaryOp, label: Label, operand: Type,
              x: ir.Value, amount: ir.Value) -> ir.Value:
        k = arith.resize(b, amount, I64, signed=False)
        if op in _RIGHT_SHIFTS:
            return self._shift_right(b, ctx, op is BinaryOp.SHR and operand.base.signed, k, x)
        assert op is BinaryOp.SHL, f"secret `{op}` reached the secure backend"
        # x << k is x * 2^k: local on wires; k >= the ring width leaves 0.
        inside = b.icmp_unsigned("<", k, ir.Constant(I64, self.bits), name="w.shl.in")
        shifted = b.shl(x, b.select(inside, k, ir.Constant(I64, 0)), name="w.shl")
        return self._ring(b, b.select(inside, shifted, ir.Constant(I64, 0)))

    def unary(self, b: ir.IRBuilder, ctx: ir.Value, op: UnaryOp, label: Label, operand: Type,
              x: ir.Value) -> ir.Value:
        # !p = 1 − p on a bool wire, ~x = −1 − x on an integer wire: both local.
        ones = 1 if operand.base is Base.BOOL else self.mask
        return self._ring(b, b.sub(self._public_wire(b, ctx, ir.Constant(I64, ones)), x, name="w.not"))

    def relu_rescale(self, b: ir.IRBuilder, ctx: ir.Value, operand: Type, x: ir.Value, shift: int) -> ir.Value:
        """One element through ezrt_relu_rescale (2 rounds instead of 3); amounts past the width
        are clamped to it, where the runtime gives 0, so that the i32 parameter cannot wrap."""
        scratch = self._scratch_of(b)
        self._put(b, scratch, 0, x)
        self._call(b, "ezrt_relu_rescale", [self._session(b, ctx), ir.Constant(I32, min(shift, self.bits)),
                                            self._slot(b, scratch, 0), self._slot(b, scratch, 4), ir.Constant(I64, 1)])
        return b.load(self._slot(b, scratch, 4), typ=I64, name="w.relu")

    def select(self, b: ir.IRBuilder, ctx: ir.Value, ty: Type, cond: ir.Value, then: ir.Value,
               other: ir.Value) -> ir.Value:
        difference = self._ring(b, b.sub(then, other, name="w.diff"))
        return self._ring(b, b.add(other, self._mul(b, ctx, cond, difference), name="w.select"))

    def convert(self, b: ir.IRBuilder, ctx: ir.Value, src: Type, dst: Type, x: ir.Value) -> ir.Value:
        if src.label.is_secret:
            return x  # al↔bl and signedness: the same ring element
        clear = arith.convert(b, src.base, dst.base, x)
        if clear.type != I64:
            clear = b.zext(clear, I64, name="w.clear")
        return self._public_wire(b, ctx, clear)

    # ------------------------------------------------------------ externs

    def lower_extern(self, emitter: Any, extern: ast.Extern, args: tuple[ast.Expr, ...]) -> bool:
        """A call of an Athos extern the runtime implements natively (ezlang.codegen.externs_secure);
        False if it has none."""
        return externs_secure.lower_call(emitter, extern, args)

    # ------------------------------------------------------------ input and output

    def attach(self, sites: TableBuilder) -> None:
        """The module's site tables: an input's owner and an output's recipient are read there."""
        self._sites = sites

    def input(self, b: ir.IRBuilder, ctx: ir.Value, site: int, ty: Type, dims: Optional[ir.Value],
              count: ir.Value, buffer: ir.Value) -> ir.Value:
        """The host fills a clear buffer (only the owner's host writes it); the owner passes it
        to ezrt_input, the other roles pass NULL; the wires land in `buffer`. A private input
        (passes/protocols.py) is never shared: the owner's host writes the clear values into
        `buffer` itself, and a SERVER's private input is not read at all once every one-sided
        product it feeds has registered its masked copy in the session."""
        private = self._private(site)
        if private is not None:
            return self._private_input(b, ctx, site, dims, count, buffer, private)
        owner = ir.Constant(I8, _OWNERS[self._tables().inputs[site].role])
        session = self._session(b, ctx)
        clear = self._allocate(b, count)
        host = abi.call_host(b, ctx, "read_input", site, dims, count, clear)
        role = b.call(self._fn(b, "ezrt_session_role"), [session], name="role")
        values = b.select(b.icmp_unsigned("==", role, owner), clear, ir.Constant(PTR, None), name="w.values")
        status = self._if_ok(b, host, lambda: self._status(
            b, b.call(self._fn(b, "ezrt_input"), [session, owner, values, buffer, count])))
        b.call(b.module.globals["free"], [clear])
        return status

    def _private(self, site: int) -> Optional[PrivateInput]:
        info = self._tables().inputs[site]
        private = self.protocols.private_input(info.name)
        return private if private is not None and private.span == info.span else None

    def _private_input(self, b: ir.IRBuilder, ctx: ir.Value, site: int, dims: Optional[ir.Value], count: ir.Value,
                       buffer: ir.Value, private: PrivateInput) -> ir.Value:
        session = self._session(b, ctx)
        registered = ir.Constant(ir.IntType(1), private.owner is Role.SERVER)
        for slot in private.slots:
            ready = b.call(self._fn(b, "ezrt_onesided_ready"), [session, ir.Constant(I32, slot)], name="slot.ready")
            registered = b.and_(registered, b.icmp_unsigned("!=", ready, ir.Constant(I32, 0)))
        start = b.block
        read, done = b.function.append_basic_block("private.read"), b.function.append_basic_block("private.done")
        b.cbranch(registered, done, read)
        b.position_at_end(read)
        status = abi.call_host(b, ctx, "read_input", site, dims, count, buffer)
        end = b.block
        b.branch(done)
        b.position_at_end(done)
        phi = b.phi(I32, name="private.status")
        phi.add_incoming(ir.Constant(I32, abi.STATUS_OK), start)
        phi.add_incoming(status, end)
        return phi

    def output(self, b: ir.IRBuilder, ctx: ir.Value, site: int, ty: Type, dims: Optional[ir.Value],
               count: ir.Value, buffer: ir.Value) -> ir.Value:
        """ezrt_output opens the wires into a clear buffer; the host delivers it if its role
        receives the output."""
        recipient = ir.Constant(I8, _RECIPIENTS[self._tables().outputs[site].recipient])
        session = self._session(b, ctx)
        clear = self._allocate(b, count)
        opened = self._status(b, b.call(self._fn(b, "ezrt_output"), [session, recipient, buffer, clear, count]))
        status = self._if_ok(b, opened, lambda: abi.call_host(b, ctx, "write_output", site, dims, count, clear))
        b.call(b.module.globals["free"], [clear])
        return status

    # ------------------------------------------------------------ helpers

    def _tables(self) -> TableBuilder:
        assert self._sites is not None, "emit_module attaches the site tables before emitting"
        return self._sites

    def _ring(self, b: ir.IRBuilder, value: ir.Value) -> ir.Value:
        if self.bits == 64:
            return value
        return b.and_(value, ir.Constant(I64, self.mask), name="w")

    def _mul(self, b: ir.IRBuilder, ctx: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
        """A product of wires; with a public factor it is local (c·x̂, and c·r_x on the dealer)."""
        for wire, other in ((x, y), (y, x)):
            public = self._public.get(id(wire))
            if public is not None and public[0] is wire:
                return self._ring(b, b.mul(public[1], other, name="w.cmul"))
        scratch = self._scratch_of(b)
        self._put(b, scratch, 0, x)
        self._put(b, scratch, 2, y)
        self._call(b, "ezrt_mul", [self._session(b, ctx), self._slot(b, scratch, 0), self._slot(b, scratch, 2),
                                   self._slot(b, scratch, 4), ir.Constant(I64, 1)])
        return b.load(self._slot(b, scratch, 4), typ=I64, name="w.mul")

    def _compare(self, b: ir.IRBuilder, ctx: ir.Value, op: BinaryOp, signed: bool, x: ir.Value,
                 y: ir.Value) -> ir.Value:
        """`x < y` is lt(x, y); `>` swaps, `<=` and `>=` are 1 − the swapped one; `==` asks both
        lt(x, y) and lt(y, x) in one call."""
        pairs = {BinaryOp.LT: [(x, y)], BinaryOp.GT: [(y, x)], BinaryOp.LE: [(y, x)], BinaryOp.GE: [(x, y)],
                 BinaryOp.EQ: [(x, y), (y, x)]}[op]
        scratch = self._scratch_of(b)
        for k, (left, right) in enumerate(pairs):
            self._put(b, scratch, k, left)
            self._put(b, scratch, 2 + k, right)
        self._call(b, "ezrt_lt", [self._session(b, ctx), ir.Constant(I32, int(signed)), self._slot(b, scratch, 0),
                                  self._slot(b, scratch, 2), self._slot(b, scratch, 4), ir.Constant(I64, len(pairs))])
        results = [b.load(self._slot(b, scratch, 4 + k), typ=I64, name="w.lt") for k in range(len(pairs))]
        if op in (BinaryOp.LT, BinaryOp.GT):
            return results[0]
        one = self._public_wire(b, ctx, ir.Constant(I64, 1))
        for result in results:
            one = b.sub(one, result)
        return self._ring(b, one)

    def _runtime_binary(self, b: ir.IRBuilder, ctx: ir.Value, name: str, x: ir.Value, y: ir.Value) -> ir.Value:
        """One element through ezrt_and, ezrt_or or ezrt_xor."""
        scratch = self._scratch_of(b)
        self._put(b, scratch, 0, x)
        self._put(b, scratch, 2, y)
        self._call(b, name, [self._session(b, ctx), self._slot(b, scratch, 0), self._slot(b, scratch, 2),
                             self._slot(b, scratch, 4), ir.Constant(I64, 1)])
        return b.load(self._slot(b, scratch, 4), typ=I64, name=f"w.{name[5:]}")

    def _divmod(self, b: ir.IRBuilder, ctx: ir.Value, signed: bool, quotient: bool, x: ir.Value,
                y: ir.Value) -> ir.Value:
        """`x / y` or `x % y` through ezrt_divmod, which is told not to write the other result."""
        scratch = self._scratch_of(b)
        self._put(b, scratch, 0, x)
        self._put(b, scratch, 2, y)
        wanted, unwanted = self._slot(b, scratch, 4), ir.Constant(PTR, None)
        q, r = (wanted, unwanted) if quotient else (unwanted, wanted)
        self._call(b, "ezrt_divmod", [self._session(b, ctx), ir.Constant(I32, int(signed)), self._slot(b, scratch, 0),
                                      self._slot(b, scratch, 2), q, r, ir.Constant(I64, 1)])
        return b.load(wanted, typ=I64, name="w.div" if quotient else "w.mod")

    def _shift_right(self, b: ir.IRBuilder, ctx: ir.Value, arithmetic: bool, k: ir.Value, x: ir.Value) -> ir.Value:
        """`x >> k` (arithmetic) or `x >>> k` through ezrt_shr; amounts past the width are clamped to
        it, where the runtime gives 0 or all sign bits, so that the i32 parameter cannot wrap."""
        width = ir.Constant(I64, self.bits)
        clamped = b.select(b.icmp_unsigned("<", k, width), k, width, name="w.shr.k")
        scratch = self._scratch_of(b)
        self._put(b, scratch, 0, x)
        self._call(b, "ezrt_shr", [self._session(b, ctx), ir.Constant(I32, int(arithmetic)),
                                   b.trunc(clamped, I32, name="w.shr.amount"), self._slot(b, scratch, 0),
                                   self._slot(b, scratch, 4), ir.Constant(I64, 1)])
        return b.load(self._slot(b, scratch, 4), typ=I64, name="w.shr")

    def _public_wire(self, b: ir.IRBuilder, ctx: ir.Value, clear: ir.Value) -> ir.Value:
        """ezrt_share_public of one clear i64 (reduced to the ring)."""
        clear = self._ring(b, clear)
        scratch = self._scratch_of(b)
        self._put(b, scratch, 0, clear)
        self._call(b, "ezrt_share_public", [self._session(b, ctx), self._slot(b, scratch, 0),
                                            self._slot(b, scratch, 4), ir.Constant(I64, 1)])
        wire = b.load(self._slot(b, scratch, 4), typ=I64, name="w.public")
        self._public[id(wire)] = (wire, clear)
        return wire

    def _call(self, b: ir.IRBuilder, name: str, args: list[ir.Value]) -> None:
        """A runtime call whose failure leaves the function with STATUS_ERROR at once (the arrays
        of the frames are not freed: the run is over, and the process reports the session's error)."""
        status = b.call(self._fn(b, name), args, name=f"{name}.status")
        ok = b.icmp_unsigned("==", status, ir.Constant(I32, 0), name="rt.ok")
        failed, passed = b.function.append_basic_block("rt.fail"), b.function.append_basic_block("rt.ok")
        b.cbranch(ok, passed, failed)
        b.position_at_end(failed)
        b.ret(ir.Constant(I32, abi.STATUS_ERROR))
        b.position_at_end(passed)

    @staticmethod
    def _if_ok(b: ir.IRBuilder, status: ir.Value, then: Callable[[], ir.Value]) -> ir.Value:
        """`then()`'s status where `status` is OK, else `status`."""
        start = b.block
        run, done = b.function.append_basic_block("io.next"), b.function.append_basic_block("io.done")
        b.cbranch(b.icmp_unsigned("==", status, ir.Constant(I32, abi.STATUS_OK)), run, done)
        b.position_at_end(run)
        second = then()
        end = b.block
        b.branch(done)
        b.position_at_end(done)
        phi = b.phi(I32, name="io.status")
        phi.add_incoming(status, start)
        phi.add_incoming(second, end)
        return phi

    @staticmethod
    def _status(b: ir.IRBuilder, status: ir.Value) -> ir.Value:
        """An ezrt_status as a compiled-code status (its codes would collide with STATUS_*)."""
        failed = b.icmp_unsigned("!=", status, ir.Constant(I32, 0), name="rt.failed")
        return b.zext(failed, I32, name="rt.status")

    @staticmethod
    def _session(b: ir.IRBuilder, ctx: ir.Value) -> ir.Value:
        return b.load(abi.field(b, ctx, "runtime"), typ=PTR, name="session")

    @staticmethod
    def _allocate(b: ir.IRBuilder, count: ir.Value) -> ir.Value:
        """calloc(max(count, 1), 8): calloc(0) may return NULL."""
        empty = b.icmp_unsigned("==", count, ir.Constant(I64, 0))
        cells = b.select(empty, ir.Constant(I64, 1), count)
        return b.call(b.module.globals["calloc"], [cells, ir.Constant(I64, 8)], name="w.clear.buf")

    @staticmethod
    def _scratch_of(b: ir.IRBuilder) -> ir.GlobalVariable:
        """The module's six i64 slots that pass operands and results to the runtime. A global, not
        an alloca: the hooks write in the middle of a body, where an alloca would grow the stack on
        every loop iteration; each slot is read back right after its call, before any other code."""
        module = b.module
        if _WIRES in module.globals:
            return module.globals[_WIRES]
        slots = ir.GlobalVariable(module, ir.ArrayType(I64, _SCRATCH), _WIRES)
        slots.linkage = "internal"
        slots.initializer = ir.Constant(ir.ArrayType(I64, _SCRATCH), None)
        return slots

    @staticmethod
    def _slot(b: ir.IRBuilder, scratch: ir.GlobalVariable, k: int) -> ir.Value:
        return scratch.gep([ir.Constant(I32, 0), ir.Constant(I32, k)])

    def _put(self, b: ir.IRBuilder, scratch: ir.GlobalVariable, k: int, value: ir.Value) -> None:
        b.store(value, self._slot(b, scratch, k))

    @staticmethod
    def _fn(b: ir.IRBuilder, name: str) -> ir.Function:
        """The runtime function `name`, declared in the module on first use."""
        module = b.module
        if name in module.globals:
            return module.globals[name]
        ret, params = RUNTIME_FUNCTIONS[name]
        fn = ir.Function(module, ir.FunctionType(ret, params), name)
        for arg, ty in zip(fn.args, params):
            if ty == I8:
                arg.add_attribute("zeroext")  # uint8_t: the C ABI extends it in the caller
        if ret == I8:
            fn.return_value.add_attribute("zeroext")
        return fn


__all__ = ["RECIPIENT_ALL", "RUNTIME_FUNCTIONS", "SecureSecretOps", "UNSUPPORTED_SECURE", "check_supported",
           "unsupported_operations"]
