"""Round batching (passes/batch_rounds.py, ezlang/codegen/batch.py): what is hoisted, and compiled
code that keeps the program's outputs and errors (cleartext backend, against the interpreter)."""

from __future__ import annotations

from typing import Any, Mapping

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ezlang.codegen import compile_program, host_target
from ezlang.inputs import InputSource
from ezlang.interp import InterpError, interpret
from ezlang.passes.batch_rounds import batch_loop, batch_rounds
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role

from gen_programs import GeneratedProgram, input_values, programs

TARGET = host_target()
DIFFERENTIAL = settings(max_examples=120, derandomize=True, deadline=None, database=None,
                        suppress_health_check=[HealthCheck.too_slow])


def typed(text: str) -> ast.Program:
    result = check_source(SourceFile("batch.ezpc", text))
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


def main_body(program: ast.Program) -> tuple[ast.Stmt, ...]:
    return next(g for g in program.globals if isinstance(g, ast.FunDef) and g.name == "main").body


def batch_groups(program: ast.Program) -> list[list[str]]:
    """The source text of the operations of each batch loop of `main` (one runtime call per call
    kind each), in the order of the batch loops."""
    found: list[list[str]] = []

    def walk(stmts: tuple[ast.Stmt, ...]) -> None:
        for stmt in stmts:
            if isinstance(stmt, ast.For):
                plan = batch_loop(stmt)
                if plan is not None:
                    found.append([value.span.text for _, value in plan.items])
                else:
                    walk(stmt.body)
    walk(main_body(batch_rounds(program)))
    return found


def batched_ops(program: ast.Program) -> list[str]:
    """The source text of every batched operation of `main`, in the order of the batch loops."""
    return [text for group in batch_groups(program) for text in group]


def sources(server: Mapping[str, Any], client: Mapping[str, Any]) -> dict[Role, InputSource]:
    return {Role.SERVER: InputSource.from_mapping(server), Role.CLIENT: InputSource.from_mapping(client),
            Role.ALL: InputSource.from_mapping({})}


def outcome(run: Any) -> Any:
    try:
        result = run()
    except InterpError as error:
        return ("error", error.diagnostic)
    return ("ok", result.outputs, result.warnings)


def agrees(program: ast.Program, inputs: Mapping[Role, InputSource]) -> Any:
    """Compiled code of the batched program does what the interpreter does with the original."""
    expected = outcome(lambda: interpret(program, inputs))
    assert outcome(lambda: compile_program(batch_rounds(program), target=TARGET).run(inputs)) == expected
    return expected


PROGRAM = """
def void main() {
  input(SERVER, a, int32_al[4]);
  input(CLIENT, b, int32_al[4]);
  int32_al acc = 0;
  BODY;
  output(CLIENT, acc)
}
"""


def loop(body: str) -> ast.Program:
    return typed(PROGRAM.replace("BODY", body))


# ---------------------------------------------------------------- what is hoisted


def test_a_dot_product_becomes_one_batched_multiplication() -> None:
    program = loop("for i = [0:4] { acc = acc + a[i] * b[i] }")
    assert batched_ops(program) == ["a[i] * b[i]"]


def test_nested_operations_become_successive_batches() -> None:
    program = loop("bool_bl[4] c; for i = [0:4] { c[i] = (a[i] * b[i]) < (a[i] == b[i] ? a[i] : b[i]) }")
    assert batched_ops(program) == ["(a[i] * b[i])", "a[i] == b[i]", "(a[i] == b[i] ? a[i] : b[i])",
                                    "(a[i] * b[i]) < (a[i] == b[i] ? a[i] : b[i])"]


def test_a_loop_carried_product_is_not_batched() -> None:
    program = loop("acc = 1; for i = [0:4] { acc = acc * a[i] }")
    assert batch_rounds(program) == program


def test_local_and_public_operations_are_not_batched() -> None:
    program = loop("for i = [0:4] { acc = acc + a[i] * 3 +_al (a[i] << 2) - b[i]; acc = acc + (i < 2 ? a[i] : b[i]) }")
    assert batch_rounds(program) == program


