"""Calibration: the interpreter's observer hook, observed input bounds, observed value ranges."""

from __future__ import annotations

from typing import Any

import pytest

from ezlang.interp import InterpError, interpret
from ezlang.interp.exprs import ExprCompiler, Machine, Scopes
from ezlang.passes.ranges import analyze
from ezlang.passes.ranges_calibrate import calibrate, observe_ranges
from ezlang.syntax import ast
from ezlang.types import Role

from range_helpers import checked, nodes, sources

DOT = """int32 N = 3;
def void main() {
  input(SERVER, w, int32_al[N]);
  input(CLIENT, x, int32_al[N]);
  int32_al score = 0;
  for i = [0:N] {
    score = score + w[i] * x[i]
  };
  output(CLIENT, score)
}
"""
SAMPLES = [sources({Role.SERVER: {"w": [1, -2, 3]}, Role.CLIENT: {"x": [4, 5, -6]}}),
           sources({Role.SERVER: {"w": [7, 0, 0]}, Role.CLIENT: {"x": [-1, 2, 9]}})]


def test_the_observer_sees_every_input_and_every_evaluation() -> None:
    program = checked(DOT)
    seen: list[tuple[str, Any]] = []
    result = interpret(program, SAMPLES[0], observe=lambda node, value: seen.append((node.span.text, value)))
    assert [out.value for out in result.outputs[Role.CLIENT]] == [4 - 10 - 18]
    assert [value for text, value in seen if text.startswith("input(")] == [[1, -2, 3], [4, 5, -6]]
    assert [value for text, value in seen if text == "w[i] * x[i]"] == [4, -10, -18]
    assert interpret(program, SAMPLES[0]).outputs == result.outputs


def test_without_an_observer_the_closures_are_left_alone() -> None:
    machine = Machine(readers={}, externs={}, trace=None)
    compiler = ExprCompiler(machine, Scopes({}), {})
    literal = next(nodes(checked(DOT), "0"))

    def closure(frame: list[Any]) -> int:
        return 0
    assert compiler._observed(literal, closure) is closure


def test_calibration_gives_the_hull_of_every_sample() -> None:
    assert dict(calibrate(checked(DOT), SAMPLES)) == {"w": (-2, 7), "x": (-6, 9)}


def test_calibration_stops_once_the_inputs_are_read() -> None:
    # The loop reads x[N], out of bounds: a full run fails, calibration never gets there.
    program = checked(DOT.replace("w[i] * x[i]", "w[i] * x[i + 1]"))
    with pytest.raises(InterpError):
        interpret(program, SAMPLES[0])
    assert dict(calibrate(program, SAMPLES[:1])) == {"w": (-2, 3), "x": (-6, 5)}


def test_inputs_read_in_a_function_are_calibrated_by_a_full_run() -> None:
    program = checked("""def int32_al read() {
  input(CLIENT, v, int32_al);
  return v
}
def void main() {
  input(SERVER, b, bool_bl);
  int32_al total = read() + 1;
  output(CLIENT, total)
}
""")
    samples = [sources({Role.SERVER: {"b": True}, Role.CLIENT: {"v": 5}})]
    assert dict(calibrate(program, samples)) == {"b": (1, 1), "v": (5, 5)}


def test_observed_ranges_lie_within_the_analysis_from_calibrated_bounds() -> None:
    program = checked(DOT)
    report = analyze(program, bitlen=32, input_bounds=calibrate(program, SAMPLES))
    observed = observe_ranges(program, SAMPLES)
    [product] = nodes(program, "w[i] * x[i]")
    seen, bound = observed.interval(product), report.interval(product)
    assert seen is not None and (seen.lo, seen.hi) == (-18, 4)  # 3·-6 and 1·4
    assert bound is not None and (bound.lo, bound.hi) == (-42, 63)  # w in [-2, 7], x in [-6, 9]
    for node in (n for n in nodes(program, "score + w[i] * x[i]") if isinstance(n, ast.Binary)):
        seen, bound = observed.interval(node), report.interval(node)
        assert seen is not None and bound is not None and bound.lo <= seen.lo <= seen.hi <= bound.hi
