"""ezrt_onesided_matmul (runtime/src/proto_onesided.c): matrix products with one factor known to
SERVER in the clear, registered once per slot and session. Three roles as threads over loopback
(test_protocols.py's harness); results revealed and compared with the products in Python
integers, bit for bit; rounds and bytes read from the channels' counters, registration and
offline work from ezrt_onesided_stats."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_protocols import LIB, Role, run

from ezlang import runtime_lib as rl
from ezlang.runtime_lib import (
    EZRT_EINVAL,
    EZRT_ELENGTH,
    KNOWN_LEFT,
    KNOWN_RIGHT,
    ONESIDED_MAX_SLOTS,
    OTHER_CLIENT_CLEAR,
    OTHER_WIRE,
    RECIPIENT_ALL,
    ROLE_CLIENT,
    ROLE_SERVER,
    OnesidedStats,
)

HEADER = 8
MODEL_CHUNK = 1 << 19
# Where the other operand comes from: CLIENT's clear value, or a wire input by CLIENT or by
# SERVER, or the wire of a product of an input of each.
SOURCES = ["clear", "client", "server", "product"]
# The largest magnitude of K's entries per storage width SERVER picks (int8, int16, int32, int64).
MAGNITUDES = {8: 127, 16: 32767, 32: 2**31 - 1, 64: 2**63 - 1}


def packed(count: int, bits: int) -> int:
    return int(LIB.ezrt_packed_size(count, bits))


@dataclass(frozen=True)
class Product:
    """One call: C = K·O (LEFT) or O·K (RIGHT), shapes (i, j, k), O from `source`."""

    side: int
    shape: tuple[int, int, int]
    known: list[int]
    other: list[int]
    source: str = "client"

    @property
    def kind(self) -> int:
        return OTHER_CLIENT_CLEAR if self.source == "clear" else OTHER_WIRE

    @property
    def known_shape(self) -> tuple[int, int]:
        i, j, k = self.shape
        return (i, j) if self.side == KNOWN_LEFT else (j, k)

    @property
    def other_shape(self) -> tuple[int, int]:
        i, j, k = self.shape
        return (j, k) if self.side == KNOWN_LEFT else (i, j)

    @property
    def rows_inner_cols(self) -> tuple[int, int, int]:
        i, j, k = self.shape
        return (i, j, k) if self.side == KNOWN_LEFT else (k, j, i)

    def expected(self, bits: int) -> list[int]:
        a, b = (self.known, self.other) if self.side == KNOWN_LEFT else (self.other, self.known)
        i, j, k = self.shape
        return [sum(a[r * j + t] * b[t * k + s] for t in range(j)) % (1 << bits) for r in range(i) for s in range(k)]


def random_values(rng: np.random.Generator, count: int, bits: int) -> list[int]:
    return [int.from_bytes(rng.bytes(8), "little") % (1 << bits) for _ in range(count)]


def known_values(rng: np.random.Generator, count: int, magnitude: int, bits: int) -> list[int]:
    """Ring elements of signed values in [-magnitude - 1, magnitude], both ends included."""
    values = [int(rng.integers(-magnitude - 1, magnitude, endpoint=True)) for _ in range(count)]
    values[: min(count, 2)] = [-magnitude - 1, magnitude][: min(count, 2)]
    return [v % (1 << bits) for v in values]


def make(rng: np.random.Generator, bits: int, side: int, shape: tuple[int, int, int], source: str,
         magnitude: int) -> Product:
    i, j, k = shape
    n_known, n_other = (i * j, j * k) if side == KNOWN_LEFT else (j * k, i * j)
    return Product(side, shape, known_values(rng, n_known, magnitude, bits), random_values(rng, n_other, bits),
                   source)


def u64(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


def operand(role: Role, p: Product, factor: list[int]) -> np.ndarray | None:
    """The other operand as this role passes it; for "product", the wire of p.other times a
    SERVER input `factor`, element by element (ezrt_mul)."""
    if p.source == "clear":
        return u64(p.other) if role.role == ROLE_CLIENT else None
    if p.source in ("client", "server"):
        return role.input(ROLE_CLIENT if p.source == "client" else ROLE_SERVER, p.other)
    return role.mul(role.input(ROLE_CLIENT, p.other), role.input(ROLE_SERVER, factor))


def call(role: Role, slot: int, p: Product, other: np.ndarray | None, known: bool = True) -> tuple[int, np.ndarray]:
    """The status of ezrt_onesided_matmul and its result (i·k wires); SERVER passes K if `known`."""
    i, j, k = p.shape
    c = np.zeros(i * k, dtype=np.uint64)
    known_ptr = rl.u64(u64(p.known)) if known and role.role == ROLE_SERVER and p.known else None
    other_ptr = rl.u64(other) if other is not None else None
    status = LIB.ezrt_onesided_matmul(role.session, slot, p.side, p.kind, i, j, k, known_ptr, other_ptr, rl.u64(c))
    return status, c


def checked(role: Role, slot: int, p: Product, other: np.ndarray | None) -> np.ndarray:
    status, c = call(role, slot, p, other)
    role._check(status)
    return c


def onesided(role: Role, slot: int, p: Product, factor: list[int] | None = None) -> np.ndarray:
    """The result wires of p on this role, its other operand made first."""
    return checked(role, slot, p, operand(role, p, factor or [1] * len(p.other)))


def stats(role: Role) -> dict[str, int]:
    out = OnesidedStats()
    assert LIB.ezrt_onesided_stats_get(role.session, ctypes.byref(out)) == 0
    return {field[0]: getattr(out, field[0]) for field in OnesidedStats._fields_}


def costs(role: Role, action: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
    """action's result and what this role sent and its rounds on each channel meanwhile."""
    before = role.stats()
    result = action()
    after = role.stats()
    spent = {f"{name}_{field}": after[name][field] - before[name][field]
             for name in after for field in ("bytes_sent", "rounds")}
    return result, spent


