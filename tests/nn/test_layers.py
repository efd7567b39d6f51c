"""Every layer-library function against its numpy float64 reference, on random shapes and
attributes, through check → lower → inline → optimise → interpret.

Error bounds, in ulps u = 2^-scale (docs/nn.md derives them): an input is encoded within u/2; a
product of encoded values x̂ŵ differs from xw by at most (|x| + |w|)·u/2 + u²/4, and its
truncation (or, after the accumulator rewrite, the one truncation of the sum) lowers it by less
than u; additions, comparisons and selections are exact; a division rounds toward zero (< u).
So a dot product of T terms plus a bias is within u·(1/2 + Σ(|x| + |w|)/2 + T·(1 + u/4)).
"""

from __future__ import annotations

import numpy as np
import pytest

import references as ref
from nn_support import Tensor, run_layers

from ezlang.types import Role

SIGMOID_ERROR, TANH_ERROR = 0.0015, 0.003   # of the approximations over the reals (test_approximations)
EXP_ERROR, EXP_RELATIVE = 0.0035, 0.0045


def ulp(scale: int) -> float:
    return 2.0 ** -scale


def assert_within(actual: np.ndarray, expected: np.ndarray, bound: np.ndarray | float) -> None:
    excess = np.abs(actual - expected.reshape(-1)) - np.broadcast_to(bound, expected.shape).reshape(-1)
    assert excess.max() <= 0, f"worst element off by {excess.max()} beyond its bound"


def dot_bound(abs_x_sum: np.ndarray, abs_w_sum: np.ndarray, terms: np.ndarray, scale: int, bias: bool) -> np.ndarray:
    u = ulp(scale)
    return u * (0.5 * bias + 0.5 * (abs_x_sum + abs_w_sum) + terms * (1 + u / 4))


def test_gemm_gemm_relu_and_matmul() -> None:
    rng = np.random.default_rng(1)
    n, k, m = 2, 7, 5
    x, w, b = rng.uniform(-1, 1, (n, k)), rng.uniform(-1, 1, (k, m)), rng.uniform(-1, 1, m)
    out = run_layers(["Gemm", "GemmRelu", "MatMul"],
                     [f"Gemm({n}, {k}, {m}, X, W, B, Y)", f"GemmRelu({n}, {k}, {m}, X, W, B, R)",
                      f"MatMul({n}, {k}, {m}, X, W, P)"],
                     {"X": Tensor(x, Role.CLIENT), "W": Tensor(w), "B": Tensor(b)},
                     {"Y": f"fixed_al[{n * m}]", "R": f"fixed_al[{n * m}]", "P": f"fixed_al[{n * m}]"})
    sums = np.abs(x).sum(axis=1, keepdims=True), np.abs(w).sum(axis=0, keepdims=True)
    assert_within(out["Y"], x @ w + b, dot_bound(*sums, np.full((n, m), k), 12, bias=True))
    assert_within(out["R"], np.maximum(x @ w + b, 0), dot_bound(*sums, np.full((n, m), k), 12, bias=True))
    assert_within(out["P"], x @ w, dot_bound(*sums, np.full((n, m), k), 12, bias=False))


def spatial_args(values: tuple[int, ...], rank: int, fill: int) -> list[int]:
    """Per-axis attributes on the library's three axes (D, H, W): the leading ones filled."""
    return [fill] * (3 - rank) + list(values)


def pad_args(pads: tuple[int, ...], rank: int) -> list[int]:
    return spatial_args(pads[:rank], rank, 0) + spatial_args(pads[rank:], rank, 0)


def random_window(rng: np.random.Generator, rank: int) -> tuple[tuple[int, ...], ...]:
    """Spatial size, kernel, pads, strides and dilations, such that every window holds an input
    position (pads at most dilation·(kernel − 1), as ONNX asks)."""
    kernel = tuple(int(k) for k in rng.integers(1, 4, rank))
    dilations = tuple(int(d) for d in rng.integers(1, 3, rank))
    pads = tuple(int(rng.integers(0, k)) for k in kernel * 2)
    size = tuple(d * (k - 1) + int(rng.integers(1, 5)) for k, d in zip(kernel, dilations))
    return size, kernel, pads, tuple(int(s) for s in rng.integers(1, 3, rank)), dilations


def random_conv(seed: int, rank: int) -> tuple:
    rng = np.random.default_rng(100 + seed)
    group = int(rng.integers(1, 4))
    return (*random_window(rng, rank), group, group * int(rng.integers(1, 3)), group * int(rng.integers(1, 3)),
            32, 12)


