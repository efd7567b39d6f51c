"""The rewrite rules: every shipped rule proves, every wrong variant is refuted by a genuine
counterexample (checked here by evaluating both sides with Python integers), parse errors point
at file:line:col, and `ezlang verify-rules` reports and exits accordingly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ezlang.passes.rules.load import (
    Expr,
    Inst,
    Neg,
    Num,
    ParamRef,
    Rule,
    VarRef,
    builtin_paths,
    load_file,
    load_text,
)
from ezlang.passes.rules.prove import Counterexample, prove

from ezlang.cli import main
from ezlang.diagnostics import CompileError

WRONG = Path(__file__).with_name("wrong.rules")
SHIPPED = [rule for path in builtin_paths() for rule in load_file(path)]
REFUTED = list(load_file(WRONG))


def _integer(expr: Expr, env: dict[str, int]) -> int:
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, (ParamRef, VarRef)):
        return env[expr.name]
    if isinstance(expr, Neg):
        return -_integer(expr.operand, env)
    left, right = _integer(expr.left, env), _integer(expr.right, env)
    return {"+": left + right, "-": left - right, "*": left * right, "^": 2 ** right}[expr.op]


def _wrap(value: int, w: int) -> int:
    value %= 2 ** w
    return value - 2 ** w if value >= 2 ** (w - 1) else value


def _step(inst: Inst, env: dict[str, int], w: int) -> int:
    args = [_wrap(_integer(a, env), w) for a in inst.args]
    unsigned = args[0] % 2 ** w
    ops = {
        "copy": lambda: args[0],
        "rescale": lambda: args[0] >> min(args[1] % 2 ** w, w),
        "lshr": lambda: unsigned >> min(args[1] % 2 ** w, w),
        "relu": lambda: max(args[0], 0),
        "max": lambda: max(args),
        "add": lambda: args[0] + args[1],
        "sub": lambda: args[0] - args[1],
        "mul": lambda: args[0] * args[1],
        "shl": lambda: args[0] << min(args[1] % 2 ** w, w),
        "and": lambda: args[0] & args[1],
    }
    return _wrap(ops[inst.op](), w)


def _run(insts: tuple[Inst, ...], env: dict[str, int], w: int) -> int:
    env = dict(env)
    for inst in insts:
        env[inst.dest] = _step(inst, env, w)
    return env[insts[-1].dest]


def _holds(rule: Rule, env: dict[str, int]) -> bool:
    for cond in rule.pre:
        terms = [_integer(t, env) for t in cond.terms]
        for op, a, b in zip(cond.ops, terms, terms[1:]):
            if not {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]:
                return False
    return True


def _violates(rule: Rule, cex: Counterexample) -> bool:
    env = dict(cex.params + cex.inputs)
    lhs, rhs = _run(rule.source, env, cex.width), _run(rule.target, env, cex.width)
    assert (lhs, rhs) == (cex.source_result, cex.target_result)
    scale = _integer(rule.decode, env) if rule.decode is not None else 0
    return abs(lhs * 2 ** scale - rhs) > rule.ulps * 2 ** scale


def _param_in_range(rule: Rule, cex: Counterexample) -> bool:
    env = dict(cex.params)
    for param in rule.params:
        value = env[param.name]
        if param.values and value not in param.values:
            return False
        if param.lo is not None and param.hi is not None and not _integer(param.lo, env) <= value <= _integer(param.hi, env):
            return False
    return env["w"] == cex.width


@pytest.mark.parametrize("rule", SHIPPED, ids=lambda r: r.name)
def test_shipped_rule_proves(rule: Rule) -> None:
    outcome = prove(rule)
    assert outcome.proved, outcome


def test_the_issue_rules_are_all_shipped() -> None:
    assert {r.name for r in SHIPPED} >= {
        "merge-rescales", "rescale-past-relu", "rescale-past-max", "sum-of-products", "drop-final-rescale",
        "mul-pow2-to-shl", "shl-then-rescale", "rescale-then-shl"}


@pytest.mark.parametrize("rule", REFUTED, ids=lambda r: r.name)
def test_wrong_rule_refuted_by_a_real_counterexample(rule: Rule) -> None:
    cex = prove(rule).counterexample
    assert cex is not None
    env = dict(cex.params + cex.inputs)
    assert {name for name, _ in cex.inputs} == set(rule.inputs)
    assert all(-2 ** (cex.width - 1) <= value < 2 ** (cex.width - 1) for _, value in cex.inputs)
    assert _param_in_range(rule, cex)
    assert _holds(rule, env)
    assert _violates(rule, cex)


def test_python_evaluator_agrees_on_a_known_case() -> None:
    rule = next(r for r in SHIPPED if r.name == "merge-rescales")
    env = {"w": 32, "s1": 3, "s2": 2, "%x": -100}
    assert _run(rule.source, env, 32) == _run(rule.target, env, 32) == -4


@pytest.mark.parametrize("text, where, message", [
    ("name: r\nparams: w in {32}\nfrom: %z = frob %x\nto: %z = %x\nbound: exact\n", "<rules>:3:17", "unexpected VAR"),
    ("name: r\nparams: w in {32}\nfrom: %z = rescale %x, s\nto: %z = %x\nbound: exact\n", "<rules>:3:24",
     "unknown parameter `s`"),
    ("name: r\nparams: w in {32}\nfrom: %z = relu %x\nto: %z = relu %y\nbound: exact\n", "<rules>:4:15",
     "%y is not available"),
    ("name: r\nparams: w in {32}\nfrom: %z = relu %x, %x\nto: %z = %x\nbound: exact\n", "<rules>:3:7",
     "takes 1 operand"),
    ("name: r\nparams: k in 0..3\nfrom: %z = relu %x\nto: %z = %x\nbound: exact\n", "<rules>:1:1",
     "needs a width parameter"),
    ("name: r\nparams: w in {32}\nfrom: %z = relu %x\n", "<rules>:3:", "unexpected end"),
])
def test_parse_errors_point_at_file_line_col(text: str, where: str, message: str) -> None:
    with pytest.raises(CompileError) as caught:
        load_text(text)
    diag = caught.value.diagnostics.items[0]
    assert str(diag.span).startswith(where)
    assert message in diag.message


def test_cli_proves_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "merge-rescales: proved for w∈{32,64}, s1,s2∈[0,24] (exact)" in lines
    assert "sum-of-products: proved for w∈{32,64}, s∈[0,24] when -2^(w-1) <= %p + %q < 2^(w-1) (within 1 ulp)" in lines
    assert len(lines) == len(SHIPPED)


def test_cli_reports_refutation_with_location(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-rules", "--rules", str(WRONG)]) == 1
    out = capsys.readouterr().out
    assert f"{WRONG}:4:1: merge-rescales-logical: refuted (exact claimed)" in out
    assert "  counterexample: w = " in out and "  from gives %z = " in out and "; to gives %z = " in out


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-rules", "--rules", str(WRONG), "--format", "json"]) == 1
    records = json.loads(capsys.readouterr().out)["rules"]
    assert [r["rule"] for r in records] == [r.name for r in REFUTED]
    first = records[0]
    assert (first["line"], first["column"], first["proved"]) == (4, 1, False)
    assert set(first["counterexample"]) == {"width", "params", "inputs", "from", "to"}


def test_cli_malformed_rule_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text("name: r\nparams: w in {32}\nfrom: %z = frob %x\n")
    assert main(["verify-rules", "--rules", str(bad)]) == 1
    assert f"{bad}:3:17: error[E0150]" in capsys.readouterr().err


def test_cli_missing_rule_file(tmp_path: Path) -> None:
    assert main(["verify-rules", "--rules", str(tmp_path / "none.rules")]) == 2
