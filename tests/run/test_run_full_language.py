"""Every integer program runs securely: generated programs, unfiltered, give the interpreter's
outputs bit for bit at --bitlen 32 and 64.

tests/gen_programs.py draws well-typed programs over every integer operator, secret `& | ^ ~`,
`>>`, `>>>`, `/` and `%` included (it makes no floats and no extern calls, the two things the
secure backend still refuses), so nothing is filtered out: the test asserts that the backend
supports each drawn program. Most run as three threads of this process; a few, and a fixed
program with every operator on boundary values (division by zero, MIN / -1, shifts by the width
and more), run as three real processes over loopback sockets (`ezlang run --local`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezlang import runtime_lib as rl
from ezlang.codegen.secure import unsupported_operations
from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp, UnaryOp
from ezlang.types import Role

from gen_programs import GeneratedProgram, input_values, programs
from helpers import ezlang, outcome, run_threads

THREADS = settings(max_examples=20, derandomize=True, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])
PROCESSES = settings(THREADS, max_examples=2)
NEW_OPERATORS = frozenset({BinaryOp.BAND, BinaryOp.BOR, BinaryOp.BXOR, BinaryOp.SHR, BinaryOp.SHRL,
                           BinaryOp.DIV, BinaryOp.MOD, UnaryOp.BNOT})
FLAGS = {Role.SERVER: "--server-inputs", Role.CLIENT: "--client-inputs", Role.ALL: "--public-inputs"}


def checked(generated: GeneratedProgram) -> ast.Program:
    result = check_source(SourceFile("generated.ezpc", generated.text), bitlen=generated.bitlen)
    assert result.program is not None, generated.text
    assert unsupported_operations(result.program) == [], generated.text
    return result.program


def secret_operators(program: ast.Program) -> set[object]:
    """The operators of the program's secret integer operations that this backend just gained."""
    found: set[object] = set()
    pending: list[object] = [program]
    while pending:
        node = pending.pop()
        if isinstance(node, tuple):
            pending.extend(node)
            continue
        if not hasattr(node, "__dataclass_fields__") or isinstance(node, (type, ast.TypeNode)):
            continue
        label = getattr(node, "label", None)
        if isinstance(node, (ast.Binary, ast.Unary)) and label is not None and label.is_secret:
            found.add(node.op)
        pending.extend(getattr(node, name) for name in node.__dataclass_fields__
                       if name not in ("ty", "known_to", "span", "name_span", "var_span", "file"))
    return found & NEW_OPERATORS


def draw_inputs(generated: GeneratedProgram, data: st.DataObject) -> dict[Role, dict[str, object]]:
    values = data.draw(st.fixed_dictionaries({s.name: input_values(s) for s in generated.inputs}))
    return {role: {s.name: values[s.name] for s in generated.inputs_of(role)} for role in Role}


@pytest.mark.parametrize("bitlen", [32, 64])
def test_generated_programs_run_in_threads_with_the_interpreters_outputs(bitlen: int) -> None:
    seen: set[object] = set()

    @THREADS
    @given(programs(bitlen), st.data())
    def agree(generated: GeneratedProgram, data: st.DataObject) -> None:
        program = checked(generated)
        seen.update(secret_operators(program))
        sources = {role: InputSource.from_mapping(values) for role, values in draw_inputs(generated, data).items()}
        expected = interpret(program, sources).outputs
        results = run_threads(program, bitlen, sources)
        assert outcome(results[rl.ROLE_SERVER]).outputs == expected[Role.SERVER], generated.text
        assert outcome(results[rl.ROLE_CLIENT]).outputs == expected[Role.CLIENT], generated.text
        assert outcome(results[rl.ROLE_DEALER]).outputs == ()

    agree()
    assert len(seen) >= 5, seen  # the draws do exercise the new secure operators


def run_both(program: Path, inputs: dict[Role, dict[str, object]], bitlen: int) -> None:
    """`ezlang interpret` and `ezlang run --local` on the same input files print the same."""
    flags = ["--bitlen", str(bitlen)]
    for role, values in inputs.items():
        path = program.with_suffix(f".{role.name.lower()}.json")
        path.write_text(json.dumps(values))
        flags += [FLAGS[role], str(path)]
    expected = ezlang(["interpret", str(program), *flags])
    assert expected.returncode == 0, expected.stderr
    secure = ezlang(["run", str(program), "--local", *flags])
    assert secure.returncode == 0, secure.stderr
    assert secure.stdout == expected.stdout, program.read_text()


@pytest.mark.parametrize("bitlen", [32, 64])
def test_generated_programs_run_as_three_processes_with_the_interpreters_outputs(bitlen: int,
                                                                                 tmp_path: Path) -> None:
    @PROCESSES
    @given(programs(bitlen), st.data())
    def agree(generated: GeneratedProgram, data: st.DataObject) -> None:
        checked(generated)
        folder = Path(tmp_path) / f"p{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        program = folder / "generated.ezpc"
        program.write_text(generated.text)
        run_both(program, draw_inputs(generated, data), bitlen)

    agree()


EVERY_OPERATOR = """
def void main() {
  input(SERVER, a, int32_al[4]);
  input(CLIENT, b, int32_al[4]);
  input(SERVER, u, uint32_bl[4]);
  input(CLIENT, v, uint32_bl[4]);
  for i = [0:4] {
    output(ALL, a[i] / b[i]);
    output(ALL, a[i] % b[i]);
    output(SERVER, u[i] / v[i]);
    output(CLIENT, u[i] % v[i]);
    output(ALL, a[i] & b[i]);
    output(ALL, a[i] |_bl b[i]);
    output(ALL, u[i] ^ v[i]);
    output(ALL, ~a[i]);
    output(ALL, ~_bl u[i]);
    output(ALL, a[i] >> 1);
    output(ALL, a[i] >>> 31u);
    output(ALL, u[i] >> 31);
    output(ALL, u[i] >>> 0);
    output(ALL, a[i] >> 32);
    output(ALL, a[i] >>> 40uL);
    output(ALL, a[i] / (-7));
    output(ALL, u[i] % 10u)
  }
}
"""


@pytest.mark.parametrize("bitlen", [32, 64])
def test_every_operator_on_boundary_values_runs_as_three_processes(bitlen: int, tmp_path: Path) -> None:
    width = bitlen
    low, high = -(2 ** (width - 1)), 2 ** (width - 1) - 1
    text = EVERY_OPERATOR
    if bitlen == 64:
        for narrow, wide in (("int32", "int64"), ("31", "63"), (">> 32", ">> 64"), ("(-7)", "(-7L)"), ("10u", "10uL")):
            text = text.replace(narrow, wide)
    program = tmp_path / "every.ezpc"
    program.write_text(text)
    inputs = {Role.SERVER: {"a": [low, low, 7, -7], "u": [2**width - 1, 5, 0, 2**width - 1]},
              Role.CLIENT: {"b": [-1, 0, -2, high], "v": [0, 2**width - 1, 3, 1]}}
    run_both(program, inputs, bitlen)
