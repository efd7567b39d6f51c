"""Typed expressions → Python closures `frame -> value` (the interpreter's expression half).

Each node is translated once, by a table keyed on its class, into a closure specialised for
its operator and type, so a loop body costs a few closure calls per node and no dispatch.

Assumes: a typed program (every Expr.ty set; implicit conversions explicit as Convert nodes,
names resolved by the checker). A conversion the checker left implicit is still applied here
from the types at hand, so a node's value depends only on its own type and its operands' values.
Guarantees: every closure returns a canonical value of its node's type (ezlang.semantics).
Evaluation is left to right and evaluates every operand, also of `&&` and `||`, except that a
`?:` with a public condition evaluates only the chosen branch. When a trace is kept, the value
of every public scalar expression is appended to it; when an observer is set, it is called with
every evaluated expression and its value (of the node's own type, before any conversion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ezlang.inputs import InputReader
from ezlang.interp.result import (BAD_EXTERN_RESULT, CALL_TOO_DEEP, INDEX_OUT_OF_BOUNDS, MISSING_RETURN,
                                  NO_EXTERN_IMPLEMENTATION, InterpError, OutputValue, TraceEvent)
from ezlang.semantics import (RingError, binary_fn, convert_fn, is_canonical, is_shift, may_raise,
                              to_f32, unary_fn, wrap)
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Role, Type

Frame = list
Fn = Callable[[Frame], Any]

_ROLE_VALUES = {Role.SERVER: 0, Role.CLIENT: 1, Role.ALL: 2}
_COMPARISONS = frozenset({BinaryOp.LT, BinaryOp.GT, BinaryOp.LE, BinaryOp.GE, BinaryOp.EQ})


@dataclass
class Machine:
    """The state of one run that closures share: globals, callees, inputs, outputs, trace."""

    readers: dict[Role, InputReader]
    externs: dict[str, Callable[..., Any]]
    trace: Optional[list[TraceEvent]]
    observe: Optional[Callable[[Any, Any], None]] = None
    globals: list[Any] = field(default_factory=list)
    functions: dict[str, "Function"] = field(default_factory=dict)
    outputs: dict[Role, list[OutputValue]] = field(default_factory=lambda: {Role.SERVER: [], Role.CLIENT: []})


@dataclass
class Function:
    """A compiled `def`; `body` and `size` (number of frame slots) are set once compiled."""

    node: ast.FunDef
    body: Callable[[Frame], Any] = field(default=lambda frame: None)
    size: int = 0


@dataclass(frozen=True)
class Returned:
    """What a statement closure hands back when a `return` ran; None means carry on."""

    value: Any


class Scopes:
    """Compile-time name → frame slot, with EzPC's scopes; every declaration gets a fresh slot."""

    def __init__(self, global_slots: dict[str, int]):
        self.global_slots = global_slots
        self.levels: list[dict[str, int]] = [{}]
        self.size = 0

    def declare(self, name: str) -> int:
        slot = self.size
        self.size += 1
        self.levels[-1][name] = slot
        return slot

    def lookup(self, name: str) -> tuple[bool, int]:
        """(is_local, slot) of the innermost binding."""
        for level in reversed(self.levels):
            if name in level:
                return True, level[name]
        return False, self.global_slots[name]

    def push(self) -> None:
        self.levels.append({})

    def pop(self) -> None:
        self.levels.pop()


def typed(ty: Optional[Type], node: object) -> Type:
    if ty is None:
        raise ValueError(f"{type(node).__name__} at {getattr(node, 'span', '?')} has no type: "
                         "interpret needs a checked program (ezlang.passes.pipeline.check_program)")
    return ty


def coerce(fn: Fn, src: Type, dst: Type) -> Fn:
    """`fn` followed by the conversion of its value from `src` to `dst` (if any)."""
    convert = convert_fn(src, dst)
    if convert is None:
        return fn
    return lambda frame: convert(fn(frame))


def copy_value(value: Any) -> Any:
    """A deep copy of a nested-list array (scalars are immutable)."""
    if isinstance(value, list):
        return [copy_value(item) for item in value]
    return value


def extern_value(value: Any, base: Base) -> Any:
    """A value an extern returned or wrote, made canonical for `base`; None if of the wrong kind."""
    if hasattr(value, "item") and not isinstance(value, list):
        value = value.item()  # a numpy scalar
    if base is Base.FLOAT and type(value) in (int, float):
        value = to_f32(float(value))
    elif base.is_int and type(value) is int and -(1 << (base.width - 1)) <= value < (1 << base.width):
        value = wrap(value, base)
    return value if is_canonical(value, base) else None