CONVS = [  # spatial size, kernel, pads, strides, dilations, group, channels in, out, bitlen, scale
    ((7,), (3,), (1, 2), (2,), (1,), 1, 2, 3, 32, 12),
    ((6, 5), (3, 2), (1, 0, 1, 1), (1, 2), (2, 1), 2, 4, 6, 32, 12),
    ((4, 5, 3), (2, 3, 1), (0, 1, 0, 1, 0, 0), (1, 1, 2), (1, 1, 1), 3, 3, 3, 64, 16),
] + [random_conv(seed, rank) for seed, rank in enumerate((1, 2, 3))]


@pytest.mark.parametrize("size,kernel,pads,strides,dilations,group,cin,cout,bitlen,scale", CONVS)
def test_conv_and_conv_relu(size, kernel, pads, strides, dilations, group, cin, cout, bitlen, scale) -> None:
    rng = np.random.default_rng(len(size))
    rank = len(size)
    x = rng.uniform(-1, 1, (2, cin, *size))
    w = rng.uniform(-1, 1, (cout, cin // group, *kernel))
    b = rng.uniform(-1, 1, cout)
    expected = ref.conv(x, w, b, pads, strides, dilations, group)
    shape = [2, cin, *spatial_args(size, rank, 1), cout, *spatial_args(kernel, rank, 1), *pad_args(pads, rank),
             *spatial_args(strides, rank, 1), *spatial_args(dilations, rank, 1), group]
    args = ", ".join(map(str, shape))
    out = run_layers(["Conv", "ConvRelu"], [f"Conv({args}, X, Wt, B, Y)", f"ConvRelu({args}, X, Wt, B, R)"],
                     {"X": Tensor(x, Role.CLIENT), "Wt": Tensor(w), "B": Tensor(b)},
                     {"Y": f"fixed_al[{expected.size}]", "R": f"fixed_al[{expected.size}]"},
                     bitlen=bitlen, scale=scale)
    zero = np.zeros(cout)
    bound = dot_bound(ref.conv(np.abs(x), np.ones_like(w), zero, pads, strides, dilations, group),
                      ref.conv(np.ones_like(x), np.abs(w), zero, pads, strides, dilations, group),
                      ref.conv(np.ones_like(x), np.ones_like(w), zero, pads, strides, dilations, group), scale, True)
    assert_within(out["Y"], expected, bound)
    assert_within(out["R"], np.maximum(expected, 0), bound)


def random_transposed(seed: int, rank: int) -> tuple:
    """Output padding below the stride or the dilation (ONNX's rule), pads that leave an output."""
    rng = np.random.default_rng(200 + seed)
    size, kernel, pads, strides, dilations = random_window(rng, rank)
    padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(strides, dilations))
    group = int(rng.integers(1, 3))
    return size, kernel, pads, strides, dilations, group, padding, group * int(rng.integers(1, 3)), group


TRANSPOSED = [  # spatial size, kernel, pads, strides, dilations, group, output_padding, channels in, out
    ((4,), (3,), (1, 0), (2,), (1,), 1, (1,), 2, 3),
    ((3, 4), (2, 3), (0, 1, 1, 0), (2, 1), (1, 2), 2, (1, 0), 4, 2),
    ((2, 3, 2), (2, 2, 1), (0, 0, 0, 1, 0, 0), (1, 2, 1), (1, 1, 1), 1, (0, 0, 0), 2, 2),
] + [random_transposed(seed, rank) for seed, rank in enumerate((1, 2, 3))]


@pytest.mark.parametrize("size,kernel,pads,strides,dilations,group,output_padding,cin,cout", TRANSPOSED)
def test_conv_transpose(size, kernel, pads, strides, dilations, group, output_padding, cin, cout) -> None:
    rng = np.random.default_rng(10 + len(size))
    rank = len(size)
    x = rng.uniform(-1, 1, (1, cin, *size))
    w = rng.uniform(-1, 1, (cin, cout // group, *kernel))
    b = rng.uniform(-1, 1, cout)
    attributes = (pads, strides, dilations, group, output_padding)
    expected = ref.conv_transpose(x, w, b, *attributes)
    end_pads = tuple(p - o for p, o in zip(pads[rank:], output_padding))
    shape = [1, cin, *spatial_args(size, rank, 1), cout, *spatial_args(kernel, rank, 1),
             *pad_args(pads[:rank] + end_pads, rank), *spatial_args(strides, rank, 1),
             *spatial_args(dilations, rank, 1), group]
    out = run_layers(["ConvTranspose"], [f"ConvTranspose({', '.join(map(str, shape))}, X, Wt, B, Y)"],
                     {"X": Tensor(x, Role.CLIENT), "Wt": Tensor(w), "B": Tensor(b)},
                     {"Y": f"fixed_al[{expected.size}]"})
    zero = np.zeros(cout)
    bound = dot_bound(ref.conv_transpose(np.abs(x), np.ones_like(w), zero, *attributes),
                      ref.conv_transpose(np.ones_like(x), np.abs(w), zero, *attributes),
                      ref.conv_transpose(np.ones_like(x), np.ones_like(w), zero, *attributes), 12, True)
    assert_within(out["Y"], expected, bound)


POOLS = [  # spatial size, kernel, pads, strides, dilations
    ((7,), (3,), (1, 1), (2,), (1,)),
    ((6, 5), (3, 2), (1, 0, 1, 1), (2, 1), (1, 2)),
    ((4, 4, 3), (2, 2, 2), (1, 0, 0, 1, 1, 1), (2, 2, 1), (1, 1, 1)),
] + [random_window(np.random.default_rng(300 + seed), rank) for seed, rank in enumerate((1, 2, 3))]


@pytest.mark.parametrize("size,kernel,pads,strides,dilations", POOLS)
def test_max_average_and_global_average_pooling(size, kernel, pads, strides, dilations) -> None:
    rank = len(size)
    x = np.random.default_rng(20 + rank).uniform(-2, 2, (2, 3, *size))
    expected_max = ref.max_pool(x, kernel, pads, strides, dilations)
    window = [2, 3, *spatial_args(size, rank, 1), *spatial_args(kernel, rank, 1), *pad_args(pads, rank),
              *spatial_args(strides, rank, 1), *spatial_args(dilations, rank, 1)]
    args = ", ".join(map(str, window))
    out = run_layers(["MaxPool", "AvgPool", "GlobalAvgPool"],
                     [f"MaxPool({args}, X, M)", f"AvgPool({args}, 0, X, A)", f"AvgPool({args}, 1, X, I)",
                      f"GlobalAvgPool(2, 3, {int(np.prod(size))}, X, G)"],
                     {"X": Tensor(x, Role.CLIENT)},
                     {"M": f"fixed_al[{expected_max.size}]", "A": f"fixed_al[{expected_max.size}]",
                      "I": f"fixed_al[{expected_max.size}]", "G": "fixed_al[6]"})
    u = ulp(12)
    assert_within(out["M"], expected_max, u / 2)
    assert_within(out["A"], ref.average_pool(x, kernel, pads, strides, dilations, False), 1.5 * u)
    assert_within(out["I"], ref.average_pool(x, kernel, pads, strides, dilations, True), 1.5 * u)
    assert_within(out["G"], x.reshape(6, -1).mean(axis=1), 1.5 * u)


def test_activations() -> None:
    x = np.concatenate([np.linspace(-10, 10, 161), np.random.default_rng(3).uniform(-5, 5, 40)])
    n, u = x.size, ulp(12)
    out = run_layers(["Relu", "LeakyRelu", "Sigmoid", "Tanh"],
                     [f"Relu({n}, X, R)", f"LeakyRelu({n}, 0.1, X, L)", f"Sigmoid({n}, X, S)",
                      f"Tanh({n}, X, T)"],
                     {"X": Tensor(x, Role.CLIENT)}, {name: f"fixed_al[{n}]" for name in "RLST"})
    assert_within(out["R"], np.maximum(x, 0), u / 2)
    leaky_bound = np.where(x > 0, u / 2, u * (0.5 * np.abs(x) + 0.5 * 0.1 + 1 + u / 4))  # 0.1 is encoded too
    assert_within(out["L"], np.where(x > 0, x, 0.1 * x), leaky_bound)
    assert_within(out["S"], ref.sigmoid(x), SIGMOID_ERROR + 1.875 * u)
    assert_within(out["T"], np.tanh(x), TANH_ERROR + 4 * u)


def test_softmax_and_argmax() -> None:
    rows, m, u = 3, 7, ulp(12)
    x = np.random.default_rng(4).uniform(-6, 6, (rows, m))
    x[2, 3] = x[2, 6] = x[2].max() + 1  # a tie: the first index wins
    out = run_layers(["Softmax", "ArgMax"], [f"Softmax({rows}, {m}, X, Y)", f"ArgMax({rows}, {m}, X, I)"],
                     {"X": Tensor(x, Role.CLIENT)}, {"Y": f"fixed_al[{rows * m}]", "I": f"fixed<0>_al[{rows}]"})
    encoded = np.round(x * 2**12) / 2**12
    assert out["I"].tolist() == np.argmax(encoded, axis=1).tolist() and out["I"][2] == 3
    relative = EXP_RELATIVE + 1.01 * u                   # the table's, and the inputs' encodings
    absolute = 1.625 * u + 1.01 * np.exp(-8)            # fixed-point evaluation; exponents below -8
    spread = 1 / (1 - relative - m * absolute)          # S / Ŝ, the sum S being at least 1
    assert_within(out["Y"], ref.softmax(x), spread * (2 * relative + absolute * (1 + m)) + 2.1 * u)


def test_elementwise_broadcast_and_constant_forms() -> None:
    rng = np.random.default_rng(5)
    n, c, s = 2, 3, 4
    a, b = rng.uniform(-2, 2, n * c * s), rng.choice([-1, 1], n * c * s) * rng.uniform(0.5, 2, n * c * s)
    row, channel = rng.uniform(-2, 2, c * s), rng.uniform(-2, 2, c)
    size = n * c * s
    calls = [f"Add({size}, A, B, Add)", f"Sub({size}, A, B, Sub)", f"Mul({size}, A, B, Mul)",
             f"Div({size}, A, B, Div)", f"AddBroadcast({n}, {c * s}, A, Row, AddB)",
             f"SubBroadcast({n}, {c * s}, A, Row, SubB)", f"MulBroadcast({n}, {c * s}, A, Row, MulB)",
             f"AddChannel({n}, {c}, {s}, A, Ch, AddC)", f"MulChannel({n}, {c}, {s}, A, Ch, MulC)",
             f"AddConst({size}, 0.375, A, AddK)", f"MulConst({size}, 0.3, A, MulK)"]
    names = ["Add", "Sub", "Mul", "Div", "AddB", "SubB", "MulB", "AddC", "MulC", "AddK", "MulK"]
    uses = ["Add", "Sub", "Mul", "Div", "AddBroadcast", "SubBroadcast", "MulBroadcast", "AddChannel", "MulChannel",
            "AddConst", "MulConst"]
    out = run_layers(uses, calls, {"A": Tensor(a, Role.CLIENT), "B": Tensor(b), "Row": Tensor(row),
                                   "Ch": Tensor(channel)}, {name: f"fixed_al[{size}]" for name in names})
    u = ulp(12)
    rows, per_channel = np.tile(row, n), np.repeat(np.tile(channel, n), s)

    def product_bound(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return u * (0.5 * (np.abs(p) + np.abs(q)) + 1 + u / 4)

    assert_within(out["Add"], a + b, u)
    assert_within(out["Sub"], a - b, u)
    assert_within(out["Mul"], a * b, product_bound(a, b))
    assert_within(out["Div"], a / b, u * (1 + 0.51 / np.abs(b) * (1 + np.abs(a / b))))
    assert_within(out["AddB"], a + rows, u)
    assert_within(out["SubB"], a - rows, u)
    assert_within(out["MulB"], a * rows, product_bound(a, rows))
    assert_within(out["AddC"], a + per_channel, u)
    assert_within(out["MulC"], a * per_channel, product_bound(a, per_channel))
    assert_within(out["AddK"], a + 0.375, u / 2)
    assert_within(out["MulK"], a * 0.3, product_bound(a, np.full_like(a, 0.3)))


def test_transpose_and_concat() -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (2, 3, 4))
    other = rng.uniform(-1, 1, (2, 5, 4))
    out = run_layers(["Transpose", "Concat"],
                     ["Transpose(1, 1, 1, 2, 3, 4, 0, 1, 2, 5, 3, 4, X, T)", "Concat(2, 3, 5, 4, X, Z, C)"],
                     {"X": Tensor(x, Role.CLIENT), "Z": Tensor(other)},
                     {"T": f"fixed_al[{x.size}]", "C": f"fixed_al[{x.size + other.size}]"})
    assert_within(out["T"], x.transpose(2, 0, 1), ulp(12) / 2)
    assert_within(out["C"], np.concatenate([x, other], axis=1), ulp(12) / 2)
