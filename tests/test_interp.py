"""The reference interpreter end to end: checked programs run on given inputs."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang.diagnostics import render_text
from ezlang.inputs import InputSource
from ezlang.interp import BUILTIN_EXTERNS, InterpError, interpret
from ezlang.passes.pipeline import check_source
from ezlang.semantics import binary, convert, int_range, unary
from ezlang.source import SourceFile
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Base, Label, Role, Type

S, C, A = Role.SERVER, Role.CLIENT, Role.ALL


def check(text: str, bitlen: int = 32):
    result = check_source(SourceFile("t.ezpc", text), bitlen=bitlen)
    assert result.ok, "\n".join(render_text(d) for d in result.diagnostics)
    return result.program


def sources(server=None, client=None, public=None) -> dict:
    given = {S: server, C: client, A: public}
    return {role: values if isinstance(values, InputSource) else
            (InputSource.from_sequence(values) if isinstance(values, list) else InputSource.from_mapping(values))
            for role, values in given.items() if values is not None}


def run(text: str, *, server=None, client=None, public=None, bitlen=32, trace=False, externs=None):
    return interpret(check(text, bitlen), sources(server, client, public), trace=trace, externs=externs)


def values(result, role=C) -> list:
    return [out.value for out in result.outputs[role]]


def error(text: str, **kwargs) -> InterpError:
    with pytest.raises(InterpError) as caught:
        run(text, **kwargs)
    return caught.value


def where(err: InterpError) -> str:
    """`line:col: message` of a run-time error."""
    span = err.diagnostic.span
    return f"{span.line}:{span.col}: {err.diagnostic.message}" if span else err.diagnostic.message


# ---------------------------------------------------------------- every operator, end to end

INT_OPS = ["+", "-", "*", "/", "%", "&", "|", "^", "<", ">", "<=", ">=", "=="]
SHIFT_OPS = [">>", "<<", ">>>"]
SUFFIX = {Base.INT32: "", Base.UINT32: "u", Base.INT64: "L", Base.UINT64: "uL"}
EDGE_PAIRS = {
    Base.INT32: [(2**31 - 1, 1), (-2**31, -1), (-7, 2), (7, -2), (5, 0), (-2**31, 0), (123456789, 987654)],
    Base.UINT32: [(2**32 - 1, 1), (0, 1), (7, 2), (5, 0), (2**31, 3), (2**32 - 1, 2**32 - 1)],
    Base.INT64: [(2**63 - 1, 1), (-2**63, -1), (-7, 2), (5, 0), (-2**63, 0), (2**40 + 3, -(2**35))],
    Base.UINT64: [(2**64 - 1, 1), (0, 1), (5, 0), (2**63, 3), (2**64 - 1, 2**64 - 1)],
}
SHIFT_AMOUNTS = [0, 1, 5, 31, 32, 63, 64, 100]


def operator_program(base: Base, label: str) -> tuple[str, list[str]]:
    """A program printing every operator on inputs a, b (and shift amount n) of one type."""
    lines, exprs = [], []
    sharing = f"{base}_{label}"
    for op in INT_OPS:
        exprs.append(f"a {op} b")
    for op in SHIFT_OPS:
        exprs.append(f"a {op} n")
    exprs.append("~a")
    if label == "pl":
        exprs.append("a ^^ e")
    party = "ALL" if label == "pl" else "SERVER"
    lines.append(f"input({party}, a, {sharing}); input({party}, b, {sharing});")
    lines.append("input(ALL, n, int32_pl); input(ALL, e, " + f"{base}_pl);")
    lines += [f"output(CLIENT, {e});" for e in exprs]
    return "def void main() {\n" + "\n".join(lines) + "\n}", exprs


def expected_value(base: Base, expr: str, a: int, b: int, n: int, e: int):
    ty = Type(base, Label.PL)
    ops = {str(op): op for op in BinaryOp}
    parts = expr.split()
    if parts[0] == "~a":
        return unary(UnaryOp.BNOT, ty, a)
    right = {"b": b, "n": n, "e": e}[parts[2]]
    return binary(ops[parts[1]], ty, a, right)


@pytest.mark.parametrize("label", ["pl", "al", "bl"])
@pytest.mark.parametrize("base", [Base.INT32, Base.UINT32, Base.INT64, Base.UINT64])
def test_every_integer_operator_matches_the_semantics(base, label):
    text, exprs = operator_program(base, label)
    program = check(text, bitlen=base.width)
    for (a, b), n in zip(EDGE_PAIRS[base], SHIFT_AMOUNTS):
        party = {"a": a, "b": b}
        public = {"n": n, "e": b % 70 if base.signed else b % 70, **(party if label == "pl" else {})}
        result = interpret(program, sources(server=party if label != "pl" else None, public=public))
        expected = [expected_value(base, x, a, b, n, public["e"]) for x in exprs]
        assert values(result) == expected, (a, b, n)


@cache
def operator_run(base: Base, label: str):
    return check(operator_program(base, label)[0], bitlen=base.width)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([Base.INT32, Base.UINT32, Base.INT64, Base.UINT64]), st.sampled_from(["al", "bl"]),
       st.data())
def test_random_operands_match_the_semantics(base, label, data):
    r = int_range(base)
    a, b = data.draw(st.integers(r.start, r.stop - 1)), data.draw(st.integers(r.start, r.stop - 1))
    n, e = data.draw(st.integers(0, 70)), data.draw(st.integers(0, 70))
    result = interpret(operator_run(base, label), sources(server={"a": a, "b": b}, public={"n": n, "e": e}))
    exprs = operator_program(base, label)[1]
    assert values(result) == [expected_value(base, x, a, b, n, e) for x in exprs]


@pytest.mark.parametrize("expr, expected", [
    ("a + b", -2**31 + 1), ("a * b", -2), ("a / c", 2**31 - 1), ("m / d", -2**31), ("m % d", 0),
    ("a / z", -1), ("a % z", 2**31 - 1), ("m >> 31", -1), ("m >> 40", -1), ("(m + 2147483641) >> 1", -4),
    ("m >>> 31", 1), ("a << 1", -2), ("b << 32", 0), ("(z - 7) / b", -3), ("(z - 7) % b", -1),
])
def test_secret_edge_cases(expr, expected):
    text = f"""def void main() {{
      input(SERVER, a, int32_al); input(SERVER, b, int32_al); input(SERVER, c, int32_al);
      input(SERVER, d, int32_al); input(SERVER, m, int32_al); input(SERVER, z, int32_al);
      output(CLIENT, {expr})
    }}"""
    server = {"a": 2**31 - 1, "b": 2, "c": 1, "d": -1, "m": -2**31, "z": 0}
    assert values(run(text, server=server)) == [expected]


def test_unsigned_secret_division_by_zero_is_all_ones():
    text = "def void main() { input(SERVER, a, uint64_al); output(CLIENT, a / 0uL); output(CLIENT, a % 0uL) }"
    assert values(run(text, server={"a": 9}, bitlen=64)) == [2**64 - 1, 9]


def test_explicitly_labelled_operators_mean_the_same():
    text = """def void main() {
      input(SERVER, a, int32_al); input(CLIENT, b, int32_bl);
      output(CLIENT, a +_bl b); output(CLIENT, a +_al b); output(CLIENT, a -_bl b);
      output(CLIENT, a *_al b); output(CLIENT, a <_bl b); output(CLIENT, ~_bl b)
    }"""
    assert values(run(text, server={"a": 2**31 - 1}, client={"b": 3})) == [
        -2**31 + 2, -2**31 + 2, 2**31 - 4, 2**31 - 3, False, -4]


def test_bool_operators_and_both_operands_always_evaluated():
    text = """
    def bool_pl say(int32_pl k, bool_pl v) { output(CLIENT, k); return v }
    def void main() {
      input(SERVER, p, bool_bl); input(CLIENT, q, bool_bl);
      output(CLIENT, p && q); output(CLIENT, p || q); output(CLIENT, p @ q); output(CLIENT, !p);
      bool_pl r = say(1, false) && say(2, true);
      bool_pl s = say(3, true) || say(4, true);
      output(CLIENT, r); output(CLIENT, s)
    }"""
    assert values(run(text, server={"p": True}, client={"q": False})) == [
        False, True, True, False, 1, 2, 3, 4, False, True]


def test_floats_are_single_precision():
    text = """def void main() {
      input(SERVER, x, float_fl); input(CLIENT, y, float_fl);
      output(CLIENT, x + y); output(CLIENT, x * y); output(CLIENT, x / y); output(CLIENT, x - y);
      output(CLIENT, x < y); output(CLIENT, x >= y); output(CLIENT, (x < y) ? x : y);
      float_pl big = 16777216.0; output(CLIENT, big + 1.0); output(CLIENT, 1.0 / 0.0)
    }"""
    got = values(run(text, server={"x": 0.1}, client={"y": 0.2}))
    x, y = np.float32(0.1), np.float32(0.2)
    assert got == [float(x + y), float(x * y), float(x / y), float(x - y), True, False, float(x),
                   16777216.0, float("inf")]


# ---------------------------------------------------------------- conversions


def test_conversions():
    text = """def void main() {
      input(SERVER, x, int32_al); input(ALL, p, int32_pl); input(ALL, q, uint32_pl);
      int32_bl xb = x;                 (* al → bl *)
      uint32_bl ux = xb;               (* signedness reinterpretation *)
      int32_al back = ux;              (* bl → al with reinterpretation back *)
      int64_pl wide = p;               (* public sign extension *)
      uint64_pl uwide = q;             (* public zero extension *)
      int32_al fromPublic = p;         (* pl → al *)
      output(CLIENT, xb); output(CLIENT, ux); output(CLIENT, back); output(CLIENT, wide);
      output(CLIENT, uwide); output(CLIENT, fromPublic); output(CLIENT, 0L + p); output(CLIENT, <al |> bl> x)
    }"""
    got = values(run(text, server={"x": -5}, public={"p": -2**31, "q": 2**32 - 1}))
    assert got == [-5, 2**32 - 5, -5, -2**31, 2**32 - 1, -2**31, -2**31, -5]


def test_output_values_keep_their_types():
    result = run("def void main() { input(SERVER, x, uint32_al); output(ALL, x) }", server={"x": -1})
    out = result.outputs[S][0]
    assert (out.value, out.type, out.text, out.recipient) == (2**32 - 1, Type(Base.UINT32, Label.AL), "x", A)
    assert result.outputs[C] == (out,)


def test_conversion_semantics_agree_with_the_module():
    assert convert(Type(Base.INT32, Label.AL), Type(Base.UINT32, Label.BL), -5) == 2**32 - 5


# ---------------------------------------------------------------- ternaries


def test_secret_ternary_evaluates_both_branches():
    text = """
    def int32_al tell(int32_pl k) { output(CLIENT, k); return k }
    def void main() {
      input(SERVER, c, bool_bl);
      int32_al r = c ? tell(1) : tell(2);
      output(CLIENT, r)
    }"""
    assert values(run(text, server={"c": True})) == [1, 2, 1]
    assert values(run(text, server={"c": False})) == [1, 2, 2]


def test_public_ternary_evaluates_the_chosen_branch_only():
    text = """
    def int32_pl tell(int32_pl k) { output(CLIENT, k); return k }
    def void main() { input(ALL, c, bool_pl); output(CLIENT, c ? tell(1) : tell(2)) }"""
    assert values(run(text, public={"c": True})) == [1, 1]
    assert values(run(text, public={"c": False})) == [2, 2]


def test_secret_ternary_with_an_out_of_bounds_branch_fails():
    text = """def void main() {
      input(SERVER, c, bool_bl); int32_al[3] a;
      int32_al r = c ? a[0] : a[3]
    }"""
    assert where(error(text, server={"c": True})) == "3:31: index 3 is out of bounds for `a` of length 3"


# ---------------------------------------------------------------- arrays, calls, recursion


def test_arrays_are_passed_by_reference_and_scalars_by_value():
    text = """
    def void fill(int32_pl n, int32_al[n] row, int32_al v) { for i = [0 : n] { row[i] = v + i }; v = 0 }
    def void bump(int32_al[2][3] m) { m[1][2] = m[1][2] + 100 }
    def void main() {
      int32_al[2][3] m; int32_al v = 10;
      fill(3, m[1], v);
      bump(m);
      output(CLIENT, m); output(CLIENT, v)
    }"""
    assert values(run(text)) == [[[0, 0, 0], [10, 11, 112]], 10]


def test_outputs_are_copies():
    text = "def void main() { int32_pl[2] a; output(CLIENT, a); a[0] = 5; output(CLIENT, a) }"
    assert values(run(text)) == [[0, 0], [5, 0]]


def test_recursion():
    text = """
    def int32_pl fib(int32_pl n) { if (n < 2) { return n }; return fib(n - 1) + fib(n - 2) }
    def int64_pl depth(int32_pl n) { return (n == 0) ? 0L : 1L + depth(n - 1) }
    def void main() { output(CLIENT, fib(15)); output(CLIENT, depth(3000)) }"""
    assert values(run(text)) == [610, 3000]


def test_runaway_recursion_is_an_error():
    text = "def int32_pl f(int32_pl n) { return f(n + 1) }\ndef void main() { output(CLIENT, f(0)) }"
    err = error(text)
    assert err.diagnostic.code == "E0606"
    assert err.diagnostic.message == "calls nest too deeply at `f`"


def test_missing_return_is_an_error():
    text = "def int32_pl f(int32_pl n) { if (n > 0) { return 1 } }\ndef void main() { output(CLIENT, f(0)) }"
    err = error(text)
    assert err.diagnostic.code == "E0609"
    assert where(err) == "1:14: `f` ended without returning a value"


def test_return_from_inside_loops_and_void_return():
    text = """
    def int32_pl find(int32_pl n) { for i = [0 : 100] { while i > n { return i } }; return 0 - 1 }
    def void early(int32_pl n) { if (n > 0) { return }; output(CLIENT, n) }
    def void main() { output(CLIENT, find(41)); early(5); early(0); output(CLIENT, find(200)) }"""
    assert values(run(text)) == [42, 0, -1]


def test_global_constants():
    text = """
    int32 N = 3;
    int32 M = N * 2;
    uint32 U = 5;
    def int32_pl twice(int32_pl x) { return 2 * x }
    int32 T = twice(M);
    def void main() { int32_pl[M] a; output(CLIENT, N + M + T); output(CLIENT, U); output(CLIENT, a) }"""
    assert values(run(text)) == [21, 5, [0] * 6]


# ---------------------------------------------------------------- statements


def test_for_bounds_are_evaluated_once_and_exclusive():
    text = """def void main() {
      int32_pl n = 3; int32_pl count = 0;
      for i = [0 : n] { n = n + 1; count = count + 1 };
      for j = [5 : 5] { count = count + 100 };
      for k = [7 : 2] { count = count + 1000 };
      output(CLIENT, count); output(CLIENT, n)
    }"""
    assert values(run(text)) == [3, 6]


def test_uninitialised_values_are_zero_and_declarations_reinitialise():
    text = """def void main() {
      int32_al x; bool_bl b; float_fl f; uint64_pl[2][2] a;
      output(CLIENT, x); output(CLIENT, b); output(CLIENT, f); output(CLIENT, a);
      for i = [0 : 3] { int32_pl s; int32_pl[2] t; s = s + 1; t[0] = t[0] + 1; output(CLIENT, s + t[0]) }
    }"""
    assert values(run(text, bitlen=32)) == [0, False, 0.0, [[0, 0], [0, 0]], 2, 2, 2]


def test_while_if_else_and_shadowing():
    text = """def void main() {
      int32_pl x = 1; int32_pl steps = 0;
      while x < 100 { x = x * 3; steps = steps + 1 };
      if (x > 100) { int32_pl x = 7; output(CLIENT, x) } else output(CLIENT, 0);
      if (steps == 5) output(CLIENT, 1) else { output(CLIENT, 2) };
      { output(CLIENT, x) }
    }"""
    assert values(run(text)) == [7, 1, 243]


def test_long_statement_sequences_run_iteratively():
    program = check("def void main() { int32_pl x = 0; x = x + 1; output(CLIENT, x) }")
    main = program.globals[-1]
    body = (main.body[0],) + (main.body[1],) * 50_000 + (main.body[2],)
    program = dataclasses.replace(program, globals=(dataclasses.replace(main, body=body),))
    assert values(interpret(program, {})) == [50_000]


def test_dot_product_of_100000_secret_values():
    text = """def void main() {
      input(SERVER, w, int32_al[100000]); input(CLIENT, x, int32_al[100000]);
      int32_al acc = 0;
      for i = [0 : 100000] { acc = acc + w[i] * x[i] };
      output(CLIENT, acc)
    }"""
    w = [(i * 7919) % 65536 - 32768 for i in range(100_000)]
    x = [(i * 104729) % 65536 - 32768 for i in range(100_000)]
    exact = sum(a * b for a, b in zip(w, x))
    assert values(run(text, server={"w": w}, client={"x": x})) == [(exact + 2**31) % 2**32 - 2**31]


# ---------------------------------------------------------------- run-time errors


@pytest.mark.parametrize("body, message", [
    ("int32_pl[3] a; output(CLIENT, a[3])", "1:49: index 3 is out of bounds for `a` of length 3"),
    ("int32_pl[3] a; int32_pl i = 0 - 1; output(CLIENT, a[i])",
     "1:69: index -1 is out of bounds for `a` of length 3"),
    ("int32_pl[2][3] a; a[1][5] = 1", "1:37: index 5 is out of bounds for `a[1]` of length 3"),
    ("int32_pl[2][3] a; a[2][0] = 1", "1:37: index 2 is out of bounds for `a` of length 2"),
    ("int32_pl[0] a; output(CLIENT, a[0])", "1:49: index 0 is out of bounds for `a` of length 0"),
    ("int32_pl n = 0 - 2; int32_pl[n] a", "1:48: array dimension -2 is negative"),
    ("int32_pl n = 0 - 2; output(CLIENT, 1 << n)", "1:54: negative shift amount -2 in `<<`"),
    ("int32_pl n = 0 - 2; output(CLIENT, 2 ^^ n)", "1:54: negative exponent -2 in `^^`"),
])
def test_run_time_errors(body, message):
    err = error("def void main() { " + body + " }")
    assert where(err) == message
    assert err.diagnostic.code.startswith("E06")


def test_out_of_bounds_diagnostic_renders():
    err = error("def void main() {\n  int32_pl[3] a;\n  output(CLIENT, a[3])\n}")
    assert render_text(err.diagnostic) == (
        "t.ezpc:3:18: error[E0601]: index 3 is out of bounds for `a` of length 3\n"
        "3 |   output(CLIENT, a[3])\n"
        "  |                  ^^^^ valid indices are 0 to 2")


def test_library_without_main_cannot_run():
    result = check_source(SourceFile("lib.ezpc", "def int32_pl f() { return 1 }"), library=True)
    with pytest.raises(InterpError) as caught:
        interpret(result.program, {})
    assert caught.value.diagnostic.code == "E0607"
    assert caught.value.diagnostic.message == "lib.ezpc has no `main` function to run"


def test_untyped_programs_are_refused():
    from ezlang.syntax.parse import parse_text
    with pytest.raises(ValueError, match="needs a checked program"):
        interpret(parse_text("def void main() { output(CLIENT, 1) }"), {})


# ---------------------------------------------------------------- inputs


def test_inputs_are_read_in_program_order():
    text = """
    def int32_al get() { input(CLIENT, v, int32_al); return v }
    def void main() {
      input(CLIENT, a, int32_al);
      int32_al b = get();
      for i = [0 : 2] { input(CLIENT, row, int32_al[2]); output(CLIENT, row) };
      input(CLIENT, c, int32_al);
      output(CLIENT, a); output(CLIENT, b); output(CLIENT, c)
    }"""
    assert values(run(text, client=[1, 2, 3, 4, 5, 6, 7])) == [[3, 4], [5, 6], 1, 2, 7]
    keyed = {"a": 1, "v": 2, "row": [[3, 4], [5, 6]], "c": 7}
    assert values(run(text, client=keyed)) == [[3, 4], [5, 6], 1, 2, 7]


def test_public_inputs_come_from_all():
    text = "def void main() { input(ALL, n, int32_pl); int32_pl[n] a; output(SERVER, a) }"
    assert values(run(text, public={"n": 2}), S) == [[0, 0]]


INPUT_PROGRAM = """def void main() {
  input(ALL, n, int32_pl);
  input(SERVER, w, int32_al[n][2]);
  input(CLIENT, f, bool_bl)
}"""


@pytest.mark.parametrize("kwargs, code, message", [
    ({"public": {"n": 2}, "server": {"w": [[1, 2], [3, 4]]}}, "E0626",
     "4:3: input `f` of CLIENT (bool_bl): no inputs were given for CLIENT"),
    ({"public": {"n": 2}, "server": {"x": 1}}, "E0620",
     "3:3: input `w` of SERVER (int32_al[2][2]) from <mapping>: no value named `w` (the file has `x`)"),
    ({"public": {"n": 2}, "server": {"w": [[1, 2], [3]]}}, "E0623",
     "3:3: input `w` of SERVER (int32_al[2][2]) from <mapping>: w[1] has 1 entries, expected 2"),
    ({"public": {"n": 1}, "server": {"w": [[1, 2.5]]}}, "E0621",
     "3:3: input `w` of SERVER (int32_al[1][2]) from <mapping>: w[0][1] = 2.5 is not an integer"),
    ({"public": {"n": 1}, "server": {"w": [[1, 2**32]]}}, "E0622",
     "3:3: input `w` of SERVER (int32_al[1][2]) from <mapping>: w[0][1] = 4294967296 does not fit in 32 bits"),
    ({"public": [1], "server": [1]}, "E0624",
     "3:3: input `w` of SERVER (int32_al[1][2]) from <sequence>: needs 2 value(s) but only 1 are left "
     "after the 0 already read"),
    ({"public": [1], "server": [1, 2], "client": [2]}, "E0621",
     "4:3: input `f` of CLIENT (bool_bl) from <sequence>: f (item 0) = 2 is not a bool (true, false, 0 or 1)"),
    ({"public": {"n": 1.0}}, "E0621", "2:3: input `n` of ALL (int32_pl) from <mapping>: n = 1.0 is not an integer"),
])
def test_input_errors_name_the_input_party_type_and_file(kwargs, code, message):
    err = error(INPUT_PROGRAM, **kwargs)
    assert (err.diagnostic.code, where(err)) == (code, message)


def test_input_error_from_a_file_names_the_file(tmp_path):
    from ezlang.inputs import load_inputs
    path = tmp_path / "server.json"
    path.write_text('{"w": [[1, 2]], "extra": 3}')
    program = check(INPUT_PROGRAM)
    with pytest.raises(InterpError) as caught:
        interpret(program, {A: InputSource.from_mapping({"n": 2}), S: load_inputs(path)})
    assert caught.value.diagnostic.message == (
        f"input `w` of SERVER (int32_al[2][2]) from {path}: w has 1 entries, expected 2")


def test_unused_inputs_are_warnings():
    result = run(INPUT_PROGRAM, public={"n": 1, "unused": 0}, server={"w": [[1, 2]]}, client=[1, 0, 1])
    assert [(d.code, d.message) for d in result.warnings] == [
        ("W0601", "2 value(s) at the end of <sequence> were never read (the first is 0 at item 1)"),
        ("W0601", "`unused` in <mapping> was never read"),
    ]


# ---------------------------------------------------------------- externs


EXTERN_PROGRAM = """
extern void ClearMemSecret1(int32_pl s, int32_al[s] a);
extern void StartComputation();
extern void Scale(int32_pl n, int32_al[n] a, int32_pl k);
extern int32_al Sum(int32_pl n, const int32_al[n] a);
def void main() {
  StartComputation();
  input(SERVER, a, int32_al[3]);
  Scale(3, a, 2);
  ClearMemSecret1(3, a);
  output(CLIENT, a); output(CLIENT, Sum(3, a))
}"""


def test_externs_get_arrays_by_reference():
    def scale(n, a, k):
        for i in range(n):
            a[i] = a[i] * k

    got = run(EXTERN_PROGRAM, server={"a": [1, 2, 3]}, externs={"Scale": scale, "Sum": lambda n, a: sum(a)})
    assert values(got) == [[2, 4, 6], 12]
    assert set(BUILTIN_EXTERNS) >= {"ClearMemSecret1", "ClearMemPublic", "ClearMemPublic5", "EndComputation"}


def test_extern_without_implementation():
    err = error(EXTERN_PROGRAM, server={"a": [1, 2, 3]})
    assert err.diagnostic.code == "E0604"
    assert where(err) == "9:3: extern `Scale` has no implementation in the interpreter"


@pytest.mark.parametrize("scale, total, message", [
    (lambda n, a, k: None, lambda n, a: 2**32, "11:37: extern `Sum` returned 4294967296, which is not of type int32"),
    (lambda n, a, k: None, lambda n, a: 1.5, "11:37: extern `Sum` returned 1.5, which is not of type int32"),
    (lambda n, a, k: a.__setitem__(1, True), lambda n, a: 0,
     "9:3: extern `Scale` wrote True into argument 2[1], which is not of type int32"),
])
def test_extern_results_are_checked(scale, total, message):
    err = error(EXTERN_PROGRAM, server={"a": [1, 2, 3]}, externs={"Scale": scale, "Sum": total})
    assert (err.diagnostic.code, where(err)) == ("E0608", message)


def test_extern_results_are_made_canonical():
    got = run(EXTERN_PROGRAM, server={"a": [1, 2, 3]},
              externs={"Scale": lambda n, a, k: a.__setitem__(0, 2**32 - 1), "Sum": lambda n, a: 2**31})
    assert values(got) == [[-1, 2, 3], -2**31]


# ---------------------------------------------------------------- trace


TRACE_PROGRAM = """def void main() {
  input(SERVER, s, int32_al);
  input(ALL, n, int32_pl);
  int32_al acc = 0;
  for i = [0 : n] { acc = acc + s * i };
  bool_bl big = acc > 10;
  int32_al r = big ? acc : 0;
  output(CLIENT, r)
}"""


def test_trace_records_statements_and_public_values_only():
    result = run(TRACE_PROGRAM, server={"s": 5}, public={"n": 2}, trace=True)
    text = check(TRACE_PROGRAM).file.text
    stmts = [text[e.offset:e.offset + 6] for e in result.trace if e.kind == "stmt"]
    assert stmts == ["input(", "input(", "int32_", "for i ", "acc = ", "acc = ", "bool_b", "int32_", "output"]
    public = [(text[e.offset], e.value) for e in result.trace if e.kind == "value"]
    assert public == [("0", 0), ("0", 0), ("n", 2), ("i", 0), ("i", 1), ("1", 10), ("0", 0)]
    assert run(TRACE_PROGRAM, server={"s": 5}, public={"n": 2}).trace == ()


def test_trace_does_not_depend_on_secrets():
    runs = [run(TRACE_PROGRAM, server={"s": s}, public={"n": 3}, trace=True) for s in (0, 7, -2**31)]
    assert runs[0].trace == runs[1].trace == runs[2].trace
    assert [r.view(C)[1] for r in runs] == [(0,), (21,), (0,)]
    assert runs[1].view(S) == (runs[1].trace, ())
