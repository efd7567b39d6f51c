"""Two small CNNs for the accuracy harness: a LeNet-style 2-D CNN and a small 3-D CNN, in ONNX.

    python examples/fmri/make_cnns.py --out DIR [--batch 100] [--seed 0]

* DIR/lenet.onnx, input `image` (N, 1, 28, 28): Conv 1→6 5x5 pad 2, Relu, MaxPool 2x2,
  Conv 6→16 5x5, Relu, MaxPool 2x2, Flatten, Gemm 400→120, Relu, Gemm 120→84, Relu,
  Gemm 84→10, output `logits` (N, 10).
* DIR/cnn3d.onnx, input `volume` (N, 1, 16, 16, 16): Conv 1→4 3x3x3 pad 1,
  BatchNormalization, Relu, MaxPool 2x2x2, Conv 4→8 3x3x3 pad 1 stride 1, Relu,
  AveragePool 2x2x2, Flatten, Gemm 512→32, Relu, Gemm 32→10, output `logits` (N, 10).

Both have a dynamic batch dimension N and opset 13. The convolutions keep their seeded random
initialisation (He: normal with variance 2/fan_in; the batch normalisation's statistics are
seeded random too, so that folding it changes the weights); the Gemm head is trained in numpy
(mlp.py, Adam) on features the convolutions compute (onnxruntime) from synthetic maps of 10
classes (synthetic.py, in 2-D and 3-D), so predictions are confident. Also writes
DIR/lenet_batch.npy and DIR/cnn3d_batch.npy: `--batch` held-out inputs each, for
bench/accuracy.py; and DIR/cnns.json: the held-out accuracy of each model.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

import mlp
import synthetic

OPSET = 13
CLASSES = 10
TRAIN_PER_CLASS, EPOCHS = 40, 40


@dataclass(frozen=True)
class Backbone:
    """The convolutional part: its nodes and weights, writing the tensor `features`, of `features` values per row."""

    nodes: list
    weights: list
    features: int


def he(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    fan_in = int(np.prod(shape[1:]))
    return rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)


def small(shape: tuple[int, ...], rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    return rng.uniform(low, high, shape).astype(np.float32)


def lenet_backbone(source: str, rng: np.random.Generator) -> Backbone:
    weights = {"conv1.weight": he((6, 1, 5, 5), rng), "conv1.bias": small((6,), rng, -0.1, 0.1),
               "conv2.weight": he((16, 6, 5, 5), rng), "conv2.bias": small((16,), rng, -0.1, 0.1)}
    node = helper.make_node
    nodes = [node("Conv", [source, "conv1.weight", "conv1.bias"], ["c1"], name="conv1", kernel_shape=[5, 5],
                  pads=[2, 2, 2, 2]),
             node("Relu", ["c1"], ["r1"], name="relu1"),
             node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", kernel_shape=[5, 5]),
             node("Relu", ["c2"], ["r2"], name="relu2"),
             node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
             node("Flatten", ["p2"], ["features"], name="flatten", axis=1)]
    return Backbone(nodes, [numpy_helper.from_array(v, k) for k, v in weights.items()], 16 * 5 * 5)


def cnn3d_backbone(source: str, rng: np.random.Generator) -> Backbone:
    weights = {"conv1.weight": he((4, 1, 3, 3, 3), rng), "conv1.bias": small((4,), rng, -0.1, 0.1),
               "bn1.scale": small((4,), rng, 0.5, 1.5), "bn1.bias": small((4,), rng, -0.1, 0.1),
               "bn1.mean": small((4,), rng, -0.1, 0.1), "bn1.var": small((4,), rng, 0.5, 1.5),
               "conv2.weight": he((8, 4, 3, 3, 3), rng), "conv2.bias": small((8,), rng, -0.1, 0.1)}
    node = helper.make_node
    nodes = [node("Conv", [source, "conv1.weight", "conv1.bias"], ["c1"], name="conv1", kernel_shape=[3, 3, 3],
                  pads=[1] * 6),
             node("BatchNormalization", ["c1", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"], ["b1"], name="bn1",
                  epsilon=1e-5),
             node("Relu", ["b1"], ["r1"], name="relu1"),
             node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2, 2], strides=[2, 2, 2]),
             node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", kernel_shape=[3, 3, 3],
                  pads=[1] * 6, strides=[1, 1, 1]),
             node("Relu", ["c2"], ["r2"], name="relu2"),
             node("AveragePool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2, 2], strides=[2, 2, 2]),
             node("Flatten", ["p2"], ["features"], name="flatten", axis=1)]
    return Backbone(nodes, [numpy_helper.from_array(v, k) for k, v in weights.items()], 8 * 4 * 4 * 4)


def graph_model(name: str, input_name: str, shape: tuple[int, ...], nodes: list, weights: list,
                output: str, width: int) -> onnx.ModelProto:
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", *shape])]
    outputs = [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", width])]
    model = helper.make_model(helper.make_graph(nodes, name, inputs, outputs, initializer=weights),
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ezlang examples/fmri/make_cnns.py")
    onnx.checker.check_model(model)
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def make(name: str, input_name: str, shape: tuple[int, ...], backbone: Callable[[str, np.random.Generator], Backbone],
         hidden: tuple[int, ...], seed: int, batch: int, out: Path) -> float:
    """Writes DIR/NAME.onnx and DIR/NAME_batch.npy; returns the held-out accuracy."""
    rng = np.random.default_rng(seed)
    maps = synthetic.templates(shape, CLASSES, seed=synthetic.TEMPLATE_SEED + len(shape))
    conv = backbone(input_name, rng)
    features_model = graph_model(name, input_name, (1, *shape), conv.nodes, conv.weights, "features", conv.features)
    labels = np.tile(np.arange(CLASSES), TRAIN_PER_CLASS)
    features = run(features_model, synthetic.samples(labels, seed, maps)[:, None])
    head = mlp.initial_layers((conv.features, *hidden, CLASSES), rng)
    mlp.train(head, features, labels, EPOCHS, rng)
    head_nodes, head_weights = mlp.onnx_layers(head, "features", "logits")
    model = graph_model(name, input_name, (1, *shape), conv.nodes + head_nodes, conv.weights + head_weights,
                        "logits", CLASSES)
    onnx.save(model, out / f"{name}.onnx")
    test_labels = np.random.default_rng(seed + 1).integers(0, CLASSES, batch)
    test = synthetic.samples(test_labels, seed + 2, maps)[:, None]
    np.save(out / f"{name}_batch.npy", test)
    return float((run(model, test).argmax(axis=1) == test_labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--batch", type=int, default=100, help="held-out inputs written per model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    accuracies = {"lenet": make("lenet", "image", (28, 28), lenet_backbone, (120, 84), args.seed, args.batch, args.out),
                  "cnn3d": make("cnn3d", "volume", (16, 16, 16), cnn3d_backbone, (32,), args.seed, args.batch,
                                args.out)}
    (args.out / "cnns.json").write_text(json.dumps({"held_out_accuracy": accuracies}, indent=2) + "\n")
    print(f"wrote lenet.onnx and cnn3d.onnx to {args.out}; held-out accuracy {accuracies}")


if __name__ == "__main__":
    main()
