"""The runtime's randomness: OS seeds, AES-128 (AES-NI) and the AES-CTR PRG, via ctypes.

AES is checked against FIPS-197 and the PRG against the `cryptography` package's AES-CTR."""

import ctypes

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from ezlang import runtime_lib as rl

lib = rl.load()
seeds = st.binary(min_size=16, max_size=16)


def reference_ctr(seed: bytes, n: int) -> bytes:
    return Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor().update(bytes(n))


def test_aes128_fips197_appendix_c1():
    key = bytes(range(16))
    plaintext = bytes.fromhex("00112233445566778899aabbccddeeff")
    out = bytearray(16)
    assert lib.ezrt_aes128_encrypt(rl.u8(key), rl.u8(plaintext), rl.u8(out), 16) == rl.EZRT_OK
    assert out.hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"


@given(key=seeds, blocks=st.binary(max_size=16 * 9).map(lambda b: b[: len(b) // 16 * 16]))
def test_aes128_matches_reference_ecb(key, blocks):
    out = bytearray(len(blocks))
    assert lib.ezrt_aes128_encrypt(rl.u8(key), rl.u8(blocks), rl.u8(out), len(blocks)) == 0
    expected = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(blocks)
    assert bytes(out) == expected


def test_aes128_rejects_partial_block():
    out = bytearray(32)
    status = lib.ezrt_aes128_encrypt(rl.u8(bytes(16)), rl.u8(bytes(32)), rl.u8(out), 17)
    assert status == rl.EZRT_ELENGTH


def test_cpu_has_aes_ni():
    assert lib.ezrt_cpu_check() == rl.EZRT_OK


def test_prg_known_answer_zero_seed():
    # AES_0(0): the first keystream block of an all-zero seed.
    assert rl.prg_bytes(rl.new_prg(bytes(16)), 16).hex() == "66e94bd4ef8a2c3b884cfa59ca342b2e"


@given(seed=seeds, chunks=st.lists(st.integers(0, 100), max_size=12))
def test_prg_stream_is_aes_ctr_across_any_chunking(seed, chunks):
    prg = rl.new_prg(seed)
    stream = b"".join(rl.prg_bytes(prg, n) for n in chunks)
    assert stream == reference_ctr(seed, sum(chunks))


@given(seed=seeds, n=st.integers(0, 40), bits=st.integers(1, 64))
def test_prg_u64s_are_little_endian_words_reduced(seed, n, bits):
    values = rl.prg_u64s(rl.new_prg(seed), n, bits)
    stream = reference_ctr(seed, 8 * n)
    expected = [int.from_bytes(stream[8 * j : 8 * j + 8], "little") % 2**bits for j in range(n)]
    assert values.tolist() == expected


def test_prg_u64s_consume_eight_bytes_each_whatever_the_width():
    seed = bytes(range(16))
    prg = rl.new_prg(seed)
    rl.prg_u64s(prg, 3, 1)
    assert rl.prg_bytes(prg, 8) == reference_ctr(seed, 32)[24:]


@pytest.mark.parametrize("bits", [0, 65, 1000])
def test_prg_u64s_rejects_widths_outside_1_to_64(bits):
    out = np.zeros(1, dtype=np.uint64)
    prg = rl.new_prg(bytes(16))
    assert lib.ezrt_prg_u64s(ctypes.byref(prg), rl.u64(out), 1, bits) == rl.EZRT_EINVAL


def test_prg_uninitialised_or_wiped_is_refused():
    out = bytearray(4)
    fresh = rl.Prg()
    assert lib.ezrt_prg_bytes(ctypes.byref(fresh), rl.u8(out), 4) == rl.EZRT_EUNINIT
    prg = rl.new_prg(bytes(16))
    lib.ezrt_prg_wipe(ctypes.byref(prg))
    assert bytes(prg.round_keys) == bytes(176)
    assert lib.ezrt_prg_bytes(ctypes.byref(prg), rl.u8(out), 4) == rl.EZRT_EUNINIT


def test_prg_struct_size_agrees_with_binding():
    assert lib.ezrt_prg_size() == ctypes.sizeof(rl.Prg) == 208


def test_fresh_prgs_are_independently_seeded():
    streams = {rl.prg_bytes(rl.new_prg(), 32) for _ in range(8)}
    assert len(streams) == 8


@pytest.mark.parametrize("n", [0, 1, 16, 300, 70000])
def test_random_bytes_fills_exactly_n_bytes(n):
    # Sentinel past the end: getrandom must write n bytes and not one more.
    first, second = bytearray(n + 1), bytearray(n + 1)
    first[n] = second[n] = 0xA5
    assert lib.ezrt_random_bytes(rl.u8(first), n) == rl.EZRT_OK
    assert lib.ezrt_random_bytes(rl.u8(second), n) == rl.EZRT_OK
    assert first[n] == second[n] == 0xA5
    if n >= 16:
        assert first[:n] != second[:n]


def test_strerror_names_every_code_and_tolerates_unknown_ones():
    codes = [getattr(rl, name) for name in dir(rl) if name.startswith("EZRT_E")]
    messages = {rl.strerror(code) for code in codes}
    assert len(messages) == len(codes)
    assert "unknown ezrt status" not in messages
    assert rl.strerror(rl.EZRT_OK) == "success"
    assert rl.strerror(-7) == "unknown ezrt status"


def test_check_raises_with_the_runtime_message():
    with pytest.raises(
        rl.EzrtError, match=r"ezrt_pack: buffer length does not match \(ezrt status 2\)"
    ):
        rl.check("ezrt_pack", rl.EZRT_ELENGTH)
