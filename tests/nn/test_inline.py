"""The inlining pass (ezlang/passes/inline.py): calls of `inline def` functions become their
bodies, with the same outputs and run-time errors, and only the calls it cannot inline stay."""

from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.interp.result import InterpError
from ezlang.passes.inline import inline_calls
from ezlang.passes.pipeline import check_source
from ezlang.passes.scales import lower_fixed
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role

from gen_programs import GeneratedProgram, input_values, programs
from nn_support import Tensor, checked, layer_program

GENERATED = settings(max_examples=100, derandomize=True, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow])


def typed(text: str, bitlen: int = 32) -> ast.Program:
    result = check_source(SourceFile("t.ezpc", text), bitlen=bitlen)
    assert result.program is not None, [str(d) for d in result.diagnostics.items]
    return result.program


def outcome(program: ast.Program, inputs: Optional[dict[Role, dict[str, Any]]] = None) -> Any:
    """Every role's output values, or the run-time error (code, position, message)."""
    sources = {role: InputSource.from_mapping((inputs or {}).get(role, {})) for role in Role}
    try:
        result = interpret(program, sources)
    except InterpError as error:
        d = error.diagnostic
        return ("error", d.code, str(d.span), d.message)
    return {role: [out.value for out in values] for role, values in result.outputs.items() if values}


def statements(body: tuple[ast.Stmt, ...]) -> Iterator[ast.Stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.For, ast.While, ast.Block)):
            yield from statements(stmt.body)
        elif isinstance(stmt, ast.If):
            yield from statements((stmt.then,) if stmt.other is None else (stmt.then, stmt.other))


def main_of(program: ast.Program) -> tuple[ast.Stmt, ...]:
    return program.globals[-1].body  # type: ignore[union-attr]


def calls(program: ast.Program) -> list[str]:
    return [s.name for g in program.globals if isinstance(g, ast.FunDef)
            for s in statements(g.body) if isinstance(s, ast.CallStmt)]


def functions(program: ast.Program) -> list[str]:
    return [g.name for g in program.globals if isinstance(g, ast.FunDef)]


ADD = """
inline def void addTo(int32_pl n, int32_al[n] A, int32_al x) {
  for i = [0:n] { A[i] = A[i] + x }
}
"""


def test_a_call_becomes_the_body_with_public_arguments_substituted_and_others_bound() -> None:
    program = typed(ADD + """
def void main() {
  input(CLIENT, s, int32_al);
  int32_al[3] a;
  int32_pl m = 2;
  addTo(m + 1, a, s * 2);
  output(CLIENT, a)
}""")
    inlined = inline_calls(program)
    assert calls(inlined) == [] and functions(inlined) == ["main"]
    body = main_of(inlined)
    bound, loop = body[3], body[4]
    assert isinstance(bound, ast.Decl) and bound.name == "x.1" and bound.init is not None
    assert bound.init.span.text == "s * 2"
    assert isinstance(loop, ast.For) and loop.var == "i.1" and loop.hi.span.text == "m + 1"
    assert [s.target.span.text for s in statements(loop.body) if isinstance(s, ast.Assign)] == ["A[i]"]
    inputs = {Role.CLIENT: {"s": 5}}
    assert outcome(inlined, inputs) == outcome(program, inputs) == {Role.CLIENT: [[10, 10, 10]]}


def test_an_assigned_parameter_or_an_argument_that_can_fail_becomes_a_local() -> None:
    program = typed("""
inline def void count(int32_pl n, int32_pl k, int32_al[4] A) {
  n = n + 1;
  A[0] = A[0] + n;
  A[1] = A[1] + k
}
def void main() {
  int32_pl m = 1;
  int32_al[4] a;
  count(m, m << 1, a);
  count(m, 3, a);
  output(CLIENT, a)
}""")
    inlined = inline_calls(program)
    decls = [s.name for s in statements(main_of(inlined)) if isinstance(s, ast.Decl)]
    assert decls == ["m", "a", "n.1", "k.1", "n.2"]
    assert outcome(inlined) == outcome(program) == {Role.CLIENT: [[4, 5, 0, 0]]}


def test_calls_it_cannot_inline_stay_calls() -> None:
    program = typed("""
int32 G = 7;
inline def void rec(int32_pl n, int32_al[2] A) {
  if (n > 0) { A[0] = A[0] + n; rec(n - 1, A) }
}
inline def void say(int32_al x) { output(CLIENT, x) }
inline def void readG(int32_al[2] A) { A[1] = A[1] + G }
inline def void row(int32_al[2] A) { A[0] = A[0] + 1 }
def void main() {
  int32_al[2] a;
  int32_al[2][2] m;
  rec(3, a);
  say(a[0]);
  row(m[1]);
  int32_pl G = 1;
  readG(a);
  output(CLIENT, a);
  output(CLIENT, m)
}""")
    inlined = inline_calls(program)
    assert calls(inlined) == ["rec", "rec", "say", "row", "readG"]
    assert functions(inlined) == ["rec", "say", "readG", "row", "main"]
    assert outcome(inlined) == outcome(program) == {Role.CLIENT: [6, [6, 7], [[0, 0], [1, 0]]]}


