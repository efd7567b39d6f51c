"""Queries over one served session (`ezlang query --local --json`), with every role's figures.

Why: a served model registers its one-sided products once per session (docs/running.md,
"Sessions: serve and query"), so its cost is a one-time setup plus a steady price per query.
bench/suite.py and bench/accuracy.py --session both measure it the way a user runs it: one
`ezlang query --local` process (the CLIENT) that starts the SERVER and the DEALER as `ezlang serve
--sessions 1` and merges their --stats-json figures into its --json document.

Assumes: a program whose CLIENT reads one file per query, the SERVER's inputs in one file.
Guarantees: `query_session` returns, per query in order, the CLIENT's outputs as float64 arrays
(bits as 0/1) and the three roles' figures (session_stats.py's session_json and serve_json), or
raises HarnessError with the command's own messages; `median_later` is the median over the
queries after the first, which pays the registration (the first alone in a one-query session).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROLES = ("server", "client", "dealer")
Query = dict[str, Any]  # one entry of a session's "queries" (session_stats.QueryStats.to_json)


class HarnessError(Exception):
    """A step that failed: the message names it and carries the tool's own output."""


@dataclass(frozen=True)
class SessionRun:
    """One session of queries: the CLIENT's outputs per query and the `ezlang query --json` document."""

    outputs: list[list[np.ndarray]]
    document: dict[str, Any]
    wall_seconds: float

    def role(self, name: str) -> dict[str, Any]:
        """A role's process figures: `startup`, `peak_memory_bytes` and its one session."""
        if name == "client":
            return self.document
        return {**self.document["roles"][name], "session": self.document["roles"][name]["sessions"][0]}

    def queries(self, name: str) -> list[Query]:
        return self.role(name)["session"]["queries"]

    def median_later(self, name: str, pick: Callable[[Query], float]) -> float:
        """The median over the queries after the first (the first's own figure if it was the only one)."""
        queries = self.queries(name)
        return float(statistics.median(pick(query) for query in (queries[1:] or queries)))


def query_session(program: Path, server_inputs: Path, client_files: Sequence[Path], scratch: Path, *, bitlen: int,
                  scale: int, timeout: float, public_inputs: Path | None = None) -> SessionRun:
    """Runs one query per file over one session; `scratch` receives the JSON and the command's output."""
    figures = scratch / "session.json"
    command = [sys.executable, "-m", "ezlang", "query", str(program), "--local", "--bitlen", str(bitlen),
               "--scale", str(scale), "--timeout", str(timeout), "--server-inputs", str(server_inputs),
               "--json", str(figures), "--client-inputs", *map(str, client_files)]
    if public_inputs is not None:
        command += ["--public-inputs", str(public_inputs)]
    started = time.perf_counter()
    with open(scratch / "query.out", "w", encoding="utf-8") as stdout:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, text=True,
                              check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise HarnessError(f"ezlang query --local failed (exit {done.returncode}):\n{done.stderr.strip()}")
    document = json.loads(figures.read_text(encoding="utf-8"))
    missing = [role for role in ("server", "dealer") if role not in document.get("roles", {})]
    if missing:
        raise HarnessError(f"ezlang query --local wrote no figures of the {' and the '.join(missing)}")
    outputs = [[np.asarray(value, dtype=np.float64) for value in answer["outputs"].values()]
               for answer in document["outputs"]]
    return SessionRun(outputs, document, wall)


def bytes_sent(query: Query, peer: str) -> int:
    """What a role sent to `peer` for one query: the query itself and the offline phase after it."""
    return query["traffic"][peer]["bytes_sent"] + query["offline_traffic"][peer]["bytes_sent"]


def online_bytes_sent(query: Query) -> int:
    """What a role sent to every peer during one query's online phase (control bytes included)."""
    return sum(counters["bytes_sent"] for counters in query["traffic"].values())


def total_bytes_sent(query: Query) -> int:
    """What a role sent to every peer for one query, its offline phase included."""
    return sum(bytes_sent(query, peer) for peer in query["traffic"])
