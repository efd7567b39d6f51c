"""The native Athos functions (runtime/src/athos_*.c) against the reference (ezlang/lib/athos.py).

Each test runs SERVER, CLIENT and DEALER as threads over loopback (the harness of
test_protocols.py): the parties input random ring values, all three call the same function (the
dealer on masks), and the revealed result must equal the interpreter's extern on the same values,
bit for bit. Rounds are read from SERVER's channel to CLIENT around the call."""

from __future__ import annotations


import numpy as np
import pytest

from ezlang import runtime_lib as rl
from ezlang.lib.athos import ATHOS_EXTERNS, Call
from ezlang.runtime_lib import EZRT_EINVAL, EZRT_ELENGTH, RECIPIENT_ALL, ROLE_CLIENT, ROLE_SERVER
from ezlang.source import SourceFile, Span
from ezlang.types import Base
from test_protocols import LIB, Role, run

SPAN = Span(SourceFile("athos_native_test.ezpc", ""), 0, 0)
BITS = [32, 64]


def reference(name: str, bits: int, **args):
    """The interpreter's extern on nested lists of canonical signed values (written in place)."""
    call = Call(name, Base.INT32 if bits == 32 else Base.INT64, SPAN)
    ATHOS_EXTERNS[name].compute(call, **args)


def ring(values, bits: int) -> list[int]:
    return [int(v) & ((1 << bits) - 1) for v in np.asarray(values, dtype=object).ravel()]


def random_values(rng: np.random.Generator, shape: tuple[int, ...], bits: int, small: bool) -> np.ndarray:
    """Canonical signed values: small ones (so ties and signs both occur) or anywhere in the ring."""
    count = int(np.prod(shape))
    if small:
        return rng.integers(-6, 7, size=shape).astype(object)
    raw = [int.from_bytes(rng.bytes(8), "little") & ((1 << bits) - 1) for _ in range(count)]
    return np.array([v - (1 << bits) if v >> (bits - 1) else v for v in raw], dtype=object).reshape(shape)


def native(role: Role, function: str, *args) -> None:
    """Calls ezrt_athos_<function>: ints as int64_t, numpy wire arrays as (pointer, length)."""
    flat: list = []
    for a in args:
        flat.extend([rl.u64(a), len(a)] if isinstance(a, np.ndarray) else [a])
    role._check(getattr(LIB, f"ezrt_athos_{function}")(role.session, *flat))


def peer_rounds(role: Role) -> int:
    return role.stats()["peer"]["rounds"] if not role.is_dealer else 0


def secure(bits: int, inputs: list[list[int]], outputs: list[int], call) -> tuple[list[list[int]], int]:
    """Inputs (SERVER owns the first, CLIENT the rest), then call(role, wires, results) with zeroed
    result wires of the given sizes; returns the revealed results and SERVER's rounds during the
    call. CLIENT inputs one more value last, so that SERVER's next send starts a round."""

    def program(role: Role):
        wires = [role.input(ROLE_SERVER if k == 0 else ROLE_CLIENT, values) for k, values in enumerate(inputs)]
        role.input(ROLE_CLIENT, [0])
        results = [np.zeros(n, dtype=np.uint64) for n in outputs]
        before = peer_rounds(role)
        call(role, wires, results)
        rounds = peer_rounds(role) - before
        return [role.output(RECIPIENT_ALL, r) if len(r) else [] for r in results], rounds

    (server, rounds), (client, _), _ = run(bits, program)
    assert server == client
    return server, rounds


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 4, 2), (2, 5, 3)])
def test_matmul2d_is_the_references_product_in_one_round(bits, shape):
    rng = np.random.default_rng(sum(shape) * bits)
    i, j, k = shape
    a, b = random_values(rng, (i, j), bits, False), random_values(rng, (j, k), bits, False)
    expected = [[0] * k for _ in range(i)]
    reference("MatMul2D", bits, i=i, j=j, k=k, A=a.tolist(), B=b.tolist(), C=expected, modelIsA=True)

    def call(role, w, out):
        before = role.stats()["client"]["bytes_sent"] if role.is_dealer else 0
        native(role, "matmul2d", i, j, k, w[0], w[1], out[0], 1)
        if role.is_dealer:
            sent = role.stats()["client"]["bytes_sent"] - before
            assert sent == 8 + rl.load().ezrt_packed_size(i * j + j * k + i * k, bits)

    (c,), rounds = secure(bits, [ring(a, bits), ring(b, bits)], [i * k], call)
    assert c == ring(np.array(expected, dtype=object), bits)
    assert rounds == 1


