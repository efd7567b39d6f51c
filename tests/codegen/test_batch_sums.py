"""Sums of products (passes/batch_sums.py, passes/batch_matrices.py, ezlang/codegen/sums.py): which
accumulations of batched products become sum loops (matrix products), which stay element-wise
batches, and compiled code of the rewritten program that keeps the interpreter's outputs and
errors bit for bit (cleartext backend, both ring widths)."""

from __future__ import annotations

import random
from typing import Any, Mapping, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezlang.codegen import compile_program
from ezlang.codegen.llvm import emit_module
from ezlang.codegen.secure import SecureSecretOps
from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.batch_forms import batch_loop
from ezlang.passes.batch_matrices import SumLoop, sum_loop
from ezlang.passes.batch_rounds import batch_rounds
from ezlang.passes.batch_sums import batch_sums
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role

from codegen.test_batch import TARGET, outcome, sources

N, K, M = 2, 3, 4
WEIGHTS = {  # how a layer reads its K×M weights, and the shape of the input holding them
    "w[i][j]": "int{b}_al[K][M]", "w[j][i]": "int{b}_al[M][K]", "w[i * M + j]": "int{b}_al[K * M]",
    "w[j * K + i]": "int{b}_al[M * K]"}


def typed(text: str, bitlen: int = 32) -> ast.Program:
    result = check_source(SourceFile("sums.ezpc", text), bitlen=bitlen)
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


def layer(weight: str, batch: bool, bits: int = 32, accumulate: str = "acc = acc + x[X] * WEIGHT",
          after: str = "y[Y] = acc") -> str:
    """A layer y = x·w + b written with loops, over a batch of N inputs or one."""
    x_index, y_index = ("n * K + i", "n * M + j") if batch else ("i", "j")
    body = ("for j = [0:M] { int{b}_al acc = b[j]; for i = [0:K] { " + accumulate + " }; " + after + " }")
    body = body.replace("X", x_index).replace("WEIGHT", weight).replace("Y", y_index)
    if batch:
        body = "for n = [0:N] { " + body + " }"
    rows = "N * " if batch else ""
    text = (f"int32 N = {N}; int32 K = {K}; int32 M = {M};\n"
            "def void main() {\n"
            f"  input(SERVER, w, {WEIGHTS.get(weight, 'int{b}_al[K][M]')});\n"
            "  input(SERVER, b, int{b}_al[M]);\n"
            f"  input(CLIENT, x, int{{b}}_al[{rows}K]);\n"
            f"  int{{b}}_al[{rows}M] y;\n  {body};\n  output(CLIENT, y)\n}}\n")
    return text.replace("{b}", str(bits))


def gemm(bits: int = 32, rows: str = "N * M") -> str:
    """The layer library's Gemm (ezlang/lib/nn.ezpc) as inlining leaves it: one flattened loop."""
    return (f"int32 N = {N}; int32 K = {K}; int32 M = {M};\n"
            "def void main() {\n  input(SERVER, w, int{b}_al[K * M]);\n  input(SERVER, b, int{b}_al[M]);\n"
            "  input(CLIENT, x, int{b}_al[N * K]);\n  int{b}_al[N * M] y;\n"
            f"  for p = [0 : {rows}] {{ int{{b}}_al acc = b[p % M]; for k = [0 : K] {{ "
            "acc = acc + x[(p / M) * K + k] * w[k * M + p % M] }; y[p] = acc };\n"
            "  output(CLIENT, y)\n}\n").replace("{b}", str(bits))


def values(rng: random.Random, count: int, bits: int) -> list[int]:
    return [rng.randint(-2 ** (bits - 1), 2 ** (bits - 1) - 1) for _ in range(count)]


def layer_inputs(weight: str, batch: bool, bits: int = 32, seed: int = 1) -> dict[Role, InputSource]:
    rng = random.Random(seed)
    flat = values(rng, K * M, bits)
    shaped: Any = {"w[i][j]": [flat[r * M:(r + 1) * M] for r in range(K)],
                   "w[j][i]": [flat[r * K:(r + 1) * K] for r in range(M)]}.get(weight, flat)
    return sources({"w": shaped, "b": values(rng, M, bits)}, {"x": values(rng, (N if batch else 1) * K, bits)})


def rewritten(program: ast.Program) -> ast.Program:
    return batch_sums(batch_rounds(program))


