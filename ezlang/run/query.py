"""`ezlang serve` and `ezlang query`: what they do with their flags (ezlang/cli.py wires and prints).

Why: a served model answers many queries over one session (ezlang.run.serve); these commands
compile the program once, load the inputs that do not change once, and turn the sessions'
figures and failures into text, the way ezlang.run.command does for `ezlang run`.

Assumes: argparse's namespace of the `serve` or `query` subcommand, with --bitlen and --scale
resolved, and the program's source.
Guarantees: `serve_command` reports through its callbacks as it goes (a ready line once the
program is compiled and the inputs are loaded, then one line per session, the SERVER's outputs
per query, and with --stats-json the role's figures after each session, its latest 100
sessions included) and returns the exit code: 0 when every session ended well, 1 otherwise or
when the program has errors. `query_command` returns a Report whose `outputs` holds, per answered query, `query N: FILE` and
the CLIENT section `ezlang run --role client` prints; `stderr` holds diagnostics, the failure
(naming the role and the phase) and the --stats table; `stats_json` the figures, after a
session that ended well. With --local the server and the dealer are `ezlang serve --sessions 1`
processes on loopback, killed on any failure, and the figures include theirs (`roles`).
RunUsageError for flags that do not fit together.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Mapping, Optional, Union

from ezlang.diagnostics import Diagnostic
from ezlang.inputs import InputError, InputSource, load_inputs
from ezlang.interp.result import OutputValue
from ezlang.run.command import (EXIT_ERRORS, EXIT_OK, Compiled, ProgramRejected, Report, RunUsageError,
                                compile_program, endpoints, join_sections, party_text, render)
from ezlang.run.connect import ROLE_NUMBERS, Address, Endpoints
from ezlang.run.local import GRACE_SECONDS, POLL_SECONDS, free_port
from ezlang.run.role import RoleConfig, RoleFailure
from ezlang.run.serve import ClientSession, ServeConfig, ServedQuery, SessionEnd, serve
from ezlang.run.session_stats import (QueryStats, SessionStats, Startup, peak_memory_bytes, queries_text,
                                      render_session, serve_json, session_json)
from ezlang.source import SourceFile
from ezlang.types import Role

START_SECONDS = 120.0  # how long --local waits for `ezlang serve` to compile and load its inputs
EXIT_SECONDS = 30.0  # how long --local waits, after a session that ended well, for both to write their figures
KEPT_SESSIONS = 100  # --stats-json holds the latest sessions only: a server that runs for months stays small
_SERVE_HINT = ("the client does not serve: run its queries with `ezlang query FILE --connect SERVER --dealer DEALER "
               "--client-inputs F ...`")


def ready_line(role: str) -> str:
    """The line `ezlang serve` prints once it waits for sessions (--local waits for it)."""
    return f"ezlang serve: {role} ready"


# ---------------------------------------------------------------- ezlang serve


def serve_command(source: SourceFile, args: Namespace, out: Callable[[str], None], err: Callable[[str], None],
                  figures: Optional[Callable[[str], None]] = None) -> int:
    """Serves sessions; `out` and `err` print to stdout and stderr as things happen, `figures`
    (--stats-json) receives the role's JSON figures after each session."""
    if args.role == "client":
        raise RunUsageError(_SERVE_HINT)
    if args.role == "dealer" and args.server_inputs:
        raise RunUsageError("the dealer has no inputs of its own (public inputs: --public-inputs)")
    needed = ["--listen"] + (["--connect"] if args.role == "dealer" else [])
    missing = [flag for flag in needed if not getattr(args, flag[2:])]
    if missing:
        raise RunUsageError(f"the {args.role} needs {' and '.join(f'{flag} HOST:PORT' for flag in missing)}")
    if args.idle_timeout <= 0:
        raise RunUsageError(f"--idle-timeout {args.idle_timeout:g}: give a positive number of seconds")
    try:
        compiled = compile_program(source, args)
    except ProgramRejected as rejected:
        err(rejected.report.stderr)
        return EXIT_ERRORS
    if args.role == "server":
        _require_server_inputs(compiled, args.server_inputs, "--server-inputs F")
    paths = {Role.ALL: args.public_inputs, Role.SERVER: args.server_inputs}
    started = time.perf_counter()
    try:
        inputs = compiled.prepared.inputs({role: load_inputs(p) for role, p in paths.items() if p is not None})
    except InputError as error:
        err(render(source, compiled.diagnostics + (error.diagnostic,)))
        return EXIT_ERRORS
    startup = Startup(compiled.seconds, time.perf_counter() - started)
    role = RoleConfig(ROLE_NUMBERS[args.role], endpoints(args), inputs, int(args.timeout * 1000))
    config = ServeConfig(role, args.sessions, int(args.idle_timeout * 1000))
    err(join_sections(render(source, compiled.diagnostics), f"{ready_line(args.role)}: {_where(args)}"))
    log = _ServeLog(source, compiled, args.stats, out, err, args.role, startup, figures)
    return EXIT_ERRORS if serve(compiled.program, config, log.query, log.session) else EXIT_OK


