"""Dependency analysis: which party inputs each value of a program may depend on.

Assumes: a program whose names resolve as in §4.1 (a checked program; types are not needed).
Guarantees: soundness — if some run could make a value differ by changing the value one
`input(...)` statement reads, that statement is among the value's sources. Ownership (who knows a
value in the clear) and the output flow summary both read this analysis, so an
under-approximation here would be a leak there.

How, and where it over-approximates:
* A dependency set is a bit mask: one bit per `input` statement, one per formal parameter
  (placeholders inside a function body), one for the caller's control context, and one per
  parameter of a function that no caller in the program reaches (a library entry point, whose
  arguments are unknown).
* Scalars are flow-sensitive (an assignment replaces the set); an array is one location, and a
  write adds to the whole array (index dependencies included) and never removes anything.
* Public control flow: the condition or bounds of an enclosing `if`/`while`/`for` join into
  every assignment, input, return and output under it; a `return` under a condition taints
  everything after it in the function. Branches are joined, loops iterate to a fixpoint.
* Which value an `input` reads may depend on how many values of its party were read before (a
  sequential input file), so every input also depends on what decides whether, and how often, the
  inputs of its party run; that is only public data, and empty when all inputs run
  unconditionally.
* Functions get a summary (return value and array-parameter writes as masks over their
  placeholders) applied per call site; self-recursion iterates the summary to a fixpoint. Array
  arguments that share a location (the same array, or rows of one array) are iterated to a
  fixpoint at the call. An `extern` returns and writes (into every non-`const` array parameter)
  the union of all its arguments, unless `extern_writes` names the parameters it writes.
* Expressions and outputs inside a function take the union over all its call sites.
* Not tracked: termination and run-time errors (an index out of bounds stops the run).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ezlang.passes.dependency_flow import (Bits, FunctionAnalysis, InputRef, OpenParameter, Records, Shared,
                                           Summary, Variable, is_secret)
from ezlang.syntax import ast
from ezlang.types import Role

GLOBALS = "<globals>"  # the pseudo-function whose body is the global constant initialisers


@dataclass(frozen=True)
class Sources:
    """What a value may depend on: input statements, and parameters chosen by unknown callers."""

    inputs: frozenset[InputRef] = frozenset()
    parameters: frozenset[OpenParameter] = frozenset()


_ROLE_ORDER = {Role.SERVER: 0, Role.CLIENT: 1, Role.ALL: 2}


def input_order(ref: InputRef) -> tuple[int, str, int]:
    """SERVER, CLIENT, ALL; then by name; then by position."""
    return _ROLE_ORDER[ref.role], ref.name, ref.span.start


def walk_statements(body: tuple[ast.Stmt, ...]) -> Iterator[ast.Stmt]:
    """Every statement nested in `body`, in source order, without recursion."""
    stack: list[ast.Stmt] = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        match stmt:
            case ast.For(body=inner) | ast.While(body=inner) | ast.Block(body=inner):
                stack.extend(reversed(inner))
            case ast.If(then=then, other=other):
                stack.extend(s for s in (other, then) if s is not None)


# ---------------------------------------------------------------- whole program


@dataclass(frozen=True, eq=False)
class Dependencies:
    """The analysis result: concrete sources of every expression, output and variable."""

    program: ast.Program  # keeps the nodes alive: results are keyed by node identity
    bits: Bits
    expr_masks: Mapping[int, int]
    output_masks: Mapping[int, int]
    variable_masks: Mapping[Variable, int]

    def sources(self, mask: int) -> Sources:
        inputs = frozenset(ref for i, ref in enumerate(self.bits.inputs) if mask >> i & 1)
        params = frozenset(p for k, p in enumerate(self.bits.open_params) if mask & self.bits.open_param(k))
        return Sources(inputs, params)

    def of_expr(self, expr: ast.Expr) -> Sources | None:
        """None for an expression the analysis never evaluated (e.g. an extern's dimensions)."""
        mask = self.expr_masks.get(id(expr))
        return None if mask is None else self.sources(mask)

    def of_output(self, stmt: ast.Output) -> Sources:
        return self.sources(self.output_masks.get(id(stmt), 0))

    def knowers(self, mask: int) -> frozenset[Role]:
        """Who can compute a secret value with these sources from what they hold in the clear:
        everyone if it needs no party's secret, one party if only its own, else nobody. A secret
        parameter of a function without callers stands for anybody's secret."""
        if mask & self.bits.secret_open:
            return frozenset()
        server = bool(mask & self.bits.server_inputs)
        client = bool(mask & self.bits.client_inputs)
        if server and client:
            return frozenset()
        if server:
            return frozenset({Role.SERVER})
        if client:
            return frozenset({Role.CLIENT})
        return frozenset({Role.SERVER, Role.CLIENT})


def analyze(program: ast.Program, *, extern_writes: Mapping[str, frozenset[int]] | None = None) -> Dependencies:
    """Runs the analysis; `extern_writes` optionally names, per extern, the parameter positions
    it writes (by default every non-const array parameter)."""
    functions = [g for g in program.globals if isinstance(g, ast.FunDef)]
    inputs, input_bit = _number_inputs(functions)
    slots = max((len(g.params) for g in program.globals if isinstance(g, (ast.FunDef, ast.Extern))), default=0)
    reachable = _reachable(program)
    open_params = tuple(OpenParameter(fn.name, p.name, is_secret(p.type))
                        for fn in functions if fn.name not in reachable for p in fn.params)
    bits = Bits(inputs, slots, open_params)
    cursors: dict[Role, int] = {}
    while True:
        shared = Shared(bits, input_bit, {}, {}, {}, cursors)
        _summarize_all(shared, program, extern_writes or {})
        contexts = _contexts(shared, functions, reachable)
        consumed = _consumed(shared, contexts)
        if consumed == cursors:
            return _concretize(shared, program, contexts)
        cursors = consumed


def _consumed(shared: Shared, contexts: dict[str, _Context]) -> dict[Role, int]:
    """Per role, the concrete sources of whether (and how often) each of its inputs runs."""
    cursors: dict[Role, int] = {}
    for name, records in shared.records.items():
        ctx = contexts[name]
        for role, mask in records.input_contexts.values():
            concrete = shared.bits.substitute(mask, ctx.pc, ctx.args)
            if concrete:
                cursors[role] = cursors.get(role, 0) | concrete
    return cursors


def _number_inputs(functions: list[ast.FunDef]) -> tuple[tuple[InputRef, ...], dict[int, int]]:
    refs: list[InputRef] = []
    bit: dict[int, int] = {}
    for fn in functions:
        for stmt in walk_statements(fn.body):
            if isinstance(stmt, ast.Input):
                bit[id(stmt)] = 1 << len(refs)
                refs.append(InputRef(stmt.role, stmt.name, stmt.span))
    return tuple(refs), bit


def _calls_in(exprs: Iterator[ast.Expr]) -> Iterator[str]:
    stack = list(exprs)
    while stack:
        expr = stack.pop()
        match expr:
            case ast.Call(name=name, args=args):
                yield name
                stack.extend(args)
            case ast.Index(array=a, index=b) | ast.Binary(left=a, right=b):
                stack.extend((a, b))
            case ast.Unary(operand=x) | ast.Subsume(operand=x) | ast.Convert(operand=x):
                stack.append(x)
            case ast.Ternary(cond=c, then=t, other=o):
                stack.extend((c, t, o))


def _statement_exprs(stmt: ast.Stmt) -> Iterator[ast.Expr]:
    match stmt:
        case ast.Decl(type=t, init=init):
            yield from t.dims
            if init is not None:
                yield init
        case ast.Input(type=t):
            yield from t.dims
        case ast.Assign(target=target, value=value):
            yield from (target, value)
        case ast.CallStmt(span=span, name=name, name_span=name_span, args=args):
            yield ast.Call(span, name, name_span, args)
        case ast.Return(value=value) if value is not None:
            yield value
        case ast.Output(value=value):
            yield value
        case ast.For(lo=lo, hi=hi):
            yield from (lo, hi)
        case ast.While(cond=cond) | ast.If(cond=cond):
            yield cond


def _reachable(program: ast.Program) -> set[str]:
    """Functions that can run: called, transitively, from `main` or a global initialiser."""
    callees: dict[str, set[str]] = {}
    roots: set[str] = set()
    for g in program.globals:
        if isinstance(g, ast.FunDef):
            exprs = (e for s in walk_statements(g.body) for e in _statement_exprs(s))
            callees[g.name] = set(_calls_in(exprs))
            if g.name == "main":
                roots.add(g.name)
        elif isinstance(g, ast.GlobalConst):
            roots.update(_calls_in(iter((g.value,))))
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(callees.get(name, ()))
    return seen


def _summarize_all(shared: Shared, program: ast.Program, extern_writes: Mapping[str, frozenset[int]]) -> None:
    bits = shared.bits
    shared.records[GLOBALS] = Records.empty()
    for g in program.globals:
        if isinstance(g, ast.GlobalConst):
            shared.global_masks[g.name] = FunctionAnalysis(shared, GLOBALS, shared.records[GLOBALS]).global_value(g)
        elif isinstance(g, ast.Extern):
            shared.summaries[g.name] = _extern_summary(bits, g, extern_writes.get(g.name))
        else:
            _summarize(shared, g)


def _extern_summary(bits: Bits, ext: ast.Extern, written: frozenset[int] | None) -> Summary:
    everything = bits.pc
    for j in range(len(ext.params)):
        everything |= bits.param(j)
    arrays = tuple(j for j, p in enumerate(ext.params) if p.type.dims)
    if written is None:
        written = frozenset(j for j in arrays if not ext.params[j].type.const)
    return Summary(everything, tuple((j, everything) for j in arrays if j in written), arrays)


def _summarize(shared: Shared, fn: ast.FunDef) -> None:
    """Iterates a (possibly self-recursive) function's summary to its fixpoint."""
    arrays = tuple(j for j, p in enumerate(fn.params) if p.type.dims)
    shared.summaries[fn.name] = Summary(0, (), arrays)
    records = Records.empty()
    shared.records[fn.name] = records
    while True:
        analysis = FunctionAnalysis(shared, fn.name, records)
        summary = analysis.run_function(fn)
        if not analysis.recursive or summary == shared.summaries[fn.name]:
            shared.summaries[fn.name] = summary
            return
        shared.summaries[fn.name] = summary


@dataclass
class _Context:
    """The join of a function's call sites: the caller's pc and each argument, as concrete masks."""

    pc: int
    args: list[int]


def _contexts(shared: Shared, functions: list[ast.FunDef], reachable: set[str]) -> dict[str, _Context]:
    """Top-down: a function's callers come after it (or are itself), so walk in reverse order."""
    bits = shared.bits
    contexts = {GLOBALS: _Context(0, [])}
    k = 0
    for fn in functions:
        contexts[fn.name] = _Context(0, [0] * len(fn.params))
        if fn.name not in reachable:
            for j in range(len(fn.params)):
                contexts[fn.name].args[j] = bits.open_param(k)
                k += 1
    for caller in [GLOBALS] + [fn.name for fn in reversed(functions)]:
        while _propagate(shared, caller, contexts, reachable):
            pass
    return contexts


def _propagate(shared: Shared, caller: str, contexts: dict[str, _Context], reachable: set[str]) -> bool:
    """Adds the caller's call sites to its callees' contexts; True if its own context grew."""
    source = contexts[caller]
    grew_self = False
    live = caller == GLOBALS or caller in reachable
    for callee, masks, pc in shared.records[caller].calls.values():
        target = contexts.get(callee)
        if target is None or (callee in reachable and not live):
            continue
        new_pc = target.pc | shared.bits.substitute(pc, source.pc, source.args)
        new_args = [old | shared.bits.substitute(m, source.pc, source.args) for old, m in zip(target.args, masks)]
        if callee == caller and (new_pc != target.pc or new_args != target.args):
            grew_self = True
        target.pc, target.args = new_pc, new_args
    return grew_self


def _concretize(shared: Shared, program: ast.Program, contexts: dict[str, _Context]) -> Dependencies:
    bits = shared.bits
    exprs: dict[int, int] = {}
    outputs: dict[int, int] = {}
    variables: dict[Variable, int] = {}
    for name, records in shared.records.items():
        ctx = contexts[name]
        for key, mask in records.exprs.items():
            exprs[key] = exprs.get(key, 0) | bits.substitute(mask, ctx.pc, ctx.args)
        for key, mask in records.outputs.items():
            outputs[key] = bits.substitute(mask, ctx.pc, ctx.args)
        for key, mask in records.variables.items():
            variables[records.declared[key]] = bits.substitute(mask, ctx.pc, ctx.args)
    return Dependencies(program, bits, exprs, outputs, variables)


__all__ = ["Dependencies", "InputRef", "OpenParameter", "Sources", "Variable", "analyze", "input_order",
           "walk_statements"]