@pytest.mark.parametrize("bits", BITS)
def test_elementwise_product_and_scale_up(bits):
    rng = np.random.default_rng(bits)
    a, b = random_values(rng, (7,), bits, False), random_values(rng, (7,), bits, False)
    product, scaled = [0] * 7, a.tolist()
    reference("ElemWiseSecretSharedVectorMult", bits, s1=7, arr1=a.tolist(), arr2=b.tolist(), out=product)
    reference("ScaleUp", bits, s1=7, arr=scaled, sf=5)

    def call(role, w, out):
        native(role, "elemwise_mult", 7, w[0], w[1], out[0])
        out[1][:] = w[0]
        native(role, "scale_up", 7, out[1], 5)

    (p, s), rounds = secure(bits, [ring(a, bits), ring(b, bits)], [7, 7], call)
    assert (p, s) == (ring(product, bits), ring(scaled, bits))
    assert rounds == 1


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("divisor", [3, -4, 0, -1])
def test_public_division_is_the_references(bits, divisor):
    rng = np.random.default_rng(bits + divisor)
    x = np.concatenate([random_values(rng, (3,), bits, False), random_values(rng, (3,), bits, True),
                        np.array([-(1 << (bits - 1))], dtype=object)])
    expected = [0] * len(x)
    reference("ElemWiseVectorPublicDiv", bits, s1=len(x), arr1=x.tolist(), divisor=divisor, out=expected)

    def call(role, w, out):
        native(role, "elemwise_public_div", len(x), w[0], divisor, out[0])

    (y,), _ = secure(bits, [ring(x, bits)], [len(x)], call)
    assert y == ring(expected, bits)


@pytest.mark.parametrize("bits", BITS)
# A truncation by the ring width or more leaves 0 for every input: no round at all.
@pytest.mark.parametrize("truncate,sf,rounds", [(False, 0, 2), (True, 0, 2), (True, 3, 2), (True, 70, 0)])
def test_relu_is_the_reference_in_two_rounds_or_none_past_the_width(bits, truncate, sf, rounds):
    rng = np.random.default_rng(bits + sf)
    x = np.concatenate([random_values(rng, (6,), bits, False), random_values(rng, (6,), bits, True)])
    expected = [0] * len(x)
    reference("Relu", bits, s1=len(x), inp=x.tolist(), out=expected, sf=sf, doTruncation=truncate)

    def call(role, w, out):
        native(role, "relu", len(x), w[0], out[0], sf, int(truncate))

    (y,), used = secure(bits, [ring(x, bits)], [len(x)], call)
    assert y == ring(expected, bits)
    assert used == rounds


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("sf", [0, 1, 7, 31, 64])
def test_floor_and_scale_down_are_the_references(bits, sf):
    rng = np.random.default_rng(bits * 100 + sf)
    x = np.concatenate([random_values(rng, (5,), bits, False), random_values(rng, (5,), bits, True)])
    floor, down = [0] * len(x), x.tolist()
    reference("Floor", bits, s1=len(x), inp=x.tolist(), out=floor, sf=sf)
    reference("ScaleDown", bits, s1=len(x), arr=down, sf=sf)

    def call(role, w, out):
        native(role, "floor", len(x), w[0], out[0], sf)
        out[1][:] = w[0]
        native(role, "scale_down", len(x), out[1], sf)

    (f, d), rounds = secure(bits, [ring(x, bits)], [len(x), len(x)], call)
    assert (f, d) == (ring(floor, bits), ring(down, bits))
    floor_rounds = 0 if sf == 0 or sf >= bits else 1  # clearing no bits or all of them is local
    assert rounds == floor_rounds + (0 if sf == 0 else 1)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 2), (4, 5), (2, 8)])
def test_argmax_picks_the_first_maximum_in_two_rounds_per_level(bits, rows, cols):
    rng = np.random.default_rng(rows * cols + bits)
    x = random_values(rng, (rows, cols), bits, True)
    expected = [0] * rows
    reference("ArgMax", bits, s1=rows, s2=cols, inp=x.tolist(), out=expected)

    def call(role, w, out):
        native(role, "argmax", rows, cols, w[0], out[0])

    (y,), rounds = secure(bits, [ring(x, bits)], [rows], call)
    assert y == ring(expected, bits)
    assert rounds == 2 * int(np.ceil(np.log2(cols)))


