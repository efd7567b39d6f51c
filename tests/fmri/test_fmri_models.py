"""The numpy MLP trainer and the ONNX graphs of examples/fmri, checked against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

import make_cnns
import make_model
import mlp


def session(model: onnx.ModelProto) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    layers = mlp.initial_layers((5, 4, 3), rng)
    for layer in layers:
        layer.weight, layer.bias = layer.weight.astype(np.float64), layer.bias.astype(np.float64)
    x, labels = rng.normal(size=(6, 5)), np.array([0, 1, 2, 0, 1, 2])
    _, grads = mlp.gradients(layers, x, labels)
    step = 1e-6
    for k, (i, j) in [(0, (1, 2)), (0, (4, 0)), (1, (3, 1))]:
        layers[k].weight[i, j] += step
        up, _ = mlp.gradients(layers, x, labels)
        layers[k].weight[i, j] -= 2 * step
        down, _ = mlp.gradients(layers, x, labels)
        layers[k].weight[i, j] += step
        assert grads[k].weight[i, j] == pytest.approx((up - down) / (2 * step), rel=1e-4, abs=1e-8)


def test_training_separates_two_clusters() -> None:
    rng = np.random.default_rng(1)
    labels = np.arange(40) % 2
    x = (rng.normal(size=(40, 8)) + 2.0 * (2 * labels[:, None] - 1)).astype(np.float32)
    layers = mlp.initial_layers((8, 6, 2), rng)
    losses = mlp.train(layers, x, labels, epochs=30, rng=rng, batch=8, rate=1e-2)
    assert losses[-1] < losses[0] / 10
    assert mlp.accuracy(layers, x, labels) == 1.0


@pytest.mark.parametrize("head", ["both", "logits", "label"])
def test_the_exported_mlp_computes_the_numpy_network(head: str) -> None:
    rng = np.random.default_rng(2)
    shape = (2, 3, 4)
    layers = mlp.initial_layers((24, 7, 7, 7, 5), rng)
    model = make_model.onnx_model(layers, head, shape)
    assert [n.op_type for n in model.graph.node][:3] == ["Flatten", "Gemm", "Relu"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    x = rng.uniform(-1, 1, (3, *shape)).astype(np.float32)
    got = dict(zip([o.name for o in model.graph.output], session(model).run(None, {"scan": x})))
    want, _ = mlp.forward(layers, x.reshape(3, -1))
    assert sorted(got) == sorted({"both": ["logits", "label"], "logits": ["logits"], "label": ["label"]}[head])
    if "logits" in got:
        np.testing.assert_allclose(got["logits"], want, rtol=1e-5, atol=1e-6)
    if "label" in got:
        assert got["label"].tolist() == want.argmax(axis=1).tolist()


def test_the_cnns_are_confident_on_held_out_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(make_cnns, "TRAIN_PER_CLASS", 20)
    accuracy = make_cnns.make("lenet", "image", (28, 28), make_cnns.lenet_backbone, (120, 84), 0, 30, tmp_path)
    model = onnx.load(tmp_path / "lenet.onnx")
    assert [n.op_type for n in model.graph.node][:6] == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool"]
    batch = np.load(tmp_path / "lenet_batch.npy")
    assert batch.shape == (30, 1, 28, 28)
    assert session(model).run(None, {"image": batch})[0].shape == (30, 10)
    assert accuracy >= 0.9
