"""The variable-level forms: loop accumulators kept at the finer scale (sum-of-products over the
iterations) and outputs read at more fractional bits (drop-final-rescale), with the cases where
they must not apply, the overflow check, counts and error bounds."""

from __future__ import annotations

from collections.abc import Sequence

from ezlang.passes.rewrite import explain, optimize
from ezlang.passes.rewrite_errors import Count
from ezlang.passes.rewrite_tree import walk_stmts
from rewrite_helpers import checked, output_values, outputs, run, scales, show, value_of

from ezlang.source import Span
from ezlang.syntax import ast

DOT = """
int32 N = 4;
def void main() {{
  input(SERVER, w, int32_al[N]);
  input(CLIENT, x, int32_al[N]);
  {init}
  for i = [0:{hi}] {{
    acc = acc +_al ((w[i] * x[i]) >> 12){extra}
  }};
  output(CLIENT, acc)
}}
"""


def dot(init: str = "int32_al acc = 0;", hi: str = "N", extra: str = "") -> ast.Program:
    return checked(DOT.format(init=init, hi=hi, extra=extra))


def loop_body(program: ast.Program) -> list[str]:
    loop = next(s for s in program.globals[-1].body if isinstance(s, ast.For))
    return [show(s.value) for s in loop.body if isinstance(s, ast.Assign)]


def test_dot_product_accumulates_at_the_finer_scale_and_outputs_it() -> None:
    before = dot()
    key = outputs(before)[0].span.start
    optimized = optimize(before, output_scales={key: 12})
    assert value_of(optimized.program, "acc") == "(acc + (w[i] * x[i]))"
    assert output_values(optimized.program) == ["acc"]
    assert optimized.output_scales == {key: 24}
    assert [(a.rule, a.bound) for a in optimized.applications] == [("sum-of-products", 3), ("drop-final-rescale", 1)]
    assert "(unchecked range)" in optimized.applications[0].detail
    assert optimized.error_bound_ulps == {key: 4}
    assert optimized.truncations_before == Count(1, 4)
    assert optimized.truncations_after == Count(0, 0)
    w, x = [1000, -2000, 3000, 4095], [4096, 12345, -777, 1]
    exact = run(before, {"w": w}, {"x": x})[0]
    approx = run(optimized.program, {"w": w}, {"x": x})[0]
    assert approx == sum(a * b for a, b in zip(w, x))
    assert abs(exact * 2**12 - approx) <= 4 * 2**12


def test_a_non_literal_initial_value_is_shifted_up() -> None:
    before = dot(init="input(CLIENT, b, int32_al); int32_al acc = b;")
    optimized = optimize(before, output_scales=scales(before))
    decl = next(s for s in optimized.program.globals[-1].body if isinstance(s, ast.Decl) and s.name == "acc")
    assert decl.init is not None and show(decl.init) == "(b << 12)"


def test_an_initial_value_that_would_overflow_the_ring_keeps_the_loop() -> None:
    before = dot(init="int32_al acc = 1048576;")  # 2^20 · 2^12 leaves the 32-bit ring
    optimized = optimize(before, output_scales=scales(before))
    assert "sum-of-products" not in [a.rule for a in optimized.applications]


def test_no_accumulator_when_reads_are_not_fewer_than_updates() -> None:
    before = dot(hi="1")
    optimized = optimize(before, output_scales={})
    assert optimized.applications == ()


def test_no_accumulator_when_the_loop_reads_it_elsewhere() -> None:
    before = dot(init="int32_al acc = 0; int32_al seen = 0;", extra=";\n    seen = acc")
    assert optimize(before, output_scales={}).applications == ()


def test_no_accumulator_without_a_constant_trip_count() -> None:
    before = dot(init="input(ALL, n, int32_pl); int32_al acc = 0;", hi="n")
    assert optimize(before, output_scales={}).applications == ()


def test_an_accumulator_that_would_add_an_overflow_site_is_not_applied() -> None:
    before = dot()
    key = outputs(before)[0].span.start

    def overflows(program: ast.Program) -> Sequence[Span]:
        # as if the products summed untruncated overflowed: an update without a truncation overflows
        loop = next(s for s in program.globals[-1].body if isinstance(s, ast.For))
        return [s.span for s in loop.body if isinstance(s, ast.Assign) and ">>" not in show(s.value)]

    optimized = optimize(before, output_scales={key: 12}, overflows=overflows)
    assert [a.rule for a in optimized.applications] == []
    assert loop_body(optimized.program) == ["(acc + ((w[i] * x[i]) >> 12))"]
    assert any(note.startswith("t.ezpc:7:3: sum-of-products not applied, it would add an overflow site")
               for note in optimized.notes)


