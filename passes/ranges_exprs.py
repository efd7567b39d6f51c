"""Abstract evaluation of expressions and calls for the range analysis (its expression half).

Why: ezlang.passes.ranges needs, for every integer expression, an interval holding every value
it takes in any run, and the exact (unwrapped) interval of every operation that can overflow.

Assumes: a typed program (ezlang.passes.pipeline); the state holds sound intervals for every
variable in scope. Guarantees: `eval` returns a sound interval for the node's value as the
program holds it (wrapped to its type); while `recording` is on, the exact interval of each
evaluated node is joined into `intervals`, and an operation whose exact interval leaves its
type's range is added to `overflows`. Conversions mirror ezlang.interp.exprs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ezlang.interp import BUILTIN_EXTERNS
from ezlang.semantics import is_shift, wrap
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Role, Type

from ezlang.passes import ranges_domain as domain
from ezlang.passes.ranges_domain import Interval, fits, point, type_range, wrap_to
from ezlang.passes.ranges_shapes import shape, strip
from ezlang.passes.ranges_state import Roots, State, Value, join_values

INT32_PL = Type(Base.INT32, Label.PL)
_ROLE_VALUES = {Role.SERVER: 0, Role.CLIENT: 1, Role.ALL: 2}
_COMPARISONS = frozenset({BinaryOp.LT, BinaryOp.GT, BinaryOp.LE, BinaryOp.GE, BinaryOp.EQ})
NEGATED = {BinaryOp.LT: BinaryOp.GE, BinaryOp.GE: BinaryOp.LT, BinaryOp.GT: BinaryOp.LE, BinaryOp.LE: BinaryOp.GT}

Key = tuple[str, object]  # ("var", name) or ("site", allocation id): what a loop accumulates into


@dataclass
class Frame:
    """One analysed call: its function, where its returns go, and the loop rules in force.

    `trackers`: accumulators of the loops being iterated, holding values relative to the start
    of an iteration, each with the hull of every value it took. `bounds`: accumulators of the
    loops being recorded, with the bound the loop rule proved for every value they take."""

    function: str
    ret: Optional[Type] = None
    returns: list[tuple[Value, State]] = field(default_factory=list)
    trackers: dict[Key, Interval] = field(default_factory=dict)
    bounds: dict[Key, Interval] = field(default_factory=dict)


@dataclass
class Overflowing:
    node: ast.Expr
    interval: Interval
    primary: bool


class ExprAnalyzer(ABC):
    """Evaluates expressions over a State; the statement half (ranges_stmts) extends it and
    supplies `call`, which analyses a callee's body."""

    recording: bool  # whether evaluations join into `intervals` (off while a loop iterates)
    clamps: dict[int, Interval]  # update nodes → the bound the loop rule proved for them

    def __init__(self, program: ast.Program):
        self.functions = {g.name: g for g in program.globals if isinstance(g, ast.FunDef)}
        self.externs = {g.name: g for g in program.globals if isinstance(g, ast.Extern)}
        self.recording = True
        self.intervals: dict[int, tuple[ast.Expr, Interval]] = {}
        self.overflows: dict[int, Overflowing] = {}
        self.clamps = {}
        self.table: dict[type, Callable[[Any, State, Frame], Value]] = {
            ast.IntLit: self._int_lit, ast.FloatLit: self._none, ast.BoolLit: self._bool_lit,
            ast.RoleLit: self._role_lit, ast.Var: self._var, ast.Index: self._index, ast.Call: self._call,
            ast.Binary: self._binary, ast.Unary: self._unary, ast.Ternary: self._ternary,
            ast.Subsume: self._convert, ast.Convert: self._convert,
        }

    @abstractmethod
    def call(self, name: str, args: tuple[ast.Expr, ...], state: State, frame: Frame) -> Value:
        """The value of a call to `name` with `args` evaluated in `state`."""

    # ------------------------------------------------------------ recording

    def eval(self, node: ast.Expr, state: State, frame: Frame) -> Value:
        value = self.table[type(node)](node, state, frame)
        if self.recording and isinstance(value, Interval) and not isinstance(node, ast.Binary):
            self.record(node, value)
        return value

    def eval_as(self, node: ast.Expr, ty: Type, state: State, frame: Frame) -> Value:
        return converted(self.eval(node, state, frame), typed(node), ty)

    def record(self, node: ast.Expr, interval: Interval) -> None:
        known = self.intervals.get(id(node))
        self.intervals[id(node)] = (node, interval if known is None else known[1].join(interval))

    def _overflow(self, node: ast.Expr, exact: Interval, primary: bool) -> None:
        known = self.overflows.get(id(node))
        if known is None:
            self.overflows[id(node)] = Overflowing(node, exact, primary)
        else:
            known.interval, known.primary = known.interval.join(exact), known.primary or primary

    # ------------------------------------------------------------ leaves

    def _int_lit(self, node: ast.IntLit, state: State, frame: Frame) -> Value:
        return point(wrap(node.value, typed(node).base))

    def _none(self, node: ast.Expr, state: State, frame: Frame) -> Value:
        return None

    def _bool_lit(self, node: ast.BoolLit, state: State, frame: Frame) -> Value:
        return point(int(node.value))

    def _role_lit(self, node: ast.RoleLit, state: State, frame: Frame) -> Value:
        return point(_ROLE_VALUES[node.role])

    def _var(self, node: ast.Var, state: State, frame: Frame) -> Value:
        return state.lookup(node.name)[1]

    def _index(self, node: ast.Index, state: State, frame: Frame) -> Value:
        array = self.eval(node.array, state, frame)
        self.eval(node.index, state, frame)
        if typed(node).rank or not isinstance(array, Roots):
            return array
        return state.elements(array)

    def _call(self, node: ast.Call, state: State, frame: Frame) -> Value:
        return self.call(node.name, node.args, state, frame)

    # ------------------------------------------------------------ operators

    def _binary(self, node: ast.Binary, state: State, frame: Frame) -> Value:
        ty = typed(node)
        if is_shift(node.op):
            operand = ty
            left, right = self.eval_as(node.left, ty, state, frame), self.eval(node.right, state, frame)
        else:
            operand = _join(typed(node.left), typed(node.right)) if node.op in _COMPARISONS else ty
            left, right = (self.eval_as(side, operand, state, frame) for side in (node.left, node.right))
        if not isinstance(left, Interval) or not isinstance(right, Interval):
            return domain.BOOLS if ty.base is Base.BOOL else None
        exact = domain.binary(node.op, operand.base, left, right)
        primary = not (left.wrapped or right.wrapped)
        clamp = self.clamps.get(id(node))
        if clamp is not None:  # an accumulation whose every value the loop rule bounds
            exact = (exact.meet(clamp) or clamp) if fits(clamp, ty.base) else clamp
            primary = not clamp.wrapped
        if self.recording:
            self.record(node, exact)
            if node.op in domain.CAN_OVERFLOW and not fits(exact, ty.base):
                self._overflow(node, exact, primary)
        return wrap_to(exact, ty.base) if ty.base.is_int else exact

    def _unary(self, node: ast.Unary, state: State, frame: Frame) -> Value:
        ty = typed(node)
        operand = self.eval_as(node.operand, ty, state, frame)
        return domain.unary(node.op, ty.base, operand) if isinstance(operand, Interval) else None

    def _ternary(self, node: ast.Ternary, state: State, frame: Frame) -> Value:
        ty = typed(node)
        cond = self.eval(node.cond, state, frame)
        public = typed(node.cond).is_public
        result: Value = None
        for branch, truth in ((node.then, 1), (node.other, 0)):
            if public and isinstance(cond, Interval) and truth not in cond:
                continue  # a public condition runs only the branch it selects
            value = self.eval_as(branch, ty, state, frame)
            result = join_values(result, self._narrowed(node.cond, bool(truth), branch, value, state, frame))
        return result

    def _narrowed(self, cond: ast.Expr, truth: bool, branch: ast.Expr, value: Value, state: State,
                  frame: Frame) -> Value:
        """`value` of a branch that is one side of the comparison `cond`, which then holds (ReLU
        `x > 0 ? x : 0` is at least 0, max `a > b ? a : b` at least b)."""
        cond = strip(cond)
        if not isinstance(value, Interval) or not isinstance(cond, ast.Binary) or cond.op not in NEGATED:
            return value
        key, sides = shape(branch), (shape(cond.left), shape(cond.right))
        if key is None or None in sides or key not in sides:
            return value
        recording = self.recording
        self.recording = False
        try:
            operand = _join(typed(cond.left), typed(cond.right))
            left, right = (self.eval_as(side, operand, state, frame) for side in (cond.left, cond.right))
        finally:
            self.recording = recording
        if not isinstance(left, Interval) or not isinstance(right, Interval):
            return value
        facts = assume(cond.op if truth else NEGATED[cond.op], left, right)
        fact = facts[0] if key == sides[0] else facts[1]
        return value.meet(fact) or value

    def _convert(self, node: ast.Convert | ast.Subsume, state: State, frame: Frame) -> Value:
        return self.eval_as(node.operand, typed(node), state, frame)

    # ------------------------------------------------------------ externs

    def extern_call(self, extern: ast.Extern, values: list[Value], state: State) -> Value:
        """An extern may write every non-const array it is given, and return anything."""
        if extern.name not in BUILTIN_EXTERNS:
            for param, value in zip(extern.params, values):
                if param.type.dims and not param.type.const and isinstance(value, Roots):
                    havoc(state, value, param.type.base)
        return top(ast.declared_type(extern.ret)) if extern.ret is not None else None


