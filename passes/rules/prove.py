"""Rules → z3 proof obligations, one per width of the rule's grid; results are values.

Assumes: rules validated by load.py. Guarantees: a rule is `proved` only if, for every width w
in its set, every parameter value in its ranges (quantified symbolically, not enumerated) and
every input satisfying `pre:`, the result of `to` equals that of `from` (exact), or differs by at
most the stated ulps at the result's scale (with `decode: s`, `to`'s result is read at s more
fractional bits). Otherwise the outcome carries a counterexample with every parameter, every
input and both results, or says that z3 gave up (which also fails the rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import z3
from ezlang.passes.rules import semantics
from ezlang.passes.rules.load import Param, Rule
from ezlang.passes.rules.semantics import Env


@dataclass(frozen=True)
class Counterexample:
    width: int
    params: tuple[tuple[str, int], ...]
    inputs: tuple[tuple[str, int], ...]
    source_result: int
    target_result: int


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    counterexample: Counterexample | None = None
    unknown: str = ""  # z3's reason when it could not decide

    @property
    def proved(self) -> bool:
        return self.counterexample is None and not self.unknown


def prove(rule: Rule, timeout_ms: int = 60_000) -> Outcome:
    width = next(p for p in rule.params if p.name == "w")
    for w in width.values:
        outcome = _prove_at(rule, w, timeout_ms)
        if not outcome.proved:
            return outcome
    return Outcome(rule)


def _prove_at(rule: Rule, w: int, timeout_ms: int) -> Outcome:
    env = _symbols(rule, w)
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(*_assumptions(rule, env))
    lhs = semantics.run(rule.source, env).values[rule.result]
    rhs = semantics.run(rule.target, env).values[rule.result]
    solver.add(z3.Not(_claim(rule, lhs, rhs, env)))
    verdict = solver.check()
    if verdict == z3.unsat:
        return Outcome(rule)
    if verdict == z3.unknown:
        return Outcome(rule, unknown=f"w={w}: {solver.reason_unknown()}")
    model = solver.model()
    return Outcome(rule, Counterexample(
        w, tuple((p.name, semantics.signed(model, env.params[p.name])) for p in rule.params),
        tuple((name, semantics.signed(model, env.values[name])) for name in rule.inputs),
        semantics.signed(model, lhs), semantics.signed(model, rhs)))


def _symbols(rule: Rule, w: int) -> Env:
    params = {p.name: semantics.param_symbol(f"{rule.name}.{p.name}", w) for p in rule.params}
    values = {name: semantics.value_symbol(name[1:], w) for name in rule.inputs}
    return Env(w, params, values)


def _assumptions(rule: Rule, env: Env) -> list[z3.BoolRef]:
    facts = [_in_range(p, env) for p in rule.params]
    return facts + [semantics.condition(c, env) for c in rule.pre]


def _in_range(param: Param, env: Env) -> z3.BoolRef:
    symbol = env.params[param.name]
    if param.name == "w":
        return symbol == env.width
    if param.values:
        return z3.Or(*[symbol == v for v in param.values])
    assert param.lo is not None and param.hi is not None
    return z3.And(semantics.integer(param.lo, env) <= symbol, symbol <= semantics.integer(param.hi, env))


def _claim(rule: Rule, lhs: z3.BitVecRef, rhs: z3.BitVecRef, env: Env) -> z3.BoolRef:
    if rule.ulps == 0 and rule.decode is None:
        return lhs == rhs
    scale = semantics.integer(rule.decode, env) if rule.decode is not None else z3.BitVecVal(0, env.domain)
    return semantics.within(lhs, rhs, rule.ulps, scale, env)


def scope(rule: Rule) -> str:
    """What a proof covers, e.g. `w∈{32,64}, s1,s2∈[0,24] (exact)`."""
    groups: list[tuple[list[str], str]] = []
    for param in rule.params:
        where = _domain_text(param)
        if groups and groups[-1][1] == where:
            groups[-1][0].append(param.name)
        else:
            groups.append(([param.name], where))
    text = ", ".join(f"{','.join(names)}∈{where}" for names, where in groups)
    if rule.pre:
        text += " when " + " && ".join(c.span.text for c in rule.pre)
    return f"{text} ({bound_text(rule)})"


def bound_text(rule: Rule) -> str:
    bound = "exact" if rule.ulps == 0 else f"within {rule.ulps} ulp"
    if rule.decode is not None:
        bound += f", decoded at {rule.decode.span.text} more fractional bits"
    return bound


def _domain_text(param: Param) -> str:
    if param.values:
        return "{" + ",".join(str(v) for v in param.values) + "}"
    assert param.lo is not None and param.hi is not None
    return f"[{param.lo.span.text},{param.hi.span.text}]"


def describe(outcome: Outcome) -> str:
    """One line for a proved rule; for a failed one, its location, the counterexample and both results."""
    rule = outcome.rule
    if outcome.proved:
        return f"{rule.name}: proved for {scope(rule)}"
    if outcome.counterexample is None:
        return f"{rule.span}: {rule.name}: not proved ({outcome.unknown}) for {scope(rule)}"
    cex = outcome.counterexample
    values = ", ".join(f"{name} = {value}" for name, value in cex.params + cex.inputs)
    return (f"{rule.span}: {rule.name}: refuted ({bound_text(rule)} claimed)\n"
            f"  counterexample: {values}\n"
            f"  from gives {rule.result} = {cex.source_result}; to gives {rule.result} = {cex.target_result}")


def as_json(outcome: Outcome) -> dict[str, object]:
    rule = outcome.rule
    record: dict[str, object] = {
        "rule": rule.name, "file": rule.span.file.name, "line": rule.span.line, "column": rule.span.col,
        "proved": outcome.proved, "scope": scope(rule), "counterexample": None, "unknown": outcome.unknown or None}
    cex = outcome.counterexample
    if cex is not None:
        record["counterexample"] = {"width": cex.width, "params": dict(cex.params), "inputs": dict(cex.inputs),
                                    "from": cex.source_result, "to": cex.target_result}
    return record
