"""The cleartext reference interpreter: the oracle the secure runtime must match bit for bit.

`interpret` runs a checked program (ezlang.passes.pipeline) with every party's inputs and
returns what each party receives. Values follow ezlang.semantics exactly; labels never change
a value, so a secret computation means what its public twin means.

Assumes: a typed program (see ezlang.interp.exprs). Guarantees: outputs in program order per
party; with trace=True, a `stmt` event for every executed statement and a `value` event for
every evaluated public scalar expression, and never a secret value; run-time errors (bounds,
negative shift or exponent, bad inputs, unimplemented externs) raise InterpError with a span.
"""

from __future__ import annotations

import gc
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Optional, Union

from ezlang.diagnostics import Diagnostic, Severity
from ezlang.inputs import UNUSED_INPUT, InputSource
from ezlang.interp.exprs import Frame, Function, Machine, Scopes
from ezlang.interp.result import NO_MAIN, InterpError, OutputValue, RunResult, TraceEvent
from ezlang.interp.stmts import StmtCompiler
from ezlang.syntax import ast
from ezlang.types import Label, Role, Type

__all__ = ["interpret", "InterpError", "Observer", "OutputValue", "RunResult", "TraceEvent", "BUILTIN_EXTERNS"]

# Called with an evaluated expression (or an executed `input` statement) and its value.
Observer = Callable[[Union[ast.Expr, ast.Input], Any], None]

# Nested EzPC calls cost a handful of Python frames each; CPython 3.11 runs Python-to-Python
# calls without C recursion, so a raised limit is safe and allows a few thousand EzPC levels.
_CALL_DEPTH_LIMIT = 40_000


def _no_op(*args: Any) -> None:
    return None


BUILTIN_EXTERNS: Mapping[str, Callable[..., Any]] = {
    name: _no_op for name in (
        *(f"ClearMemSecret{k}" for k in range(1, 6)), "ClearMemPublic",
        *(f"ClearMemPublic{k}" for k in range(1, 6)), "StartComputation", "EndComputation",
    )
}


def interpret(program: ast.Program, inputs: Mapping[Role, InputSource], *, trace: bool = False,
              externs: Optional[Mapping[str, Callable[..., Any]]] = None,
              observe: Optional[Observer] = None) -> RunResult:
    """Run `main` of a checked program; `inputs[R]` feeds `input(R, ...)` (R = SERVER, CLIENT, ALL).

    `externs` maps extern names to Python functions called with the evaluated arguments
    (arrays as mutable nested lists); they override the built-in no-ops and the Athos tensor
    library (ezlang.lib.athos). An entry with a `bind(declaration, call_span)` method is bound
    once per call site and the callable it returns is called instead.

    `observe(node, value)` is called after every evaluated expression with its value (arrays as
    the live nested list: copy what you keep) and after every `input` statement with the value
    read; range calibration (ezlang.passes.ranges_calibrate) uses it. Without it the compiled
    closures are exactly those of an unobserved run, so it costs nothing."""
    from ezlang.lib.athos import ATHOS_EXTERNS  # here, not at the top: athos imports ezlang.interp

    table: dict[str, Any] = {**BUILTIN_EXTERNS, **ATHOS_EXTERNS, **(externs or {})}
    machine = Machine(readers={role: source.reader() for role, source in inputs.items()}, externs=table,
                      trace=[] if trace else None, observe=observe)
    with _deep_calls():
        with _no_collection():
            main = _load(program, machine)
        frame: Frame = [None] * main.size
        main.body(frame)
    outputs = {role: tuple(values) for role, values in machine.outputs.items()}
    return RunResult(outputs, tuple(machine.trace or ()), _unused_inputs(machine))


def _load(program: ast.Program, machine: Machine) -> "Function":
    """Compile every function, evaluate the global constants in order, and return `main`."""
    externs = {g.name: g for g in program.globals if isinstance(g, ast.Extern)}
    constants = [g for g in program.globals if isinstance(g, ast.GlobalConst)]
    slots = {g.name: i for i, g in enumerate(constants)}
    machine.globals.extend([None] * len(constants))
    for g in program.globals:
        if isinstance(g, ast.FunDef):
            machine.functions[g.name] = Function(g)
    for function in machine.functions.values():
        _compile_function(function, machine, slots, externs)
    for i, constant in enumerate(constants):
        compiler = StmtCompiler(machine, Scopes(slots), externs)
        machine.globals[i] = compiler.expr_as(constant.value, Type(constant.base, Label.PL))([])
    main = machine.functions.get("main")
    if main is None:
        raise InterpError.at(None, NO_MAIN, f"{program.file.name} has no `main` function to run")
    return main


def _compile_function(function: Function, machine: Machine, slots: dict[str, int],
                      externs: dict[str, ast.Extern]) -> None:
    node = function.node
    scopes = Scopes(slots)
    for param in node.params:
        scopes.declare(param.name)
    ret = None if node.ret is None else ast.declared_type(node.ret)
    compiler = StmtCompiler(machine, scopes, externs, ret)
    function.body = compiler.body(node.body)
    function.size = scopes.size


def _unused_inputs(machine: Machine) -> tuple[Diagnostic, ...]:
    return tuple(Diagnostic(UNUSED_INPUT, Severity.WARNING, note, None)
                 for reader in machine.readers.values() for note in reader.leftovers())


@contextmanager
def _no_collection() -> Iterator[None]:
    """Compiling allocates closures that all live until the run ends; the cyclic collector
    would rescan them again and again (tripling the time for a 200,000-statement body)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _deep_calls() -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _CALL_DEPTH_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
