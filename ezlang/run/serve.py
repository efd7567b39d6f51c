"""Sessions: one runtime session that serves many queries (`ezlang serve`, `ezlang query`).

Why: a one-sided product masks the model and sends it to CLIENT once per runtime session
(docs/protocols.md §5.10), so a client that runs its queries over one session pays for that
once. SERVER and DEALER keep the program compiled and their inputs loaded and serve sessions
one after another; CLIENT opens one session and runs its queries over it.

Protocol, on the channels of ezlang.run.connect once the runtime session is open (written down
in docs/running.md, "Sessions: serve and query"):

  1. CLIENT sends one control byte to SERVER and to the DEALER: QUERY or END. SERVER and DEALER
     wait for it up to the idle timeout (channel phase "idle"; an idle client is normal).
  2. QUERY: every role runs the program's entry once on the session and flushes ("online").
  3. Then ("offline") the DEALER precomputes the next query's one-sided values
     (ezrt_onesided_refill) and sends READY to CLIENT; CLIENT refills its own, then receives
     READY. SERVER does nothing. Back to 1.
  END: every role frees the session (wiping it) and closes its channels; SERVER and DEALER wait
  for the next session.

Assumes: a SecureProgram compiled by this process and, for SERVER and DEALER, inputs that stay
the same for every query (they are read once: host.ReadMemo).
Guarantees: `serve` runs the sessions and reports each (its stats, or the RoleFailure that ended
it) to a callback, one session's failure never stopping the next; ClientSession raises
RoleFailure naming the client and the phase ("query 2 (online)"); every role frees its session
and closes its channels on every path.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Callable, Mapping, Optional, Union

from ezlang import runtime_lib as rl
from ezlang.inputs import InputSource
from ezlang.run.connect import ROLE_NAMES, Endpoints, Links, hello, open_links
from ezlang.run.host import ReadMemo, RoleRun, SessionError
from ezlang.run.program import PROTOCOL_VERSION, SecureProgram
from ezlang.run.role import COUNTERS, FAILURES, RoleConfig, RoleFailure, open_session, role_failure, run_online
from ezlang.run.session_stats import OnesidedFigures, QueryStats, SessionStats, Traffic, traffic_between
from ezlang.types import Role

END, QUERY = 0, 1
READY = 1
FOREVER_MS = 2**31 - 1  # the longest wait the runtime takes: how long a serving role waits for a session
RETRY_SECONDS = 1.0  # the pause after a session that failed while connecting


@dataclass(frozen=True)
class ServeConfig:
    role: RoleConfig  # SERVER or DEALER, with the inputs every query reads
    sessions: Optional[int]  # None: until killed
    idle_timeout_ms: int


@dataclass(frozen=True)
class ServedQuery:
    session: int
    run: RoleRun
    stats: QueryStats


SessionEnd = Union[SessionStats, RoleFailure]


def serve(program: SecureProgram, config: ServeConfig, on_query: Callable[[ServedQuery], None],
          on_session: Callable[[int, SessionEnd], None]) -> int:
    """Serves `config.sessions` sessions one after another (or until killed); returns how many
    failed."""
    keep_freed_memory()
    memo, failed, number = ReadMemo(), 0, 0
    while config.sessions is None or number < config.sessions:
        number += 1
        served = _ServedSession(program, config, memo, number, on_query)
        try:
            end: SessionEnd = served.run()
        except RoleFailure as failure:
            failed, end = failed + 1, failure
        on_session(number, end)
        if isinstance(end, RoleFailure) and end.phase == "connection" and number != config.sessions:
            time.sleep(RETRY_SECONDS)  # a busy port or a peer running another program: report it once a second
    return failed


@dataclass
class _Progress:
    """Where a role is, for its failure message, and a stopwatch."""

    role: int
    phase: str = "connection"
    started: float = field(default_factory=time.perf_counter)

    def lap(self) -> float:
        now = time.perf_counter()
        seconds, self.started = now - self.started, now
        return seconds

    def failure(self, error: Exception) -> RoleFailure:
        return role_failure(ROLE_NAMES[self.role], self.phase, error)


@dataclass
class _ServedSession:
    """One session of SERVER or DEALER, from accepting its peers to the client's END."""

    program: SecureProgram
    config: ServeConfig
    memo: ReadMemo
    number: int
    on_query: Callable[[ServedQuery], None]
    progress: _Progress = field(init=False)
    session: ctypes.c_void_p = field(default_factory=ctypes.c_void_p)

    def __post_init__(self) -> None:
        self.progress = _Progress(self.config.role.role)

    def run(self) -> SessionStats:
        role, links = self.config.role, None
        try:
            mine = hello(role.role, self.program.bitlen, self.program.hash, PROTOCOL_VERSION)
            links = open_links(mine, role.endpoints, role.timeout_ms, FOREVER_MS)
            connect_s, self.progress.phase = self.progress.lap(), "setup"
            open_session(self.session, role.role, self.program.bitlen, links)
            setup_s, queries = self.progress.lap(), list[QueryStats]()
            while True:
                self.progress.phase, before = "idle", _traffic(links)
                if _await_control(links, self.config) == END:
                    break
                queries.append(self._query(links, len(queries) + 1, before))
            return SessionStats(ROLE_NAMES[role.role], connect_s, setup_s, tuple(queries),
                                onesided_figures(self.session))
        except FAILURES as error:
            raise self.progress.failure(error) from None
        finally:
            rl.load().ezrt_session_free(self.session)
            if links is not None:
                links.close()

    def _query(self, links: Links, number: int, before: Traffic) -> QueryStats:
        self.progress.phase = f"query {number} (online)"
        links.set_phase("online")
        self.progress.lap()
        run = run_online(self.program, self.config.role, self.session, links, self.memo)
        online_s, middle = self.progress.lap(), _traffic(links)
        if self.config.role.role == rl.ROLE_DEALER:
            self.progress.phase = f"query {number} (offline)"
            links.set_phase("offline")
            refill(self.session)
            _send(links, rl.ROLE_CLIENT, READY)
        stats = QueryStats(number, online_s, self.progress.lap(), traffic_between(before, middle),
                           traffic_between(middle, _traffic(links)))
        self.on_query(ServedQuery(self.number, run, stats))
        return stats


