"""`ezlang run`: one role of a secure run (`--role`), or all three on this machine (`--local`).

Why: ezlang/cli.py only wires flags and prints; this module decides what a run does and returns
what is to be shown, so that it can be tested without a terminal.

Assumes: argparse's namespace of the `run` subcommand (ezlang/cli.py) and the program's source.
Guarantees: a Report whose `outputs` is the text `ezlang interpret` prints for the same program
and inputs (a party prints its own section; --local prints both), set only after a successful
run; `stderr` holds diagnostics, failure messages (naming the role and the phase) and the
--stats table; exit code 0 on success, 1 when the program has errors or a role failed.
RunUsageError for flag combinations that make no sense.
"""

from __future__ import annotations

import json
import time
from argparse import Namespace
from dataclasses import dataclass
from typing import Iterable, Optional

from ezlang.codegen.jit import ObjectCache
from ezlang.codegen.secure import check_supported
from ezlang.diagnostics import CompileError, Diagnostic
from ezlang.inputs import InputError, load_inputs
from ezlang.interp.result import OutputValue
from ezlang.passes.fixed_pipeline import Prepared, prepare
from ezlang.passes.pipeline import check_source
from ezlang.report import FileReport, output_text, render_diagnostics
from ezlang.run.connect import ROLE_NUMBERS, Endpoints, parse_address
from ezlang.run.local import run_local
from ezlang.run.program import SecureProgram, compile_secure
from ezlang.run.role import RoleConfig, RoleFailure, RoleStats, execute
from ezlang.run.stats import render_stats
from ezlang.source import SourceFile
from ezlang.types import Role

EXIT_OK, EXIT_ERRORS = 0, 1
_PARTIES = {"server": Role.SERVER, "client": Role.CLIENT}


class RunUsageError(ValueError):
    """Flags that do not fit together; the CLI reports it as a usage error (exit 2)."""


@dataclass(frozen=True)
class Report:
    exit_code: int
    stderr: str = ""
    outputs: Optional[str] = None
    stats_json: Optional[str] = None


def run_command(source: SourceFile, args: Namespace) -> Report:
    _check_flags(args)
    return _local(source, args) if args.local else _role(source, args)


def _check_flags(args: Namespace) -> None:
    if args.local:
        wrong = [flag for flag, value in (("--role", args.role), ("--inputs", args.inputs), ("--listen", args.listen),
                                          ("--connect", args.connect), ("--dealer", args.dealer)) if value]
        if wrong:
            raise RunUsageError(f"--local starts all three roles itself: drop {', '.join(wrong)}")
        return
    if args.role is None:
        raise RunUsageError("give --role server|client|dealer, or --local to run all three roles here")
    if args.server_inputs or args.client_inputs:
        raise RunUsageError("--server-inputs and --client-inputs go with --local; a role takes --inputs")
    if args.role == "dealer" and args.inputs:
        raise RunUsageError("the dealer has no inputs of its own (public inputs: --public-inputs)")


# ---------------------------------------------------------------- one role


@dataclass(frozen=True)
class Compiled:
    """A program checked, prepared and compiled for the secure runtime by this process."""

    prepared: Prepared
    program: SecureProgram
    diagnostics: tuple[Diagnostic, ...]  # warnings found on the way
    seconds: float


class ProgramRejected(Exception):
    """The program has errors; `report` shows them."""

    def __init__(self, report: Report):
        super().__init__(report.stderr)
        self.report = report


def compile_program(source: SourceFile, args: Namespace) -> Compiled:
    """Checks, prepares and compiles with the flags --bitlen, --scale and --no-optimize."""
    started = time.perf_counter()
    checked = check_source(source, bitlen=args.bitlen, scale=args.scale)
    diagnostics = tuple(checked.diagnostics)
    if checked.program is None:
        raise ProgramRejected(Report(EXIT_ERRORS, render(source, diagnostics)))
    prepared = prepare(checked.program, bitlen=args.bitlen, optimize=args.optimize)
    diagnostics += prepared.diagnostics
    try:
        program = compile_secure(prepared.program, args.bitlen, ObjectCache())
    except CompileError as error:
        raise ProgramRejected(Report(EXIT_ERRORS, render(source, diagnostics + tuple(error.diagnostics)))) from None
    return Compiled(prepared, program, diagnostics, time.perf_counter() - started)


