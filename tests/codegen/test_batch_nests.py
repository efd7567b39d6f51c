"""Batches lifted out of their enclosing loops (passes/batch_nests.py): what becomes one batch over
a whole loop nest and what must stay per iteration, and compiled code of the lifted program that
keeps the interpreter's outputs and errors (cleartext backend)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ezlang.passes.batch_rounds import batch_loop, batch_rounds
from ezlang.syntax import ast

from codegen.test_batch import agrees, main_body, sources, typed


def nests(text: str) -> list[tuple[int, list[str]]]:
    """Each batch loop of `main`: how many loops deep its nest is, and its operations' text."""
    found: list[tuple[int, list[str]]] = []

    def walk(stmts: tuple[ast.Stmt, ...]) -> None:
        for stmt in stmts:
            plan = batch_loop(stmt) if isinstance(stmt, ast.For) else None
            if plan is not None:
                found.append((len(plan.loops), [value.span.text for _, value in plan.items]))
            elif isinstance(stmt, (ast.For, ast.Block)):
                walk(stmt.body)
            elif isinstance(stmt, ast.If):
                walk((stmt.then,) if stmt.other is None else (stmt.then, stmt.other))
    walk(main_body(batch_rounds(typed(text))))
    return found


def program(body: str, prelude: str = "") -> str:
    return (f"{prelude}def void main() {{\n  input(SERVER, w, int32_al[4][4]);\n  input(SERVER, a, int32_al[4]);\n"
            f"  input(CLIENT, x, int32_al[4]);\n  int32_al acc = 0;\n  int32_al[4] h;\n  bool_bl[4][4] c;\n"
            f"  {body};\n  output(CLIENT, acc);\n  output(CLIENT, h);\n  output(SERVER, c)\n}}\n")


def inputs(seed: int = 5, low: int = -50_000, high: int = 50_000):
    rng = random.Random(seed)
    return sources({"w": [[rng.randint(low, high) for _ in range(4)] for _ in range(4)],
                    "a": [rng.randint(low, high) for _ in range(4)]},
                   {"x": [rng.randint(low, high) for _ in range(4)]})


def agrees_ok(text: str) -> None:
    assert agrees(typed(text), inputs())[0] == "ok"


LAYER = ("for j = [0:4] { int32_al s = a[j]; for i = [0:4] { s = s + x[i] * w[i][j] }; "
         "h[j] = (s > 0 ? s : 0) >> 3 }")

# ---------------------------------------------------------------- what is lifted


def test_a_layers_products_become_one_batch_over_the_whole_nest() -> None:
    text = program(LAYER)
    assert nests(text) == [(2, ["x[i] * w[i][j]"]), (1, ["(s > 0 ? s : 0) >> 3"])]
    agrees_ok(text)


def test_every_level_of_a_three_deep_nest_is_one_batch() -> None:
    text = program("for k = [0:2] { for j = [0:3] { for i = [0:4] { acc = acc + (x[i] * w[i][j]) * a[k] } } }")
    assert nests(text) == [(3, ["(x[i] * w[i][j])"]), (3, ["(x[i] * w[i][j]) * a[k]"])]
    agrees_ok(text)


def test_comparisons_selections_shifts_and_fused_relus_are_lifted_too() -> None:
    body = ("for j = [0:4] { for i = [0:4] { c[j][i] = x[i] < w[i][j]; "
            "h[i] = h[i] +_al ((x[i] < w[j][i]) ? a[i] : x[j]) +_al (w[j][i] >> 2) "
            "+_al (((x[j] *_al w[i][j]) > 0 ? (x[j] *_al w[i][j]) : 0) >> 5) } }")
    assert nests(program(body)) == [
        (2, ["x[i] < w[i][j]", "(x[i] < w[j][i])"]), (2, ["(w[j][i] >> 2)"]), (2, ["(x[j] *_al w[i][j])"]),
        (2, ["((x[i] < w[j][i]) ? a[i] : x[j])"]), (2, ["(((x[j] *_al w[i][j]) > 0 ? (x[j] *_al w[i][j]) : 0) >> 5)"])]
    agrees_ok(program(body))


