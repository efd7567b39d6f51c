"""Rule files → frozen `Rule` values, each node carrying the span it came from.

Assumes: the text follows rules.lark (docs/rules.md describes the format).
Guarantees: every `Rule` returned is well formed — it has a width parameter `w` given as a set,
its expressions name only declared parameters and variables defined before use, `from` and `to`
end by defining the same result variable, and `to` reads only the inputs of `from` and its own
definitions. Anything else raises CompileError E0150 whose span gives file:line:col.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from ezlang.diagnostics import CompileError, Diagnostics, register
from ezlang.source import SourceFile, Span

MALFORMED = register("E0150", "malformed rewrite rule")

# Operators and how many operands each takes; semantics.py gives their meaning.
ARITY = {"rescale": 2, "lshr": 2, "relu": 1, "max": 2, "add": 2, "sub": 2, "mul": 2, "shl": 2, "and": 2}


@dataclass(frozen=True)
class Num:
    value: int
    span: Span


@dataclass(frozen=True)
class ParamRef:
    name: str
    span: Span


@dataclass(frozen=True)
class VarRef:
    name: str
    span: Span


@dataclass(frozen=True)
class Arith:
    """`left op right` with op one of + - * ^ (`^` only as a power of two)."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span


Expr = Num | ParamRef | VarRef | Arith | Neg


@dataclass(frozen=True)
class Param:
    """A parameter ranging over `values` (a set) or the closed interval [lo, hi]."""

    name: str
    span: Span
    values: tuple[int, ...] = ()
    lo: Expr | None = None
    hi: Expr | None = None


@dataclass(frozen=True)
class Cond:
    """A chain `terms[0] ops[0] terms[1] ops[1] ...` of comparisons of integers."""

    ops: tuple[str, ...]
    terms: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Inst:
    """`dest = op args` (op "copy" for `dest = expr`)."""

    dest: str
    op: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Rule:
    name: str
    span: Span
    params: tuple[Param, ...]
    pre: tuple[Cond, ...]
    source: tuple[Inst, ...]
    target: tuple[Inst, ...]
    decode: Expr | None
    ulps: int  # 0: exact

    @property
    def result(self) -> str:
        return self.source[-1].dest

    @property
    def inputs(self) -> tuple[str, ...]:
        """Variables `from` reads without defining, in order of first use."""
        defined: set[str] = set()
        seen: list[str] = []
        for inst in self.source:
            for name in _vars_of(inst.args):
                if name not in defined and name not in seen:
                    seen.append(name)
            defined.add(inst.dest)
        return tuple(seen)


def load_file(path: str | Path) -> tuple[Rule, ...]:
    return load_source(SourceFile.read(path))


def load_text(text: str, name: str = "<rules>") -> tuple[Rule, ...]:
    return load_source(SourceFile(name, text))


def load_source(source: SourceFile) -> tuple[Rule, ...]:
    try:
        tree = _parser().parse(source.text)
        rules = tuple(_Build(source).transform(tree).children)
    except UnexpectedInput as exc:
        raise _syntax_error(source, exc) from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, CompileError):
            raise exc.orig_exc from None
        raise
    for rule in rules:
        _validate(rule)
    return rules


