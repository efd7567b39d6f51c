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

docs/running.md describes the command and the topology.
"""