def test_bounds_the_nest_does_not_change_may_be_variables() -> None:
    prelude = ("def int32_al layer(const int32_al[4][4] w, const int32_al[4] x, int32_pl n) {\n  int32_al acc = 0;\n"
               "  for j = [0:n] { for i = [1:n + 1] { acc = acc + x[i - 1] * w[i - 1][j] } };\n  return acc\n}\n")
    text = program("acc = layer(w, x, 4)", prelude)
    body = next(g for g in batch_rounds(typed(text)).globals if isinstance(g, ast.FunDef) and g.name == "layer").body
    plans = [batch_loop(s) for s in body if isinstance(s, ast.For)]
    assert [len(p.loops) for p in plans if p is not None] == [2]
    agrees_ok(text)


# ---------------------------------------------------------------- what stays per iteration


def test_an_inner_product_reading_an_array_the_nest_writes_stays_per_iteration() -> None:
    text = program("for j = [0:4] { for i = [0:4] { acc = acc + h[i] * w[i][j] }; h[j] = acc }")
    assert nests(text) == [(1, ["h[i] * w[i][j]"])]
    agrees_ok(text)


def test_an_operand_the_outer_loop_assigns_stays_per_iteration() -> None:
    declared = "for j = [0:4] { int32_al s = a[j]; for i = [0:4] { acc = acc + s * w[i][j] } }"
    assigned = "int32_al s = 0; for j = [0:4] { s = a[j]; for i = [0:4] { acc = acc + s * w[i][j] } }"
    carried = "for j = [0:4] { for i = [0:4] { acc = acc * w[i][j] } }"
    for body, expected in ((declared, [(1, ["s * w[i][j]"])]), (assigned, [(1, ["s * w[i][j]"])]), (carried, [])):
        assert nests(program(body)) == expected, body
        agrees_ok(program(body))


def test_bounds_that_change_or_can_fail_keep_the_inner_batch_in_its_loop() -> None:
    triangular = "for j = [0:4] { for i = [0:j] { acc = acc + x[i] * w[i][j] } }"
    growing = "int32_pl n = 1; for j = [0:4] { n = n + 1; for i = [0:n] { acc = acc + x[i % 4] * w[i % 4][j] } }"
    indexed = "int32_pl[2] n; n[1] = 4; for j = [0:4] { for i = [0:n[1]] { acc = acc + x[i] * w[i][j] } }"
    for body in (triangular, growing, indexed):
        assert [depth for depth, _ in nests(program(body))] == [1], body
        agrees_ok(program(body))


def test_an_inner_loop_in_a_branch_is_not_lifted() -> None:
    text = program("for j = [0:4] { if (j < 2) { for i = [0:4] { acc = acc + x[i] * w[i][j] } } }")
    assert nests(text) == [(1, ["x[i] * w[i][j]"])]
    agrees_ok(text)


def test_a_shift_by_the_outer_variable_stays_per_iteration_one_amount_per_call() -> None:
    text = program("for j = [0:4] { for i = [0:4] { h[i] = h[i] +_al (w[j][i] >> j) } }")
    assert nests(text) == [(1, ["(w[j][i] >> j)"])]
    agrees_ok(text)


def test_a_level_lifts_while_the_next_stays() -> None:
    text = program("for j = [0:4] { int32_al t = a[j]; for i = [0:4] { c[j][i] = x[i] * w[i][j] < t } }")
    assert nests(text) == [(2, ["x[i] * w[i][j]"]), (1, ["x[i] * w[i][j] < t"])]
    agrees_ok(text)


# ---------------------------------------------------------------- errors and edge cases


def test_an_operand_out_of_bounds_fails_where_the_original_fails() -> None:
    column = program("for j = [0:5] { for i = [0:4] { acc = acc + x[i] * w[i][j] } }")
    status, diagnostic = agrees(typed(column), inputs())
    assert status == "error" and diagnostic.message == "index 4 is out of bounds for `w[i]` of length 4"
    row = program("for j = [0:4] { for i = [0:5] { acc = acc + x[i % 4] * w[i][j] } }")
    status, diagnostic = agrees(typed(row), inputs())
    assert status == "error" and diagnostic.message == "index 4 is out of bounds for `w` of length 4"


def test_an_earlier_error_of_the_outer_body_comes_first() -> None:
    text = program("int32_al[2] d; for j = [0:4] { for i = [0:4] { acc = acc + x[i] * w[i][j + 1] }; d[j] = acc }")
    status, diagnostic = agrees(typed(text), inputs())
    assert status == "error" and diagnostic.message == "index 2 is out of bounds for `d` of length 2"