def builtin_paths() -> tuple[Path, ...]:
    """The rule files shipped with ezlang, in name order."""
    folder = resources.files("ezlang.passes.rules")
    return tuple(sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".rules")))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("ezlang.passes.rules").joinpath("rules.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True)


def _fail(span: Span, message: str, label: str = "") -> CompileError:
    diags = Diagnostics()
    diags.error(MALFORMED, message, span, label=label)
    return CompileError(diags)


def _syntax_error(source: SourceFile, exc: UnexpectedInput) -> CompileError:
    pos = min(getattr(exc, "pos_in_stream", None) or 0, max(0, len(source.text) - 1))
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        pos = exc.token.start_pos or 0
        expected = ", ".join(sorted(exc.expected)[:8])
        return _fail(Span(source, pos, pos + max(1, len(exc.token))),
                     f"unexpected {exc.token.type} `{exc.token}`", f"expected {expected}")
    if isinstance(exc, UnexpectedCharacters):
        return _fail(Span(source, pos, pos + 1), f"unexpected character `{source.text[pos]}`")
    end = max(0, len(source.text.rstrip()) - 1)
    return _fail(Span(source, end, end + 1), "unexpected end of the rule file",
                 "a rule needs name, params, from, to and bound lines")


@v_args(meta=True)
class _Build(Transformer[Token, Any]):
    """Parse tree → rule values; one method per grammar alternative."""

    def __init__(self, source: SourceFile) -> None:
        super().__init__()
        self._source = source

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self._source, 0, 0)
        return Span(self._source, meta.start_pos, meta.end_pos)

    def _tok(self, token: Token) -> Span:
        start = token.start_pos or 0
        return Span(self._source, start, start + len(token))

    def rule(self, meta: Any, children: list[Any]) -> Rule:
        fields: dict[str, Any] = {"pre": (), "decode": None}
        for kind, value in children:
            fields[kind] = value
        return Rule(fields["name"], self._span(meta), fields["params"], fields["pre"], fields["source"],
                    fields["target"], fields["decode"], fields["ulps"])

    def name(self, _meta: Any, children: list[Token]) -> tuple[str, str]:
        return "name", str(children[0])

    def params(self, _meta: Any, children: list[Param]) -> tuple[str, tuple[Param, ...]]:
        return "params", tuple(children)

    def range_param(self, meta: Any, children: list[Any]) -> Param:
        return Param(str(children[0]), self._span(meta), lo=children[1], hi=children[2])

    def set_param(self, meta: Any, children: list[Token]) -> Param:
        return Param(str(children[0]), self._span(meta), values=tuple(int(t) for t in children[1:]))

    def pre(self, _meta: Any, children: list[Cond]) -> tuple[str, tuple[Cond, ...]]:
        return "pre", tuple(children)

    def cond(self, meta: Any, children: list[Any]) -> Cond:
        return Cond(tuple(str(c) for c in children[1::2]), tuple(children[0::2]), self._span(meta))

    def source(self, _meta: Any, children: list[Inst]) -> tuple[str, tuple[Inst, ...]]:
        return "source", tuple(children)

    def target(self, _meta: Any, children: list[Inst]) -> tuple[str, tuple[Inst, ...]]:
        return "target", tuple(children)

    def decode(self, _meta: Any, children: list[Expr]) -> tuple[str, Expr]:
        return "decode", children[0]

    def exact(self, _meta: Any, _children: list[Any]) -> tuple[str, int]:
        return "ulps", 0

    def within(self, _meta: Any, children: list[Token]) -> tuple[str, int]:
        return "ulps", int(children[0])

    def op_inst(self, meta: Any, children: list[Any]) -> Inst:
        dest, op, *args = children
        span = self._span(meta)
        if len(args) != ARITY[str(op)]:
            raise _fail(span, f"`{op}` takes {ARITY[str(op)]} operand(s), not {len(args)}")
        return Inst(str(dest), str(op), tuple(args), span)

    def copy_inst(self, meta: Any, children: list[Any]) -> Inst:
        return Inst(str(children[0]), "copy", (children[1],), self._span(meta))

    def num(self, _meta: Any, children: list[Token]) -> Num:
        return Num(int(children[0]), self._tok(children[0]))

    def param_ref(self, _meta: Any, children: list[Token]) -> ParamRef:
        return ParamRef(str(children[0]), self._tok(children[0]))

    def var_ref(self, _meta: Any, children: list[Token]) -> VarRef:
        return VarRef(str(children[0]), self._tok(children[0]))

    def _arith(self, op: str, meta: Any, children: list[Expr]) -> Arith:
        return Arith(op, children[0], children[1], self._span(meta))

    def add(self, meta: Any, children: list[Expr]) -> Arith:
        return self._arith("+", meta, children)

    def sub(self, meta: Any, children: list[Expr]) -> Arith:
        return self._arith("-", meta, children)

    def mul(self, meta: Any, children: list[Expr]) -> Arith:
        return self._arith("*", meta, children)

    def pow(self, meta: Any, children: list[Expr]) -> Arith:
        base = children[0]
        if not (isinstance(base, Num) and base.value == 2):
            raise _fail(self._span(meta), "only powers of two can be written with `^`")
        return self._arith("^", meta, children)

    def neg(self, meta: Any, children: list[Expr]) -> Neg:
        return Neg(children[0], self._span(meta))


