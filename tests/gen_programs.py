"""Hypothesis strategies that build random well-typed EzPC programs as source text.

Why: the checker and noninterference tests need many small programs that exercise every label,
operator and statement form, together with a description of their inputs so that a test can
draw input values for them.

Every program is well typed by construction (tests/test_generator.py holds the checker to it):
an expression is built top-down from the exact type it must have, following the label inference
rules of the language reference (§4.4–4.6), so a secret never reaches a public position. Array
indices stay in bounds, shift amounts and exponents are never negative, and loops run at most a
few times, so one run of a program is fast and raises no run-time error.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from hypothesis import strategies as st

from ezlang.types import Base, Label, Role, Type, default_label

PL, AL, BL = Label.PL, Label.AL, Label.BL
INT32_PL = Type(Base.INT32, PL)
BOOL_PL = Type(Base.BOOL, PL)
INT_BASES = (Base.INT32, Base.UINT32, Base.INT64, Base.UINT64)
STATEMENT_BUDGET = 28
SHAPES = ((2,), (3,), (2, 2), (3, 2))
_SUFFIX = {Base.INT32: "", Base.UINT32: "u", Base.INT64: "L", Base.UINT64: "uL"}
_NARROW = {Base.INT64: Base.INT32, Base.UINT64: Base.UINT32}

Maker = Callable[[Type, int], str]
T = TypeVar("T")


@dataclass(frozen=True)
class InputSpec:
    """One `input(role, name, type)` of a generated program; `type.rank == len(shape)`."""

    name: str
    role: Role
    type: Type
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class GeneratedProgram:
    text: str
    bitlen: int
    inputs: tuple[InputSpec, ...]

    def inputs_of(self, role: Role) -> tuple[InputSpec, ...]:
        return tuple(spec for spec in self.inputs if spec.role is role)


def int_bounds(base: Base) -> tuple[int, int]:
    """Smallest and largest value of an integer base."""
    if base.signed:
        return -(2 ** (base.width - 1)), 2 ** (base.width - 1) - 1
    return 0, 2**base.width - 1


def scalar_values(ty: Type) -> st.SearchStrategy[object]:
    """Values of a scalar type, with small numbers and the extremes both likely."""
    if ty.base is Base.BOOL:
        return st.booleans()
    lo, hi = int_bounds(ty.base)
    return st.one_of(st.integers(max(lo, -9), 9), st.sampled_from((lo, hi)), st.integers(lo, hi))


def input_values(spec: InputSpec) -> st.SearchStrategy[object]:
    """A value for one input: a scalar, or nested lists of the input's shape for an array."""
    values = scalar_values(spec.type.scalar())
    for size in reversed(spec.shape):
        values = st.lists(values, min_size=size, max_size=size)
    return values


@st.composite
def programs(draw: st.DrawFn, bitlen: int | None = None) -> GeneratedProgram:
    """A random well-typed program; `bitlen` 32 or 64 (drawn when None)."""
    width = bitlen if bitlen is not None else draw(st.sampled_from((32, 64)))
    return _Gen(draw, width).program()


@dataclass(frozen=True)
class _Var:
    """A name in scope. `counter` is the value range of a public loop counter or constant, which
    makes it usable as an array index or shift amount."""

    name: str
    ty: Type
    shape: tuple[int, ...] = ()
    writable: bool = True
    counter: tuple[int, int] | None = None


@dataclass(frozen=True)
class _Fun:
    name: str
    ret: Type | None
    params: tuple[_Var, ...]


def _block(stmts: list[str]) -> str:
    """`{ s1; s2 }` over indented lines (a statement may span several lines)."""
    lines = ";\n".join(stmts).split("\n")
    return "{\n" + "\n".join("  " + line for line in lines) + "\n}"


def _render_type(ty: Type, shape_text: str = "", omit_label: bool = False) -> str:
    const = "const " if ty.const else ""
    label = "" if omit_label else f"_{ty.label}"
    return f"{const}{ty.base}{label}{shape_text}"