def test_operands_that_fail_only_in_branches_not_taken_change_nothing() -> None:
    text = program("for j = [0:4] { for d = [0:3] { if (j + d - 1 >= 0 && j + d - 1 < 4) { "
                   "acc = acc + x[j + d - 1] * w[d][j] } } }")
    assert nests(text) == [(2, ["x[j + d - 1] * w[d][j]"])]
    agrees_ok(text)


def test_empty_and_reversed_ranges() -> None:
    for outer, inner in (("0:0", "0:4"), ("0:4", "0:0"), ("3:1", "0:4"), ("0:4", "2:0 - 1"), ("0 - 2:2", "1:3")):
        body = f"for j = [{outer}] {{ for i = [{inner}] {{ acc = acc + x[i % 4] * w[i % 4][(j + 4) % 4] }} }}"
        assert [depth for depth, _ in nests(program(body))] == [2], body
        agrees_ok(program(body))


def test_a_return_in_the_first_iteration_returns_the_interpreters_value() -> None:
    prelude = ("def int32_al f(const int32_al[4][4] w, const int32_al[4] x) {\n  int32_al acc = 0;\n"
               "  for j = [0:9] { if (j == 1) { return acc }; for i = [0:4] { acc = acc + x[i] * w[i][j] } };\n"
               "  return acc\n}\n")
    text = program("acc = f(w, x)", prelude)
    status, outputs, _ = agrees(typed(text), inputs())
    assert status == "ok"


# ---------------------------------------------------------------- generated nests


OPERANDS = ("x[i]", "a[j]", "w[i][j]", "w[j][i]", "x[(i + j) % 4]", "h[i % 4]", "t", "acc", "3", "x[i + 1]",
            "w[i][j + 1]")


@st.composite
def operand(draw: st.DrawFn, depth: int) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(OPERANDS))
    left, right = draw(operand(depth - 1)), draw(operand(depth - 1))
    form = draw(st.sampled_from(["*", "<", "==", ">>", "?", "relu", "+"]))
    if form == ">>":
        return f"({left} >> {draw(st.sampled_from(['2', 'j', 'k']))})"
    if form == "?":
        return f"(({left} < {right}) ? {right} : {left})"
    if form == "relu":
        return f"(({left} > 0 ? {left} : 0) >> 4)"
    if form in ("<", "=="):
        return f"(({left} {form} {right}) ? 1 : 0)"
    return f"({left} {form}_al {right})"


@st.composite
def nested_loops(draw: st.DrawFn) -> str:
    """Two loops around operations on the loop variables, arrays the nest may write, a scalar it
    may assign, with bounds that may depend on the outer loop or fail, and early exits."""
    outer = draw(st.sampled_from(["0:4", "1:3", "0:0", "2:0 - 1", "0:5"]))
    inner = draw(st.sampled_from(["0:4", "0:n", "0:j", "1:m", "0:3"]))
    before = draw(st.sampled_from(["", "t = a[j % 4]; ", "m = m + 1; ",
                                   "if (j == 2) { output(SERVER, acc); return }; "]))
    statements = []
    for _ in range(draw(st.integers(1, 3))):
        value = draw(operand(2))
        statements.append(draw(st.sampled_from([
            f"acc = acc +_al {value}", f"if (i < 2) {{ acc = acc -_al {value} }}", f"h[i % 4] = {value}",
            f"d[j % 2] = {value}"])))
    after = draw(st.sampled_from(["", "; h[j % 4] = acc", "; acc = acc *_al 3"]))
    return ("def void f(const int32_al[4] x, const int32_al[4] a, const int32_al[4][4] w, int32_pl n) {\n"
            "  int32_al acc = 0;\n  int32_al t = a[1];\n  int32_pl m = 2;\n  int32_pl k = 3;\n"
            "  int32_al[4] h;\n  int32_al[2] d;\n"
            f"  for j = [{outer}] {{ {before}for i = [{inner}] {{ {'; '.join(statements)} }}{after} }};\n"
            "  output(SERVER, acc);\n  output(SERVER, h);\n  output(SERVER, d)\n}\n"
            "def void main() {\n  input(SERVER, w, int32_al[4][4]);\n  input(SERVER, a, int32_al[4]);\n"
            "  input(CLIENT, x, int32_al[4]);\n  f(x, a, w, 3)\n}\n")


@settings(max_examples=80, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(nested_loops(), st.integers(0, 2**32))
def test_generated_nests_agree_with_the_interpreter(text: str, seed: int) -> None:
    program_ = typed(text)
    assume(batch_rounds(program_) != program_)
    agrees(program_, inputs(seed, -2**31, 2**31 - 1))
