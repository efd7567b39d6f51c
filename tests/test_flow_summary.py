"""Flow summary: what every output may reveal, with the exact sources, on typed programs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ezlang.diagnostics import render_text
from ezlang.inputs import InputSource
from ezlang.interp import InterpError, interpret
from ezlang.passes.flow_summary import OutputFlow, describe, summarize
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile, Span
from ezlang.syntax import ast
from ezlang.types import Base, Label, Role
from gen_programs import InputSpec, input_values, programs


def typed(text: str, *, library: bool = False) -> ast.Program:
    result = check_source(SourceFile("t.ezpc", text), library=library)
    assert result.program is not None, "\n".join(render_text(d) for d in result.diagnostics.items)
    return result.program


def explain(text: str, *, library: bool = False) -> list[str]:
    return [describe(flow) for flow in summarize(typed(text, library=library))]


def main(body: str, before: str = "") -> str:
    """A program whose main holds `body`, after the definitions in `before`."""
    return f"{before}def void main() {{\n{body}\n}}\n"


def test_millionaires_output_depends_on_both_fortunes() -> None:
    text = main("""input(SERVER, a, int32_al);
input(CLIENT, b, int32_al);
bool_bl richer = a > b;
output(CLIENT, richer)""")
    [flow] = summarize(typed(text))
    assert flow.recipient is Role.CLIENT
    assert flow.text == "richer"
    assert [(ref.role, ref.name, ref.span.line) for ref in flow.sources] == [(Role.SERVER, "a", 2), (Role.CLIENT, "b", 3)]
    assert describe(flow) == "output(CLIENT, richer) at t.ezpc:5 depends on SERVER:a and CLIENT:b"


def test_weights_times_input_lists_every_weight_and_the_input() -> None:
    text = main("""input(SERVER, b1, int32_al);
input(SERVER, W1, int32_al[2]);
input(CLIENT, x, int32_al[2]);
input(SERVER, unused, int32_al);
int32_al score = b1;
for i = [0:2] { score = score + W1[i] * x[i] };
output(CLIENT, score)""")
    assert explain(text) == ["output(CLIENT, score) at t.ezpc:8 depends on SERVER:W1,b1 and CLIENT:x"]


def test_an_output_of_constants_depends_on_no_party_input() -> None:
    text = main("""input(SERVER, a, int32_al);
int32_al z = 3;
output(ALL, z +  1)""")
    assert explain(text) == ["output(ALL, z + 1) at t.ezpc:4 depends on no party input"]


def test_reassignment_kills_the_earlier_dependency() -> None:
    text = main("""input(SERVER, a, int32_al);
input(CLIENT, b, int32_al);
int32_al x = a;
output(SERVER, x);
x = b;
output(SERVER, x)""")
    assert explain(text) == ["output(SERVER, x) at t.ezpc:5 depends on SERVER:a",
                             "output(SERVER, x) at t.ezpc:7 depends on CLIENT:b"]


def test_an_array_write_adds_to_the_whole_array_and_never_kills() -> None:
    text = main("""input(SERVER, a, int32_al);
input(CLIENT, b, int32_al);
int32_al[2] t;
t[0] = a;
t[0] = b;
output(SERVER, t[1])""")
    assert explain(text) == ["output(SERVER, t[1]) at t.ezpc:7 depends on SERVER:a and CLIENT:b"]


def test_an_array_written_through_a_function_parameter_flows_back() -> None:
    text = main("""input(CLIENT, b, int32_al);
int32_al[2] arr;
put(arr, b);
output(SERVER, arr[0])""", before="def void put(int32_al[2] t, int32_al v) { t[1] = v }\n")
    assert explain(text) == ["output(SERVER, arr[0]) at t.ezpc:6 depends on CLIENT:b"]


def test_a_scalar_argument_is_passed_by_value() -> None:
    text = main("""input(CLIENT, b, int32_al);
int32_al y = 1;
bump(y, b);
output(SERVER, y)""", before="def void bump(int32_al v, int32_al w) { v = w }\n")
    assert explain(text) == ["output(SERVER, y) at t.ezpc:6 depends on no party input"]


def test_aliased_array_arguments_see_each_others_writes() -> None:
    before = "def void g(int32_al[2] p, int32_al[2] q, int32_al[2] res, int32_al v) { p[0] = v; res[0] = q[1] }\n"
    text = main("""input(CLIENT, b, int32_al);
