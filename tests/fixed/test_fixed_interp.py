"""Fixed-point programs run by the unchanged reference interpreter on their lowering: values
against exact rationals and numpy, within the error docs/fixed-point.md §4 states (each
truncation rounds down by less than one unit in the last place, 2^-s)."""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.fixed_pipeline import Prepared
from ezlang.types import Role

from fixed_support import prepared, run

ULP = 2.0 ** -12


def client(body: str, **values: Any) -> dict[str, Any]:
    return run(body, {Role.CLIENT: values})


def test_a_product_is_truncated_down_to_its_scale() -> None:
    out = client("input(CLIENT, a, fixed_al);\ninput(CLIENT, b, fixed_al);\noutput(CLIENT, a * b)", a=1.5, b=-0.1)
    exact = Fraction(6144 * -410, 2 ** 24)  # -0.1 is stored as round(-409.6) = -410
    assert out["a * b"] == float(Fraction(int(exact * 4096 // 1), 4096)) == -0.150146484375


def test_mixed_scales_add_at_the_larger_scale() -> None:
    out = client("input(CLIENT, a, fixed<4>_al);\ninput(CLIENT, b, fixed_al);\noutput(CLIENT, a + b)",
                 a=0.0625, b=0.001)
    assert out["a + b"] == (256 + 4) / 4096


def test_integer_operands_are_exact() -> None:
    out = client("input(CLIENT, a, fixed_al);\ninput(CLIENT, k, int32_al);\n"
                 "output(CLIENT, a * k);\noutput(CLIENT, a / k);\noutput(CLIENT, a + k)", a=1.25, k=3)
    assert out == {"a * k": 3.75, "a / k": 1706 / 4096, "a + k": 4.25}


def test_fixed_division_keeps_the_dividends_scale_and_truncates_toward_zero() -> None:
    out = client("input(CLIENT, a, fixed_al);\ninput(CLIENT, b, fixed_al);\n"
                 "output(CLIENT, a / b);\noutput(CLIENT, (0.0 - a) / (b + b + b))", a=1.5, b=0.5)
    assert out == {"a / b": 3.0, "(0.0 - a) / (b + b + b)": -1.0}
    out = client("input(CLIENT, a, fixed_al);\ninput(CLIENT, b, fixed_al);\noutput(CLIENT, a / b)", a=-1.0, b=3.0)
    assert out["a / b"] == -1365 / 4096


def test_relu_and_max_select_obliviously() -> None:
    body = ("input(CLIENT, a, fixed_al[3]);\nfixed_al[3] relu;\nfixed_al best = a[0];\n"
            "for k = [0:3] { relu[k] = a[k] > 0.0 ? a[k] : 0.0; best = a[k] > best ? a[k] : best };\n"
            "output(CLIENT, relu);\noutput(CLIENT, best)")
    assert client(body, a=[-1.5, 0.25, 2.0]) == {"relu": [0.0, 0.25, 2.0], "best": 2.0}


def test_a_smaller_scale_rounds_down() -> None:
    out = client("input(CLIENT, a, fixed_al);\nfixed<4>_al coarse = a;\nfixed<16>_al fine = a;\n"
                 "output(CLIENT, coarse);\noutput(CLIENT, fine)", a=-0.03125)
    assert out == {"coarse": -0.0625, "fine": -0.03125}


def test_functions_take_and_return_fixed_point() -> None:
    prelude = "fixed<8> HALF = 0.5;\ndef fixed_al mean(fixed_al a, fixed_al b) { return (a + b) * HALF }\n"
    out = run("input(CLIENT, a, fixed_al);\noutput(CLIENT, mean(a, 2))", {Role.CLIENT: {"a": 1.0}}, prelude=prelude)
    assert out == {"mean(a, 2)": 1.5}


def test_public_fixed_point_computes_in_the_clear() -> None:
    out = client("fixed_pl a = 2.5;\nfixed_pl b = a * a - 0.25;\noutput(CLIENT, b)")
    assert out == {"b": 6.0}


def test_a_64_bit_ring_holds_products_a_32_bit_ring_cannot() -> None:
    out = run("input(CLIENT, a, fixed_al);\noutput(CLIENT, a * a)", {Role.CLIENT: {"a": 40000.5}}, bitlen=64)
    assert out["a * a"] == 40000.5 ** 2


def test_a_dot_product_matches_numpy_within_two_ulp_per_term() -> None:
    rng = np.random.default_rng(7)
    weights, features = rng.uniform(-1, 1, 64), rng.uniform(-1, 1, 64)
    body = ("input(SERVER, w, fixed_al[64], [-1.0, 1.0]);\ninput(CLIENT, x, fixed_al[64], [-1.0, 1.0]);\n"
            "fixed_al acc = 0.0;\nfor i = [0:64] { acc = acc + w[i] * x[i] };\noutput(CLIENT, acc)")
    out = run(body, {Role.SERVER: {"w": weights}, Role.CLIENT: {"x": features}})
    # inputs round by ≤ ulp/2 each (|w|, |x| ≤ 1 makes that ≤ ulp per product), each product truncates by < ulp
    assert abs(out["acc"] - float(weights @ features)) <= 2 * 64 * ULP


# ---------------------------------------------------------------- a*b + c, exactly


@cache
def _fused(bitlen: int, scale: int, n: int) -> Prepared:
    return prepared(f"input(CLIENT, a, fixed_al[{n}]);\ninput(CLIENT, b, fixed_al[{n}]);\n"
                    f"input(CLIENT, c, fixed_al[{n}]);\nfixed_al[{n}] r;\n"
                    f"for k = [0:{n}] {{ r[k] = a[k] * b[k] + c[k] }};\noutput(CLIENT, r)",
                    bitlen=bitlen, scale=scale)


@st.composite
def _vectors(draw: Any) -> tuple[int, int, list[list[Fraction]]]:
    bitlen, scale = draw(st.sampled_from([(32, 12), (32, 8), (64, 20)]))
    n = draw(st.integers(1, 4))
    limit = 1 << (bitlen // 2 - 2)  # |a|, |b|, |c| < 2^(w/2-2-s): a*b + c stays inside the ring
    steps = st.integers(-limit, limit - 1)
    return bitlen, scale, [[Fraction(draw(steps), 1 << scale) for _ in range(n)] for _ in range(3)]


@settings(max_examples=60, deadline=None)
@given(_vectors())
def test_a_times_b_plus_c_is_the_exact_rational_within_one_ulp_below(
        case: tuple[int, int, list[list[Fraction]]]) -> None:
    bitlen, scale, (a, b, c) = case
    ready = _fused(bitlen, scale, len(a))
    values = {name: [float(v) for v in vector] for name, vector in zip("abc", (a, b, c))}
    result = ready.run_result(interpret(ready.program, ready.inputs({Role.CLIENT: InputSource.from_mapping(values)})))
    (out,) = result.outputs[Role.CLIENT]
    for got, x, y, z in zip(out.value, a, b, c):
        error = x * y + z - Fraction(got)
        assert 0 <= error < Fraction(1, 1 << scale)
