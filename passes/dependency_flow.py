"""The intraprocedural half of the dependency analysis (passes/dependencies.py): bit masks, the
store with undo frames, and one run over a function body.

Assumes: names resolve as in §4.1. Guarantees: after a run, the records hold, for every
expression, output, call site and variable of the function, a sound dependency mask over the
function's placeholders (its parameters and its caller's control context), and the run returns
the function's summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Role


@dataclass(frozen=True)
class InputRef:
    """One `input(role, name, type)` statement."""

    role: Role
    name: str
    span: Span

    def __str__(self) -> str:
        return f"{self.role}:{self.name}"


@dataclass(frozen=True)
class OpenParameter:
    """A parameter of a function that nothing in this program calls: its callers are unknown."""

    function: str
    name: str
    secret: bool

    def __str__(self) -> str:
        return f"{self.function}({self.name})"


@dataclass(frozen=True)
class Variable:
    """A declared variable (decl, input, parameter or loop variable) of one function."""

    function: str
    name: str
    span: Span
    secret: bool


# ---------------------------------------------------------------- bit layout


@dataclass(frozen=True)
class Bits:
    """Inputs at [0, n); then the caller's pc and one placeholder per parameter slot; then the
    open parameters."""

    inputs: tuple[InputRef, ...]
    slots: int
    open_params: tuple[OpenParameter, ...]
    server_inputs: int = field(init=False)
    client_inputs: int = field(init=False)
    secret_open: int = field(init=False)

    def __post_init__(self) -> None:
        def inputs_of(role: Role) -> int:
            return sum(1 << i for i, ref in enumerate(self.inputs) if ref.role is role)

        object.__setattr__(self, "server_inputs", inputs_of(Role.SERVER))
        object.__setattr__(self, "client_inputs", inputs_of(Role.CLIENT))
        object.__setattr__(self, "secret_open",
                           sum(self.open_param(k) for k, p in enumerate(self.open_params) if p.secret))

    @property
    def pc(self) -> int:
        return 1 << len(self.inputs)

    def param(self, j: int) -> int:
        return 1 << (len(self.inputs) + 1 + j)

    def open_param(self, k: int) -> int:
        return 1 << (len(self.inputs) + 1 + self.slots + k)

    def substitute(self, mask: int, pc: int, args: list[int]) -> int:
        """Replaces the pc bit and the placeholders in `mask` by a call site's masks."""
        base = len(self.inputs)
        holes = (mask >> base) & ((1 << (self.slots + 1)) - 1)
        if not holes:
            return mask
        result = mask & ~(((1 << (self.slots + 1)) - 1) << base)
        if holes & 1:
            result |= pc
        holes >>= 1
        j = 0
        while holes:
            if holes & 1:
                result |= args[j]
            holes >>= 1
            j += 1
        return result


@dataclass(frozen=True)
class Summary:
    """A callee's effect, as masks over its placeholders."""

    ret: int
    writes: tuple[tuple[int, int], ...]  # (array parameter index, its final mask)
    arrays: tuple[int, ...]  # indices of the array parameters


@dataclass
class Records:
    """What one function's analysis saw, as masks over that function's placeholders."""

    exprs: dict[int, int]
    outputs: dict[int, int]
    calls: dict[int, tuple[str, list[int], int]]  # call node id -> callee, argument masks, pc
    variables: dict[int, int]  # declaration id -> union of every value the variable held
    declared: dict[int, Variable]
    input_contexts: dict[int, tuple[Role, int]]  # input statement id -> role, what decides it runs

    @classmethod
    def empty(cls) -> Records:
        return cls({}, {}, {}, {}, {}, {})


@dataclass
class Shared:
    """State of one analyze() call, shared by the per-function analyses."""

    bits: Bits
    input_bit: dict[int, int]
    summaries: dict[str, Summary]
    global_masks: dict[str, int]
    records: dict[str, Records]
    # Per role, what decides how many of its values earlier input statements consumed: with a
    # sequential input file that decides which value the next input statement reads.
    cursors: dict[Role, int]