def test_operands_the_loop_changes_are_not_batched() -> None:
    assigned = "int32_al s = 0; for i = [0:4] { s = a[i]; acc = acc + s * b[i] }"
    declared = "for i = [0:4] { int32_al s = a[i]; acc = acc + s * b[i] }"
    written = "for i = [0:4] { a[i] = b[i]; acc = acc + a[i] * b[i] }"
    called = "for i = [0:4] { acc = acc + a[i] * f(b) }"
    passed = "for i = [0:4] { acc = acc + a[i] * b[i]; g(b) }"
    invariant = "for i = [0:4] { acc = acc + a[0] * b[1] }"
    functions = "def int32_al f(const int32_al[4] v) { return v[1] }\ndef void g(int32_al[4] v) { v[0] = 1 }\n"
    for body in (assigned, declared, written, called, passed, invariant):
        program = typed(functions + PROGRAM.replace("BODY", body))
        assert batched_ops(program) == [], body


def test_writing_one_array_parameter_stops_batching_of_all_of_them() -> None:
    text = """
    def void scale(int32_al[4] x, int32_al[4] y, int32_al[4] z) {
      for i = [0:4] { x[i] = y[i] * z[i] }
    }
    def void main() {
      input(SERVER, a, int32_al[4]);
      scale(a, a, a);
      output(CLIENT, a)
    }
    """
    program = typed(text)
    assert batch_rounds(program) == program
    assert agrees(program, sources({"a": [1, 2, 3, 4]}, {}))[1][Role.CLIENT][0].value == [1, 4, 9, 16]


def test_an_inner_loop_operation_on_the_outer_variable_is_batched_by_the_outer_loop() -> None:
    program = loop("for i = [0:4] { for j = [0:3] { acc = acc + a[i] * b[i] + a[j] * b[j] } }")
    # the inner loop's product is batched over the whole nest (lifted first), the outer one's over i
    assert batched_ops(program) == ["a[j] * b[j]", "a[i] * b[i]"]
    assert agrees(program, sources({"a": [1, 2, 3, 4]}, {"b": [5, 6, 7, 8]}))[0] == "ok"


NEWER = """
def void main() {
  input(SERVER, a, int32_al[4]);
  input(CLIENT, b, int32_al[4]);
  input(SERVER, v, uint32_al[4]);
  int32_pl s = SHIFT;
  int32_al[4] c; int32_al[4] d; int32_al[4] f; int32_al[4] g; int32_al[4] h; int32_al[4] m; int32_al[4] q;
  uint32_al[4] u;
  for i = [0:4] {
    c[i] = a[i] & b[i]; d[i] = a[i] | b[i]; f[i] = a[i] ^ b[i]; g[i] = a[i] / b[i]; h[i] = a[i] % b[i];
    m[i] = a[i] >> s; q[i] = (a[i] >>> s) / 3; u[i] = v[i] / v[3 - i]
  };
  output(CLIENT, c); output(CLIENT, d); output(CLIENT, f); output(CLIENT, g); output(CLIENT, h);
  output(CLIENT, m); output(CLIENT, q); output(CLIENT, u)
}
"""


def test_bitwise_shift_and_division_are_batched_one_call_per_kind_and_level() -> None:
    assert batch_groups(typed(NEWER.replace("SHIFT", "3"))) == [
        ["a[i] & b[i]", "a[i] | b[i]", "a[i] ^ b[i]"], ["a[i] / b[i]", "a[i] % b[i]"], ["a[i] >> s"],
        ["(a[i] >>> s)"], ["v[i] / v[3 - i]"], ["(a[i] >>> s) / 3"]]


def test_independent_operations_of_one_level_share_a_batch_loop() -> None:
    program = loop("bool_bl[4] c; for i = [0:4] { acc = acc + a[i] * b[i] + a[i] * a[i]; "
                   "c[i] = (a[i] < b[i]) && (b[i] >= a[i] * 2) }")
    assert batch_groups(program) == [["a[i] * b[i]", "a[i] * a[i]"], ["(a[i] < b[i])", "(b[i] >= a[i] * 2)"],
                                     ["(a[i] < b[i]) && (b[i] >= a[i] * 2)"]]


def test_a_shift_by_the_loop_variable_is_not_batched() -> None:
    program = loop("for i = [0:4] { acc = acc +_al (a[i] >> i) }")
    assert batch_rounds(program) == program


