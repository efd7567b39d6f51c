"""Noninterference: what a party sees of a run never depends on the other party's secret inputs.

For each generated program (tests/gen_programs.py) and each party P, with Q the other party, two
input assignments that differ only in P's inputs are run by the reference interpreter with a
trace. Q's view must be identical in both runs: the trace (the control path and every public
value), the sequence of outputs Q receives, and the value of every output to Q whose flow summary
names none of P's inputs. Outputs that do depend on P's inputs are declassified by design.

One run of this file checks 400 generated programs (each for both parties), derandomized, so
every run sees the same programs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezlang.inputs import InputSource
from ezlang.interp import RunResult, interpret
from ezlang.passes.flow_summary import OutputFlow, summarize
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Base, Label, Role, Type

from gen_programs import GeneratedProgram, InputSpec, input_values, programs

NONINTERFERENCE = settings(max_examples=400, derandomize=True, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.too_slow])

PARTIES = (Role.SERVER, Role.CLIENT)
OTHER = {Role.SERVER: Role.CLIENT, Role.CLIENT: Role.SERVER}
DECLASSIFIED = "<depends on the other party's input>"

Values = dict[str, Any]


def typed(source: SourceFile, bitlen: int) -> ast.Program:
    result = check_source(source, bitlen=bitlen)
    assert result.program is not None, source.text
    return result.program


def assignments(specs: Iterable[InputSpec]) -> st.SearchStrategy[Values]:
    return st.fixed_dictionaries({spec.name: input_values(spec) for spec in specs})


def run(program: ast.Program, specs: tuple[InputSpec, ...], values: Values) -> RunResult:
    sources = {role: InputSource.from_mapping({s.name: values[s.name] for s in specs if s.role is role})
               for role in Role}
    return interpret(program, sources, trace=True)


def observed(result: RunResult, observer: Role, hidden: Role, flows: list[OutputFlow]) -> tuple[Any, ...]:
    """`observer`'s view of a run, with the outputs that may reveal `hidden`'s inputs masked."""
    reveals = {flow.span: any(ref.role is hidden for ref in flow.sources) for flow in flows}
    outputs = tuple((out.span.start, DECLASSIFIED if reveals[out.span] else out.value)
                    for out in result.outputs.get(observer, ()))
    return result.trace, outputs


@NONINTERFERENCE
@given(programs(), st.data())
def test_party_sees_nothing_of_the_other_partys_secrets(generated: GeneratedProgram, data: st.DataObject) -> None:
    source = SourceFile("generated.ezpc", generated.text)
    program = typed(source, generated.bitlen)
    flows = summarize(program)
    values = data.draw(assignments(generated.inputs), label="inputs")
    first = run(program, generated.inputs, values)
    for party in PARTIES:
        changed = {**values, **data.draw(assignments(generated.inputs_of(party)), label=f"{party} inputs")}
        second = run(program, generated.inputs, changed)
        observer = OTHER[party]
        assert observed(first, observer, party, flows) == observed(second, observer, party, flows)


HARNESS_PROGRAM = """\
def void main() {
  input(SERVER, s, int32_al);
  input(CLIENT, c, int32_al);
  input(ALL, n, int32_pl);
  output(CLIENT, s + 1);
  output(CLIENT, c + n);
  output(ALL, n * 2)
}
"""


def test_harness_masks_exactly_the_declassified_outputs() -> None:
    source = SourceFile("harness.ezpc", HARNESS_PROGRAM)
    program = typed(source, 32)
    secret, public = Type(Base.INT32, Label.AL), Type(Base.INT32, Label.PL)
    specs = (InputSpec("s", Role.SERVER, secret), InputSpec("c", Role.CLIENT, secret), InputSpec("n", Role.ALL, public))
    result = run(program, specs, {"s": 41, "c": 5, "n": 3})
    _, client_view = observed(result, Role.CLIENT, Role.SERVER, summarize(program))
    assert [value for _, value in client_view] == [DECLASSIFIED, 8, 6]
    _, masked_for_server = observed(result, Role.CLIENT, Role.CLIENT, summarize(program))
    assert [value for _, value in masked_for_server] == [42, DECLASSIFIED, 6]