def sum_loops(program: ast.Program) -> list[SumLoop]:
    """The sum loops of `main`, in order, wherever they are."""
    found: list[SumLoop] = []

    def walk(stmts: tuple[ast.Stmt, ...]) -> None:
        for stmt in stmts:
            plan = sum_loop(stmt) if isinstance(stmt, ast.For) else None
            if plan is not None:
                found.append(plan)
            elif isinstance(stmt, (ast.For, ast.Block, ast.While)):
                walk(stmt.body)
            elif isinstance(stmt, ast.If):
                walk((stmt.then,) if stmt.other is None else (stmt.then, stmt.other))
    main = next(g for g in program.globals if isinstance(g, ast.FunDef) and g.name == "main")
    walk(main.body)
    return found


def batched_products(program: ast.Program) -> list[str]:
    """The source text of the element-wise batched products of `main`'s top level."""
    main = next(g for g in program.globals if isinstance(g, ast.FunDef) and g.name == "main")
    plans = [batch_loop(stmt) for stmt in main.body if isinstance(stmt, ast.For)]
    return [value.span.text for plan in plans if plan is not None for _, value in plan.items]


def agrees(program: ast.Program, inputs: Mapping[Role, InputSource]) -> Any:
    """The rewritten program, interpreted and compiled, does what the interpreter does with the original."""
    expected = outcome(lambda: interpret(program, inputs))
    result = rewritten(program)
    if expected[0] == "ok":  # the interpreter fails in the sum loop, before the consumer's iterations
        assert outcome(lambda: interpret(result, inputs)) == expected
    assert outcome(lambda: compile_program(result, target=TARGET).run(inputs)) == expected
    return expected


# ---------------------------------------------------------------- what becomes a sum loop


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("weight", list(WEIGHTS))
def test_a_layers_products_become_one_matrix_product(weight: str, batch: bool, bits: int) -> None:
    program = typed(layer(weight, batch, bits), bits)
    (plan,) = sum_loops(rewritten(program))
    (item,) = plan.items
    assert (len(plan.loops), item.form.split, item.form.divisor) == ((3, 1, None) if batch else (2, 0, None))
    assert batched_products(rewritten(program)) == []
    status, outputs, _ = agrees(program, layer_inputs(weight, batch, bits))
    assert status == "ok" and len(outputs[Role.CLIENT][0].value) == (N if batch else 1) * M


def test_the_secure_backend_makes_one_matrix_product_call_for_a_batched_layer() -> None:
    """One ezrt_matmul_many call; the one ezrt_mul left is the product of the loop run as written
    for a row whose operands fail."""
    program = rewritten(typed(layer("w[i][j]", True)))
    ir_text = emit_module(program, SecureSecretOps(32), triple=TARGET.triple, data_layout=TARGET.data_layout).ir
    assert ir_text.count('call i32 @"ezrt_matmul_many"(') == 1
    assert ir_text.count('call i32 @"ezrt_mul"(') == 1


def test_the_factors_are_taken_in_either_order() -> None:
    program = typed(layer("w[i][j]", True, accumulate="acc = acc + w[i][j] * x[n * K + i]"))
    (plan,) = sum_loops(rewritten(program))
    assert plan.items[0].form.a.span.text == "x[n * K + i]"  # the factor of the rows, n
    assert agrees(program, layer_inputs("w[i][j]", True))[0] == "ok"


def test_a_dot_product_is_a_one_by_k_by_one_product() -> None:
    text = ("def void main() {\n  input(SERVER, w, int32_al[7]);\n  input(CLIENT, x, int32_al[7]);\n"
            "  int32_al acc = 5;\n  for i = [0:7] { acc = acc + w[i] * x[i] };\n  output(CLIENT, acc)\n}\n")
    program = typed(text)
    (plan,) = sum_loops(rewritten(program))
    assert len(plan.loops) == 1
    inputs = sources({"w": [3, -1, 4, 1, -5, 9, 2]}, {"x": [2, 7, 1, -8, 2, 8, 1]})
    assert agrees(program, inputs)[1][Role.CLIENT][0].value == 5 + 6 - 7 + 4 - 8 - 10 + 72 + 2


@pytest.mark.parametrize("bits", [32, 64])
def test_the_flattened_gemm_of_the_layer_library_is_a_divided_matrix_product(bits: int) -> None:
    program = typed(gemm(bits), bits)
    (plan,) = sum_loops(rewritten(program))
    form = plan.items[0].form
    assert form.divisor is not None and form.divisor.span.text == "M"
    rng = random.Random(bits)
    inputs = sources({"w": values(rng, K * M, bits), "b": values(rng, M, bits)}, {"x": values(rng, N * K, bits)})
    assert agrees(program, inputs)[0] == "ok"


