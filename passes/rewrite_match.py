"""A proven rule as a tree pattern over the typed integer AST: match `from`, build `to`.

Why: rules are data (passes/rules/*.rules); this module is the one place that knows how a rule
instruction looks in a program, so no rule needs code of its own:

  rescale x, s   Binary(SHR, x, s) on a signed integer, s a literal (only `rescale=True` nodes,
                 the truncations the fixed-point lowering placed, for rules that are not exact)
  lshr x, s      Binary(SHRL, x, s), or SHR on an unsigned integer
  relu x         Ternary(Binary(GT or GE, x, 0), x, 0)
  max x, y       Ternary(Binary(GT or GE, x, y), x, y)
  add sub mul and shl    Binary(ADD | SUB | MUL | BAND | SHL); add, mul, and also match swapped
  a parameter expression (`s`, `2^k`, `s1 + s2`) an integer literal, seen through conversions

Label-only conversions are looked through everywhere, and subtrees a rule names twice must be
structurally equal (rewrite_tree.same).

Assumes: rules validated by load.py and certified as proved; a typed integer program.
Guarantees: `Matcher.rewrite(node)` returns a replacement only if the rule's parameters lie in
their proven ranges (w is the ring width of the matched root), every `pre:` condition was
discharged by the caller's `fits`, and the replacement costs no more online rounds than the
matched tree (COST). The replacement has the root's type, every new node the root's span, the
labels of the matched nodes of the same operator (public when all its operands are public) and,
on new truncations, the `rescale` flag of the matched ones; a shift takes the label of the
value it shifts, so `(relu x) >> s` has no conversion between the shift and the ternary (the
form the secure backend fuses, ezlang.passes.batch_rounds.relu_rescale).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Optional, Union

from ezlang.passes.rewrite_pre import Fits, evaluate, params_in_range, range_queries
from ezlang.passes.rewrite_tree import amount, coerce, literal, ring_literal, same, strip
from ezlang.passes.rules import load

from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

_BINARY = {"add": BinaryOp.ADD, "sub": BinaryOp.SUB, "mul": BinaryOp.MUL, "and": BinaryOp.BAND,
           "shl": BinaryOp.SHL}
_COMMUTATIVE = frozenset({"add", "mul", "and"})
_SHIFTS = frozenset({"rescale", "lshr", "shl"})
_GREATER = (BinaryOp.GT, BinaryOp.GE)
# Online rounds of each operator on secret operands (docs/protocols.md); public ones cost nothing.
COST = {"rescale": 1, "lshr": 1, "relu": 2, "max": 2, "and": 2, "mul": 1}


@dataclass(frozen=True)
class PVar:
    name: str


@dataclass(frozen=True)
class PConst:
    expr: load.Expr


@dataclass(frozen=True)
class POp:
    op: str
    dest: str
    args: tuple["Pattern", ...]


Pattern = Union[PVar, PConst, POp]


@dataclass(frozen=True)
class Compiled:
    rule: load.Rule
    pattern: Pattern


def compile_rule(rule: load.Rule) -> Compiled | str:
    """The rule's `from` as a pattern, or why the engine cannot apply the rule."""
    defs = {inst.dest: inst for inst in rule.source}

    def operand(expr: load.Expr) -> Pattern:
        return variable(expr.name) if isinstance(expr, load.VarRef) else PConst(expr)

    def variable(name: str) -> Pattern:
        inst = defs.get(name)
        if inst is None:
            return PVar(name)
        if inst.op == "copy":
            return operand(inst.args[0])
        return POp(inst.op, name, tuple(operand(a) for a in inst.args))

    pattern = variable(rule.result)
    if not isinstance(pattern, POp):
        return f"rule `{rule.name}`: `from` must end with an operator"
    unbound = _params_in_target(rule) - _params_in(pattern) - {"w"}
    if unbound:
        return f"rule `{rule.name}`: `from` does not determine {', '.join(sorted(unbound))}"
    return Compiled(rule, pattern)


