"""Bitwise operators, right shifts and division of masked wires (proto_bitwise.c, proto_div.c).

The three roles run as threads of this process over loopback channels, as in test_protocols.py,
whose harness this file reuses. Results are compared with plain Python on random and boundary
values (0, 1, MAX, MIN, MIN + 1, all ones...) at 8, 32 and 64 bits, signed and unsigned,
division by zero and MIN / -1 included; costs are read from the channel counters and compared
with the sums of the inner calls' costs stated in ezrt.h and docs/runtime.md."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ezlang import runtime_lib as rl
from ezlang.runtime_lib import EZRT_EINVAL, EZRT_EPEER, ROLE_CLIENT, ROLE_SERVER

from test_protocols import (
    FEW,
    HEADER,
    LIB,
    U64,
    EzrtSessionError,
    Role,
    boundaries,
    key_size,
    measured,
    open_roles,
    packed,
    received,
    reveal,
    ring_mask,
    run,
    sent,
    signed,
)

WIDTHS = [8, 32, 64]
PAIRS = st.lists(st.tuples(U64, U64), min_size=1, max_size=5)


# ---- the calls ----


def binary_call(role: Role, name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    z = np.zeros(len(x), dtype=np.uint64)
    role._check(getattr(LIB, name)(role.session, rl.u64(x), rl.u64(y), rl.u64(z), len(z)))
    return z


def shr_call(role: Role, arithmetic: bool, amount: int, x: np.ndarray) -> np.ndarray:
    z = np.zeros(len(x), dtype=np.uint64)
    role._check(LIB.ezrt_shr(role.session, int(arithmetic), amount, rl.u64(x), rl.u64(z), len(z)))
    return z


def divmod_call(role: Role, is_signed: bool, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, r = np.zeros(len(x), dtype=np.uint64), np.zeros(len(x), dtype=np.uint64)
    status = LIB.ezrt_divmod(role.session, int(is_signed), rl.u64(x), rl.u64(y), rl.u64(q), rl.u64(r), len(q))
    role._check(status)
    return q, r


# ---- plain Python: ezlang/semantics.py on ring elements ----


def ring(v: int, bits: int) -> int:
    return v & ring_mask(bits)


def plain_bitwise(name: str, x: int, y: int) -> int:
    return {"ezrt_and": x & y, "ezrt_or": x | y, "ezrt_xor": x ^ y}[name]


def plain_shr(x: int, amount: int, bits: int, arithmetic: bool) -> int:
    if arithmetic:
        return ring(signed(x, bits) >> min(amount, bits), bits)
    return 0 if amount >= bits else x >> amount


def plain_divmod(x: int, y: int, bits: int, is_signed: bool) -> tuple[int, int]:
    a, b = (signed(x, bits), signed(y, bits)) if is_signed else (x, y)
    if b == 0:
        return ring_mask(bits), x
    q = abs(a) // abs(b)
    q = -q if (a < 0) != (b < 0) else q
    return ring(q, bits), ring(a - b * q, bits)


def all_pairs(bits: int) -> tuple[list[int], list[int]]:
    edge = boundaries(bits) + [ring(3, bits), ring(-3, bits), ring(-2, bits)]
    return [x for x in edge for _ in edge], [y for _ in edge for y in edge]


def inputs(role: Role, xs: list[int], ys: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return role.input(ROLE_SERVER, xs), role.input(ROLE_CLIENT, ys)


# ---- & | ^ ----


def secure_bitwise(bits: int, name: str, xs: list[int], ys: list[int]) -> list[int]:
    server, client, _ = run(bits, lambda role: reveal(role, binary_call(role, name, *inputs(role, xs, ys))))
    assert server == client
    return server


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("name", ["ezrt_and", "ezrt_or", "ezrt_xor"])
def test_bitwise_operators_on_every_pair_of_boundary_values(bits, name):
    xs, ys = all_pairs(bits)
    assert secure_bitwise(bits, name, xs, ys) == [plain_bitwise(name, x, y) for x, y in zip(xs, ys)]


@pytest.mark.parametrize("bits", WIDTHS)
@FEW
@given(pairs=PAIRS, name=st.sampled_from(["ezrt_and", "ezrt_or", "ezrt_xor"]))
def test_bitwise_operators_on_random_values(bits, pairs, name):
    xs, ys = [ring(p[0], bits) for p in pairs], [ring(p[1], bits) for p in pairs]
    assert secure_bitwise(bits, name, xs, ys) == [plain_bitwise(name, x, y) for x, y in zip(xs, ys)]


def test_bitwise_output_may_be_an_input_and_inputs_may_carry_high_bits():
    def program(role: Role):
        x, y = inputs(role, [0b1100, 0xFF0F], [0b1010, 0x0FF0])
        high = (x | np.uint64(1 << 40)) if not role.is_dealer else x
        assert LIB.ezrt_xor(role.session, rl.u64(high), rl.u64(y), rl.u64(y), 2) == 0
        return reveal(role, y)

    server, client, _ = run(16, program)
    assert server == client == [0b0110, 0xF0FF]


# ---- >> and >>> ----


def shift_amounts(bits: int) -> list[int]:
    return [0, 1, 3, bits - 1, bits, bits + 7, 2**32 - 1]


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("arithmetic", [False, True])
def test_right_shifts_of_boundary_values_by_every_kind_of_amount(bits, arithmetic):
    xs = boundaries(bits) + [ring(-7, bits), 7]
    amounts = shift_amounts(bits)

    def program(role: Role):
        x = role.input(ROLE_SERVER, xs)
        return [reveal(role, shr_call(role, arithmetic, k, x)) for k in amounts]

    server, client, _ = run(bits, program)
    assert server == client
    assert server == [[plain_shr(x, k, bits, arithmetic) for x in xs] for k in amounts]


@pytest.mark.parametrize("bits", WIDTHS)
@FEW
@given(values=st.lists(U64, min_size=1, max_size=5), amount=st.integers(0, 70), arithmetic=st.booleans())
def test_right_shifts_of_random_values(bits, values, amount, arithmetic):
    xs = [ring(v, bits) for v in values]
    server, client, _ = run(bits, lambda role: reveal(role, shr_call(role, arithmetic, amount,
                                                                     role.input(ROLE_CLIENT, xs))))
    assert server == client == [plain_shr(x, amount, bits, arithmetic) for x in xs]


# ---- / and % ----


def secure_divmod(bits: int, is_signed: bool, xs: list[int], ys: list[int]) -> list[tuple[int, int]]:
    def program(role: Role):
        q, r = divmod_call(role, is_signed, *inputs(role, xs, ys))
        return reveal(role, q), reveal(role, r)

    (sq, sr), (cq, cr), _ = run(bits, program)
    assert (sq, sr) == (cq, cr)
    return list(zip(sq, sr))


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("is_signed", [False, True])
def test_divmod_on_every_pair_of_boundary_values_with_zero_and_min_over_minus_one(bits, is_signed):
    xs, ys = all_pairs(bits)
    assert 0 in ys and ring(-1, bits) in ys and 1 << (bits - 1) in xs
    assert secure_divmod(bits, is_signed, xs, ys) == [plain_divmod(x, y, bits, is_signed) for x, y in zip(xs, ys)]


@pytest.mark.parametrize("bits", WIDTHS)
@FEW
@given(pairs=PAIRS, is_signed=st.booleans(), small=st.booleans())
def test_divmod_on_random_values(bits, pairs, is_signed, small):
    # Small divisors give long quotients; full-width ones mostly 0 or 1.
    xs = [ring(p[0], bits) for p in pairs]
    ys = [ring(p[1] % 13 - 6 if small else p[1], bits) for p in pairs]
    assert secure_divmod(bits, is_signed, xs, ys) == [plain_divmod(x, y, bits, is_signed) for x, y in zip(xs, ys)]


def test_divmod_takes_null_for_an_unwanted_result_and_outputs_in_place():
    def program(role: Role):
        x, y = inputs(role, [100, 2**32 - 7], [7, 2])
        assert LIB.ezrt_divmod(role.session, 1, rl.u64(x), rl.u64(y), None, rl.u64(x), 2) == 0
        quotient = y.copy()
        assert LIB.ezrt_divmod(role.session, 0, rl.u64(quotient), rl.u64(y), rl.u64(quotient), None, 2) == 0
        return reveal(role, x), reveal(role, quotient)

    server, client, _ = run(32, program)
    assert server == client == ([2, ring(-1, 32)], [1, 1])


def test_null_arrays_are_rejected_without_spoiling_the_session():
    def program(role: Role):
        x = role.input(ROLE_SERVER, [6])
        z = np.zeros(1, dtype=np.uint64)
        rejected = [
            LIB.ezrt_and(role.session, None, rl.u64(x), rl.u64(z), 1),
            LIB.ezrt_shr(role.session, 0, 1, rl.u64(x), None, 1),
            LIB.ezrt_divmod(role.session, 0, rl.u64(x), None, rl.u64(z), rl.u64(z), 1),
        ]
        empty = LIB.ezrt_divmod(role.session, 0, None, None, None, None, 0)
        return rejected, empty, reveal(role, shr_call(role, False, 1, x))

    server, client, dealer = run(8, program)
    assert server[0] == client[0] == dealer[0] == [EZRT_EINVAL] * 3
    assert server[1:] == client[1:] == (0, [3])


def test_a_failure_inside_a_composite_call_is_sticky_and_names_the_inner_call():
    server, client, dealer = open_roles(32)
    try:
        LIB.ezrt_close(dealer.channels.pop("client"))
        x = np.ones(2, dtype=np.uint64)
        with pytest.raises(EzrtSessionError) as failure:
            divmod_call(client, False, x, x)
        assert failure.value.status == EZRT_EPEER
        assert failure.value.message == "ezrt_bits: dealer disconnected during online phase"
        with pytest.raises(EzrtSessionError) as again:
            binary_call(client, "ezrt_and", x, x)
        assert again.value.status == EZRT_EPEER
    finally:
        for role in (server, client, dealer):
            role.close()


# ---- costs: the sums of the inner calls' costs ----


@dataclass(frozen=True)
class Cost:
    """What a party's channels show: rounds and messages/bytes to the peer, and what it
    receives from the dealer."""

    rounds: int = 0
    peer_messages: int = 0
    peer_bytes: int = 0
    dealer_messages: int = 0
    dealer_bytes: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values())))

    def __mul__(self, k: int) -> Cost:
        return Cost(*(a * k for a in self.__dict__.values()))


def exchange(payload: int) -> Cost:
    return Cost(1, 1, payload + HEADER)


def dealt(payload: int) -> Cost:
    return Cost(dealer_messages=1 if payload else 0, dealer_bytes=payload + HEADER if payload else 0)


def mul_cost(m: int, bits: int, server: bool) -> Cost:
    return exchange(packed(m, bits)) + dealt(0 if server else packed(3 * m, bits))


def lt_cost(m: int, bits: int, server: bool) -> Cost:
    key = key_size(bits, bits)
    return exchange(packed(m, bits)) + dealt(3 * m * (key - 16) if server else 3 * m * key + packed(m, bits))


def bits_cost(m: int, bits: int, server: bool) -> Cost:
    keys = sum(key_size(i, bits) for i in range(1, bits))
    material = m * (keys - 16 * (bits - 1)) if server else m * keys + packed(2 * m * bits, bits)
    return exchange(packed(m * bits, bits)) + dealt(material)


def bitwise_cost(n: int, bits: int, server: bool) -> Cost:
    return bits_cost(2 * n, bits, server) + mul_cost(n * bits, bits, server)


def divmod_cost(n: int, bits: int, server: bool, is_signed: bool) -> Cost:
    common = bits_cost(n, bits, server) + mul_cost(n, bits, server) * bits + mul_cost(2 * n, bits, server)
    if is_signed:
        # signs and [y = 0]; the magnitudes' products; one comparison per bit
        return common + lt_cost(3 * n, bits, server) + mul_cost(5 * n, bits, server) + lt_cost(n, bits, server) * bits
    # the first step's comparison also asks [0 < y]
    return common + lt_cost(2 * n, bits, server) + lt_cost(n, bits, server) * (bits - 1)


def observed(party: dict) -> Cost:
    peer, dealer = sent(party["peer"]), received(party["dealer"])
    assert received(party["peer"]) == {"messages": peer["messages"], "bytes": peer["bytes"]}
    return Cost(peer["rounds"], peer["messages"], peer["bytes"], dealer["messages"], dealer["bytes"])


def check_cost(bits: int, n: int, operation, expected) -> None:
    server, client, dealer = measured(bits, n, operation)
    assert observed(server) == expected(True)
    assert observed(client) == expected(False)
    assert dealer["server"]["bytes_sent"] == expected(True).dealer_bytes
    assert dealer["client"]["bytes_sent"] == expected(False).dealer_bytes


@pytest.mark.parametrize("bits", [8, 32])
def test_and_costs_a_decomposition_of_both_operands_and_one_multiplication(bits):
    n = 3
    check_cost(bits, n, lambda r, x, y: binary_call(r, "ezrt_or", x, y), lambda s: bitwise_cost(n, bits, s))
    assert bitwise_cost(n, bits, True).rounds == 2


@pytest.mark.parametrize("bits", [8, 32])
def test_a_right_shift_costs_one_decomposition_and_nothing_when_local(bits):
    n = 4
    check_cost(bits, n, lambda r, x, y: shr_call(r, True, bits + 3, x), lambda s: bits_cost(n, bits, s))
    check_cost(bits, n, lambda r, x, y: shr_call(r, False, 2, x), lambda s: bits_cost(n, bits, s))
    check_cost(bits, n, lambda r, x, y: shr_call(r, False, bits, x), lambda s: Cost())
    check_cost(bits, n, lambda r, x, y: shr_call(r, True, 0, x), lambda s: Cost())


@pytest.mark.parametrize("bits", [8, 32])
@pytest.mark.parametrize("is_signed", [False, True])
def test_divmod_costs_two_rounds_per_bit_plus_two_or_four(bits, is_signed):
    n = 2
    check_cost(bits, n, lambda r, x, y: divmod_call(r, is_signed, x, y),
               lambda s: divmod_cost(n, bits, s, is_signed))
    assert divmod_cost(n, bits, True, is_signed).rounds == 2 * bits + (4 if is_signed else 2)
