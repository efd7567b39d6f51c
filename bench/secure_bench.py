"""Secure runs against plaintext numpy, measured in the same run.

    python bench/secure_bench.py [--n 100000] [--repeat 5] [--json FILE]

Workloads: the dot product of two secret vectors of n elements (SERVER holds one, CLIENT the
other; CLIENT learns the result) and n element-wise secret comparisons (CLIENT learns the bits),
each written as the element-wise loop a user would write. Every secure run is three processes
on loopback (`ezlang run --local`). Reported: medians over the repeats of each party's online
time, the online rounds, the bytes each role sent and received, and the dealer's bytes to each
party; and the median time of the same computation in numpy, with the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ezlang.run.local import LocalRun, run_local

PROGRAMS = {
    "dot product": """
int32 N = {n};
def void main() {{
  input(SERVER, w, int32_al[N]);
  input(CLIENT, x, int32_al[N]);
  int32_al acc = 0;
  for i = [0:N] {{ acc = acc + w[i] * x[i] }};
  output(CLIENT, acc)
}}
""",
    "comparisons": """
int32 N = {n};
def void main() {{
  input(SERVER, a, int32_al[N]);
  input(CLIENT, b, int32_al[N]);
  bool_bl[N] c;
  for i = [0:N] {{ c[i] = a[i] < b[i] }};
  output(CLIENT, c)
}}
""",
}


def plaintext(name: str, left: np.ndarray, right: np.ndarray) -> Callable[[], Any]:
    if name == "dot product":
        return lambda: np.dot(left.astype(np.int64), right.astype(np.int64)).astype(np.int32)
    return lambda: left < right


def median_seconds(task: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, n: int, repeat: int, bitlen: int, folder: Path) -> dict[str, Any]:
    rng = np.random.default_rng()
    left = rng.integers(-2**20, 2**20, n, dtype=np.int32)
    right = rng.integers(-2**20, 2**20, n, dtype=np.int32)
    program = folder / f"{name.replace(' ', '_')}.ezpc"
    program.write_text(PROGRAMS[name].format(n=n))
    np.save(folder / "server.npy", left)
    np.save(folder / "client.npy", right)
    runs: list[LocalRun] = []
    for _ in range(repeat):
        run = run_local(str(program), {"server": str(folder / "server.npy"), "client": str(folder / "client.npy")},
                        None, bitlen, timeout=60.0)
        if not run.ok:
            raise SystemExit(f"{name}: {run.first_failure} failed:\n{run.role(run.first_failure).stderr}")
        runs.append(run)
    numpy_s = median_seconds(plaintext(name, left, right), max(repeat, 25))
    return summarize(name, n, runs, numpy_s)


def summarize(name: str, n: int, runs: list[LocalRun], numpy_s: float) -> dict[str, Any]:
    def med(role: str, pick: Callable[[Any], float]) -> float:
        return statistics.median(pick(run.role(role).stats) for run in runs)

    online = {r: med(r, lambda s: s.seconds.get("online", 0.0)) for r in ("server", "client")}
    return {
        "workload": name, "n": n, "repeats": len(runs),
        "online_s": online,
        "rounds": {"server": med("server", lambda s: s.total("rounds", phase="online", peer="client")),
                   "client": med("client", lambda s: s.total("rounds", phase="online", peer="server"))},
        "bytes_sent": {r: med(r, lambda s: s.total("bytes_sent")) for r in ("server", "client", "dealer")},
        "bytes_received": {r: med(r, lambda s: s.total("bytes_received")) for r in ("server", "client", "dealer")},
        "dealer_bytes": {p: med("dealer", lambda s, p=p: s.total("bytes_sent", peer=p)) for p in ("server", "client")},
        "numpy_s": numpy_s,
        "ratio": max(online.values()) / numpy_s if numpy_s else None,
    }


def render(row: dict[str, Any]) -> str:
    online = max(row["online_s"].values())
    return (f"{row['workload']:<12} n={row['n']:<7} online {online * 1000:9.1f} ms  rounds {row['rounds']['client']:>4.0f}  "
            f"sent S/C {row['bytes_sent']['server'] / 1e6:7.2f}/{row['bytes_sent']['client'] / 1e6:7.2f} MB  "
            f"dealer→S/C {row['dealer_bytes']['server'] / 1e6:7.2f}/{row['dealer_bytes']['client'] / 1e6:7.2f} MB  "
            f"numpy {row['numpy_s'] * 1000:8.3f} ms  ratio {row['ratio']:8.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ezlang-bench-") as scratch:
        rows = [measure(name, args.n, args.repeat, 32, Path(scratch)) for name in PROGRAMS]
    for row in rows:
        print(render(row))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
