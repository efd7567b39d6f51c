"""Train the rs-fMRI classifier on synthetic spatial maps and export it to ONNX.

    python examples/fmri/make_model.py --out DIR [--epochs 6] [--per-class 12] [--seed 0]
                                       [--head both|logits|label] [--untrained]

The network is the rs-fMRI MLP: Flatten, Linear 109350→200, ReLU, 200→200, ReLU, 200→200,
ReLU, 200→58, as PyTorch would export it (Gemm with transB=1), opset 13, input `scan` of shape
(N, 45, 54, 45) with a dynamic batch dimension N. `--head` chooses the graph's outputs: `logits`
(N, 58), `label` (N,) = ArgMax of the logits (so that a client may receive only the class), or
both (the default: the accuracy harness compares the logits, the example prints the label).

The weights are trained in numpy (Adam, cross-entropy) on `--per-class` synthetic maps per class
(synthetic.py), in about half a minute on two cores; `--untrained` keeps the seeded
initialisation instead (U(±1/√fan_in), PyTorch's default). Writes DIR/fmri_mlp.onnx,
DIR/labels.txt (the 58 class names, one per line, line k = class k) and DIR/training.json
(accuracies on the training set and on a held-out set from another seed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

import mlp
import synthetic

HIDDEN = (200, 200, 200)
OPSET = 13
INPUT_NAME, LOGITS_NAME, LABEL_NAME = "scan", "logits", "label"
HELD_OUT_SEED = 10_000  # the held-out maps' seed is this plus --seed: never a training or volume seed


def onnx_model(layers: list[mlp.Layer], head: str, shape: tuple[int, ...] = synthetic.SHAPE) -> onnx.ModelProto:
    """Flatten, then the layers as torch.onnx.export writes an MLP, then the chosen outputs; the
    input is (N, *shape)."""
    nodes, weights = mlp.onnx_layers(layers, "flat", LOGITS_NAME)
    nodes.insert(0, helper.make_node("Flatten", [INPUT_NAME], ["flat"], name="flatten", axis=1))
    outputs = []
    if head in ("both", "logits"):
        outputs.append(helper.make_tensor_value_info(LOGITS_NAME, TensorProto.FLOAT, ["N", len(layers[-1].bias)]))
    if head in ("both", "label"):
        nodes.append(helper.make_node("ArgMax", [LOGITS_NAME], [LABEL_NAME], name="argmax", axis=1, keepdims=0))
        outputs.append(helper.make_tensor_value_info(LABEL_NAME, TensorProto.INT64, ["N"]))
    scan = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *shape])
    graph = helper.make_graph(nodes, "fmri_mlp", [scan], outputs, initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ezlang examples/fmri/make_model.py")
    onnx.checker.check_model(model)
    return model


def trained_layers(args: argparse.Namespace) -> tuple[list[mlp.Layer], dict[str, object]]:
    """The layers (trained unless --untrained) and what to record about them."""
    rng = np.random.default_rng(args.seed)
    layers = mlp.initial_layers((int(np.prod(synthetic.SHAPE)), *HIDDEN, synthetic.CLASSES), rng)
    maps = synthetic.templates()
    report: dict[str, object] = {"seed": args.seed, "weights": "untrained: seeded U(±1/sqrt(fan_in))" if args.untrained
                                 else f"Adam, {args.epochs} epochs on {args.per_class} synthetic maps per class"}
    if not args.untrained:
        labels = np.tile(np.arange(synthetic.CLASSES), args.per_class)
        x = synthetic.samples(labels, seed=args.seed, maps=maps).reshape(len(labels), -1)
        report["losses"] = mlp.train(layers, x, labels, args.epochs, rng)
        report["train_accuracy"] = mlp.accuracy(layers, x, labels)
        del x
    held_out_labels = np.arange(synthetic.CLASSES).repeat(2)
    held_out = synthetic.samples(held_out_labels, seed=HELD_OUT_SEED + args.seed, maps=maps)
    report["held_out_accuracy"] = mlp.accuracy(layers, held_out.reshape(len(held_out), -1), held_out_labels)
    return layers, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder for fmri_mlp.onnx and labels.txt")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--per-class", type=int, default=12, help="training maps per class")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the training maps")
    parser.add_argument("--head", choices=("both", "logits", "label"), default="both")
    parser.add_argument("--untrained", action="store_true", help="export the seeded random initial weights")
    parser.add_argument("--labels-csv", type=Path, default=synthetic.LABELS_CSV,
                        help="the cluster-name table (default: ../shared/data/fmri/ClusterNames.csv)")
    args = parser.parse_args()
    start = time.perf_counter()
    layers, report = trained_layers(args)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model(layers, args.head), args.out / "fmri_mlp.onnx")
    names = synthetic.class_names(args.labels_csv)
    (args.out / "labels.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    report["seconds"] = round(time.perf_counter() - start, 1)
    (args.out / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'fmri_mlp.onnx'} ({report['weights']}); "
          f"held-out accuracy {report['held_out_accuracy']:.3f}; {report['seconds']} s")


if __name__ == "__main__":
    main()
