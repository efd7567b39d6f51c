"""Secure runs of loop nests whose operations are one batch (passes/batch_nests.py): fixed-point
networks written with loops take a few rounds whatever their sizes, bit for bit the interpreter's
values (secure_run checks both parties' outputs), and nests that cannot be lifted keep their
per-iteration rounds. Rounds are read from the channels' counters, as `--stats` prints them."""

from __future__ import annotations

import random
from typing import Any, Mapping

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ezlang.inputs import InputSource, load_inputs
from ezlang.interp import InterpError, interpret
from ezlang.passes.batch_rounds import batch_rounds
from ezlang.passes.fixed_pipeline import Prepared, prepare
from ezlang.syntax import ast
from ezlang.types import Role

from codegen.test_batch_nests import nested_loops
from helpers import ROOT
from test_batch_rounds import secure_run, sources, typed


def optimized(text: str, bitlen: int = 64) -> tuple[Prepared, ast.Program]:
    """The fixed-point program as `ezlang run` prepares it: lowered, then optimised by the rewrite
    rules (every ReLU fused with its truncation, no truncation after the last layer)."""
    prepared = prepare(typed(text, bitlen), bitlen=bitlen)
    return prepared, prepared.program


def test_the_two_layer_net_takes_five_rounds() -> None:
    """The inputs; layer 1's 16 · 8 products; its 8 fused ReLUs (2); layer 2's 8 · 4 products.
    Batching one loop level at a time took 15: one round per neuron for the products."""
    prepared, program = optimized((ROOT / "examples" / "two_layer_net.ezpc").read_text())
    inputs = prepared.inputs({Role.SERVER: load_inputs(ROOT / "examples" / "inputs" / "two_layer_net.server.json"),
                              Role.CLIENT: load_inputs(ROOT / "examples" / "inputs" / "two_layer_net.client.json"),
                              Role.ALL: InputSource.from_mapping({})})
    rounds, outputs = secure_run(program, inputs, bitlen=64)
    assert rounds == 5
    assert len(outputs[0].value) == 4


def mlp(sizes: tuple[int, ...]) -> str:
    """A fixed-point MLP written with loops: per layer, an accumulator per neuron, ReLU between layers."""
    lines = [f"int32 L{k} = {n};" for k, n in enumerate(sizes)]
    lines.append("def void main() {")
    lines += [f"  input(SERVER, w{k}, fixed_al[L{k}][L{k + 1}], [-1.0, 1.0]);" for k in range(len(sizes) - 1)]
    lines.append("  input(CLIENT, v0, fixed_al[L0], [-1.0, 1.0]);")
    for k in range(len(sizes) - 1):
        last = k == len(sizes) - 2
        result = "acc" if last else "acc > 0.0 ? acc : 0.0"
        lines += [f"  fixed_al[L{k + 1}] v{k + 1};",
                  f"  for j = [0:L{k + 1}] {{",
                  "    fixed_al acc = 0.0;",
                  f"    for i = [0:L{k}] {{ acc = acc + v{k}[i] * w{k}[i][j] }};",
                  f"    v{k + 1}[j] = {result}",
                  "  };"]
    lines += [f"  output(CLIENT, v{len(sizes) - 1})", "}"]
    return "\n".join(lines) + "\n"


def weights(sizes: tuple[int, ...], seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    rng = random.Random(seed)
    server = {f"w{k}": [[rng.uniform(-1, 1) for _ in range(sizes[k + 1])] for _ in range(sizes[k])]
              for k in range(len(sizes) - 1)}
    return server, {"v0": [rng.uniform(-1, 1) for _ in range(sizes[0])]}


@pytest.mark.parametrize("sizes, expected", [
    ((12, 6, 6, 3), 8),         # 1 + (1 + 2) + (1 + 2) + 1; one level at a time: 1 + (6 + 2) + (6 + 2) + 3 = 20
    ((40, 10, 10, 10, 6), 11),  # the rs-fMRI MLP's shape: 1 + 3 · (1 + 2) + 1; one level at a time: 43
])
def test_an_mlp_takes_three_rounds_per_hidden_layer_whatever_its_size(sizes: tuple[int, ...], expected: int) -> None:
    prepared, program = optimized(mlp(sizes))
    server, client = weights(sizes, seed=len(sizes))
    rounds, outputs = secure_run(program, prepared.inputs(sources(server, client)), bitlen=64)
    assert rounds == expected
    assert any(value != 0 for value in outputs[0].value)


def plain(body: str, n: int = 6) -> str:
    return (f"def void main() {{\n  input(SERVER, k, int32_al[3]);\n  input(CLIENT, x, int32_al[{n}]);\n"
            f"  int32_al[{n}] y;\n  {body};\n  output(CLIENT, y)\n}}\n")


def test_a_padded_convolution_takes_one_round_for_its_products() -> None:
    """The products reading outside x (at the borders) are never executed: skipped in the batch,
    they cost nothing, and all 16 others are one call."""
    body = ("for j = [0:6] { int32_al acc = 0; for d = [0:3] { "
            "if (j + d - 1 >= 0 && j + d - 1 < 6) { acc = acc + x[j + d - 1] * k[d] } }; y[j] = acc }")
    x, k = [3, -1, 4, 1, -5, 9], [2, 7, -1]
    rounds, outputs = secure_run(typed(plain(body)), sources({"k": k}, {"x": x}))
    assert rounds == 1 + 1
    padded = [0, *x, 0]
    assert outputs[0].value == [sum(padded[j + d] * k[d] for d in range(3)) for j in range(6)]


def test_a_triangular_nest_keeps_a_round_per_outer_iteration() -> None:
    """Inner bounds that depend on j: not lifted; j = 0 has no product, so no round."""
    body = "for j = [0:4] { int32_al acc = 0; for i = [0:j] { acc = acc + x[i] * k[i % 3] }; y[j] = acc }"
    rounds, _ = secure_run(typed(plain(body)), sources({"k": [2, 7, -1]}, {"x": [3, -1, 4, 1, -5, 9]}))
    assert rounds == 1 + 3


def test_an_operand_written_by_the_nest_keeps_a_round_per_outer_iteration() -> None:
    body = "for j = [0:4] { int32_al acc = 0; for i = [0:3] { acc = acc + x[i] * k[i] }; x[j] = acc }"
    rounds, _ = secure_run(typed(plain(body)), sources({"k": [2, 7, -1]}, {"x": [3, -1, 4, 1, -5, 9]}))
    assert rounds == 1 + 4


def raw_sources(values: list[int]) -> Mapping[Role, InputSource]:
    return sources({"w": [values[4 * r:4 * r + 4] for r in range(4)], "a": values[16:20]}, {"x": values[20:24]})


@settings(max_examples=8, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(nested_loops(), st.lists(st.integers(-2**31, 2**31 - 1), min_size=24, max_size=24))
def test_generated_nests_run_securely_with_the_interpreters_outputs(text: str, values: list[int]) -> None:
    program = typed(text)
    assume(batch_rounds(program) != program)
    inputs = raw_sources(values)
    try:
        interpret(program, inputs)
    except InterpError:  # errors are the codegen tests' business (tests/codegen/test_batch_nests.py)
        assume(False)
    secure_run(program, inputs)