int32_al[2] arr;
int32_al[2] res;
g(arr, arr, res, b);
output(SERVER, res)""", before)
    assert explain(text) == ["output(SERVER, res) at t.ezpc:7 depends on CLIENT:b"]


def test_rows_of_one_array_count_as_aliases() -> None:
    before = "def void g(int32_al[2] p, int32_al[2] q, int32_al[2] res, int32_al v) { p[0] = v; res[0] = q[1] }\n"
    text = main("""input(CLIENT, b, int32_al);
int32_al[2][2] m;
int32_al[2] res;
g(m[0], m[1], res, b);
output(SERVER, res)""", before)
    assert explain(text) == ["output(SERVER, res) at t.ezpc:7 depends on CLIENT:b"]


def test_recursion_reaches_its_fixpoint() -> None:
    before = """def int32_al swap(int32_pl n, int32_al x, int32_al y) {
  int32_al r = x;
  if (n > 0) { r = swap(n - 1, y, x) };
  return r
}
"""
    text = main("""input(CLIENT, b, int32_al);
input(ALL, n, int32_pl);
int32_al z = 0;
output(SERVER, swap(n, z, b))""", before)
    assert explain(text) == ["output(SERVER, swap(n, z, b)) at t.ezpc:10 depends on CLIENT:b and ALL:n"]


def test_a_ternary_condition_flows_into_its_result() -> None:
    text = main("""input(CLIENT, c, bool_bl);
input(SERVER, s, int32_al);
int32_al y = c ? s : 0;
int32_al k = c ? 1 : 2;
output(SERVER, y);
output(SERVER, k)""")
    assert explain(text) == ["output(SERVER, y) at t.ezpc:6 depends on SERVER:s and CLIENT:c",
                             "output(SERVER, k) at t.ezpc:7 depends on CLIENT:c"]


def test_a_loop_carried_chain_needs_the_fixpoint() -> None:
    text = main("""input(CLIENT, b, int32_al);
int32_al x = 0;
int32_al y = 0;
int32_al z = 0;
for i = [0:3] { z = y; y = x; x = b };
output(SERVER, z)""")
    assert explain(text) == ["output(SERVER, z) at t.ezpc:7 depends on CLIENT:b"]


def test_a_while_loop_carries_values_and_its_public_condition() -> None:
    text = main("""input(CLIENT, b, int32_al);
input(ALL, n, int32_pl);
int32_al x = 0;
int32_al y = 0;
int32_pl i = 0;
while i < n { y = x; x = b; i = i + 1 };
output(SERVER, y)""")
    assert explain(text) == ["output(SERVER, y) at t.ezpc:8 depends on CLIENT:b and ALL:n"]


def test_shadowing_in_nested_scopes_tracks_declarations_not_names() -> None:
    text = main("""input(SERVER, x, int32_al);
input(CLIENT, c, int32_al);
int32_al y = 0;
for i = [0:2] { y = x; int32_al x = c; y = y + 0 };
if (true) { int32_al x = c } else { y = y };
output(SERVER, y);
output(SERVER, x)""")
    assert explain(text) == ["output(SERVER, y) at t.ezpc:7 depends on SERVER:x",
                             "output(SERVER, x) at t.ezpc:8 depends on SERVER:x"]


def test_a_bare_block_opens_no_scope() -> None:
    text = main("""input(CLIENT, c, int32_al);
{ int32_al w = c };
output(SERVER, w)""")
    assert explain(text) == ["output(SERVER, w) at t.ezpc:4 depends on CLIENT:c"]


def test_public_control_flow_carries_all_inputs() -> None:
    text = main("""input(ALL, n, int32_pl);
input(ALL, m, int32_pl);
input(ALL, k, int32_pl);
int32_al x = 0;
if (n > 3) { x = 1 };
int32_al count = 0;
for i = [0:m] { count = count + 1 };
output(CLIENT, x);
output(CLIENT, count);
if (k > 0) { output(SERVER, 7) }""")
    assert explain(text) == ["output(CLIENT, x) at t.ezpc:9 depends on ALL:n",
                             "output(CLIENT, count) at t.ezpc:10 depends on ALL:m",
                             "output(SERVER, 7) at t.ezpc:11 depends on ALL:k"]


def test_which_value_an_input_reads_depends_on_how_many_were_read_before() -> None:
    """With a sequential input file, `b` is the first or the second CLIENT value depending on n."""
    text = main("""input(ALL, n, int32_pl);