POOLS = [  # N, C, imgH, imgW, kH, kW, padHL, padHR, padWL, padWR, strideH, strideW
    (1, 1, 4, 4, 2, 2, 0, 0, 0, 0, 2, 2),
    (2, 3, 5, 4, 3, 2, 1, 1, 0, 1, 2, 1),
    (1, 2, 5, 5, 2, 3, -1, 0, 1, -1, 1, 2),
]


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("name", ["MaxPool", "AvgPool"])
@pytest.mark.parametrize("pool", POOLS)
def test_pools_are_the_references(bits, name, pool):
    n, c, ih, iw, kh, kw, phl, phr, pwl, pwr, sh, sw = pool
    oh, ow = (ih + phl + phr - kh) // sh + 1, (iw + pwl + pwr - kw) // sw + 1
    rng = np.random.default_rng(sum(pool) + bits)
    x = random_values(rng, (n, ih, iw, c), bits, name == "MaxPool")
    expected = np.zeros((n, oh, ow, c), dtype=np.int64).tolist()
    sizes = (n, oh, ow, c, kh, kw, phl, phr, pwl, pwr, sh, sw, n, ih, iw, c)
    reference(name, bits, **dict(zip(("N", "H", "W", "C", "kH", "kW", "padHL", "padHR", "padWL", "padWR",
                                      "strideH", "strideW", "N1", "imgH", "imgW", "C1"), sizes)),
              inp=x.tolist(), out=expected)

    def call(role, w, out):
        native(role, name.lower(), *sizes, w[0], out[0])

    (y,), rounds = secure(bits, [ring(x, bits)], [n * oh * ow * c], call)
    assert y == ring(np.array(expected, dtype=object), bits)
    if name == "MaxPool":
        assert rounds == 2 * int(np.ceil(np.log2(kh * kw)))


