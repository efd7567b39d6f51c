"""Soundness of the range analysis: every value a run computes lies in its node's interval.

Programs are drawn at random (tests/gen_programs.py: every construct of the language;
gen_accumulations.py: nested accumulation loops), inputs too; each input is bounded by the
least and greatest value drawn for it, the tightest bounds the run respects. The reference
interpreter reports every evaluated expression through its observer; a value outside its
node's interval is allowed only at a node the analysis lists as possibly overflowing.
Derandomized: every run sees the same programs.
"""

from __future__ import annotations

from typing import Any, Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezlang.inputs import InputSource
from ezlang.interp import InterpError, interpret
from ezlang.passes.ranges import analyze
from ezlang.syntax import ast
from ezlang.types import Role

from gen_accumulations import Accumulation, accumulations
from gen_programs import GeneratedProgram, input_values, programs
from range_helpers import checked

SOUNDNESS = settings(max_examples=80, derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))


def flattened(value: Any) -> Iterator[int]:
    if isinstance(value, list):
        for item in value:
            yield from flattened(item)
    else:
        yield int(value)


def assert_contained(program: ast.Program, bitlen: int, values: dict[str, Any],
                     sources: dict[Role, InputSource]) -> int:
    """Run and analyse; returns how many (node, value) observations were checked."""
    seen: dict[int, tuple[ast.Expr, set[int]]] = {}

    def observe(node: Any, value: Any) -> None:
        if not isinstance(node, ast.Input) and type(value) in (int, bool):
            seen.setdefault(id(node), (node, set()))[1].add(int(value))
    try:
        interpret(program, sources, observe=observe)
    except InterpError:
        pass  # what ran before the error is checked all the same
    bounds = {name: (min(xs), max(xs)) for name, value in values.items() if (xs := list(flattened(value)))}
    report = analyze(program, bitlen=bitlen, input_bounds=bounds)
    overflowing = {id(o.expr) for o in report.overflows}
    for node, observed in seen.values():
        interval = report.interval(node)
        assert interval is not None, f"{node.span}: `{node.span.text}` ran but has no interval"
        outside = sorted(v for v in observed if v not in interval)
        assert not outside or id(node) in overflowing, \
            f"{node.span}: `{node.span.text}` took {outside} outside {interval}"
    return sum(len(observed) for _, observed in seen.values())


@SOUNDNESS
@given(programs(), st.data())
def test_every_value_of_a_generated_program_lies_in_its_interval(generated: GeneratedProgram,
                                                                 data: st.DataObject) -> None:
    program = checked(generated.text, generated.bitlen, "generated.ezpc")
    values = data.draw(st.fixed_dictionaries({s.name: input_values(s) for s in generated.inputs}))
    sources = {role: InputSource.from_mapping({s.name: values[s.name] for s in generated.inputs if s.role is role})
               for role in Role}
    assert_contained(program, generated.bitlen, values, sources)


def _elements(size: int, extreme: bool) -> st.SearchStrategy[list[int]]:
    small = st.integers(-20, 20)
    element = st.one_of(small, st.sampled_from((-(1 << 31), (1 << 31) - 1))) if extreme else small
    return st.lists(element, min_size=size, max_size=size)


@settings(SOUNDNESS, max_examples=200)
@given(accumulations(), st.data())
def test_every_value_of_an_accumulation_loop_lies_in_its_interval(generated: Accumulation,
                                                                  data: st.DataObject) -> None:
    program = checked(generated.text)
    extreme = data.draw(st.booleans())
    x = data.draw(_elements(generated.rows, extreme))
    w = data.draw(st.lists(_elements(generated.columns, extreme), min_size=generated.rows, max_size=generated.rows))
    sources = {Role.SERVER: InputSource.from_mapping({"w": w}), Role.CLIENT: InputSource.from_mapping({"x": x})}
    assert assert_contained(program, 32, {"w": w, "x": x}, sources) > 0