def _where(args: Namespace) -> str:
    listening = f"listening on {args.listen}"
    return listening if args.role == "server" else f"{listening}, server at {args.connect}"


@dataclass
class _ServeLog:
    source: SourceFile
    compiled: Compiled
    stats: bool
    out: Callable[[str], None]
    err: Callable[[str], None]
    role: str
    startup: Startup
    figures: Optional[Callable[[str], None]]
    warned: bool = False
    ended: deque[tuple[int, Union[SessionStats, str]]] = field(default_factory=lambda: deque(maxlen=KEPT_SESSIONS))

    def query(self, served: ServedQuery) -> None:
        if not self.warned and served.run.warnings:
            self.err(render(self.source, served.run.warnings))
        self.warned = True
        if served.run.outputs:
            outputs = self.compiled.prepared.outputs(served.run.outputs)
            self.out(f"session {served.session} query {served.stats.number}:\n" + party_text(Role.SERVER, outputs))

    def session(self, number: int, end: SessionEnd) -> None:
        if self.figures is not None:
            self.ended.append((number, str(end) if isinstance(end, RoleFailure) else end))
            self.figures(json.dumps(serve_json(self.role, self.startup, list(self.ended))))
        if isinstance(end, RoleFailure):
            shown = render(self.source, (end.diagnostic,)) if end.diagnostic else ""
            self.err(join_sections(shown, f"ezlang serve: session {number} failed: {end}"))
            return
        table = render_session(end) if self.stats else ""
        ended = f"ezlang serve: session {number} ended after {queries_text(len(end.queries))}"
        self.err(join_sections(ended, table))


# ---------------------------------------------------------------- ezlang query


@dataclass(frozen=True)
class _Answer:
    outputs: tuple[OutputValue, ...]
    warnings: tuple[Diagnostic, ...]
    stats: QueryStats


@dataclass
class _Queries:
    """What a client session achieved: its answers, and its figures or why it stopped."""

    answers: list[_Answer] = field(default_factory=list)
    session: Optional[SessionStats] = None
    failure: Optional[RoleFailure] = None
    input_error: Optional[Diagnostic] = None


def query_command(source: SourceFile, args: Namespace) -> Report:
    _check_query_flags(args)
    try:
        compiled = compile_program(source, args)
    except ProgramRejected as rejected:
        return rejected.report
    if args.local:
        _require_server_inputs(compiled, args.server_inputs, "--local --server-inputs F")
    try:
        public = {Role.ALL: load_inputs(args.public_inputs)} if args.public_inputs else {}
    except InputError as error:
        return Report(EXIT_ERRORS, render(source, compiled.diagnostics + (error.diagnostic,)))
    if not args.local:
        return _report(source, compiled, args, _run_queries(compiled, endpoints(args), public, args), [], {})
    with _LocalServe(args) as children:
        failure = children.wait_ready()
        if failure is not None:
            return Report(EXIT_ERRORS, join_sections(render(source, compiled.diagnostics), failure))
        queries = _run_queries(compiled, children.endpoints, public, args)
        notes = children.finish(queries.failure is None, args.stats)
        roles = children.figures()
    return _report(source, compiled, args, queries, notes, roles)


