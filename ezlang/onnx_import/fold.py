"""Folding a plan: constant scalings and shifts into the weights of the layer before them, and
a Softmax that only feeds an ArgMax out of the program.

Why: every library call costs rounds, and every product by a weight costs a truncation; a
BatchNormalization, a Gemm's alpha and bias, or a `x * 0.5 + 1` after a convolution are folded
into that convolution's weights and bias at import time, where they are exact floats. Softmax is
monotone, so ArgMax of it is ArgMax of its input: dropping it saves its approximation and its
error, and the label is exact.

Rules, applied until none applies; the producer's output must be read by that consumer only, be
no output of the model, and be read with the shape it was written with:
  * MulBroadcast or MulChannel by a weight constant per output channel, after MatMul or Gemm
    with a weight W (channel = column) or Conv/ConvTranspose (channel = axis 1): W and B scaled
    by the channel's factor.
  * AddBroadcast or AddChannel by such a constant after Gemm, Conv, ConvTranspose: added to the
    bias; after MatMul: it becomes a Gemm with that bias.
  * Relu after Gemm or Conv: GemmRelu or ConvRelu, in which the rewrite rules fuse the ReLU
    with the truncation of the products.
  * ArgMax of a Softmax over the same rows: ArgMax of the Softmax's input.
Then calls whose results nothing reads are removed.

Assumes: a Plan from ezlang.onnx_import.lower. Guarantees: a Plan computing the same outputs
(exactly, in real arithmetic) with no more calls.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from ezlang.onnx_import.plan import Call, Plan, Tensor, Weight
from ezlang.onnx_import.shapes import numel

_LINEAR = ("MatMul", "Gemm", "Conv", "ConvTranspose")
_CONSTANT_OPS = ("MulBroadcast", "AddBroadcast", "MulChannel", "AddChannel")


def fold(plan: Plan) -> Plan:
    calls = list(plan.calls)
    while True:
        merged = _fold_once(calls, plan)
        if merged is None:
            break
        calls = merged
    return replace(plan, calls=tuple(_live(calls, plan)))


def _fold_once(calls: list[Call], plan: Plan) -> Optional[list[Call]]:
    for position, consumer in enumerate(calls):
        producer_index = _sole_producer(calls, consumer, plan)
        if producer_index is None:
            continue
        producer = calls[producer_index]
        merged = _merge(producer, consumer)
        if merged is not None:
            rest = [c for i, c in enumerate(calls) if i not in (producer_index, position)]
            rest.insert(producer_index, merged)
            return rest
    return None


def _sole_producer(calls: list[Call], consumer: Call, plan: Plan) -> Optional[int]:
    """The index of the call writing the consumer's first input, when the consumer is its only
    reader, the model does not output it, and the shape read is the shape written."""
    source = dict(consumer.args).get("A", dict(consumer.args).get("X"))
    if not isinstance(source, Tensor):
        return None
    index = next((i for i, c in enumerate(calls) if c.output.var == source.var), None)
    if index is None or calls[index].output.shape != source.shape:
        return None
    readers = sum(c.reads.count(source.var) for c in calls)
    if readers != 1 or any(out.tensor.var == source.var for out in plan.outputs):
        return None
    return index


def _merge(producer: Call, consumer: Call) -> Optional[Call]:
    if consumer.function == "ArgMax" and producer.function == "Softmax" \
            and (producer.arg("N"), producer.arg("M")) == (consumer.arg("N"), consumer.arg("M")):
        return replace(consumer, nodes=producer.nodes + consumer.nodes).with_args(X=producer.arg("X"))
    if consumer.function == "Relu" and producer.function in ("Gemm", "Conv"):
        return replace(producer, function=producer.function + "Relu").absorbing(consumer)
    if consumer.function not in _CONSTANT_OPS or producer.function not in _LINEAR:
        return None
    constant, weights = consumer.arg("B"), producer.arg("Wt" if producer.function.startswith("Conv") else "W")
    if not isinstance(constant, Weight) or not isinstance(weights, Weight):
        return None
    if consumer.function.endswith("Channel"):
        per_output = producer.function.startswith("Conv") and constant.values.size == _channels(producer)[0]
        factors = constant.values.reshape(-1) if per_output else None
    else:
        factors = _per_channel(constant.values.reshape(-1), *_channels(producer))
    if factors is None:
        return None
    merged: Optional[Call]
    if consumer.function.startswith("Mul"):
        merged = _scaled(producer, weights, factors)
    else:
        merged = _shifted(producer, replace(constant, values=factors))
    return merged.absorbing(consumer) if merged is not None else None


def _channels(call: Call) -> tuple[int, int]:
    """(channels, positions per channel) of one row of the call's output."""
    if call.function.startswith("Conv"):
        shape = call.output.shape
        return shape[1].static, numel(shape[2:]).static
    return call.arg("M").static, 1  # type: ignore[union-attr]


def _per_channel(values: np.ndarray, channels: int, inner: int) -> Optional[np.ndarray]:
    """One factor per channel when `values`, repeated along a row of channels × inner elements,
    is constant within each channel; None otherwise."""
    block = channels * inner
    if block % values.size == 0:
        values = np.tile(values, block // values.size)
    elif values.size % block == 0:
        rows = values.reshape(-1, block)
        if not (rows == rows[0]).all():
            return None
        values = rows[0]
    else:
        return None
    grid = values.reshape(channels, inner)
    return grid[:, 0].copy() if (grid == grid[:, :1]).all() else None


def _scaled(call: Call, weights: Weight, factors: np.ndarray) -> Call:
    values = weights.values
    if call.function in ("MatMul", "Gemm"):
        scaled = values * factors.reshape((1,) * (values.ndim - 1) + (-1,)) if values.ndim > 1 else values * factors
        changes = {"W": replace(weights, values=scaled)}
    elif call.function == "Conv":
        changes = {"Wt": replace(weights, values=values * factors.reshape((-1,) + (1,) * (values.ndim - 1)))}
    else:  # ConvTranspose: weights [C, F/group, ...], output channel f = g·(F/group) + j
        group = call.arg("group").static  # type: ignore[union-attr]
        grouped = values.reshape((group, values.shape[0] // group) + values.shape[1:])
        factor_grid = factors.reshape((group, 1, -1) + (1,) * (values.ndim - 2))
        changes = {"Wt": replace(weights, values=(grouped * factor_grid).reshape(values.shape))}
    bias = dict(call.args).get("B")
    if isinstance(bias, Weight):
        changes["B"] = replace(bias, values=bias.values * factors)
    return call.with_args(**changes)


def _shifted(call: Call, shifts: Weight) -> Optional[Call]:
    """`call` with `shifts` (one per channel) added to its bias; a MatMul becomes a Gemm whose
    bias is `shifts`."""
    if call.function == "MatMul":
        weights = call.arg("W")
        if not isinstance(weights, Weight) or weights.values.ndim != 2:
            return None
        args = dict(call.args)
        return replace(call, function="Gemm", args=tuple(
            (name, args[name]) for name in ("N", "K", "M", "X", "W")) + (("B", shifts), ("Y", args["Y"])))
    bias = call.arg("B")
    assert isinstance(bias, Weight)
    return call.with_args(B=replace(bias, values=bias.values + shifts.values))


def _live(calls: list[Call], plan: Plan) -> list[Call]:
    """The calls whose results reach an output of the model."""
    needed = {out.tensor.var for out in plan.outputs}
    kept = []
    for call in reversed(calls):
        if call.output.var in needed:
            kept.append(call)
            needed.update(call.reads)
    return list(reversed(kept))