def test_batched_bitwise_shift_and_division_compute_what_the_interpreter_computes() -> None:
    inputs = sources({"a": [-7, 2147483647, -2147483648, 12], "v": [4000000000, 7, 0, 3]}, {"b": [2, 0, -1, -5]})
    result = agrees(typed(NEWER.replace("SHIFT", "3")), inputs)
    assert result[0] == "ok" and result[1][Role.CLIENT][3].value == [-3, -1, -2147483648, -2]
    assert result[1][Role.CLIENT][7].value == [1333333333, 4294967295, 0, 0]


def test_a_negative_batched_shift_amount_fails_where_the_original_fails() -> None:
    result = agrees(typed(NEWER.replace("SHIFT", "0 - 2")),
                    sources({"a": [1, 2, 3, 4], "v": [1, 2, 3, 4]}, {"b": [1, 1, 1, 1]}))
    assert result[0] == "error" and "-2" in result[1].message


# ---------------------------------------------------------------- compiled code keeps the semantics


def test_every_batched_operation_computes_what_the_interpreter_computes() -> None:
    body = """
      bool_bl[4] lt; bool_bl[4] le; bool_bl[4] gt; bool_bl[4] ge; bool_bl[4] eq;
      bool_bl[4] both; bool_bl[4] either; bool_bl[4] differ; int32_al[4] pick;
      for i = [0:4] {
        lt[i] = a[i] < b[i]; le[i] = a[i] <= b[i]; gt[i] = a[i] > b[i]; ge[i] = a[i] >= b[i];
        eq[i] = a[i] == b[i];
        both[i] = lt[i] && eq[i]; either[i] = (a[i] < b[i]) || (a[i] == b[i]); differ[i] = (a[i] < b[i]) @ (a[i] <= b[i]);
        pick[i] = (a[i] > b[i]) ? a[i] * b[i] : b[i] - a[i];
        acc = acc + pick[i]
      };
      output(SERVER, lt); output(SERVER, le); output(SERVER, gt); output(SERVER, ge); output(SERVER, eq);
      output(SERVER, both); output(SERVER, either); output(SERVER, differ); output(SERVER, pick)
    """
    program = loop(body)
    assert len(batched_ops(program)) >= 9
    agrees(program, sources({"a": [5, -7, 2147483647, 0]}, {"b": [5, 3, -2147483648, 1]}))


def test_a_failing_operand_fails_where_the_original_fails() -> None:
    program = loop("for i = [0:6] { acc = acc + a[i] * b[i] }")
    result = agrees(program, sources({"a": [1, 2, 3, 4]}, {"b": [1, 1, 1, 1]}))
    assert result[0] == "error" and "index 4" in result[1].message


def test_an_earlier_error_of_the_body_comes_first() -> None:
    program = loop("int32_al[2] d; for i = [0:4] { acc = acc + a[i] * b[i + 1]; d[i] = acc }")
    result = agrees(program, sources({"a": [1, 2, 3, 4]}, {"b": [1, 1, 1, 1]}))
    assert result[0] == "error" and "d[i]" in str(result[1].span.text)


def test_a_batch_that_would_fail_after_a_return_does_not() -> None:
    text = """
    def int32_al f(const int32_al[4] a, const int32_al[4] b) {
      int32_al acc = 0;
      for i = [0:9] { if (i == 3) { return acc }; acc = acc + a[i] * b[i] };
      return acc
    }
    def void main() {
      input(SERVER, a, int32_al[4]);
      input(CLIENT, b, int32_al[4]);
      output(CLIENT, f(a, b))
    }
    """
    program = typed(text)
    result = agrees(program, sources({"a": [1, 2, 3, 4]}, {"b": [5, 6, 7, 8]}))
    assert result[0] == "ok" and result[1][Role.CLIENT][0].value == 5 + 12 + 21


def test_a_nested_batch_after_a_failure_still_fails_where_the_original_fails() -> None:
    program = loop("bool_bl[9] c; for i = [0:9] { if (i < 4) { c[i] = (a[i] * b[i]) < b[3 - i] } }; "
                   "output(SERVER, c)")
    result = agrees(program, sources({"a": [1, 2, 3, 4]}, {"b": [5, 6, 7, 8]}))
    assert result[0] == "ok"
    program = loop("bool_bl[9] c; for i = [0:9] { c[i] = (a[i % 5] * b[i % 4]) < b[3 - i % 4] }")
    result = agrees(program, sources({"a": [1, 2, 3, 4]}, {"b": [5, 6, 7, 8]}))
    assert result[0] == "error" and "index 4" in result[1].message


