"""The fused ReLU and truncation, ezrt_relu_rescale (runtime/src/proto_relu.c, protocols.md §5.8),
through ctypes with the three-role harness of test_protocols.py: its value is
(x > 0 ? x : 0) >> s on signed values bit for bit, exhaustively at small widths and on random and
boundary values at 32 and 64 bits; its cost is 2 rounds (the unfused chain takes 3) with the
bytes and dealer keys its header comment states."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang import runtime_lib as rl
from ezlang.runtime_lib import EZRT_EINVAL, ROLE_CLIENT, ROLE_SERVER
from test_protocols import (
    LIB,
    Role,
    boundaries,
    delta,
    key_size,
    measured,
    packed,
    received,
    reveal,
    ring_mask,
    run,
    sent,
    signed,
    traffic,
)

FEW = settings(max_examples=10, deadline=None)


def relu_rescale(role: Role, x: np.ndarray, shift: int) -> np.ndarray:
    z = np.zeros(len(x), dtype=np.uint64)
    role._check(LIB.ezrt_relu_rescale(role.session, shift, rl.u64(x), rl.u64(z), len(z)))
    return z


def plain(value: int, bits: int, shift: int) -> int:
    """(x > 0 ? x : 0) >> shift on the signed value, as the interpreter computes it (an amount past
    the width shifts by the width)."""
    rectified = max(signed(value, bits), 0)
    return (rectified >> min(shift, bits)) & ring_mask(bits)


def fused(bits: int, values: list[int], shift: int) -> list[int]:
    def program(role: Role):
        return reveal(role, relu_rescale(role, role.input(ROLE_SERVER, values), shift))

    server, client, _ = run(bits, program)
    assert server == client
    return server


# ---- values ----


@pytest.mark.parametrize("bits", [1, 2, 3, 8])
def test_every_value_and_every_shift_at_small_widths(bits):
    values = list(range(1 << bits))
    for shift in range(bits + 2):
        assert fused(bits, values, shift) == [plain(v, bits, shift) for v in values], shift


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("shift", [0, 1, 12, 13])
def test_boundary_values(bits, shift):
    values = boundaries(bits) + [2, (1 << bits) - 2**shift, 2**shift - 1, 2**shift, 2**shift + 1]
    values = [v & ring_mask(bits) for v in values]
    assert fused(bits, values, shift) == [plain(v, bits, shift) for v in values]


@pytest.mark.parametrize("bits", [32, 64])
@FEW
@given(values=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8), shift=st.integers(0, 70))
def test_random_values_and_shifts(bits, values, shift):
    values = [v & ring_mask(bits) for v in values]
    assert fused(bits, values, shift) == [plain(v, bits, shift) for v in values]


def test_the_output_may_be_the_input_array():
    def program(role: Role):
        x = role.input(ROLE_CLIENT, [5 << 12, (-7 << 12) & ring_mask(32), 123])
        role._check(LIB.ezrt_relu_rescale(role.session, 12, rl.u64(x), rl.u64(x), len(x)))
        return reveal(role, x)

    server, _, _ = run(32, program)
    assert server == [5, 0, 0]


def test_each_call_draws_fresh_masks():
    """The same wire twice: the results are equal values under different output masks."""

    def program(role: Role):
        x = role.input(ROLE_SERVER, [1000, 2000, 3000])
        first, second = relu_rescale(role, x, 4), relu_rescale(role, x, 4)
        return [int(v) for v in first], [int(v) for v in second], reveal(role, first), reveal(role, second)

    (s_first, s_second, s_one, s_two), (c_first, c_second, _, _), _ = run(32, program)
    assert s_one == s_two == [62, 125, 187]
    assert (s_first, s_second) == (c_first, c_second)
    assert all(a != b for a, b in zip(s_first, s_second))


def test_a_null_array_is_rejected_without_spoiling_the_session():
    def program(role: Role):
        wire = np.zeros(1, dtype=np.uint64)
        assert LIB.ezrt_relu_rescale(role.session, 3, None, rl.u64(wire), 1) == EZRT_EINVAL
        message = LIB.ezrt_session_error(role.session).decode()
        return message, reveal(role, relu_rescale(role, role.input(ROLE_CLIENT, [80]), 3))

    server, client, _ = run(32, program)
    assert server == client == ("ezrt_relu_rescale: NULL array", [10])


# ---- costs ----


@pytest.mark.parametrize("bits,shift", [(8, 3), (32, 0), (32, 12), (64, 12), (64, 63)])
def test_two_rounds_and_two_dcf_keys_per_element(bits, shift):
    n = 7
    server, client, dealer = measured(bits, n, lambda r, x, y: relu_rescale(r, x, shift))
    for party in (server, client):
        assert sent(party["peer"]) == traffic(2, packed(n, bits) + packed(n, 1) + packed(n, bits), rounds=2)
    keys = [key_size(bits - 1, 1)] + ([key_size(shift, bits)] if shift else [])
    assert received(server["dealer"]) == traffic(1, n * sum(k - 16 for k in keys))
    assert received(client["dealer"]) == traffic(1, n * sum(keys) + packed(5 * n, bits) + packed(n, 1))
    assert dealer["server"]["rounds"] == dealer["client"]["rounds"] == 0


def test_the_unfused_chain_takes_three_rounds():
    """lt(0, x), the product that selects, then the exact shift: what codegen emits without fusion."""

    def chain(role: Role, x: np.ndarray, _: np.ndarray) -> np.ndarray:
        positive = role.lt(role.public([0] * len(x)), x, True)
        selected = role.mul(positive, x)
        out = np.zeros(len(x), dtype=np.uint64)
        role._check(LIB.ezrt_shr(role.session, 1, 12, rl.u64(selected), rl.u64(out), len(x)))
        return out

    server, _, _ = measured(32, 5, chain)
    fused_server, _, _ = measured(32, 5, lambda r, x, y: relu_rescale(r, x, 12))
    assert (server["peer"]["rounds"], fused_server["peer"]["rounds"]) == (3, 2)


def test_a_shift_past_the_width_is_local():
    server, client, dealer = measured(32, 4, lambda r, x, y: relu_rescale(r, x, 32))
    assert all(v == 0 for role in (server, client, dealer) for ch in role.values() for v in ch.values())


def test_large_batches_send_dealer_material_in_several_messages_and_keep_two_rounds():
    # At 8 bits and shift 3 an element's CLIENT material is two keys of 143 and 71 bytes, 5 values
    # and a bit, sized as 220 bytes: a 4 MiB chunk holds 19,065 elements.
    n = 20_000
    rng = np.random.default_rng(11)
    xs = rng.integers(0, 256, n).tolist()

    def program(role: Role):
        x = role.input(ROLE_SERVER, xs)
        role.mul(x, x)  # so that SERVER's first send of the call starts a round, as in `measured`
        before = role.stats()
        z = relu_rescale(role, x, 3)
        cost = delta(before, role.stats())
        return reveal(role, z), cost

    (out, server), (_, client), _ = run(8, program)
    assert out == [plain(v, 8, 3) for v in xs]
    assert server["dealer"]["messages_received"] == client["dealer"]["messages_received"] == 2
    assert server["peer"]["rounds"] == client["peer"]["rounds"] == 2



# ---- ending with additive shares, on a proven magnitude (ezrt_relu_rescale_shares) ----


def relu_shares(bits: int, values: list[int], shift: int, magnitude: int) -> tuple[list[int], dict[str, int]]:
    """The shares' sums, and the dealer's bytes to each party and the parties' rounds."""

    def program(role: Role):
        x = role.input(ROLE_SERVER, values)
        z = np.zeros(len(x), dtype=np.uint64)
        before = role.stats()
        role._check(LIB.ezrt_relu_rescale_shares(role.session, shift, magnitude, rl.u64(x), rl.u64(z), len(z)))
        after = role.stats()
        costs = {peer: after[peer]["bytes_sent"] - before[peer]["bytes_sent"] for peer in after}
        costs.update({f"rounds_{peer}": after[peer]["rounds"] - before[peer]["rounds"] for peer in after})
        return [int(v) for v in z], costs

    (server, _), (client, client_costs), (dealer, dealer_costs) = run(bits, program)
    assert dealer == [0] * len(values)
    sums = [(a + b) & ring_mask(bits) for a, b in zip(server, client)]
    return sums, {"to_server": dealer_costs["server"], "to_client": dealer_costs["client"],
                  "rounds": client_costs["rounds_peer"]}