def _check_query_flags(args: Namespace) -> None:
    if args.local:
        wrong = [flag for flag, value in (("--connect", args.connect), ("--dealer", args.dealer)) if value]
        if wrong:
            raise RunUsageError(f"--local starts the server and the dealer itself: drop {', '.join(wrong)}")
        return
    if args.server_inputs:
        raise RunUsageError("--server-inputs goes with --local; a served model's inputs stay with `ezlang serve`")
    if not (args.connect and args.dealer):
        raise RunUsageError("give --connect SERVER --dealer DEALER, or --local to start the server and the dealer here")


def _require_server_inputs(compiled: Compiled, given: Optional[str], flag: str) -> None:
    names = list(dict.fromkeys(site.name for site in compiled.program.tables.inputs if site.role is Role.SERVER))
    if names and not given:
        shown = ", ".join(f"`{name}`" for name in names[:3]) + (", ..." if len(names) > 3 else "")
        raise RunUsageError(f"the program reads SERVER inputs ({shown}): give {flag}")


def _run_queries(compiled: Compiled, where: Endpoints, public: Mapping[Role, InputSource], args: Namespace) -> _Queries:
    """One session, one query per --client-inputs file; a file that cannot be read ends the
    session cleanly before its query."""
    result = _Queries()
    try:
        with ClientSession(compiled.program, where, int(args.timeout * 1000)) as session:
            for path in args.client_inputs:
                try:
                    result.answers.append(_ask(session, compiled, public, path))
                except InputError as error:
                    result.input_error = error.diagnostic
                    break
            result.session = SessionStats("client", session.connect_s, session.setup_s,
                                          tuple(a.stats for a in result.answers), session.onesided())
    except RoleFailure as failure:
        result.failure = failure
    return result


def _ask(session: ClientSession, compiled: Compiled, public: Mapping[Role, InputSource], path: str) -> _Answer:
    started = time.perf_counter()
    inputs = compiled.prepared.inputs({**public, Role.CLIENT: load_inputs(path)})
    run, online_s, traffic = session.query(inputs)
    outputs = compiled.prepared.outputs(run.outputs)
    query_s = time.perf_counter() - started
    offline_s, offline_traffic = session.offline()
    stats = QueryStats(session.queries, online_s, offline_s, traffic, offline_traffic, query_s, path)
    return _Answer(outputs, run.warnings, stats)


def _report(source: SourceFile, compiled: Compiled, args: Namespace, queries: _Queries, notes: list[str],
            roles: dict[str, Any]) -> Report:
    warnings = tuple(dict.fromkeys(w for answer in queries.answers for w in answer.warnings))
    shown = compiled.diagnostics + warnings
    problem = ""
    if queries.failure is not None:
        shown += (queries.failure.diagnostic,) if queries.failure.diagnostic else ()
        problem = f"ezlang query: {queries.failure}"
    elif queries.input_error is not None:
        shown += (queries.input_error,)
    stats = render_session(queries.session) if args.stats and queries.session else ""
    outputs = "\n".join(f"query {a.stats.number}: {a.stats.inputs}\n" + party_text(Role.CLIENT, a.outputs)
                        for a in queries.answers)
    ok = queries.failure is None and queries.input_error is None
    document = json.dumps(_json(args, compiled, queries, roles)) if ok and queries.session else None
    return Report(EXIT_OK if ok else EXIT_ERRORS, join_sections(render(source, shown), problem, *notes, stats),
                  outputs, document)


def _json(args: Namespace, compiled: Compiled, queries: _Queries, roles: dict[str, Any]) -> dict:
    """The client's figures; with --local, `roles` holds the server's and the dealer's (serve_json)."""
    assert queries.session is not None
    answers = [{"query": a.stats.number, "inputs": a.stats.inputs,
                "outputs": {out.text: out.value for out in a.outputs}} for a in queries.answers]
    return {"program": args.file, "bitlen": args.bitlen, "scale": args.scale, "session": session_json(queries.session),
            "startup": Startup(compiled.seconds).to_json(), "peak_memory_bytes": peak_memory_bytes(),
            "outputs": answers, **({"roles": roles} if roles else {})}