def _vars_of(exprs: Iterable[Expr]) -> list[str]:
    return [name for expr in exprs for name, _span in var_refs(expr)]


def _params_of(exprs: Iterable[Expr]) -> list[tuple[str, Span]]:
    return [found for expr in exprs for found in param_refs(expr)]


def param_refs(expr: Expr) -> list[tuple[str, Span]]:
    """Every parameter `expr` names, with where."""
    if isinstance(expr, Arith):
        return param_refs(expr.left) + param_refs(expr.right)
    if isinstance(expr, Neg):
        return param_refs(expr.operand)
    return [(expr.name, expr.span)] if isinstance(expr, ParamRef) else []


def var_refs(expr: Expr) -> list[tuple[str, Span]]:
    """Every rule variable (`%x`) `expr` names, with where."""
    if isinstance(expr, Arith):
        return var_refs(expr.left) + var_refs(expr.right)
    if isinstance(expr, Neg):
        return var_refs(expr.operand)
    return [(expr.name, expr.span)] if isinstance(expr, VarRef) else []


def _validate(rule: Rule) -> None:
    _check_params(rule)
    inputs = set(rule.inputs)
    _check_defs(rule.source, inputs, "from")
    _check_defs(rule.target, inputs, "to")
    if rule.target[-1].dest != rule.result:
        raise _fail(rule.target[-1].span, f"`to` must end by defining {rule.result}, as `from` does")
    for cond in rule.pre:
        _check_known(cond.terms, inputs, "pre")
    if rule.decode is not None:
        _check_known((rule.decode,), set(), "decode")


def _check_params(rule: Rule) -> None:
    declared: set[str] = set()
    for param in rule.params:
        if param.name in declared:
            raise _fail(param.span, f"parameter `{param.name}` declared twice")
        bounds = tuple(b for b in (param.lo, param.hi) if b is not None)
        _check_known(bounds, set(), "params", declared)
        declared.add(param.name)
    width = next((p for p in rule.params if p.name == "w"), None)
    if width is None or not width.values:
        raise _fail(rule.span, f"rule `{rule.name}` needs a width parameter `w in {{...}}`")
    if any(v < 2 for v in width.values):
        raise _fail(width.span, "every width must be at least 2")
    exprs = [a for i in rule.source + rule.target for a in i.args] + [t for c in rule.pre for t in c.terms]
    if rule.decode is not None:
        exprs.append(rule.decode)
    for name, span in _params_of(exprs):
        if name not in declared:
            raise _fail(span, f"unknown parameter `{name}`", "not declared in `params:`")


def _check_defs(insts: tuple[Inst, ...], inputs: set[str], field: str) -> None:
    defined = set(inputs)
    for inst in insts:
        _check_known(inst.args, defined, field)
        if inst.dest in defined:
            raise _fail(inst.span, f"{inst.dest} is defined twice in `{field}` (or is an input)")
        defined.add(inst.dest)


def _check_known(exprs: Iterable[Expr], variables: set[str], field: str,
                 params: set[str] | None = None) -> None:
    for expr in exprs:
        for name, span in var_refs(expr):
            if name not in variables:
                raise _fail(span, f"{name} is not available in `{field}`",
                            "only inputs of `from` and earlier definitions can be read")
        if params is not None:
            for name, span in param_refs(expr):
                if name not in params:
                    raise _fail(span, f"parameter `{name}` used before it is declared")
