"""Ring arithmetic in Z_2^n and the bit-packed wire format of the runtime, via ctypes."""

import ctypes

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ezlang import runtime_lib as rl

lib = rl.load()
SIZE_MAX = 2**64 - 1
widths = st.integers(1, 64)
words = st.lists(st.integers(0, 2**64 - 1), max_size=40)

BINARY = {
    "add": (lib.ezrt_ring_add, lambda a, b: a + b),
    "sub": (lib.ezrt_ring_sub, lambda a, b: a - b),
    "mul": (lib.ezrt_ring_mul, lambda a, b: a * b),
}


def arr(values) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


@pytest.mark.parametrize("bits, mask", [(1, 1), (8, 255), (63, 2**63 - 1), (64, 2**64 - 1)])
def test_ring_mask(bits, mask):
    assert lib.ezrt_ring_mask(bits) == mask


@pytest.mark.parametrize("bits", [0, 65, 2**31])
def test_ring_mask_is_zero_outside_1_to_64(bits):
    assert lib.ezrt_ring_mask(bits) == 0


@pytest.mark.parametrize("op", sorted(BINARY))
@given(
    bits=widths,
    pairs=st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=40),
)
def test_binary_ops_match_python_mod_2_to_the_bits(op, bits, pairs):
    function, reference = BINARY[op]
    a, b = arr([p[0] for p in pairs]), arr([p[1] for p in pairs])
    out = np.zeros(len(pairs), dtype=np.uint64)
    n = len(pairs)
    assert function(bits, rl.u64(out), n, rl.u64(a), n, rl.u64(b), n) == rl.EZRT_OK
    assert out.tolist() == [reference(x, y) % 2**bits for x, y in pairs]


@given(bits=widths, values=words)
def test_neg_matches_python_and_works_in_place(bits, values):
    a = arr(values)
    n = len(values)
    assert lib.ezrt_ring_neg(bits, rl.u64(a), n, rl.u64(a), n) == rl.EZRT_OK
    assert a.tolist() == [-v % 2**bits for v in values]


def test_binary_op_in_place_on_first_operand():
    a, b = arr([5, 250]), arr([7, 10])
    assert lib.ezrt_ring_add(8, rl.u64(a), 2, rl.u64(a), 2, rl.u64(b), 2) == rl.EZRT_OK
    assert a.tolist() == [12, 4]


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("lengths", [(3, 2, 3), (3, 3, 2), (2, 3, 3)])
def test_binary_ops_check_every_length(op, lengths):
    function, _ = BINARY[op]
    out, a, b = (np.zeros(3, dtype=np.uint64) for _ in range(3))
    n_out, n_a, n_b = lengths
    status = function(32, rl.u64(out), n_out, rl.u64(a), n_a, rl.u64(b), n_b)
    assert status == rl.EZRT_ELENGTH


@pytest.mark.parametrize("bits", [0, 65])
def test_ops_reject_widths_outside_1_to_64(bits):
    a = np.zeros(1, dtype=np.uint64)
    assert lib.ezrt_ring_mul(bits, rl.u64(a), 1, rl.u64(a), 1, rl.u64(a), 1) == rl.EZRT_EINVAL
    assert lib.ezrt_ring_neg(bits, rl.u64(a), 1, rl.u64(a), 1) == rl.EZRT_EINVAL


def test_neg_checks_length():
    a = np.zeros(2, dtype=np.uint64)
    assert lib.ezrt_ring_neg(8, rl.u64(a), 2, rl.u64(a), 1) == rl.EZRT_ELENGTH


