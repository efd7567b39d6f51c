"""The piecewise-linear approximations of the library (logistic, tanh, exp): their constants are
the best line on each segment, and their error over the reals is what docs/nn.md states."""

from __future__ import annotations

import re

import numpy as np
import pytest

import references as ref
from nn_support import Tensor, checked, layer_program
from test_layers import EXP_ERROR, EXP_RELATIVE, SIGMOID_ERROR, TANH_ERROR

from ezlang.lib import nn
from ezlang.passes.fixed_pipeline import declared_bounds
from ezlang.passes.inline import inline_calls
from ezlang.passes.ranges import analyze
from ezlang.passes.scales import lower_fixed
from ezlang.types import Role


def table(function: str) -> tuple[np.ndarray, np.ndarray]:
    """The values A[j] and slopes S[j] a table function of the library assigns, in order."""
    text = nn.functions()[function].text
    values = {(name, int(j)): float(v) for name, j, v in re.findall(r"\b([AS])\[(\d+)\] = (-?[0-9.]+);", text)}
    count = len(values) // 2
    return np.array([values["A", j] for j in range(count)]), np.array([values["S", j] for j in range(count)])


def best_lines(f, lo: float, width: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """On each segment [lo + j·width, lo + (j+1)·width] of a convex or concave f, the line
    closest to f in the maximum norm: the chord's slope, shifted by half the largest gap."""
    values, slopes = [], []
    for j in range(count):
        a = lo + j * width
        x = np.linspace(a, a + width, 20001)
        slope = (f(a + width) - f(a)) / width
        gap = f(x) - (f(a) + slope * (x - a))
        values.append(f(a) + (gap.max() + gap.min()) / 2)
        slopes.append(slope)
    return np.array(values), np.array(slopes)


def evaluate(values: np.ndarray, slopes: np.ndarray, lo: float, width: float, x: np.ndarray) -> np.ndarray:
    """The piecewise-linear function over the reals: x's segment j covers (lo + j·width, lo + (j+1)·width]."""
    j = np.clip(np.ceil((x - lo) / width).astype(int) - 1, 0, len(values) - 1)
    return values[j] + slopes[j] * (x - (lo + j * width))


@pytest.mark.parametrize("function,f,lo,width", [("SigmoidOnRange", ref.sigmoid, -8.0, 0.5),
                                                 ("ExpOnRange", np.exp, -8.0, 0.25)])
def test_tables_are_the_best_line_on_each_segment(function, f, lo, width) -> None:
    values, slopes = table(function)
    assert len(values) == 32
    best = best_lines(f, lo, width, len(values))
    np.testing.assert_allclose(values, best[0], atol=1e-9)
    np.testing.assert_allclose(slopes, best[1], atol=1e-9)


def stated(measured: float, claim: float) -> bool:
    """The claim bounds the measurement and is no more than 5% above it (a rounded-up figure)."""
    return measured <= claim <= 1.05 * measured


def test_errors_over_the_reals_are_those_stated() -> None:
    x = np.linspace(-40, 40, 400_001)
    sigmoid = evaluate(*table("SigmoidOnRange"), -8.0, 0.5, np.clip(x, -8, 8))
    assert stated(np.abs(sigmoid - ref.sigmoid(x)).max(), SIGMOID_ERROR)
    tanh = 2 * evaluate(*table("SigmoidOnRange"), -8.0, 0.5, 2 * np.clip(x, -4, 4)) - 1
    assert stated(np.abs(tanh - np.tanh(x)).max(), TANH_ERROR)
    d = np.linspace(-40, 0, 400_001)
    exp = evaluate(*table("ExpOnRange"), -8.0, 0.25, np.maximum(d, -8))
    assert stated(np.abs(exp - np.exp(d)).max(), EXP_ERROR)
    inside = d >= -8
    assert stated(np.abs(exp[inside] / np.exp(d[inside]) - 1).max(), EXP_RELATIVE)


@pytest.mark.parametrize("call,low,high", [("Sigmoid(4, X, Y)", 0.0, 1.0), ("Tanh(4, X, Y)", -1.0, 1.0),
                                           ("Softmax(1, 4, X, Y)", 0.0, 2.0)])
def test_range_analysis_bounds_each_approximation_by_its_range(call: str, low: float, high: float) -> None:
    """The telescoping sum of PiecewiseLinear is beyond interval analysis; the final clamps are
    what keep a layer after a Sigmoid from looking as if it could overflow."""
    text = layer_program([call.split("(")[0]], [call], {"X": Tensor(np.array([7.0, -7.0, 1.0, 0.5]), Role.CLIENT)},
                         {"Y": "fixed_al[4]"})
    lowered = lower_fixed(checked(text), bitlen=32)
    report = analyze(inline_calls(lowered.program), bitlen=32, input_bounds=declared_bounds(lowered.boundary))
    bounds = report.variable("Y", function="main")
    assert (bounds.lo / 2**12, bounds.hi / 2**12) == (low, high) and not report.diagnostics()