@pytest.mark.parametrize("rows", ["N * M - 1", "M - 2", "0", "N * M + M"])
def test_a_flattened_loop_over_part_of_the_rows_or_past_them(rows: str) -> None:
    """A partial last row (and a column count larger than the loop's range) computes only the
    sums the loop reads; past the end, x's index fails where the program fails."""
    program = typed(gemm(rows=rows))
    rng = random.Random(7)
    inputs = sources({"w": values(rng, K * M, 32), "b": values(rng, M, 32)}, {"x": values(rng, N * K, 32)})
    agrees(program, inputs)


def test_two_accumulations_of_one_loop_are_two_products_in_one_sum_loop() -> None:
    text = layer("w[i][j]", False, accumulate="acc = acc + x[i] * w[i][j]; acc2 = acc2 + w[i][j] * (x[i] << 1)",
                 after="y[j] = acc - acc2").replace("int32_al acc = b[j];", "int32_al acc = b[j]; int32_al acc2 = 0;")
    program = typed(text)
    (plan,) = sum_loops(rewritten(program))
    # the second as (w transposed, M×K) · (x << 1, K×1): the left factor is tried as A first
    assert [(item.form.a.span.text, item.form.split) for item in plan.items] == [("x[i]", 0), ("w[i][j]", 1)]
    assert agrees(program, layer_inputs("w[i][j]", False))[0] == "ok"


def test_a_sum_of_products_of_batched_products_is_a_matrix_product_of_them() -> None:
    """(x[i] * w[i][j]) * x[i]: the inner products are one element-wise batch, then B[i][j] is
    their batch and A the row x."""
    program = typed(layer("w[i][j]", False, accumulate="acc = acc + x[i] * w[i][j] * x[i]"))
    assert len(sum_loops(rewritten(program))) == 1
    assert batched_products(rewritten(program)) == ["x[i] * w[i][j]"]
    assert agrees(program, layer_inputs("w[i][j]", False))[0] == "ok"


def test_two_accumulations_into_one_place_are_two_sums_added() -> None:
    program = typed(layer("w[i][j]", False, accumulate="acc = acc + x[i] * w[i][j]; acc = (x[i] << 2) * w[i][j] + acc"))
    (plan,) = sum_loops(rewritten(program))
    assert len(plan.items) == 2
    assert agrees(program, layer_inputs("w[i][j]", False))[0] == "ok"


def test_an_array_element_indexed_by_the_outer_loops_may_accumulate() -> None:
    program = typed(layer("w[i][j]", True, accumulate="y[n * M + j] = y[n * M + j] + x[n * K + i] * w[i][j]",
                          after="y[n * M + j] = y[n * M + j] + b[j]"))
    assert len(sum_loops(rewritten(program))) == 1
    assert agrees(program, layer_inputs("w[i][j]", True))[0] == "ok"


# ---------------------------------------------------------------- what stays element-wise


@pytest.mark.parametrize("accumulate", [
    "acc = acc + x[(i + j) % K] * w[i][j]",          # no split: x reads j, w reads j
    "acc = acc - x[i] * w[i][j]",                    # not a sum
    "acc = acc + x[i] * w[i][j]; y[j] = acc",        # the loop does more than accumulate
    "y[i] = y[i] + x[i] * w[i][j]",                  # the place changes with i
    "acc = acc +_al (x[i] < w[i][j] ? x[i] : w[i][j])",  # a sum of selections
])
def test_products_that_are_not_only_summed_stay_element_wise_batches(accumulate: str) -> None:
    program = typed(layer("w[i][j]", False, accumulate=accumulate))
    assert sum_loops(rewritten(program)) == []
    assert batched_products(rewritten(program))
    agrees(program, layer_inputs("w[i][j]", False))


def test_a_product_read_outside_the_accumulation_stays_element_wise() -> None:
    text = ("def void main() {\n  input(SERVER, w, int32_al[4]);\n  input(CLIENT, x, int32_al[4]);\n"
            "  int32_al acc = 0;\n  int32_al[4] p;\n"
            "  for i = [0:4] { acc = acc + w[i] * x[i]; p[i] = w[i] * x[i] };\n"
            "  output(CLIENT, acc);\n  output(CLIENT, p)\n}\n")
    program = typed(text)
    assert sum_loops(rewritten(program)) == []
    assert batched_products(rewritten(program)) == ["w[i] * x[i]", "w[i] * x[i]"]
    agrees(program, sources({"w": [1, 2, 3, 4]}, {"x": [5, 6, 7, 8]}))


# ---------------------------------------------------------------- errors and edge cases