def test_inline_functions_calling_inline_functions_are_expanded_with_distinct_names() -> None:
    program = typed(ADD + """
inline def void twice(int32_pl n, int32_al[n] A, int32_al x) {
  int32_al y = x + 1;
  addTo(n, A, y);
  addTo(n, A, y)
}
def void main() {
  input(CLIENT, s, int32_al);
  int32_al[2] a;
  twice(2, a, s);
  if (true) twice(2, a, s);
  output(CLIENT, a)
}""")
    inlined = inline_calls(program)
    assert calls(inlined) == [] and functions(inlined) == ["main"]
    names = [s.name if isinstance(s, ast.Decl) else s.var for s in statements(main_of(inlined))
             if isinstance(s, (ast.Decl, ast.For))]
    assert len(names) == len(set(names)) and all(re.fullmatch(r"[a-z]+(\.\d+)*", n) for n in names)
    branch = next(s for s in main_of(inlined) if isinstance(s, ast.If)).then
    assert isinstance(branch, ast.Block)
    inputs = {Role.CLIENT: {"s": 1}}
    assert outcome(inlined, inputs) == outcome(program, inputs) == {Role.CLIENT: [[8, 8]]}


def test_a_run_time_error_in_an_inlined_body_is_reported_where_the_callee_fails() -> None:
    program = typed("""
inline def void poke(int32_pl n, int32_al[n] A) {
  A[n] = 1
}
def void main() {
  int32_al[3] a;
  poke(3, a);
  output(CLIENT, a)
}""")
    failure = outcome(program)
    assert failure[0] == "error" and failure[2] == "t.ezpc:3:3"
    assert outcome(inline_calls(program)) == failure


def test_a_program_without_inline_functions_is_returned_as_it_is() -> None:
    program = typed("def void f(int32_al[1] A) { A[0] = 1 }\ndef void main() { int32_al[1] a; f(a) }")
    assert inline_calls(program) is program


@GENERATED
@given(programs(), st.data())
def test_inlining_keeps_the_outputs_of_generated_programs(generated: GeneratedProgram, data: st.DataObject) -> None:
    text = re.sub(r"^def void (f\d+)", r"inline def void \1", generated.text, flags=re.MULTILINE)
    program = typed(text, generated.bitlen)
    inlined = inline_calls(program)
    if inlined is program:
        return  # nothing to inline: the very same program
    values = data.draw(st.fixed_dictionaries({s.name: input_values(s) for s in generated.inputs}), label="inputs")
    inputs = {role: {s.name: values[s.name] for s in generated.inputs_of(role)} for role in Role}
    assert outcome(inlined, inputs) == outcome(program, inputs)


def test_inlining_keeps_the_outputs_of_library_layers() -> None:
    """The lowered program of a small CNN, run with and without inlining: the same integers."""
    rng = __import__("numpy").random.default_rng(7)
    tensors = {"X": Tensor(rng.uniform(-1, 1, 36), Role.CLIENT), "Wt": Tensor(rng.uniform(-1, 1, 18)),
               "B": Tensor(rng.uniform(-1, 1, 2)), "W": Tensor(rng.uniform(-1, 1, 24)),
               "C": Tensor(rng.uniform(-1, 1, 3))}
    text = layer_program(
        ["ConvRelu", "MaxPool", "Gemm", "Sigmoid", "Softmax", "ArgMax"],
        ["ConvRelu(1, 1, 1, 6, 6, 2, 1, 3, 3, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, X, Wt, B, H)",
         "MaxPool(1, 2, 1, 4, 4, 1, 2, 2, 0, 0, 0, 0, 0, 0, 1, 2, 2, 1, 1, 1, H, P)",
         "Gemm(1, 8, 3, P, W, C, Y)", "Sigmoid(3, Y, S)", "Softmax(1, 3, Y, Q)", "ArgMax(1, 3, Y, L)"],
        tensors, {"H": "fixed_al[32]", "P": "fixed_al[8]", "Y": "fixed_al[3]", "S": "fixed_al[3]",
                  "Q": "fixed_al[3]", "L": "fixed<0>_al[1]"})
    lowered = lower_fixed(checked(text), bitlen=32).program
    from ezlang.fixed import encode
    inputs = {t.role: {} for t in tensors.values()}
    for name, t in tensors.items():
        inputs[t.role][name] = [encode(v, 12) for v in t.values]
    inlined = inline_calls(lowered)
    assert calls(inlined) == [] and functions(inlined) == ["main"]
    assert outcome(inlined, inputs) == outcome(lowered, inputs)
