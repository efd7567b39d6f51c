"""Distributed comparison functions (BCGGIKR Eurocrypt 2021, Fig. 3) of the runtime, via ctypes.

Correctness is the defining property eval0 + eval1 = beta * [x < alpha] mod 2^m; a pure-Python
transcription of Fig. 3 (G from the `cryptography` package's AES-CTR) pins the key format byte
for byte; and a statistical check confirms that one key alone looks uniform."""

import ctypes
import math

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import example, given
from hypothesis import strategies as st

from ezlang import runtime_lib as rl

lib = rl.load()
N_IN = [1, 8, 17, 32, 64]
seeds = st.binary(min_size=16, max_size=16)


def key_size(n, m):
    vb = (m + 7) // 8
    return 16 + n * (17 + vb) + vb


def shares(seed, n, m, alphas, betas, xs):
    prg = rl.new_prg(seed)
    k0, k1 = rl.dcf_gen_batch(prg, n, m, np.array(alphas, np.uint64), np.array(betas, np.uint64))
    x = np.array(xs, np.uint64)
    return rl.dcf_eval_batch(0, k0, n, m, x).tolist(), rl.dcf_eval_batch(1, k1, n, m, x).tolist()


def boundary_inputs(n, alpha):
    around = [alpha - 1, alpha, alpha + 1, 0, 2**n - 1]
    return [x for x in around if 0 <= x < 2**n]


@st.composite
def dcf_cases(draw):
    n = draw(st.sampled_from(N_IN))
    m = draw(st.integers(1, 64))
    alpha = draw(st.one_of(st.just(0), st.just(2**n - 1), st.integers(0, 2**n - 1)))
    beta = draw(st.integers(0, 2**m - 1))
    xs = boundary_inputs(n, alpha) + draw(st.lists(st.integers(0, 2**n - 1), max_size=6))
    return n, m, alpha, beta, xs


@given(seed=seeds, case=dcf_cases())
@example(seed=bytes(16), case=(64, 64, 0, 2**64 - 1, [0, 1, 2**64 - 1]))
@example(seed=bytes(16), case=(1, 1, 1, 1, [0, 1]))
def test_shares_sum_to_beta_when_x_below_alpha(seed, case):
    n, m, alpha, beta, xs = case
    s0, s1 = shares(seed, n, m, [alpha] * len(xs), [beta] * len(xs), xs)
    assert [(a + b) % 2**m for a, b in zip(s0, s1, strict=True)] == [
        beta if x < alpha else 0 for x in xs
    ]


@pytest.mark.parametrize("n", N_IN)
@pytest.mark.parametrize("m", [1, 7, 32, 64])
def test_many_keys_in_one_batch(n, m):
    rng = np.random.default_rng(n * 100 + m)
    count = 300
    alphas = (
        rng.integers(0, 2**n, count, dtype=np.uint64, endpoint=False)
        if n < 64
        else rng.integers(0, 2**64 - 1, count, dtype=np.uint64)
    )
    betas = rng.integers(0, 2**m - 1, count, dtype=np.uint64, endpoint=True)
    offsets = rng.integers(-2, 3, count)
    xs = [(int(a) + int(d)) % 2**n for a, d in zip(alphas, offsets, strict=True)]
    s0, s1 = shares(bytes([n, m]) * 8, n, m, alphas.tolist(), betas.tolist(), xs)
    got = [(a + b) % 2**m for a, b in zip(s0, s1, strict=True)]
    assert got == [int(b) if x < int(a) else 0 for a, b, x in zip(alphas, betas, xs, strict=True)]


# ---- Fig. 3 in Python: the reference for the key format --------------------------------------


def expand(seed):
    """G(s) = s^L, v^L, t^L, s^R, v^R, t^R from the first 64 bytes of AES-CTR under s."""
    block = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor().update(bytes(64))
    left = (block[0:16], int.from_bytes(block[32:40], "little"), block[48] & 1)
    right = (block[16:32], int.from_bytes(block[40:48], "little"), block[49] & 1)
    return left, right


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def convert(seed, m):
    return int.from_bytes(seed[:8], "little") % 2**m