@DIFFERENTIAL
@given(programs(32), st.data())
def test_generated_programs_agree_with_the_interpreter_when_batched(generated: GeneratedProgram,
                                                                   data: st.DataObject) -> None:
    program = typed_generated(generated)
    values = data.draw(st.fixed_dictionaries({s.name: input_values(s) for s in generated.inputs}), label="inputs")
    inputs = {role: InputSource.from_mapping({s.name: values[s.name] for s in generated.inputs if s.role is role})
              for role in Role}
    agrees(program, inputs)


def typed_generated(generated: GeneratedProgram) -> ast.Program:
    result = check_source(SourceFile("generated.ezpc", generated.text), bitlen=generated.bitlen)
    assert result.program is not None, generated.text
    return result.program


# ---------------------------------------------------------------- loops made to be batched

INT_OPS = ("*", "<", "<=", ">", ">=", "==")
BOOL_OPS = ("&&", "||", "@")


@st.composite
def int_operand(draw: st.DrawFn, depth: int) -> str:
    """An int32_al expression over a[..], b[..] and `s` (indices may leave the arrays)."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(["a[i]", "b[i]", "s", "a[i + 1]", "b[5 - i]", "a[i % 4]", "3"]))
    if draw(st.booleans()):
        left, right = draw(int_operand(depth - 1)), draw(int_operand(depth - 1))
        return f"({left} {draw(st.sampled_from(['*_al', '+_al', '-_al', '&_bl', '^_bl', '/_al', '%_al']))} {right})"
    if draw(st.booleans()):
        return f"({draw(int_operand(depth - 1))} {draw(st.sampled_from(['>>', '>>>']))} {draw(st.sampled_from(['2', 'k']))})"
    return f"({draw(bool_operand(depth - 1))} ? {draw(int_operand(depth - 1))} : {draw(int_operand(depth - 1))})"


@st.composite
def bool_operand(draw: st.DrawFn, depth: int) -> str:
    left, right = draw(int_operand(depth)), draw(int_operand(depth))
    compared = f"({left} {draw(st.sampled_from(INT_OPS[1:]))} {right})"
    if depth == 0 or draw(st.booleans()):
        return compared
    return f"({compared} {draw(st.sampled_from(BOOL_OPS))} {draw(bool_operand(depth - 1))})"


@st.composite
def batched_loops(draw: st.DrawFn) -> str:
    lo, hi = draw(st.integers(-1, 3)), draw(st.integers(0, 6))
    statements = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["acc", "flag", "guarded", "small", "leave"]))
        value = draw(int_operand(2))
        statements.append({
            "acc": f"acc = acc +_al {value}",
            "flag": f"c[i % 4] = {draw(bool_operand(1))}",
            "guarded": f"if (i < 3) {{ acc = acc -_al {value} }}",
            "small": f"d[i % 3] = {value}",
            "leave": "if (i == 4) { output(CLIENT, acc); return }",
        }[kind])
    return ("def void f(const int32_al[4] a, const int32_al[4] b, int32_al s, bool_bl[4] c) {\n"
            "  int32_al acc = 0;\n  int32_pl k = 5;\n  int32_al[2] d;\n"
            f"  for i = [{lo}:{hi}] {{\n    {'; '.join(statements)}\n  }};\n  output(SERVER, acc)\n}}\n"
            "def void main() {\n  input(SERVER, a, int32_al[4]);\n  input(CLIENT, b, int32_al[4]);\n"
            "  input(CLIENT, s, int32_al);\n  bool_bl[4] c;\n  f(a, b, s, c);\n  output(CLIENT, c)\n}\n")


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(batched_loops(), st.lists(st.integers(-2**31, 2**31 - 1), min_size=9, max_size=9))
def test_loops_made_to_be_batched_agree_with_the_interpreter(text: str, values: list[int]) -> None:
    program = typed(text)
    assume(batch_rounds(program) != program)
    agrees(program, sources({"a": values[:4]}, {"b": values[4:8], "s": values[8]}))
