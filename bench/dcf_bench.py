"""Throughput of the runtime's DCF key generation and evaluation (and the PRG), via ctypes.

Usage: python3 bench/dcf_bench.py [--count 20000] [--runs 7]
Prints, per (n_in, m_out), the median over --runs of keys generated per second (both keys of a
pair) and evaluations per second (one party), each measured on one batch call of --count keys,
plus single-key calls to show the per-call overhead. Timing only; asserts nothing.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time
from collections.abc import Callable

import numpy as np

from ezlang import runtime_lib as rl

SHAPES = [(16, 16), (32, 32), (64, 64)]


def median_seconds(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_shape(n: int, m: int, count: int, runs: int) -> str:
    prg = rl.new_prg()
    alphas = rl.prg_u64s(prg, count, n)
    betas = rl.prg_u64s(prg, count, m)
    xs = rl.prg_u64s(prg, count, n)
    keys0, _ = rl.dcf_gen_batch(prg, n, m, alphas, betas)
    gen = median_seconds(lambda: rl.dcf_gen_batch(prg, n, m, alphas, betas), runs)
    ev = median_seconds(lambda: rl.dcf_eval_batch(0, keys0, n, m, xs), runs)
    single = median_seconds(lambda: single_evals(keys0, n, m, xs, 1000), runs) / 1000
    return (
        f"n={n:2} m={m:2}  key {rl.dcf_key_size(n, m):5} B  "
        f"gen {count / gen:10,.0f} pairs/s  eval {count / ev:10,.0f} /s  "
        f"({ev / count / n * 1e9:5.1f} ns/level)  single eval call {single * 1e6:6.2f} us"
    )


def single_evals(keys: bytearray, n: int, m: int, xs: np.ndarray, calls: int) -> None:
    lib = rl.load()
    size = rl.dcf_key_size(n, m)
    base = (ctypes.c_uint8 * len(keys)).from_buffer(keys)
    out = ctypes.c_uint64()
    for j in range(calls):
        key = ctypes.cast(ctypes.byref(base, j * size), ctypes.POINTER(ctypes.c_uint8))
        rl.check(
            "ezrt_dcf_eval", lib.ezrt_dcf_eval(0, key, size, n, m, int(xs[j]), ctypes.byref(out))
        )


def bench_prg(runs: int) -> str:
    lib = rl.load()
    prg = rl.new_prg()
    buf = bytearray(64 << 20)
    out = rl.u8(buf)
    seconds = median_seconds(lambda: lib.ezrt_prg_bytes(ctypes.byref(prg), out, len(buf)), runs)
    return f"PRG (AES-128-CTR into a preallocated buffer): {len(buf) / seconds / 2**30:.2f} GiB/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for n, m in SHAPES:
        print(bench_shape(n, m, args.count, args.runs))
    print(bench_prg(args.runs))


if __name__ == "__main__":
    main()
