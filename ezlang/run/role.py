"""One role of a secure run, phase by phase: connection, session set-up, online; and its stats.

Why: `ezlang run --role R` is this module; `--local` runs it three times in three processes.
Each phase is timed and the channel counters are read at its end, so `--stats` can tell set-up
traffic (the dealer's seeds) from online traffic.

Assumes: a SecureProgram compiled by this process (ezlang.run.program) and the inputs of this
role (its own party's, and the public ones).
Guarantees: `execute` returns the role's outputs and stats, or raises RoleFailure naming the
role and the phase ("connection", "setup", "online") with the first error's message (an
InterpError keeps its diagnostic); the session and every channel are released on every path.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ezlang import runtime_lib as rl
from ezlang.diagnostics import Diagnostic
from ezlang.inputs import InputSource
from ezlang.interp.result import InterpError, OutputValue
from ezlang.run.connect import ROLE_NAMES, Endpoints, Links, SetupError, hello, open_links
from ezlang.run.host import ReadMemo, RoleRun, SessionError, run_role
from ezlang.run.program import PROTOCOL_VERSION, SecureProgram
from ezlang.types import Role

_PARTY = {rl.ROLE_SERVER: Role.SERVER, rl.ROLE_CLIENT: Role.CLIENT}
COUNTERS = ("rounds", "messages_sent", "messages_received", "bytes_sent", "bytes_received")


class RoleFailure(Exception):
    """A role stopped: `role` and `phase` say where, `diagnostic` is set for program errors."""

    def __init__(self, role: str, phase: str, message: str, diagnostic: Optional[Diagnostic] = None):
        super().__init__(f"{role} failed during {phase}: {message}")
        self.role, self.phase, self.message, self.diagnostic = role, phase, message, diagnostic


@dataclass(frozen=True)
class RoleConfig:
    role: int  # runtime_lib.ROLE_*
    endpoints: Endpoints
    inputs: Mapping[Role, InputSource]
    timeout_ms: int = 10_000


@dataclass(frozen=True)
class RoleStats:
    """Seconds per phase, and per peer the channel counters of the set-up and online phases."""

    role: str
    seconds: dict[str, float]
    traffic: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # peer -> phase -> counter

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "seconds": self.seconds, "traffic": self.traffic}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RoleStats":
        return cls(data["role"], dict(data["seconds"]), {k: dict(v) for k, v in data["traffic"].items()})

    def total(self, counter: str, phase: Optional[str] = None, peer: Optional[str] = None) -> int:
        return sum(count[counter] for name, phases in self.traffic.items() if peer in (None, name)
                   for ph, count in phases.items() if phase in (None, ph))


@dataclass(frozen=True)
class RoleOutcome:
    outputs: tuple[OutputValue, ...]
    warnings: tuple[Diagnostic, ...]
    stats: RoleStats


@dataclass
class _Clock:
    role: str
    seconds: dict[str, float] = field(default_factory=dict)
    traffic: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    phase: str = "connection"
    started: float = field(default_factory=time.perf_counter)

    def end(self, phase: str, links: Optional[Links], next_phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = now - self.started
        self.started, self.phase = now, next_phase
        if links is not None:
            for peer, counters in links.stats().items():
                total = {name: int(getattr(counters, name)) for name in COUNTERS}
                phases = self.traffic.setdefault(ROLE_NAMES[peer], {})
                before = {name: sum(p[name] for p in phases.values()) for name in COUNTERS}
                phases[phase] = {name: total[name] - before[name] for name in COUNTERS}

    def stats(self) -> RoleStats:
        return RoleStats(self.role, dict(self.seconds), self.traffic)


def execute(program: SecureProgram, config: RoleConfig, compile_seconds: float = 0.0) -> RoleOutcome:
    name = ROLE_NAMES[config.role]
    clock = _Clock(name, {"compile": compile_seconds})
    links: Optional[Links] = None
    session = ctypes.c_void_p()
    try:
        mine = hello(config.role, program.bitlen, program.hash, PROTOCOL_VERSION)
        links = open_links(mine, config.endpoints, config.timeout_ms)
        clock.end("connection", links, "setup")
        open_session(session, config.role, program.bitlen, links)
        clock.end("setup", links, "online")
        run = run_online(program, config, session, links)
        clock.end("online", links, "done")
        return RoleOutcome(run.outputs, run.warnings, clock.stats())
    except FAILURES as error:
        raise role_failure(name, clock.phase, error) from None
    finally:
        rl.load().ezrt_session_free(session)
        if links is not None:
            links.close()


FAILURES = (InterpError, SetupError, SessionError)


def role_failure(role: str, phase: str, error: Exception) -> RoleFailure:
    """One of FAILURES as the RoleFailure of `role` in `phase` (a program error keeps its diagnostic)."""
    if isinstance(error, InterpError):
        return RoleFailure(role, phase, error.diagnostic.message, error.diagnostic)
    return RoleFailure(role, phase, str(error))


def open_session(session: ctypes.c_void_p, role: int, bitlen: int, links: Links) -> None:
    lib = rl.load()
    if role == rl.ROLE_DEALER:
        status = lib.ezrt_session_open_dealer(ctypes.byref(session), bitlen, links.channel(rl.ROLE_SERVER),
                                              links.channel(rl.ROLE_CLIENT))
    else:
        peer = rl.ROLE_CLIENT if role == rl.ROLE_SERVER else rl.ROLE_SERVER
        status = lib.ezrt_session_open_party(ctypes.byref(session), role, bitlen, links.channel(peer),
                                             links.channel(rl.ROLE_DEALER))
    if status != rl.EZRT_OK:
        raise SessionError("; ".join(links.errors()) or rl.strerror(status))


def run_online(program: SecureProgram, config: RoleConfig, session: ctypes.c_void_p, links: Links,
               memo: Optional[ReadMemo] = None) -> RoleRun:
    """One run of the program's entry on the open session, then a flush of its sends; `memo`
    replays the input buffers of an earlier run (host.ReadMemo)."""
    lib = rl.load()

    def session_error() -> str:
        message: bytes = lib.ezrt_session_error(session)
        return message.decode()

    run = run_role(program, _PARTY.get(config.role), session.value or 0, config.inputs, session_error, memo)
    if lib.ezrt_session_flush(session) != rl.EZRT_OK or session_error():
        raise SessionError(session_error() or "; ".join(links.errors()))
    return run
