"""The engine on what it is built for: a fixed-point MLP lowered by ezlang.passes.scales, with
value ranges from ezlang.passes.ranges discharging the rules' preconditions; the fused ReLU
form is the one the secure backend recognises (ezlang.passes.batch_rounds.relu_rescale)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from ezlang.passes.batch_rounds import relu_rescale
from ezlang.passes.pipeline import check_source
from ezlang.passes.ranges import RangeReport, analyze
from ezlang.passes.rewrite import Optimized, explain, fits_from_intervals, optimize
from ezlang.passes.rewrite_match import select_operands
from ezlang.passes.scales import Lowered, lower_fixed
from hypothesis import given, settings
from hypothesis import strategies as st
from rewrite_helpers import flat, nodes, run, truncations

from ezlang.fixed import encode
from ezlang.source import SourceFile, Span
from ezlang.syntax import ast

MLP = """
int32 IN = 8;
int32 H1 = 4;
int32 H2 = 4;
int32 OUT = 3;

def void main() {
  input(SERVER, w1, fixed_al[IN][H1], [-1.0, 1.0]);
  input(SERVER, w2, fixed_al[H1][H2], [-1.0, 1.0]);
  input(SERVER, w3, fixed_al[H2][OUT], [-1.0, 1.0]);
  input(CLIENT, x, fixed_al[IN], [-1.0, 1.0]);
  fixed_al[H1] h1;
  for j = [0:H1] {
    fixed_al acc = 0.0;
    for i = [0:IN] { acc = acc + x[i] * w1[i][j] };
    h1[j] = acc > 0.0 ? acc : 0.0
  };
  fixed_al[H2] h2;
  for j = [0:H2] {
    fixed_al acc = 0.0;
    for i = [0:H1] { acc = acc + h1[i] * w2[i][j] };
    h2[j] = acc > 0.0 ? acc : 0.0
  };
  fixed_al[OUT] out;
  for k = [0:OUT] {
    fixed_al acc = 0.0;
    for j = [0:H2] { acc = acc + h2[j] * w3[j][k] };
    out[k] = acc
  };
  output(CLIENT, out)
}
"""


def lowered(bitlen: int) -> Lowered:
    checked = check_source(SourceFile("mlp.ezpc", MLP), bitlen=bitlen)
    assert checked.program is not None
    return lower_fixed(checked.program, bitlen=bitlen)


class Ranges:
    """The range analysis as the engine's callbacks, one analysis per program version."""

    def __init__(self, low: Lowered, bitlen: int) -> None:
        self.bitlen = bitlen
        self.bounds = {name: (encode(lo, low.boundary.inputs[name]), encode(hi, low.boundary.inputs[name]))
                       for name, (lo, hi) in low.boundary.ranges.items()}
        self.reports: dict[int, tuple[ast.Program, RangeReport]] = {}

    def report(self, program: ast.Program) -> RangeReport:
        if id(program) not in self.reports:
            self.reports[id(program)] = (program, analyze(program, bitlen=self.bitlen, input_bounds=self.bounds))
        return self.reports[id(program)][1]

    def interval(self, program: ast.Program, node: ast.Expr) -> Optional[tuple[int, int]]:
        found = self.report(program).interval(node)
        return None if found is None else (found.lo, found.hi)

    def overflows(self, program: ast.Program) -> list[Span]:
        return [o.span for o in self.report(program).overflows]


def optimized(bitlen: int) -> tuple[Lowered, Optimized]:
    low = lowered(bitlen)
    ranges = Ranges(low, bitlen)
    return low, optimize(low.program, output_scales=low.boundary.outputs,
                         fits=fits_from_intervals(ranges.interval), overflows=ranges.overflows)


LOW64, OPT64 = optimized(64)


def test_every_relu_is_fused_and_the_last_layer_keeps_its_precision() -> None:
    key = next(iter(LOW64.boundary.outputs))
    assert OPT64.output_scales == {key: 24}
    relus = [n for n in nodes(OPT64.program) if isinstance(n, ast.Ternary) and select_operands("relu", n)]
    fused = [t for t in truncations(OPT64.program) if relu_rescale(t) is not None]
    assert len(relus) == 2 and len(fused) == 2 and len(truncations(OPT64.program)) == 2
    assert OPT64.truncations_before.executed == 8 * 4 + 4 * 4 + 4 * 3
    assert OPT64.truncations_after.executed == 8
    assert all("unchecked" not in a.detail for a in OPT64.applications)
    assert OPT64.error_bound_ulps[key] is not None


def test_explain_reports_the_bound_found_with_ranges() -> None:
    text = explain(OPT64)
    assert "mlp.ezpc:15:5: sum-of-products (within 7 ulp): `acc` kept at 12 more fractional bits" in text
    bound = OPT64.error_bound_ulps[next(iter(LOW64.boundary.outputs))]
    assert f"mlp.ezpc:30:3: output decoded at scale 24: error ≤ {bound} ulp" in text


def test_in_a_32_bit_ring_an_accumulator_that_would_overflow_stays_truncated() -> None:
    _, result = optimized(32)
    # the last layer's products at scale 24 reach 2^29 each: their sum would leave the ring
    assert [a.rule for a in result.applications] == ["sum-of-products", "rescale-past-relu"] * 2
    assert result.notes == ("mlp.ezpc:27:5: sum-of-products not applied, it would add an overflow site "
                            "(`acc` kept at 12 more fractional bits over the loop at 27:5: 4 truncations become 1)",)
    assert result.truncations_after.executed == 4 + 4 + 12


ONE = 1 << 12
WEIGHT = st.integers(-ONE, ONE)


@settings(max_examples=25, deadline=None)
@given(w1=st.lists(st.lists(WEIGHT, min_size=4, max_size=4), min_size=8, max_size=8),
       w2=st.lists(st.lists(WEIGHT, min_size=4, max_size=4), min_size=4, max_size=4),
       w3=st.lists(st.lists(WEIGHT, min_size=3, max_size=3), min_size=4, max_size=4),
       x=st.lists(WEIGHT, min_size=8, max_size=8))
def test_optimised_mlp_within_the_reported_bound(w1: list, w2: list, w3: list, x: list) -> None:
    server: Mapping[str, list] = {"w1": w1, "w2": w2, "w3": w3}
    exact = flat(run(LOW64.program, server, {"x": x}))
    approx = flat(run(OPT64.program, server, {"x": x}))
    bound = OPT64.error_bound_ulps[next(iter(LOW64.boundary.outputs))]
    assert bound is not None
    assert all(abs(e * ONE - a) <= bound * ONE for e, a in zip(exact, approx))
