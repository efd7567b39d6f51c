"""The lowering of fixed point to integers (ezlang.passes.scales): typed program in, integer
program out, with the exact shifts, the truncations listed and the boundary scales."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

import pytest

from ezlang.passes.pipeline import check_source
from ezlang.passes.scales import Truncation, lower_fixed
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

from fixed_support import checked, decl, init, prepared, show, statements

ROOT = Path(__file__).parent.parent.parent
SECRET = "input(CLIENT, x, fixed_al);\ninput(CLIENT, y, fixed<8>_al);\ninput(CLIENT, i, int32_al);\n"


def lowered_init(body: str, name: str = "r", **options: int) -> str:
    return show(init(prepared(SECRET + body, **options).program, name))


def all_nodes(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, (Type, type)):
            yield item
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item) if f.name not in ("span", "file"))


# ---------------------------------------------------------------- exact shifts


@pytest.mark.parametrize("body, expected", [
    ("fixed_al r = x * y;", "((x * y) >>r 8)"),
    ("fixed<8>_al r = y * y;", "((y * y) >>r 8)"),
    ("fixed_al r = x * x;", "((x * x) >>r 12)"),
    ("fixed_al r = x + y;", "(x + (y << 4))"),
    ("fixed_al r = x * i;", "(x * i)"),
    ("fixed_al r = x * 3;", "(x * conv<int32_al>(3))"),
    ("fixed_al r = x / i;", "(x / i)"),
    ("fixed<8>_al r = y / x;", "((y << 12) / x)"),
    ("fixed_al r = i / x;", "(((i << 12) << 12) / x)"),
    ("fixed_al r = x * 0.5;", "((x * conv<int32_al>(2048)) >>r 12)"),
    ("fixed_al r = 0.0 - x;", "(conv<int32_al>(0) - x)"),
    ("fixed<16>_al r = x;", "(x << 4)"),
    ("fixed<4>_al r = x;", "(x >> 8)"),
    ("fixed_al r = i;", "(i << 12)"),
    ("fixed_al r = x * y + x;", "(((x * y) >>r 8) + x)"),
])
def test_each_fixed_operation_becomes_its_integer_operation(body: str, expected: str) -> None:
    assert lowered_init(body) == expected


def test_a_public_integer_is_made_secret_before_it_is_scaled() -> None:
    assert lowered_init("int32_pl k = 3;\nfixed_al r = k;") == "(conv<int32_al>(k) << 12)"


def test_relu_lowers_to_a_ternary_over_an_integer_zero() -> None:
    assert lowered_init("fixed_al r = x > 0.0 ? x : 0.0;") == \
        "conv<int32_al>(((conv<int32_bl>(x) > conv<int32_bl>(0)) ? conv<int32_bl>(x) : conv<int32_bl>(0)))"


def test_relu_after_a_product_is_truncated_inside() -> None:
    assert lowered_init("fixed_al p = x * x;\nfixed_al r = p > 0.0 ? p : 0.0;", "p") == "((x * x) >>r 12)"


@pytest.mark.parametrize("literal, scale, encoded", [
    ("0.5", 12, 2048), ("-1.25", 12, -5120), ("0.25", 1, 1), ("-0.25", 1, -1), ("0.3", 2, 1),
    ("3", 4, 48), ("-2", 0, -2), ("0.0001", 12, 0), ("524287.9997", 12, 2147483647),
])
def test_literals_become_their_encoding_rounded_half_away_from_zero(literal: str, scale: int, encoded: int) -> None:
    program = prepared(f"fixed<{scale}>_pl r = {literal};").program
    value = init(program, "r")
    assert isinstance(value, ast.IntLit) and value.value == encoded and value.ty == Type(Base.INT32, Label.PL)


def test_a_global_fixed_constant_is_an_encoded_integer_constant() -> None:
    program = prepared(SECRET + "fixed_al r = x * HALF;", prelude="fixed<4> HALF = 0.5;\n").program
    constant = program.globals[0]
    assert isinstance(constant, ast.GlobalConst) and constant.scale is None
    assert isinstance(constant.value, ast.IntLit) and constant.value.value == 8
    assert show(init(program, "r")) == "((x * conv<int32_al>(HALF)) >>r 4)"


# ---------------------------------------------------------------- the nodes placed


def test_a_truncation_is_a_rescale_shift_typed_like_the_product() -> None:
    program = prepared(SECRET + "fixed_al r = x * y;").program
    shift = init(program, "r")
    assert isinstance(shift, ast.Binary) and shift.op is BinaryOp.SHR and shift.rescale
    assert shift.ty == Type(Base.INT32, Label.AL) and shift.label is Label.AL
    assert isinstance(shift.right, ast.IntLit) and shift.right.ty == Type(Base.INT32, Label.PL)
    assert shift.span.text == "x * y" and shift.left.span.text == "x * y"


def test_an_upscale_is_a_plain_left_shift() -> None:
    shift = init(prepared(SECRET + "fixed_al r = x + y;").program, "r")
    assert isinstance(shift, ast.Binary) and isinstance(shift.right, ast.Binary)
    up = shift.right
    assert up.op is BinaryOp.SHL and not up.rescale and up.ty == Type(Base.INT32, Label.AL) and up.span.text == "y"


def test_a_user_shift_is_not_a_rescale() -> None:
    assert show(init(prepared("int32_al n = 8;\nint32_al r = n >> 2;").program, "r")) == \
        "conv<int32_al>((conv<int32_bl>(n) >> 2))"


@pytest.mark.parametrize("bitlen, ring", [(32, Base.INT32), (64, Base.INT64)])
def test_no_type_keeps_a_scale(bitlen: int, ring: Base) -> None:
    program = prepared("input(CLIENT, x, fixed_al[3], [-1.0, 1.0]);\nfixed<8>_al s = 0.0;\n"
                       "for k = [0:3] { s = s + x[k] * x[k] };\noutput(CLIENT, s > 0.5 ? s : 0.5)",
                       prelude="fixed HALF = 0.5;\ndef fixed_al twice(fixed<4>_al v) { return v * 2 }\n",
                       bitlen=bitlen).program
    types = [n.ty for n in all_nodes(program) if getattr(n, "ty", None) is not None]
    written = [n for n in all_nodes(program) if isinstance(n, ast.TypeNode)]
    assert types and all(t.scale is None for t in types)
    assert written and all(w.scale is None and w.base is not Base.FIXED for w in written)
    assert {t.base for t in types} >= {ring}


def test_declared_types_lose_their_scale_and_keep_the_ring_base() -> None:
    node = decl(prepared("fixed<8>_al[2] a;", bitlen=64).program, "a").type
    assert (node.base, node.label, node.scale, len(node.dims)) == (Base.INT64, Label.AL, None, 1)


# ---------------------------------------------------------------- truncations and boundary


def test_every_truncation_is_listed_with_its_span_and_scales() -> None:
    ready = prepared(SECRET + "fixed_al r = x * y;\nfixed<4>_al s = x;\nfixed_al t = x * i;")
    assert [(t.span.text, t.span.line, t.shift, t.from_scale, t.to_scale, t.reason) for t in ready.truncations] == [
        ("x * y", 5, 8, 20, 12, "product"), ("x", 6, 8, 12, 4, "conversion")]
    assert all(isinstance(t, Truncation) for t in ready.truncations)


def test_the_boundary_gives_input_and_output_scales_and_declared_ranges() -> None:
    ready = prepared("input(CLIENT, a, fixed<8>_al[2], [-1.0, 1.0]);\ninput(SERVER, n, int32_al, [0, 9]);\n"
                     "output(CLIENT, a[0] * a[1]);\noutput(SERVER, n);\noutput(CLIENT, a[0] * 2.0 + 1)")
    outputs = [s for s in statements(ready.program) if isinstance(s, ast.Output)]
    assert dict(ready.boundary.inputs) == {"a": 8}
    assert dict(ready.boundary.outputs) == {outputs[0].span.start: 8, outputs[2].span.start: 8}
    assert dict(ready.boundary.ranges) == {"a": (-1.0, 1.0), "n": (0, 9)}


def test_the_lowered_program_keeps_the_declared_range_on_its_input() -> None:
    (stmt, *_) = statements(prepared("input(CLIENT, a, fixed_al, [-2.0, 2.0]);").program)
    assert isinstance(stmt, ast.Input) and stmt.range == (-2.0, 2.0) and stmt.type.scale is None


def test_the_example_network_truncates_once_per_product() -> None:
    result = check_source(SourceFile.read(ROOT / "examples" / "two_layer_net.ezpc"))
    assert result.program is not None
    lowered = lower_fixed(result.program, bitlen=32)
    assert [(t.span.line, t.span.text, t.shift) for t in lowered.truncations] == [
        (30, "x[i] * w1[i][j]", 12), (39, "hidden[j] * w2[j][k]", 12)]
    assert dict(lowered.boundary.inputs) == {"w1": 12, "b1": 12, "w2": 12, "b2": 12, "x": 12}


# ---------------------------------------------------------------- integer programs are untouched


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "programs" / "accepted").glob("*.ezpc"))
                         + sorted((ROOT / "examples").glob("[!t]*.ezpc")), ids=lambda p: p.name)
def test_an_integer_program_lowers_to_itself(path: Path) -> None:
    result = check_source(SourceFile.read(path), bitlen=64 if "64" in path.name else 32)
    assert result.program is not None
    lowered = lower_fixed(result.program, bitlen=64 if "64" in path.name else 32)
    assert lowered.program is result.program
    assert lowered.truncations == () and not lowered.boundary.inputs and not lowered.boundary.outputs


def test_a_rebuilt_program_compares_equal_where_nothing_is_fixed() -> None:
    program = checked("int32_al n = 3;\nfixed_al f = 1.0;\nint32_al m = n * n;")
    lowered = lower_fixed(program, bitlen=32).program
    assert lowered is not program
    assert init(lowered, "m") is init(program, "m")
