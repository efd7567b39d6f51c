"""What the emitter knows while it writes one LLVM function: bindings, blocks, checks and exits.

Why: every EzPC function (and the entry that evaluates the global constants) is lowered the same
way: locals live in entry-block allocas (LLVM's mem2reg makes registers of them); every exit goes
through one `exit` block that frees the function's arrays and returns the status; every failed
check jumps to a cold block that records its error site in the context.

Assumes: names are resolved with EzPC's scopes (a function body, each `for`, `while` body and
`if` branch opens one; a block does not), as the interpreter does.
Guarantees: a finished function is well formed: every block ends in a terminator, statements
after a `return` land in unreachable blocks, and every owned array is freed exactly once on
every path (at the end of its scope, or in `exit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from llvmlite import ir

from ezlang.codegen import abi, arith
from ezlang.codegen.abi import I32, I64, PTR
from ezlang.codegen.secret import SecretOps
from ezlang.codegen.sites import ErrorSite, TableBuilder
from ezlang.diagnostics import Diagnostics
from ezlang.syntax import ast
from ezlang.types import Type

FAIL = "ezrt.fail"
CALL_FAILED = "ezrt.call_failed"


@dataclass(frozen=True)
class ArrayRef:
    """An array value: its row-major data and its dimensions (i64), outermost first."""

    data: ir.Value
    dims: tuple[ir.Value, ...]


@dataclass(frozen=True)
class ScalarVar:
    slot: ir.Value  # an alloca of the value type
    ty: Type


@dataclass(frozen=True)
class ArrayVar:
    """A local array (`owned`: data and dims are allocas, and it is freed) or a parameter (SSA)."""

    data: ir.Value
    dims: tuple[ir.Value, ...]
    ty: Type
    owned: bool

    def ref(self, b: ir.IRBuilder, name: str) -> ArrayRef:
        if not self.owned:
            return ArrayRef(self.data, self.dims)
        return ArrayRef(b.load(self.data, typ=PTR, name=f"{name}.data"),
                        tuple(b.load(d, typ=I64, name=f"{name}.dim{k}") for k, d in enumerate(self.dims)))


@dataclass(frozen=True)
class GlobalConst:
    """A global constant: folded to an LLVM constant, or a global variable set by the entry."""

    value: ir.Value
    ty: Type
    stored: bool


Binding = Union[ScalarVar, ArrayVar, GlobalConst]


class Layout:
    """The representation of values: cleartext for public types, the SecretOps' for secret ones."""

    def __init__(self, secret: SecretOps):
        self.secret = secret

    def value_type(self, ty: Type) -> ir.Type:
        return self.secret.value_type(ty) if ty.label.is_secret else abi.value_type(ty.base)

    def memory_type(self, ty: Type) -> ir.Type:
        return self.secret.memory_type(ty) if ty.label.is_secret else abi.memory_type(ty.base)

    def zero(self, ty: Type) -> ir.Constant:
        return self.secret.zero(ty) if ty.label.is_secret else arith.constant(ty.base, 0)

    def load(self, b: ir.IRBuilder, ptr: ir.Value, ty: Type, name: str) -> ir.Value:
        value = b.load(ptr, typ=self.memory_type(ty), name=name)
        wanted = self.value_type(ty)
        return value if value.type == wanted else b.trunc(value, wanted, name=f"{name}.bit")

    def store(self, b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, ty: Type) -> None:
        stored = self.memory_type(ty)
        b.store(value if value.type == stored else b.zext(value, stored, name="byte"), ptr)


@dataclass(frozen=True)
class Callee:
    fn: ir.Function
    node: ast.FunDef


@dataclass
class ModuleContext:
    """State shared by the functions of one module."""

    module: ir.Module
    secret: SecretOps
    layout: Layout
    diags: Diagnostics
    functions: dict[str, Callee] = field(default_factory=dict)
    externs: dict[str, ast.Extern] = field(default_factory=dict)
    globals: dict[str, GlobalConst] = field(default_factory=dict)
    tables: TableBuilder = field(default_factory=TableBuilder)

    def helper(self, name: str) -> ir.Function:
        fn = self.module.globals[name]
        assert isinstance(fn, ir.Function)
        return fn


