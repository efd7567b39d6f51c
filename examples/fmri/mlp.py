"""A multilayer perceptron trained in numpy: Linear layers with ReLU between, cross-entropy, Adam.

Why numpy: the examples must not need a deep-learning framework; the networks here are small
enough (the rs-fMRI MLP's 22 M weights train in well under a minute on two cores in float32).

Guarantees: deterministic for a given generator; weights are float32, stored as (in, out), so a
layer is y = x @ weight + bias (ONNX Gemm with transB=1 takes weight.T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Layer:
    weight: np.ndarray  # (in, out)
    bias: np.ndarray  # (out,)


def initial_layers(widths: tuple[int, ...], rng: np.random.Generator) -> list[Layer]:
    """PyTorch's default initialisation of nn.Linear: weight and bias uniform in ±1/√fan_in."""
    layers = []
    for fan_in, fan_out in zip(widths, widths[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        layers.append(Layer(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32),
                            rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return layers


def forward(layers: list[Layer], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The logits and every layer's input (what the backward pass needs)."""
    inputs = []
    for k, layer in enumerate(layers):
        inputs.append(x)
        x = x @ layer.weight + layer.bias
        if k < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x, inputs


def gradients(layers: list[Layer], x: np.ndarray, labels: np.ndarray) -> tuple[float, list[Layer]]:
    """Mean cross-entropy and its gradient with respect to every weight and bias."""
    logits, inputs = forward(layers, x)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float(-np.log(probabilities[rows, labels] + 1e-12).mean())
    delta = probabilities
    delta[rows, labels] -= 1.0
    delta /= len(labels)
    grads: list[Layer] = []
    for k in reversed(range(len(layers))):
        grads.append(Layer(inputs[k].T @ delta, delta.sum(axis=0)))
        if k > 0:
            delta = (delta @ layers[k].weight.T) * (inputs[k] > 0)
    return loss, grads[::-1]


def train(layers: list[Layer], x: np.ndarray, labels: np.ndarray, epochs: int, rng: np.random.Generator,
          batch: int = 32, rate: float = 1e-3) -> list[float]:
    """Adam (β = 0.9, 0.999) on shuffled minibatches, in place; the mean loss of every epoch."""
    moments = [[np.zeros_like(a) for a in (layer.weight, layer.bias, layer.weight, layer.bias)] for layer in layers]
    step, losses = 0, []
    for _ in range(epochs):
        order, total = rng.permutation(len(x)), 0.0
        for start in range(0, len(x), batch):
            chosen = order[start:start + batch]
            loss, grads = gradients(layers, x[chosen], labels[chosen])
            total += loss * len(chosen)
            step += 1
            for layer, grad, (mw, mb, vw, vb) in zip(layers, grads, moments):
                for param, g, m, v in ((layer.weight, grad.weight, mw, vw), (layer.bias, grad.bias, mb, vb)):
                    m *= 0.9
                    m += 0.1 * g
                    v *= 0.999
                    v += 0.001 * g * g
                    param -= rate * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
        losses.append(total / len(x))
    return losses


def accuracy(layers: list[Layer], x: np.ndarray, labels: np.ndarray) -> float:
    logits, _ = forward(layers, x)
    return float((logits.argmax(axis=1) == labels).mean())


def onnx_layers(layers: list[Layer], source: str, result: str, prefix: str = "fc") -> tuple[list, list]:
    """The ONNX nodes and initialisers of the layers as torch.onnx.export writes nn.Linear
    (Gemm with transB=1, weight stored (out, in)) with a Relu after every layer but the last,
    reading tensor `source` and writing the last layer's output to `result`."""
    from onnx import helper, numpy_helper

    nodes, weights, previous = [], [], source
    for k, layer in enumerate(layers, start=1):
        name, last = f"{prefix}{k}", k == len(layers)
        weights += [numpy_helper.from_array(np.ascontiguousarray(layer.weight.T), f"{name}.weight"),
                    numpy_helper.from_array(layer.bias, f"{name}.bias")]
        out = result if last else name
        nodes.append(helper.make_node("Gemm", [previous, f"{name}.weight", f"{name}.bias"], [out], name=name, transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"{name}.relu"], name=f"{name}.relu"))
            out = f"{name}.relu"
        previous = out
    return nodes, weights
