"""Every error of the reference's catalogue (§4.8) and the programs that must be accepted.

Each file in tests/programs/errors is a small program with its expected diagnostics written next
to it, as comments at the end of the file:

    (* catalogue 11: what the program shows *)          the §4.8 entry it exercises
    (* OPTIONS bitlen=64 *)                             checker options (bitlen, library)
    (* ERROR E0301 at 5:19: exact message *)             every diagnostic, in report order

The runner below checks code, exact message and file:line:col of the primary span.

Catalogue entries without a program file, and why:
  7   `int32_pl x[3]` is rejected by the reference's name resolution, by ezlang already while
      parsing (E0104); 07_c_style_array_declaration.ezpc pins that.
  8   `Unexpected for statement index / input statement / output statement / global constant
      declaration` need a non-identifier or non-role in those positions, which the grammar
      cannot produce.
  33  `Expression e is not an lvalue`: the grammar only admits `x` and `x[i]...` as assignment
      targets, so only a hand-built tree reaches it (test_assignment_to_a_call_is_not_an_lvalue).
  42  internal errors of the reference (`Variable x not found`, `Unlabeled type`, `Empty
      program!`, ...) cannot happen after parsing and name resolution succeeded.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ezlang.diagnostics import CODES, Diagnostic, Severity
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.parse import parse_text
from ezlang.passes.pipeline import CheckResult, check_program, check_source

PROGRAMS = Path(__file__).parent / "programs" / "errors"
ACCEPTED = Path(__file__).parent / "programs" / "accepted"
ERROR_FILES = sorted(PROGRAMS.glob("*.ezpc"))
EXPECTATION = re.compile(r"^\(\* (ERROR|WARNING) (\w+) at (\d+):(\d+): (.*) \*\)$", re.MULTILINE)
CATALOGUE = re.compile(r"^\(\* catalogue (\d+):", re.MULTILINE)
OPTIONS = re.compile(r"\(\* OPTIONS (\w+)=(\w+) \*\)")
UNREACHABLE = {8, 42}
HAND_BUILT = {33}


def check_file(path: Path) -> CheckResult:
    text = path.read_text()
    options = dict(OPTIONS.findall(text))
    return check_source(SourceFile.read(path), bitlen=int(options.get("bitlen", "32")),
                        library=options.get("library") == "true")


def observed(diag: Diagnostic) -> tuple[str, str, str, str]:
    kind = "ERROR" if diag.severity is Severity.ERROR else "WARNING"
    return kind, diag.code, str(diag.span), diag.message


@pytest.mark.parametrize("path", ERROR_FILES, ids=[p.stem for p in ERROR_FILES])
def test_error_program(path: Path) -> None:
    expected = [(kind, code, f"{path}:{line}:{col}", message)
                for kind, code, line, col, message in EXPECTATION.findall(path.read_text())]
    assert expected, f"{path.name} states no expected diagnostic"
    result = check_file(path)
    assert [observed(d) for d in result.diagnostics] == expected
    assert result.ok == all(kind == "WARNING" for kind, *_ in expected)


def test_every_reachable_catalogue_entry_has_a_program() -> None:
    covered = {int(n) for path in ERROR_FILES for n in CATALOGUE.findall(path.read_text())}
    assert covered | HAND_BUILT | UNREACHABLE == set(range(1, 43))


def test_every_checker_code_is_exercised() -> None:
    texts = "".join(path.read_text() for path in ERROR_FILES)
    used = set(re.findall(r"\(\* (?:ERROR|WARNING) (\w+) at", texts)) | {"E0421"}
    checker_codes = {code for code in CODES if code[:3] in ("E02", "E03", "E04", "E05", "W02")}
    assert checker_codes <= used


def test_checker_errors_say_how_to_fix_them() -> None:
    for path in ERROR_FILES:
        for diag in check_file(path).diagnostics:
            if diag.code[:3] in ("E02", "E03", "E04", "E05"):
                assert diag.help, f"{path.name}: {diag.code} has no help"
                assert "`" in diag.message, f"{path.name}: {diag.code} quotes no source"


def test_assignment_to_a_call_is_not_an_lvalue() -> None:
    program = parse_text("def int32_al f() { return 1 }\n"
                         "def void main() {\n  int32_al[1] A;\n  A[0] = 1\n}\n", "t.ezpc")
    main = program.globals[-1]
    assert isinstance(main, ast.FunDef)
    assign = main.body[1]
    assert isinstance(assign, ast.Assign) and isinstance(assign.target, ast.Index)
    call = ast.Call(assign.target.array.span, "f", assign.target.array.span, ())
    broken = dataclasses.replace(assign, target=dataclasses.replace(assign.target, array=call))
    program = dataclasses.replace(program, globals=(program.globals[0],
                                                    dataclasses.replace(main, body=(main.body[0], broken))))
    result = check_program(program)
    assert [observed(d) for d in result.diagnostics] == [
        ("ERROR", "E0421", "t.ezpc:4:3", "cannot assign to `A[0]`")]


# ---------------------------------------------------------------- information-flow explanations


def flow_error(path: str) -> Diagnostic:
    (diag,) = check_file(PROGRAMS / path).diagnostics
    return diag


def test_flow_error_follows_a_variable_back_to_the_party_input() -> None:
    diag = flow_error("11b_secret_if_condition.ezpc")
    assert diag.notes == ("`score` is secret (arithmetic): it comes from CLIENT input `x` on line 3",)
    assert [(str(s.span), s.label) for s in diag.secondary] == [
        (f"{PROGRAMS / '11b_secret_if_condition.ezpc'}:3:17", "CLIENT input")]
    assert diag.help == "branch on public values only; select obliviously with a ternary `c ? a : b`"


def test_flow_error_names_a_secret_declaration() -> None:
    diag = flow_error("11e_secret_return.ezpc")
    assert diag.notes == ("`secret` is secret (arithmetic): parameter declared int32_al on line 2",)
    assert diag.help == "secrets leave only through `output(ROLE, e)`"


def test_flow_error_on_a_loop_bound_suggests_a_public_maximum() -> None:
    diag = flow_error("11d_secret_for_bound.ezpc")
    assert diag.notes == ("`n` is secret (arithmetic): it is SERVER input `n`, read on line 3",)
    assert diag.help == "loop to a public maximum and select with a ternary inside the loop"


def test_independent_errors_are_all_reported_without_cascades() -> None:
    source = SourceFile("t.ezpc", "def void main() {\n  input(CLIENT, x, int32_al);\n"
                                  "  int32_pl a = x;\n  int32_pl b = (x + 1) * (x ^^ 2);\n"
                                  "  if (x > 0) { a = 1 };\n}\n")
    result = check_source(source)
    assert [(d.code, str(d.span)) for d in result.diagnostics] == [
        ("E0301", "t.ezpc:3:16"), ("E0308", "t.ezpc:4:27"), ("E0302", "t.ezpc:5:7")]


def test_ill_formed_declarations_do_not_cascade_into_their_uses() -> None:
    source = SourceFile("t.ezpc", "def int64_al g(int64_al z) { return z + 1 }\n"
                                  "def void main() {\n  int64_al x;\n  int32_al y = x;\n  int32_al w = g(y);\n}\n")
    assert [(d.code, str(d.span)) for d in check_source(source).diagnostics] == [
        ("E0415", "t.ezpc:1:16"), ("E0415", "t.ezpc:1:5"), ("E0415", "t.ezpc:3:3")]


def test_name_errors_stop_before_type_checking() -> None:
    source = SourceFile("t.ezpc", "def void main() {\n  int32_pl a = missing;\n  bool_pl b = 1;\n}\n")
    assert [d.code for d in check_source(source).diagnostics] == ["E0202"]


# ---------------------------------------------------------------- programs that must be accepted


def accepted(text: str, *, bitlen: int = 32, library: bool = False) -> ast.Program:
    result = check_source(SourceFile("t.ezpc", text), bitlen=bitlen, library=library)
    assert [d.message for d in result.diagnostics if d.severity is Severity.ERROR] == []
    assert result.program is not None
    return result.program




ACCEPTED_FILES = sorted(ACCEPTED.glob("*.ezpc"))


@pytest.mark.parametrize("path", ACCEPTED_FILES, ids=[p.stem for p in ACCEPTED_FILES])
def test_accepted_program(path: Path) -> None:
    """The reference's worked examples (§4.4–4.6), the corpus checklist (§6.2) and programs in
    the corpus's style: accepted, with no diagnostic at all."""
    result = check_file(path)
    assert [d.message for d in result.diagnostics] == []
    assert result.program is not None


def test_64_bit_worked_examples() -> None:
    accepted("def void main() {\n  int64_al a; uint64_al u;\n  int64_al b = a + 1L;\n"
             "  uint64_al c = u *_al 2uL;\n  int64_al d = (-1L) * a;\n}\n", bitlen=64)


def test_library_files_need_no_main() -> None:
    accepted("int32 N = 4;\nextern void Relu(int32_pl s, int32_al[s] A);\n"
             "def int32_al twice(int32_al x) { return x + x }\n", library=True)


def test_recursion_and_shadowing() -> None:
    accepted("int32 n = 3;\ndef int32_pl fact(int32_pl n) {\n  return n < 1 ? 1 : n * fact(n - 1);\n}\n"
             "def void main() {\n  int32_pl n = fact(n);\n  for i = [0 : n] { int32_pl n = i };\n"
             "  if (n > 0) { int32_pl n = 1 } else { int32_pl n = 2 };\n}\n")


def test_duplicate_parameters_are_only_a_warning() -> None:
    result = check_file(PROGRAMS / "52_duplicate_parameter.ezpc")
    assert result.ok
    assert [d.severity for d in result.diagnostics] == [Severity.WARNING]
