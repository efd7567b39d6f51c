"""The information-flow summary: for every `output`, the party inputs its value may reveal.

This is what a reviewer (an ethics board, a data owner) reads to see what each party learns, so
it rests on the sound dependency analysis (passes/dependencies.py): it may over-report, never
under-report. Assumes a program whose names resolve (typed or merely checked); rewrites nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ezlang.passes.dependencies import (Dependencies, InputRef, OpenParameter, analyze, input_order,
                                        walk_statements)
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Role


@dataclass(frozen=True)
class OutputFlow:
    """One `output` statement and the sources of the value it delivers.

    `parameters` is non-empty only for an output inside a function that nothing in the program
    calls (a library): the values of those parameters, chosen by unknown callers, also flow out."""

    span: Span
    recipient: Role
    text: str
    sources: tuple[InputRef, ...]
    parameters: tuple[OpenParameter, ...] = ()


def summarize(program: ast.Program, deps: Dependencies | None = None) -> list[OutputFlow]:
    """One flow per `output` statement, in program order; an output inside a function reports
    the union over all the function's call sites."""
    deps = deps if deps is not None else analyze(program)
    flows: list[OutputFlow] = []
    for g in program.globals:
        if not isinstance(g, ast.FunDef):
            continue
        for stmt in walk_statements(g.body):
            if isinstance(stmt, ast.Output):
                sources = deps.of_output(stmt)
                flows.append(OutputFlow(stmt.span, stmt.role, stmt.value.span.text,
                                        tuple(sorted(sources.inputs, key=input_order)),
                                        tuple(sorted(sources.parameters, key=lambda p: (p.function, p.name)))))
    return flows


def describe(flow: OutputFlow) -> str:
    """`output(CLIENT, score) at model.ezpc:40 depends on SERVER:W1,b1 and CLIENT:x`."""
    text = " ".join(flow.text.split())
    where = f"{flow.span.file.name}:{flow.span.line}"
    parts = _input_groups(flow.sources) + _parameter_groups(flow.parameters)
    if not parts:
        return f"output({flow.recipient}, {text}) at {where} depends on no party input"
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"output({flow.recipient}, {text}) at {where} depends on {listed}"


def _input_groups(sources: tuple[InputRef, ...]) -> list[str]:
    groups: list[str] = []
    for role in (Role.SERVER, Role.CLIENT, Role.ALL):
        refs = [ref for ref in sources if ref.role is role]
        names = [ref.name for ref in refs]
        # Two inputs may share a name (shadowing, or one per function): tell them apart by line.
        shown = [f"{ref.name}@{ref.span.line}" if names.count(ref.name) > 1 else ref.name for ref in refs]
        if shown:
            groups.append(f"{role}:{','.join(shown)}")
    return groups


def _parameter_groups(parameters: tuple[OpenParameter, ...]) -> list[str]:
    functions = sorted({p.function for p in parameters})
    groups = []
    for function in functions:
        names = [p.name for p in parameters if p.function == function]
        noun = "parameter" if len(names) == 1 else "parameters"
        groups.append(f"{noun} {','.join(names)} of {function} (no caller in this program)")
    return groups
