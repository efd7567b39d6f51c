"""Abstract execution of declarations, assignments, inputs, outputs and calls (the statement
half of the range analysis; control flow is ranges_flow, expressions ranges_exprs).

Why: ezlang.passes.ranges bounds every value of a program from its inputs' bounds.

Assumes: a typed program whose last global is `main` (ezlang.passes.pipeline).
Guarantees: `run` returns with `intervals`, `overflows`, `variables` and the final heap filled
so that every value any run computes lies in the interval recorded for its node (or its node
is listed as overflowing and the value lies in its type's range). A call is analysed with the
intervals of its arguments (the callee writes its caller's arrays through shared sites); a
recursive function is analysed with every argument unknown, and the recursive call itself
returns anything and may write every array it is given; an extern returns anything and may
write every non-const array it is given.
"""

from __future__ import annotations

from typing import Mapping, Optional

from ezlang.syntax import ast
from ezlang.types import Base, Label, Type

from ezlang.passes.ranges_domain import Interval, point
from ezlang.passes.ranges_exprs import Frame, havoc, top, typed
from ezlang.passes.ranges_flow import FlowAnalyzer, bounded, join_all
from ezlang.passes.ranges_shapes import walk
from ezlang.passes.ranges_state import Roots, State, Value, join_values


class Analyzer(FlowAnalyzer):
    """The whole analysis of one program (ezlang.passes.ranges.analyze runs it)."""

    def __init__(self, program: ast.Program, input_bounds: Mapping[str, tuple[int, int]]):
        super().__init__(program)
        self.input_bounds = input_bounds
        self.variables: dict[tuple[str, str], Interval] = {}
        self.array_sites: dict[tuple[str, str], set[int]] = {}
        self.final_heap: dict[int, Optional[Interval]] = {}
        self.stack: list[str] = []
        self.recursive = _recursive(self.functions)
        self.statements = {ast.Decl: self._decl, ast.Assign: self._assign, ast.CallStmt: self._call_stmt,
                           ast.Return: self._return, ast.Input: self._input, ast.Output: self._output,
                           ast.For: self._for, ast.While: self._while, ast.If: self._if, ast.Block: self._block}

    def run(self, program: ast.Program) -> None:
        state = State([{}], {})
        constants = Frame("<globals>")
        for g in program.globals:
            if isinstance(g, ast.GlobalConst):
                ty = Type(g.base, Label.PL)
                state.declare(g.name, ty, self.eval_as(g.value, ty, state, constants))
        state.push()
        frame = Frame("main")
        self.stack.append("main")
        out = self.body(self.functions["main"].body, state, frame)
        final = join_all([out] + [s for _, s in frame.returns])
        self.final_heap = (final or state).heap

    # ------------------------------------------------------------ declarations and assignment

    def _decl(self, node: ast.Decl, state: State, frame: Frame) -> State:
        ty = ast.declared_type(node.type)
        if node.type.dims:
            return self._allocate(node, node.name, ty, node.type, _zero(ty.base), state, frame)
        value = self.eval_as(node.init, ty, state, frame) if node.init is not None else _zero(ty.base)
        state.declare(node.name, ty, value)
        self._note(frame, node.name, value)
        return state

    def _input(self, node: ast.Input, state: State, frame: Frame) -> State:
        ty = ast.declared_type(node.type)
        value = top(ty)
        given = self.input_bounds.get(node.name)
        if isinstance(value, Interval) and given is not None:
            value = value.meet(Interval(*given)) or value
        if node.type.dims:
            return self._allocate(node, node.name, ty, node.type, value, state, frame)
        state.declare(node.name, ty, value)
        self._note(frame, node.name, value)
        return state

    def _allocate(self, node: ast.Stmt, name: str, ty: Type, written: ast.TypeNode, elements: Value,
                  state: State, frame: Frame) -> State:
        """An array from an allocation site: a re-executed site may still be referenced, so its
        summary only grows."""
        for dim in written.dims:
            self.eval(dim, state, frame)
        site = id(node)
        self.bases[site] = ty.base
        joined = join_values(state.heap.get(site), elements) if site in state.heap else elements
        state.heap[site] = joined if isinstance(joined, Interval) else None
        state.declare(name, ty, Roots(frozenset({site})))
        self.array_sites.setdefault((frame.function, name), set()).add(site)
        return state

    def _assign(self, node: ast.Assign, state: State, frame: Frame) -> State:
        update = self.updates.get(id(node))
        if update is not None and self._relative_update(update, state, frame):
            return state
        target = node.target
        value = self.eval_as(node.value, typed(target), state, frame)
        if isinstance(target, ast.Var):
            value = bounded(value, frame.bounds.get(("var", target.name)))
            state.assign(target.name, value)
            self._note(frame, target.name, value)
            return state
        array = self.eval(target.array, state, frame)
        self.eval(target.index, state, frame)
        if isinstance(array, Roots):
            for site in array.ids:
                stored = join_values(state.heap.get(site), value)
                state.heap[site] = bounded(stored, frame.bounds.get(("site", site)))  # type: ignore[assignment]
        return state

    def _note(self, frame: Frame, name: str, value: Value) -> None:
        if self.recording and isinstance(value, Interval):
            known = self.variables.get((frame.function, name))
            self.variables[(frame.function, name)] = value if known is None else known.join(value)

    # ------------------------------------------------------------ calls, returns, outputs

    def _call_stmt(self, node: ast.CallStmt, state: State, frame: Frame) -> State:
        self.call(node.name, node.args, state, frame)
        return state

    def _return(self, node: ast.Return, state: State, frame: Frame) -> None:
        value = None
        if node.value is not None and frame.ret is not None:
            value = self.eval_as(node.value, frame.ret, state, frame)
        frame.returns.append((value, state))
        return None

    def _output(self, node: ast.Output, state: State, frame: Frame) -> State:
        self.eval(node.value, state, frame)
        return state

    def call(self, name: str, args: tuple[ast.Expr, ...], state: State, frame: Frame) -> Value:
        function = self.functions.get(name)
        if function is None:
            extern = self.externs[name]
            values = [self.eval_as(a, ast.declared_type(p.type), state, frame) for p, a in zip(extern.params, args)]
            return self.extern_call(extern, values, state)
        params = [(p.name, ast.declared_type(p.type)) for p in function.params]
        values = [self.eval_as(a, ty, state, frame) for (_, ty), a in zip(params, args)]
        ret = ast.declared_type(function.ret) if function.ret is not None else None
        if name in self.recursive:
            values = self._forget(params, values, state)
            if name in self.stack:
                return top(ret) if ret is not None else None
        callee = State([state.scopes[0], {}], dict(state.heap))
        callee_frame = Frame(name, ret)
        for (param, ty), value in zip(params, values):
            callee.declare(param, ty, value)
            self._note(callee_frame, param, value)
            if isinstance(value, Roots):
                self.array_sites.setdefault((name, param), set()).update(value.ids)
        self.stack.append(name)
        try:
            out = self.body(function.body, callee, callee_frame)
        finally:
            self.stack.pop()
        final = join_all([out] + [s for _, s in callee_frame.returns])
        if final is not None:
            state.heap = final.heap
        result: Value = None
        for value, _ in callee_frame.returns:
            result = join_values(result, value)
        return result if result is not None or ret is None else top(ret)

    def _forget(self, params: list[tuple[str, Type]], values: list[Value], state: State) -> list[Value]:
        """Arguments of a recursive function: scalars unknown, writable arrays overwritten."""
        forgotten = []
        for (_, ty), value in zip(params, values):
            if isinstance(value, Roots):
                if not ty.const:
                    havoc(state, value, ty.base)
                forgotten.append(value)
            else:
                forgotten.append(top(ty))
        return forgotten


def _zero(base: Base) -> Value:
    return point(0) if base.is_int or base is Base.BOOL else None


def _recursive(functions: dict[str, ast.FunDef]) -> frozenset[str]:
    """Functions that can call themselves, directly or through others."""
    calls = {name: {n.name for stmt in f.body for n in walk(stmt) if isinstance(n, (ast.Call, ast.CallStmt))}
             for name, f in functions.items()}
    found = set()
    for name in functions:
        seen, stack = set(), list(calls[name])
        while stack:
            callee = stack.pop()
            if callee == name:
                found.add(name)
                break
            if callee in calls and callee not in seen:
                seen.add(callee)
                stack.extend(calls[callee])
    return frozenset(found)
