"""Splitting a loop's last assignment into a loop of its own (passes/batch_rounds.py, `_Tail`):
a network layer's ReLUs of per-neuron accumulators become one batch, and compiled code of the
split program keeps the interpreter's outputs and errors (cleartext backend)."""

from __future__ import annotations

import random

import pytest

from ezlang.passes.batch_rounds import batch_rounds

from test_batch import agrees, batch_groups, sources, typed

LAYER = """
def void main() {{
  input(SERVER, w, int32_al[{rows}][4]);
  input(CLIENT, x, int32_al[6]);
  int32_al[{hidden}] h;
  for j = [0:4] {{
    int32_al acc = 0;
    for i = [0:6] {{ acc = acc + x[i] * w[i][j] }};
    {tail}
  }};
  output(CLIENT, h)
}}
"""


def layer(tail: str = "h[j] = (acc > 0 ? acc : 0) >> 12", rows: int = 6, hidden: int = 4) -> str:
    return LAYER.format(tail=tail, rows=rows, hidden=hidden)


def inputs(rows: int = 6, seed: int = 3):
    rng = random.Random(seed)
    w = [[rng.randint(-40000, 40000) for _ in range(4)] for _ in range(rows)]
    return sources({"w": w}, {"x": [rng.randint(-40000, 40000) for _ in range(6)]})


def test_the_relus_of_a_layers_accumulators_form_one_batch():
    assert batch_groups(typed(layer())) == [["x[i] * w[i][j]"], ["(acc > 0 ? acc : 0) >> 12"]]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_split_layer_computes_the_interpreters_outputs(seed):
    status, *_ = agrees(typed(layer()), inputs(seed=seed))
    assert status == "ok"


def test_an_output_array_too_short_fails_where_the_assignment_did():
    status, diagnostic = agrees(typed(layer(hidden=3)), inputs())
    assert status == "error" and diagnostic.message == "index 3 is out of bounds for `h` of length 3"


def test_a_weight_array_too_short_fails_in_the_accumulation_as_before():
    status, diagnostic = agrees(typed(layer(rows=5)), inputs(rows=5))
    assert status == "error" and diagnostic.message == "index 5 is out of bounds for `w` of length 5"


@pytest.mark.parametrize("tail", [
    "h[j] = acc",                                             # nothing interactive to batch
    "h[j] = (acc > x[j] ? acc : 0) >> 12",                     # reads an array: could fail
    "h[j] = (acc > 0 ? acc : 0) >> 12; acc = 0",               # not the last statement
    "h[0] = (acc > 0 ? acc : 0) >> 12",                        # not indexed by the loop variable
])
def test_tails_that_stay_in_their_loop(tail):
    program = typed(layer(tail))
    assert ["(acc > 0 ? acc : 0) >> 12"] not in batch_groups(program)
    assert agrees(program, inputs())[0] == "ok"


def test_a_recurrence_through_the_output_array_is_not_split():
    text = layer().replace("int32_al acc = 0;", "int32_al acc = h[(j + 3) % 4];")
    program = typed(text)
    assert ["(acc > 0 ? acc : 0) >> 12"] not in batch_groups(program)
    assert agrees(program, inputs())[0] == "ok"


def test_an_array_declared_in_the_body_is_not_split_from_it():
    text = layer("h[j] = acc; mine[j] = (acc > 0 ? acc : 0) >> 12")
    program = typed(text.replace("int32_al acc = 0;", "int32_al acc = 0; int32_al[4] mine;"))
    assert ["(acc > 0 ? acc : 0) >> 12"] not in batch_groups(program)
    assert agrees(program, inputs())[0] == "ok"


def test_a_loop_without_a_tail_to_split_is_unchanged():
    program = typed(layer("h[j] = acc"))
    rewritten = batch_rounds(program)
    assert not any("expand$" in repr(stmt) for stmt in rewritten.globals)
