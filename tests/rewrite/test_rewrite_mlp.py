"""An MLP-shaped program (8→4→4→3, loops with accumulators, ReLU as ternaries): after
optimisation the last layer has no truncation, every ReLU is `(relu x) >> s`, and the outputs
stay within the reported bound of the unoptimised ones."""

from __future__ import annotations

import random

from ezlang.passes.rewrite import optimize
from ezlang.passes.rewrite_errors import Count
from ezlang.passes.rewrite_match import select_operands
from ezlang.passes.rewrite_tree import stmt_exprs, strip, walk, walk_stmts
from rewrite_helpers import checked, nodes, outputs, run, show, truncations

from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp

MLP = """
int32 IN = 8;
int32 H1 = 4;
int32 H2 = 4;
int32 OUT = 3;

def void main() {
  input(SERVER, w1, int32_al[IN][H1]);
  input(SERVER, b1, int32_al[H1]);
  input(SERVER, w2, int32_al[H1][H2]);
  input(SERVER, w3, int32_al[H2][OUT]);
  input(CLIENT, x, int32_al[IN]);
  int32_al[H1] h1;
  for j = [0:H1] {
    int32_al acc = b1[j];
    for i = [0:IN] { acc = acc +_al ((x[i] * w1[i][j]) >> 12) };
    h1[j] = acc > 0 ? acc : 0
  };
  int32_al[H2] h2;
  for j = [0:H2] {
    int32_al acc = 0;
    for i = [0:H1] { acc = acc +_al ((h1[i] * w2[i][j]) >> 12) };
    h2[j] = acc > 0 ? acc : 0
  };
  int32_al[OUT] out;
  for k = [0:OUT] {
    int32_al acc = 0;
    for j = [0:H2] { acc = acc +_al ((h2[j] * w3[j][k]) >> 12) };
    out[k] = acc
  };
  output(CLIENT, out)
}
"""


def layers(program: ast.Program) -> list[ast.For]:
    return [s for s in program.globals[-1].body if isinstance(s, ast.For)]


def test_last_layer_has_no_truncation_and_every_relu_is_fused() -> None:
    before = checked(MLP)
    key = outputs(before)[0].span.start
    optimized = optimize(before, output_scales={key: 12})
    program = optimized.program
    last = [n for s in walk_stmts(layers(program)[-1].body) for e in stmt_exprs(s) for n in walk(e)]
    assert not any(isinstance(n, ast.Binary) and n.op is BinaryOp.SHR for n in last)
    assert optimized.output_scales == {key: 24}

    relus = [n for n in nodes(program) if isinstance(n, ast.Ternary) and select_operands("relu", n)]
    fused = [t for t in truncations(program) if isinstance(t.left, ast.Ternary)]
    assert len(relus) == 2 and len(fused) == 2
    assert {id(t.left) for t in fused} == {id(r) for r in relus}
    assert all(not isinstance(strip(select_operands("relu", r)[0]), ast.Binary) for r in relus)  # type: ignore[index]
    assert [show(t) for t in fused] == ["(((acc > 0) ? acc : 0) >> 12)"] * 2
    assert optimized.truncations_before == Count(3, 8 * 4 + 4 * 4 + 4 * 3)
    assert optimized.truncations_after == Count(2, 4 + 4)
    assert [a.rule for a in optimized.applications] == [
        "sum-of-products", "rescale-past-relu", "sum-of-products", "rescale-past-relu", "sum-of-products",
        "drop-final-rescale"]
    assert optimized.error_bound_ulps == {key: None}  # layer 1's error is multiplied by weights: needs ranges


def test_mlp_outputs_stay_close_to_the_unoptimised_ones() -> None:
    before = checked(MLP)
    optimized = optimize(before, output_scales={outputs(before)[0].span.start: 12})
    rng = random.Random(7)
    one = 1 << 12
    for _ in range(20):
        server = {"w1": [[rng.randint(-one, one) for _ in range(4)] for _ in range(8)],
                  "b1": [rng.randint(-one, one) for _ in range(4)],
                  "w2": [[rng.randint(-one, one) for _ in range(4)] for _ in range(4)],
                  "w3": [[rng.randint(-one, one) for _ in range(3)] for _ in range(4)]}
        client = {"x": [rng.randint(-one, one) for _ in range(8)]}
        exact = run(before, server, client)[0]
        approx = run(optimized.program, server, client)[0]
        # weights in [-1, 1]: layer 1 within 7 ulp, layer 2 within 4·7 + 3, out within 4·31 + 3 + 1
        assert all(abs(e * one - a) <= 128 * one for e, a in zip(exact, approx)), (exact, approx)