def assume(op: BinaryOp, left: Interval, right: Interval) -> tuple[Interval, Interval]:
    """The operands' intervals refined by `left op right` holding (op one of < <= > >=)."""
    inf = max(abs(left.lo), abs(left.hi), abs(right.lo), abs(right.hi)) + 1
    strict = 1 if op in (BinaryOp.LT, BinaryOp.GT) else 0
    if op in (BinaryOp.LT, BinaryOp.LE):
        below, above = Interval(-inf, right.hi - strict), Interval(left.lo + strict, inf)
        return left.meet(below) or left, right.meet(above) or right
    above, below = Interval(right.lo + strict, inf), Interval(-inf, left.hi - strict)
    return left.meet(above) or left, right.meet(below) or right


def havoc(state: State, roots: Roots, base: Base) -> None:
    for site in roots.ids:
        state.heap[site] = type_range(base) if base.is_int or base is Base.BOOL else None


def top(ty: Type) -> Value:
    return type_range(ty.base) if ty.base.is_int or ty.base is Base.BOOL else None


def converted(value: Value, src: Type, dst: Type) -> Value:
    if isinstance(value, Interval) and not src.rank and not dst.rank and src.base is not Base.FLOAT:
        return domain.convert(value, src, dst)
    return value


def typed(node: ast.Expr) -> Type:
    if node.ty is None:
        raise ValueError(f"{type(node).__name__} at {node.span} has no type: "
                         "range analysis needs a checked program")
    return node.ty


def _join(a: Type, b: Type) -> Type:
    """The operand type of a comparison, as ezlang.interp.exprs chooses it."""
    if a.base is b.base or not a.base.is_int:
        return a
    return a if a.base.width >= b.base.width else b