class _Gen:
    """Builds one program; all randomness comes from the Hypothesis `draw` it is given."""

    def __init__(self, draw: st.DrawFn, bitlen: int):
        self._draw = draw
        self.bitlen = bitlen
        self.secret_bases = (Base.INT32, Base.UINT32) if bitlen == 32 else (Base.INT64, Base.UINT64)
        self.scopes: list[list[_Var]] = [[]]
        self.funs: list[_Fun] = []
        self.inputs: list[InputSpec] = []
        self.names = 0
        self.budget = STATEMENT_BUDGET
        self.in_main = False

    # ------------------------------------------------------------ drawing and names

    def pick(self, options: Sequence[T]) -> T:
        return self._draw(st.sampled_from(options))

    def chance(self, tenths: int) -> bool:
        return self._draw(st.integers(0, 9)) < tenths

    def num(self, lo: int, hi: int) -> int:
        return self._draw(st.integers(lo, hi))

    def fresh(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"

    def visible(self) -> list[_Var]:
        return [var for scope in self.scopes for var in scope]

    def declare(self, var: _Var) -> None:
        self.scopes[-1].append(var)

    def scalar_types(self) -> list[Type]:
        secret = [Type(b, label) for b in self.secret_bases for label in (AL, BL)]
        return secret + [Type(b, PL) for b in INT_BASES] + [BOOL_PL, Type(Base.BOOL, BL)]

    def secret_types(self) -> list[Type]:
        return [t for t in self.scalar_types() if t.label.is_secret]

    def type_text(self, ty: Type, shape: tuple[int, ...] = ()) -> str:
        """A written type; the label is sometimes left to its default, dims sometimes named."""
        omit = ty.label is default_label(ty.base) and self.chance(2)
        return _render_type(ty, "".join(f"[{self.dim(n)}]" for n in shape), omit)

    def dim(self, size: int) -> str:
        named = [v.name for v in self.scopes[0] if v.counter == (size, size) and v.ty == INT32_PL]
        return self.pick(named) if named and self.chance(4) else str(size)

    # ------------------------------------------------------------ expressions

    def expr(self, ty: Type, depth: int) -> str:
        """An expression whose type is exactly the scalar type `ty`."""
        leaves = self.leaves(ty)
        if depth <= 0 or (leaves and self.chance(3)):
            return self.pick(leaves)() if leaves else self.seed(ty)
        maker: Maker = self.pick(self.makers(ty))
        return maker(ty, depth - 1)

    def value(self, dest: Type, depth: int = 2) -> str:
        """An expression assignable to a scalar `dest` (§4.4: label and signedness conversions,
        public widening)."""
        return self.expr(self.source_type(dest), depth)

    def source_type(self, dest: Type) -> Type:
        if self.chance(5):
            return dest
        other = {AL: BL, BL: AL if dest.base.is_int else BL}
        labels = [dest.label] if dest.label is PL else [dest.label, PL, other[dest.label]]
        bases = [dest.base]
        if dest.base.is_int:
            bases.append(dest.base.with_signedness(not dest.base.signed))
        if dest.label is PL and dest.base in _NARROW:
            bases.append(_NARROW[dest.base])
        return Type(self.pick(bases), self.pick(labels))

    def leaves(self, ty: Type) -> list[Callable[[], str]]:
        found: list[Callable[[], str]] = []
        if ty.label is PL:
            found.append(partial(self.literal, ty.base))
        for var in self.visible():
            if var.ty == ty:
                found += [partial(self.element, var, 0)] * 2
            elif var.ty.rank and var.ty.scalar() == ty:
                found.append(partial(self.element, var, 0))
        return found

    def literal(self, base: Base) -> str:
        if base is Base.BOOL:
            return self.pick(("true", "false"))
        lo, hi = int_bounds(base)
        small = st.integers(max(lo, -6), 9)
        value = self._draw(st.one_of(small, small, small, st.sampled_from((lo + int(lo < 0), hi))))
        text = f"{value}{_SUFFIX[base]}"
        return f"({text})" if value < 0 else text

    def seed(self, ty: Type) -> str:
        """A secret value made from literals, for when no variable of `ty` is in scope."""
        if ty.label is PL:
            return self.literal(ty.base)
        if ty.base is Base.BOOL:
            base = self.pick(self.secret_bases)
            return f"({self.literal(base)} <_bl {self.literal(base)})"
        op = "+_al" if ty.label is AL else "^_bl"
        return f"({self.literal(ty.base)} {op} {self.literal(ty.base)})"

    def makers(self, ty: Type) -> list[Maker]:
        if ty.base is Base.BOOL:
            table = {PL: [self.compare, self.logic, self.negate, self.public_select],
                     BL: [self.compare, self.logic, self.negate, self.secret_select, self.public_select]}
        else:
            table = {PL: [self.arith, self.bitwise, self.shift, self.power, self.complement, self.public_select],
                     AL: [self.arith, self.arith, self.public_select],
                     BL: [self.arith, self.bitwise, self.shift, self.complement, self.secret_select,
                          self.public_select]}
        found: list[Maker] = list(table[ty.label])
        if any(f.ret == ty and self.can_call(f) for f in self.funs):
            found.append(self.call)
        return found

    def labels_for(self, base: Base) -> tuple[Label, ...]:
        return (AL, BL, PL) if base.is_int else (BL, PL)

    def pair(self, base: Base, secret: bool = True) -> tuple[Label, Label]:
        """Two operand labels, not both public when `secret`."""
        labels = self.labels_for(base)
        pairs = [p for p in itertools.product(labels, labels) if not (secret and p == (PL, PL))]
        return self.pick(pairs)

    def mixed(self, label: Label) -> tuple[Label, Label]:
        """Operand labels for which an unlabelled `+ - / %`, `&&`... infers `label`."""
        return self.pick(((label, label), (label, PL), (PL, label)))

    def binary(self, op: str, base: Base, labels: tuple[Label, Label], depth: int) -> str:
        left = self.expr(Type(base, labels[0]), depth)
        right = self.expr(Type(base, labels[1]), depth)
        return f"({left} {op} {right})"

    def arith(self, ty: Type, depth: int) -> str:
        if ty.label is PL:
            return self.public_arith(ty, depth)
        op = self.pick(("+", "-", "*", "/", "%") if ty.label is AL else ("+", "-", "/", "%"))
        if self.chance(3):
            return self.binary(f"{op}_{ty.label}", ty.base, self.pair(ty.base, secret=False), depth)
        if op == "*":
            return self.binary(op, ty.base, self.pair(ty.base), depth)
        return self.binary(op, ty.base, self.mixed(ty.label), depth)

    def public_arith(self, ty: Type, depth: int) -> str:
        op = self.pick(("+", "-", "*", "/", "%"))
        bases = [ty.base, ty.base]
        if ty.base in _NARROW and self.chance(3):
            bases[self.num(0, 1)] = _NARROW[ty.base]
        left, right = (self.expr(Type(b, PL), depth) for b in bases)
        return f"({left} {op} {right})"

    def bitwise(self, ty: Type, depth: int) -> str:
        op = self.pick(("&", "|", "^"))
        if ty.label is PL:
            return self.binary(op, ty.base, (PL, PL), depth)
        if self.chance(3):
            return self.binary(f"{op}_bl", ty.base, self.pair(ty.base, secret=False), depth)
        return self.binary(op, ty.base, self.pair(ty.base), depth)

    def shift(self, ty: Type, depth: int) -> str:
        op = self.pick(("<<", ">>", ">>>"))
        if ty.label is PL:
            left_label = PL
        elif self.chance(3):
            op, left_label = f"{op}_bl", self.pick((AL, BL, PL))
        else:
            left_label = self.pick((AL, BL))
        return f"({self.expr(Type(ty.base, left_label), depth)} {op} {self.shift_amount(ty.base)})"

    def shift_amount(self, base: Base) -> str:
        counters = [v.name for v in self.visible() if v.counter and v.counter[0] >= 0]
        options = ["literal", "mask"] + (["counter"] if counters else [])
        kind = self.pick(options)
        if kind == "counter":
            return self.pick(counters)
        if kind == "mask":
            return f"({self.expr(INT32_PL, 0)} & 31)"
        return f"{self.num(0, base.width + 1)}{_SUFFIX[self.pick(INT_BASES)]}"

    def power(self, ty: Type, depth: int) -> str:
        return f"({self.expr(ty, depth)} ^^ {self.num(0, 3)}{_SUFFIX[ty.base]})"

    def complement(self, ty: Type, depth: int) -> str:
        if ty.label is PL:
            return f"(~{self.expr(ty, depth)})"
        if self.chance(3):
            return f"(~_bl {self.expr(Type(ty.base, self.pick((AL, BL, PL))), depth)})"
        return f"(~{self.expr(Type(ty.base, self.pick((AL, BL))), depth)})"

    def compare(self, ty: Type, depth: int) -> str:
        op = self.pick(("==", "<", ">", "<=", ">="))
        if ty.label is PL:
            return self.binary(op, self.pick(INT_BASES), (PL, PL), depth)
        base = self.pick(self.secret_bases)
        if self.chance(3):
            return self.binary(f"{op}_bl", base, self.pair(base, secret=False), depth)
        return self.binary(op, base, self.pair(base), depth)

    def logic(self, ty: Type, depth: int) -> str:
        op = self.pick(("&&", "||", "@"))
        if ty.label is PL:
            return self.binary(op, Base.BOOL, (PL, PL), depth)
        if self.chance(3):
            return self.binary(f"{op}_bl", Base.BOOL, self.pair(Base.BOOL, secret=False), depth)
        return self.binary(op, Base.BOOL, self.pair(Base.BOOL), depth)

    def negate(self, ty: Type, depth: int) -> str:
        if ty.label is BL and self.chance(3):
            return f"(!_bl {self.expr(Type(Base.BOOL, self.pick((BL, PL))), depth)})"
        return f"(!{self.expr(ty, depth)})"

    def public_select(self, ty: Type, depth: int) -> str:
        labels = (PL, PL) if ty.label is PL else self.mixed(ty.label)
        cond = self.expr(BOOL_PL, depth)
        return f"({cond} ? {self.expr(Type(ty.base, labels[0]), depth)} : {self.expr(Type(ty.base, labels[1]), depth)})"

    def secret_select(self, ty: Type, depth: int) -> str:
        if self.chance(3):
            op, cond = "?_bl", self.expr(Type(Base.BOOL, self.pick((BL, PL))), depth)
        else:
            op, cond = "?", self.expr(Type(Base.BOOL, BL), depth)
        then, other = (self.expr(Type(ty.base, label), depth) for label in self.pair(ty.base, secret=False))
        return f"({cond} {op} {then} : {other})"

    def call(self, ty: Type, depth: int) -> str:
        fun = self.pick([f for f in self.funs if f.ret == ty and self.can_call(f)])
        return f"{fun.name}({', '.join(self.call_args(fun, depth))})"

    # ------------------------------------------------------------ arrays

    def element(self, var: _Var, depth: int) -> str:
        return var.name + "".join(f"[{self.index(n, depth)}]" for n in var.shape)

    def index(self, size: int, depth: int) -> str:
        """A public index in [0, size)."""
        counters = [v.name for v in self.visible()
                    if v.counter and v.counter[0] >= 0 and v.counter[1] < size]
        kind = self.pick(["literal"] + (["counter"] if counters else []) + (["wrapped"] if depth > 0 else []))
        if kind == "counter":
            return self.pick(counters)
        if kind == "wrapped":
            return f"((({self.expr(INT32_PL, depth - 1)} % {size}) + {size}) % {size})"
        return str(self.num(0, size - 1))

    def array_args(self, param: _Var) -> list[tuple[_Var, bool]]:
        """Arrays that can be passed to `param`, each whole (False) or as one of its rows (True)."""
        found: list[tuple[_Var, bool]] = []
        for var in self.visible():
            if var.ty.scalar() != param.ty.scalar() or not (param.ty.const or var.writable):
                continue
            if var.shape == param.shape:
                found.append((var, False))
            elif var.shape[1:] == param.shape:
                found.append((var, True))
        return found

    def array_arg(self, param: _Var) -> str:
        var, row = self.pick(self.array_args(param))
        return f"{var.name}[{self.index(var.shape[0], 0)}]" if row else var.name

    def can_call(self, fun: _Fun) -> bool:
        return all(self.array_args(p) for p in fun.params if p.shape)

    def call_args(self, fun: _Fun, depth: int) -> list[str]:
        """Arguments for a call whose array parameters all have a candidate (`can_call`)."""
        return [self.array_arg(p) if p.shape else self.value(p.ty, depth) for p in fun.params]

    # ------------------------------------------------------------ statements

    def body(self, depth: int, most: int, least: int = 1) -> list[str]:
        stmts: list[str] = []
        for _ in range(self.num(least, most)):
            if self.budget <= 0 and stmts:
                break
            self.budget -= 1
            stmts.append(self.statement(depth))
        return stmts

    def statement(self, depth: int) -> str:
        options: list[Callable[[int], str]] = [self.declare_scalar, self.declare_array]
        visible = self.visible()
        if any(v.writable and not v.shape for v in visible):
            options += [self.assign_scalar] * 3
        if any(v.writable and v.shape and not v.ty.const for v in visible):
            options += [self.assign_element] * 3
        if depth < 2:
            options += [self.if_stmt, self.if_stmt, self.for_stmt, self.while_stmt]
        if any(f.ret is None for f in self.funs):
            options.append(self.call_stmt)
        if self.in_main:
            options += [self.output_stmt] * 2
        return self.pick(options)(depth)

    def declare_scalar(self, depth: int) -> str:
        ty = self.pick(self.scalar_types())
        init = f" = {self.value(ty)}" if self.chance(8) else ""
        name = self.fresh("v")
        self.declare(_Var(name, ty))
        return f"{self.type_text(ty)} {name}{init}"

    def declare_array(self, depth: int) -> str:
        ty, shape = self.pick(self.scalar_types()), self.pick(SHAPES)
        name = self.fresh("a")
        self.declare(_Var(name, Type(ty.base, ty.label, len(shape)), shape))
        return f"{self.type_text(ty, shape)} {name}"

    def assign_scalar(self, depth: int) -> str:
        var = self.pick([v for v in self.visible() if v.writable and not v.shape])
        return f"{var.name} = {self.value(var.ty)}"

    def assign_element(self, depth: int) -> str:
        var = self.pick([v for v in self.visible() if v.writable and v.shape and not v.ty.const])
        return f"{self.element(var, 1)} = {self.value(var.ty.scalar())}"

    def nested(self, depth: int, most: int, *declared: _Var) -> list[str]:
        self.scopes.append(list(declared))
        stmts = self.body(depth + 1, most)
        self.scopes.pop()
        return stmts

    def if_stmt(self, depth: int) -> str:
        text = f"if ({self.expr(BOOL_PL, 2)}) {self.branch(depth)}"
        return text + (f" else {self.branch(depth)}" if self.chance(5) else "")

    def branch(self, depth: int) -> str:
        if self.chance(2) and any(v.writable and not v.shape for v in self.visible()):
            return self.assign_scalar(depth)
        return _block(self.nested(depth, 3))

    def for_stmt(self, depth: int) -> str:
        lo = self.num(0, 1)
        unsigned = self.chance(2)
        if not unsigned and self.chance(3):
            hi_text, hi_max = f"({self.expr(INT32_PL, 0)} & 3)", 3
        else:
            hi_max = self.num(0, 3)
            hi_text = f"{hi_max}u" if unsigned else str(hi_max)
        name = self.fresh("i")
        counter = _Var(name, INT32_PL, writable=False, counter=(lo, max(lo, hi_max - 1)))
        lo_text = f"{lo}u" if unsigned else str(lo)
        return f"for {name} = [{lo_text} : {hi_text}] {_block(self.nested(depth, 4, counter))}"

    def while_stmt(self, depth: int) -> str:
        name, limit = self.fresh("w"), self.num(0, 3)
        self.declare(_Var(name, INT32_PL, writable=False, counter=(0, limit)))
        stmts = self.nested(depth, 4) + [f"{name} = {name} + 1"]
        return f"int32_pl {name} = 0;\nwhile ({name} < {limit}) {_block(stmts)}"

    def call_stmt(self, depth: int) -> str:
        fun = self.pick([f for f in self.funs if f.ret is None])
        setup = [self.declare_array_like(p) for p in fun.params if p.shape and not self.array_args(p)]
        return ";\n".join(setup + [f"{fun.name}({', '.join(self.call_args(fun, 1))})"])

    def declare_array_like(self, param: _Var) -> str:
        name = self.fresh("a")
        ty = param.ty.scalar()
        self.declare(_Var(name, Type(ty.base, ty.label, len(param.shape)), param.shape))
        return f"{self.type_text(ty, param.shape)} {name}"

    def output_stmt(self, depth: int) -> str:
        """Outputs a variable half of the time, so that most outputs carry some input."""
        role = self.pick(tuple(Role))
        names = [v.name for v in self.visible()]
        if names and self.chance(5):
            return f"output({role}, {self.pick(names)})"
        return f"output({role}, {self.expr(self.pick(self.scalar_types()), 2)})"

    # ------------------------------------------------------------ top level

    def program(self) -> GeneratedProgram:
        parts = [self.global_const() for _ in range(self.num(0, 2))]
        parts += [self.helper() for _ in range(self.num(0, 3))]
        parts.append(self.main())
        return GeneratedProgram("\n\n".join(parts) + "\n", self.bitlen, tuple(self.inputs))

    def global_const(self) -> str:
        base, name = self.pick(INT_BASES), self.fresh("g")
        if base is Base.INT32:
            size = self.num(1, 3)
            self.scopes[0].append(_Var(name, INT32_PL, writable=False, counter=(size, size)))
            return f"int32 {name} = {size};"
        self.scopes[0].append(_Var(name, Type(base, PL), writable=False))
        return f"{base} {name} = {self.literal(base)};"

    def param(self, array: bool, const: bool) -> _Var:
        ty = self.pick(self.scalar_types())
        if not array:
            return _Var(self.fresh("p"), ty)
        shape = self.pick(SHAPES)
        return _Var(self.fresh("q"), Type(ty.base, ty.label, len(shape), const), shape, writable=not const)

    def helper(self) -> str:
        """A void helper that writes an array argument, or one returning a scalar (§4.6: a call
        in an expression must be pure, so its array parameters are const)."""
        ret = self.pick(self.scalar_types()) if self.chance(5) else None
        params = self.params(ret is not None)
        self.scopes.append(list(params))
        stmts = self.body(0, 3) + [self.helper_exit(params, ret)]
        self.scopes.pop()
        fun = _Fun(self.fresh("f"), ret, tuple(params))
        self.funs.append(fun)
        signature = ", ".join(f"{self.type_text(p.ty, p.shape)} {p.name}" for p in params)
        return f"def {self.type_text(ret) if ret else 'void'} {fun.name}({signature}) {_block(stmts)}"

    def params(self, returns: bool) -> list[_Var]:
        params = [self.param(False, False) for _ in range(self.num(0, 2))]
        if returns:
            return params + [self.param(True, True) for _ in range(self.num(0, 1))]
        params.insert(self.num(0, len(params)), self.param(True, False))
        return params

    def helper_exit(self, params: list[_Var], ret: Type | None) -> str:
        """`return e` for a value helper; a void helper ends by writing its first array."""
        if ret is not None:
            return f"return {self.value(ret)}"
        array = next(p for p in params if p.shape)
        return f"{self.element(array, 1)} = {self.value(array.ty.scalar())}"

    def main(self) -> str:
        self.in_main = True
        self.scopes.append([])
        roles = [Role.SERVER, Role.CLIENT] + [self.pick(tuple(Role)) for _ in range(self.num(0, 3))]
        stmts = [self.input_stmt(role) for role in self._draw(st.permutations(roles))]
        self.budget = max(self.budget, 8)
        stmts += self.body(0, 20, 4)
        stmts += [self.output_stmt(0) for _ in range(self.num(1, 2))]
        self.scopes.pop()
        return f"def void main() {_block(stmts)}"

    def input_stmt(self, role: Role) -> str:
        types = [BOOL_PL] + [Type(b, PL) for b in INT_BASES] if role is Role.ALL else self.secret_types()
        ty = self.pick(types)
        shape = self.pick(SHAPES) if self.chance(3) else ()
        name = self.fresh("x")
        full = Type(ty.base, ty.label, len(shape))
        self.declare(_Var(name, full, shape))
        self.inputs.append(InputSpec(name, role, full, shape))
        return f"input({role}, {name}, {self.type_text(ty, shape)})"

