"""On random well-typed programs (tests/gen_programs.py: every label, operator and statement
form), the exact rules change no output: the engine sees through conversions and labels safely."""

from __future__ import annotations

from ezlang.passes.pipeline import check_source
from ezlang.passes.rewrite import optimize
from gen_programs import GeneratedProgram, input_values, programs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.source import SourceFile
from ezlang.types import Role


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(programs(), st.data())
def test_exact_rules_keep_every_output_of_generated_programs(generated: GeneratedProgram, data: st.DataObject) -> None:
    program = check_source(SourceFile("generated.ezpc", generated.text), bitlen=generated.bitlen).program
    assert program is not None
    optimized = optimize(program, output_scales={})
    assert all(a.bound == 0 for a in optimized.applications)
    values = data.draw(st.fixed_dictionaries({s.name: input_values(s) for s in generated.inputs}))
    sources = {role: InputSource.from_mapping({s.name: values[s.name] for s in generated.inputs if s.role is role})
               for role in Role}
    before = interpret(program, sources).outputs
    after = interpret(optimized.program, sources).outputs
    assert {r: [o.value for o in outs] for r, outs in before.items()} == \
        {r: [o.value for o in outs] for r, outs in after.items()}


SHIFT = st.integers(0, 31)


def _shapes(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """The shapes the rules rewrite, nested: truncations, ReLU, max, products by powers of two."""
    return st.one_of(
        st.builds(lambda e, k: f"({e} >> {k})", inner, SHIFT),
        st.builds(lambda e: f"({e} > 0 ? {e} : 0)", inner),
        st.builds(lambda e, f, ge: f"({e} {'>=' if ge else '>'} {f} ? {e} : {f})", inner, inner, st.booleans()),
        st.builds(lambda e, k: f"({e} * {2 ** k})", inner, st.integers(0, 30)),
        st.builds(lambda e, k: f"(({e} << {k}) >> {k})", inner, st.integers(0, 8)),
        st.builds(lambda e, k: f"(({e} >> {k}) << {k})", inner, st.integers(0, 8)),
    )


EXPRESSIONS = st.recursive(st.sampled_from(["x", "y", "p"]), _shapes, max_leaves=6)
INT32 = st.integers(-2**31, 2**31 - 1)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(EXPRESSIONS, INT32, INT32, INT32)
def test_exact_rules_keep_the_value_of_nested_rule_shapes(expr: str, x: int, y: int, p: int) -> None:
    text = ("def void main() {\n  input(CLIENT, x, int32_al);\n  input(CLIENT, y, int32_al);\n"
            f"  input(ALL, p, int32_pl);\n  int32_al r = {expr};\n  output(CLIENT, r)\n}}\n")
    program = check_source(SourceFile("shapes.ezpc", text)).program
    assert program is not None, text
    optimized = optimize(program, output_scales={})
    assert all(a.bound == 0 for a in optimized.applications)
    sources = {Role.CLIENT: InputSource.from_mapping({"x": x, "y": y}), Role.ALL: InputSource.from_mapping({"p": p}),
               Role.SERVER: InputSource.from_mapping({})}
    before = interpret(program, sources).outputs[Role.CLIENT][0].value
    assert interpret(optimized.program, sources).outputs[Role.CLIENT][0].value == before, expr
