"""Fixed-point syntax (docs/fixed-point.md §1): `fixed<s>` and `fixed` as base types, real
literals, declared input ranges, and the keyword `fixed`."""

from __future__ import annotations

import pytest

from ezlang.diagnostics import CompileError
from ezlang.syntax import ast
from ezlang.syntax.parse import parse_text
from ezlang.types import Base, Label

from fixed_support import statements


def body(text: str) -> tuple[ast.Stmt, ...]:
    return tuple(statements(parse_text(f"def void main() {{\n{text}\n}}\n")))


def type_of(text: str) -> ast.TypeNode:
    (stmt,) = body(text)
    assert isinstance(stmt, (ast.Decl, ast.Input))
    return stmt.type


def parse_error(text: str) -> tuple[str, str, str]:
    with pytest.raises(CompileError) as caught:
        parse_text(text, "f.ezpc")
    (diag,) = caught.value.diagnostics
    assert diag.span is not None
    return diag.code, f"{diag.span.line}:{diag.span.col}", diag.message


@pytest.mark.parametrize("written, scale, label, rank, const", [
    ("fixed<12>_al x", 12, Label.AL, 0, False),
    ("fixed_pl x", None, Label.PL, 0, False),
    ("fixed x", None, None, 0, False),
    ("fixed<0>_al[10][20] x", 0, Label.AL, 2, False),
    ("const fixed<4>_pl[3] x", 4, Label.PL, 1, True),
])
def test_fixed_types_parse_with_their_scale(written: str, scale: int, label: Label, rank: int, const: bool) -> None:
    node = type_of(written)
    assert (node.base, node.scale, node.label, len(node.dims), node.const) == (Base.FIXED, scale, label, rank, const)


def test_parameters_returns_and_global_constants_may_be_fixed() -> None:
    program = parse_text("fixed<8> HALF = 0.5;\nfixed LR = 0.25;\n"
                         "def fixed<8>_al scaled(fixed<8>_al x) { return x * HALF }\ndef void main() { }\n")
    half, rate, scaled, _ = program.globals
    assert isinstance(half, ast.GlobalConst) and (half.base, half.scale) == (Base.FIXED, 8)
    assert isinstance(rate, ast.GlobalConst) and (rate.base, rate.scale) == (Base.FIXED, None)
    assert isinstance(scaled, ast.FunDef) and scaled.ret is not None
    assert (scaled.ret.scale, scaled.params[0].type.scale) == (8, 8)


def test_real_literals_parse_as_float_literals() -> None:
    (stmt,) = body("fixed_al x = -1.25")
    assert isinstance(stmt, ast.Decl) and isinstance(stmt.init, ast.FloatLit) and stmt.init.value == -1.25


def test_an_input_may_declare_the_range_of_its_values() -> None:
    (stmt,) = body("input(CLIENT, x, fixed_al[784], [-1.0, 1.0])")
    assert isinstance(stmt, ast.Input) and stmt.range == (-1.0, 1.0)
    assert stmt.range_span is not None and stmt.range_span.text == "[-1.0, 1.0]"


def test_integer_range_bounds_stay_integers() -> None:
    (stmt,) = body("input(SERVER, n, int32_al, [0, 255])")
    assert isinstance(stmt, ast.Input) and stmt.range == (0, 255)
    assert all(type(b) is int for b in stmt.range)


def test_inputs_without_a_range_have_none() -> None:
    (stmt,) = body("input(CLIENT, x, int32_al)")
    assert isinstance(stmt, ast.Input) and stmt.range is None and stmt.range_span is None


def test_a_scale_is_a_whole_number() -> None:
    assert parse_error("def void main() { fixed<1.5>_al x }") == (
        "E0106", "1:25", "`1.5` is not a fixed-point scale")
    assert parse_error("def void main() { fixed<12u>_al x }") == (
        "E0106", "1:25", "`12u` is not a fixed-point scale")


def test_range_bounds_take_no_suffix() -> None:
    assert parse_error("def void main() { input(CLIENT, x, int32_al, [0, 10u]) }") == (
        "E0106", "1:50", "`10u` cannot bound an input range")


def test_scale_errors_say_how_to_fix_them() -> None:
    with pytest.raises(CompileError) as caught:
        parse_text("def void main() { fixed<x>_al y }", "f.ezpc")
    assert [d.code for d in caught.value.diagnostics] == ["E0104"]
    with pytest.raises(CompileError) as caught:
        parse_text("def void main() { fixed<2.5> y }", "f.ezpc")
    assert caught.value.diagnostics.items[0].help == \
        "the scale counts fractional bits: a whole number, as in `fixed<12>`"


def test_fixed_is_a_keyword() -> None:
    code, where, message = parse_error("def void main() { int32_al fixed = 1 }")
    assert (code, where) == ("E0104", "1:28") and message == "unexpected `fixed`"


def test_a_global_constant_type_takes_no_label_and_the_hint_knows_fixed() -> None:
    with pytest.raises(CompileError) as caught:
        parse_text("fixed<8>_pl H = 0.5;\ndef void main() { }", "f.ezpc")
    assert caught.value.diagnostics.items[0].help == \
        "a global constant is always public and takes no label: write `int32 N = 10;`"