def reference_pack(values, bits) -> bytes:
    packed = sum(v << (bits * j) for j, v in enumerate(values))
    return packed.to_bytes((len(values) * bits + 7) // 8, "little")


def pack(values, bits, out_len=None):
    a = arr(values)
    size = lib.ezrt_packed_size(len(values), bits)
    out = bytearray([0xEE] * (size if out_len is None else out_len))
    status = lib.ezrt_pack(rl.u64(a), len(values), bits, rl.u8(out), len(out))
    return status, out


@given(data=st.data(), bits=widths)
def test_pack_layout_is_little_endian_bit_concatenation(data, bits):
    values = data.draw(st.lists(st.integers(0, 2**bits - 1), max_size=40))
    status, out = pack(values, bits)
    assert status == rl.EZRT_OK
    assert bytes(out) == reference_pack(values, bits)
    back = np.zeros(len(values), dtype=np.uint64)
    status = lib.ezrt_unpack(rl.u8(bytes(out)), len(out), bits, rl.u64(back), len(values))
    assert status == rl.EZRT_OK
    assert back.tolist() == values


def test_pack_known_layout():
    # 3-bit values 1, 2, 7, 5: bits 001 010 111 101 from the low end -> 0b101_111_010_001.
    assert pack([1, 2, 7, 5], 3)[1] == (0b101111010001).to_bytes(2, "little")


def test_pack_leaves_bytes_past_the_packed_size_alone():
    status, out = pack([1, 1, 1], 5, out_len=4)
    assert status == rl.EZRT_OK
    assert bytes(out) == bytes([0b00100001, 0b00000100, 0xEE, 0xEE])


@given(bits=widths, count=st.integers(0, 2**20))
def test_packed_size_is_ceil_of_count_times_bits_over_8(bits, count):
    assert lib.ezrt_packed_size(count, bits) == (count * bits + 7) // 8


def test_packed_size_edge_cases():
    assert lib.ezrt_packed_size(10, 0) == 0
    assert lib.ezrt_packed_size(10, 65) == 0
    assert lib.ezrt_packed_size(SIZE_MAX, 8) == SIZE_MAX
    assert lib.ezrt_packed_size(SIZE_MAX, 1) == (SIZE_MAX + 7) // 8
    assert lib.ezrt_packed_size(SIZE_MAX // 8 + 1, 64) == SIZE_MAX


def test_pack_short_buffer_is_a_length_error():
    status, out = pack([3] * 9, 7, out_len=7)
    assert status == rl.EZRT_ELENGTH
    assert bytes(out) == bytes([0xEE] * 7)


def test_pack_rejects_values_wider_than_bits_before_writing():
    status, out = pack([1, 2, 256, 3], 8)
    assert status == rl.EZRT_EINVAL
    assert bytes(out) == bytes([0xEE] * 4)


@pytest.mark.parametrize("bits", [0, 65])
def test_pack_and_unpack_reject_widths_outside_1_to_64(bits):
    a = np.zeros(1, dtype=np.uint64)
    buf = bytearray(16)
    assert lib.ezrt_pack(rl.u64(a), 1, bits, rl.u8(buf), 16) == rl.EZRT_EINVAL
    assert lib.ezrt_unpack(rl.u8(buf), 16, bits, rl.u64(a), 1) == rl.EZRT_EINVAL


def test_unpack_short_buffer_is_a_length_error_and_padding_is_ignored():
    out = np.zeros(3, dtype=np.uint64)
    assert lib.ezrt_unpack(rl.u8(bytes(2)), 2, 6, rl.u64(out), 3) == rl.EZRT_ELENGTH
    assert lib.ezrt_unpack(rl.u8(b"\xff\xff\xff"), 3, 6, rl.u64(out), 3) == rl.EZRT_OK
    assert out.tolist() == [63, 63, 63]


def test_pack_handles_a_large_batch_at_odd_width():
    values = [(j * 0x9E3779B97F4A7C15) % 2**61 for j in range(5000)]
    status, out = pack(values, 61)
    assert status == rl.EZRT_OK
    assert bytes(out) == reference_pack(values, 61)


def test_empty_arrays_are_fine():
    empty = np.zeros(0, dtype=np.uint64)
    assert lib.ezrt_ring_add(8, rl.u64(empty), 0, rl.u64(empty), 0, rl.u64(empty), 0) == 0
    assert (
        lib.ezrt_pack(rl.u64(empty), 0, 8, ctypes.cast(None, ctypes.POINTER(ctypes.c_uint8)), 0)
        == 0
    )
