"""Typing of fixed point (docs/fixed-point.md §2): checked types, the scales of operators, the
conversions the checker makes explicit, literals in a fixed context, and every refusal."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Base, Label, Type

from fixed_support import checked, errors, init

ERRORS = Path(__file__).parent.parent / "programs" / "errors"
SECRET = "input(CLIENT, x, fixed_al);\ninput(CLIENT, y, fixed<8>_al);\ninput(CLIENT, i, int32_al);\n"


def shape(e: ast.Expr) -> str:
    """A typed expression with every conversion and the types of operators and literals."""
    match e:
        case ast.Var(name=name):
            return name
        case ast.Convert(operand=x, ty=t):
            return f"conv<{t}>({shape(x)})"
        case ast.Binary(op=op, left=l, right=r, ty=t):
            return f"({shape(l)} {op} {shape(r)}):{t}"
        case ast.Ternary(cond=c, then=a, other=b, ty=t):
            return f"({shape(c)} ? {shape(a)} : {shape(b)}):{t}"
    return f"{e.span.text}:{e.ty}"


def typed_init(body: str, name: str = "r", **options: int) -> str:
    return shape(init(checked(SECRET + body, **options), name))


# ---------------------------------------------------------------- types


@pytest.mark.parametrize("bitlen, ring", [(32, Base.INT32), (64, Base.INT64)])
def test_fixed_types_are_the_rings_signed_integer_with_a_scale(bitlen: int, ring: Base) -> None:
    program = checked("fixed<8>_al[2][3] a;\nfixed_pl b;\nfixed c;", bitlen=bitlen)
    types = {d.name: ast.declared_type(d.type) for d in program.globals[-1].body if isinstance(d, ast.Decl)}
    assert types == {"a": Type(ring, Label.AL, 2, False, 8), "b": Type(ring, Label.PL, scale=12),
                     "c": Type(ring, Label.AL, scale=12)}


def test_the_default_scale_is_an_option() -> None:
    program = checked("fixed_al a;\nfixed<3>_al b;", scale=20)
    assert [ast.declared_type(d.type).scale for d in program.globals[-1].body] == [20, 3]


def test_fixed_types_print_as_written() -> None:
    assert str(Type(Base.INT32, Label.AL, 1, scale=12)) == "fixed<12>_al[]"
    assert str(Type(Base.INT64, Label.PL, 2, True, scale=0)) == "const fixed<0>_pl[][]"
    assert str(Type(Base.INT32, Label.AL)) == "int32_al"


def test_types_stay_frozen_and_hashable_and_the_scale_is_compared() -> None:
    fixed = Type(Base.INT32, Label.AL, scale=12)
    assert [f.name for f in dataclasses.fields(Type)][-1] == "scale"
    assert len({fixed, Type(Base.INT32, Label.AL, scale=12), Type(Base.INT32, Label.AL)}) == 2
    assert fixed.relabel(Label.BL).scale == 12 and fixed.scalar() == fixed
    assert Type(Base.INT32, Label.AL, 2, scale=12).element() == Type(Base.INT32, Label.AL, 1, scale=12)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fixed.scale = 3  # type: ignore[misc]


@pytest.mark.parametrize("scale", [-1, 32])
def test_the_default_scale_must_fit_the_ring(scale: int) -> None:
    with pytest.raises(ValueError, match="scale must be at least 0 and below the bit width 32"):
        check_source(SourceFile("f.ezpc", "def void main() { }"), scale=scale)


# ---------------------------------------------------------------- operators


def test_addition_aligns_to_the_larger_scale() -> None:
    assert typed_init("fixed_al r = x + y;") == "(x + conv<fixed<12>_al>(y)):fixed<12>_al"
    assert typed_init("fixed_al r = y - x;") == "(conv<fixed<12>_al>(y) - x):fixed<12>_al"


def test_an_integer_operand_is_aligned_as_scale_zero() -> None:
    assert typed_init("fixed_al r = x + i;") == "(x + conv<fixed<12>_al>(i)):fixed<12>_al"


def test_a_product_keeps_its_operands_and_has_the_larger_scale() -> None:
    assert typed_init("fixed_al r = x * y;") == "(x * y):fixed<12>_al"
    assert typed_init("fixed<8>_al r = y * y;") == "(y * y):fixed<8>_al"


def test_a_product_with_an_integer_keeps_the_fixed_scale() -> None:
    assert typed_init("fixed_al r = x * i;") == "(x * i):fixed<12>_al"
    assert typed_init("fixed_al r = x * 3;") == "(x * conv<int32_al>(3:int32_pl)):fixed<12>_al"


def test_an_integer_literal_takes_the_rings_integer_type_in_a_product() -> None:
    program = checked("input(CLIENT, x, fixed_al);\nfixed_al r = x * 3;", bitlen=64)
    assert shape(init(program, "r")) == "(x * conv<int64_al>(3:int64_pl)):fixed<12>_al"


def test_division_keeps_the_dividends_scale() -> None:
    assert typed_init("fixed_al r = x / i;") == "(x / i):fixed<12>_al"
    assert typed_init("fixed<8>_al r = y / x;") == "(y / x):fixed<8>_al"
    assert typed_init("fixed_al r = i / x;") == "(conv<fixed<12>_al>(i) / x):fixed<12>_al"


def test_comparisons_align_and_give_a_bool() -> None:
    assert typed_init("bool_bl r = y < x;") == \
        "(conv<fixed<12>_bl>(y) < conv<fixed<12>_bl>(x)):bool_bl"


def test_ternary_branches_align_to_the_larger_scale() -> None:
    assert typed_init("fixed_al r = x > y ? x : y;") == (
        "conv<fixed<12>_al>(((conv<fixed<12>_bl>(x) > conv<fixed<12>_bl>(y)):bool_bl ? conv<fixed<12>_bl>(x)"
        " : conv<fixed<12>_bl>(y)):fixed<12>_bl)")


def test_relu_is_a_ternary_with_a_literal_zero_of_the_fixed_type() -> None:
    assert typed_init("fixed_al r = x > 0.0 ? x : 0.0;") == (
        "conv<fixed<12>_al>(((conv<fixed<12>_bl>(x) > conv<fixed<12>_bl>(0.0:fixed<12>_pl)):bool_bl ? "
        "conv<fixed<12>_bl>(x) : conv<fixed<12>_bl>(0.0:fixed<12>_pl)):fixed<12>_bl)")


def test_public_fixed_point_stays_public() -> None:
    program = checked("fixed_pl a = 1.5;\nfixed_pl r = a * a - 0.25;")
    assert shape(init(program, "r")) == \
        "((a * a):fixed<12>_pl - 0.25:fixed<12>_pl):fixed<12>_pl"


# ---------------------------------------------------------------- literals and conversions


@pytest.mark.parametrize("body, expected", [
    ("fixed_al r = 0.5;", "conv<fixed<12>_al>(0.5:fixed<12>_pl)"),
    ("fixed_pl r = 2;", "2:fixed<12>_pl"),
    ("fixed_al r = x - 1;", "(x - conv<fixed<12>_al>(1:fixed<12>_pl)):fixed<12>_al"),
    ("fixed_al r = 0.0 - x;", "(conv<fixed<12>_al>(0.0:fixed<12>_pl) - x):fixed<12>_al"),
    ("fixed_al r = x * 0.5;", "(x * conv<fixed<12>_al>(0.5:fixed<12>_pl)):fixed<12>_al"),
    ("bool_bl r = x > 1;", "(conv<fixed<12>_bl>(x) > conv<fixed<12>_bl>(1:fixed<12>_pl)):bool_bl"),
])
def test_literals_take_the_fixed_type_of_their_context(body: str, expected: str) -> None:
    assert typed_init(body) == expected


def test_literals_take_the_type_of_parameters_and_returns() -> None:
    program = checked("fixed_al r = half(1.0);", prelude="def fixed_al half(fixed_al v) { return v * 0.5 }\n"
                                                          "def fixed_al one() { return 1 }\n")
    call = init(program, "r")
    assert isinstance(call, ast.Call) and shape(call.args[0]) == "conv<fixed<12>_al>(1.0:fixed<12>_pl)"
    one = program.globals[1]
    assert isinstance(one, ast.FunDef) and isinstance(one.body[0], ast.Return)
    assert one.body[0].value is not None and shape(one.body[0].value) == "conv<fixed<12>_al>(1:fixed<12>_pl)"


def test_a_global_constant_may_be_fixed() -> None:
    program = checked(SECRET + "fixed_al r = x * HALF;", prelude="fixed<4> HALF = 0.5;\n")
    constant = program.globals[0]
    assert isinstance(constant, ast.GlobalConst) and shape(constant.value) == "0.5:fixed<4>_pl"
    assert shape(init(program, "r")) == "(x * conv<fixed<4>_al>(HALF)):fixed<12>_al"


def test_storing_at_another_scale_or_an_integer_converts() -> None:
    program = checked(SECRET + "fixed<16>_al r = x;\nfixed<4>_al s = x;\nfixed_al t = i;\nfixed_al u = 3 * i;")
    assert [shape(init(program, n)) for n in "rstu"] == [
        "conv<fixed<16>_al>(x)", "conv<fixed<4>_al>(x)", "conv<fixed<12>_al>(i)",
        "conv<fixed<12>_al>((conv<int32_al>(3:int32_pl) * i):int32_al)"]


def test_a_public_int32_joins_a_fixed_value_of_a_64_bit_ring() -> None:
    program = checked("int32_pl n = 3;\nfixed_pl r = n;", bitlen=64)
    assert shape(init(program, "r")) == "conv<fixed<12>_pl>(n)"


def test_programs_without_fixed_point_check_as_before() -> None:
    program = checked("float_fl f = 0.5;\nint32_al n = 3;\nint32_al m = n * 2;")
    assert shape(init(program, "f")) == "conv<float_fl>(0.5:float_pl)"
    assert shape(init(program, "m")) == "(n * conv<int32_al>(2:int32_pl)):int32_al"


# ---------------------------------------------------------------- labels and flow, as for integers


def test_a_secret_fixed_value_cannot_become_public() -> None:
    assert errors(SECRET + "fixed_pl p = x;") == [
        ("E0301", "4:14", "secret value `x` (fixed<12>_al) cannot flow into variable `p` (fixed<12>_pl)")]


def test_a_secret_fixed_comparison_cannot_steer_an_if() -> None:
    assert errors(SECRET + "if (x > 0.5) { output(CLIENT, x) }") == [
        ("E0302", "4:5", "`if` condition `x > 0.5` depends on a secret (bool_bl)")]


def test_fixed_point_cannot_index_or_bound_a_loop() -> None:
    assert errors("fixed_pl f = 1.0;\nint32_pl[4] a;\nint32_pl v = a[f];") == [
        ("E0411", "3:16", "array index `f` has type fixed<12>_pl, but must be an integer")]


# ---------------------------------------------------------------- refusals (also pinned in tests/programs/errors/60*)


@pytest.mark.parametrize("op", ["<<", ">>", ">>>", "&", "|", "^", "%", "^^"])
def test_bit_level_operators_are_refused_on_fixed_point(op: str) -> None:
    found = errors(SECRET + f"fixed_al r = x {op} 2;")
    assert [(code, where) for code, where, _ in found] == [("E0424", "4:14")]
    assert found[0][2] == f"`{op}` is not defined on fixed point, but `x` is fixed<12>_al"


def test_a_fixed_shift_amount_is_refused_too() -> None:
    assert errors(SECRET + "int32_al r = i << x;") == [
        ("E0424", "4:14", "`<<` is not defined on fixed point, but `x` is fixed<12>_al")]


def test_a_fixed_argument_for_an_integer_parameter_is_refused() -> None:
    assert errors(SECRET + "int32_al r = twice(x);", prelude="def int32_al twice(int32_al v) { return v * 2 }\n") == [
        ("E0425", "4:20", "fixed-point `x` (fixed<12>_al) cannot be stored into parameter `v` of `twice` (int32_al): "
                          "it would lose its fraction")]


def test_a_secret_int32_cannot_join_a_64_bit_fixed_value() -> None:
    assert errors("input(CLIENT, x, fixed_al);\ninput(CLIENT, n, int64_al);\nint32_pl k = 1;\n"
                  "fixed_al r = x + k;", bitlen=64) == [
        ("E0428", "4:18", "`k` (int32_pl) cannot be combined with fixed point in `x + k`")]


def test_fixed_and_float_never_mix() -> None:
    found = check_source(SourceFile("f.ezpc", "def void main() {\nfixed_pl a = 1.0;\nfloat_pl b = 2.0;\n"
                                              "fixed_pl c = a + b;\nfixed_pl d = 0.5 + 0.25\n}"))
    assert [(d.code, d.message) for d in found.diagnostics] == [
        ("E0402", "`+` cannot combine `a` (fixed<12>_pl) and `b` (float_pl)"),
        ("E0401", "`0.5 + 0.25` has type float_pl, but variable `d` has type fixed<12>_pl")]
    assert all(d.help is not None and "real literal" in d.help for d in found.diagnostics)


def test_arrays_of_other_scales_do_not_convert() -> None:
    assert errors("fixed<8>_al[2] a;\nsum(a);", prelude="def void sum(fixed_al[2] v) { }\n") == [
        ("E0401", "2:5", "`a` has type fixed<8>_al[], but parameter `v` of `sum` has type fixed<12>_al[]")]


def test_every_fixed_point_code_is_pinned_by_a_program() -> None:
    texts = "".join(path.read_text() for path in ERRORS.glob("60*.ezpc"))
    for code in ("E0424", "E0425", "E0426", "E0427", "E0428", "E0429", "E0430", "E0431"):
        assert f"ERROR {code} at" in texts
