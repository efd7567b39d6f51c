"""Every construct and every run-time error, compiled: the JIT's outputs and errors equal the
reference interpreter's (and the expected values written next to each program)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from ezlang.codegen import compile_program, host_target
from ezlang.diagnostics import CompileError, render_text
from ezlang.inputs import InputSource
from ezlang.interp import InterpError, interpret
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role

S, C, A = Role.SERVER, Role.CLIENT, Role.ALL
TARGET = host_target()


def check(text: str, bitlen: int = 32):
    result = check_source(SourceFile("t.ezpc", text), bitlen=bitlen)
    assert result.ok, "\n".join(render_text(d) for d in result.diagnostics)
    return result.program


def sources(server=None, client=None, public=None) -> dict:
    given = {S: server, C: client, A: public}
    return {role: InputSource.from_mapping(values) for role, values in given.items() if values is not None}


def same(text: str, *, bitlen: int = 32, role: Role = C, **inputs) -> list:
    """Runs `text` both ways; asserts equal results; returns the values `role` receives."""
    program = check(text, bitlen)
    expected = interpret(program, sources(**inputs))
    got = compile_program(program, target=TARGET).run(sources(**inputs))
    assert got.outputs == expected.outputs
    assert got.warnings == expected.warnings
    return [out.value for out in got.outputs[role]]


def same_error(text: str, *, bitlen: int = 32, **inputs) -> str:
    """Both backends fail with the same diagnostic; returns `line:col: [code] message`."""
    program = check(text, bitlen)
    with pytest.raises(InterpError) as expected:
        interpret(program, sources(**inputs))
    with pytest.raises(InterpError) as got:
        compile_program(program, target=TARGET).run(sources(**inputs))
    assert got.value.diagnostic == expected.value.diagnostic
    d = got.value.diagnostic
    return f"{d.span.line}:{d.span.col}: [{d.code}] {d.message}" if d.span else f"[{d.code}] {d.message}"


# ---------------------------------------------------------------- operators

EDGES = {
    "int32": [(2**31 - 1, 1), (-2**31, -1), (-7, 2), (7, -2), (5, 0), (-2**31, 0)],
    "uint32": [(2**32 - 1, 1), (0, 1), (7, 2), (5, 0), (2**31, 3)],
    "int64": [(2**63 - 1, 1), (-2**63, -1), (-7, 2), (5, 0), (2**40 + 3, -(2**35))],
    "uint64": [(2**64 - 1, 1), (0, 1), (5, 0), (2**63, 3)],
}
OPS = ["+", "-", "*", "/", "%", "&", "|", "^", "<", ">", "<=", ">=", "=="]


@pytest.mark.parametrize("label", ["pl", "al", "bl"])
@pytest.mark.parametrize("base", sorted(EDGES))
def test_integer_operators_at_their_edges(base: str, label: str) -> None:
    party = "ALL" if label == "pl" else "SERVER"
    exprs = [f"a {op} b" for op in OPS] + [f"a {op} n" for op in ("<<", ">>", ">>>")] + ["~a"]
    if label == "pl":
        exprs.append("a ^^ e")
    text = (f"def void main() {{ input({party}, a, {base}_{label}); input({party}, b, {base}_{label}); "
            f"input(ALL, n, int32_pl); input(ALL, e, {base}_pl);\n"
            + ";\n".join(f"output(CLIENT, {x})" for x in exprs) + "}")
    bitlen = 64 if "64" in base else 32
    for (a, b), n in zip(EDGES[base], [0, 1, 31, 32, 63, 64, 100]):
        public = {"n": n, "e": abs(b) % 70}
        if label == "pl":
            same(text, bitlen=bitlen, public={**public, "a": a, "b": b})
        else:
            same(text, bitlen=bitlen, server={"a": a, "b": b}, public=public)


def test_shift_amounts_of_every_type() -> None:
    text = """def void main() {
      input(ALL, a, int32_pl); input(ALL, n, uint64_pl); input(ALL, m, int64_pl);
      output(CLIENT, a << n); output(CLIENT, a >> n); output(CLIENT, a >>> m); output(CLIENT, 1u << m)
    }"""
    assert same(text, public={"a": -8, "n": 2**64 - 1, "m": 3}) == [0, -1, (2**32 - 8) >> 3, 8]
    assert same(text, public={"a": -8, "n": 1, "m": 2**40}) == [-16, -4, 0, 0]


def bits(value: object) -> bytes:
    return struct.pack("<f", float(value))  # type: ignore[arg-type]


def test_floats_are_single_precision_in_both() -> None:
    text = """def void main() {
      input(SERVER, x, float_fl); input(CLIENT, y, float_fl);
      output(CLIENT, x + y); output(CLIENT, x * y); output(CLIENT, x / y); output(CLIENT, x - y);
      output(CLIENT, x < y); output(CLIENT, x >= y); output(CLIENT, (x < y) ? x : y);
      float_pl big = 16777216.0; output(CLIENT, big + 1.0); output(CLIENT, 1.0 / 0.0); output(CLIENT, x / 0.0)
    }"""
    x, y = np.float32(0.1), np.float32(0.2)
    assert [bits(v) if isinstance(v, float) else v for v in same(text, server={"x": 0.1}, client={"y": 0.2})] == [
        bits(x + y), bits(x * y), bits(x / y), bits(x - y), True, False, bits(x), bits(16777216.0),
        bits(math.inf), bits(math.inf)]


def test_nan_compares_false() -> None:
    text = """def void main() { input(SERVER, x, float_fl);
      float_fl z = x / x; output(CLIENT, z < z); output(CLIENT, z == z); output(CLIENT, z >= 0.0); output(CLIENT, z) }"""
    program = check(text)
    got = [o.value for o in compile_program(program, target=TARGET).run(sources(server={"x": 0.0})).outputs[C]]
    assert got[:3] == [False, False, False] and math.isnan(got[3])


def test_bool_operators_evaluate_both_operands() -> None:
    text = """
    def bool_pl say(int32_pl k, bool_pl v) { output(CLIENT, k); return v }
    def void main() {
      input(SERVER, p, bool_bl); input(CLIENT, q, bool_bl);
      output(CLIENT, p && q); output(CLIENT, p || q); output(CLIENT, p @ q); output(CLIENT, !p);
      bool_pl r = say(1, false) && say(2, true);
      bool_pl s = say(3, true) || say(4, true);
      output(CLIENT, r); output(CLIENT, s)
    }"""
    assert same(text, server={"p": True}, client={"q": False}) == [False, True, True, False, 1, 2, 3, 4, False, True]


def test_conversions_and_subsumption() -> None:
    text = """def void main() {
      input(SERVER, x, int32_al); input(ALL, p, int32_pl); input(ALL, q, uint32_pl);
      int32_bl xb = x; uint32_bl ux = xb; int32_al back = ux; int64_pl wide = p; uint64_pl uwide = q;
      int32_al fromPublic = p;
      output(CLIENT, xb); output(CLIENT, ux); output(CLIENT, back); output(CLIENT, wide);
      output(CLIENT, uwide); output(CLIENT, fromPublic); output(CLIENT, 0L + p); output(CLIENT, <al |> bl> x)
    }"""
    assert same(text, server={"x": -5}, public={"p": -3, "q": 2**32 - 1}) == [
        -5, 2**32 - 5, -5, -3, 2**32 - 1, -3, -3, -5]


# ---------------------------------------------------------------- control flow and functions


def test_public_ternary_evaluates_one_branch_and_secret_both() -> None:
    public = """def void main() { int32_pl[2] a; input(ALL, i, int32_pl);
      output(CLIENT, (i < 2) ? a[i] : a[i - 5]) }"""
    assert same(public, public={"i": 1}) == [0]
    secret = """def void main() { int32_al[2] a; input(SERVER, s, bool_bl); input(ALL, i, int32_pl);
      output(CLIENT, s ? a[i] : a[i - 5]) }"""
    assert same_error(secret, server={"s": True}, public={"i": 1}) == (
        "2:33: [E0601] index -4 is out of bounds for `a` of length 2")


def test_for_bounds_are_evaluated_once_and_loops_nest() -> None:
    text = """def void main() {
      int32_pl n = 3; int32_pl total = 0;
      for i = [0 : n] { n = n + 1; for j = [i : n] { total = total + j } };
      int32_pl w = 0; while (w < 4) { w = w + 1; if (w == 2) { total = total * 2 } else total = total + 1 };
      output(CLIENT, n); output(CLIENT, total) }"""
    assert same(text) == [6, 64]


def test_functions_scalars_by_value_arrays_by_reference_and_rows() -> None:
    text = """
    def void bump(int32_al[2] row, int32_al x) { x = x + 100; row[1] = row[1] + x }
    def int32_al sum(const int32_al[2][2] m) { return m[0][0] + m[0][1] + m[1][0] + m[1][1] }
    def void main() {
      int32_al[2][2] m; int32_al x = 1;
      bump(m[1], x); bump(m[0], 5); bump(m[1], x);
      output(CLIENT, x); output(CLIENT, sum(m)); output(CLIENT, m)
    }"""
    assert same(text) == [1, 307, [[0, 105], [0, 202]]]


def test_recursion() -> None:
    text = """
    def int64_pl fib(int64_pl n) { if (n < 2L) { return n }; return fib(n - 1L) + fib(n - 2L) }
    def void main() { input(ALL, n, int64_pl); output(CLIENT, fib(n)) }"""
    assert same(text, bitlen=64, public={"n": 20}) == [6765]


def test_arrays_are_zero_filled_fresh_on_each_declaration() -> None:
    text = """def void main() {
      for k = [0 : 3] { bool_bl[2][3][2] c; uint64_pl[3] u; output(CLIENT, u[k]); c[1][k][1] = true; u[k] = 7uL;
        output(CLIENT, c[1]) } }"""
    got = same(text, bitlen=64)
    assert got[0] == 0 and got[1] == [[False, True], [False, False], [False, False]]


def test_global_constants_folded_and_evaluated_at_run_time() -> None:
    text = """int32 N = 2 + 1;
    uint64 M = (0uL - 1uL) >> N;
    bool B = N > 2 ? true : false;
    def void main() { int32_pl[N] a; output(CLIENT, N); output(CLIENT, M); output(CLIENT, B); output(CLIENT, a) }"""
    assert same(text) == [3, (2**64 - 1) >> 3, True, [0, 0, 0]]
    failing = "int32 K = 4;\nint32 BAD = 1 << (K - 5);\ndef void main() { output(CLIENT, BAD) }"
    assert same_error(failing) == "2:13: [E0602] negative shift amount -1 in `<<`"


def test_inputs_in_loops_outputs_to_all_and_role_values() -> None:
    text = """def void main() {
      for i = [0 : 2] { input(SERVER, row, uint64_al[2]); output(ALL, row) };
      input(ALL, flags, bool_pl[2][1]); output(SERVER, flags); output(ALL, CLIENT) }"""
    assert same(text, bitlen=64, role=S, server={"row": [[1, 2**64 - 1], [3, 4]]},
                public={"flags": [[True], [False]]}) == [[1, 2**64 - 1], [3, 4], [[True], [False]], 1]


def test_builtin_externs_do_nothing() -> None:
    text = """extern void ClearMemSecret1(int32_pl s, int32_al[s] a);
    extern void StartComputation();
    def void main() { int32_al[2] a; a[1] = 4; StartComputation(); ClearMemSecret1(2, a); output(CLIENT, a) }"""
    assert same(text) == [[0, 4]]


def test_other_externs_are_rejected_at_compile_time() -> None:
    text = """extern int32_al Sum(int32_pl n, const int32_al[n] a);
    def void main() { int32_al[2] a; output(CLIENT, Sum(2, a)) }"""
    with pytest.raises(CompileError) as caught:
        compile_program(check(text), target=TARGET)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.code, diagnostic.span.line) == ("E0604", 2)
    assert "`Sum` has no implementation in compiled code" in diagnostic.message


# ---------------------------------------------------------------- run-time errors


@pytest.mark.parametrize("index, message", [
    ("3", "index 3 is out of bounds for `a` of length 3"),
    ("0 - 1", "index -1 is out of bounds for `a` of length 3"),
    ("4294967295u", "index 4294967295 is out of bounds for `a` of length 3"),
    ("18446744073709551615uL", "index 18446744073709551615 is out of bounds for `a` of length 3"),
])
def test_index_out_of_bounds(index: str, message: str) -> None:
    text = f"def void main() {{\n  int32_pl[3] a;\n  output(CLIENT, a[{index}])\n}}"
    assert same_error(text) == f"3:18: [E0601] {message}"


def test_bounds_of_every_level_and_of_assignments() -> None:
    inner = "def void main() {\n  int32_pl[2][3] m;\n  m[1][3] = 5\n}"
    assert same_error(inner) == "3:3: [E0601] index 3 is out of bounds for `m[1]` of length 3"
    outer = "def void main() {\n  int32_pl[2][3] m;\n  m[2][0] = 1 << (0 - 1)\n}"
    assert same_error(outer) == "3:3: [E0601] index 2 is out of bounds for `m` of length 2"
    value_first = "def void main() {\n  int32_pl[2] m;\n  m[7] = 1 << (0 - 1)\n}"
    assert same_error(value_first) == "3:10: [E0602] negative shift amount -1 in `<<`"


def test_negative_exponent_and_dimension() -> None:
    power = "def void main() {\n  input(ALL, e, int64_pl);\n  output(CLIENT, 2L ^^ e)\n}"
    assert same_error(power, bitlen=64, public={"e": -1}) == "3:18: [E0603] negative exponent -1 in `^^`"
    dims = "def void main() {\n  input(ALL, n, int32_pl);\n  int32_pl[2][n] a\n}"
    assert same_error(dims, public={"n": -2}) == "3:15: [E0605] array dimension -2 is negative"


def test_missing_return_and_input_errors() -> None:
    text = "def int32_pl f(int32_pl x) {\n  if (x > 0) { return x }\n}\ndef void main() {\n  output(CLIENT, f(0))\n}"
    assert same_error(text) == "1:14: [E0609] `f` ended without returning a value"
    read = "def void main() {\n  input(SERVER, a, int32_al[2])\n}"
    assert same_error(read, server={"a": [1]}).startswith("2:3: [E0623] input `a` of SERVER")
    assert same_error(read).startswith("2:3: [E0626] input `a` of SERVER (int32_al[2]): no inputs were given")


def test_unused_inputs_warn_like_the_interpreter() -> None:
    assert same("def void main() { input(SERVER, a, int32_al) }", server={"a": 1, "b": 2}) == []


def test_deep_recursion_is_an_error_not_a_crash() -> None:
    text = "def int32_pl down(int32_pl n) {\n  return down(n + 1)\n}\ndef void main() {\n  output(CLIENT, down(0))\n}"
    with pytest.raises(InterpError) as caught:
        compile_program(check(text), target=TARGET).run({})
    d = caught.value.diagnostic
    assert (d.code, d.span.line, d.message) == ("E0606", 2, "calls nest too deeply at `down`")