def reference_gen(roots, n, m, alpha, beta):
    """Fig. 3 Gen, lines 1-17, with the two root seeds given."""
    mod = 2**m
    s, t = list(roots), [0, 1]
    v_alpha = 0
    body = b""
    for i in range(1, n + 1):
        a = (alpha >> (n - i)) & 1
        g = [expand(s[0]), expand(s[1])]
        keep, lose = (1, 0) if a else (0, 1)
        sign = -1 if t[1] else 1
        s_cw = xor(g[0][lose][0], g[1][lose][0])
        v_cw = sign * (g[1][lose][1] - g[0][lose][1] - v_alpha) + (sign * beta if lose == 0 else 0)
        v_alpha = (v_alpha - g[1][keep][1] + g[0][keep][1] + sign * v_cw) % mod
        t_cw = [g[0][0][2] ^ g[1][0][2] ^ a ^ 1, g[0][1][2] ^ g[1][1][2] ^ a]
        body += (
            s_cw + bytes([t_cw[0] | t_cw[1] << 1]) + (v_cw % mod).to_bytes((m + 7) // 8, "little")
        )
        for b in range(2):
            s[b] = xor(g[b][keep][0], s_cw) if t[b] else g[b][keep][0]
            t[b] = g[b][keep][2] ^ (t[b] & t_cw[keep])
    sign = -1 if t[1] else 1
    last = (sign * (convert(s[1], m) - convert(s[0], m) - v_alpha)) % mod
    body += last.to_bytes((m + 7) // 8, "little")
    return roots[0] + body, roots[1] + body


@given(seed=seeds, case=dcf_cases())
def test_keys_are_exactly_fig3_with_the_aes_ctr_prg(seed, case):
    n, m, alpha, beta, _ = case
    prg = rl.new_prg(seed)
    k0, k1 = rl.dcf_gen_batch(prg, n, m, np.array([alpha], np.uint64), np.array([beta], np.uint64))
    roots = rl.prg_bytes(rl.new_prg(seed), 32)
    assert (bytes(k0), bytes(k1)) == reference_gen((roots[:16], roots[16:]), n, m, alpha, beta)


# ---- sizes, batching, freshness, argument checks ------------------------------------------------


@pytest.mark.parametrize("n", range(1, 65))
def test_key_size_formula(n):
    for m in (1, 8, 9, 32, 63, 64):
        assert rl.dcf_key_size(n, m) == key_size(n, m)
    assert rl.dcf_key_size(64, 64) == 1624 and rl.dcf_key_size(32, 32) == 692


@pytest.mark.parametrize("n, m", [(0, 8), (65, 8), (8, 0), (8, 65)])
def test_key_size_is_zero_for_bad_parameters(n, m):
    assert rl.dcf_key_size(n, m) == 0


def single_gen(prg, n, m, alpha, beta):
    size = key_size(n, m)
    k0, k1 = bytearray(size), bytearray(size)
    status = lib.ezrt_dcf_gen(
        ctypes.byref(prg), n, m, alpha, beta, rl.u8(k0), size, rl.u8(k1), size
    )
    return status, k0, k1


def single_eval(party, key, n, m, x):
    out = ctypes.c_uint64()
    status = lib.ezrt_dcf_eval(party, rl.u8(key), len(key), n, m, x, ctypes.byref(out))
    return status, out.value


def test_batch_equals_sequential_single_calls():
    n, m = 17, 20
    alphas, betas = [5, 0, 2**17 - 1] * 4, [9, 2**20 - 1, 1] * 4
    batch0, batch1 = rl.dcf_gen_batch(
        rl.new_prg(bytes(16)), n, m, np.array(alphas, np.uint64), np.array(betas, np.uint64)
    )
    prg = rl.new_prg(bytes(16))
    singles = [single_gen(prg, n, m, a, b) for a, b in zip(alphas, betas, strict=True)]
    assert bytes(batch0) == b"".join(bytes(k0) for _, k0, _ in singles)
    assert bytes(batch1) == b"".join(bytes(k1) for _, _, k1 in singles)
    xs = [4, 0, 2**17 - 2] * 4
    batch_out = rl.dcf_eval_batch(1, batch1, n, m, np.array(xs, np.uint64)).tolist()
    assert batch_out == [
        single_eval(1, k1, n, m, x)[1] for (_, _, k1), x in zip(singles, xs, strict=True)
    ]


def test_keys_share_correction_words_and_differ_on_every_generation():
    prg = rl.new_prg()
    _, a0, a1 = single_gen(prg, 32, 32, 1000, 7)
    _, b0, b1 = single_gen(prg, 32, 32, 1000, 7)
    assert a0[16:] == a1[16:] and a0[:16] != a1[:16]
    assert len({bytes(k) for k in (a0, a1, b0, b1)}) == 4
    level = 16 + 1 + 4
    for i in range(32):
        cw = 16 + i * level
        assert a0[cw : cw + 16] != b0[cw : cw + 16]


def test_fresh_rng_gives_fresh_keys():
    keys = {bytes(single_gen(rl.new_prg(), 8, 8, 3, 3)[1]) for _ in range(6)}
    assert len(keys) == 6


@pytest.mark.parametrize(
    "n, m, alpha, beta, expected",
    [
        (0, 8, 0, 0, rl.EZRT_EINVAL),
        (65, 8, 0, 0, rl.EZRT_EINVAL),
        (8, 0, 0, 0, rl.EZRT_EINVAL),
        (8, 8, 256, 0, rl.EZRT_EINVAL),
        (8, 8, 0, 256, rl.EZRT_EINVAL),
        (8, 8, 255, 255, rl.EZRT_OK),
    ],
)
def test_gen_checks_parameters(n, m, alpha, beta, expected):
    size = max(key_size(n, m), 1)
    k0, k1 = bytearray(size), bytearray(size)
    prg = rl.new_prg(bytes(16))
    status = lib.ezrt_dcf_gen(
        ctypes.byref(prg), n, m, alpha, beta, rl.u8(k0), size, rl.u8(k1), size
    )
    assert status == expected


def test_gen_and_eval_check_key_lengths():
    prg = rl.new_prg(bytes(16))
    size = key_size(8, 8)
    k0, k1 = bytearray(size + 1), bytearray(size)
    assert (
        lib.ezrt_dcf_gen(ctypes.byref(prg), 8, 8, 1, 1, rl.u8(k0), size + 1, rl.u8(k1), size)
        == rl.EZRT_ELENGTH
    )
    assert (
        lib.ezrt_dcf_gen(ctypes.byref(prg), 8, 8, 1, 1, rl.u8(k1), size, rl.u8(k0), size - 1)
        == rl.EZRT_ELENGTH
    )
    assert single_eval(0, k0, 8, 8, 1)[0] == rl.EZRT_ELENGTH
    keys = np.zeros(2, np.uint64)
    status = lib.ezrt_dcf_eval_batch(0, rl.u8(k1), size, 8, 8, rl.u64(keys), rl.u64(keys), 2)
    assert status == rl.EZRT_ELENGTH


def test_eval_checks_party_and_input_range():
    _, k0, _ = single_gen(rl.new_prg(bytes(16)), 8, 8, 1, 1)
    assert single_eval(2, k0, 8, 8, 1)[0] == rl.EZRT_EINVAL
    assert single_eval(-1, k0, 8, 8, 1)[0] == rl.EZRT_EINVAL
    assert single_eval(0, k0, 8, 8, 256)[0] == rl.EZRT_EINVAL
    assert single_eval(0, k0, 8, 8, 255)[0] == rl.EZRT_OK


def test_gen_without_initialised_rng_is_refused():
    prg = rl.Prg()
    assert single_gen(prg, 8, 8, 1, 1)[0] == rl.EZRT_EUNINIT


def test_empty_batches():
    keys0, keys1 = rl.dcf_gen_batch(
        rl.new_prg(bytes(16)), 8, 8, np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    )
    assert keys0 == keys1 == bytearray()
    assert rl.dcf_eval_batch(0, keys0, 8, 8, np.zeros(0, np.uint64)).tolist() == []


# ---- one key alone looks uniform -------------------------------------------------------------


def uniform_bits(n, m):
    """Positions of the key bits that are uniform for any alpha, beta: all but the six unused
    high bits of each level's t_CW byte (m is a multiple of 8, so V_CW has no padding)."""
    mask = np.ones(key_size(n, m) * 8, dtype=bool)
    for i in range(n):
        t_byte = 16 + i * (17 + m // 8) + 16
        mask[t_byte * 8 + 2 : t_byte * 8 + 8] = False
    return mask


@pytest.mark.parametrize("alpha, beta", [(0, 0), (2**32 - 1, 2**32 - 1), (0x5555AAAA, 1)])
def test_single_key_bits_look_uniform(alpha, beta):
    """Each key bit of party 0 (and party 1: same correction words) over N keys is
    Binomial(N, 1/2) for an ideal DCF. Hoeffding: P(|ones - N/2| >= d) <= 2 exp(-2 d^2 / N);
    with a union bound over the B tested bits, d = sqrt(N/2 ln(2B / 1e-9)) gives a false-failure
    chance below 1e-9 (per-bit test). The total over all N*B bits gets the same bound with
    B = 1, a much tighter window. A fixed seed makes the run deterministic besides."""
    n, m, count = 32, 32, 2000
    alphas, betas = np.full(count, alpha, np.uint64), np.full(count, beta, np.uint64)
    keys0, _ = rl.dcf_gen_batch(rl.new_prg(bytes(range(16))), n, m, alphas, betas)
    bits = np.unpackbits(
        np.frombuffer(bytes(keys0), np.uint8).reshape(count, -1), axis=1, bitorder="little"
    )
    mask = uniform_bits(n, m)
    ones = bits[:, mask].sum(axis=0)
    b = int(mask.sum())
    per_bit = math.sqrt(count / 2 * math.log(2 * b / 1e-9))
    assert np.abs(ones - count / 2).max() < per_bit
    total = count * b
    assert abs(int(ones.sum()) - total / 2) < math.sqrt(total / 2 * math.log(2 / 1e-9))
    assert not bits[:, ~mask].any()