class ExprCompiler:
    """Translates expressions of one function body (or of a global constant)."""

    def __init__(self, machine: Machine, scopes: Scopes, externs: dict[str, ast.Extern]):
        self.machine = machine
        self.scopes = scopes
        self.externs = externs
        self.table: dict[type, Callable[[Any], Fn]] = {
            ast.IntLit: self._int_lit, ast.FloatLit: self._float_lit, ast.BoolLit: self._bool_lit,
            ast.RoleLit: self._role_lit, ast.Var: self._var, ast.Index: self._index,
            ast.Call: self._call, ast.Binary: self._binary, ast.Unary: self._unary,
            ast.Ternary: self._ternary, ast.Subsume: self._convert, ast.Convert: self._convert,
        }

    def expr(self, node: ast.Expr) -> Fn:
        ty = typed(node.ty, node)
        return self._observed(node, self._traced(node, ty, self.table[type(node)](node)))

    def _observed(self, node: ast.Expr, fn: Fn) -> Fn:
        """`fn` reporting each value to the machine's observer; `fn` itself when there is none."""
        observe = self.machine.observe
        if observe is None:
            return fn

        def observed(frame: Frame) -> Any:
            value = fn(frame)
            observe(node, value)
            return value
        return observed

    def _traced(self, node: ast.Expr, ty: Type, fn: Fn) -> Fn:
        trace = self.machine.trace
        if trace is None or not ty.is_public or ty.rank:
            return fn
        record, offset = trace.append, node.span.start

        def traced(frame: Frame) -> Any:
            value = fn(frame)
            record(TraceEvent("value", offset, value))
            return value
        return traced

    def expr_as(self, node: ast.Expr, ty: Type) -> Fn:
        """`node` converted to the destination type `ty`."""
        return coerce(self.expr(node), typed(node.ty, node), ty)

    # ------------------------------------------------------------ leaves

    def _int_lit(self, node: ast.IntLit) -> Fn:
        value = wrap(node.value, typed(node.ty, node).base)
        return lambda frame: value

    def _float_lit(self, node: ast.FloatLit) -> Fn:
        value = to_f32(node.value)
        return lambda frame: value

    def _bool_lit(self, node: ast.BoolLit) -> Fn:
        value = bool(node.value)
        return lambda frame: value

    def _role_lit(self, node: ast.RoleLit) -> Fn:
        value = _ROLE_VALUES[node.role]
        return lambda frame: value

    def _var(self, node: ast.Var) -> Fn:
        local, slot = self.scopes.lookup(node.name)
        if local:
            return lambda frame: frame[slot]
        table = self.machine.globals
        return lambda frame: table[slot]

    def _index(self, node: ast.Index) -> Fn:
        array, index = self.expr(node.array), self.expr(node.index)
        span, text = node.span, node.array.span.text

        def run(frame: Frame) -> Any:
            items, i = array(frame), index(frame)
            if 0 <= i < len(items):
                return items[i]
            raise out_of_bounds(span, text, i, len(items))
        return run

    # ------------------------------------------------------------ operators

    def _binary(self, node: ast.Binary) -> Fn:
        ty = typed(node.ty, node)
        left_ty, right_ty = typed(node.left.ty, node.left), typed(node.right.ty, node.right)
        if is_shift(node.op):
            operand = ty
            left, right = self.expr_as(node.left, ty), self.expr(node.right)
        else:
            operand = _join(left_ty, right_ty) if node.op in _COMPARISONS else ty
            left, right = self.expr_as(node.left, operand), self.expr_as(node.right, operand)
        fn = binary_fn(node.op, operand.base)
        if not may_raise(node.op):
            return lambda frame: fn(left(frame), right(frame))
        span = node.span

        def checked(frame: Frame) -> Any:
            try:
                return fn(left(frame), right(frame))
            except RingError as error:
                raise InterpError.at(span, error.code, error.message) from None
        return checked

    def _unary(self, node: ast.Unary) -> Fn:
        ty = typed(node.ty, node)
        fn, operand = unary_fn(node.op, ty.base), self.expr_as(node.operand, ty)
        return lambda frame: fn(operand(frame))

    def _ternary(self, node: ast.Ternary) -> Fn:
        ty = typed(node.ty, node)
        cond = self.expr(node.cond)
        then, other = self.expr_as(node.then, ty), self.expr_as(node.other, ty)
        if typed(node.cond.ty, node.cond).is_public:
            return lambda frame: then(frame) if cond(frame) else other(frame)

        def select(frame: Frame) -> Any:  # oblivious: both branches run, as in a MUX
            chosen, a, b = cond(frame), then(frame), other(frame)
            return a if chosen else b
        return select

    def _convert(self, node: ast.Convert | ast.Subsume) -> Fn:
        return self.expr_as(node.operand, typed(node.ty, node))

    # ------------------------------------------------------------ calls

    def _call(self, node: ast.Call) -> Fn:
        return self.call(node.name, node.args, node.span)

    def call(self, name: str, args: tuple[ast.Expr, ...], span: Span) -> Fn:
        function = self.machine.functions.get(name)
        if function is not None:
            return self._call_def(function, args, span)
        return self._call_extern(self.externs[name], args, span)

    def _arguments(self, params: tuple[ast.Param, ...], args: tuple[ast.Expr, ...]) -> list[Fn]:
        return [self.expr_as(arg, ast.declared_type(param.type)) for param, arg in zip(params, args)]

    def _call_def(self, function: Function, args: tuple[ast.Expr, ...], span: Span) -> Fn:
        arguments = self._arguments(function.node.params, args)
        node = function.node
        void = node.ret is None

        def run(frame: Frame) -> Any:
            callee = [arg(frame) for arg in arguments]
            callee.extend([None] * (function.size - len(callee)))
            try:
                outcome = function.body(callee)
            except RecursionError:
                raise InterpError.at(span, CALL_TOO_DEEP, f"calls nest too deeply at `{node.name}`",
                                     help="the interpreter allows a few thousand nested calls") from None
            if outcome is not None:
                return outcome.value
            if void:
                return None
            raise InterpError.at(node.name_span, MISSING_RETURN,
                                 f"`{node.name}` ended without returning a value",
                                 label=f"called from {span}")
        return run

    def _call_extern(self, extern: ast.Extern, args: tuple[ast.Expr, ...], span: Span) -> Fn:
        implementation = self.machine.externs.get(extern.name)
        bind = getattr(implementation, "bind", None)
        if bind is not None:
            # A library extern (ezlang.lib.athos) learns its ring width from the declaration.
            implementation = bind(extern, span)
        arguments = self._arguments(extern.params, args)
        if implementation is None:
            message = f"extern `{extern.name}` has no implementation in the interpreter"

            def missing(frame: Frame) -> Any:
                raise InterpError.at(span, NO_EXTERN_IMPLEMENTATION, message,
                                     help="pass one to interpret(..., externs={name: function})")
            return missing
        check = _extern_checker(extern, span)

        def run(frame: Frame) -> Any:
            values = [arg(frame) for arg in arguments]
            return check(values, implementation(*values))
        return run