def test_a_checked_range_is_not_reported_as_unchecked() -> None:
    before = dot()
    optimized = optimize(before, output_scales=scales(before), overflows=lambda program: [])
    assert [a.rule for a in optimized.applications] == ["sum-of-products", "drop-final-rescale"]
    assert all("unchecked" not in a.detail for a in optimized.applications)


ARRAY = """
int32 N = 4;
int32 M = 3;
def void main() {
  input(SERVER, w, int32_al[N][M]);
  input(CLIENT, x, int32_al[N]);
  int32_al[M] y;
  int32_al[M] z;
  for j = [0:M] {
    y[j] = 0;
    for i = [0:N] {
      y[j] = y[j] +_al ((w[i][j] * x[i]) >> 12)
    };
    z[j] = y[j] > 0 ? y[j] : 0
  };
  output(CLIENT, z)
}
"""


def test_an_array_cell_accumulates_like_a_scalar() -> None:
    before = checked(ARRAY)
    key = outputs(before)[0].span.start
    optimized = optimize(before, output_scales={key: 12})
    body = next(s for s in optimized.program.globals[-1].body if isinstance(s, ast.For)).body
    assigned = [show(s.value) for s in body if isinstance(s, ast.Assign)]
    assert assigned == ["0", "((y[j] > 0) ? y[j] : 0)"]  # relu fused with the truncation, then z kept fine
    inner = next(s for s in body if isinstance(s, ast.For))
    assert [show(s.value) for s in inner.body if isinstance(s, ast.Assign)] == ["(y[j] + (w[i][j] * x[i]))"]
    assert [a.rule for a in optimized.applications] == ["sum-of-products", "rescale-past-relu", "drop-final-rescale"]
    assert optimized.output_scales == {key: 24}
    assert optimized.error_bound_ulps == {key: 4}
    w = [[1, -4096, 300], [5000, 7, -1], [-3, 2, 8191], [4096, 4096, 4096]]
    x = [9000, -13, 4095, 1]
    exact = run(before, {"w": w}, {"x": x})[0]
    approx = run(optimized.program, {"w": w}, {"x": x})[0]
    assert all(abs(e * 2**12 - a) <= 4 * 2**12 for e, a in zip(exact, approx))


def test_an_array_read_whole_is_not_an_accumulator() -> None:
    text = ARRAY.replace("output(CLIENT, z)", "output(CLIENT, z);\n  output(CLIENT, y)")
    before = checked(text)
    optimized = optimize(before, output_scales={})
    assert "sum-of-products" not in [a.rule for a in optimized.applications]


def test_explain_lists_every_application_with_its_location() -> None:
    before = dot()
    optimized = optimize(before, output_scales=scales(before))
    text = explain(optimized).splitlines()
    assert text[0].startswith("t.ezpc:7:3: sum-of-products (within 3 ulp): `acc` kept at 12 more fractional bits")
    assert text[1].startswith("t.ezpc:10:3: drop-final-rescale (within 1 ulp): output decoded at 12 more")
    assert text[2] == "truncations after products: 1 site (4 executed) before, 0 sites (0 executed) after"
    assert text[3] == "t.ezpc:10:3: output decoded at scale 24: error ≤ 4 ulp"


OUTER_DECLARATION = """
int32 N = 4;
int32 M = 2;
def void main() {
  input(SERVER, w, int32_al[N]);
  input(CLIENT, x, int32_al[N]);
  input(ALL, flag, bool_pl);
  int32_al acc;
  int32_al[M] z;
  for j = [0:M] {
    if (flag) {
      acc = 0;
      for i = [0:N] { acc = acc +_al ((w[i] * x[i]) >> 12) };
      z[j] = acc
    }
  };
  output(CLIENT, z)
}
"""


def test_an_accumulator_declared_outside_its_loop_inside_a_branch() -> None:
    before = checked(OUTER_DECLARATION)
    optimized = optimize(before, output_scales={})
    assert [a.rule for a in optimized.applications] == ["sum-of-products"]
    stores = [s for s in walk_stmts(optimized.program.globals[-1].body)
              if isinstance(s, ast.Assign) and isinstance(s.target, ast.Index)]
    assert [show(s.value) for s in stores] == ["(acc >> 12)"]
    w, x = [4096, -8191, 3, 77], [5, 4096 * 3, -4096, 1]
    for flag in (True, False):
        exact = run(before, {"w": w}, {"x": x}, {"flag": flag})[0]
        approx = run(optimized.program, {"w": w}, {"x": x}, {"flag": flag})[0]
        assert all(abs(e - a) <= 3 for e, a in zip(exact, approx))


def test_an_accumulator_read_after_its_scope_is_left_alone() -> None:
    text = OUTER_DECLARATION.replace("output(CLIENT, z)", "output(CLIENT, z);\n  output(CLIENT, acc)")
    assert optimize(checked(text), output_scales={}).applications == ()
