"""The meaning of rule operators as z3 bit-vector terms; the only module that imports z3.

Assumes: rules validated by load.py. Guarantees: ring values are bit-vectors of the width w
(two's complement, wrapping); parameters and the integers of `pre:`, `decode:` and error bounds
live in a wider signed domain of 2w+8 bits, where no expression a rule can write about w-bit
values (products of two of them, powers of two up to 2^w) wraps, so comparisons there are
comparisons of true integers. An operand that is not a plain variable is evaluated in that
domain and cut to its low w bits, which is its value modulo 2^w.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import z3
from ezlang.passes.rules.load import Cond, Expr, Inst, Neg, Num, ParamRef, VarRef


@dataclass(frozen=True)
class Env:
    """Symbols of one proof obligation: the width, parameters (domain-wide) and ring values."""

    width: int
    params: dict[str, z3.BitVecRef]
    values: dict[str, z3.BitVecRef]

    @property
    def domain(self) -> int:
        return 2 * self.width + 8


def integer(expr: Expr, env: Env) -> z3.BitVecRef:
    """`expr` as a signed integer of the domain; ring values are sign-extended."""
    if isinstance(expr, Num):
        return z3.BitVecVal(expr.value, env.domain)
    if isinstance(expr, ParamRef):
        return env.params[expr.name]
    if isinstance(expr, VarRef):
        return z3.SignExt(env.domain - env.width, env.values[expr.name])
    if isinstance(expr, Neg):
        return -integer(expr.operand, env)
    left, right = integer(expr.left, env), integer(expr.right, env)
    if expr.op == "^":
        return z3.BitVecVal(1, env.domain) << right
    return {"+": left + right, "-": left - right, "*": left * right}[expr.op]


def operand(expr: Expr, env: Env) -> z3.BitVecRef:
    """`expr` as a ring element of width w."""
    if isinstance(expr, VarRef):
        return env.values[expr.name]
    return z3.Extract(env.width - 1, 0, integer(expr, env))


_OPS: dict[str, Callable[..., z3.BitVecRef]] = {
    "copy": lambda x: x,
    "rescale": lambda x, s: x >> s,          # arithmetic: floor division by 2^s
    "lshr": z3.LShR,
    "relu": lambda x: z3.If(x < 0, z3.BitVecVal(0, x.size()), x),
    "max": lambda x, y: z3.If(x < y, y, x),   # signed
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "shl": lambda x, k: x << k,
    "and": lambda x, y: x & y,
}


def run(insts: tuple[Inst, ...], env: Env) -> Env:
    """The environment after executing the instructions in order."""
    values = dict(env.values)
    for inst in insts:
        args = [operand(a, Env(env.width, env.params, values)) for a in inst.args]
        values[inst.dest] = _OPS[inst.op](*args)
    return Env(env.width, env.params, values)


_COMPARE: dict[str, Callable[[z3.BitVecRef, z3.BitVecRef], z3.BoolRef]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def condition(cond: Cond, env: Env) -> z3.BoolRef:
    terms = [integer(t, env) for t in cond.terms]
    return z3.And(*[_COMPARE[op](a, b) for op, a, b in zip(cond.ops, terms, terms[1:])])


def param_symbol(name: str, env_width: int) -> z3.BitVecRef:
    return z3.BitVec(name, 2 * env_width + 8)


def value_symbol(name: str, width: int) -> z3.BitVecRef:
    return z3.BitVec(name, width)


def within(lhs: z3.BitVecRef, rhs: z3.BitVecRef, ulps: int, scale: z3.BitVecRef, env: Env) -> z3.BoolRef:
    """|lhs·2^scale − rhs| ≤ ulps·2^scale as integers: rhs is decoded at `scale` more fractional
    bits than lhs, and the error is counted in ulps of lhs's scale."""
    grow = env.domain - env.width
    diff = (z3.SignExt(grow, lhs) << scale) - z3.SignExt(grow, rhs)
    limit = z3.BitVecVal(ulps, env.domain) << scale
    return z3.And(diff <= limit, -limit <= diff)


def signed(model: z3.ModelRef, term: z3.BitVecRef) -> int:
    value = model.eval(term, model_completion=True)
    assert isinstance(value, z3.BitVecNumRef)
    return value.as_signed_long()