def _params_in(pattern: Pattern) -> set[str]:
    if isinstance(pattern, PConst):
        return {name for name, _ in load.param_refs(pattern.expr)}
    if isinstance(pattern, POp):
        return set().union(*(_params_in(a) for a in pattern.args))
    return set()


def _params_in_target(rule: load.Rule) -> set[str]:
    exprs = [a for inst in rule.target for a in inst.args] + [t for c in rule.pre for t in c.terms]
    return {name for e in exprs for name, _ in load.param_refs(e)}


# ---------------------------------------------------------------- matching


@dataclass(frozen=True)
class Match:
    width: int
    ring: Base
    values: Mapping[str, ast.Expr] = field(default_factory=dict)
    params: Mapping[str, int] = field(default_factory=dict)
    nodes: tuple[tuple[str, str, ast.Expr], ...] = ()  # (op, dest, matched node) outermost first
    checks: tuple[tuple[load.Expr, int], ...] = ()      # parameter expressions and the literal they met

    def bind(self, name: str, node: ast.Expr) -> "Match":
        return replace(self, values={**self.values, name: node})

    def bind_param(self, name: str, value: int) -> "Match":
        return replace(self, params={**self.params, name: value})


def _ring_valued(node: ast.Expr, ring: Base) -> bool:
    return node.ty is not None and node.ty.base is ring and node.ty.rank == 0


def _match(pattern: Pattern, node: ast.Expr, m: Match) -> Iterator[Match]:
    if isinstance(pattern, PVar):
        bound = m.values.get(pattern.name)
        if bound is None and _ring_valued(node, m.ring):
            yield m.bind(pattern.name, node)
        elif bound is not None and same(bound, node):
            yield m
        return
    if isinstance(pattern, PConst):
        value = literal(node)
        if value is not None:
            yield from _bind_const(pattern.expr, value, m)
        return
    node = strip(node)
    if not _ring_valued(node, m.ring):
        return
    if pattern.dest in m.values:
        if same(m.values[pattern.dest], node):
            yield m
        return
    for operands in _shapes(pattern.op, node):
        yield from _match_all(pattern.args, operands, replace(m.bind(pattern.dest, node),
                                                              nodes=m.nodes + ((pattern.op, pattern.dest, node),)))


def _match_all(patterns: tuple[Pattern, ...], nodes: tuple[ast.Expr, ...], m: Match) -> Iterator[Match]:
    if not patterns:
        yield m
        return
    for first in _match(patterns[0], nodes[0], m):
        yield from _match_all(patterns[1:], nodes[1:], first)


def _shapes(op: str, node: ast.Expr) -> list[tuple[ast.Expr, ...]]:
    """The operand tuples under which `node` is an instance of `op`."""
    if op in ("relu", "max"):
        operands = select_operands(op, node)
        return [] if operands is None else [operands]
    if not isinstance(node, ast.Binary) or node.ty is None:
        return []
    signed = node.ty.base.signed
    wanted = {"rescale": node.op is BinaryOp.SHR and signed,
              "lshr": node.op is BinaryOp.SHRL or (node.op is BinaryOp.SHR and not signed)}
    if not wanted.get(op, node.op is _BINARY.get(op)):
        return []
    if op in _COMMUTATIVE:
        return [(node.left, node.right), (node.right, node.left)]
    return [(node.left, node.right)]


def select_operands(op: str, node: ast.Expr) -> Optional[tuple[ast.Expr, ...]]:
    """(x,) when `node` is relu x (`x > 0 ? x : 0`, also `>=`), (a, b) when it is max a, b
    (`a > b ? a : b`); the comparison must be signed. None otherwise."""
    if not isinstance(node, ast.Ternary):
        return None
    cond = strip(node.cond)
    if not (isinstance(cond, ast.Binary) and cond.op in _GREATER and cond.left.ty is not None
            and cond.left.ty.base.signed and same(cond.left, node.then)):
        return None
    if op == "relu":
        return (cond.left,) if literal(cond.right) == 0 and literal(node.other) == 0 else None
    return (cond.left, cond.right) if same(cond.right, node.other) else None


