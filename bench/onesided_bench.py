"""Time of ezrt_onesided_matmul on the rs-fMRI MLP's first layer: x·W with W 109,350 × 200 known
to SERVER (int16-range entries, as weights at scale 12 in [-8, 8)), x CLIENT's clear scan, 64-bit
ring.

Usage: python3 bench/onesided_bench.py [--calls 5] [--inner 109350] [--rows 200]
The three roles run as threads of this process over loopback (as tests/runtime/test_protocols.py
does). Prints the registration (first call) and, per later call, the median wall time of each
role's call with and without a refill between calls, plus each role's ezrt_onesided_stats.
Timing only; asserts nothing but the first product's agreement between the parties.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ezlang import runtime_lib as rl

LIB = rl.load()
HOST = b"127.0.0.1"
TIMEOUT_MS = 120_000
BITS = 64


def connected_pair(a_role: int, b_role: int) -> tuple[ctypes.c_void_p, ctypes.c_void_p]:
    listener, a_end, b_end = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    rl.check("ezrt_listen", LIB.ezrt_listen(HOST, 0, ctypes.byref(listener), None, 0))
    port = LIB.ezrt_listener_port(listener)
    with ThreadPoolExecutor(max_workers=1) as pool:
        dial = pool.submit(LIB.ezrt_connect, HOST, port, a_role, TIMEOUT_MS, ctypes.byref(b_end), None, 0)
        rl.check("ezrt_accept", LIB.ezrt_accept(listener, b_role, TIMEOUT_MS, ctypes.byref(a_end), None, 0))
        rl.check("ezrt_connect", dial.result())
    LIB.ezrt_listener_close(listener)
    for ch in (a_end, b_end):
        LIB.ezrt_channel_set_timeout(ch, TIMEOUT_MS)
    return a_end, b_end


def open_sessions() -> tuple[list[ctypes.c_void_p], list[ctypes.c_void_p]]:
    """SERVER, CLIENT, dealer sessions, and every channel (to close afterwards)."""
    s_c, c_s = connected_pair(rl.ROLE_SERVER, rl.ROLE_CLIENT)
    s_d, d_s = connected_pair(rl.ROLE_SERVER, rl.ROLE_DEALER)
    c_d, d_c = connected_pair(rl.ROLE_CLIENT, rl.ROLE_DEALER)
    handles = [ctypes.c_void_p() for _ in range(3)]
    rl.check("open dealer", LIB.ezrt_session_open_dealer(ctypes.byref(handles[2]), BITS, d_s, d_c))
    rl.check("open server", LIB.ezrt_session_open_party(ctypes.byref(handles[0]), rl.ROLE_SERVER, BITS, s_c, s_d))
    rl.check("open client", LIB.ezrt_session_open_party(ctypes.byref(handles[1]), rl.ROLE_CLIENT, BITS, c_s, c_d))
    return handles, [s_c, c_s, s_d, d_s, c_d, d_c]


def play(role: int, session: ctypes.c_void_p, known: np.ndarray, scans: list[np.ndarray], rows: int, inner: int,
         refill: bool) -> dict[str, Any]:
    """One role's calls: the first registers; the seconds of each call and the stats."""
    seconds, products = [], []
    for t, scan in enumerate(scans):
        c = np.zeros(rows, dtype=np.uint64)
        known_ptr = rl.u64(known) if role == rl.ROLE_SERVER and t == 0 else None
        other_ptr = rl.u64(scan) if role == rl.ROLE_CLIENT else None
        if refill and t > 0:
            rl.check("ezrt_onesided_refill", LIB.ezrt_onesided_refill(session))
        start = time.perf_counter()
        status = LIB.ezrt_onesided_matmul(session, 0, rl.KNOWN_RIGHT, rl.OTHER_CLIENT_CLEAR, 1, inner, rows,
                                          known_ptr, other_ptr, rl.u64(c))
        seconds.append(time.perf_counter() - start)
        if status:
            raise RuntimeError(LIB.ezrt_session_error(session).decode())
        products.append(c)
    rl.check("flush", LIB.ezrt_session_flush(session))
    stats = rl.OnesidedStats()
    rl.check("stats", LIB.ezrt_onesided_stats_get(session, ctypes.byref(stats)))
    counters = {field[0]: getattr(stats, field[0]) for field in rl.OnesidedStats._fields_}
    return {"seconds": seconds, "stats": counters, "first": products[0]}


def session_run(known: np.ndarray, scans: list[np.ndarray], rows: int, inner: int,
                refill: bool) -> list[dict[str, Any]]:
    handles, channels = open_sessions()
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(play, role, handles[role], known, scans, rows, inner, refill) for role in range(3)]
            return [f.result() for f in futures]
    finally:
        for h in handles:
            LIB.ezrt_session_free(h)
        for ch in channels:
            LIB.ezrt_close(ch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--inner", type=int, default=109_350)
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    known = rng.integers(-32768, 32768, size=args.inner * args.rows).astype(np.int64).view(np.uint64)
    scans = [rng.integers(-4096, 4097, size=args.inner).astype(np.int64).view(np.uint64)
             for _ in range(args.calls + 1)]
    print(f"x·W, W {args.inner} x {args.rows} (int16 entries), {BITS}-bit ring, {args.calls} calls after the first")
    for refill in (False, True):
        server, client, dealer = session_run(known, scans, args.rows, args.inner, refill)
        assert np.array_equal(server["first"], client["first"])
        label = "with refill" if refill else "on demand  "
        per_call = " / ".join(f"{statistics.median(r['seconds'][1:]) * 1e3:.1f}" for r in (server, client, dealer))
        first = " / ".join(f"{r['seconds'][0]:.2f}" for r in (server, client, dealer))
        print(f"{label}: registering call {first} s, later calls median {per_call} ms (SERVER / CLIENT / dealer)")
        for name, r in (("SERVER", server), ("CLIENT", client), ("dealer", dealer)):
            s = r["stats"]
            print(f"    {name}: setup {s['setup_ns'] / 1e9:.2f} s, {s['setup_bytes'] / 2**20:.1f} MiB sent; "
                  f"offline {s['precompute_ns'] / 1e6:.1f} ms, {s['precomputed_hits']} hits")


if __name__ == "__main__":
    main()