class FunctionBase:
    """One function under construction; `b` is the builder at the current point of the body."""

    def __init__(self, mx: ModuleContext, fn: ir.Function, ctx: ir.Value,
                 result: Optional[ir.Value] = None, ret: Optional[Type] = None):
        self.mx, self.fn, self.ctx, self.result, self.ret = mx, fn, ctx, result, ret
        self.entry = ir.IRBuilder(fn.append_basic_block("entry"))
        self.start = fn.append_basic_block("start")
        self.b = ir.IRBuilder(self.start)
        self.exit = fn.append_basic_block("exit")
        self.status = self.entry.alloca(I32, name="status")
        self.scopes: list[dict[str, Binding]] = [{}]
        self.owned: list[list[ArrayVar]] = [[]]
        # Where a failed check goes instead of failing: set while a batch's operands are
        # evaluated (ezlang.codegen.batch stops the batch there).
        self.failure: Optional[ir.Block] = None

    # ------------------------------------------------------------ blocks and locals

    def block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def alloca(self, ty: ir.Type, name: str) -> ir.Value:
        return self.entry.alloca(ty, name=name)

    def continue_at(self, block: ir.Block) -> None:
        self.b.position_at_end(block)

    # ------------------------------------------------------------ scopes

    def lookup(self, name: str) -> Binding:
        for level in reversed(self.scopes):
            if name in level:
                return level[name]
        return self.mx.globals[name]

    def declare(self, name: str, binding: Binding) -> None:
        self.scopes[-1][name] = binding
        if isinstance(binding, ArrayVar) and binding.owned:
            self.owned[-1].append(binding)

    def push(self) -> None:
        self.scopes.append({})
        self.owned.append([])

    def pop(self) -> list[ArrayVar]:
        """Closes a scope; returns its arrays, which the caller frees where the scope ends."""
        self.scopes.pop()
        return self.owned.pop()

    def local_array(self, name: str, rank: int, ty: Type) -> ArrayVar:
        """Slots for a local array; data starts NULL, so `exit` may free it on any path."""
        data = self.alloca(PTR, f"{name}.data")
        self.entry.store(ir.Constant(PTR, None), data)
        dims = tuple(self.alloca(I64, f"{name}.dim{k}") for k in range(rank))
        return ArrayVar(data, dims, ty, owned=True)

    def free(self, arrays: Sequence[ArrayVar]) -> None:
        """Frees arrays whose scope ends here (not after a terminator: that path left already)."""
        if self.b.block.is_terminated:
            return
        free = self.mx.helper("free")
        for array in arrays:
            self.b.call(free, [self.b.load(array.data, typ=PTR, name="dead")])
            self.b.store(ir.Constant(PTR, None), array.data)

    # ------------------------------------------------------------ checks and exits

    def error_site(self, site: ErrorSite) -> int:
        return self.mx.tables.add_error(site)

    def fail_unless(self, ok: ir.Value, site: int, values: Sequence[ir.Value] = (), name: str = "check") -> None:
        """Continues where `ok` holds; otherwise records `site` with up to two i64 values and leaves."""
        passed, failed = self.block(f"{name}.ok"), self.block(f"{name}.fail")
        self.b.cbranch(ok, passed, failed)
        self.continue_at(failed)
        if self.failure is not None:
            self.b.branch(self.failure)
        else:
            operands = [*values, *[ir.Constant(I64, 0)] * (2 - len(values))]
            status = self.b.call(self.mx.helper(FAIL), [self.ctx, ir.Constant(I32, site), *operands], name="failed")
            self._exit_with(status)
        self.continue_at(passed)

    def check_status(self, status: ir.Value, call_site: Optional[int] = None) -> None:
        """Continues when `status` is OK; otherwise leaves with it (via the call site's handler)."""
        ok = self.b.icmp_unsigned("==", status, ir.Constant(I32, abi.STATUS_OK), name="ok")
        passed, failed = self.block("status.ok"), self.block("status.fail")
        self.b.cbranch(ok, passed, failed)
        self.continue_at(failed)
        if call_site is not None:
            status = self.b.call(self.mx.helper(CALL_FAILED), [self.ctx, status, ir.Constant(I32, call_site)],
                                 name="failed")
        self._exit_with(status)
        self.continue_at(passed)

    def leave(self, status: Union[ir.Value, int]) -> None:
        """Stores the status and jumps to `exit`; code after this point is unreachable."""
        self._exit_with(ir.Constant(I32, status) if isinstance(status, int) else status)
        self.continue_at(self.block("dead"))

    def _exit_with(self, status: ir.Value) -> None:
        self.b.store(status, self.status)
        self.b.branch(self.exit)

    def finish(self, stack_check: bool) -> None:
        """Closes the body (falling off the end of a non-void function is the caller's error),
        writes the exit, and enters the body from `entry` (after the stack check, if asked)."""
        if not self.b.block.is_terminated:
            self.leave(abi.STATUS_OK if self.ret is None else abi.STATUS_NO_RETURN)
        self.b.unreachable()
        self.fn.blocks.remove(self.exit)
        self.fn.blocks.append(self.exit)
        self._write_exit()
        if stack_check:
            self._check_stack()
        else:
            self.entry.branch(self.start)

    def _write_exit(self) -> None:
        b = ir.IRBuilder(self.exit)
        free = self.mx.helper("free")
        for array in (a for level in self.owned for a in level):
            b.call(free, [b.load(array.data, typ=PTR, name="dead")])
        b.ret(b.load(self.status, typ=I32, name="status"))

    def _check_stack(self) -> None:
        """Deep recursion ends with STATUS_TOO_DEEP rather than a crash: the frame must lie
        above the context's stack limit (stacks grow down on every target LLVM JITs for here)."""
        b = self.entry
        frame = b.ptrtoint(b.call(self.mx.helper("llvm.frameaddress.p0"), [ir.Constant(I32, 0)], name="frame"),
                           I64, name="sp")
        limit = b.load(abi.field(b, self.ctx, "stack_limit"), typ=I64, name="limit")
        too_deep = self.block("too.deep")
        b.cbranch(b.icmp_unsigned("<", frame, limit, name="deep"), too_deep, self.start)
        ir.IRBuilder(too_deep).ret(ir.Constant(I32, abi.STATUS_TOO_DEEP))