def _extern_checker(extern: ast.Extern, span: Span) -> Callable[[list[Any], Any], Any]:
    """Checks what an extern returned and wrote into its non-const array arguments."""
    ret = None if extern.ret is None else ast.declared_type(extern.ret)
    written = [(i, ast.declared_type(p.type)) for i, p in enumerate(extern.params)
               if p.type.dims and not p.type.const]

    def bad(what: str, base: Base) -> InterpError:
        return InterpError.at(span, BAD_EXTERN_RESULT,
                              f"extern `{extern.name}` {what}, which is not of type {base}")

    def check(values: list[Any], result: Any) -> Any:
        for i, ty in written:
            _check_array(values[i], ty, f"argument {i + 1}", bad)
        if ret is None:
            return None
        value = extern_value(result, ret.base)
        if value is None:
            raise bad(f"returned {result!r}", ret.base)
        return value
    return check


def _check_array(items: list[Any], ty: Type, where: str, bad: Callable[[str, Base], InterpError]) -> None:
    for i, item in enumerate(items):
        if ty.rank > 1:
            _check_array(item, ty.element(), f"{where}[{i}]", bad)
        elif not is_canonical(item, ty.base):
            value = extern_value(item, ty.base)
            if value is None:
                raise bad(f"wrote {item!r} into {where}[{i}]", ty.base)
            items[i] = value


def _join(a: Type, b: Type) -> Type:
    """The operand type of a comparison: both sides' common base (the wider for public widening)."""
    if a.base is b.base or not a.base.is_int:
        return a
    return a if a.base.width >= b.base.width else b


def out_of_bounds(span: Span, text: str, index: int, length: int) -> InterpError:
    return InterpError.at(span, INDEX_OUT_OF_BOUNDS,
                          f"index {index} is out of bounds for `{text}` of length {length}",
                          label=f"valid indices are 0 to {length - 1}" if length else "the array is empty")
