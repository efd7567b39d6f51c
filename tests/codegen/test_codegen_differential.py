"""Compiled code agrees with the reference interpreter bit for bit on generated programs.

Each generated program (tests/gen_programs.py) is run by the interpreter and by the JIT on the
same drawn inputs, at --bitlen 32 and 64; the outputs (recipient, span, type and value) must be
equal, or both must fail with the same diagnostic. Derandomized: every run sees the same programs.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezlang.codegen import compile_program, host_target
from ezlang.inputs import InputSource
from ezlang.interp import InterpError, interpret
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role

from gen_programs import GeneratedProgram, input_values, programs

DIFFERENTIAL = settings(max_examples=250, derandomize=True, deadline=None, database=None,
                        suppress_health_check=[HealthCheck.too_slow])
TARGET = host_target()


def outcome(run: Any) -> Any:
    """What a run produced: every party's outputs, or the error's diagnostic."""
    try:
        result = run()
    except InterpError as error:
        return ("error", error.diagnostic)
    return ("ok", result.outputs, result.warnings)


def check_agreement(generated: GeneratedProgram, data: st.DataObject) -> None:
    result = check_source(SourceFile("generated.ezpc", generated.text), bitlen=generated.bitlen)
    assert result.program is not None, generated.text
    values = data.draw(st.fixed_dictionaries({s.name: input_values(s) for s in generated.inputs}), label="inputs")
    sources = {role: InputSource.from_mapping({s.name: values[s.name] for s in generated.inputs if s.role is role})
               for role in Role}
    compiled = compile_program(result.program, target=TARGET)
    expected = outcome(lambda: interpret(result.program, sources))
    assert outcome(lambda: compiled.run(sources)) == expected, generated.text


@pytest.mark.parametrize("bitlen", [32, 64])
def test_compiled_programs_agree_with_the_interpreter(bitlen: int) -> None:
    @DIFFERENTIAL
    @given(programs(bitlen), st.data())
    def agree(generated: GeneratedProgram, data: st.DataObject) -> None:
        check_agreement(generated, data)

    agree()
