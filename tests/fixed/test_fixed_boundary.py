"""The boundary of a fixed-point program: inputs read as reals from every file format and
encoded at their scale, input errors (ring range, declared range, kind), outputs decoded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ezlang.diagnostics import Diagnostic
from ezlang.inputs import InputError, InputRequest, InputSource, at_boundary, load_inputs
from ezlang.interp import InterpError, interpret
from ezlang.report import render_run_json, render_run_text
from ezlang.types import Base, Label, Role, Type

from fixed_support import prepared

PROGRAM = "input(CLIENT, x, fixed_al[3], [-2.0, 2.0]);\noutput(CLIENT, x)"
FIXED_12 = Type(Base.INT32, Label.AL, 1, scale=12)


def read_through(source: InputSource, body: str = PROGRAM, **options: int) -> list[Any]:
    ready = prepared(body, **options)
    result = ready.run_result(interpret(ready.program, ready.inputs({Role.CLIENT: source})))
    return [out.value for out in result.outputs[Role.CLIENT]]


def failure(source: InputSource, body: str = PROGRAM) -> tuple[str, str, str]:
    diag = failed(source, body)
    assert diag.span is not None
    return diag.code, f"{diag.span.line}:{diag.span.col}", diag.message


def failed(source: InputSource, body: str = PROGRAM) -> Diagnostic:
    ready = prepared(body)
    with pytest.raises(InterpError) as caught:
        interpret(ready.program, ready.inputs({Role.CLIENT: source}))
    return caught.value.diagnostic


# ---------------------------------------------------------------- formats


def test_json_reals_and_integers_are_encoded(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"x": [0.5, -1, 1.999]}))
    assert read_through(load_inputs(path)) == [[0.5, -1.0, 8188 / 4096]]


def test_numpy_float_arrays_are_encoded_at_once(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.array([0.1, -0.1, 1 / 8192], dtype=np.float32))
    np.savez(tmp_path / "x.npz", x=np.array([0.1, -0.1, 1 / 8192]))
    expected = [[410 / 4096, -410 / 4096, 1 / 4096]]  # round(409.6) = 410, and 0.5 rounds away from zero
    assert read_through(load_inputs(tmp_path / "x.npy")) == expected
    assert read_through(load_inputs(tmp_path / "x.npz")) == expected


def test_numpy_integer_arrays_are_encoded_exactly(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.array([1, -2, 0], dtype=np.int64))
    assert read_through(load_inputs(tmp_path / "x.npy")) == [[1.0, -2.0, 0.0]]


def test_text_inputs_take_reals_and_integers(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("0.25\n-1 1.5\n")
    assert read_through(load_inputs(path)) == [[0.25, -1.0, 1.5]]
    assert read_through(InputSource.from_sequence([0.25, -1, 1.5])) == [[0.25, -1.0, 1.5]]


def test_halves_round_away_from_zero() -> None:
    values = {"x": [1 / 8192, -1 / 8192, 3 / 8192]}
    assert read_through(InputSource.from_mapping(values)) == [[1 / 4096, -1 / 4096, 2 / 4096]]


def test_an_integer_input_keeps_reading_integers() -> None:
    body = "input(CLIENT, n, int32_al, [0, 9]);\noutput(CLIENT, n)"
    assert read_through(InputSource.from_mapping({"n": 7}), body) == [7]


def test_each_scale_encodes_its_own_input() -> None:
    body = "input(CLIENT, a, fixed<4>_al);\ninput(CLIENT, b, fixed<20>_al);\noutput(CLIENT, a + b)"
    # 0.1 is 2 at scale 4 (aligned: 2 << 16) and round(104857.6) = 104858 at scale 20
    assert read_through(InputSource.from_mapping({"a": 0.1, "b": 0.1}), body) == [((2 << 16) + 104858) / 2 ** 20]


def test_a_request_describes_its_fixed_type() -> None:
    request = InputRequest("x", Role.CLIENT, FIXED_12, (3,))
    assert request.describe() == "input `x` of CLIENT (fixed<12>_al[3])"


def test_sources_of_integer_programs_are_not_wrapped() -> None:
    source = InputSource.from_mapping({"n": 1})
    assert at_boundary(source, {}, {}) is source


# ---------------------------------------------------------------- errors


def test_a_value_beyond_the_ring_names_the_input_the_value_and_the_range() -> None:
    body = "input(CLIENT, x, fixed_al);\noutput(CLIENT, x)"
    assert failure(InputSource.from_mapping({"x": 600000.0}, "x.json"), body) == (
        "E0622", "2:1", "input `x` of CLIENT (fixed<12>_al) from x.json: x = 600000.0 does not fit fixed<12>_al "
                        "in the 32-bit ring, which holds -524288 to 524287.999755859375")


def test_range_errors_say_how_to_fix_them() -> None:
    body = "input(CLIENT, x, fixed_al);\noutput(CLIENT, x)"
    assert failed(InputSource.from_mapping({"x": 1e9}), body).help == \
        "scale the data down, or use fewer fractional bits (`fixed<8>`) or --bitlen 64"
    assert failed(InputSource.from_mapping({"x": [3.0, 0.0, 0.0]})).help == (
        "the program declares this range in its `input` statement, and its analysis of overflows relies on it: "
        "correct the value, or widen the declared range")


def test_an_array_element_beyond_the_ring_is_found() -> None:
    source = InputSource.from_mapping({"x": np.array([0.0, 1e6, 0.0])}, "x.npz")
    body = "input(CLIENT, x, fixed_al[3]);\noutput(CLIENT, x)"
    assert failure(source, body)[2] == ("input `x` of CLIENT (fixed<12>_al[3]) from x.npz: x[1] = 1000000.0 does not "
                                        "fit fixed<12>_al in the 32-bit ring, which holds -524288 to "
                                        "524287.999755859375")


@pytest.mark.parametrize("raw, shown", [([0.5, 2.5, 0.0], "x[1] = 2.5"), (np.array([0.0, 0.0, -3.0]), "x[2] = -3.0")])
def test_a_value_outside_the_declared_range_is_refused(raw: Any, shown: str) -> None:
    assert failure(InputSource.from_mapping({"x": raw}, "x.json")) == (
        "E0627", "2:1", f"input `x` of CLIENT (fixed<12>_al[3]) from x.json: {shown} is outside the declared "
                        "range [-2.0, 2.0]")


def test_an_integer_outside_its_declared_range_is_refused() -> None:
    body = "input(CLIENT, n, int32_al, [0, 9]);\noutput(CLIENT, n)"
    assert failure(InputSource.from_mapping({"n": 10}, "n.json"), body)[:2] == ("E0627", "2:1")
    assert failure(InputSource.from_mapping({"n": np.array(-1)}, "n.npy"), body)[2] == \
        "input `n` of CLIENT (int32_al) from n.npy: n = -1 is outside the declared range [0, 9]"


@pytest.mark.parametrize("raw, detail", [
    ("0.5", "x = '0.5' is not a number"), (True, "x = true is not a number"),
])
def test_a_fixed_input_needs_a_number(raw: Any, detail: str) -> None:
    diag = failed(InputSource.from_mapping({"x": raw}, "x.json"), "input(CLIENT, x, fixed_al);\noutput(CLIENT, x)")
    assert (diag.code, diag.message) == ("E0621", f"input `x` of CLIENT (fixed<12>_al) from x.json: {detail}")


@pytest.mark.parametrize("raw", [float("nan"), float("inf")])
def test_a_fixed_input_must_be_finite(raw: float) -> None:
    body = "input(CLIENT, x, fixed_al);\noutput(CLIENT, x)"
    assert failure(InputSource.from_mapping({"x": raw}, "x.json"), body)[0] == "E0622"
    assert failure(InputSource.from_mapping({"x": np.array([raw, 0.0, 0.0])}, "x.npz"))[0] == "E0627"


def test_a_text_token_must_be_a_number(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("0.5 abc 1")
    assert failure(load_inputs(path))[2] == \
        f"input `x` of CLIENT (fixed<12>_al[3]) from {path}: x[1] (line 1) = 'abc' is not a number"


def test_the_reader_checks_requests_directly() -> None:
    request = InputRequest("x", Role.CLIENT, Type(Base.INT32, Label.AL, scale=12), (), (-1.0, 1.0))
    reader = InputSource.from_mapping({"x": 0.75}).reader()
    assert reader.read(request) == 3072
    with pytest.raises(InputError, match="outside the declared range"):
        InputSource.from_mapping({"x": 1.5}).reader().read(request)


# ---------------------------------------------------------------- outputs


def test_outputs_are_decoded_and_printed_in_full() -> None:
    ready = prepared("input(CLIENT, x, fixed<20>_al);\noutput(CLIENT, x);\noutput(CLIENT, 3)")
    sources = ready.inputs({Role.CLIENT: InputSource.from_mapping({"x": 1000.0000009537})})
    run = ready.run_result(interpret(ready.program, sources))
    assert render_run_text(run) == "SERVER:\n  (no outputs)\nCLIENT:\n  x = 1000.0000009536743\n  3 = 3\n"
    outputs = json.loads(render_run_json("f.ezpc", (), run))["outputs"]["CLIENT"]
    assert [(o["type"], o["value"]) for o in outputs] == [("fixed<20>_al", 1000.0000009536743), ("int32_pl", 3)]
