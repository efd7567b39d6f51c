"""The secure protocols on masked wires (runtime/src/session.c, proto_*.c) through ctypes.

Every test runs the three roles as three threads of this process (ctypes releases the GIL during
a call) over real loopback channels: SERVER and CLIENT call the same operations in the same
order on their masked wires, the DEALER on the masks. Results are compared with plain integer
arithmetic mod 2^bits; costs are read from the channels' counters and compared with the formulas
of docs/runtime.md "Protocols (implemented)"."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang import runtime_lib as rl
from ezlang.runtime_lib import (
    EZRT_EINVAL,
    EZRT_EPEER,
    RECIPIENT_ALL,
    ROLE_CLIENT,
    ROLE_DEALER,
    ROLE_SERVER,
    NetStats,
)

LIB = rl.load()
HOST = b"127.0.0.1"
TIMEOUT_MS = 20_000
HEADER = 8
WIDTHS = [8, 32, 64]
FEW = settings(max_examples=15, deadline=None)
U64 = st.integers(0, 2**64 - 1)


# ---- three roles over loopback ----


def connected_pair(a_role: int, b_role: int) -> tuple[ctypes.c_void_p, ctypes.c_void_p]:
    """Channels (a's end, b's end) of one loopback connection between roles a and b."""
    listener, a_end, b_end = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    err = ctypes.create_string_buffer(256)
    assert LIB.ezrt_listen(HOST, 0, ctypes.byref(listener), err, len(err)) == 0, err.value
    port = LIB.ezrt_listener_port(listener)
    with ThreadPoolExecutor(max_workers=1) as pool:
        dial = pool.submit(
            LIB.ezrt_connect,
            HOST,
            port,
            a_role,
            TIMEOUT_MS,
            ctypes.byref(b_end),
            None,
            0,
        )
        rc = LIB.ezrt_accept(listener, b_role, TIMEOUT_MS, ctypes.byref(a_end), err, len(err))
        assert rc == 0, err.value
        assert dial.result() == 0
    LIB.ezrt_listener_close(listener)
    for ch in (a_end, b_end):
        LIB.ezrt_channel_set_timeout(ch, TIMEOUT_MS)
    return a_end, b_end


class EzrtSessionError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (ezrt status {status})")
        self.status = status
        self.message = message


def stats_of(ch: ctypes.c_void_p) -> dict[str, int]:
    s = NetStats()
    assert LIB.ezrt_channel_stats(ch, ctypes.byref(s)) == 0
    return {name: getattr(s, name) for name, _ in NetStats._fields_}


@dataclass
class Role:
    """One role's session and channels, with numpy wrappers of the protocol calls."""

    role: int
    bits: int
    session: ctypes.c_void_p
    channels: dict[str, ctypes.c_void_p]

    def _check(self, status: int) -> None:
        if status != 0:
            message = LIB.ezrt_session_error(self.session).decode()
            raise EzrtSessionError(status, message)

    @property
    def is_dealer(self) -> bool:
        return self.role == ROLE_DEALER

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: stats_of(ch) for name, ch in self.channels.items()}

    def public(self, clear: list[int]) -> np.ndarray:
        values = np.array(clear, dtype=np.uint64)
        wire = np.zeros(len(clear), dtype=np.uint64)
        self._check(LIB.ezrt_share_public(self.session, rl.u64(values), rl.u64(wire), len(wire)))
        return wire

    def input(self, owner: int, clear: list[int], n: int | None = None) -> np.ndarray:
        count = len(clear) if n is None else n
        wire = np.zeros(count, dtype=np.uint64)
        values = np.array(clear, dtype=np.uint64)
        ptr = rl.u64(values) if self.role == owner else None
        self._check(LIB.ezrt_input(self.session, owner, ptr, rl.u64(wire), count))
        return wire

    def output(self, recipient: int, wire: np.ndarray) -> list[int] | None:
        gets = recipient in (self.role, RECIPIENT_ALL) and not self.is_dealer
        clear = np.zeros(len(wire), dtype=np.uint64)
        ptr = rl.u64(clear) if gets else None
        self._check(LIB.ezrt_output(self.session, recipient, rl.u64(wire), ptr, len(wire)))
        return [int(v) for v in clear] if gets else None

    def mul(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        z = np.zeros(len(x), dtype=np.uint64)
        self._check(LIB.ezrt_mul(self.session, rl.u64(x), rl.u64(y), rl.u64(z), len(z)))
        return z

    def lt(self, x: np.ndarray, y: np.ndarray, signed: bool = False) -> np.ndarray:
        z = np.zeros(len(x), dtype=np.uint64)
        status = LIB.ezrt_lt(self.session, int(signed), rl.u64(x), rl.u64(y), rl.u64(z), len(z))
        self._check(status)
        return z

    def bit_wires(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(len(x) * self.bits, dtype=np.uint64)
        self._check(LIB.ezrt_bits(self.session, rl.u64(x), rl.u64(out), len(x)))
        return out

    def add(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """x + y on wires: x^ + y^ on the parties, r_x + r_y on the dealer (no call)."""
        return (x + y) & np.uint64(ring_mask(self.bits))

    def add_const(self, x: np.ndarray, c: int) -> np.ndarray:
        """x + c, public c: x^ + c on the parties, r_x on the dealer."""
        return x.copy() if self.is_dealer else (x + np.uint64(c)) & np.uint64(ring_mask(self.bits))

    def scale(self, x: np.ndarray, c: int) -> np.ndarray:
        """c * x, public c: the same on every role."""
        return (x * np.uint64(c)) & np.uint64(ring_mask(self.bits))

    def flush(self) -> None:
        self._check(LIB.ezrt_session_flush(self.session))

    def close(self) -> None:
        LIB.ezrt_session_free(self.session)
        for ch in self.channels.values():
            LIB.ezrt_close(ch)


def ring_mask(bits: int) -> int:
    return (1 << bits) - 1


def open_roles(bits: int) -> tuple[Role, Role, Role]:
    """SERVER, CLIENT and DEALER sessions, set up (the dealer's seeds delivered)."""
    s_c, c_s = connected_pair(ROLE_SERVER, ROLE_CLIENT)
    s_d, d_s = connected_pair(ROLE_SERVER, ROLE_DEALER)
    c_d, d_c = connected_pair(ROLE_CLIENT, ROLE_DEALER)
    handles = [ctypes.c_void_p() for _ in range(3)]
    # The dealer only sends (and flushes) at set-up, so the three can open in sequence.
    assert LIB.ezrt_session_open_dealer(ctypes.byref(handles[2]), bits, d_s, d_c) == 0
    assert LIB.ezrt_session_open_party(ctypes.byref(handles[0]), ROLE_SERVER, bits, s_c, s_d) == 0
    assert LIB.ezrt_session_open_party(ctypes.byref(handles[1]), ROLE_CLIENT, bits, c_s, c_d) == 0
    return (
        Role(ROLE_SERVER, bits, handles[0], {"peer": s_c, "dealer": s_d}),
        Role(ROLE_CLIENT, bits, handles[1], {"peer": c_s, "dealer": c_d}),
        Role(ROLE_DEALER, bits, handles[2], {"server": d_s, "client": d_c}),
    )


def run(bits: int, program: Callable[[Role], Any]) -> tuple[Any, Any, Any]:
    """Runs program in each role's thread; returns (server, client, dealer) results. A role
    that fails closes its channels at once, so the others see a disconnection, not a hang."""
    roles = open_roles(bits)

    def play(role: Role) -> Any:
        try:
            result = program(role)
            role.flush()
            return result
        finally:
            role.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(play, role) for role in roles]
        return tuple(f.result(timeout=60) for f in futures)  # type: ignore[return-value]


def reveal(role: Role, wire: np.ndarray) -> list[int] | None:
    return role.output(RECIPIENT_ALL, wire)


def signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def boundaries(bits: int) -> list[int]:
    half = 1 << (bits - 1)
    edge = [0, 1, half - 1, half, half + 1, (1 << bits) - 2, (1 << bits) - 1]
    return sorted({v & ring_mask(bits) for v in edge})


def vectors(size: int = 6) -> st.SearchStrategy[list[int]]:
    return st.lists(U64, min_size=1, max_size=size)


# ---- input, output, public values ----


@pytest.mark.parametrize("bits", WIDTHS)
@FEW
@given(values=vectors(), owner=st.sampled_from([ROLE_SERVER, ROLE_CLIENT]))
def test_an_input_output_to_each_recipient_is_the_input(bits, values, owner):
    expected = [v & ring_mask(bits) for v in values]

    def program(role: Role):
        wire = role.input(owner, values)
        return [role.output(r, wire) for r in (ROLE_SERVER, ROLE_CLIENT, RECIPIENT_ALL)]

    server, client, dealer = run(bits, program)
    assert server == [expected, None, expected]
    assert client == [None, expected, expected]
    assert dealer == [None, None, None]


@pytest.mark.parametrize("bits", [1, 8, 64])
def test_a_public_value_becomes_a_wire_with_mask_zero(bits):
    values = [0, 5, 2**64 - 1]

    def program(role: Role):
        wire = role.public(values)
        return [int(v) for v in wire], reveal(role, wire)

    (s_wire, s_out), (c_wire, c_out), (d_wire, _) = run(bits, program)
    assert s_wire == c_wire == s_out == c_out == [v & ring_mask(bits) for v in values]
    assert d_wire == [0, 0, 0]


@pytest.mark.parametrize("bits", WIDTHS)
def test_a_party_sees_input_wires_as_values_shifted_by_the_dealers_masks(bits):
    values = [3, 1, 4, 1, 5]

    def program(role: Role):
        return [int(v) for v in role.input(ROLE_CLIENT, values)]

    server, client, dealer = run(bits, program)
    assert server == client
    assert [(w - r) & ring_mask(bits) for w, r in zip(server, dealer)] == values


# ---- multiplication ----


@pytest.mark.parametrize("bits", WIDTHS)
@FEW
@given(pairs=st.lists(st.tuples(U64, U64), min_size=1, max_size=6))
def test_mul_is_the_product_mod_2_to_the_bits(bits, pairs):
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]

    def program(role: Role):
        return reveal(role, role.mul(role.input(ROLE_SERVER, xs), role.input(ROLE_CLIENT, ys)))

    server, client, _ = run(bits, program)
    assert server == client == [(x * y) & ring_mask(bits) for x, y in pairs]


def test_mul_accepts_its_output_in_place_of_an_input():
    def program(role: Role):
        x = role.input(ROLE_SERVER, [7, 9])
        out = x.copy()
        status = LIB.ezrt_mul(role.session, rl.u64(out), rl.u64(x), rl.u64(out), 2)
        assert status == 0
        return reveal(role, out)

    server, _, _ = run(32, program)
    assert server == [49, 81]


# ---- comparison ----


def plain_lt(x: int, y: int, bits: int, is_signed: bool) -> int:
    if is_signed:
        return int(signed(x, bits) < signed(y, bits))
    return int(x < y)


def compare(bits: int, xs: list[int], ys: list[int], is_signed: bool) -> list[int]:
    def program(role: Role):
        x, y = role.input(ROLE_SERVER, xs), role.input(ROLE_CLIENT, ys)
        return reveal(role, role.lt(x, y, is_signed))

    server, client, _ = run(bits, program)
    assert server == client
    return server


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("is_signed", [False, True])
@FEW
@given(pairs=st.lists(st.tuples(U64, U64), min_size=1, max_size=6))
def test_lt_is_the_plain_comparison(bits, is_signed, pairs):
    xs = [p[0] & ring_mask(bits) for p in pairs]
    ys = [p[1] & ring_mask(bits) for p in pairs]
    assert compare(bits, xs, ys, is_signed) == [
        plain_lt(x, y, bits, is_signed) for x, y in zip(xs, ys)
    ]


@pytest.mark.parametrize("bits", [1, 2, 8, 32, 64])
@pytest.mark.parametrize("is_signed", [False, True])
def test_lt_is_exact_on_every_pair_of_boundary_values(bits, is_signed):
    edge = boundaries(bits)
    xs = [x for x in edge for _ in edge]
    ys = [y for _ in edge for y in edge]
    assert compare(bits, xs, ys, is_signed) == [
        plain_lt(x, y, bits, is_signed) for x, y in zip(xs, ys)
    ]


# ---- bit decomposition ----


def decompose(bits: int, xs: list[int]) -> list[int]:
    def program(role: Role):
        return reveal(role, role.bit_wires(role.input(ROLE_CLIENT, xs)))

    server, client, _ = run(bits, program)
    assert server == client
    return server


def plain_bits(bits: int, xs: list[int]) -> list[int]:
    return [(x >> i) & 1 for x in xs for i in range(bits)]


@pytest.mark.parametrize("bits", WIDTHS)
@FEW
@given(values=vectors(4))
def test_bits_are_the_plain_bits_lsb_first(bits, values):
    xs = [v & ring_mask(bits) for v in values]
    assert decompose(bits, xs) == plain_bits(bits, xs)


@pytest.mark.parametrize("bits", [1, 2, 3, 8, 32, 64])
def test_bits_of_the_boundary_values(bits):
    xs = boundaries(bits)
    assert decompose(bits, xs) == plain_bits(bits, xs)


# ---- programs: chains and linear operations on wires ----


@pytest.mark.parametrize("bits", WIDTHS)
@FEW
@given(a=vectors(4), b=vectors(4))
def test_a_chain_input_mul_lt_output_is_the_plain_computation(bits, a, b):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    m = ring_mask(bits)

    def program(role: Role):
        x, y = role.input(ROLE_SERVER, a), role.input(ROLE_CLIENT, b)
        square = role.mul(x, x)
        less = role.lt(square, y, True)
        product = role.mul(less, y)  # a 0/1 wire feeds back into arithmetic
        return role.output(ROLE_CLIENT, np.concatenate([square, less, product]))

    _, client, _ = run(bits, program)
    squares = [(x * x) & m for x in a]
    less = [plain_lt(s, y & m, bits, True) for s, y in zip(squares, b)]
    assert client == squares + less + [c * (y & m) for c, y in zip(less, b)]


@pytest.mark.parametrize("bits", WIDTHS)
@FEW
@given(a=vectors(4), b=vectors(4), c=U64)
def test_linear_operations_on_wires_stay_correct(bits, a, b, c):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    m = ring_mask(bits)
    c &= m

    def program(role: Role):
        x, y = role.input(ROLE_SERVER, a), role.input(ROLE_CLIENT, b)
        total = role.add(x, role.scale(y, c))  # x + c*y
        shifted = role.add_const(total, c)  # x + c*y + c
        diff = role.add(x, role.scale(y, m))  # x - y
        bits_of = role.bit_wires(diff)
        return role.output(ROLE_SERVER, np.concatenate([shifted, role.lt(diff, shifted)])), [
            role.output(ROLE_SERVER, bits_of)
        ]

    (server, (bit_list,)), _, _ = run(bits, program)
    shifted = [(x + c * y + c) & m for x, y in zip(a, b)]
    diff = [(x - y) & m for x, y in zip(a, b)]
    assert server == shifted + [int(d < s) for d, s in zip(diff, shifted)]
    assert bit_list == plain_bits(bits, diff)


# ---- fresh randomness ----


def test_two_runs_with_equal_inputs_exchange_different_values():
    def program(role: Role):
        x = role.input(ROLE_SERVER, [1, 2, 3, 4])
        y = role.input(ROLE_CLIENT, [5, 6, 7, 8])
        z = role.mul(x, y)
        w = role.lt(x, y)
        b = role.bit_wires(x)
        return [x.tolist(), y.tolist(), z.tolist(), w.tolist(), b.tolist()], reveal(role, z)

    (first, out1), _, _ = run(32, program)
    (second, out2), _, _ = run(32, program)
    assert out1 == out2 == [5, 12, 21, 32]
    for seen1, seen2 in zip(first, second):
        assert seen1 != seen2
    assert len({v for wires in first for v in wires}) > 20  # no mask repeats within a run


# ---- costs: rounds, messages, bytes ----


def packed(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


def key_size(n_in: int, bits: int) -> int:
    return int(LIB.ezrt_dcf_key_size(n_in, bits))


def delta(before: dict, after: dict) -> dict:
    return {ch: {k: after[ch][k] - before[ch][k] for k in after[ch]} for ch in after}


def measured(bits: int, n: int, operation: Callable[[Role, np.ndarray, np.ndarray], Any]):
    """Per-channel counter changes of one operation on n elements, for each role."""

    def program(role: Role):
        x = role.input(ROLE_SERVER, list(range(n)))
        y = role.input(ROLE_CLIENT, list(range(n, 2 * n)))
        role.mul(x, y)  # every channel has traffic before the measured call
        before = role.stats()
        operation(role, x, y)
        return delta(before, role.stats())

    return run(bits, program)


def traffic(messages: int, payload: int, rounds: int | None = None) -> dict[str, int]:
    return {"messages": messages, "bytes": payload + HEADER * messages} | (
        {} if rounds is None else {"rounds": rounds}
    )


def sent(d: dict) -> dict[str, int]:
    return {
        "messages": d["messages_sent"],
        "bytes": d["bytes_sent"],
        "rounds": d["rounds"],
    }


def received(d: dict) -> dict[str, int]:
    return {"messages": d["messages_received"], "bytes": d["bytes_received"]}


COST_WIDTHS = [1, 8, 32, 64]


@pytest.mark.parametrize("bits", COST_WIDTHS)
def test_input_is_one_message_from_the_owner_and_nothing_from_the_dealer(bits):
    server, client, dealer = measured(bits, 5, lambda r, x, y: r.input(ROLE_CLIENT, [1] * 5))
    assert sent(client["peer"]) == traffic(1, packed(5, bits), rounds=1)
    assert received(server["peer"]) == traffic(1, packed(5, bits))
    assert sent(server["peer"]) == traffic(0, 0, rounds=0)
    assert all(v == 0 for ch in dealer.values() for v in ch.values())


@pytest.mark.parametrize("bits", COST_WIDTHS)
def test_output_is_dealer_masks_to_each_recipient_and_no_party_round(bits):
    server, client, dealer = measured(bits, 5, lambda r, x, y: r.output(RECIPIENT_ALL, x))
    for party, link in ((server, "server"), (client, "client")):
        assert all(v == 0 for v in party["peer"].values())
        assert sent(dealer[link]) == traffic(1, packed(5, bits), rounds=0)
        assert received(party["dealer"]) == traffic(1, packed(5, bits))
    _, client, dealer = measured(bits, 5, lambda r, x, y: r.output(ROLE_CLIENT, x))
    assert dealer["server"]["bytes_sent"] == 0
    assert sent(dealer["client"]) == traffic(1, packed(5, bits), rounds=0)


def check_exchange(server: dict, client: dict, payload: int) -> None:
    """One round each way on the parties' channel, payload bytes per message."""
    for party in (server, client):
        assert sent(party["peer"]) == traffic(1, payload, rounds=1)
        assert received(party["peer"]) == traffic(1, payload)


@pytest.mark.parametrize("bits", COST_WIDTHS)
def test_mul_costs_one_round_and_three_values_to_the_client(bits):
    n = 7
    server, client, dealer = measured(bits, n, lambda r, x, y: r.mul(x, y))
    check_exchange(server, client, packed(n, bits))
    assert dealer["server"]["bytes_sent"] == 0
    assert received(client["dealer"]) == traffic(1, packed(3 * n, bits))


@pytest.mark.parametrize("bits", COST_WIDTHS)
def test_lt_costs_one_round_and_three_dcf_keys_sharing_their_correction_words(bits):
    n = 7
    server, client, _ = measured(bits, n, lambda r, x, y: r.lt(x, y, True))
    check_exchange(server, client, packed(n, bits))
    key = key_size(bits, bits)
    assert received(server["dealer"]) == traffic(1, 3 * n * (key - 16))
    assert received(client["dealer"]) == traffic(1, 3 * n * key + packed(n, bits))


@pytest.mark.parametrize("bits", COST_WIDTHS)
def test_bits_cost_one_round_and_one_dcf_key_per_bit_above_the_lowest(bits):
    n = 3
    server, client, _ = measured(bits, n, lambda r, x, y: r.bit_wires(x))
    check_exchange(server, client, packed(n * bits, bits))
    keys = sum(key_size(i, bits) for i in range(1, bits))
    server_messages = 1 if bits > 1 else 0
    assert received(server["dealer"]) == traffic(server_messages, n * (keys - 16 * (bits - 1)))
    assert received(client["dealer"]) == traffic(1, n * keys + packed(2 * n * bits, bits))


def test_set_up_sends_each_party_its_16_byte_seed():
    server, client, dealer = open_roles(32)
    try:
        assert received(server.stats()["dealer"]) == traffic(1, 16)
        assert received(client.stats()["dealer"]) == traffic(1, 16)
        assert all(v == 0 for v in server.stats()["peer"].values())
    finally:
        for role in (server, client, dealer):
            role.close()


def test_large_batches_send_dealer_material_in_several_messages():
    # At 8 bits a chunk of dealer material holds 4 MiB / (3 * 161) = 8683 comparisons.
    n = 9000
    rng = np.random.default_rng(7)
    xs, ys = rng.integers(0, 256, n).tolist(), rng.integers(0, 256, n).tolist()

    def program(role: Role):
        x, y = role.input(ROLE_SERVER, xs), role.input(ROLE_CLIENT, ys)
        before = role.stats()
        z = role.lt(x, y)
        cost = delta(before, role.stats())
        return reveal(role, z), cost

    (out, server), _, _ = run(8, program)
    assert out == [int(a < b) for a, b in zip(xs, ys)]
    assert server["dealer"]["messages_received"] == 2
    assert server["peer"]["rounds"] == 1


def test_an_opening_too_large_to_send_both_ways_at_once_is_still_one_round_each():
    # 5000 values of 64 bits are 40,000 bytes, above the 32 KiB both parties send at once.
    n = 5000
    xs = list(range(2**64 - n, 2**64))

    def program(role: Role):
        x = role.input(ROLE_CLIENT, xs)
        before = role.stats()
        z = role.mul(x, x)
        cost = delta(before, role.stats())
        return role.output(ROLE_SERVER, z), cost

    (out, server), (_, client), _ = run(64, program)
    assert out == [(x * x) % 2**64 for x in xs]
    check_exchange(server, client, packed(n, 64))


def test_an_input_leaves_before_its_owner_waits_for_the_dealer():
    """The server's input is queued; its output then waits for the dealer, which must push the
    input out first, or the client (which the server waits for here) would never get it."""
    client_has_input = threading.Event()

    def program(role: Role):
        x = role.input(ROLE_SERVER, [11, 12])
        if role.role == ROLE_CLIENT:
            client_has_input.set()
        out = role.output(ROLE_SERVER, x)
        if role.role == ROLE_SERVER:
            assert client_has_input.wait(timeout=30)
        return out

    server, _, _ = run(32, program)
    assert server == [11, 12]


# ---- errors ----


def test_a_peer_that_disconnects_mid_protocol_is_named_not_waited_for():
    """The client leaves after an input; the server's next exchange reports it at once."""

    def play(role: Role) -> EzrtSessionError | None:
        try:
            x = role.input(ROLE_SERVER, [1, 2])
            if role.role == ROLE_CLIENT:
                return None
            if role.is_dealer:
                role.mul(x, x)  # the dealer never waits for a party
                return None
            with pytest.raises(EzrtSessionError) as failure:
                role.mul(x, x)
            return failure.value
        finally:
            role.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(play, role) for role in open_roles(32)]
        server = futures[0].result(timeout=30)
    assert server.status == EZRT_EPEER
    assert server.message == "ezrt_mul: client disconnected during online phase"


def test_a_dealer_that_disconnects_is_named_and_the_error_is_sticky():
    server, client, dealer = open_roles(32)
    try:
        LIB.ezrt_close(dealer.channels.pop("client"))
        x = np.ones(2, dtype=np.uint64)
        with pytest.raises(EzrtSessionError) as failure:
            client.mul(x, x)
        assert failure.value.status == EZRT_EPEER
        assert failure.value.message == "ezrt_mul: dealer disconnected during online phase"
        with pytest.raises(EzrtSessionError) as again:
            client.lt(x, x)
        assert again.value.status == EZRT_EPEER
    finally:
        for role in (server, client, dealer):
            role.close()


def test_bad_arguments_are_rejected_without_spoiling_the_session():
    def program(role: Role):
        wire = np.zeros(2, dtype=np.uint64)
        assert LIB.ezrt_input(role.session, ROLE_DEALER, None, rl.u64(wire), 2) == EZRT_EINVAL
        message = LIB.ezrt_session_error(role.session).decode()
        assert LIB.ezrt_output(role.session, 2, rl.u64(wire), None, 2) == EZRT_EINVAL
        assert LIB.ezrt_mul(role.session, None, rl.u64(wire), rl.u64(wire), 2) == EZRT_EINVAL
        assert LIB.ezrt_lt(role.session, 0, rl.u64(wire), rl.u64(wire), rl.u64(wire), 0) == 0
        return message, reveal(role, role.mul(role.input(ROLE_CLIENT, [6]), role.public([7])))

    server, client, dealer = run(16, program)
    assert server == client == ("ezrt_input: the owner must be SERVER or CLIENT", [42])
    assert dealer[0] == server[0]


def test_opening_with_bad_arguments_is_einval():
    out = ctypes.c_void_p()
    assert LIB.ezrt_session_open_party(ctypes.byref(out), ROLE_DEALER, 32, None, None) == 1
    assert LIB.ezrt_session_open_dealer(ctypes.byref(out), 65, None, None) == EZRT_EINVAL
    assert LIB.ezrt_session_error(None) == b""
    assert LIB.ezrt_session_role(None) == 255