def run_products(bits: int, calls: list[tuple[int, Product]], refill: bool = False) -> list[list[int] | None]:
    """Every (slot, product) in order in one session (refilling before each call if asked);
    the revealed results, checked equal on both parties."""

    def program(role: Role) -> list[list[int] | None]:
        results: list[list[int] | None] = []
        for slot, p in calls:
            if refill:
                role._check(LIB.ezrt_onesided_refill(role.session))
            results.append(role.output(RECIPIENT_ALL, onesided(role, slot, p)) if p.shape[0] * p.shape[2] else [])
        return results

    server, client, _ = run(bits, program)
    assert server == client
    return server


# ---- results ----


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("side", [KNOWN_LEFT, KNOWN_RIGHT])
def test_products_are_exact_for_every_operand_source_and_storage_width(bits: int, side: int) -> None:
    """One slot per (source, width), each called twice (registration, then a new O, other cols)."""
    rng = np.random.default_rng(bits + side)
    widths = [w for w in MAGNITUDES if w <= bits]
    calls = []
    for slot, (source, width) in enumerate((s, w) for s in SOURCES for w in widths):
        first, second = ((3, 5, 1), (3, 5, 2)) if side == KNOWN_LEFT else ((1, 5, 3), (2, 5, 3))
        registering = make(rng, bits, side, first, source, MAGNITUDES[width])
        again = make(rng, bits, side, second, source, 0)
        calls += [(slot, registering), (slot, Product(side, second, registering.known, again.other, source))]
    assert run_products(bits, calls) == [p.expected(bits) for _, p in calls]


def test_a_product_wire_as_the_other_operand() -> None:
    rng = np.random.default_rng(5)
    p = make(rng, 64, KNOWN_RIGHT, (2, 4, 3), "product", 1000)
    factor = random_values(rng, len(p.other), 64)
    o = [x * y % 2**64 for x, y in zip(p.other, factor)]

    def program(role: Role) -> list[int] | None:
        return role.output(RECIPIENT_ALL, onesided(role, 0, p, factor))

    server, client, _ = run(64, program)
    assert server == client == Product(p.side, p.shape, p.known, o).expected(64)


