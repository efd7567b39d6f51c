"""Secure runs of sums of products (passes/batch_sums.py, ezlang/codegen/sums.py): a layer's
products open only its sums, bit for bit the interpreter's values (secure_run checks both
parties' outputs), in the rounds of one call; bytes are read from the channels' counters, as
`--stats` prints them, and compared with what the protocols send (docs/protocols.md §5.9)."""

from __future__ import annotations

import random
from typing import Any, Mapping

import pytest
from hypothesis import HealthCheck, given, settings

from ezlang import runtime_lib as rl
from ezlang.inputs import InputSource
from ezlang.syntax import ast
from ezlang.types import Role

from codegen.test_batch_sums import K, M, N, generated_layer, layer, layer_inputs
from helpers import outcome, run_threads
from test_batch_rounds import secure_run, sources, typed


def traffic(program: ast.Program, inputs: Mapping[Role, InputSource], bitlen: int = 32) -> dict[str, int]:
    """The bytes CLIENT sent to SERVER and the dealer to CLIENT, online (after the seeds)."""
    results = run_threads(program, bitlen, inputs)
    client, dealer = outcome(results[rl.ROLE_CLIENT]), outcome(results[rl.ROLE_DEALER])
    return {"client": client.stats.total("bytes_sent", phase="online", peer="server"),
            "dealer": dealer.stats.total("bytes_sent", phase="online", peer="client")}


def message(values: int, bits: int = 32) -> int:
    """The bytes of one message of `values` ring elements (header and packed values)."""
    return 8 + rl.load().ezrt_packed_size(values, bits)


@pytest.mark.parametrize("batch", [False, True])
def test_a_layer_opens_only_its_sums(batch: bool) -> None:
    """CLIENT sends its input and its shares of the N·M sums, not of the N·K·M products; the
    dealer sends the matrix correlation (masks of x and w, product of the masks) and the output
    masks."""
    program = typed(layer("w[i][j]", batch))
    rows = N if batch else 1
    sent = traffic(program, layer_inputs("w[i][j]", batch))
    assert sent["client"] == message(rows * K) + message(rows * M)
    assert sent["dealer"] == message(rows * K + K * M + rows * M) + message(rows * M)


def test_a_shape_that_is_no_matrix_product_opens_every_product() -> None:
    program = typed(layer("w[i][j]", False, accumulate="acc = acc + x[(i + j) % K] * w[i][j]"))
    sent = traffic(program, layer_inputs("w[i][j]", False))
    assert sent["client"] == message(K) + message(K * M)
    rounds, _ = secure_run(program, layer_inputs("w[i][j]", False))
    assert rounds == 2


@pytest.mark.parametrize("weight", ["w[i][j]", "w[j][i]"])
def test_a_layer_takes_one_round_for_its_products(weight: str) -> None:
    rounds, outputs = secure_run(typed(layer(weight, True)), layer_inputs(weight, True))
    assert rounds == 2  # the inputs, the sums
    assert len(outputs[0].value) == N * M


def test_a_dot_product_of_a_hundred_thousand_opens_one_value() -> None:
    n = 100_000
    text = (f"def void main() {{\n  input(SERVER, w, int32_al[{n}]);\n  input(CLIENT, x, int32_al[{n}]);\n"
            f"  int32_al acc = 0;\n  for i = [0:{n}] {{ acc = acc + w[i] * x[i] }};\n  output(CLIENT, acc)\n}}\n")
    rng = random.Random(11)
    w, x = [rng.randint(-1000, 1000) for _ in range(n)], [rng.randint(-1000, 1000) for _ in range(n)]
    inputs = sources({"w": w}, {"x": x})
    rounds, outputs = secure_run(typed(text), inputs)
    assert rounds == 2
    assert outputs[0].value == sum(p * q for p, q in zip(w, x))
    assert traffic(typed(text), inputs)["client"] == message(n) + message(1)


@settings(max_examples=10, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(generated_layer())
def test_generated_layers_run_securely_with_the_interpreters_outputs(case: tuple[str, int, Any]) -> None:
    """Both widths, with and without a batch loop, weights in any layout, the flattened Gemm."""
    text, bits, inputs = case
    secure_run(typed(text, bits), inputs, bitlen=bits)