def error_message(program: ast.Program, inputs: Mapping[Role, InputSource]) -> Optional[str]:
    status, *rest = agrees(program, inputs)
    return rest[0].message if status == "error" else None


def test_an_operand_out_of_bounds_fails_where_the_original_fails() -> None:
    """The row with the failing product is not marked: its loop runs as written and fails there."""
    column = layer("w[i][j]", False).replace("for j = [0:M]", "for j = [0:M + 1]").replace(
        "y[j] = acc", "y[j % M] = acc").replace("b[j]", "b[j % M]")
    assert error_message(typed(column), layer_inputs("w[i][j]", False)) == \
        "index 4 is out of bounds for `w[i]` of length 4"
    row = layer("w[i][j]", True).replace("x[n * K + i]", "x[n * K + i + n]")
    assert error_message(typed(row), layer_inputs("w[i][j]", True)) == "index 6 is out of bounds for `x` of length 6"


def test_an_accumulator_out_of_bounds_fails_at_its_first_update() -> None:
    program = typed(layer("w[i][j]", True, accumulate="y[n * M + j + 1] = y[n * M + j + 1] + x[n * K + i] * w[i][j]",
                          after="y[n * M + j] = y[n * M + j]"))
    assert len(sum_loops(rewritten(program))) == 1
    assert error_message(program, layer_inputs("w[i][j]", True)) == "index 8 is out of bounds for `y` of length 8"


def test_an_empty_sum_evaluates_no_accumulator() -> None:
    """K = 0: no update of `y[j + 9]` runs, so none fails; the sums are never read."""
    text = layer("w[i][j]", False, accumulate="y[j + 9] = y[j + 9] + x[i] * w[i][j]", after="y[j] = b[j]")
    program = typed(text.replace("for i = [0:K]", "for i = [0:K - 3]"))
    assert len(sum_loops(rewritten(program))) == 1
    assert error_message(program, layer_inputs("w[i][j]", False)) is None


def test_empty_and_reversed_ranges() -> None:
    for outer, inner in (("0:0", "0:K"), ("0:M", "0:0"), ("3:1", "0:K"), ("0:M", "2:0 - 1"), ("1:3", "1:K")):
        text = layer("w[i][j]", False).replace("for j = [0:M]", f"for j = [{outer}]").replace(
            "for i = [0:K]", f"for i = [{inner}]")
        program = typed(text)
        assert len(sum_loops(rewritten(program))) == 1, (outer, inner)
        assert agrees(program, layer_inputs("w[i][j]", False))[0] == "ok"


# ---------------------------------------------------------------- generated layers


@st.composite
def generated_layer(draw: st.DrawFn) -> tuple[str, int, dict[Role, InputSource]]:
    bits = draw(st.sampled_from([32, 64]))
    weight = draw(st.sampled_from(list(WEIGHTS) + ["gemm"]))
    batch = draw(st.booleans())
    relu = draw(st.booleans())
    if weight == "gemm":
        text, inputs_weight = gemm(bits), "w[i * M + j]"
        batch = True
    else:
        text = layer(weight, batch, bits, after="y[Y] = AFTER").replace(
            "y[Y]", "y[n * M + j]" if batch else "y[j]")
        inputs_weight = weight
    zero = "0L" if bits == 64 else "0"
    text = text.replace("AFTER", f"acc > {zero} ? acc : {zero}" if relu else "acc")
    # (an empty K×M array cannot be given as [], which has no second dimension)
    sizes = (draw(st.integers(0, 3)), draw(st.integers(int(weight == "w[i][j]"), 4)), draw(st.integers(1, 4)))
    text = text.replace(f"int32 N = {N}; int32 K = {K}; int32 M = {M};",
                        "int32 N = {}; int32 K = {}; int32 M = {};".format(*sizes))
    rng = random.Random(draw(st.integers(0, 2**32)))
    n, k, m = sizes
    flat = values(rng, k * m, bits)
    shaped: Any = {"w[i][j]": [flat[r * m:(r + 1) * m] for r in range(k)],
                   "w[j][i]": [flat[r * k:(r + 1) * k] for r in range(m)]}.get(inputs_weight, flat)
    inputs = sources({"w": shaped, "b": values(rng, m, bits)}, {"x": values(rng, (n if batch else 1) * k, bits)})
    return text, bits, inputs


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(generated_layer())
def test_generated_layers_agree_with_the_interpreter(case: tuple[str, int, dict[Role, InputSource]]) -> None:
    text, bits, inputs = case
    program = typed(text, bits)
    assert sum_loops(rewritten(program))
    assert agrees(program, inputs)[0] == "ok"