def test_a_clear_scan_larger_than_the_socket_buffers_takes_one_round() -> None:
    """x·W with x of 20,000 values (160 KB) and int16 weights, the rs-fMRI first layer's form."""
    rng = np.random.default_rng(7)
    first = make(rng, 64, KNOWN_RIGHT, (1, 20_000, 8), "clear", 4096)
    second = Product(KNOWN_RIGHT, first.shape, first.known, random_values(rng, 20_000, 64), "clear")

    def program(role: Role) -> Any:
        checked(role, 0, first, operand(role, first, []))
        other = operand(role, second, [])
        c, cost = costs(role, lambda: checked(role, 0, second, other))
        return role.output(RECIPIENT_ALL, c), cost.get("peer_rounds")  # the dealer has no peer

    (server, s_rounds), (client, c_rounds), _ = run(64, program)
    assert server == client == second.expected(64)
    assert s_rounds == c_rounds == 1


@pytest.mark.parametrize("magnitude", [2**15 - 1, 2**40])
def test_a_batch_large_enough_for_chunks_and_a_second_thread_is_exact(magnitude: int) -> None:
    """O·K with rows·inner·cols above the two-thread threshold and inner above one chunk (int16
    and uint64 storage), against numpy's wrapping uint64 product."""
    rng = np.random.default_rng(9)
    i, j, k = 6, 9000, 80
    known = rng.integers(-magnitude - 1, magnitude, size=(j, k), endpoint=True).astype(np.int64).view(np.uint64)
    other = rng.integers(0, 2**63, size=(i, j), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    p = Product(KNOWN_RIGHT, (i, j, k), known.reshape(-1).tolist(), other.reshape(-1).tolist(), "clear")

    def program(role: Role) -> list[int] | None:
        return role.output(RECIPIENT_ALL, checked(role, 0, p, other.reshape(-1) if role.role == ROLE_CLIENT else None))

    server, client, _ = run(64, program)
    with np.errstate(over="ignore"):
        expected = (other @ known).reshape(-1).tolist()
    assert server == client == expected


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 4), st.integers(0, 4), st.lists(st.integers(0, 4), min_size=1, max_size=3),
       st.sampled_from([KNOWN_LEFT, KNOWN_RIGHT]), st.sampled_from(SOURCES), st.sampled_from([32, 64]),
       st.sampled_from(list(MAGNITUDES.values())), st.integers(0, 2**32))
def test_any_small_shapes_give_the_products(rows: int, inner: int, cols: list[int], side: int, source: str,
                                            bits: int, magnitude: int, seed: int) -> None:
    """Empty dimensions included; cols varies from call to call within a slot."""
    rng = np.random.default_rng(seed)
    shapes = [(rows, inner, c) if side == KNOWN_LEFT else (c, inner, rows) for c in cols]
    magnitude = min(magnitude, 2 ** (bits - 1) - 1)
    first = make(rng, bits, side, shapes[0], source, magnitude)
    later = [make(rng, bits, side, shape, source, 0) for shape in shapes[1:]]
    calls = [(0, first)] + [(0, Product(side, q.shape, first.known, q.other, source)) for q in later]
    assert run_products(bits, calls) == [p.expected(bits) for _, p in calls]


# ---- registration, costs, offline values ----