def _bind_const(expr: load.Expr, value: int, m: Match) -> Iterator[Match]:
    modulus = 1 << m.width
    if isinstance(expr, load.ParamRef) and expr.name not in m.params:
        yield m.bind_param(expr.name, value)
        return
    if (isinstance(expr, load.Arith) and expr.op == "^" and isinstance(expr.right, load.ParamRef)
            and expr.right.name not in m.params):
        power = value % modulus
        if power > 0 and power & (power - 1) == 0:
            yield m.bind_param(expr.right.name, power.bit_length() - 1)
        return
    yield replace(m, checks=m.checks + ((expr, value),))


# ---------------------------------------------------------------- one application


@dataclass(frozen=True)
class Replacement:
    node: ast.Expr
    match: Match
    consumed: tuple[tuple[ast.Expr, Optional[int]], ...]  # matched nodes and how much an error grows to the root


class Matcher:
    """Applies one compiled rule at a node; `fits` discharges `pre:` (None: such rules never fire)."""

    def __init__(self, compiled: Compiled, fits: Optional[Fits]) -> None:
        self.rule = compiled.rule
        self.pattern = compiled.pattern
        self.fits = fits

    def rewrite(self, node: ast.Expr, program: ast.Program) -> Optional[Replacement]:
        root = strip(node)
        if root.ty is None or not root.ty.base.is_int or root.ty.rank:
            return None
        start = Match(root.ty.base.width, root.ty.base, params={"w": root.ty.base.width})
        for m in _match(self.pattern, node, start):
            replacement = self._accept(node, m, program)
            if replacement is not None:
                return replacement
        return None

    def _accept(self, node: ast.Expr, m: Match, program: ast.Program) -> Optional[Replacement]:
        rule = self.rule
        truncations = [n for op, _, n in m.nodes if op == "rescale"]
        if rule.ulps and not all(isinstance(n, ast.Binary) and n.rescale for n in truncations):
            return None
        modulus = 1 << m.width
        if any((evaluate(e, m.params) - value) % modulus for e, value in m.checks):
            return None
        if not params_in_range(rule, m.params) or not self._preconditions_hold(m, node, program):
            return None
        built = _Builder(rule, m, node, all(isinstance(n, ast.Binary) and n.rescale for n in truncations)
                         if truncations else False).build()
        if built is None or same(built[0], node):
            return None
        result, cost_after = built
        if cost_after > sum(_cost(op, n) for op, _, n in m.nodes):
            return None
        return Replacement(result, m, tuple((n, _growth(rule, m, dest)) for _, dest, n in m.nodes))

    def _preconditions_hold(self, m: Match, node: ast.Expr, program: ast.Program) -> bool:
        if not self.rule.pre:
            return True
        if self.fits is None:
            return False
        queries = range_queries(self.rule, m.values, m.params, m.ring, node)
        return queries is not None and all(self.fits(expr, lo, hi, program) for expr, lo, hi in queries)


def _cost(op: str, node: ast.Expr) -> int:
    if node.ty is None or not node.ty.label.is_secret:
        return 0
    if op == "mul":
        assert isinstance(node, ast.Binary)
        both = all(o.ty is not None and o.ty.label.is_secret for o in (node.left, node.right))
        return COST["mul"] if both else 0
    return COST.get(op, 0)


def _growth(rule: load.Rule, m: Match, dest: str) -> Optional[int]:
    """How much an error in `dest`'s value can grow on its way to the rule's result (None: without
    bound), following `from`: truncation, relu, max, add, sub keep it, shl by k multiplies it by
    2^k, mul by a literal c by |c|; anything else (mul of two values, and, lshr) has no bound."""
    if dest == rule.result:
        return 1
    total = 0
    for inst in rule.source:
        for position, arg in enumerate(inst.args):
            if not (isinstance(arg, load.VarRef) and arg.name == dest):
                continue
            onward = _growth(rule, m, inst.dest)
            factor = _factor(inst, position, m)
            if onward is None or factor is None:
                return None
            total += onward * factor
    return total