# ---------------------------------------------------------------- the store


class _Store:
    """Masks per location, with undo frames so that joins cost the changes, not the state."""

    def __init__(self, ever: dict[int, int]) -> None:
        self.values: dict[int, int] = {}
        self.frames: list[dict[int, int]] = []
        self.ever = ever

    def get(self, loc: int) -> int:
        return self.values.get(loc, 0)

    def set(self, loc: int, mask: int) -> None:
        if self.frames and loc not in self.frames[-1]:
            self.frames[-1][loc] = self.values.get(loc, 0)
        self.values[loc] = mask
        self.ever[loc] = self.ever.get(loc, 0) | mask

    def _record_outer(self, loc: int, old: int) -> None:
        if self.frames:
            self.frames[-1].setdefault(loc, old)

    def alternatives(self, runs: list[Callable[[], None]]) -> None:
        """Runs each alternative from the current state and joins their results."""
        afters: list[dict[int, int]] = []
        before: dict[int, int] = {}
        for run in runs:
            self.frames.append({})
            run()
            undo = self.frames.pop()
            afters.append({loc: self.values.get(loc, 0) for loc in undo})
            self.values.update(undo)
            for loc, old in undo.items():
                before.setdefault(loc, old)
        joined: dict[int, int] = {}
        changed_in: dict[int, int] = {}
        for after in afters:
            for loc, mask in after.items():
                joined[loc] = joined.get(loc, 0) | mask
                changed_in[loc] = changed_in.get(loc, 0) + 1
        for loc, mask in joined.items():
            # An alternative that left the location alone contributes its value from before.
            self.values[loc] = mask if changed_in[loc] == len(afters) else mask | before[loc]
            self._record_outer(loc, before[loc])

    def loop(self, iteration: Callable[[], None], extra: Callable[[], int]) -> None:
        """Repeats `iteration` until the loop-head state (and `extra`) stops growing."""
        while True:
            seen = extra()
            self.frames.append({})
            iteration()
            undo = self.frames.pop()
            grew = False
            for loc, old in undo.items():
                new = old | self.values.get(loc, 0)
                grew = grew or new != old
                self.values[loc] = new
                self._record_outer(loc, old)
            if not grew and extra() == seen:
                return


# ---------------------------------------------------------------- one function