@pytest.mark.parametrize("source", ["clear", "client"])
def test_the_model_is_sent_once_and_each_call_is_one_round_with_small_messages(source: str) -> None:
    bits, rng = 32, np.random.default_rng(11)
    first = make(rng, bits, KNOWN_LEFT, (4, 6, 2), source, 100)
    calls = [first, Product(KNOWN_LEFT, first.shape, first.known, random_values(rng, 12, bits), source)]
    rows, inner, cols = calls[0].rows_inner_cols

    def program(role: Role) -> Any:
        others = [operand(role, p, []) for p in calls]  # inputs first: the calls run back to back
        ready, spent, wires = [LIB.ezrt_onesided_ready(role.session, 0)], [], []
        for p, other in zip(calls, others):
            c, cost = costs(role, partial(checked, role, 0, p, other))
            ready.append(LIB.ezrt_onesided_ready(role.session, 0))
            spent.append(cost)
            wires.append(c)
        return ready, spent, stats(role), [role.output(RECIPIENT_ALL, c) for c in wires]

    server, client, dealer = run(bits, program)
    (s_ready, s_cost, s_stats, products), (c_ready, c_cost, c_stats, _), (d_ready, d_cost, d_stats, _) = (
        server, client, dealer)
    assert products == [p.expected(bits) for p in calls]
    assert s_ready == c_ready == d_ready == [0, 1, 1]
    opening, model = HEADER + packed(rows * cols, bits), HEADER + packed(rows * inner, bits)
    y_message = HEADER + packed(inner * cols, bits)
    assert [cost["peer_bytes_sent"] for cost in s_cost] == [model + opening, opening]
    client_sends = opening + (y_message if source == "clear" else 0)
    assert [cost["peer_bytes_sent"] for cost in c_cost] == [client_sends] * 2
    assert [cost["peer_rounds"] for cost in s_cost] == [2, 1]  # registration: M^ is a flight of its own
    assert [cost["peer_rounds"] for cost in c_cost] == [1, 1]
    assert [cost["client_bytes_sent"] for cost in d_cost] == [opening] * 2
    assert [cost["server_bytes_sent"] for cost in d_cost] == [0 if source == "clear" else y_message] * 2
    assert s_stats["slots"] == c_stats["slots"] == d_stats["slots"] == 1
    assert (s_stats["setup_bytes"], c_stats["setup_bytes"], d_stats["setup_bytes"]) == (model, 0, 0)
    assert min(s_stats["setup_ns"], c_stats["setup_ns"], d_stats["setup_ns"]) > 0
    assert s_stats["precompute_ns"] == 0 < min(c_stats["precompute_ns"], d_stats["precompute_ns"])
    assert s_stats["precomputed_hits"] == c_stats["precomputed_hits"] == d_stats["precomputed_hits"] == 0


def test_a_large_model_travels_in_messages_of_at_most_2_to_the_19_values() -> None:
    bits, rng = 8, np.random.default_rng(13)
    rows, inner = 3, MODEL_CHUNK // 2 + 1  # 2^19 + 3 entries
    p = Product(KNOWN_LEFT, (rows, inner, 1), known_values(rng, rows * inner, 100, bits),
                random_values(rng, inner, bits))

    def program(role: Role) -> Any:
        c = onesided(role, 0, p)
        return role.output(RECIPIENT_ALL, c), stats(role)["setup_bytes"], role.stats()

    (server, setup, channels), (client, _, _), _ = run(bits, program)
    assert server == client == p.expected(bits)
    chunks = [MODEL_CHUNK, rows * inner - MODEL_CHUNK]
    assert setup == sum(HEADER + packed(n, bits) for n in chunks)
    assert channels["peer"]["messages_sent"] == 2 + 1  # M^ in two messages, then z_S


def test_refilled_and_on_demand_calls_give_the_same_products() -> None:
    bits, rng = 64, np.random.default_rng(17)
    right, left = make(rng, bits, KNOWN_RIGHT, (1, 7, 5), "clear", 3000), make(rng, bits, KNOWN_LEFT, (5, 7, 1),
                                                                              "client", 3000)
    calls = [(0, Product(KNOWN_RIGHT, right.shape, right.known, random_values(rng, 7, bits), "clear"))
             for _ in range(3)]
    calls += [(1, Product(KNOWN_LEFT, left.shape, left.known, random_values(rng, 7, bits))) for _ in range(2)]
    expected = [p.expected(bits) for _, p in calls]
    assert run_products(bits, calls, refill=False) == expected
    assert run_products(bits, calls, refill=True) == expected