if (n > 0) { input(CLIENT, a, int32_al); output(SERVER, a) };
input(CLIENT, b, int32_al);
input(SERVER, s, int32_al);
output(SERVER, b);
output(CLIENT, s)""")
    assert explain(text) == ["output(SERVER, a) at t.ezpc:3 depends on CLIENT:a and ALL:n",
                             "output(SERVER, b) at t.ezpc:6 depends on CLIENT:b and ALL:n",
                             "output(CLIENT, s) at t.ezpc:7 depends on SERVER:s"]

def test_a_conditional_return_taints_what_follows_it() -> None:
    before = "def void f(int32_pl k, int32_al[1] t) { if (k > 0) { return }; t[0] = 1 }\n"
    text = main("""input(ALL, n, int32_pl);
int32_al[1] t;
f(n, t);
output(SERVER, t)""", before)
    assert explain(text) == ["output(SERVER, t) at t.ezpc:6 depends on ALL:n"]


def test_an_output_in_a_function_called_twice_is_listed_once_with_the_union() -> None:
    before = "def void show(int32_al v) { output(CLIENT, v) }\n"
    text = main("""input(SERVER, a, int32_al);
input(CLIENT, b, int32_al);
show(a);
show(b)""", before)
    assert explain(text) == ["output(CLIENT, v) at t.ezpc:1 depends on SERVER:a and CLIENT:b"]


def test_an_output_in_a_function_without_callers_names_its_parameters() -> None:
    text = "def void lib(int32_al v, int32_pl n) {\n  input(SERVER, s, int32_al);\n  output(CLIENT, v + s)\n}\n"
    [flow] = summarize(typed(text, library=True))
    assert [(p.function, p.name, p.secret) for p in flow.parameters] == [("lib", "v", True)]
    assert describe(flow) == ("output(CLIENT, v + s) at t.ezpc:3 depends on SERVER:s and "
                              "parameter v of lib (no caller in this program)")


def test_an_extern_may_write_every_non_const_array_argument() -> None:
    before = "extern void Mul(int32_al[2] a, const int32_al[2] b, int32_al[2] c);\n"
    text = main("""input(SERVER, w, int32_al[2]);
input(CLIENT, x, int32_al[2]);
int32_al[2] out;
Mul(w, x, out);
output(CLIENT, out);
output(CLIENT, x)""", before)
    assert explain(text) == ["output(CLIENT, out) at t.ezpc:7 depends on SERVER:w and CLIENT:x",
                             "output(CLIENT, x) at t.ezpc:8 depends on CLIENT:x"]


def test_sources_are_sorted_by_role_then_name_and_same_names_are_told_apart() -> None:
    before = "def int32_al one() { input(CLIENT, v, int32_al); return v }\n"
    text = main("""input(ALL, a, int32_pl);
input(CLIENT, v, int32_al);
input(SERVER, z, int32_al);
input(SERVER, m, int32_al);
output(SERVER, ((a + v) + (z + m)) + one())""", before)
    [flow] = summarize(typed(text))
    assert [str(ref) for ref in flow.sources] == ["SERVER:m", "SERVER:z", "CLIENT:v", "CLIENT:v", "ALL:a"]
    assert describe(flow).endswith("depends on SERVER:m,z, CLIENT:v@1,v@4 and ALL:a")


def test_outputs_are_listed_in_program_order() -> None:
    before = "def void early(int32_al v) { output(SERVER, v) }\n"
    text = main("""input(CLIENT, b, int32_al);
if (true) { output(CLIENT, 1) } else { output(CLIENT, 2) };
early(b)""", before)
    flows = summarize(typed(text))
    assert [(f.span.line, f.text) for f in flows] == [(1, "v"), (4, "1"), (4, "2")]
    assert all(isinstance(f, OutputFlow) for f in flows)


@pytest.mark.parametrize("label", ["al", "bl"])
def test_a_function_return_carries_its_arguments_and_its_own_inputs(label: str) -> None:
    before = f"def int32_{label} mix(int32_{label} p) {{ input(SERVER, s, int32_{label}); return p + s }}\n"
    text = main(f"""input(CLIENT, b, int32_{label});
