"""ezrt_matmul_many (runtime/src/athos_matmul.c): several matrix products of wires in one round,
opening only the products' entries. Three roles as threads over loopback (test_protocols.py's
harness); results revealed and compared with the products in Python integers, bit for bit;
rounds and bytes read from the channels' counters."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang import runtime_lib as rl
from ezlang.runtime_lib import EZRT_EINVAL, EZRT_ELENGTH, RECIPIENT_ALL, ROLE_CLIENT, ROLE_SERVER
from test_protocols import LIB, Role, run

U64P = ctypes.POINTER(ctypes.c_uint64)


def matmul_many(role: Role, shapes: list[tuple[int, int, int]], a: list[np.ndarray], b: list[np.ndarray],
                c: list[np.ndarray]) -> int:
    """The status of ezrt_matmul_many on numpy wire arrays."""
    flat = (ctypes.c_size_t * (3 * len(shapes)))(*[n for shape in shapes for n in shape])
    arrays = [(U64P * len(shapes))(*[rl.u64(x) for x in xs]) for xs in (a, b, c)]
    return LIB.ezrt_matmul_many(role.session, len(shapes), flat, *arrays)


def product(a: list[int], b: list[int], shape: tuple[int, int, int], bits: int) -> list[int]:
    i, j, k = shape
    return [sum(a[r * j + t] * b[t * k + s] for t in range(j)) % (1 << bits) for r in range(i) for s in range(k)]


def secure_products(bits: int, shapes: list[tuple[int, int, int]], a: list[list[int]], b: list[list[int]],
                    alias: bool = False) -> tuple[list[list[int]], dict[str, int]]:
    """SERVER inputs the A's, CLIENT the B's; the revealed products, and the costs of the call:
    SERVER's rounds and bytes to CLIENT, the dealer's bytes to CLIENT and to SERVER. With
    `alias`, each C is its A's array (A is read before C is written)."""

    def program(role: Role):
        wa = [role.input(ROLE_SERVER, values, len(values)) for values in a]
        wb = [role.input(ROLE_CLIENT, values, len(values)) for values in b]
        role.input(ROLE_CLIENT, [0])  # so that SERVER's next send starts a round
        c = wa if alias else [np.zeros(i * k, dtype=np.uint64) for i, _, k in shapes]
        if alias:  # C must hold i·k wires: widen A's array where C is larger
            c = [np.concatenate([x, np.zeros(max(0, i * k - len(x)), dtype=np.uint64)])
                 for x, (i, _, k) in zip(wa, shapes)]
            wa = c
        before = role.stats()
        role._check(matmul_many(role, shapes, wa, wb, c))
        after = role.stats()
        costs = {name: after[peer][field] - before[peer][field] for name, peer, field in
                 (("rounds", "peer", "rounds"), ("sent", "peer", "bytes_sent"), ("dealer", "client", "bytes_sent"),
                  ("dealer_server", "server", "bytes_sent")) if peer in after}
        revealed = [role.output(RECIPIENT_ALL, z[:i * k]) if i * k else [] for z, (i, _, k) in zip(c, shapes)]
        return revealed, costs

    (server, server_costs), (client, _), (_, dealer_costs) = run(bits, program)
    assert server == client
    return server, {**server_costs, **dealer_costs}


def values(rng: np.random.Generator, count: int, bits: int) -> list[int]:
    return [int.from_bytes(rng.bytes(8), "little") % (1 << bits) for _ in range(count)]


@pytest.mark.parametrize("bits", [32, 64])
def test_two_products_are_exact_in_one_round_opening_only_their_entries(bits: int) -> None:
    shapes = [(1, 7, 3), (4, 5, 2)]
    rng = np.random.default_rng(bits)
    a = [values(rng, i * j, bits) for i, j, _ in shapes]
    b = [values(rng, j * k, bits) for _, j, k in shapes]
    results, costs = secure_products(bits, shapes, a, b)
    assert results == [product(x, y, shape, bits) for x, y, shape in zip(a, b, shapes)]
    packed = rl.load().ezrt_packed_size
    assert costs["rounds"] == 1
    assert costs["sent"] == 8 + packed(sum(i * k for i, _, k in shapes), bits)
    assert costs["dealer"] == 8 + packed(sum(i * j + j * k + i * k for i, j, k in shapes), bits)
    assert costs["dealer_server"] == 0  # SERVER's shares come from its seed


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(0, 4)), min_size=1, max_size=3),
       st.sampled_from([32, 64]), st.booleans(), st.integers(0, 2**32))
def test_any_shapes_give_the_products(shapes: list[tuple[int, int, int]], bits: int, alias: bool, seed: int) -> None:
    """Empty dimensions included (a zero inner dimension gives zeros); C may be A's array."""
    rng = np.random.default_rng(seed)
    a = [values(rng, i * j, bits) for i, j, _ in shapes]
    b = [values(rng, j * k, bits) for _, j, k in shapes]
    results, costs = secure_products(bits, shapes, a, b, alias)
    assert results == [product(x, y, shape, bits) for x, y, shape in zip(a, b, shapes)]
    assert costs["rounds"] == (1 if any(i * k for i, _, k in shapes) else 0)


def test_bad_arguments_are_refused_by_every_role_before_anything_is_sent() -> None:
    def program(role: Role):
        a = np.zeros(4, dtype=np.uint64)
        too_big = 2**62
        calls = [lambda: LIB.ezrt_matmul_many(role.session, 1, None, None, None, None),
                 lambda: matmul_many(role, [(too_big, 4, too_big)], [a], [a], [a]),
                 lambda: LIB.ezrt_matmul_many(role.session, 1, (ctypes.c_size_t * 3)(2, 2, 1), (U64P * 1)(U64P()),
                                              (U64P * 1)(rl.u64(a)), (U64P * 1)(rl.u64(a)))]
        results = [(call(), LIB.ezrt_session_error(role.session).decode()) for call in calls]
        results.append((matmul_many(role, [(0, 0, 0)], [a], [a], [a]), ""))
        return results, sum(channel["bytes_sent"] for channel in role.stats().values())

    server, client, dealer = run(32, program)
    assert server[0] == client[0] == dealer[0] == [
        (EZRT_EINVAL, "ezrt_matmul_many: a NULL array of shapes or operands"),
        (EZRT_ELENGTH, "ezrt_matmul_many: the sizes overflow"),
        (EZRT_EINVAL, "ezrt_matmul_many: `A` is NULL"),
        (0, "")]
    assert server[1] == client[1] == 0  # the parties never sent anything
