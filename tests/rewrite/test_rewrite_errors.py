"""Error bounds: an error introduced by an approximate rule is followed through the program
(sums add, ReLU keeps, truncations shrink, products need magnitudes), long loops accumulate it,
and the bound holds on random inputs."""

from __future__ import annotations

import random
from typing import Optional

from ezlang.passes.rewrite import optimize
from rewrite_helpers import checked, outputs, run

from ezlang.syntax import ast

TWO_LAYERS = """
int32 N = 100;
def void main() {
  input(SERVER, w, int64_al[N]);
  input(SERVER, v, int64_al[2]);
  input(CLIENT, x, int64_al[N][2]);
  int64_al[N] h;
  for i = [0:N] {
    int64_al a = 0L;
    for k = [0:2] { a = a +_al ((x[i][k] * v[k]) >> 12) };
    h[i] = a
  };
  int64_al acc = 0L;
  for i = [0:N] { acc = acc +_al ((h[i] * w[i]) >> 12) };
  output(CLIENT, acc)
}
"""


def within_one(expr: ast.Expr, lo: Optional[int], hi: Optional[int], program: ast.Program) -> bool:
    """Every value lies in [-1, 1] at scale 12 (true of w, the only factor asked about here)."""
    return hi is not None and hi >= 4096 and lo is not None and lo <= -4096


def test_an_error_multiplied_by_bounded_weights_over_a_long_loop() -> None:
    before = checked(TWO_LAYERS, bitlen=64)
    key = outputs(before)[0].span.start
    optimized = optimize(before, output_scales={key: 12}, fits=within_one)
    assert [a.rule for a in optimized.applications] == ["sum-of-products", "sum-of-products", "drop-final-rescale"]
    # h is within 1 ulp; each of the 100 products adds |w| · 1 ulp = 4096 units at scale 24;
    # the read of acc adds 99 ulp and dropping its truncation 1 more: 100 + 99 + 1
    assert optimized.error_bound_ulps == {key: 200}
    assert optimize(before, output_scales={key: 12}).error_bound_ulps == {key: None}
    rng = random.Random(3)
    for _ in range(10):
        server = {"w": [rng.randint(-4096, 4096) for _ in range(100)],
                  "v": [rng.randint(-4096, 4096) for _ in range(2)]}
        client = {"x": [[rng.randint(-4096, 4096) for _ in range(2)] for _ in range(100)]}
        exact, approx = run(before, server, client)[0], run(optimized.program, server, client)[0]
        assert abs(exact * 4096 - approx) <= 200 * 4096


BRANCH = """
int32 N = 4;
def void main() {
  input(SERVER, w, int32_al[N]);
  input(CLIENT, x, int32_al[N]);
  int32_al acc = 0;
  for i = [0:N] { acc = acc +_al ((w[i] * x[i]) >> 12) };
  output(CLIENT, USE)
}
"""


def bound_of(use: str) -> Optional[int]:
    before = checked(BRANCH.replace("USE", use))
    key = outputs(before)[0].span.start
    return optimize(before, output_scales={key: 12}).error_bound_ulps[key]


def test_error_transfer_through_operators() -> None:
    assert bound_of("acc > 0 ? acc : 0") == 3 + 1       # ReLU keeps 3 ulp; its truncation is dropped: 1
    assert bound_of("(acc +_al acc) +_al 5") == 6       # a sum adds the errors of its operands
    assert bound_of("acc * 3") == 9                      # a product with a literal scales it
    assert bound_of("acc > 5 ? 1 : 0") is None           # a comparison may flip: no bound
    assert bound_of("acc * acc") is None                 # needs the magnitude of acc
