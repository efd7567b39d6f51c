"""The `ezlang` command: argparse wiring, file reading and writing, exit codes; no analysis here.

Exit codes: 0 success (every file well typed and leakage-free; a run that completed), 1 the
program has errors (diagnostics, or a run-time error), 2 usage errors (bad flags, unreadable or
misnamed files, an output file that cannot be written).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence, TextIO

from ezlang import __version__
from ezlang.diagnostics import CompileError, Diagnostic
from ezlang.inputs import InputError, load_inputs
from ezlang.interp import InterpError, RunResult, interpret
from ezlang.passes.fixed_pipeline import explain_scales, prepare
from ezlang.passes.flow_summary import summarize
from ezlang.passes.pipeline import DEFAULT_SCALE, check_source
from ezlang.passes.ranges_format import format_for
from ezlang.report import (FileReport, render_diagnostics, render_explanations, render_json,
                           render_run_json, render_run_text, render_sarif, render_text_report, summary)
from ezlang.source import SourceFile
from ezlang.types import Role

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command line that cannot be carried out: reported in one line, exit code 2."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help, --version and bad flags
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    if args.handler is None:
        parser.print_usage(sys.stderr)
        print("ezlang: error: a command is required: check, interpret or version", file=sys.stderr)
        return EXIT_USAGE
    try:
        _check_scale(args)
        return args.handler(args)
    except UsageError as error:
        print(f"{args.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ezlang", description="Check and run EzPC two-party secure-computation programs.",
        epilog="exit codes: 0 success, 1 the program has errors, 2 usage error. "
               "Run `ezlang COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"ezlang {__version__}")
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_check(commands)
    _add_interpret(commands)
    _add_compile(commands)
    _add_run(commands)
    _add_serve(commands)
    _add_query(commands)
    _add_verify_rules(commands)
    _add_choose_format(commands)
    _add_import(commands)
    version = commands.add_parser("version", help="print the version and exit",
                                  description="Print the version of ezlang.")
    version.set_defaults(handler=_version, prog=version.prog)
    return parser


def _add_check(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    check = commands.add_parser(
        "check", help="type-check programs and prove they leak no secret",
        description="Type-check each FILE and prove that no secret reaches a public "
                    "value except through `output` (rules: docs/spec.md §3-4). Diagnostics and a summary line always go to stderr as text; "
                    "--format json or sarif also writes a report for tools to stdout or --output.",
        epilog="exit codes: 0 every file is well typed and leakage-free (warnings allowed), "
               "1 some file has errors, 2 usage error.")
    check.add_argument("files", nargs="+", metavar="FILE", help="EzPC source files (*.ezpc)")
    check.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                       help="report format: text (the default; the report is what stderr shows), "
                            "json (one document), or sarif (SARIF 2.1.0, for code scanning)")
    _add_bitlen(check)
    _add_scale(check)
    check.add_argument("--library", action="store_true",
                       help="the files are libraries: do not require a `main` function")
    check.add_argument("--explain", action="store_true",
                       help="for each file that checks clean, list every `output` and the party "
                            "inputs it depends on (in json/sarif: a \"flows\" array)")
    _add_output(check, "the report (with --format text: diagnostics, summary and flows)")
    check.set_defaults(handler=_check, prog=check.prog)


def _add_interpret(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    run = commands.add_parser(
        "interpret", help="run a program in the clear with the reference interpreter",
        description="Check FILE, then run it with the cleartext reference interpreter (semantics: "
                    "docs/spec.md §5) and print what each party receives from `output`.",
        epilog="A party's inputs file is needed when the program reads an input of that party; "
               "docs/inputs.md describes the formats. Exit codes: 0 the program ran, 1 it has "
               "errors or failed at run time, 2 usage error.")
    run.add_argument("file", metavar="FILE", help="the EzPC program (*.ezpc)")
    for party, flag in (("SERVER", "--server-inputs"), ("CLIENT", "--client-inputs"),
                        ("ALL", "--public-inputs")):
        run.add_argument(flag, metavar="F",
                         help=f"values for the `input({party}, ...)` statements: a .json, .npz or "
                              ".npy file, or whitespace-separated text read in program order")
    _add_bitlen(run)
    _add_scale(run)
    _add_no_optimize(run)
    run.add_argument("--format", choices=("text", "json"), default="text",
                     help="text: a SERVER: and a CLIENT: section of `name = value` lines (the "
                          "default); json: one document with the outputs and diagnostics")
    _add_output(run, "the outputs, or the JSON document")
    run.set_defaults(handler=_interpret, prog=run.prog)


def _add_compile(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    compile_ = commands.add_parser(
        "compile", help="compile a program to native code with LLVM (cleartext backend)",
        description="Check FILE and compile it with LLVM for this machine. Without an --emit flag the "
                    "object code is stored in the cache ($XDG_CACHE_HOME/ezlang/objects) and, with "
                    "--output, also written to FILE.",
        epilog="Exit codes: 0 compiled, 1 the program has errors, 2 usage error.")
    compile_.add_argument("file", metavar="FILE", help="the EzPC program (*.ezpc)")
    _add_bitlen(compile_)
    _add_scale(compile_)
    _add_no_optimize(compile_)
    emit = compile_.add_mutually_exclusive_group()
    emit.add_argument("--emit-llvm", dest="emit", action="store_const", const="llvm",
                      help="print the LLVM IR as generated (one function per EzPC function)")
    emit.add_argument("--emit-opt-llvm", dest="emit", action="store_const", const="opt-llvm",
                      help="print the LLVM IR after optimisation")
    emit.add_argument("--emit-asm", dest="emit", action="store_const", const="asm",
                      help="print the optimised machine code as assembly")
    emit.add_argument("--explain-scales", dest="emit", action="store_const", const="scales",
                      help="instead of compiling, list where the fixed-point lowering truncates "
                           "(`file:line:col: truncate by 12 after `a * b` (scale 24 → 12)`), how many "
                           "truncations there are, and the scale of every fixed-point input and output "
                           "(docs/fixed-point.md)")
    emit.add_argument("--explain-protocols", dest="emit", action="store_const", const="protocols",
                      help="instead of compiling, list the protocol the secure backend chooses for every "
                           "sum of products: one-sided where the SERVER alone knows one factor (the "
                           "model is masked once per session), else the general matrix product, with "
                           "the reason; and the inputs that are never shared (docs/protocols.md §5.10)")
    _add_output(compile_, "the requested IR, assembly or explanation (without --emit: the object code)")
    compile_.set_defaults(handler=_compile, prog=compile_.prog, emit=None)


def _add_run(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    run = commands.add_parser(
        "run", help="run a program securely: one role, or all three with --local",
        description="Check and compile FILE for the secure runtime, then run it as one of the three "
                    "roles (SERVER and CLIENT hold the inputs, the DEALER supplies correlated "
                    "randomness), or as all three on this machine with --local. The server listens "
                    "(--listen); the dealer listens for the client and connects to the server "
                    "(--listen, --connect); the client connects to both (--connect, --dealer). "
                    "docs/running.md describes the topology.",
        epilog="Exit codes: 0 the run completed, 1 the program has errors or a role failed, 2 usage error.")
    run.add_argument("file", metavar="FILE", help="the EzPC program (*.ezpc)")
    run.add_argument("--role", choices=("server", "client", "dealer"), help="the role this process plays")
    run.add_argument("--local", action="store_true",
                     help="start all three roles as processes on loopback and print both parties' outputs")
    run.add_argument("--listen", metavar="HOST:PORT", help="where this role accepts its peers (server, dealer)")
    run.add_argument("--connect", metavar="HOST:PORT", help="the server's address (dealer, client)")
    run.add_argument("--dealer", metavar="HOST:PORT", help="the dealer's address (client)")
    run.add_argument("--inputs", metavar="F", help="this party's inputs (formats as for `interpret`)")
    for party, flag in (("SERVER", "--server-inputs"), ("CLIENT", "--client-inputs")):
        run.add_argument(flag, metavar="F", help=f"with --local: the values of the `input({party}, ...)` statements")
    run.add_argument("--public-inputs", metavar="F", help="values of the `input(ALL, ...)` statements (every role)")
    run.add_argument("--outputs", metavar="F",
                     help="write this party's outputs to F (replaced atomically, only after a successful "
                          "run) instead of stdout")
    _add_bitlen(run)
    _add_scale(run)
    _add_no_optimize(run)
    run.add_argument("--stats", action="store_true",
                     help="print rounds, bytes and time per phase of each role to stderr")
    run.add_argument("--timeout", type=float, default=10.0, metavar="S",
                     help="seconds to wait for a peer to connect or to answer (default 10)")
    run.add_argument("--stats-json", metavar="F", help=argparse.SUPPRESS)  # used by --local
    run.set_defaults(handler=_run, prog=run.prog)


def _add_serve(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    serve = commands.add_parser(
        "serve", help="keep a program loaded as the server or the dealer and serve sessions of queries",
        description="Compile FILE once, load this role's inputs once, then serve sessions one after another: "
                    "each session accepts a client (`ezlang query`), opens one runtime session and runs one "
                    "query per request of the client until it ends the session, so that what is set up per "
                    "session (the masked model of one-sided products) is paid once. Connection flags and "
                    "topology as for `ezlang run --role`; docs/running.md, \"Sessions: serve and query\".",
        epilog="Exit codes: 0 every session ended well, 1 the program has errors or a session failed, 2 usage error.")
    serve.add_argument("file", metavar="FILE", help="the EzPC program (*.ezpc)")
    serve.add_argument("--role", choices=("server", "dealer", "client"), required=True,
                       help="server or dealer (a client runs `ezlang query`)")
    serve.add_argument("--listen", metavar="HOST:PORT", help="where this role accepts its peers")
    serve.add_argument("--connect", metavar="HOST:PORT", help="the server's address (dealer)")
    serve.add_argument("--server-inputs", metavar="F", help="the server's inputs, e.g. a model's weights (read once)")
    serve.add_argument("--public-inputs", metavar="F", help="values of the `input(ALL, ...)` statements")
    _add_bitlen(serve)
    _add_scale(serve)
    _add_no_optimize(serve)
    serve.add_argument("--sessions", type=_positive, metavar="N",
                       help="serve N sessions one after another, then exit (default: until killed)")
    serve.add_argument("--idle-timeout", type=float, default=600.0, metavar="S",
                       help="seconds a client may stay idle between queries before its session is dropped "
                            "(default 600)")
    serve.add_argument("--timeout", type=float, default=10.0, metavar="S",
                       help="seconds to wait for a peer to answer during a query (default 10)")
    serve.add_argument("--stats", action="store_true",
                       help="after each session, print this role's time and bytes per query and the one-sided "
                            "products' set-up to stderr")
    serve.add_argument("--stats-json", metavar="F",
                       help="after each session, write this role's start-up, peak memory and the figures of its "
                            "latest 100 sessions as JSON to F (replaced each time)")
    serve.set_defaults(handler=_serve, prog=serve.prog)


def _add_query(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    query = commands.add_parser(
        "query", help="run queries as the client over one session with a served program",
        description="Compile FILE, connect to a server and a dealer that run `ezlang serve`, and run one query "
                    "per --client-inputs file, in order, over one session; print each query's outputs as "
                    "`ezlang run --role client` prints them, after a `query N: FILE` line. With --local, start "
                    "the server and the dealer here (`ezlang serve --sessions 1`) on loopback.",
        epilog="Exit codes: 0 every query ran, 1 the program has errors or a query failed, 2 usage error.")
    query.add_argument("file", metavar="FILE", help="the EzPC program (*.ezpc)")
    query.add_argument("--connect", metavar="HOST:PORT", help="the server's address")
    query.add_argument("--dealer", metavar="HOST:PORT", help="the dealer's address")
    query.add_argument("--client-inputs", metavar="F", nargs="+", required=True,
                       help="one file of CLIENT inputs per query (formats as for `interpret`)")
    query.add_argument("--public-inputs", metavar="F", help="values of the `input(ALL, ...)` statements")
    query.add_argument("--local", action="store_true",
                       help="start the server and the dealer as processes on loopback (needs --server-inputs)")
    query.add_argument("--server-inputs", metavar="F", help="with --local: the server's inputs")
    _add_bitlen(query)
    _add_scale(query)
    _add_no_optimize(query)
    query.add_argument("--stats", action="store_true",
                       help="print time, rounds and bytes per query, the median of the queries after the "
                            "first, and the one-time set-up to stderr")
    query.add_argument("--json", metavar="OUT", help="write the same figures and the outputs as JSON to OUT")
    query.add_argument("--timeout", type=float, default=10.0, metavar="S",
                       help="seconds to wait for a peer to connect or to answer (default 10)")
    query.set_defaults(handler=_query, prog=query.prog)


def _add_choose_format(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    choose = commands.add_parser(
        "choose-format", help="pick --bitlen and --scale for a fixed-point program, and say why",
        description="Find the smallest ring (32, else 64 bits) and, in it, the largest scale at which the "
                    "range analysis proves that no value of FILE can overflow, keeping every truncation "
                    "the rewrite rules remove at smaller scales (docs/ranges.md). Input bounds come from "
                    "the ranges FILE declares or, for inputs without one, from calibration samples: "
                    "each --client-inputs file is one sample, run with the --server-inputs values.",
        epilog="Exit codes: 0 a format fits, 1 none does (the reason names what overflows) or the "
               "program has errors, 2 usage error.")
    choose.add_argument("file", metavar="FILE", help="the EzPC program (*.ezpc)")
    choose.add_argument("--server-inputs", metavar="F", help="SERVER's values for calibration")
    choose.add_argument("--client-inputs", metavar="F", nargs="+", default=(),
                        help="CLIENT samples for calibration (one file per sample)")
    choose.add_argument("--public-inputs", metavar="F", help="values of the `input(ALL, ...)` statements")
    choose.add_argument("--bitlen", type=int, choices=(32, 64), help="only consider this ring")
    choose.add_argument("--min-scale", type=int, default=8, metavar="N",
                        help="fewest fractional bits acceptable (default 8)")
    choose.add_argument("--headroom", type=int, default=0, metavar="K",
                        help="bits the widest value must leave unused, a margin for inputs beyond the "
                             "calibrated ones (default 0)")
    choose.set_defaults(handler=_choose_format, prog=choose.prog)


def _choose_format(args: argparse.Namespace) -> int:
    from ezlang.passes.ranges_format import choose_format

    source = _read_sources([args.file])[0]
    shared = {Role.SERVER: args.server_inputs, Role.ALL: args.public_inputs}
    for path in [p for p in shared.values() if p] + list(args.client_inputs):
        _readable(path)
    fixed = {role: load_inputs(path) for role, path in shared.items() if path}
    samples = [{**fixed, Role.CLIENT: load_inputs(path)} for path in args.client_inputs]
    if not samples and fixed:
        samples = [fixed]
    try:
        choice = choose_format(source, calibration=samples, bitlens=(args.bitlen,) if args.bitlen else (32, 64),
                               min_scale=args.min_scale, headroom=args.headroom)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(choice.reason)
    if choice.fits:
        print(f"use: --bitlen {choice.bitlen} --scale {choice.scale}")
    return EXIT_OK if choice.fits else EXIT_ERRORS


def _add_verify_rules(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    verify = commands.add_parser(
        "verify-rules", help="prove the fixed-point rewrite rules with z3",
        description="Prove every rewrite rule (passes/rules/*.rules, or the given files) for its whole "
                    "parameter grid, and print a counterexample for any that fails (docs/rules.md).",
        epilog="Exit codes: 0 every rule proved, 1 a rule failed or a rule file is malformed, 2 usage error.")
    verify.add_argument("--rules", nargs="+", metavar="FILE", help="rule files to prove instead of the built-in ones")
    verify.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: one line per rule (the default); json: one document")
    verify.add_argument("--write-certificate", action="store_true",
                        help="record the proved rules in passes/rules/certificate.json (the rewrite engine "
                             "applies only certified rules); without it, the built-in rules are also checked "
                             "against that file and a stale certificate fails")
    verify.set_defaults(handler=_verify_rules, prog=verify.prog)


def _add_import(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    imp = commands.add_parser(
        "import", help="turn an ONNX model into a program, a private weights file and a manifest",
        description="Translate MODEL (an .onnx file) into DIR/model.ezpc (the architecture: one layer-library "
                    "call per layer, no weight values), DIR/model.weights (the SERVER's private input) and "
                    "DIR/manifest.json (inputs, outputs, format, labels); with a dynamic batch dimension also "
                    "DIR/public.json (the batch size, a public input). docs/import.md lists the operators.",
        epilog="Exit codes: 0 imported, 1 the model cannot be imported (unsupported operators, shapes, "
               "no format fits), 2 usage error.")
    imp.add_argument("model", metavar="MODEL", help="the ONNX model (*.onnx)")
    imp.add_argument("--output", "-o", metavar="DIR", required=True,
                     help="directory for the files (created if needed; other files in it are kept)")
    imp.add_argument("--calibrate", metavar="FILE",
                     help="representative CLIENT inputs (.npy, or .npz by input name): their range, rounded "
                          "out to a power of two, is declared in the program, and the range analysis "
                          "chooses --bitlen and --scale from it (docs/ranges.md)")
    imp.add_argument("--input-range", metavar=("LO", "HI"), type=float, nargs=2,
                     help="declare that every CLIENT input value lies in [LO, HI] (instead of --calibrate)")
    imp.add_argument("--bitlen", type=int, choices=(32, 64), default=None,
                     help="ring width; default: chosen by the range analysis when the inputs have a range, "
                          "else 32")
    imp.add_argument("--scale", type=int, default=None, metavar="N",
                     help="fractional bits of every tensor; default: chosen by the range analysis when the "
                          f"inputs have a range, else {DEFAULT_SCALE}")
    imp.add_argument("--labels", metavar="FILE",
                     help="class names: one per line, or a .csv column (distinct values in order of first "
                          "appearance); `interpret` and `run` print them next to class indices")
    imp.add_argument("--labels-column", metavar="NAME",
                     help="the .csv column of --labels (default: the first whose header contains \"name\")")
    imp.add_argument("--batch", type=_positive, metavar="N",
                     help="fix a dynamic batch dimension to N; by default the batch is a public input "
                          "chosen at run time (DIR/public.json)")
    imp.add_argument("--max-batch", type=_positive, default=1024, metavar="N",
                     help="the largest run-time batch size the program accepts (default 1024)")
    imp.add_argument("--argmax", action="store_true",
                     help="output the class index (a secure ArgMax over the last axis) instead of the logits, "
                          "so that the CLIENT learns only the label")
    imp.set_defaults(handler=_import, prog=imp.prog)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def _add_bitlen(command: argparse.ArgumentParser) -> None:
    command.add_argument("--bitlen", type=int, choices=(32, 64), default=None,
                         help="width in bits of every secret integer and fixed-point value: 32 for "
                              "int32/uint32 secrets, 64 for int64/uint64 secrets. Default: for a "
                              "fixed-point program that declares its input ranges, the smallest ring "
                              "in which the range analysis proves nothing overflows (docs/ranges.md); "
                              "otherwise 32")


def _add_scale(command: argparse.ArgumentParser) -> None:
    command.add_argument("--scale", type=int, default=None, metavar="N",
                         help="fractional bits of `fixed` written without `<s>` (0 <= N < --bitlen): a "
                              "real v is stored as round(v * 2^N) in the ring, so 2^-N is the resolution "
                              "and 2^(bitlen-1-N) the magnitude limit. Default: for a fixed-point program "
                              "that declares its input ranges, the largest scale with which the range "
                              f"analysis proves nothing overflows; otherwise {DEFAULT_SCALE}")


def _add_no_optimize(command: argparse.ArgumentParser) -> None:
    command.add_argument("--no-optimize", dest="optimize", action="store_false",
                         help="keep every truncation the fixed-point lowering placed: do not apply the "
                              "proven rewrite rules (docs/rules.md); for comparing against the "
                              "optimised program, whose outputs differ by at most the bounds "
                              "--explain-scales reports")


def _check_scale(args: argparse.Namespace) -> None:
    scale = getattr(args, "scale", None)
    if scale is not None and not 0 <= scale < (args.bitlen or 32):
        raise UsageError(f"--scale {scale}: the number of fractional bits must be at least 0 and below "
                         f"--bitlen {args.bitlen or 32}")


def _format(source: SourceFile, args: argparse.Namespace) -> tuple[int, int]:
    """--bitlen and --scale as given, the ones left out chosen for `source` (ranges_format.format_for)."""
    bitlen, scale = format_for(source, bitlen=args.bitlen, scale=args.scale)
    if not 0 <= scale < bitlen:
        raise UsageError(f"--scale {scale}: the number of fractional bits must be at least 0 and below "
                         f"--bitlen {bitlen}")
    return bitlen, scale


def _resolve_format(source: SourceFile, args: argparse.Namespace) -> None:
    args.bitlen, args.scale = _format(source, args)


def _add_output(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("--output", "-o", metavar="FILE",
                         help=f"write {what} to FILE instead of stdout; FILE is replaced atomically")


def _version(_args: argparse.Namespace) -> int:
    print(f"ezlang {__version__}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    _check_output_dir(args.output)
    sources = _read_sources(args.files)
    reports = [_check_file(source, args) for source in sources]
    _emit_check(reports, args)
    return EXIT_OK if all(r.ok for r in reports) else EXIT_ERRORS


def _check_file(source: SourceFile, args: argparse.Namespace) -> FileReport:
    bitlen, scale = _format(source, args)
    result = check_source(source, bitlen=bitlen, scale=scale, library=args.library)
    flows = None
    if args.explain and result.program is not None:
        flows = tuple(summarize(result.program))
    return FileReport(source.name, tuple(result.diagnostics), flows)


def _emit_check(reports: list[FileReport], args: argparse.Namespace) -> None:
    """Text diagnostics and the summary always go to stderr, for people and CI logs; a requested
    report goes to --output or stdout, for tools."""
    _print(sys.stderr, render_diagnostics(reports), summary(reports))
    if args.format == "text" and not args.output:
        if args.explain:
            _print(sys.stdout, render_explanations(reports))
        return
    _deliver(args.output, _render(reports, args))


def _render(reports: list[FileReport], args: argparse.Namespace) -> str:
    if args.format == "json":
        return render_json(reports, explain=args.explain)
    if args.format == "sarif":
        return render_sarif(reports, root=Path.cwd(), explain=args.explain)
    return render_text_report(reports, explain=args.explain)


def _interpret(args: argparse.Namespace) -> int:
    _check_output_dir(args.output)
    source = _read_sources([args.file])[0]
    _resolve_format(source, args)
    paths = {role: path for role, path in ((Role.SERVER, args.server_inputs),
                                           (Role.CLIENT, args.client_inputs),
                                           (Role.ALL, args.public_inputs)) if path is not None}
    for path in paths.values():
        _readable(path)
    result = check_source(source, bitlen=args.bitlen, scale=args.scale)
    diagnostics = tuple(result.diagnostics)
    if result.program is None:
        return _emit_run(args, source, diagnostics, None)
    prepared = prepare(result.program, bitlen=args.bitlen, optimize=args.optimize)
    diagnostics += prepared.diagnostics
    try:
        run = interpret(prepared.program, prepared.inputs({role: load_inputs(path) for role, path in paths.items()}))
    except (InterpError, InputError) as error:
        return _emit_run(args, source, diagnostics + (error.diagnostic,), None)
    return _emit_run(args, source, diagnostics + run.warnings, prepared.run_result(run))


def _emit_run(args: argparse.Namespace, source: SourceFile, diagnostics: tuple[Diagnostic, ...],
              run: Optional[RunResult]) -> int:
    """Diagnostics go to stderr as text; outputs, or the JSON document, to --output or stdout."""
    _print(sys.stderr, render_diagnostics([FileReport(source.name, diagnostics)]))
    if args.format == "json":
        _deliver(args.output, render_run_json(source.name, diagnostics, run))
    elif run is not None:
        _deliver(args.output, _with_labels(args.file, render_run_text(run)))
    return EXIT_ERRORS if run is None else EXIT_OK


def _with_labels(program: str, outputs: str) -> str:
    """Outputs text with class names after class indices, when the program was imported with
    labels (its manifest.json, ezlang.manifest)."""
    from ezlang.manifest import ManifestError, name_labels, read_manifest

    try:
        manifest = read_manifest(program)
    except ManifestError as error:
        print(f"ezlang: warning: {error}; class labels are not shown", file=sys.stderr)
        return outputs
    if manifest is None or manifest.program != Path(program).name:
        return outputs
    return name_labels(outputs, manifest)


def _compile(args: argparse.Namespace) -> int:
    from ezlang import codegen  # LLVM loads only for this command

    _check_output_dir(args.output)
    source = _read_sources([args.file])[0]
    _resolve_format(source, args)
    result = check_source(source, bitlen=args.bitlen, scale=args.scale)
    diagnostics = tuple(result.diagnostics)
    try:
        if result.program is None:
            return EXIT_ERRORS
        prepared = prepare(result.program, bitlen=args.bitlen, optimize=args.optimize)
        diagnostics += prepared.diagnostics
        if args.emit == "scales":
            _deliver(args.output, explain_scales(prepared) + "\n")
            return EXIT_OK
        if args.emit == "protocols":
            from ezlang.passes.protocols import explain_secure
            _deliver(args.output, explain_secure(prepared.program) + "\n")
            return EXIT_OK
        emitters = {"llvm": codegen.emit_llvm, "opt-llvm": codegen.emit_optimised_llvm,
                    "asm": codegen.emit_assembly}
        if args.emit is not None:
            _deliver(args.output, emitters[args.emit](prepared.program))
            return EXIT_OK
        code = codegen.object_code(prepared.program, codegen.ObjectCache())
        if args.output:
            _write_atomic_bytes(args.output, code)
        return EXIT_OK
    except CompileError as error:
        diagnostics += tuple(error.diagnostics)
        return EXIT_ERRORS
    finally:
        _print(sys.stderr, render_diagnostics([FileReport(source.name, diagnostics)]))


def _run(args: argparse.Namespace) -> int:
    from ezlang.run.command import RunUsageError, run_command  # LLVM and the runtime load only here

    for path in (args.inputs, args.server_inputs, args.client_inputs, args.public_inputs):
        if path is not None:
            _readable(path)
    _check_output_dir(args.outputs)
    source = _read_sources([args.file])[0]
    _resolve_format(source, args)
    try:
        report = run_command(source, args)
    except RunUsageError as error:
        raise UsageError(str(error)) from None
    _print(sys.stderr, report.stderr)
    if args.stats_json and report.stats_json is not None:
        _write_atomic(args.stats_json, report.stats_json)
    if report.outputs is not None:
        _deliver(args.outputs, _with_labels(args.file, report.outputs))
    return report.exit_code


def _serve(args: argparse.Namespace) -> int:
    from ezlang.run.command import RunUsageError
    from ezlang.run.query import serve_command

    for path in (args.server_inputs, args.public_inputs):
        if path is not None:
            _readable(path)
    _check_output_dir(args.stats_json, "--stats-json")
    source = _read_sources([args.file])[0]
    _resolve_format(source, args)
    figures = (lambda text: _write_atomic(args.stats_json, text + "\n")) if args.stats_json else None
    try:
        return serve_command(source, args, lambda text: _print(sys.stdout, text.rstrip("\n"), flush=True),
                             lambda text: _print(sys.stderr, text.rstrip("\n"), flush=True), figures)
    except RunUsageError as error:
        raise UsageError(str(error)) from None


def _query(args: argparse.Namespace) -> int:
    from ezlang.run.command import RunUsageError
    from ezlang.run.query import query_command

    for path in (*args.client_inputs, args.server_inputs, args.public_inputs):
        if path is not None:
            _readable(path)
    _check_output_dir(args.json, "--json")
    source = _read_sources([args.file])[0]
    _resolve_format(source, args)
    try:
        report = query_command(source, args)
    except RunUsageError as error:
        raise UsageError(str(error)) from None
    _print(sys.stderr, report.stderr)
    if args.json and report.stats_json is not None:
        _write_atomic(args.json, report.stats_json)
    if report.outputs:
        sys.stdout.write(_with_labels(args.file, report.outputs))
    return report.exit_code


def _import(args: argparse.Namespace) -> int:
    from ezlang.onnx_import import ImportFailure, ImportOptions, import_model, write_bundle

    _readable(args.model)
    for path in (args.calibrate, args.labels):
        if path is not None:
            _readable(path)
    if args.calibrate and args.input_range:
        raise UsageError("give either --calibrate or --input-range, not both")
    if args.input_range and not (math.isfinite(args.input_range[0]) and args.input_range[0] <= args.input_range[1]
                                 and math.isfinite(args.input_range[1])):
        raise UsageError(f"--input-range {args.input_range[0]} {args.input_range[1]}: give finite LO <= HI")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"--output {args.output}: exists and is not a directory")
    options = ImportOptions(batch=args.batch, max_batch=args.max_batch, bitlen=args.bitlen, scale=args.scale,
                            calibrate=Path(args.calibrate) if args.calibrate else None,
                            input_range=tuple(args.input_range) if args.input_range else None,
                            labels=Path(args.labels) if args.labels else None,
                            labels_column=args.labels_column, argmax=args.argmax)
    try:
        bundle = import_model(args.model, options)
    except ImportFailure as failure:
        _print(sys.stderr, render_diagnostics([FileReport(args.model, (failure.diagnostic,))]))
        return EXIT_ERRORS
    try:
        written = write_bundle(bundle, args.output)
    except OSError as error:
        raise UsageError(f"--output {args.output}: cannot write: {error.strerror or error}") from None
    lines = [*(f"wrote {path}" for path in written), bundle.format_reason]
    if not (args.calibrate or args.input_range):
        lines.append(NO_INPUT_RANGE)
    _print(sys.stderr, "\n".join(lines))
    return EXIT_OK


NO_INPUT_RANGE = ("warning: no --input-range or --calibrate: the range analysis cannot bound the client's input, so "
                  "the rewrite rules that remove truncations stay off and every product is truncated on its own "
                  "(correct, but a large model runs far slower); give the range the inputs are normalised to")


def _verify_rules(args: argparse.Namespace) -> int:
    import json

    from ezlang.passes.rules import certificate, load, prove  # z3 loads only for this command

    if args.write_certificate and args.rules:
        raise UsageError("--write-certificate certifies the built-in rules; it cannot be combined with --rules")
    paths = [_readable(path) for path in args.rules] if args.rules else list(load.builtin_paths())
    try:
        rules = [rule for path in paths for rule in load.load_file(path)]
    except CompileError as error:
        _print(sys.stderr, render_diagnostics([FileReport("rules", tuple(error.diagnostics))]))
        return EXIT_ERRORS
    outcomes = [prove.prove(rule) for rule in rules]
    if args.format == "json":
        print(json.dumps({"version": 1, "rules": [prove.as_json(o) for o in outcomes]}, indent=2))
    else:
        _print(sys.stdout, "\n".join(prove.describe(o) for o in outcomes))
    proved = all(o.proved for o in outcomes)
    if args.write_certificate:
        target = certificate.builtin_path()
        entries = {o.rule.name: certificate.entry_for(o.rule, o.proved) for o in outcomes}
        _write_atomic(str(target), certificate.render(entries))
        print(f"wrote {target} ({sum(o.proved for o in outcomes)} of {len(outcomes)} rules proved)", file=sys.stderr)
        return EXIT_OK if proved else EXIT_ERRORS
    if not args.rules:
        reasons = certificate.stale(rules, certificate.read())
        if reasons:
            _print(sys.stderr, "\n".join([f"{certificate.builtin_path()} is stale:", *(f"  {r}" for r in reasons),
                                          "  run `ezlang verify-rules --write-certificate` and commit the file"]))
            return EXIT_ERRORS
    return EXIT_OK if proved else EXIT_ERRORS


def _write_atomic_bytes(path: str, data: bytes) -> None:
    target = Path(path)
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temp, target)
    except OSError as error:
        raise UsageError(f"--output {path}: cannot write: {error.strerror}") from error


def _read_sources(paths: Sequence[str]) -> list[SourceFile]:
    """Every file, or a UsageError naming the first that is misnamed or cannot be read."""
    for path in paths:
        if not path.endswith(".ezpc"):
            raise UsageError(f"{path}: not an EzPC source file (the name must end in .ezpc)")
    return [_read_source(path) for path in paths]


def _read_source(path: str) -> SourceFile:
    try:
        return SourceFile.read(_readable(path))
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror}") from error


def _readable(path: str) -> str:
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: permission denied")
    return path


def _check_output_dir(output: Optional[str], flag: str = "--output") -> None:
    """Fails before any work is done when the report could not be written."""
    if output is None:
        return
    if os.path.isdir(output):
        raise UsageError(f"{flag} {output}: is a directory")
    parent = os.path.dirname(output) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {output}: directory {parent} does not exist")


def _deliver(output: Optional[str], text: str) -> None:
    if output:
        _write_atomic(output, text)
    else:
        sys.stdout.write(text)


def _write_atomic(path: str, text: str) -> None:
    """Readers of `path` see the old report or the whole new one, never a partial file."""
    target = Path(path)
    temp = None
    try:
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temp, mode)
        os.replace(temp, target)
    except OSError as error:
        raise UsageError(f"--output {path}: cannot write: {error.strerror}") from error
    finally:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)


def _print(stream: TextIO, *parts: str, flush: bool = False) -> None:
    text = "\n\n".join(p for p in parts if p)
    if text:
        print(text, file=stream, flush=flush)