def _role(source: SourceFile, args: Namespace) -> Report:
    try:
        compiled = compile_program(source, args)
    except ProgramRejected as rejected:
        return rejected.report
    diagnostics = compiled.diagnostics
    try:
        config = RoleConfig(ROLE_NUMBERS[args.role], endpoints(args), compiled.prepared.inputs(_inputs(args)),
                            int(args.timeout * 1000))
    except InputError as error:
        return Report(EXIT_ERRORS, render(source, diagnostics + (error.diagnostic,)))
    try:
        outcome = execute(compiled.program, config, compiled.seconds)
    except RoleFailure as failure:
        shown = diagnostics + ((failure.diagnostic,) if failure.diagnostic else ())
        return Report(EXIT_ERRORS, join_sections(render(source, shown), f"ezlang run: {failure}"))
    stats = render_stats([outcome.stats]) if args.stats else ""
    party = _PARTIES.get(args.role)
    outputs = "" if party is None else party_text(party, compiled.prepared.outputs(outcome.outputs))
    return Report(EXIT_OK, join_sections(render(source, diagnostics + outcome.warnings), stats), outputs,
                  json.dumps(outcome.stats.to_json()))


def endpoints(args: Namespace) -> Endpoints:
    """--listen, --connect and --dealer, those a command lacks being absent."""
    given = (getattr(args, flag, None) for flag in ("listen", "connect", "dealer"))
    try:
        return Endpoints(*(parse_address(text) if text else None for text in given))
    except ValueError as error:
        raise RunUsageError(str(error)) from None


def _inputs(args: Namespace) -> dict:
    paths = {Role.ALL: args.public_inputs}
    if args.role in _PARTIES:
        paths[_PARTIES[args.role]] = args.inputs
    return {role: load_inputs(path) for role, path in paths.items() if path is not None}


def party_text(party: Role, outputs: Iterable[OutputValue]) -> str:
    """One party's section of `ezlang interpret`'s text output."""
    lines = [f"  {out.text} = {output_text(out)}" for out in outputs] or ["  (no outputs)"]
    return "\n".join([f"{party}:", *lines]) + "\n"


# ---------------------------------------------------------------- three roles here


def _local(source: SourceFile, args: Namespace) -> Report:
    checked = check_source(source, bitlen=args.bitlen, scale=args.scale)
    diagnostics = tuple(checked.diagnostics)
    if checked.program is None:
        return Report(EXIT_ERRORS, render(source, diagnostics))
    try:
        check_supported(prepare(checked.program, bitlen=args.bitlen, optimize=args.optimize).program)
    except CompileError as error:
        return Report(EXIT_ERRORS, render(source, diagnostics + tuple(error.diagnostics)))
    run = run_local(args.file, {"server": args.server_inputs, "client": args.client_inputs}, args.public_inputs,
                    args.bitlen, args.timeout, scale=args.scale, optimize=args.optimize)
    if not run.ok:
        first = run.role(run.first_failure or "server")
        others = [f"[{r.role}] {r.stderr.strip()}" for r in run.roles if r is not first and r.stderr.strip()]
        failed = f"ezlang run --local: the {first.role} failed (exit {first.exit_code})"
        return Report(EXIT_ERRORS, join_sections(failed, first.stderr.strip(), *others))
    notes = [r.stderr.strip() for r in run.roles if r.stderr.strip()]
    stats = render_stats([r.stats for r in run.roles if r.stats is not None]) if args.stats else ""
    return Report(EXIT_OK, join_sections(*notes, stats), run.role("server").outputs + run.role("client").outputs)


def render(source: SourceFile, diagnostics: tuple[Diagnostic, ...]) -> str:
    return render_diagnostics([FileReport(source.name, diagnostics)])


def join_sections(*parts: str) -> str:
    return "\n\n".join(part.rstrip("\n") for part in parts if part)


__all__ = ["Compiled", "ProgramRejected", "Report", "RoleStats", "RunUsageError", "compile_program", "endpoints",
           "join_sections", "party_text", "render", "run_command"]
