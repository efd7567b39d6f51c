"""Which products of a loop nest are matrix products, and the sum loops that compute their sums.

Why: ezlang.passes.batch_sums writes the sums of products as *sum loops* and the code generator
(ezlang.codegen.sums) lowers each as one matrix-product call over gathered factors; both must
agree on when the products x * y of a rectangular nest over loops v1 .. vm (vm, innermost, the
one summed) are the entries of a matrix product A·B, and on how A and B are gathered. Two forms:

* separable: the outer loops split into v1 .. vt and v(t+1) .. v(m-1) such that one factor (a)
  reads no variable of the second group and the other (b) none of the first. Then
  A[p][i] = a and B[i][s] = b, p the row-major position of (v1 .. vt) and s that of
  (v(t+1) .. v(m-1)): x[i] * w[i][j], w[j][i], w[i*M + j], w[j*K + i], x[n*K + i] * w[i][j] with
  a loop n outside, w[i] * x[i] (m = 1: a 1×K by K×1 product);
* divided: one outer loop p over a flattened N×M output (m = 2), one factor reading p only as
  `p / M` and the other only as `p % M`, for one public M that cannot fail to evaluate and
  does not mention p, int32 like p (the layer library's Gemm, `X[(p / M)*K + k] * W[k*M + p % M]`). With
  p = r·M + c (p ≥ 0, M > 0, which the code generator checks at run time), A[r][i] is a with
  `p / M` replaced by r (ROW_VAR) and B[i][c] is b with `p % M` replaced by c (COLUMN_VAR), and
  the sum at p is C[r][c], the entry p of C in row-major order.

Assumes: a typed program; the nest's loops are rectangular and its operands loop invariant, as in
a batch loop (ezlang.passes.batch_forms.BatchLoop).
Guarantees: `matrix_form` is a function of the loops' variables and the product's structure, so
the pass and the code generator find the same form; `sum_loop` recognises exactly the loops
written from `SumLoop`'s shape (the assignments to `sums$` arrays) whose products have a form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from ezlang.passes.batch_forms import (
    INT32,
    array_store,
    done_name,
    infallible,
    loop_nest,
    map_children,
    mask_store,
    nodes,
    shape,
    typed,
    var_names,
)
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp

SUMS_PREFIX = "sums$"
ROW_VAR = "row$"
COLUMN_VAR = "column$"


@dataclass(frozen=True)
class MatrixForm:
    """The products of a nest as A·B (module docstring): A's entries are the factor `a`, B's the
    factor `b`. Separable (`divisor` None): the outer loops 0 .. split-1 are A's rows, the others
    B's columns. Divided: `a` reads ROW_VAR and `b` COLUMN_VAR where the product read
    `p / divisor` and `p % divisor`."""

    split: int
    a: ast.Expr
    b: ast.Expr
    divisor: Optional[ast.Expr] = None


def matrix_form(loops: tuple[ast.For, ...], product: ast.Binary) -> Optional[MatrixForm]:
    """The matrix form of the products of a nest over `loops`, or None. Separable forms first,
    with the fewest loops on A's side and the left factor as a first."""
    outer = [loop.var for loop in loops[:-1]]
    factors = ((product.left, product.right), (product.right, product.left))
    for a, b in factors:
        read_a, read_b = set(var_names(a)), set(var_names(b))
        for split in range(len(outer) + 1):
            if not read_a & set(outer[split:]) and not read_b & set(outer[:split]):
                return MatrixForm(split, a, b)
    if len(loops) != 2:
        return None
    for a, b in factors:
        form = _divided(loops[0].var, a, b)
        if form is not None:
            return form
    return None


def _divided(var: str, a: ast.Expr, b: ast.Expr) -> Optional[MatrixForm]:
    """a reading `var` only as `var / M` and b only as `var % M`, as a divided form."""
    divisors = [node.right for node in nodes(a) if _of(node, BinaryOp.DIV, var)]
    divisors += [node.right for node in nodes(b) if _of(node, BinaryOp.MOD, var)]
    if not divisors or len({shape(d) for d in divisors}) != 1:
        return None
    divisor = divisors[0]
    if typed(divisor) != INT32 or var in var_names(divisor) or not all(infallible(item) for item in nodes(divisor)):
        return None
    rows = _replace(a, lambda node: _of(node, BinaryOp.DIV, var), ROW_VAR)
    columns = _replace(b, lambda node: _of(node, BinaryOp.MOD, var), COLUMN_VAR)
    if var in var_names(rows) or var in var_names(columns):
        return None
    return MatrixForm(1, rows, columns, divisor)


def _of(node: object, op: BinaryOp, var: str) -> bool:
    """`var op M`."""
    return (isinstance(node, ast.Binary) and node.op is op and isinstance(node.left, ast.Var)
            and node.left.name == var)


def _replace(node: ast.Expr, found: Callable[[ast.Expr], bool], name: str) -> ast.Expr:
    """`node` with every subexpression `found` accepts (int32 public, as var op M for int32 M is)
    replaced by the int32 variable `name`."""
    if found(node):
        return ast.Var(node.span, name, ty=INT32)
    return map_children(node, lambda child: _replace(child, found, name))


@dataclass(frozen=True)
class SumItem:
    """One sum of a sum loop, `temp[row] = temp[row] + product`, and its products' matrix form."""

    temp: str
    product: ast.Binary
    form: MatrixForm


@dataclass(frozen=True)
class SumLoop:
    """A sum loop: a nest `for v1 = [lo1 : hi1] { ... for vm = [lom : him] { temp_1[row] =
    temp_1[row] + x_1 * y_1; ...; done[row] = true } }` (m ≥ 1, each level's body the next level
    alone, rectangular as a `BatchLoop`), `row` being the position of v1 .. v(m-1) in row-major
    order (0 for m = 1): temp_k[row] is the sum over the innermost loop of the products x_k * y_k,
    each a matrix product (`SumItem`). `done[row]` marks the sums of rows whose products'
    operands all passed their checks (none when the innermost loop runs no iteration)."""

    done: str
    loops: tuple[ast.For, ...]
    row: ast.Expr
    items: tuple[SumItem, ...]


def sum_loop(node: ast.For) -> Optional[SumLoop]:
    """The sum loop `node` is, or None for any other loop."""
    loops = loop_nest(node)
    *sums, last = loops[-1].body
    mark = mask_store(last)
    if not sums or mark is None or not mark[0].startswith(SUMS_PREFIX):
        return None
    done, row = mark
    items = [_sum_item(stmt, loops, row) for stmt in sums]
    if any(item is None or done_name(item.temp) != done for item in items):
        return None
    return SumLoop(done, loops, row, tuple(item for item in items if item is not None))


def _sum_item(stmt: ast.Stmt, loops: tuple[ast.For, ...], row: ast.Expr) -> Optional[SumItem]:
    """The SumItem of `temp[row] = temp[row] + x * y`, or None for any other statement."""
    store = array_store(stmt, SUMS_PREFIX)
    if store is None or shape(store[1]) != shape(row):
        return None
    temp, _, value = store
    assert isinstance(stmt, ast.Assign)
    if not (isinstance(value, ast.Binary) and value.op is BinaryOp.ADD and isinstance(value.right, ast.Binary)
            and value.right.op is BinaryOp.MUL and shape(value.left) == shape(stmt.target)):
        return None
    form = matrix_form(loops, value.right)
    return None if form is None else SumItem(temp, value.right, form)
