"""numpy float64 references for the layer library, in ONNX's layouts and meanings (NC + spatial
axes; pads as (begin..., end...) per spatial axis). test_references.py holds them to onnxruntime."""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

Ints = Sequence[int]


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, pads: Ints, strides: Ints, dilations: Ints,
         group: int) -> np.ndarray:
    """ONNX Conv: x [N][C][*S], w [F][C/group][*K], pads (begins..., ends...)."""
    rank = x.ndim - 2
    kernel = w.shape[2:]
    padded = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[rank + i]) for i in range(rank)])
    out = [(padded.shape[2 + i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(rank)]
    cg, fg = x.shape[1] // group, w.shape[0] // group
    y = np.zeros((x.shape[0], w.shape[0], *out))
    for g in range(group):
        for tap in itertools.product(*(range(k) for k in kernel)):
            window = tuple(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(tap, dilations, strides, out))
            xs = padded[:, g * cg:(g + 1) * cg][(slice(None), slice(None)) + window]
            ws = w[g * fg:(g + 1) * fg][(slice(None), slice(None)) + tap]
            y[:, g * fg:(g + 1) * fg] += np.einsum("nc...,fc->nf...", xs, ws)
    return y + b.reshape((1, -1) + (1,) * rank)


def conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray, pads: Ints, strides: Ints, dilations: Ints,
                   group: int, output_padding: Ints) -> np.ndarray:
    """ONNX ConvTranspose: x [N][C][*S], w [C][F/group][*K]; input i and tap k reach output
    i*stride + k*dilation - pad_begin; the output has stride*(S-1) + output_padding +
    dilation*(K-1) + 1 - pad_begin - pad_end positions per axis."""
    rank = x.ndim - 2
    size, kernel = x.shape[2:], w.shape[2:]
    out = [strides[i] * (size[i] - 1) + output_padding[i] + dilations[i] * (kernel[i] - 1) + 1 - pads[i]
           - pads[rank + i] for i in range(rank)]
    full = [max(strides[i] * (size[i] - 1) + dilations[i] * (kernel[i] - 1) + 1, out[i] + pads[i])
            for i in range(rank)]
    cg, fg = x.shape[1] // group, w.shape[1]
    y = np.zeros((x.shape[0], fg * group, *full))
    for g in range(group):
        for tap in itertools.product(*(range(k) for k in kernel)):
            spread = tuple(slice(t * d, t * d + s * (n - 1) + 1, s)
                           for t, d, s, n in zip(tap, dilations, strides, size))
            ws = w[g * cg:(g + 1) * cg][(slice(None), slice(None)) + tap]
            y[:, g * fg:(g + 1) * fg][(slice(None), slice(None)) + spread] += np.einsum(
                "nc...,cf->nf...", x[:, g * cg:(g + 1) * cg], ws)
    crop = tuple(slice(pads[i], pads[i] + out[i]) for i in range(rank))
    return y[(slice(None), slice(None)) + crop] + b.reshape((1, -1) + (1,) * rank)


def _windows(x: np.ndarray, kernel: Ints, pads: Ints, strides: Ints, dilations: Ints, fill: float) -> np.ndarray:
    """Every pooling window's taps along a new last axis; positions in the padding hold `fill`."""
    rank = x.ndim - 2
    padded = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[rank + i]) for i in range(rank)], constant_values=fill)
    out = [(padded.shape[2 + i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(rank)]
    taps = []
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = tuple(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(tap, dilations, strides, out))
        taps.append(padded[(slice(None), slice(None)) + window])
    return np.stack(taps, axis=-1)


def max_pool(x: np.ndarray, kernel: Ints, pads: Ints, strides: Ints, dilations: Ints) -> np.ndarray:
    return _windows(x, kernel, pads, strides, dilations, -np.inf).max(axis=-1)


def average_pool(x: np.ndarray, kernel: Ints, pads: Ints, strides: Ints, dilations: Ints,
                 count_include_pad: bool) -> np.ndarray:
    sums = _windows(x, kernel, pads, strides, dilations, 0.0).sum(axis=-1)
    if count_include_pad:
        return sums / np.prod(kernel)
    counts = _windows(np.ones_like(x), kernel, pads, strides, dilations, 0.0).sum(axis=-1)
    return sums / counts


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
