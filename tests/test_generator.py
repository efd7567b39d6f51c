"""The program generator of tests/gen_programs.py: its programs are well typed, and together they
cover the language the noninterference test is meant to exercise.

Each test draws 150 programs (derandomized, so every run sees the same ones).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from ezlang.diagnostics import render_text
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role

from gen_programs import GeneratedProgram, programs

GENERATOR = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow])

# Written forms that must each appear in some generated program.
CONSTRUCTS = (
    "int32_al", "uint32_bl", "int64_al", "uint64_bl", "int32_pl", "uint64_pl", "bool_pl", "bool_bl",
    "][", "const ", " + ", " - ", " * ", " / ", " % ", " << ", " >> ", " >>> ", " & ", " | ", " ^ ",
    "~", " == ", " < ", " > ", " <= ", " >= ", " && ", " || ", " @ ", "!", " ^^ ", "+_bl", "+_al",
    "*_al", "&_bl", "<_bl", "?_bl", " ? ", "if (", "} else ", "for ", "while (", "return ",
    "def void f", "input(SERVER", "input(CLIENT", "input(ALL", "output(SERVER", "output(CLIENT",
    "output(ALL",
)


def check(program: GeneratedProgram) -> list[str]:
    result = check_source(SourceFile("generated.ezpc", program.text), bitlen=program.bitlen)
    return [render_text(d) for d in result.diagnostics.errors()]


@GENERATOR
@given(programs())
def test_generated_programs_are_accepted(program: GeneratedProgram) -> None:
    errors = check(program)
    assert not errors, f"bitlen {program.bitlen}\n{program.text}\n" + "\n".join(errors)


def test_generated_programs_cover_the_language() -> None:
    texts: list[str] = []

    @GENERATOR
    @given(programs())
    def collect(program: GeneratedProgram) -> None:
        texts.append(program.text)

    collect()
    missing = [form for form in CONSTRUCTS if not any(form in text for text in texts)]
    assert missing == []


def test_inputs_are_described() -> None:
    roles: set[Role] = set()

    @GENERATOR
    @given(programs())
    def collect(program: GeneratedProgram) -> None:
        for spec in program.inputs:
            assert f"input({spec.role}, {spec.name}, " in program.text
            assert spec.type.rank == len(spec.shape)
            assert spec.type.label.is_secret == (spec.role is not Role.ALL)
        roles.update(spec.role for spec in program.inputs)

    collect()
    assert roles == {Role.SERVER, Role.CLIENT, Role.ALL}
