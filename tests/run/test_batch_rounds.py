"""Round batching in secure runs: independent operations of a loop cost one round, counted by the
channels (RoleStats, what `--stats` prints), and the outputs stay the interpreter's."""

from __future__ import annotations

import random
from typing import Any, Mapping

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ezlang import runtime_lib as rl
from ezlang.inputs import InputSource, load_inputs
from ezlang.interp import InterpError, interpret
from ezlang.passes.batch_rounds import batch_rounds
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role

from codegen.test_batch import batched_loops
from helpers import ROOT, outcome, run_threads


def typed(text: str, bitlen: int = 32) -> ast.Program:
    result = check_source(SourceFile("batch.ezpc", text), bitlen=bitlen)
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


def sources(server: Mapping[str, Any], client: Mapping[str, Any]) -> dict[Role, InputSource]:
    return {Role.SERVER: InputSource.from_mapping(server), Role.CLIENT: InputSource.from_mapping(client),
            Role.ALL: InputSource.from_mapping({})}


def secure_run(program: ast.Program, inputs: Mapping[Role, InputSource], bitlen: int = 32,
               check: bool = True) -> tuple[int, Any]:
    """The online rounds of the run (the larger of the parties' counts) and CLIENT's outputs;
    with `check`, both parties' outputs must be the interpreter's."""
    results = run_threads(program, bitlen, inputs)
    server, client = outcome(results[rl.ROLE_SERVER]), outcome(results[rl.ROLE_CLIENT])
    if check:
        expected = interpret(program, inputs).outputs
        assert (server.outputs, client.outputs) == (expected[Role.SERVER], expected[Role.CLIENT])
    rounds = max(server.stats.total("rounds", phase="online", peer="client"),
                 client.stats.total("rounds", phase="online", peer="server"))
    return rounds, client.outputs


def two_vectors(n: int, body: str, result: str = "bool_bl") -> str:
    return (f"def void main() {{\n  input(SERVER, a, int32_al[{n}]);\n  input(CLIENT, b, int32_al[{n}]);\n"
            f"  {result}[{n}] c;\n  for i = [0:{n}] {{ {body} }};\n  output(CLIENT, c)\n}}\n")


def test_a_dot_product_of_ten_thousand_takes_at_most_three_rounds() -> None:
    n = 10_000
    text = (f"def void main() {{\n  input(SERVER, w, int32_al[{n}]);\n  input(CLIENT, x, int32_al[{n}]);\n"
            f"  int32_al acc = 0;\n  for i = [0:{n}] {{ acc = acc + w[i] * x[i] }};\n  output(CLIENT, acc)\n}}\n")
    rng = random.Random(7)
    w, x = [rng.randint(-1000, 1000) for _ in range(n)], [rng.randint(-1000, 1000) for _ in range(n)]
    rounds, outputs = secure_run(typed(text), sources({"w": w}, {"x": x}))
    assert rounds <= 3
    assert outputs[0].value == sum(p * q for p, q in zip(w, x))


def test_a_hundred_thousand_comparisons_take_a_constant_number_of_rounds() -> None:
    n = 100_000
    rng = random.Random(8)
    a, b = [rng.randint(-2**31, 2**31 - 1) for _ in range(n)], [rng.randint(-2**31, 2**31 - 1) for _ in range(n)]
    rounds, outputs = secure_run(typed(two_vectors(n, "c[i] = a[i] < b[i]")), sources({"a": a}, {"b": b}),
                                 check=False)
    assert rounds <= 3
    assert outputs[0].value == [p < q for p, q in zip(a, b)]


def test_a_nested_operation_takes_two_interactive_rounds() -> None:
    inputs = sources({"a": [3, -4, 5, 6, 7, 8]}, {"b": [2, 2, -2, 2, 3, 9]})
    baseline, _ = secure_run(typed(two_vectors(6, "c[i] = a[i] +_al b[i]", "int32_al")), inputs)
    nested, _ = secure_run(typed(two_vectors(6, "c[i] = (a[i] * b[i]) < a[i] +_al b[i]")), inputs)
    assert nested == baseline + 2


def test_a_loop_carried_product_is_not_batched_and_still_correct() -> None:
    n = 40
    text = (f"def void main() {{\n  input(SERVER, x, int32_al[{n}]);\n  int32_al acc = 1;\n"
            f"  for i = [0:{n}] {{ acc = acc * x[i] }};\n  output(CLIENT, acc)\n}}\n")
    program = typed(text)
    assert batch_rounds(program) == program
    rounds, _ = secure_run(program, sources({"x": [(-1) ** k * (k % 5 + 1) for k in range(n)]}, {}))
    assert rounds >= n