def _factor(inst: load.Inst, position: int, m: Match) -> Optional[int]:
    if inst.op in ("rescale", "relu", "max", "add", "sub", "copy"):
        return 1
    if inst.op == "shl" and position == 0 and not isinstance(inst.args[1], load.VarRef):
        return 1 << evaluate(inst.args[1], m.params)
    if inst.op == "mul" and not isinstance(inst.args[1 - position], load.VarRef):
        return abs(_signed(evaluate(inst.args[1 - position], m.params), m.width))
    return None


def _signed(value: int, width: int) -> int:
    value %= 1 << width
    return value - (1 << width) if value >> (width - 1) else value


# ---------------------------------------------------------------- building `to`


class _Builder:
    """The nodes of `to`, typed from the matched tree (see the module docstring)."""

    def __init__(self, rule: load.Rule, m: Match, root: ast.Expr, rescale_flag: bool) -> None:
        self.rule, self.m, self.root, self.rescale_flag = rule, m, root, rescale_flag
        self.cost = 0
        root_label = root.ty.label if root.ty is not None else Label.AL
        self.secret_label = root_label if root_label.is_secret else Label.AL
        self.templates: dict[str, Label] = {}
        for op, _, node in reversed(m.nodes):
            if node.ty is not None and node.ty.label.is_secret:
                self.templates[op] = node.ty.label

    def build(self) -> Optional[tuple[ast.Expr, int]]:
        env: dict[str, ast.Expr] = {name: self.m.values[name] for name in self.rule.inputs}
        for inst in self.rule.target:
            node: Optional[ast.Expr]
            if inst.op == "copy":
                node = self._operand(inst.args[0], env)
            else:
                node = self._node(inst, env)
            if node is None:
                return None
            env[inst.dest] = node
        result = env[self.rule.result]
        if self.root.ty is not None and result.ty is not None and result.ty.label.is_secret \
                and not self.root.ty.label.is_secret:
            return None  # would hand a secret to a public position
        return coerce(result, self.root.ty), self.cost

    def _operand(self, expr: load.Expr, env: Mapping[str, ast.Expr]) -> ast.Expr:
        if isinstance(expr, load.VarRef):
            return env[expr.name]
        return ring_literal(self.root, evaluate(expr, self.m.params), self.m.ring)

    def _node(self, inst: load.Inst, env: Mapping[str, ast.Expr]) -> Optional[ast.Expr]:
        values = [self._operand(a, env) for a in inst.args]
        if inst.op in _SHIFTS:
            if isinstance(inst.args[1], load.VarRef):
                return None  # only literal amounts: a secret or variable amount is not a truncation
            values[1] = amount(self.root, evaluate(inst.args[1], self.m.params))
        ring_operands = values[:1] if inst.op in _SHIFTS else values
        secret = any(v.ty is not None and v.ty.label.is_secret for v in ring_operands)
        label = self.templates.get(inst.op, self.secret_label) if secret else Label.PL
        if inst.op in _SHIFTS and secret and values[0].ty is not None:
            label = values[0].ty.label  # a shift of a secret takes its label: no conversion in between
        ty = Type(self.m.ring, label)
        span = self.root.span
        if secret and (inst.op != "mul" or all(v.ty is not None and v.ty.label.is_secret for v in values)):
            self.cost += COST.get(inst.op, 0)
        if inst.op in ("relu", "max"):
            x = coerce(values[0], ty)
            y = coerce(values[1] if inst.op == "max" else ring_literal(self.root, 0, self.m.ring), ty)
            cond = ast.Binary(span, BinaryOp.GT, x, y, label, ty=Type(Base.BOOL, label))
            return ast.Ternary(span, cond, x, y, label, ty=ty)
        left = coerce(values[0], ty)
        right = values[1] if inst.op in _SHIFTS else coerce(values[1], ty)
        op = {"rescale": BinaryOp.SHR, "lshr": BinaryOp.SHRL}.get(inst.op) or _BINARY[inst.op]
        return ast.Binary(span, op, left, right, label, ty=ty,
                          rescale=inst.op == "rescale" and self.rescale_flag)