class FunctionAnalysis:
    """One run over a function body (or the global initialisers), masks over its placeholders."""

    def __init__(self, shared: Shared, function: str, records: Records) -> None:
        self.shared = shared
        self.bits = shared.bits
        self.function = function
        self.records = records
        self.store = _Store(records.variables)
        self.scopes: list[dict[str, int]] = [{}]
        self.ret = 0
        self.ret_pc = 0
        self.recursive = False

    # -- functions

    def run_function(self, fn: ast.FunDef) -> Summary:
        for j, param in enumerate(fn.params):
            self._dims(param.type, self.bits.pc)
            self._declare(param.name, param, param.span, is_secret(param.type))
            self.store.set(id(param), self.bits.param(j))
        self._sequence(fn.body, self.bits.pc)
        arrays = tuple(j for j, p in enumerate(fn.params) if p.type.dims)
        writes = tuple((j, self.store.get(id(fn.params[j]))) for j in arrays
                       if self.store.get(id(fn.params[j])) != self.bits.param(j))
        return Summary(self.ret, writes, arrays)

    def global_value(self, const: ast.GlobalConst) -> int:
        return self.eval(const.value, 0)

    # -- statements

    def _sequence(self, body: tuple[ast.Stmt, ...], pc: int) -> None:
        for stmt in body:
            self._statement(stmt, pc)

    def _scoped(self, stmt: ast.Stmt | None, pc: int) -> None:
        self.scopes.append({})
        if stmt is not None:
            self._statement(stmt, pc)
        self.scopes.pop()

    def _statement(self, stmt: ast.Stmt, pc: int) -> None:
        match stmt:
            case ast.Decl():
                value = self.eval(stmt.init, pc) if stmt.init is not None else self._dims(stmt.type, pc)
                self._declare(stmt.name, stmt, stmt.name_span, is_secret(stmt.type))
                self.store.set(id(stmt), value | pc | self.ret_pc)
            case ast.Input():
                context = self._dims(stmt.type, pc) | pc | self.ret_pc
                seen = self.records.input_contexts.get(id(stmt), (stmt.role, 0))[1]
                self.records.input_contexts[id(stmt)] = (stmt.role, seen | context)
                value = self.shared.input_bit[id(stmt)] | context | self.shared.cursors.get(stmt.role, 0)
                self._declare(stmt.name, stmt, stmt.name_span, stmt.role is not Role.ALL)
                self.store.set(id(stmt), value)
            case ast.Assign():
                self._assign(stmt.target, self.eval(stmt.value, pc) | pc | self.ret_pc, pc)
            case ast.CallStmt():
                self._call(stmt, stmt.name, stmt.args, pc)
            case ast.Return():
                value = self.eval(stmt.value, pc) if stmt.value is not None else 0
                self.ret_pc |= pc
                self.ret |= value | pc | self.ret_pc
            case ast.Output():
                mask = self.eval(stmt.value, pc) | pc | self.ret_pc
                self.records.outputs[id(stmt)] = self.records.outputs.get(id(stmt), 0) | mask
            case ast.Block():
                self._sequence(stmt.body, pc)
            case ast.If():
                self._if(stmt, pc)
            case ast.For():
                self._for(stmt, pc)
            case ast.While():
                self._while(stmt, pc)
            case _:
                raise TypeError(f"not a statement: {stmt!r}")

    def _if(self, stmt: ast.If, pc: int) -> None:
        """An `if ... else if ... else` chain as one join of all its branches, so that a long
        chain costs no recursion."""
        branches: list[tuple[ast.Stmt | None, int]] = []
        node: ast.Stmt | None = stmt
        inner = pc
        while isinstance(node, ast.If):
            inner |= self.eval(node.cond, inner)
            branches.append((node.then, inner))
            node = node.other
        branches.append((node, inner))
        self.store.alternatives([partial(self._scoped, branch, inner) for branch, inner in branches])

    def _for(self, stmt: ast.For, pc: int) -> None:
        bounds = self.eval(stmt.lo, pc) | self.eval(stmt.hi, pc)
        inner = pc | bounds

        def iteration() -> None:
            self.scopes.append({})
            self._declare(stmt.var, stmt, stmt.var_span, False)
            self.store.set(id(stmt), inner | self.ret_pc)
            self._sequence(stmt.body, inner)
            self.scopes.pop()

        self.store.loop(iteration, lambda: self.ret_pc)

    def _while(self, stmt: ast.While, pc: int) -> None:
        def iteration() -> None:
            inner = pc | self.eval(stmt.cond, pc)
            self.scopes.append({})
            self._sequence(stmt.body, inner)
            self.scopes.pop()

        self.store.loop(iteration, lambda: self.ret_pc)

    def _assign(self, target: ast.LValue, value: int, pc: int) -> None:
        if isinstance(target, ast.Var):
            self.store.set(self._local(target.name), value)
        else:
            loc, index = self._root(target, pc)
            self.store.set(loc, self.store.get(loc) | value | index)
        self.eval(target, pc)

    def _declare(self, name: str, node: object, span: Span, secret: bool) -> None:
        self.scopes[-1][name] = id(node)
        if id(node) not in self.records.declared:
            self.records.declared[id(node)] = Variable(self.function, name, span, secret)

    def _dims(self, node: ast.TypeNode, pc: int) -> int:
        mask = 0
        for dim in node.dims:
            mask |= self.eval(dim, pc)
        return mask

    # -- names

    def _local(self, name: str) -> int:
        for scope in reversed(self.scopes):
            loc = scope.get(name)
            if loc is not None:
                return loc
        raise LookupError(f"dependency analysis: `{name}` is not a local of {self.function}")

    def _read(self, name: str) -> int:
        for scope in reversed(self.scopes):
            loc = scope.get(name)
            if loc is not None:
                return self.store.get(loc)
        if name in self.shared.global_masks:
            return self.shared.global_masks[name]
        raise LookupError(f"dependency analysis: `{name}` does not resolve in {self.function}")

    def _root(self, expr: ast.Expr, pc: int) -> tuple[int, int]:
        """The array location an lvalue or array argument lives in, and its index dependencies."""
        index = 0
        while not isinstance(expr, ast.Var):
            if isinstance(expr, ast.Index):
                index |= self.eval(expr.index, pc)
                expr = expr.array
            elif isinstance(expr, (ast.Convert, ast.Subsume)):
                expr = expr.operand
            else:
                raise TypeError(f"not an array location: {expr!r}")
        return self._local(expr.name), index

    # -- expressions

    def eval(self, expr: ast.Expr, pc: int) -> int:
        mask = self._eval(expr, pc)
        exprs = self.records.exprs
        exprs[id(expr)] = exprs.get(id(expr), 0) | mask
        return mask

    def _eval(self, expr: ast.Expr, pc: int) -> int:
        match expr:
            case ast.IntLit() | ast.FloatLit() | ast.BoolLit() | ast.RoleLit():
                return 0
            case ast.Var(name=name):
                return self._read(name)
            case ast.Index(array=array, index=index):
                return self.eval(array, pc) | self.eval(index, pc)
            case ast.Binary(left=left, right=right):
                return self.eval(left, pc) | self.eval(right, pc)
            case ast.Unary(operand=operand) | ast.Subsume(operand=operand) | ast.Convert(operand=operand):
                return self.eval(operand, pc)
            case ast.Ternary(cond=cond, then=then, other=other):
                return self.eval(cond, pc) | self.eval(then, pc) | self.eval(other, pc)
            case ast.Call(name=name, args=args):
                return self._call(expr, name, args, pc)
        raise TypeError(f"not an expression: {expr!r}")

    def _call(self, node: ast.Call | ast.CallStmt, name: str, args: tuple[ast.Expr, ...], pc: int) -> int:
        summary = self.shared.summaries.get(name)
        if summary is None:
            raise LookupError(f"dependency analysis: no function `{name}` before its call")
        self.recursive = self.recursive or name == self.function
        pc |= self.ret_pc
        masks = [self.eval(arg, pc) for arg in args]
        roots = {j: self._root(args[j], pc) for j in summary.arrays}
        aliased = len({loc for loc, _ in roots.values()}) < len(roots)
        while self._apply_writes(summary, roots, masks, pc) and aliased:
            for j, (loc, index) in roots.items():
                masks[j] = self.store.get(loc) | index
        self._record_call(node, name, masks, pc)
        return self.bits.substitute(summary.ret, pc, masks)

    def _apply_writes(self, summary: Summary, roots: dict[int, tuple[int, int]], masks: list[int],
                      pc: int) -> bool:
        grew = False
        for j, written in summary.writes:
            loc, index = roots[j]
            old = self.store.get(loc)
            new = old | self.bits.substitute(written, pc, masks) | index | pc
            if new != old:
                self.store.set(loc, new)
                grew = True
        return grew

    def _record_call(self, node: object, name: str, masks: list[int], pc: int) -> None:
        seen = self.records.calls.get(id(node))
        if seen is not None:
            masks = [a | b for a, b in zip(seen[1], masks)]
            pc |= seen[2]
        self.records.calls[id(node)] = (name, masks, pc)


def is_secret(node: ast.TypeNode) -> bool:
    return ast.declared_type(node).label.is_secret