# ---------------------------------------------------------------- --local: the server and dealer as processes


class _LocalServe:
    """`ezlang serve --role server|dealer --sessions 1` on free loopback ports, their stderr in a
    temporary directory; every process still running is killed on leaving the block."""

    def __init__(self, args: Namespace):
        self.args = args
        server, dealer = Address("127.0.0.1", free_port()), Address("127.0.0.1", free_port())
        self.endpoints = Endpoints(server=server, dealer=dealer)
        self.folder = tempfile.TemporaryDirectory(prefix="ezlang-query-")
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> "_LocalServe":
        try:
            for role in ("server", "dealer"):
                with open(self._stderr(role), "w", encoding="utf-8") as stderr:
                    self.processes[role] = subprocess.Popen(
                        [sys.executable, "-m", "ezlang", "serve", *self._arguments(role)], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=stderr)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _arguments(self, role: str) -> list[str]:
        args, server, dealer = self.args, self.endpoints.server, self.endpoints.dealer
        common = [args.file, "--role", role, "--sessions", "1", "--bitlen", str(args.bitlen), "--scale",
                  str(args.scale), "--timeout", str(args.timeout)]
        common += (["--public-inputs", args.public_inputs] if args.public_inputs else []) + \
            ([] if args.optimize else ["--no-optimize"]) + (["--stats"] if args.stats else []) + \
            (["--stats-json", str(self._figures(role))] if args.json else [])
        if role == "dealer":
            return [*common, "--listen", str(dealer), "--connect", str(server)]
        return [*common, "--listen", str(server)] + (["--server-inputs", args.server_inputs]
                                                      if args.server_inputs else [])

    def wait_ready(self) -> Optional[str]:
        """None once both wait for the session, else what went wrong (a process that stopped)."""
        deadline = time.monotonic() + START_SECONDS
        waiting = set(self.processes)
        while waiting and time.monotonic() < deadline:
            for role in list(waiting):
                if ready_line(role) in self._text(role):
                    waiting.discard(role)
                elif self.processes[role].poll() is not None:
                    code = self.processes[role].returncode
                    return join_sections(f"ezlang query --local: the {role} failed (exit {code})",
                                         self._text(role).strip())
            time.sleep(POLL_SECONDS)
        if waiting:
            return f"ezlang query --local: the {' and the '.join(sorted(waiting))} did not start in {START_SECONDS:g} s"
        return None

    def finish(self, ok: bool, stats: bool) -> list[str]:
        """Waits for both to end (after a failure, a short grace for their view of it; after a
        session that ended well, for their figures), kills what is left; their stderr, prefixed by
        role, when it matters (a failure, --stats)."""
        deadline = time.monotonic() + (EXIT_SECONDS if ok else GRACE_SECONDS)
        while any(p.poll() is None for p in self.processes.values()) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        self._kill()
        if ok and not stats:
            return []
        notes = {role: "\n".join(line for line in self._text(role).splitlines() if ready_line(role) not in line)
                 for role in self.processes}
        return [f"[{role}] {text.strip()}" for role, text in notes.items() if text.strip()]

    def figures(self) -> dict[str, Any]:
        """The figures each of them wrote with --stats-json (none without --json, or if it was
        killed first), by role."""
        paths = {role: self._figures(role) for role in self.processes}
        return {role: json.loads(path.read_text(encoding="utf-8")) for role, path in paths.items() if path.exists()}

    def __exit__(self, kind: Optional[type[BaseException]], error: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        self._kill()
        self.folder.cleanup()

    def _kill(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()

    def _stderr(self, role: str) -> Path:
        return Path(self.folder.name) / f"{role}.err"

    def _figures(self, role: str) -> Path:
        return Path(self.folder.name) / f"{role}.json"

    def _text(self, role: str) -> str:
        path = self._stderr(role)
        return path.read_text(encoding="utf-8") if path.exists() else ""
