"""Protocol selection from ownership (passes/protocols.py): which sums of products run the
one-sided protocol, which inputs are never shared, and `ezlang compile --explain-protocols`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from ezlang.passes.fixed_pipeline import prepare
from ezlang.passes.pipeline import check_source
from ezlang.passes.protocols import Other, ProtocolPlan, Side, explain, explain_secure
from ezlang.passes.batch_rounds import batch_rounds
from ezlang.passes.batch_sums import batch_sums
from ezlang.passes.protocols import choose_protocols
from ezlang.source import SourceFile
from ezlang.types import Role

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "fmri"))

import make_model  # noqa: E402
import mlp  # noqa: E402

LAYER = """
def void main() {
  input(SERVER, w, fixed_al[4*3], [-1.0, 1.0]);
  input(CLIENT, x, fixed_al[4], [-1.0, 1.0]);
  %(extra)s
  fixed_al[3] y;
  for j = [0 : 3] {
    fixed_al acc = 0.0;
    for i = [0 : 4] {
      acc = acc + x[i] * w[i*3 + j]
    };
    y[j] = acc
  };
  output(CLIENT, y);
}
"""


def plan_of(text: str) -> ProtocolPlan:
    checked = check_source(SourceFile("t.ezpc", text), bitlen=64, scale=12)
    assert checked.program is not None, checked.diagnostics
    program = prepare(checked.program, bitlen=64).program
    return choose_protocols(batch_sums(batch_rounds(program)))[1]


def test_weights_times_the_clients_input_is_one_sided_and_neither_is_shared() -> None:
    plan = plan_of(LAYER % {"extra": ""})
    (choice,) = plan.products.values()
    assert (choice.slot, choice.known, choice.other, choice.other_array) == (0, "w", Other.CLIENT_CLEAR, "x")
    assert choice.side is Side.RIGHT  # the sums are x·W: W is the right factor
    assert {name: (p.owner, p.slots) for name, p in plan.inputs.items()} == {
        "w": (Role.SERVER, (0,)), "x": (Role.CLIENT, (0,))}
    assert plan.general == {}


def test_loop_bounds_from_global_constants_are_constant() -> None:
    text = "int32 N = 4;\n" + LAYER.replace("fixed_al[4]", "fixed_al[N]").replace("[0 : 4]", "[0 : N]")
    (choice,) = plan_of(text % {"extra": ""}).products.values()
    assert (choice.known, choice.other) == ("w", Other.CLIENT_CLEAR)


def test_an_input_read_elsewhere_is_shared_and_its_product_general() -> None:
    plan = plan_of(LAYER % {"extra": "output(SERVER, w[0]);"})
    assert plan.products == {} and plan.inputs == {}
    (general,) = plan.general.values()
    assert general.reason == "`w` is also used elsewhere, so it must be shared"


def test_a_client_input_read_elsewhere_becomes_a_wire_operand() -> None:
    plan = plan_of(LAYER % {"extra": "output(CLIENT, x[0]);"})
    (choice,) = plan.products.values()
    assert choice.other is Other.WIRE and choice.other_array is None
    assert set(plan.inputs) == {"w"}


def test_a_known_factor_reading_another_variable_is_general() -> None:
    text = LAYER.replace("w[i*3 + j]", "w[i*3 + (j + k) %% 3]") % {"extra": "input(ALL, k, int32_pl);"}
    (general,) = plan_of(text).general.values()
    assert general.reason == "the known factor reads k, not only the loops' variables"


def test_a_product_of_two_client_values_stays_general() -> None:
    text = LAYER.replace("input(SERVER, w", "input(CLIENT, w") % {"extra": ""}
    plan = plan_of(text)
    assert plan.products == {}
    assert [g.reason for g in plan.general.values()] == ["no factor is an input array the SERVER alone knows"]


HIDDEN = """
def void main() {
  input(SERVER, w1, fixed_al[4*3], [-1.0, 1.0]);
  input(SERVER, w2, fixed_al[3*2], [-1.0, 1.0]);
  input(CLIENT, x, fixed_al[4], [-1.0, 1.0]);
  fixed_al[3] h;
  for j = [0 : 3] {
    fixed_al acc = 0.0;
    for i = [0 : 4] { acc = acc + x[i] * w1[i*3 + j] };
    h[j] = acc > 0.0 ? acc : 0.0
  };
  fixed_al[2] y;
  for q = [0 : 2] {
    fixed_al acc2 = 0.0;
    for j = [0 : 3] { acc2 = acc2 + h[j] * w2[j*2 + q] };
    y[q] = acc2
  };
  %(extra)s
  output(CLIENT, y);
}
"""


def test_a_relu_output_read_only_by_a_one_sided_product_is_kept_as_shares() -> None:
    plan = plan_of(HIDDEN % {"extra": ""})
    assert [c.other for c in plan.products.values()] == [Other.CLIENT_CLEAR, Other.SHARED]
    assert list(plan.shared) == ["h"] and plan.to_shares(plan.shared["h"][0])


def test_a_relu_output_read_elsewhere_stays_a_wire() -> None:
    plan = plan_of(HIDDEN % {"extra": "output(SERVER, h);"})
    assert [c.other for c in plan.products.values()] == [Other.CLIENT_CLEAR, Other.WIRE]
    assert plan.shared == {}


def test_explain_lists_every_choice_and_the_private_inputs() -> None:
    text = explain(plan_of(LAYER % {"extra": ""}))
    lines = text.splitlines()
    assert lines[0] == ("t.ezpc:10:19: `x[i] * w[i*3 + j]`: one-sided product (slot 0): `w` is known to the "
                        "SERVER alone and masked once per session; the other factor is `x`, the CLIENT's clear "
                        "input (sent masked within the product's round)")
    assert lines[1] == "t.ezpc:3:3: input `w` is never shared: the SERVER keeps it for slot 0"
    assert lines[2] == "t.ezpc:4:3: input `x` is never shared: the CLIENT keeps it for slot 0"
    assert lines[-1] == "1 one-sided, 0 general sums of products"


@pytest.fixture(scope="module")
def fmri_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rs-fMRI MLP's program as `ezlang import` writes it: the example's architecture and
    input shape (45×54×45 → 200 → 200 → 200 → 58 in the example), with narrower hidden layers so
    that the test stays small; the program's structure does not depend on the widths."""
    folder = tmp_path_factory.mktemp("fmri")
    inputs = int(np.prod(make_model.synthetic.SHAPE))
    layers = mlp.initial_layers((inputs, 4, 4, 4, make_model.synthetic.CLASSES), np.random.default_rng(0))
    onnx.save(make_model.onnx_model(layers, "both"), folder / "mlp.onnx")
    done = subprocess.run([sys.executable, "-m", "ezlang", "import", str(folder / "mlp.onnx"), "-o",
                           str(folder / "model"), "--bitlen", "64", "--scale", "12", "--input-range", "-1", "1",
                           "--batch", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return folder / "model" / "model.ezpc"


def test_every_layer_of_the_fmri_mlp_is_one_sided(fmri_program: Path) -> None:
    checked = check_source(SourceFile(str(fmri_program), fmri_program.read_text()), bitlen=64, scale=12)
    assert checked.program is not None
    plan = choose_protocols(batch_sums(batch_rounds(prepare(checked.program, bitlen=64).program)))[1]
    assert plan.general == {}
    assert [(c.slot, c.known, c.other) for c in plan.products.values()] == [
        (0, "fc1Weight", Other.CLIENT_CLEAR), (1, "fc2Weight", Other.SHARED), (2, "fc3Weight", Other.SHARED),
        (3, "fc4Weight", Other.SHARED)]
    assert set(plan.inputs) == {"fc1Weight", "fc2Weight", "fc3Weight", "fc4Weight", "scan"}
    assert set(plan.shared) == {"fc1Relu", "fc2Relu", "fc3Relu"}  # every ReLU ends with shares
    assert "4 one-sided, 0 general sums of products" in explain_secure(
        prepare(checked.program, bitlen=64).program)


def test_compile_explain_protocols_prints_the_plan(fmri_program: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ezlang", "compile", str(fmri_program), "--bitlen", "64",
                           "--scale", "12", "--explain-protocols"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum("one-sided product (slot" in line for line in lines) == 4
    assert lines[-1] == "4 one-sided, 0 general sums of products"
