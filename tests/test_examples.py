"""Every example checks clean and, run in the reference interpreter on its documented inputs,
gives the outputs its header comment promises (fixed-point outputs decoded to floats)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ezlang.inputs import load_inputs
from ezlang.interp import interpret
from ezlang.passes.fixed_pipeline import prepare
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "millionaires": {Role.SERVER: [True], Role.CLIENT: [True]},
    "dot_product": {Role.SERVER: [], Role.CLIENT: [104]},
    "auction": {Role.SERVER: [5, 355], Role.CLIENT: [5, 355]},
    "random_forest": {Role.SERVER: [], Role.CLIENT: [34]},
    "two_layer_net": {Role.SERVER: [], Role.CLIENT: [[1.61962890625, 0.0048828125, -0.9306640625, -0.137939453125]]},
}


def test_every_example_has_an_expectation() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.ezpc")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_checks_clean_and_gives_documented_outputs(name: str) -> None:
    result = check_source(SourceFile.read(EXAMPLES / f"{name}.ezpc"))
    assert list(result.diagnostics) == []
    inputs = {role: load_inputs(EXAMPLES / "inputs" / f"{name}.{role.value.lower()}.json")
              for role in (Role.SERVER, Role.CLIENT)}
    prepared = prepare(result.program, bitlen=32)
    run = prepared.run_result(interpret(prepared.program, prepared.inputs(inputs)))
    got = {role: [out.value for out in run.outputs[role]] for role in (Role.SERVER, Role.CLIENT)}
    assert got == EXPECTED[name]
