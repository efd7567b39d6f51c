"""Rules applied across statements: what a variable-level change is, and the final truncation
form of drop-final-rescale (the accumulator form of sum-of-products is rewrite_accumulators).

Why: the expression rules see one expression at a time, but a network's last layer truncates
into the variable it outputs. That truncation can go by the proven rule applied across
statements (docs/rules.md, "How the engine applies rules"): `output(R, v >> s)` (rescale=True)
outputs v, decoded at s more bits; likewise a local variable or array that is only ever
assigned `... >> s` (one s) and only read by `output` statements. Each is drop-final-rescale,
within 1 ulp.

Assumes: a typed integer program whose `>>` with rescale=True are the lowering's truncations.
Guarantees: every Change yields a typed program in which only the named truncations are gone,
the replaced statements keep their spans, and `dropped` records, per output, the shift and the
error the removed truncation carried plus the rule's bound; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Optional

from ezlang.passes.rewrite_errors import Dropped, Error, Sites, add, join
from ezlang.passes.rewrite_match import params_in_range
from ezlang.passes.rewrite_tree import (
    coerce,
    functions,
    mentions,
    root_name,
    strip,
    truncation,
    walk_stmts,
)
from ezlang.passes.rules.load import ParamRef, Rule

from ezlang.source import Span
from ezlang.syntax import ast


@dataclass(frozen=True)
class Change:
    """One variable-level rewrite: the new program and what to report about it."""

    key: tuple[str, int, str]
    program: ast.Program
    rule: str
    span: Span
    bound: int
    detail: str
    dropped: Mapping[int, Dropped] = field(default_factory=dict)  # output key -> truncation removed


def _amount_param(rule: Rule) -> Optional[str]:
    """The parameter a rule's first truncation shifts by (`s` in `rescale %p, s`)."""
    first = next((inst for inst in rule.source if inst.op == "rescale"), None)
    if first is None or not isinstance(first.args[1], ParamRef):
        return None
    return first.args[1].name


def proven_for(rule: Rule, node: ast.Expr, shift: int) -> bool:
    name = _amount_param(rule)
    if name is None or node.ty is None:
        return False
    return params_in_range(rule, {"w": node.ty.base.width, name: shift})


# ---------------------------------------------------------------- (b) final truncations


def final_truncations(program: ast.Program, rule: Rule, output_scales: Mapping[int, int],
                      sites: Sites) -> Iterator[Change]:
    """Every form (b) the program has: truncated outputs first, then output-only variables."""
    for function in functions(program):
        for stmt in walk_stmts(function.body):
            if isinstance(stmt, ast.Output) and stmt.span.start in output_scales:
                change = _truncated_output(program, function, stmt, rule, sites)
                if change is not None:
                    yield change
        for decl in walk_stmts(function.body):
            if isinstance(decl, ast.Decl):
                change = _output_only_variable(program, function, decl.name, rule, output_scales, sites)
                if change is not None:
                    yield change


def _truncated_output(program: ast.Program, function: ast.FunDef, stmt: ast.Output, rule: Rule,
                      sites: Sites) -> Optional[Change]:
    parts = truncation(stmt.value, -1)
    if parts is None or not proven_for(rule, strip(stmt.value), parts[1]):
        return None
    value, shift = parts
    new_output = replace(stmt, value=coerce(value, stmt.value.ty))
    dropped = {stmt.span.start: Dropped(shift, add(sites.get(strip(stmt.value)), rule.ulps))}
    return Change(("output", stmt.span.start, ""), _replace_stmts(program, function, {id(stmt): new_output}),
                  rule.name, stmt.span, rule.ulps, f"output decoded at {shift} more fractional bits", dropped)


