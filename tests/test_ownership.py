"""Ownership: which parties know each value in the clear, on typed programs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings

from ezlang.diagnostics import render_text
from ezlang.passes.dependencies import analyze
from ezlang.passes.ownership import BOTH, Ownership, known_to, ownership_of_variables
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role
from gen_programs import GeneratedProgram, programs

S = frozenset({Role.SERVER})
C = frozenset({Role.CLIENT})
NOBODY: frozenset[Role] = frozenset()

_EXPRS = (ast.IntLit, ast.FloatLit, ast.BoolLit, ast.RoleLit, ast.Var, ast.Index, ast.Call, ast.Binary,
          ast.Unary, ast.Ternary, ast.Subsume, ast.Convert)


def typed(text: str, *, library: bool = False) -> ast.Program:
    result = check_source(SourceFile("t.ezpc", text), library=library)
    assert result.program is not None, "\n".join(render_text(d) for d in result.diagnostics.items)
    return result.program


def owned(text: str, *, library: bool = False, pass_: Ownership | None = None) -> ast.Program:
    return (pass_ or Ownership()).run(typed(text, library=library))


def nodes(root: Any) -> Iterator[Any]:
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack.extend(node)
        elif is_dataclass(node) and type(node).__module__ == ast.__name__:
            yield node
            stack.extend(getattr(node, f.name) for f in fields(node) if f.name not in ("ty", "known_to"))


def known(program: ast.Program, text: str, kind: type = ast.Binary) -> set[frozenset[Role]]:
    """known_to of every `kind` node whose source text is `text` (one set per distinct answer)."""
    found = {node.known_to for node in nodes(program) if isinstance(node, kind) and node.span.text == text}
    assert found, f"no {kind.__name__} `{text}`"
    return found


WEIGHTS = """def void main() {
  input(SERVER, w, int32_al[3]);
  input(CLIENT, x, int32_al[3]);
  int32_pl scale = 2;
  int32_al acc = 0;
  for i = [0:3] { acc = acc + (w[i] * scale) * x[i] };
  int32_al s = w[0];
  int32_al t = s + 1;
  s = s * x[0];
  int32_al u = s + 1;
  output(CLIENT, acc + t + u)
}
"""


def test_weights_times_input_has_a_server_only_left_operand_and_a_mixed_product() -> None:
    program = owned(WEIGHTS)
    assert known(program, "(w[i] * scale)") == {S}
    assert known(program, "w[i]", ast.Index) == {S}
    assert known(program, "x[i]", ast.Index) == {C}
    assert known(program, "(w[i] * scale) * x[i]") == {NOBODY}
    assert known(program, "acc + (w[i] * scale) * x[i]") == {NOBODY}
    assert known(program, "scale", ast.Var) == {BOTH}
    assert known(program, "i", ast.Var) == {BOTH}


def test_a_constant_converted_to_secret_is_known_to_both() -> None:
    program = owned(WEIGHTS)
    assert known(program, "0", ast.Convert) == {BOTH}
    assert known(program, "scale", ast.Convert) == {BOTH}


def test_ownership_is_flow_sensitive_for_scalars() -> None:
    program = owned(WEIGHTS)
    assert known(program, "s + 1") == {S, NOBODY}
    [before, after] = sorted((n for n in nodes(program) if isinstance(n, ast.Binary) and n.span.text == "s + 1"),
                             key=lambda n: n.span.start)
    assert (before.known_to, after.known_to) == (S, NOBODY)


def test_every_expression_gets_known_to_and_the_input_is_left_alone() -> None:
    program = typed(WEIGHTS)
    result = Ownership().run(program)
    assert result == program
    assert all(n.known_to is None for n in nodes(program) if isinstance(n, _EXPRS))
    exprs = [n for n in nodes(result) if isinstance(n, _EXPRS)]
    assert len(exprs) > 40
    assert all(isinstance(n.known_to, frozenset) for n in exprs)
    assert Ownership.name == "ownership"


def test_variables_summarise_every_value_they_held() -> None:
    program = typed(WEIGHTS)
    by_name = {var.name: who for var, who in ownership_of_variables(program).items()}
    assert by_name == {"w": S, "x": C, "scale": BOTH, "acc": NOBODY, "i": BOTH, "s": NOBODY, "t": S, "u": NOBODY}


DOT = "def int32_al dot(const int32_al[2] a, const int32_al[2] b) { return a[0] * b[0] + a[1] * b[1] }\n"


def dot_program(calls: str) -> str:
    return DOT + f"""def void main() {{
  input(SERVER, w, int32_al[2]);
  input(CLIENT, x, int32_al[2]);
  {calls}
}}
"""


def test_a_function_body_takes_the_union_of_its_call_sites() -> None:
    only_server = owned(dot_program("output(SERVER, dot(w, w))"))
    assert known(only_server, "a[0] * b[0]") == {S}
    one_each = owned(dot_program("output(SERVER, dot(w, x))"))
    assert known(one_each, "a[0]", ast.Index) == {S}
    assert known(one_each, "b[0]", ast.Index) == {C}
    assert known(one_each, "a[0] * b[0]") == {NOBODY}
    both_ways = owned(dot_program("output(SERVER, dot(w, x) + dot(x, w))"))
    assert known(both_ways, "a[0]", ast.Index) == {NOBODY}


def test_public_inputs_are_known_to_both_even_when_made_secret() -> None:
    program = owned("""def void main() {
  input(ALL, n, int32_pl);
  int32_al y = n;
  output(CLIENT, y * y)
}
""")
    assert known(program, "n", ast.Convert) == {BOTH}
    assert known(program, "y * y") == {BOTH}


def test_a_secret_ternary_condition_decides_who_knows_the_result() -> None:
    program = owned("""def void main() {
  input(SERVER, s, int32_al);
  input(CLIENT, c, bool_bl);
  input(SERVER, d, bool_bl);
  int32_al y = c ? 1 : 2;
  int32_al z = d ? s : 3;
  output(CLIENT, y + z)
}
""")
    assert known(program, "c ? 1 : 2", ast.Ternary) == {C}
    assert known(program, "d ? s : 3", ast.Ternary) == {S}
    assert known(program, "y + z") == {NOBODY}


def test_a_function_without_callers_knows_nothing_of_its_secret_parameters() -> None:
    program = owned("""def int32_al lib(int32_al v, int32_pl n) {
  input(SERVER, k, int32_al);
  int32_al m = n;
  return (v + k) + (m + k)
}
""", library=True)
    assert known(program, "(v + k)") == {NOBODY}
    assert known(program, "(m + k)") == {S}
    assert known(program, "n", ast.Convert) == {BOTH}


EXTERN = """extern void MatMul(int32_al[2] a, int32_al[2] b, int32_al[2] c);
def void main() {
  input(SERVER, w, int32_al[2]);
  input(CLIENT, x, int32_al[2]);
  int32_al[2] out;
  MatMul(w, x, out);
  output(SERVER, w[1] + w[0]);
  output(CLIENT, out[1] + out[0])
}
"""


def test_an_extern_is_assumed_to_write_all_its_arrays_unless_told_otherwise() -> None:
    assert known(owned(EXTERN), "w[1] + w[0]") == {NOBODY}
    precise = Ownership(extern_writes=(("MatMul", frozenset({2})),))
    assert known(owned(EXTERN, pass_=precise), "w[1] + w[0]") == {S}
    assert known(owned(EXTERN, pass_=precise), "out[1] + out[0]") == {NOBODY}


def test_the_sources_behind_an_answer_can_be_asked_for() -> None:
    program = typed(dot_program("output(SERVER, dot(w, x))"))
    deps = analyze(program)
    [product] = [n for n in nodes(program) if isinstance(n, ast.Binary) and n.span.text == "a[0] * b[0]"]
    sources = deps.of_expr(product)
    assert sources is not None
    assert sorted(str(ref) for ref in sources.inputs) == ["CLIENT:x", "SERVER:w"]
    assert known_to(product, deps) == NOBODY


def test_a_long_else_if_chain_is_annotated_without_recursing() -> None:
    chain = " else ".join(f"if (n == {i}) x = x + {i}" for i in range(2000))
    program = owned(f"def void main() {{ input(ALL, n, int32_pl); input(SERVER, x, int32_al); {chain} }}")
    assert known(program, "x + 1999") == {S}
    assert known(program, "n == 1999") == {BOTH}


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_generated_programs_get_known_to_on_every_expression(generated: GeneratedProgram) -> None:
    program = check_source(SourceFile("g.ezpc", generated.text), bitlen=generated.bitlen).program
    assert program is not None
    exprs = [n for n in nodes(Ownership().run(program)) if isinstance(n, _EXPRS)]
    assert exprs and all(isinstance(n.known_to, frozenset) for n in exprs)
