"""The figures of a served session: per query time and traffic, and the one-time registration.

Why: a session's first query registers the one-sided products (the model is masked and sent
once), so it costs far more than the queries after it; reporting query 1 apart from the median
of the others shows both the set-up price and the steady price of a query. The same figures go
to a `--stats` table (people) and a `--json` document (benchmarks).

A benchmark also needs what each process costs apart from its queries: its start-up (compiling,
reading its input files) and its peak memory, which `serve_json` adds to a served role's
sessions (`ezlang serve --stats-json`).

Assumes: channel counters read with ezlang.run.connect.Links.stats and the one-sided counters of
ezrt_onesided_stats_get. Guarantees: `render_session` is plain text (a summary line, the
one-sided line, one row per query, a median row when there are two queries or more after the
first); `session_json` holds the same numbers, times in seconds, bytes as integers;
`serve_json` one served role's start-up, peak memory and every session so far.
"""

from __future__ import annotations

import resource
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from ezlang.run.role import COUNTERS

Traffic = Mapping[str, Mapping[str, int]]  # peer role name -> counter name -> count
PEERS = {"server": ("client", "dealer"), "client": ("server", "dealer"), "dealer": ("server", "client")}
_OTHER_PARTY = {"server": "client", "client": "server"}


def traffic_between(before: Traffic, after: Traffic) -> dict[str, dict[str, int]]:
    return {peer: {name: after[peer][name] - before[peer][name] for name in COUNTERS} for peer in after}


@dataclass(frozen=True)
class OnesidedFigures:
    """ezrt_onesided_stats of one role's session, times in seconds."""

    slots: int = 0
    setup_s: float = 0.0
    setup_bytes: int = 0
    precompute_s: float = 0.0
    precomputed_hits: int = 0


@dataclass(frozen=True)
class QueryStats:
    """One query: `online_s` the entry's run, `offline_s` the refill and the wait for the dealer's
    ready byte, `query_s` (CLIENT only) from reading its inputs to the decoded outputs; `traffic`
    counts the control byte and the run, `offline_traffic` the ready byte."""

    number: int
    online_s: float
    offline_s: float
    traffic: Traffic
    offline_traffic: Traffic
    query_s: Optional[float] = None
    inputs: str = ""

    def total(self, counter: str, peer: str) -> int:
        return self.traffic[peer][counter] + self.offline_traffic[peer][counter]

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "inputs": self.inputs, "query_s": self.query_s, "online_s": self.online_s,
                "offline_s": self.offline_s, "traffic": self.traffic, "offline_traffic": self.offline_traffic}


@dataclass(frozen=True)
class SessionStats:
    """One role's session: `connect_s` (for SERVER and DEALER it includes waiting for the client),
    `setup_s` (the dealer's seeds), its queries in order and its one-sided figures."""

    role: str
    connect_s: float
    setup_s: float
    queries: tuple[QueryStats, ...]
    onesided: OnesidedFigures


def session_json(stats: SessionStats) -> dict[str, Any]:
    first = stats.queries[0].to_json() if stats.queries else None
    return {"role": stats.role, "connect_s": stats.connect_s, "setup_s": stats.setup_s,
            "onesided": vars(stats.onesided), "queries": [q.to_json() for q in stats.queries],
            "first": first, "median_others": _median_json(stats.queries[1:])}


@dataclass(frozen=True)
class Startup:
    """What a process spent before its first session: compiling the program and, for a served
    role, reading and checking its input files (None where it reads none up front)."""

    compile_s: float
    inputs_s: Optional[float] = None

    def to_json(self) -> dict[str, float]:
        return {"compile_s": self.compile_s, **({"inputs_s": self.inputs_s} if self.inputs_s is not None else {})}


def serve_json(role: str, startup: Startup, sessions: Sequence[tuple[int, Union[SessionStats, str]]]) -> dict[str, Any]:
    """A served role's figures: each session's (as session_json) or the text of its failure."""
    return {"role": role, "startup": startup.to_json(), "peak_memory_bytes": peak_memory_bytes(),
            "sessions": [{"number": number, "failure": end} if isinstance(end, str)
                         else {"number": number, **session_json(end)} for number, end in sessions]}


def peak_memory_bytes(status: Path = Path("/proc/self/status")) -> int:
    """This process's peak resident memory so far: VmHWM, which counts the address space since the
    process's exec. ru_maxrss, the fallback when /proc is not mounted, also counts the pages a
    forked child shared with its parent, so it overstates a small child of a large parent."""
    try:
        lines = status.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # the kernel writes kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux counts kilobytes


def _median_json(queries: Sequence[QueryStats]) -> Optional[dict[str, Any]]:
    if not queries:
        return None
    peers = queries[0].traffic.keys()
    measured = [q.query_s for q in queries if q.query_s is not None]  # the client's own clock only
    times = {"query_s": statistics.median(measured) if measured else None,
             **{name: statistics.median(getattr(q, name) for q in queries) for name in ("online_s", "offline_s")}}
    traffic = {peer: {name: statistics.median(q.total(name, peer) for q in queries) for name in COUNTERS}
               for peer in peers}
    return {"count": len(queries), **times, "traffic": traffic}


def render_session(stats: SessionStats) -> str:
    peers = PEERS[stats.role]
    one = stats.onesided
    summary = f"{stats.role} session: connect {_time(stats.connect_s)}, set-up {_time(stats.setup_s)}, "
    onesided = (f"one-sided products: {one.slots} registered in {_time(one.setup_s)}, {_bytes(one.setup_bytes)} "
                f"sent for them; precomputing {_time(one.precompute_s)}, {one.precomputed_hits} calls served "
                "precomputed")
    lines = [summary + queries_text(len(stats.queries)), onesided]
    header = ("query", "inputs", "query time", "online", "offline", "rounds",
              *(f"{way} {peer}" for peer in peers for way in ("to", "from")))
    rows = [header] + [_row(stats.role, q) for q in stats.queries]
    median = _median_json(stats.queries[1:]) if len(stats.queries) > 2 else None
    if median is not None:
        rows.append(_median_row(stats.role, median, len(stats.queries)))
    return "\n".join(lines + _table(rows)) + "\n"


def queries_text(count: int) -> str:
    return f"{count} query" if count == 1 else f"{count} queries"


def _row(role: str, query: QueryStats) -> tuple[str, ...]:
    other = _OTHER_PARTY.get(role)
    rounds = str(query.traffic[other]["rounds"]) if other else "-"
    cells = [(_bytes(query.total("bytes_sent", p)), _bytes(query.total("bytes_received", p))) for p in PEERS[role]]
    return (str(query.number), query.inputs or "-", _time(query.query_s) if query.query_s is not None else "-",
            _time(query.online_s), _time(query.offline_s), rounds, *(cell for pair in cells for cell in pair))


def _median_row(role: str, median: Mapping[str, Any], count: int) -> tuple[str, ...]:
    other = _OTHER_PARTY.get(role)
    traffic = median["traffic"]
    rounds = f"{traffic[other]['rounds']:g}" if other else "-"
    cells = [(_bytes(traffic[p]["bytes_sent"]), _bytes(traffic[p]["bytes_received"])) for p in PEERS[role]]
    query = _time(median["query_s"]) if role == "client" else "-"
    return (f"2-{count}", "median", query, _time(median["online_s"]), _time(median["offline_s"]), rounds,
            *(cell for pair in cells for cell in pair))


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _time(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _bytes(count: float) -> str:
    return f"{count:,.0f} B"