def _output_only_variable(program: ast.Program, function: ast.FunDef, name: str, rule: Rule,
                          output_scales: Mapping[int, int], sites: Sites) -> Optional[Change]:
    uses = _output_only_uses(function, name)
    if uses is None:
        return None
    decl, writers, outputs = uses
    values = {id(w): w.value if isinstance(w, ast.Assign) else w.init for w in writers}
    parts = {key: truncation(v, -1) if v is not None else None for key, v in values.items()}
    shifts = {p[1] for p in parts.values() if p is not None}
    if None in parts.values() or len(shifts) != 1 or any(o.span.start not in output_scales for o in outputs):
        return None
    shift = shifts.pop()
    first = values[id(writers[0])]
    if first is None or not proven_for(rule, strip(first), shift):
        return None
    extra: Error = 0
    replacements: dict[int, ast.Stmt] = {}
    for writer in writers:
        old, found = values[id(writer)], parts[id(writer)]
        assert old is not None and found is not None
        extra = join(extra, sites.get(strip(old)))
        kept = coerce(found[0], old.ty)
        replacements[id(writer)] = replace(writer, value=kept) if isinstance(writer, ast.Assign) else \
            replace(writer, init=kept)
    dropped = {o.span.start: Dropped(shift, add(extra, rule.ulps)) for o in outputs}
    return Change(("variable", decl.span.start, name), _replace_stmts(program, function, replacements),
                  rule.name, decl.span, rule.ulps,
                  f"`{name}` holds its values at {shift} more fractional bits; its outputs are decoded there",
                  dropped)


def _output_only_uses(function: ast.FunDef, name: str
                      ) -> Optional[tuple[ast.Decl, list[ast.Assign | ast.Decl], list[ast.Output]]]:
    """The declaration, the statements writing the variable (its initialised declaration among
    them) and the outputs of it, when those are all its mentions in the function."""
    body = function.body
    if any(p.name == name for p in function.params):
        return None
    stmts = list(walk_stmts(body))
    declared = [s for s in stmts if isinstance(s, (ast.Decl, ast.Input)) and s.name == name]
    assigns = [s for s in stmts if isinstance(s, ast.Assign) and root_name(s.target) == name]
    outputs = [s for s in stmts if isinstance(s, ast.Output) and _is_variable(s.value, name)]
    if len(declared) != 1 or not isinstance(declared[0], ast.Decl) or not outputs:
        return None
    if mentions(body, name) != 1 + len(assigns) + len(outputs):  # the declaration, each write and output
        return None
    decl = declared[0]
    writers: list[ast.Assign | ast.Decl] = [*assigns, *([decl] if decl.init is not None else [])]
    return (decl, writers, outputs) if writers else None


def _is_variable(node: ast.Expr, name: str) -> bool:
    node = strip(node)
    return isinstance(node, ast.Var) and node.name == name


# ---------------------------------------------------------------- rebuilding


def substitute_program(program: ast.Program, function: ast.FunDef, old: tuple[ast.Stmt, ...],
                        new: tuple[ast.Stmt, ...]) -> ast.Program:
    def stmts(body: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        if body is old:
            return new
        return _same_or(body, tuple(_map_bodies(s, stmts) for s in body))
    return _with_function(program, function, replace(function, body=stmts(function.body)))


def _replace_stmts(program: ast.Program, function: ast.FunDef, by_id: Mapping[int, ast.Stmt]) -> ast.Program:
    def stmts(body: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        return _same_or(body, tuple(by_id.get(id(s)) or _map_bodies(s, stmts) for s in body))
    return _with_function(program, function, replace(function, body=stmts(function.body)))


def _same_or(old: tuple[ast.Stmt, ...], new: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
    return old if all(a is b for a, b in zip(old, new)) else new


def _map_bodies(stmt: ast.Stmt, stmts: Callable[[tuple[ast.Stmt, ...]], tuple[ast.Stmt, ...]]) -> ast.Stmt:
    if isinstance(stmt, (ast.For, ast.While, ast.Block)):
        body = stmts(stmt.body)
        return stmt if body is stmt.body else replace(stmt, body=body)
    if isinstance(stmt, ast.If):
        then = stmts((stmt.then,))[0]
        other = None if stmt.other is None else stmts((stmt.other,))[0]
        return stmt if then is stmt.then and other is stmt.other else replace(stmt, then=then, other=other)
    return stmt


def _with_function(program: ast.Program, old: ast.FunDef, new: ast.FunDef) -> ast.Program:
    return replace(program, globals=tuple(new if g is old else g for g in program.globals))
