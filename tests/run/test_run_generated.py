"""Generated programs in the supported subset give the interpreter's outputs bit for bit.

The three roles run in threads of this process (the same code as three processes, without three
interpreter start-ups per example); programs are drawn from tests/gen_programs.py and kept when
the secure backend supports every operation in them (about one in six).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ezlang import runtime_lib as rl
from ezlang.codegen.secure import unsupported_operations
from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role

from gen_programs import GeneratedProgram, input_values, programs
from helpers import outcome, run_threads

SECURE = settings(max_examples=8, derandomize=True, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.parametrize("bitlen", [32, 64])
def test_supported_programs_agree_with_the_interpreter(bitlen: int) -> None:
    @SECURE
    @given(programs(bitlen), st.data())
    def agree(generated: GeneratedProgram, data: st.DataObject) -> None:
        checked = check_source(SourceFile("generated.ezpc", generated.text), bitlen=bitlen)
        assert checked.program is not None
        assume(not unsupported_operations(checked.program))
        values = data.draw(st.fixed_dictionaries({s.name: input_values(s) for s in generated.inputs}))
        sources = {role: InputSource.from_mapping({s.name: values[s.name] for s in generated.inputs
                                                   if s.role is role}) for role in Role}
        expected = interpret(checked.program, sources).outputs
        results = run_threads(checked.program, bitlen, sources)
        assert outcome(results[rl.ROLE_SERVER]).outputs == expected[Role.SERVER], generated.text
        assert outcome(results[rl.ROLE_CLIENT]).outputs == expected[Role.CLIENT], generated.text
        assert outcome(results[rl.ROLE_DEALER]).outputs == ()

    agree()
