"""ReLU bounds: the proven magnitude of every fused ReLU-and-truncation's input.

Why: the secure runtime finds the sign of a ReLU's input x with a distributed comparison on as
many input bits as x may need: the ring's width minus one without more knowledge (a DCF key of
1.15 KB per party at 64 bits), far fewer when the range analysis proves |x| small (a network's
pre-activations at scale 24 need about 40 bits). Dealer traffic per ReLU shrinks with it.

Assumes: a typed integer program (after the fixed-point lowering and the rewrite rules) and the
range analysis of exactly that program (passes/ranges.py RangeOracle), whose intervals hold for
every run with inputs inside their declared ranges (inputs outside are refused, E0627).
Guarantees: the same program, in which every `(x > 0 ? x : 0) >> s` that
ezlang.passes.fused_ops.relu_rescale recognises and whose x the analysis bounds by
-2^m <= x < 2^m with m below the ring width minus one has `magnitude = m`; nothing else changes.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from ezlang.passes.fused_ops import relu_rescale
from ezlang.passes.rewrite_tree import map_children, map_stmt
from ezlang.syntax import ast

Interval = Callable[[ast.Program, ast.Expr], Optional[tuple[int, int]]]


def bound_relus(program: ast.Program, interval: Interval, bitlen: int) -> ast.Program:
    """`program` with the magnitude of each fused ReLU's input recorded (module docstring)."""
    def expr(node: ast.Expr) -> ast.Expr:
        mapped = map_children(node, expr)
        return _bounded(mapped, node, program, interval, bitlen) if isinstance(node, ast.Binary) else mapped

    globals_ = tuple(dataclasses.replace(g, body=tuple(map_stmt(stmt, expr) for stmt in g.body))
                     if isinstance(g, ast.FunDef) else g for g in program.globals)
    return dataclasses.replace(program, globals=globals_)


def _bounded(node: ast.Expr, original: ast.Binary, program: ast.Program, interval: Interval,
             bitlen: int) -> ast.Expr:
    """`node` with its magnitude, asked of the analysis about `original` (its x is the node the
    analysis saw)."""
    fused = relu_rescale(original)
    if fused is None or not isinstance(node, ast.Binary):
        return node
    bounds = interval(program, fused.x)
    if bounds is None:
        return node
    lo, hi = bounds
    magnitude = max(1, max(hi, -lo - 1).bit_length())  # -2^m <= lo and hi < 2^m
    return dataclasses.replace(node, magnitude=magnitude) if magnitude < bitlen - 1 else node