def test_a_refill_serves_the_next_call_and_a_call_with_other_cols_ignores_it() -> None:
    bits, rng = 64, np.random.default_rng(19)
    one = make(rng, bits, KNOWN_RIGHT, (1, 6, 4), "client", 50)
    two = Product(KNOWN_RIGHT, (2, 6, 4), one.known, random_values(rng, 12, bits))
    script: list[Product | str] = [one, "refill", one, "refill", two, "refill", "refill", two]

    def program(role: Role) -> Any:
        results, hits = [], []
        for step in script:
            if isinstance(step, str):
                role._check(LIB.ezrt_onesided_refill(role.session))
                continue
            results.append(role.output(RECIPIENT_ALL, onesided(role, 0, step)))
            hits.append(stats(role)["precomputed_hits"])
        return results, hits

    (server, s_hits), (client, c_hits), (_, d_hits) = run(bits, program)
    assert server == client == [step.expected(bits) for step in script if isinstance(step, Product)]
    assert c_hits == d_hits == [0, 1, 1, 2]  # the refill for 1 column is wiped by the call with 2
    assert s_hits == [0, 0, 0, 0]  # SERVER has no offline values


def test_empty_dimensions_register_the_slot_without_communication() -> None:
    def program(role: Role) -> Any:
        role.input(ROLE_CLIENT, [0])
        before = role.stats()
        results = []
        for slot, shape in enumerate([(2, 0, 3), (0, 2, 3), (2, 3, 0)]):
            p = Product(KNOWN_LEFT, shape, [5] * (shape[0] * shape[1]), [7] * (shape[1] * shape[2]), "client")
            results.append([int(v) for v in checked(role, slot, p, u64(p.other))])
        sent = sum(role.stats()[ch]["bytes_sent"] - before[ch]["bytes_sent"] for ch in before)
        return results, sent, [LIB.ezrt_onesided_ready(role.session, q) for q in range(4)]

    for results, sent, ready in run(32, program):
        assert results == [[0] * 6, [], []]  # a zero inner dimension: the zero matrix, mask 0
        assert sent == 0
        assert ready == [1, 1, 1, 0]


def test_a_zero_column_first_call_defers_the_transfer_to_the_first_real_call() -> None:
    rng = np.random.default_rng(23)
    empty = Product(KNOWN_LEFT, (3, 4, 0), known_values(rng, 12, 9, 32), [])
    real = Product(KNOWN_LEFT, (3, 4, 2), empty.known, random_values(rng, 8, 32))

    def program(role: Role) -> Any:
        checked(role, 0, empty, u64([]))
        return role.output(RECIPIENT_ALL, onesided(role, 0, real)), stats(role)["setup_bytes"]

    (server, setup), (client, _), _ = run(32, program)
    assert server == client == real.expected(32)
    assert setup == HEADER + packed(12, 32)


def test_ready_and_stats_of_no_session() -> None:
    assert LIB.ezrt_onesided_ready(None, 0) == 0
    assert LIB.ezrt_onesided_stats_get(None, ctypes.byref(OnesidedStats())) == EZRT_EINVAL

    def program(role: Role) -> Any:
        return (LIB.ezrt_onesided_ready(role.session, ONESIDED_MAX_SLOTS), stats(role),
                LIB.ezrt_onesided_stats_get(role.session, None))

    for ready, counters, null_out in run(32, program):
        assert (ready, null_out) == (0, EZRT_EINVAL)
        assert counters == dict.fromkeys(counters, 0)


# ---- errors ----


def error_of(role: Role, status: int) -> tuple[int, str]:
    return status, LIB.ezrt_session_error(role.session).decode() if status else ""