def _await_control(links: Links, config: ServeConfig) -> int:
    """The client's next control byte, waited for up to the idle timeout."""
    links.set_phase("idle")
    channel = links.channel(rl.ROLE_CLIENT)
    rl.load().ezrt_channel_set_timeout(channel, config.idle_timeout_ms)
    control = _receive(links, rl.ROLE_CLIENT)
    rl.load().ezrt_channel_set_timeout(channel, config.role.timeout_ms)
    if control not in (END, QUERY):
        raise SessionError(f"the client sent control byte {control}; expected {QUERY} (a query) or {END} (end)")
    return control


class ClientSession:
    """CLIENT's side of one session, as a context manager: `query` runs one query, `offline`
    prepares the next; leaving the block normally ends the session with END."""

    def __init__(self, program: SecureProgram, endpoints: Endpoints, timeout_ms: int):
        self.program, self.endpoints, self.timeout_ms = program, endpoints, timeout_ms
        self.progress = _Progress(rl.ROLE_CLIENT)
        self.session = ctypes.c_void_p()
        self.links: Optional[Links] = None
        self.connect_s = self.setup_s = 0.0
        self.queries = 0

    def __enter__(self) -> "ClientSession":
        keep_freed_memory()
        try:
            mine = hello(rl.ROLE_CLIENT, self.program.bitlen, self.program.hash, PROTOCOL_VERSION)
            self.links = open_links(mine, self.endpoints, self.timeout_ms)
            self.connect_s, self.progress.phase = self.progress.lap(), "setup"
            open_session(self.session, rl.ROLE_CLIENT, self.program.bitlen, self.links)
            self.setup_s = self.progress.lap()
        except FAILURES as error:
            self._release()
            raise self.progress.failure(error) from None
        return self

    def query(self, inputs: Mapping[Role, InputSource]) -> tuple[RoleRun, float, dict[str, dict[str, int]]]:
        """Runs one query: its outputs and warnings, the seconds of the entry's run, its traffic."""
        links = self._open_links()
        self.queries += 1
        self.progress.phase = f"query {self.queries} (online)"
        try:
            before = _traffic(links)
            links.set_phase("online")
            for peer in (rl.ROLE_SERVER, rl.ROLE_DEALER):
                _send(links, peer, QUERY)
            self.progress.lap()
            config = RoleConfig(rl.ROLE_CLIENT, self.endpoints, inputs, self.timeout_ms)
            run = run_online(self.program, config, self.session, links)
            return run, self.progress.lap(), traffic_between(before, _traffic(links))
        except FAILURES as error:
            raise self.progress.failure(error) from None

    def offline(self) -> tuple[float, dict[str, dict[str, int]]]:
        """Precomputes the next query's one-sided values, then waits for the dealer's: the seconds
        and the traffic."""
        links = self._open_links()
        self.progress.phase = f"query {self.queries} (offline)"
        try:
            before = _traffic(links)
            self.progress.lap()
            links.set_phase("offline")
            refill(self.session)
            ready = _receive(links, rl.ROLE_DEALER)
            if ready != READY:
                raise SessionError(f"the dealer sent {ready} instead of its ready byte {READY}")
            return self.progress.lap(), traffic_between(before, _traffic(links))
        except FAILURES as error:
            raise self.progress.failure(error) from None

    def onesided(self) -> OnesidedFigures:
        return onesided_figures(self.session)

    def __exit__(self, kind: Optional[type[BaseException]], error: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        try:
            if kind is None and self.links is not None:
                for peer in (rl.ROLE_SERVER, rl.ROLE_DEALER):
                    _send(self.links, peer, END)
        except SessionError:
            pass  # every query is done; a peer that left before hearing END ends its session anyway
        finally:
            self._release()

    def _open_links(self) -> Links:
        assert self.links is not None, "use ClientSession in a `with` block"
        return self.links

    def _release(self) -> None:
        rl.load().ezrt_session_free(self.session)
        self.session = ctypes.c_void_p()
        if self.links is not None:
            self.links.close()
            self.links = None


# mallopt(3) parameters (malloc.h), which take an int.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BYTES = 2**31 - 1
# Blocks from this size on still come from mmap: an input array that a one-sided product has
# registered (175 MB of rs-fMRI weights) is allocated every query and never touched again, and
# fresh mapped pages cost nothing until touched, where reused heap memory is zeroed by calloc.
_MAPPED_BYTES = 128 << 20


def keep_freed_memory() -> None:
    """Memory settings for a long-lived process that answers many queries: it allocates the same
    large buffers in every query (a batch of 100 rs-fMRI scans is 87 MB per operand). By default
    glibc maps each from the kernel and unmaps it on free, so every query faults in and zeroes
    fresh pages again: a third of a batch query's time. Blocks below
    128 MB now come from the heap and stay there when freed (up to 2 GiB); larger ones are still
    mapped, since an untouched mapping is free and a reused heap block is zeroed by calloc."""
    libc = ctypes.CDLL(None)
    for option, value in ((_M_MMAP_THRESHOLD, _MAPPED_BYTES), (_M_TRIM_THRESHOLD, _KEEP_BYTES)):
        libc.mallopt(ctypes.c_int(option), ctypes.c_int(value))


def refill(session: ctypes.c_void_p) -> None:
    lib = rl.load()
    if lib.ezrt_onesided_refill(session) != rl.EZRT_OK:
        message: bytes = lib.ezrt_session_error(session)
        raise SessionError(message.decode() or "ezrt_onesided_refill failed")


def onesided_figures(session: ctypes.c_void_p) -> OnesidedFigures:
    counters = rl.OnesidedStats()
    if rl.load().ezrt_onesided_stats_get(session, ctypes.byref(counters)) != rl.EZRT_OK:
        return OnesidedFigures()
    return OnesidedFigures(int(counters.slots), counters.setup_ns / 1e9, int(counters.setup_bytes),
                           counters.precompute_ns / 1e9, int(counters.precomputed_hits))


def _traffic(links: Links) -> dict[str, dict[str, int]]:
    return {ROLE_NAMES[peer]: {name: int(getattr(counters, name)) for name in COUNTERS}
            for peer, counters in links.stats().items()}


def _send(links: Links, peer: int, value: int) -> None:
    lib, channel = rl.load(), links.channel(peer)
    byte = (ctypes.c_uint8 * 1)(value)
    if lib.ezrt_send(channel, byte, 1) != rl.EZRT_OK or lib.ezrt_flush(channel) != rl.EZRT_OK:
        raise SessionError("; ".join(links.errors()) or f"cannot send to the {ROLE_NAMES[peer]}")


def _receive(links: Links, peer: int) -> int:
    byte = (ctypes.c_uint8 * 1)()
    if rl.load().ezrt_recv(links.channel(peer), byte, 1) != rl.EZRT_OK:
        raise SessionError("; ".join(links.errors()) or f"nothing received from the {ROLE_NAMES[peer]}")
    return int(byte[0])
