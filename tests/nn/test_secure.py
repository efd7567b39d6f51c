"""A small CNN of library layers (ConvRelu, then Gemm) run securely, SERVER holding the weights
and CLIENT the image: the secure runtime prints the interpreter's values, bit for bit, and they
are within the error bound of the float64 reference."""

from __future__ import annotations

import numpy as np
import references as ref
from ezlang.passes.fixed_pipeline import prepare
from nn_support import Tensor, checked, layer_program, run
from run.helpers import outcome, run_threads
from test_layers import assert_within, dot_bound

from ezlang import runtime_lib as rl
from ezlang.inputs import InputSource
from ezlang.types import Role


def test_a_conv_and_gemm_program_runs_securely() -> None:
    rng = np.random.default_rng(11)
    x, w, b = rng.uniform(-1, 1, (1, 2, 5, 5)), rng.uniform(-0.5, 0.5, (3, 2, 3, 3)), rng.uniform(-0.5, 0.5, 3)
    v, c = rng.uniform(-0.5, 0.5, (27, 2)), rng.uniform(-0.5, 0.5, 2)
    tensors = {"x": Tensor(x, Role.CLIENT), "w": Tensor(w), "b": Tensor(b), "v": Tensor(v), "c": Tensor(c)}
    text = layer_program(["ConvRelu", "Gemm"],
                         ["ConvRelu(1, 2, 1, 5, 5, 3, 1, 3, 3, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, x, w, b, h)",
                          "Gemm(1, 27, 2, h, v, c, y)"],
                         tensors, {"y": "fixed_al[2]"}, hidden={"h": "fixed_al[27]"})
    prepared = prepare(checked(text), bitlen=32)
    given: dict[Role, dict] = {Role.SERVER: {}, Role.CLIENT: {}, Role.ALL: {}}
    for name, tensor in tensors.items():
        given[tensor.role][name] = tensor.values.reshape(-1).tolist()
    sources = prepared.inputs({role: InputSource.from_mapping(values) for role, values in given.items()})

    results = run_threads(prepared.program, 32, sources)
    secure = prepared.outputs(outcome(results[rl.ROLE_CLIENT]).outputs)
    assert [out.value for out in secure] == [run(prepared, given)["y"]]

    hidden = np.maximum(ref.conv(x, w, b, (0, 0, 0, 0), (1, 1), (1, 1), 1), 0).reshape(-1)
    hidden_error = dot_bound(ref.conv(np.abs(x), np.ones_like(w), 0 * b, (0,) * 4, (1, 1), (1, 1), 1),
                             np.abs(w).reshape(3, -1).sum(axis=1)[None, :, None, None], 18, 12, True).reshape(-1)
    # the second layer's inputs carry the first layer's error, its weights their encoding's
    bound = dot_bound(np.abs(hidden).sum(), 0, 27, 12, True) + hidden_error @ (np.abs(v) + 2.0 ** -13)
    assert_within(np.array(secure[0].value), hidden @ v + c, bound)