@pytest.mark.parametrize("bits", [32, 64])
def test_shares_of_a_bounded_input_add_up_to_the_fused_value(bits: int) -> None:
    magnitude, shift = 20, 7
    rng = np.random.default_rng(bits)
    inside = [int(v) & ring_mask(bits) for v in rng.integers(-(1 << magnitude), 1 << magnitude, 200)]
    edges = [v & ring_mask(bits) for v in (-(1 << magnitude), (1 << magnitude) - 1, -1, 0, 1)]
    values = inside + edges
    sums, costs = relu_shares(bits, values, shift, magnitude)
    assert sums == [plain(v, bits, shift) for v in values]
    assert costs["rounds"] == 1


def test_the_bound_shrinks_the_sign_key() -> None:
    bits, shift, n = 64, 12, 50
    values = [v & ring_mask(bits) for v in range(-n // 2, n // 2)]
    _, unbounded = relu_shares(bits, values, shift, bits - 1)
    _, bounded = relu_shares(bits, values, shift, 40)
    saved = n * (key_size(bits - 1, 1) - key_size(40, 1))
    assert unbounded["to_client"] - bounded["to_client"] == saved
    assert unbounded["to_server"] - bounded["to_server"] == saved


def test_a_magnitude_outside_the_ring_is_refused() -> None:
    def program(role: Role):
        x = role.input(ROLE_SERVER, [1, 2])
        z = np.zeros(2, dtype=np.uint64)
        return [LIB.ezrt_relu_rescale_shares(role.session, 3, m, rl.u64(x), rl.u64(z), 2) for m in (0, 32)]

    assert run(32, program) == ([EZRT_EINVAL] * 2,) * 3
