"""Differential tests on the reference interpreter: for random inputs, the optimised program's
outputs equal the unoptimised ones where only exact rules applied, and are within the reported
ulp bound otherwise (inputs drawn so that no value overflows, the rules' precondition)."""

from __future__ import annotations

from ezlang.passes.rewrite import Optimized, optimize
from hypothesis import given, settings
from hypothesis import strategies as st
from rewrite_helpers import checked, flat, outputs, run

from ezlang.syntax import ast

INT32 = st.integers(-2**31, 2**31 - 1)
SMALL = st.integers(-2**13, 2**13)  # |product| < 2^26: sums of a few stay inside the 32-bit ring

EXACT = checked("""
def void main() {
  input(CLIENT, x, int32_al);
  input(CLIENT, a, int32_al);
  input(CLIENT, b, int32_al);
  int32_al merged = (x >> 3) >> 9;
  int32_al relu = (x >> 12) > 0 ? (x >> 12) : 0;
  int32_al biggest = (a >> 5) > (b >> 5) ? (a >> 5) : (b >> 5);
  int32_al scaled = a * 16;
  output(CLIENT, merged);
  output(CLIENT, relu);
  output(CLIENT, biggest);
  output(CLIENT, scaled)
}
""")
EXACT_OPTIMIZED = optimize(EXACT, output_scales={})

LAYER = checked("""
int32 N = 5;
int32 M = 3;
def void main() {
  input(SERVER, w, int32_al[N][M]);
  input(SERVER, bias, int32_al[M]);
  input(CLIENT, x, int32_al[N]);
  int32_al[M] y;
  for j = [0:M] {
    int32_al acc = bias[j];
    for i = [0:N] { acc = acc +_al ((x[i] * w[i][j]) >> 12) };
    y[j] = acc > 0 ? acc : 0
  };
  output(CLIENT, y);
  output(CLIENT, ((x[0] * w[0][0]) >> 12) + ((x[1] * w[1][1]) >> 12))
}
""")


def always(*_: object) -> bool:
    return True


LAYER_OPTIMIZED = optimize(LAYER, output_scales={o.span.start: 12 for o in outputs(LAYER)}, fits=always)


def within_bound(optimized: Optimized, before: ast.Program, server: dict, client: dict, scale: int = 12) -> None:
    exact, approx = run(before, server, client), run(optimized.program, server, client)
    for output, e, a in zip(outputs(before), exact, approx):
        key = output.span.start
        raise_by = optimized.output_scales[key] - scale
        bound = optimized.error_bound_ulps[key]
        assert bound is not None
        for ev, av in zip(flat([e]), flat([a])):
            assert abs(ev * 2**raise_by - av) <= bound * 2**raise_by, (ev, av, bound)


def test_the_layer_uses_the_approximate_rules() -> None:
    assert [a.rule for a in LAYER_OPTIMIZED.applications] == [
        "sum-of-products", "sum-of-products", "rescale-past-relu", "drop-final-rescale", "drop-final-rescale"]
    assert sorted(LAYER_OPTIMIZED.error_bound_ulps.values()) == [2, 5]  # type: ignore[type-var]


@settings(max_examples=60, deadline=None)
@given(x=INT32, a=INT32, b=INT32)
def test_exact_rules_keep_every_output(x: int, a: int, b: int) -> None:
    sample = {"x": x, "a": a, "b": b}
    assert run(EXACT, {}, sample) == run(EXACT_OPTIMIZED.program, {}, sample)


@settings(max_examples=40, deadline=None)
@given(w=st.lists(st.lists(SMALL, min_size=3, max_size=3), min_size=5, max_size=5),
       bias=st.lists(SMALL, min_size=3, max_size=3), x=st.lists(SMALL, min_size=5, max_size=5))
def test_approximate_rules_stay_within_the_reported_bound(w: list, bias: list, x: list) -> None:
    within_bound(LAYER_OPTIMIZED, LAYER, {"w": w, "bias": bias}, {"x": x})