CONVS = [  # N, H, W, CI, FH, FW, CO, padHL, padHR, padWL, padWR, strideH, strideW, G
    (1, 3, 3, 1, 2, 2, 1, 0, 0, 0, 0, 1, 1, 1),
    (2, 4, 5, 2, 3, 2, 3, 1, 1, 0, 1, 2, 1, 1),
    (1, 5, 4, 4, 2, 3, 2, -1, 1, 1, 0, 1, 2, 2),
]


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("conv", CONVS)
def test_conv2d_and_grouped_conv2d_are_the_references_in_one_round(bits, conv):
    n, h, w, ci, fh, fw, co, phl, phr, pwl, pwr, sh, sw, g = conv
    oh, ow = (h + phl + phr - fh) // sh + 1, (w + pwl + pwr - fw) // sw + 1
    rng = np.random.default_rng(sum(conv) + bits)
    x, f = random_values(rng, (n, h, w, ci), bits, False), random_values(rng, (fh, fw, ci // g, co), bits, False)
    expected = np.zeros((n, oh, ow, co), dtype=np.int64).tolist()
    sizes = (n, h, w, ci, fh, fw, co, phl, phr, pwl, pwr, sh, sw)
    names = ("N", "H", "W", "CI", "FH", "FW", "CO", "padHL", "padHR", "padWL", "padWR", "strideH", "strideW")
    reference("Conv2DGroupWrapper", bits, **dict(zip(names, sizes)), G=g, inp=x.tolist(), filter=f.tolist(),
              out=expected)

    def call(role, wires, out):
        if g == 1:
            native(role, "conv2d", *sizes, wires[0], wires[1], out[0])
        else:
            native(role, "conv2d_group", *sizes, g, wires[0], wires[1], out[0])

    (y,), rounds = secure(bits, [ring(x, bits), ring(f, bits)], [n * oh * ow * co], call)
    assert y == ring(np.array(expected, dtype=object), bits)
    assert rounds == 1


@pytest.mark.parametrize("bits", BITS)
def test_conv3d_is_the_reference(bits):
    sizes = (1, 3, 4, 3, 2, 2, 2, 2, 2, 1, 0, 0, 1, 1, 0, 1, 1, 2)
    n, d, h, w, ci, fd, fh, fw, co, pdl, pdr, phl, phr, pwl, pwr, sd, sh, sw = sizes
    od, oh, ow = (d + pdl + pdr - fd) // sd + 1, (h + phl + phr - fh) // sh + 1, (w + pwl + pwr - fw) // sw + 1
    rng = np.random.default_rng(bits)
    x, f = random_values(rng, (n, d, h, w, ci), bits, False), random_values(rng, (fd, fh, fw, ci, co), bits, False)
    expected = np.zeros((n, od, oh, ow, co), dtype=np.int64).tolist()
    names = ("N", "D", "H", "W", "CI", "FD", "FH", "FW", "CO", "padDL", "padDR", "padHL", "padHR", "padWL",
             "padWR", "strideD", "strideH", "strideW")
    reference("Conv3DWrapper", bits, **dict(zip(names, sizes)), inp=x.tolist(), filter=f.tolist(), out=expected)

    def call(role, wires, out):
        native(role, "conv3d", *sizes, wires[0], wires[1], out[0])

    (y,), rounds = secure(bits, [ring(x, bits), ring(f, bits)], [n * od * oh * ow * co], call)
    assert y == ring(np.array(expected, dtype=object), bits)
    assert rounds == 1


@pytest.mark.parametrize("bits", BITS)
def test_transposed_convolutions_are_the_references(bits):
    # 2-D: N, H', W', CI, FH, FW, CO, H, W, pads, strides; H = (H'-1) s + 1 + padL + padR - FH + 1
    two = (1, 2, 3, 2, 2, 3, 2, 4, 2, 1, 1, 0, 1, 2, 1)
    n, hp, wp, ci, fh, fw, co, h, w = two[:9]
    rng = np.random.default_rng(bits + 1)
    x, f = random_values(rng, (n, hp, wp, ci), bits, False), random_values(rng, (fh, fw, co, ci), bits, False)
    expected2 = np.zeros((n, h, w, co), dtype=np.int64).tolist()
    names2 = ("N", "HPrime", "WPrime", "CI", "FH", "FW", "CO", "H", "W", "padHL", "padHR", "padWL", "padWR",
              "strideH", "strideW")
    reference("ConvTranspose2DWrapper", bits, **dict(zip(names2, two)), inp=x.tolist(), filter=f.tolist(),
              out=expected2)
    three = (1, 2, 2, 1, 1, 2, 1, 2, 2, 2, 3, 1, 0, 0, 1, 0, 0, 1, 2, 1, 1)
    x3 = random_values(rng, (1, 2, 2, 1, 1), bits, False)
    f3 = random_values(rng, (2, 1, 2, 2, 1), bits, False)
    expected3 = np.zeros((1, 2, 3, 1, 2), dtype=np.int64).tolist()
    names3 = ("N", "DPrime", "HPrime", "WPrime", "CI", "FD", "FH", "FW", "CO", "D", "H", "W", "padDL", "padDR",
              "padHL", "padHR", "padWL", "padWR", "strideD", "strideH", "strideW")
    reference("ConvTranspose3DWrapper", bits, **dict(zip(names3, three)), inp=x3.tolist(), filter=f3.tolist(),
              out=expected3)

    def call(role, wires, out):
        native(role, "conv_transpose2d", *two, wires[0], wires[1], out[0])
        native(role, "conv_transpose3d", *three, wires[2], wires[3], out[1])

    ins = [ring(x, bits), ring(f, bits), ring(x3, bits), ring(f3, bits)]
    (y2, y3), _ = secure(bits, ins, [n * h * w * co, 12], call)
    assert y2 == ring(np.array(expected2, dtype=object), bits)
    assert y3 == ring(np.array(expected3, dtype=object), bits)


def test_bad_arguments_are_refused_by_every_role_before_anything_is_sent():
    def program(role: Role):
        a = np.zeros(6, dtype=np.uint64)
        codes = []
        for args in [(2, 3, 1, a, a[:3], a[:2], 0), (2, -3, 1, a, a[:3], a[:2], 0), (2, 3, 1, a, a[:4], a[:2], 0)]:
            flat = []
            for x in args:
                flat.extend([rl.u64(np.ascontiguousarray(x)), len(x)] if isinstance(x, np.ndarray) else [x])
            codes.append(LIB.ezrt_athos_matmul2d(role.session, *flat))
        message = LIB.ezrt_session_error(role.session).decode()
        return codes, message, peer_rounds(role)

    server, client, dealer = run(32, program)
    assert server[0] == client[0] == dealer[0] == [0, EZRT_EINVAL, EZRT_ELENGTH]
    assert server[1] == "MatMul2D: `B` has 4 elements, but the other arguments make it 3"
    assert server[2] == 1