int32_{label} r = mix(b);
output(CLIENT, r)""", before)
    assert explain(text) == ["output(CLIENT, r) at t.ezpc:5 depends on SERVER:s and CLIENT:b"]


def test_a_loop_nest_twelve_deep_still_reaches_the_fixpoint() -> None:
    body = "z = y; y = x; x = b"
    for depth in range(12):
        body = f"for i{depth} = [0:2] {{ {body} }}"
    text = main(f"""input(CLIENT, b, int32_al);
int32_al x = 0;
int32_al y = 0;
int32_al z = 0;
{body};
output(SERVER, z)""")
    assert explain(text) == ["output(SERVER, z) at t.ezpc:7 depends on CLIENT:b"]


def test_a_long_else_if_chain_joins_every_branch_without_recursing() -> None:
    chain = " else ".join(f"if (n == {i}) x = {i}" for i in range(2000))
    text = main(f"""input(ALL, n, int32_pl);
input(CLIENT, c, int32_al);
input(SERVER, s, int32_al);
int32_al x = c;
int32_al y = c;
{chain} else y = s;
output(SERVER, x);
output(SERVER, y)""")
    assert explain(text) == ["output(SERVER, x) at t.ezpc:8 depends on CLIENT:c and ALL:n",
                             "output(SERVER, y) at t.ezpc:9 depends on SERVER:s, CLIENT:c and ALL:n"]

def test_a_body_of_36000_statements_is_analysed_without_recursing_over_it() -> None:
    """The shape of the Athos look-up-table initialisers (§6.2 item 4), built as a tree directly
    because parsing a megabyte of text would dominate the test."""
    n = 36_000
    source = SourceFile("big.ezpc", "def void main() { }")
    at = Span(source, 0, 3)

    def int_(v: int) -> ast.IntLit:
        return ast.IntLit(at, v, Base.INT32)

    def element(name: str, i: int) -> ast.Index:
        return ast.Index(at, ast.Var(at, name), int_(i))

    array = ast.TypeNode(at, Base.INT32, Label.AL, (int_(n),))
    body: list[ast.Stmt] = [ast.Input(at, Role.SERVER, "s", at, array), ast.Decl(at, array, "table", at)]
    body += [ast.Assign(at, element("table", i), int_(7 * i)) for i in range(n)]
    body += [ast.Output(at, Role.CLIENT, ast.Var(at, "table")),
             ast.Assign(at, element("table", 3), element("s", 3)),
             ast.Output(at, Role.CLIENT, ast.Var(at, "table"))]
    program = ast.Program(source, (ast.FunDef(at, None, "main", at, (), tuple(body)),))
    assert [[str(ref) for ref in flow.sources] for flow in summarize(program)] == [[], ["SERVER:s"]]


# ---------------------------------------------------------------- against the interpreter

PROPERTY = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def observed(program: ast.Program, values: dict[str, Any], specs: tuple[InputSpec, ...]) -> dict[int, list[Any]]:
    """The values each output statement delivered, keyed by the statement's offset."""
    sources = {role: InputSource.from_mapping({s.name: values[s.name] for s in specs if s.role is role})
               for role in Role}
    result = interpret(program, sources)
    seen: dict[int, list[Any]] = {}
    for out in result.outputs[Role.SERVER] + result.outputs[Role.CLIENT]:
        seen.setdefault(out.span.start, []).append(out.value)
    return seen


@PROPERTY
@given(st.data())
def test_every_input_change_the_interpreter_observes_is_reported(data: st.DataObject) -> None:
    generated = data.draw(programs())
    program = check_source(SourceFile("g.ezpc", generated.text), bitlen=generated.bitlen).program
    assert program is not None
    values = {spec.name: data.draw(input_values(spec)) for spec in generated.inputs}
    changed = data.draw(st.sampled_from(generated.inputs))
    other = dict(values, **{changed.name: data.draw(input_values(changed))})
    try:
        before, after = observed(program, values, generated.inputs), observed(program, other, generated.inputs)
    except InterpError:
        assume(False)
    for flow in summarize(program):
        if before.get(flow.span.start) != after.get(flow.span.start):
            assert changed.name in {ref.name for ref in flow.sources}, describe(flow)
