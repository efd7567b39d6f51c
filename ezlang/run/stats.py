"""`--stats`: one table row per role, from the RoleStats each role measured.

Why: the cost of a secure run is rounds and bytes, and where the time went; the rows follow
docs/runtime.md "Statistics": online rounds are the party-to-party channel's rounds in the
online phase, bytes are summed over a role's channels (set-up and online; the handshake is not
counted), and the dealer's bytes per party are what its channel to that party sent.

Assumes: RoleStats from ezlang.run.role. Guarantees: plain text, one header line and one line
per role, in the order given.
"""

from __future__ import annotations

from typing import Sequence

from ezlang.run.role import RoleStats

_OTHER_PARTY = {"server": "client", "client": "server"}


def render_stats(rows: Sequence[RoleStats]) -> str:
    table = [("role", "compile", "set-up", "online", "rounds", "sent", "received", "dealer bytes")]
    table += [_row(stats) for stats in rows]
    widths = [max(len(line[k]) for line in table) for k in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in table) + "\n"


def _row(stats: RoleStats) -> tuple[str, ...]:
    seconds = stats.seconds
    setup = seconds.get("connection", 0.0) + seconds.get("setup", 0.0)
    other = _OTHER_PARTY.get(stats.role)
    if other is None:  # the dealer: it streams, so its rounds say nothing; bytes go to each party
        rounds = "-"
        dealer = ", ".join(f"{peer} {_bytes(stats.total('bytes_sent', peer=peer))}" for peer in ("server", "client"))
    else:
        rounds = str(stats.total("rounds", phase="online", peer=other))
        dealer = f"{_bytes(stats.total('bytes_received', peer='dealer'))} received"
    return (stats.role, _time(seconds.get("compile", 0.0)), _time(setup), _time(seconds.get("online", 0.0)), rounds,
            _bytes(stats.total("bytes_sent")), _bytes(stats.total("bytes_received")), dealer)


def _time(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _bytes(count: int) -> str:
    return f"{count} B"
