"""Rule parameters and `pre:` conditions meet a program: parameter values, proven ranges, and
range questions for the caller's range analysis.

Why: a rule is proven only for its parameter grid and under its `pre:` conditions; the engine may
use it only where both hold. Parameters are checked here; a `pre:` condition over values (`-2^(w-1)
<= %p + %q < 2^(w-1)`) becomes a question the caller's range analysis answers (`Fits`), since
the engine itself knows nothing of value ranges.

Assumes: rules validated by load.py; parameter expressions whose parameters all have values.
Guarantees: `range_queries` gives, for every value-dependent term of `pre:`, the term as an
exact-integer tree over the matched subtrees and the bounds the conditions put on it, or None
when a condition has another form (then the rule must not fire).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Optional

from ezlang.passes.rules import load

from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base

# fits(expr, lo, hi, program): every value `expr` takes, as a true integer, lies in [lo, hi] (None: no
# bound on that side). `expr` is a subtree of `program` or is built from such subtrees by `+ - *` and
# literals whose `ty` is None (exact integer arithmetic, no wrapping).
Fits = Callable[[ast.Expr, Optional[int], Optional[int], ast.Program], bool]


def evaluate(expr: load.Expr, params: Mapping[str, int]) -> int:
    """A parameter expression's value as a true integer."""
    if isinstance(expr, load.Num):
        return expr.value
    if isinstance(expr, load.ParamRef):
        return params[expr.name]
    if isinstance(expr, load.Neg):
        return -evaluate(expr.operand, params)
    assert isinstance(expr, load.Arith), f"{expr} is not a parameter expression"
    left, right = evaluate(expr.left, params), evaluate(expr.right, params)
    return {"+": left + right, "-": left - right, "*": left * right, "^": 1 << max(right, 0)}[expr.op]


def params_in_range(rule: load.Rule, params: Mapping[str, int]) -> bool:
    """Every parameter that has a value lies in its declared set or interval."""
    for param in rule.params:
        if param.name not in params:
            continue
        value = params[param.name]
        if param.values and value not in param.values:
            return False
        if param.lo is not None and param.hi is not None and not (
                evaluate(param.lo, params) <= value <= evaluate(param.hi, params)):
            return False
    return True


def range_queries(rule: load.Rule, values: Mapping[str, ast.Expr], params: Mapping[str, int], ring: Base,
                  node: ast.Expr) -> Optional[list[tuple[ast.Expr, Optional[int], Optional[int]]]]:
    """Each value-dependent term of `pre:` with the bounds the conditions put on it; None when a
    condition is not of the form `constant op term` (then the rule does not fire)."""
    bounds: dict[int, tuple[load.Expr, Optional[int], Optional[int]]] = {}
    for cond in rule.pre:
        for left, op, right in zip(cond.terms, cond.ops, cond.terms[1:]):
            left_const, right_const = _is_constant(left), _is_constant(right)
            if left_const and right_const:
                if not _compare(evaluate(left, params), op, evaluate(right, params)):
                    return None
                continue
            if left_const == right_const or op == "!=":
                return None
            term, c = (right, evaluate(left, params)) if left_const else (left, evaluate(right, params))
            flipped = op if not left_const else {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}[op]
            _, lo, hi = bounds.get(id(term), (term, None, None))
            lo, hi = _tighten(lo, hi, flipped, c)
            bounds[id(term)] = (term, lo, hi)
    queries = []
    for term, lo, hi in bounds.values():
        expr = _as_ast(term, values, params, ring, node)
        if expr is None:
            return None
        queries.append((expr, lo, hi))
    return queries


def _is_constant(expr: load.Expr) -> bool:
    return not load.var_refs(expr)


def _compare(a: int, op: str, b: int) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


def _tighten(lo: Optional[int], hi: Optional[int], op: str, c: int) -> tuple[Optional[int], Optional[int]]:
    """Bounds of a term after learning `term op c`."""
    new_lo = {">": c + 1, ">=": c, "==": c}.get(op)
    new_hi = {"<": c - 1, "<=": c, "==": c}.get(op)
    if new_lo is not None:
        lo = new_lo if lo is None else max(lo, new_lo)
    if new_hi is not None:
        hi = new_hi if hi is None else min(hi, new_hi)
    return lo, hi


def _as_ast(term: load.Expr, values: Mapping[str, ast.Expr], params: Mapping[str, int], ring: Base,
            node: ast.Expr) -> Optional[ast.Expr]:
    """A `pre:` term over rule variables as an exact-integer tree over the matched subtrees."""
    if isinstance(term, load.VarRef):
        return values[term.name]
    if _is_constant(term):
        return ast.IntLit(node.span, evaluate(term, params), ring)
    if isinstance(term, load.Neg):
        inner = _as_ast(term.operand, values, params, ring, node)
        return None if inner is None else ast.Binary(node.span, BinaryOp.SUB, ast.IntLit(node.span, 0, ring), inner)
    assert isinstance(term, load.Arith)
    ops = {"+": BinaryOp.ADD, "-": BinaryOp.SUB, "*": BinaryOp.MUL}
    left, right = _as_ast(term.left, values, params, ring, node), _as_ast(term.right, values, params, ring, node)
    if left is None or right is None or term.op not in ops:
        return None
    return ast.Binary(node.span, ops[term.op], left, right)


def fits_from_intervals(interval: Callable[[ast.Program, ast.Expr], Optional[tuple[int, int]]]) -> Fits:
    """A `fits` for range analyses that give an interval per program node: the exact-integer
    nodes `pre:` builds (`ty` None) are bounded by interval arithmetic over their operands."""
    def bounds(node: ast.Expr, program: ast.Program) -> Optional[tuple[int, int]]:
        if node.ty is not None:
            return interval(program, node)
        if isinstance(node, ast.IntLit):
            return node.value, node.value
        if not isinstance(node, ast.Binary):
            return None
        left, right = bounds(node.left, program), bounds(node.right, program)
        if left is None or right is None:
            return None
        if node.op is ast.BinaryOp.ADD:
            return left[0] + right[0], left[1] + right[1]
        if node.op is ast.BinaryOp.SUB:
            return left[0] - right[1], left[1] - right[0]
        products = [a * b for a in left for b in right]
        return min(products), max(products)

    def fits(node: ast.Expr, lo: Optional[int], hi: Optional[int], program: ast.Program) -> bool:
        found = bounds(node, program)
        return found is not None and (lo is None or lo <= found[0]) and (hi is None or found[1] <= hi)
    return fits
