"""Each proven rule fires on a minimal program, and does not when its precondition, its
parameter range or its shape fails; the rewritten program computes the same outputs."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from ezlang.passes.rewrite import optimize
from ezlang.passes.rules.load import load_text
from rewrite_helpers import checked, output_values, outputs, run, show, value_of

from ezlang.syntax import ast


def program(body: str, inputs: str = "input(CLIENT, x, int32_al); input(CLIENT, a, int32_al); "
                                     "input(CLIENT, b, int32_al);", *, mark: bool = True) -> ast.Program:
    return checked(f"def void main() {{\n  {inputs}\n  {body}\n}}\n", mark=mark)


def rules_applied(optimized: Any) -> list[str]:
    return [a.rule for a in optimized.applications]


def always(expr: ast.Expr, lo: Optional[int], hi: Optional[int], program: ast.Program) -> bool:
    return True


def never(expr: ast.Expr, lo: Optional[int], hi: Optional[int], program: ast.Program) -> bool:
    return False


SUM = ("input(CLIENT, c, int32_al); input(CLIENT, d, int32_al); "
       "int32_al y = ((a * b) >> 12) + ((c * d) >> 12); output(CLIENT, y)")
SAMPLES = [{"x": x, "a": a, "b": b} for x, a, b in [(0, 0, 0), (-1, 5, -7), (123456, -98765, 4321),
                                                     (-2**31, 2**31 - 1, -3), (4096, -4097, 8191)]]


def same_outputs(before: ast.Program, after: ast.Program) -> None:
    for sample in SAMPLES:
        assert run(before, {}, sample) == run(after, {}, sample), sample


@pytest.mark.parametrize("expr, expected, rule", [
    ("(x >> 3) >> 4", "(x >> 7)", "merge-rescales"),
    ("(x >> 12) > 0 ? (x >> 12) : 0", "(((x > 0) ? x : 0) >> 12)", "rescale-past-relu"),
    ("(a >> 4) > (b >> 4) ? (a >> 4) : (b >> 4)", "(((a > b) ? a : b) >> 4)", "rescale-past-max"),
    ("(a >> 4) >= (b >> 4) ? (a >> 4) : (b >> 4)", "(((a > b) ? a : b) >> 4)", "rescale-past-max"),
    ("x * 8", "(x << 3)", "mul-pow2-to-shl"),
    ("8 * x", "(x << 3)", "mul-pow2-to-shl"),
])
def test_exact_rule_fires_and_keeps_every_output(expr: str, expected: str, rule: str) -> None:
    before = program(f"int32_al y = {expr}; output(CLIENT, y)")
    optimized = optimize(before, output_scales={})
    assert value_of(optimized.program, "y") == expected
    assert rules_applied(optimized) == [rule]
    assert all(a.bound == 0 for a in optimized.applications)
    same_outputs(before, optimized.program)


@pytest.mark.parametrize("expr, why", [
    ("(x >> 25) >> 2", "merge-rescales proves s1, s2 in 0..24 only"),
    ("(x >> 12) > 0 ? (a >> 12) : 0", "relu needs the same value in the condition and the branch"),
    ("(x >> 40) > 0 ? (x >> 40) : 0", "rescale-past-relu proves s in 0..w-1 only"),
    ("(a >> 4) > (b >> 5) ? (a >> 4) : (b >> 5)", "rescale-past-max needs one amount"),
    ("x * 6", "6 is not a power of two"),
    ("(x >>> 3) >>> 4", "a logical shift is not a truncation"),
])
def test_rule_does_not_fire_outside_its_shape_or_range(expr: str, why: str) -> None:
    before = program(f"int32_al y = {expr}; output(CLIENT, y)")
    optimized = optimize(before, output_scales={})
    assert optimized.applications == (), why
    assert optimized.program is before


def test_sum_of_products_needs_its_range_precondition() -> None:
    body = SUM
    before = program(body)
    asked: list[tuple[str, Optional[int], Optional[int]]] = []

    def recording(expr: ast.Expr, lo: Optional[int], hi: Optional[int], prog: ast.Program) -> bool:
        asked.append((show(expr), lo, hi))
        assert prog is before
        return True

    optimized = optimize(before, output_scales={}, fits=recording)
    assert value_of(optimized.program, "y") == "(((a * b) + (c * d)) >> 12)"
    assert asked == [("((a * b) + (c * d))", -2**31, 2**31 - 1)]
    assert [(a.rule, a.bound) for a in optimized.applications] == [("sum-of-products", 1)]
    for fits in (None, never):
        assert optimize(before, output_scales={}, fits=fits).applications == ()


def test_inexact_rule_leaves_user_written_shifts_alone() -> None:
    body = SUM
    user_written = program(body, mark=False)
    assert optimize(user_written, output_scales={}, fits=always).applications == ()


def test_shl_then_rescale_needs_the_value_to_fit() -> None:
    before = program("int32_al y = (x << 3) >> 3; output(CLIENT, y)")
    assert value_of(optimize(before, output_scales={}, fits=always).program, "y") == "x"
    for fits in (None, never):
        assert value_of(optimize(before, output_scales={}, fits=fits).program, "y") == "((x << 3) >> 3)"


def test_rescale_then_shl_only_where_it_costs_no_rounds() -> None:
    public = program("int32_pl y = (p >> 3) << 3; output(CLIENT, y)", "input(ALL, p, int32_pl);")
    optimized = optimize(public, output_scales={})
    assert value_of(optimized.program, "y") == "(p & -8)"
    for p in (0, 7, -9, 2**31 - 1, -2**31):
        assert run(public, {}, {}, {"p": p}) == run(optimized.program, {}, {}, {"p": p}) == [p & -8]
    secret = program("int32_al y = (x >> 3) << 3; output(CLIENT, y)")
    assert optimize(secret, output_scales={}).applications == ()  # a secret `&` costs 2 rounds, `>>` 1


def test_drop_final_rescale_decodes_the_output_at_more_bits() -> None:
    before = program("output(CLIENT, (a * b) >> 12)")
    key = outputs(before)[0].span.start
    optimized = optimize(before, output_scales={key: 12})
    assert output_values(optimized.program) == ["(a * b)"]
    assert optimized.output_scales == {key: 24}
    assert optimized.error_bound_ulps == {key: 1}
    assert [(a.rule, a.bound) for a in optimized.applications] == [("drop-final-rescale", 1)]
    for sample in SAMPLES:
        if abs(sample["a"] * sample["b"]) < 2**31:  # the rules' precondition: no value overflows
            exact, approx = run(before, {}, sample)[0], run(optimized.program, {}, sample)[0]
            assert abs(exact * 2**12 - approx) <= 2**12


@pytest.mark.parametrize("body, scale_of", [
    ("output(CLIENT, (a * b) >> 12)", None),       # an integer output: no decode scale to raise
    ("output(CLIENT, (a * b) >> 30)", 12),         # drop-final-rescale proves s in 0..24 only
])
def test_drop_final_rescale_does_not_fire(body: str, scale_of: Optional[int]) -> None:
    before = program(body)
    key = outputs(before)[0].span.start
    optimized = optimize(before, output_scales={} if scale_of is None else {key: scale_of})
    assert optimized.applications == ()


def test_a_rule_whose_text_is_not_certified_is_skipped_and_reported() -> None:
    changed = load_text("name: merge-rescales\nparams: w in {32, 64}, s1 in 0..30, s2 in 0..30\n"
                        "from: %y = rescale %x, s1 ; %z = rescale %y, s2\nto: %z = rescale %x, s1 + s2\n"
                        "bound: exact\n")
    before = program("int32_al y = (x >> 3) >> 4; output(CLIENT, y)")
    optimized = optimize(before, output_scales={}, rules=changed)
    assert optimized.applications == ()
    assert len(optimized.notes) == 1 and "rule `merge-rescales`" in optimized.notes[0]
    assert "not certified as proved" in optimized.notes[0]


def test_rules_compose_to_a_fixpoint() -> None:
    before = program("int32_al y = ((x >> 2) >> 3) > 0 ? ((x >> 2) >> 3) : 0; output(CLIENT, y)")
    optimized = optimize(before, output_scales={})
    assert value_of(optimized.program, "y") == "(((x > 0) ? x : 0) >> 5)"
    same_outputs(before, optimized.program)


def test_rewrites_keep_the_matched_root_span() -> None:
    before = program("int32_al y = (x >> 3) >> 4; output(CLIENT, y)")
    decl = next(s for s in before.globals[-1].body if isinstance(s, ast.Decl) and s.name == "y")
    optimized = optimize(before, output_scales={})
    after = next(s for s in optimized.program.globals[-1].body if isinstance(s, ast.Decl) and s.name == "y")
    assert after.init is not None and decl.init is not None
    assert after.init.span.text == "(x >> 3) >> 4"
    assert str(optimized.applications[0].span) == "t.ezpc:3:16"
