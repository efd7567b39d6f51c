"""Secure runs with one-sided products (passes/protocols.py, ezrt_onesided_matmul): outputs bit
for bit the interpreter's, in the rounds and bytes the protocol promises (docs/protocols.md
§5.10), private inputs never sent as wires, and ReLU outputs kept as additive shares."""

from __future__ import annotations

import random
from typing import Any, Mapping

import pytest

from ezlang import runtime_lib as rl
from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.fixed_pipeline import prepare
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role
from run.helpers import outcome, run_threads


def typed(text: str, bitlen: int) -> ast.Program:
    checked = check_source(SourceFile("t.ezpc", text), bitlen=bitlen)
    assert checked.program is not None, checked.diagnostics
    return prepare(checked.program, bitlen=bitlen).program


def sources(server: Mapping[str, Any], client: Mapping[str, Any]) -> dict[Role, InputSource]:
    return {Role.SERVER: InputSource.from_mapping(server), Role.CLIENT: InputSource.from_mapping(client),
            Role.ALL: InputSource.from_mapping({})}


def run(program: ast.Program, inputs: dict[Role, InputSource], bitlen: int) -> dict[str, Any]:
    """Outputs checked against the interpreter; rounds and online bytes of both parties."""
    results = run_threads(program, bitlen, inputs)
    server, client, dealer = (outcome(results[r]) for r in (rl.ROLE_SERVER, rl.ROLE_CLIENT, rl.ROLE_DEALER))
    expected = interpret(program, inputs).outputs
    assert (server.outputs, client.outputs) == (expected[Role.SERVER], expected[Role.CLIENT])
    return {"server_rounds": server.stats.total("rounds", phase="online", peer="client"),
            "client_rounds": client.stats.total("rounds", phase="online", peer="server"),
            "client_sent": client.stats.total("bytes_sent", phase="online", peer="server"),
            "server_sent": server.stats.total("bytes_sent", phase="online", peer="client"),
            "dealer_sent": dealer.stats.total("bytes_sent", phase="online"),
            "outputs": client.outputs}


def message(values: int, bits: int) -> int:
    return 8 + rl.load().ezrt_packed_size(values, bits)


DOT = """def void main() {
  input(SERVER, w, int%(b)d_al[%(n)d]);
  input(CLIENT, x, int%(b)d_al[%(n)d]);
  int%(b)d_al acc = %(zero)s;
  for i = [0:%(n)d] { acc = acc + w[i] * x[i] };
  output(CLIENT, acc)
}
"""


@pytest.mark.parametrize("bitlen", [32, 64])
def test_a_dot_product_of_the_servers_and_the_clients_arrays_is_one_message_each_way(bitlen: int) -> None:
    n = 1000
    rng = random.Random(5)
    w, x = [rng.randint(-1000, 1000) for _ in range(n)], [rng.randint(-1000, 1000) for _ in range(n)]
    got = run(typed(DOT % {"b": bitlen, "n": n, "zero": "0L" if bitlen == 64 else "0"}, bitlen), sources({"w": w}, {"x": x}), bitlen)
    assert got["outputs"][0].value == sum(p * q for p, q in zip(w, x))
    # CLIENT: x masked, then its part of the sum, in one flight; SERVER: its part. The weights
    # are never shared as wires: their masked copy (n values) goes to CLIENT once per session,
    # at the first call (one flight more for SERVER, in the run that registers).
    assert (got["client_rounds"], got["server_rounds"]) == (1, 2)
    assert got["client_sent"] == message(n, bitlen) + message(1, bitlen)
    assert got["server_sent"] == message(n, bitlen) + message(1, bitlen)


MLP = """def void main() {
  input(SERVER, w1, fixed_al[%(k)d*%(m)d], [-1.0, 1.0]);
  input(SERVER, b1, fixed_al[%(m)d], [-1.0, 1.0]);
  input(SERVER, w2, fixed_al[%(m)d*%(o)d], [-1.0, 1.0]);
  input(CLIENT, x, fixed_al[%(k)d], [-1.0, 1.0]);
  fixed_al[%(m)d] h;
  for p = [0 : %(m)d] {
    fixed_al acc = b1[p];
    for k = [0 : %(k)d] { acc = acc + x[k] * w1[k*%(m)d + p] };
    h[p] = acc > 0.0 ? acc : 0.0
  };
  fixed_al[%(o)d] y;
  for q = [0 : %(o)d] {
    fixed_al acc2 = 0.0;
    for j = [0 : %(m)d] { acc2 = acc2 + h[j] * w2[j*%(o)d + q] };
    y[q] = acc2
  };
  output(CLIENT, y)
}
"""


@pytest.mark.parametrize("bitlen", [32, 64])
def test_a_two_layer_network_runs_in_three_rounds_with_shared_hidden_values(bitlen: int) -> None:
    k, m, o = 12, 6, 3
    rng = random.Random(bitlen)
    values = {"w1": [rng.uniform(-1, 1) for _ in range(k * m)], "b1": [rng.uniform(-1, 1) for _ in range(m)],
              "w2": [rng.uniform(-1, 1) for _ in range(m * o)]}
    x = [rng.uniform(-1, 1) for _ in range(k)]
    checked = check_source(SourceFile("t.ezpc", MLP % {"k": k, "m": m, "o": o}), bitlen=bitlen)
    assert checked.program is not None
    prepared = prepare(checked.program, bitlen=bitlen)
    inputs = prepared.inputs(sources(values, {"x": x}))
    got = run(prepared.program, inputs, bitlen)
    # CLIENT: layer 1 (x sent masked inside it), the ReLU's one round, layer 2 (opening the
    # ReLU's shares masked); SERVER sends each masked model once more, in this registering run
    assert got["client_rounds"] == 3