def test_bad_arguments_are_refused_by_every_role_and_do_not_spoil_the_session() -> None:
    rng = np.random.default_rng(29)
    p = make(rng, 32, KNOWN_LEFT, (2, 3, 2), "client", 100)
    wider = Product(KNOWN_LEFT, (2, 4, 2), [1] * 8, [1] * 8, "client")
    right = Product(KNOWN_RIGHT, (2, 3, 2), p.known, p.other, "client")
    i, j, k = p.shape

    def program(role: Role) -> Any:
        o = role.input(ROLE_CLIENT, p.other)
        c = np.zeros(i * k, dtype=np.uint64)
        known = rl.u64(u64(p.known)) if role.role == ROLE_SERVER else None
        args = (i, j, k, known, rl.u64(o), rl.u64(c))
        matmul = LIB.ezrt_onesided_matmul
        bad: list[Callable[[], int]] = [
            lambda: matmul(role.session, 0, 2, OTHER_WIRE, *args),
            lambda: matmul(role.session, 0, KNOWN_LEFT, 3, *args),
            lambda: matmul(role.session, ONESIDED_MAX_SLOTS, KNOWN_LEFT, OTHER_WIRE, *args),
            lambda: matmul(role.session, 0, KNOWN_LEFT, OTHER_WIRE, i, j, k, known, None, rl.u64(c)),
            lambda: matmul(role.session, 0, KNOWN_LEFT, OTHER_WIRE, i, j, k, known, rl.u64(o), None),
            lambda: matmul(role.session, 0, KNOWN_LEFT, OTHER_WIRE, 2**62, 4, 2**62, known, rl.u64(o), rl.u64(c))]
        refused = [error_of(role, attempt()) for attempt in bad]
        ready_after_refusals = LIB.ezrt_onesided_ready(role.session, 0)
        first = role.output(RECIPIENT_ALL, onesided(role, 0, p))
        mismatched = [error_of(role, call(role, 0, q, o)[0]) for q in (wider, right)]
        second = role.output(RECIPIENT_ALL, onesided(role, 0, p))
        return refused, ready_after_refusals, mismatched, [first, second]

    results = run(32, program)
    op = "ezrt_onesided_matmul: "
    for refused, ready, mismatched, products in results:
        assert refused == [
            (EZRT_EINVAL, op + "the side must be EZRT_KNOWN_LEFT or EZRT_KNOWN_RIGHT"),
            (EZRT_EINVAL, op + "the other operand must be EZRT_OTHER_WIRE, EZRT_OTHER_CLIENT_CLEAR or EZRT_OTHER_SHARED"),
            (EZRT_EINVAL, op + "the slot must be below EZRT_ONESIDED_MAX_SLOTS"),
            (EZRT_EINVAL, op + "NULL array"),
            (EZRT_EINVAL, op + "NULL array"),
            (EZRT_ELENGTH, op + "too many values"),
        ]
        assert ready == 0
        assert mismatched == [
            (EZRT_EINVAL, op + "the side or the known matrix's shape differs from the slot's registration")] * 2
    assert [r[3] for r in results[:2]] == [[p.expected(32)] * 2] * 2


def test_role_specific_refusals_leave_the_other_roles_in_step() -> None:
    """SERVER registering without K, CLIENT without its clear operand: only that role calls."""
    rng = np.random.default_rng(31)
    p = make(rng, 32, KNOWN_RIGHT, (1, 3, 2), "clear", 100)

    def program(role: Role) -> Any:
        refused = None
        if role.role == ROLE_SERVER:
            refused = error_of(role, call(role, 0, p, None, known=False)[0])
        if role.role == ROLE_CLIENT:
            refused = error_of(role, call(role, 0, p, None)[0])
        return refused, role.output(RECIPIENT_ALL, onesided(role, 0, p))

    (s_refused, server), (c_refused, client), _ = run(32, program)
    op = "ezrt_onesided_matmul: "
    assert s_refused == (EZRT_EINVAL, op + "SERVER must pass the known matrix to register a slot")
    assert c_refused == (EZRT_EINVAL, op + "NULL array")
    assert server == client == p.expected(32)