@pytest.mark.parametrize("bitlen", [32, 64])
def test_every_vectorised_operation_gives_the_interpreters_values(bitlen: int) -> None:
    t = f"int{bitlen}_al"
    body = ("lt[i] = a[i] < b[i]; le[i] = a[i] <= b[i]; gt[i] = a[i] > b[i]; ge[i] = a[i] >= b[i]; "
            "eq[i] = a[i] == b[i]; both[i] = (a[i] < b[i]) && (a[i] <= b[i]); "
            "either[i] = (a[i] > b[i]) || (a[i] == b[i]); differ[i] = (a[i] < b[i]) @ (a[i] <= b[i]); "
            "pick[i] = (a[i] > b[i]) ? a[i] * b[i] : b[i]")
    flags = ("lt", "le", "gt", "ge", "eq", "both", "either", "differ")
    text = (f"def void main() {{\n  input(SERVER, a, {t}[6]);\n  input(CLIENT, b, {t}[6]);\n"
            + "".join(f"  bool_bl[6] {name};\n" for name in flags) + f"  {t}[6] pick;\n"
            f"  for i = [0:6] {{ {body} }};\n"
            + "".join(f"  output(CLIENT, {name});\n" for name in flags) + "  output(SERVER, pick)\n}\n")
    low, high = -2 ** (bitlen - 1), 2 ** (bitlen - 1) - 1
    inputs = sources({"a": [5, -7, high, low, 0, 12]}, {"b": [5, 3, low, high, -1, 12]})
    rounds, _ = secure_run(typed(text, bitlen), inputs, bitlen)
    assert rounds == 1 + 3  # the inputs; the comparisons and the product; the logic and the select (18 before)


def test_bitwise_shift_and_division_cost_their_rounds_once_per_loop() -> None:
    """& | ^ share one ezrt_and (2 rounds), / and % one signed ezrt_divmod (2·32 + 4), each right
    shift one ezrt_shr (1): 73 online rounds with the inputs, whatever the trip count."""
    n = 6
    text = (f"def void main() {{\n  input(SERVER, a, int32_al[{n}]);\n  input(CLIENT, b, int32_al[{n}]);\n"
            f"  int32_pl s = 3;\n  int32_al[{n}] c;\n  int32_al[{n}] d;\n"
            f"  for i = [0:{n}] {{ c[i] = ((a[i] & b[i]) ^_bl (a[i] | b[i])) +_al (a[i] >> s) +_al (b[i] >>> s); "
            f"d[i] = (a[i] / b[i]) +_al (a[i] % b[i]) }};\n  output(CLIENT, c);\n  output(SERVER, d)\n}}\n")
    inputs = sources({"a": [-7, 2**31 - 1, -2**31, 12, 0, 99]}, {"b": [2, 0, -1, -5, 3, 7]})
    rounds, _ = secure_run(typed(text), inputs)
    assert rounds == 1 + 2 + (2 * 32 + 4) + 1 + 1 + 2  # the outer ^ is a second ezrt_and, one level up


def test_independent_operations_of_one_level_share_one_round() -> None:
    body = "c[i] = (a[i] * b[i] < b[i] * b[i]) && (a[i] * a[i] >= b[i])"
    rounds, _ = secure_run(typed(two_vectors(6, body)), sources({"a": [3, -4, 5, 6, 7, 8]}, {"b": [2, 2, -2, 2, 3, 9]}))
    assert rounds == 1 + 3  # the inputs; the three products; both comparisons; the &&


def test_random_forest_takes_fewer_rounds() -> None:
    """Before batching: 191 online rounds (SERVER); selectFeature's loop is batched now."""
    program = typed((ROOT / "examples" / "random_forest.ezpc").read_text())
    inputs = {Role.SERVER: load_inputs(ROOT / "examples" / "inputs" / "random_forest.server.json"),
              Role.CLIENT: load_inputs(ROOT / "examples" / "inputs" / "random_forest.client.json"),
              Role.ALL: InputSource.from_mapping({})}
    rounds, outputs = secure_run(program, inputs)
    assert rounds <= 110
    assert outputs[0].value == 34


@settings(max_examples=10, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(batched_loops(), st.lists(st.integers(-2**31, 2**31 - 1), min_size=9, max_size=9))
def test_loops_made_to_be_batched_run_securely_with_the_interpreters_outputs(text: str, values: list[int]) -> None:
    program = typed(text)
    assume(batch_rounds(program) != program)
    inputs = sources({"a": values[:4]}, {"b": values[4:8], "s": values[8]})
    try:
        interpret(program, inputs)
    except InterpError:  # errors are the codegen tests' business (tests/codegen/test_batch.py)
        assume(False)
    secure_run(program, inputs)
