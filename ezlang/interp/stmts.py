"""Typed statements and functions → Python closures (the interpreter's statement half).

A statement closure takes the frame (a list of slots, one per declaration in the function) and
returns None, or a Returned when a `return` ran. Sequences are run by a loop, never by
recursion, so bodies of tens of thousands of statements are fine.

Assumes: a typed program whose names the checker resolved with EzPC's scopes (a function body,
each `for`, each `while` body and each `if` branch open one; a block does not).
Guarantees: the dynamic semantics of ezpc-language.md §5 with the project's fixed decisions:
`for` bounds are evaluated once; declarations zero-fill; arrays are shared by reference and
scalars copied; input statements read in program order; every executed statement is traced.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ezlang.inputs import NO_INPUT_SOURCE, InputError, InputRequest
from ezlang.interp.exprs import (ExprCompiler, Fn, Frame, Machine, Returned, Scopes, copy_value,
                                 out_of_bounds, typed)
from ezlang.interp.result import NEGATIVE_DIMENSION, InterpError, OutputValue, TraceEvent
from ezlang.semantics import zero
from ezlang.syntax import ast
from ezlang.types import Base, Label, Role, Type

Stmt = Callable[[Frame], Optional[Returned]]

_INT32_PL = Type(Base.INT32, Label.PL)
_RECIPIENTS = {Role.SERVER: (Role.SERVER,), Role.CLIENT: (Role.CLIENT,), Role.ALL: (Role.SERVER, Role.CLIENT)}
_VOID_RETURN = Returned(None)


class StmtCompiler(ExprCompiler):
    """Translates the statements of one function body (its own Scopes)."""

    def __init__(self, machine: Machine, scopes: Scopes, externs: dict[str, ast.Extern],
                 return_type: Optional[Type] = None):
        super().__init__(machine, scopes, externs)
        self.return_type = return_type

    def body(self, stmts: tuple[ast.Stmt, ...]) -> Stmt:
        compiled = [self.stmt(s) for s in stmts]
        if len(compiled) == 1:
            return compiled[0]

        def run(frame: Frame) -> Optional[Returned]:
            for stmt in compiled:
                outcome = stmt(frame)
                if outcome is not None:
                    return outcome
            return None
        return run

    def scoped(self, stmts: tuple[ast.Stmt, ...]) -> Stmt:
        self.scopes.push()
        try:
            return self.body(stmts)
        finally:
            self.scopes.pop()

    def stmt(self, node: ast.Stmt) -> Stmt:
        fn = _STATEMENTS[type(node)](self, node)
        trace = self.machine.trace
        if trace is None:
            return fn
        event = TraceEvent("stmt", node.span.start, None)
        record = trace.append

        def traced(frame: Frame) -> Optional[Returned]:
            record(event)
            return fn(frame)
        return traced

    # ------------------------------------------------------------ declarations and assignment

    def _decl(self, node: ast.Decl) -> Stmt:
        ty = ast.declared_type(node.type)
        value = self.expr_as(node.init, ty) if node.init is not None else self.allocate(node.type)
        slot = self.scopes.declare(node.name)

        def run(frame: Frame) -> None:
            frame[slot] = value(frame)
        return run

    def allocate(self, node: ast.TypeNode) -> Fn:
        """The zero value of a written type; array dimensions are evaluated on each execution."""
        fill = zero(node.base)
        dims = [self._dimension(d) for d in node.dims]
        if not dims:
            return lambda frame: fill
        return lambda frame: _zeros([d(frame) for d in dims], fill)

    def _dimension(self, node: ast.Expr) -> Fn:
        size, span = self.expr(node), node.span

        def run(frame: Frame) -> int:
            n = size(frame)
            if n < 0:
                raise InterpError.at(span, NEGATIVE_DIMENSION, f"array dimension {n} is negative")
            return n
        return run

    def _assign(self, node: ast.Assign) -> Stmt:
        target = node.target
        value = self.expr_as(node.value, typed(target.ty, target))
        if isinstance(target, ast.Var):
            local, slot = self.scopes.lookup(target.name)
            assert local, "the checker forbids assigning a global constant"

            def store(frame: Frame) -> None:
                frame[slot] = value(frame)
            return store
        array, index = self.expr(target.array), self.expr(target.index)
        span, text = target.span, target.array.span.text

        def store_element(frame: Frame) -> None:
            items, i, v = array(frame), index(frame), value(frame)
            if not 0 <= i < len(items):
                raise out_of_bounds(span, text, i, len(items))
            items[i] = v
        return store_element

    # ------------------------------------------------------------ calls and returns

    def _call_stmt(self, node: ast.CallStmt) -> Stmt:
        call = self.call(node.name, node.args, node.span)

        def run(frame: Frame) -> None:
            call(frame)
        return run

    def _return(self, node: ast.Return) -> Stmt:
        if node.value is None:
            return lambda frame: _VOID_RETURN
        assert self.return_type is not None, "the checker forbids `return e` in a void function"
        value = self.expr_as(node.value, self.return_type)
        return lambda frame: Returned(value(frame))

    # ------------------------------------------------------------ control flow

    def _for(self, node: ast.For) -> Stmt:
        lo, hi = self.expr_as(node.lo, _INT32_PL), self.expr_as(node.hi, _INT32_PL)
        self.scopes.push()
        try:
            slot = self.scopes.declare(node.var)
            body = self.body(node.body)
        finally:
            self.scopes.pop()

        def run(frame: Frame) -> Optional[Returned]:
            for i in range(lo(frame), hi(frame)):
                frame[slot] = i
                outcome = body(frame)
                if outcome is not None:
                    return outcome
            return None
        return run

    def _while(self, node: ast.While) -> Stmt:
        cond = self.expr(node.cond)
        body = self.scoped(node.body)

        def run(frame: Frame) -> Optional[Returned]:
            while cond(frame):
                outcome = body(frame)
                if outcome is not None:
                    return outcome
            return None
        return run

    def _if(self, node: ast.If) -> Stmt:
        cond = self.expr(node.cond)
        then = self.scoped((node.then,))
        if node.other is None:
            return lambda frame: then(frame) if cond(frame) else None
        other = self.scoped((node.other,))
        return lambda frame: then(frame) if cond(frame) else other(frame)

    def _block(self, node: ast.Block) -> Stmt:
        return self.body(node.body)

    # ------------------------------------------------------------ input and output

    def _input(self, node: ast.Input) -> Stmt:
        ty = ast.declared_type(node.type)
        dims = [self._dimension(d) for d in node.type.dims]
        slot = self.scopes.declare(node.name)
        reader, span, name = self.machine.readers.get(node.role), node.span, node.name
        observe = self.machine.observe

        def run(frame: Frame) -> None:
            request = InputRequest(name, node.role, ty, tuple(d(frame) for d in dims))
            if reader is None:
                raise InterpError.at(span, NO_INPUT_SOURCE,
                                     f"{request.describe()}: no inputs were given for {node.role}")
            try:
                frame[slot] = reader.read(request)
            except InputError as error:
                raise InterpError.at(span, error.code, error.message, help=error.help) from None
            if observe is not None:
                observe(node, frame[slot])
        return run

    def _output(self, node: ast.Output) -> Stmt:
        value = self.expr(node.value)
        ty = typed(node.value.ty, node.value)
        queues = [self.machine.outputs[r] for r in _RECIPIENTS[node.role]]
        span, role, text = node.span, node.role, node.value.span.text

        def run(frame: Frame) -> None:
            out = OutputValue(span, role, text, ty, copy_value(value(frame)))
            for queue in queues:
                queue.append(out)
        return run


def _zeros(dims: list[int], fill: Any) -> list[Any]:
    if len(dims) == 1:
        return [fill] * dims[0]
    return [_zeros(dims[1:], fill) for _ in range(dims[0])]


_STATEMENTS: dict[type, Callable[[StmtCompiler, Any], Stmt]] = {
    ast.Decl: StmtCompiler._decl, ast.Assign: StmtCompiler._assign, ast.CallStmt: StmtCompiler._call_stmt,
    ast.Return: StmtCompiler._return, ast.Input: StmtCompiler._input, ast.Output: StmtCompiler._output,
    ast.For: StmtCompiler._for, ast.While: StmtCompiler._while, ast.If: StmtCompiler._if,
    ast.Block: StmtCompiler._block,
}
