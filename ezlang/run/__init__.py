"""Secure execution: `ezlang run`, the three roles of docs/protocols.md as real processes.

| module | role |
|---|---|
| `program.py` | compile for the secure backend (ezlang.codegen.secure); the program hash |
| `connect.py` | the topology: who listens and who connects; handshakes |
| `host.py` | the I/O callbacks of one role and the native run |
| `role.py` | one role phase by phase (connection, set-up, online) with its stats |
| `local.py` | `--local`: three processes on loopback |
| `stats.py` | the `--stats` table |
| `command.py` | what `ezlang run` does with its flags (ezlang/cli.py wires and prints) |
| `serve.py` | sessions: SERVER and DEALER serving loops, CLIENT's session, the control bytes |
| `session_stats.py` | per-query and per-session figures of a served session, as a table and JSON |
| `query.py` | what `ezlang serve` and `ezlang query` do with their flags; `query --local` |

docs/running.md describes the commands, the topology and the session protocol.
"""
