"""Accuracy of an imported ONNX model run securely, against onnxruntime on the same inputs.

    python bench/accuracy.py MODEL.onnx --inputs BATCH.npy [--n 100] [--batch B] [--session]
                             [--bitlen 64] [--scale S] [--input-range LO HI | --calibrate FILE]
                             [--labels CSV] [--json FILE] [--keep DIR]

Imports MODEL.onnx with `ezlang import` (the flags are passed on; without --bitlen/--scale the
importer chooses them), runs the first N rows of BATCH.npy (an array whose first axis is the
batch, the rest the model input's shape) through onnxruntime in float32, and through the
imported program securely: `ezlang run --local` semantics, SERVER holding model.weights and
CLIENT the inputs, three processes on loopback, B rows per run (default 1; a larger B needs a
model imported with a dynamic or matching batch size). With --session the N/B runs are the
queries of ONE session instead (`ezlang query --local`, bench/session_run.py): the model is
registered once, as a served model is, and N must be a multiple of B. It reports

* argmax agreement: for every input, the class the secure run gives (its secure ArgMax output
  when the model has one, else the argmax of its logits) against onnxruntime's argmax, and the
  inputs on which they differ with onnxruntime's top-two margin;
* the largest and the mean absolute logit error (over every logit output, every input);
* cost per secure run, medians over the runs: online seconds, online rounds, bytes each role
  sent, the dealer's bytes to each party, every role's peak resident memory; and onnxruntime's
  time for one batch of B in the same process, for comparison. With --session: medians over the
  queries after the first (the steady price of a query), the whole query's seconds, and the
  first query's seconds and registration bytes (the one-time setup).

Give the inputs' range (--input-range, or --calibrate with sample inputs): without one the
range analysis cannot bound the program's values, so the fixed-point rewrite rules stay off and
every product is truncated on its own (correct, but far slower on large layers).

The numbers go to stdout as text and, with --json, to FILE. --keep DIR keeps the imported
program and the per-run files there (by default they live in a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import onnxruntime

import session_run
from ezlang.manifest import Manifest, read_manifest
from ezlang.run.local import role_arguments
from ezlang.run.role import RoleStats
from session_run import HarnessError

ROLES = ("server", "dealer", "client")
_POLL_SECONDS, _GRACE_SECONDS = 0.05, 2.0
_NAMED_INDEX = re.compile(r"(-?\d+) \([^()]*\)")  # `17 (DMN-RSC)`: a label index with its name


@dataclass(frozen=True)
class SecureRun:
    """One secure run: the client's decoded outputs and what each role measured."""

    outputs: list[np.ndarray]
    stats: dict[str, RoleStats]
    peak_bytes: dict[str, int]
    wall_seconds: float


# ---------------------------------------------------------------- onnxruntime


def reference(model: Path, x: np.ndarray, batch: int) -> tuple[dict[str, np.ndarray], float]:
    """Every graph output on all rows of x (float32, `batch` rows per call), and the median
    seconds of one call (after a first call, which sets the session up)."""
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: x[:batch]})
    chunks, seconds = [], []
    for i in range(0, len(x), batch):
        start = time.perf_counter()
        chunks.append(session.run(None, {name: x[i:i + batch]}))
        seconds.append(time.perf_counter() - start)
    outputs = [out.name for out in session.get_outputs()]
    return ({out: np.concatenate([c[k] for c in chunks]) for k, out in enumerate(outputs)},
            statistics.median(seconds))


# ---------------------------------------------------------------- ezlang


def import_model(model: Path, folder: Path, args: argparse.Namespace) -> tuple[Manifest, float]:
    flags = [text for flag, value in (("--bitlen", args.bitlen), ("--scale", args.scale), ("--labels", args.labels),
                                      ("--calibrate", args.calibrate))
             for text in ([flag, str(value)] if value is not None else [])]
    if args.input_range:
        flags += ["--input-range", *map(str, args.input_range)]
    if args.import_batch:
        flags += ["--batch", str(args.batch)]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ezlang", "import", str(model), "-o", str(folder), *flags],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise HarnessError(f"ezlang import {model} failed (exit {done.returncode}):\n{done.stderr}")
    manifest = read_manifest(folder / "model.ezpc")
    if manifest is None:
        raise HarnessError(f"ezlang import wrote no manifest.json in {folder}")
    return manifest, seconds


def secure_run(folder: Path, manifest: Manifest, rows: np.ndarray, scratch: Path, timeout: float) -> SecureRun:
    """Runs the three roles as processes, as `ezlang run --local` does, but waits for each with
    wait4 so that its peak memory is known."""
    client = scratch / "client.npy"
    np.save(client, rows)
    public = public_inputs(manifest, len(rows), scratch)
    arguments = role_arguments(str(folder / manifest.program), {"server": str(folder / manifest.weights),
                                                                "client": str(client)},
                               public, manifest.bitlen, timeout, scale=manifest.scale)
    start, processes = time.perf_counter(), {}
    for role in ROLES:
        extra = ["--outputs", str(scratch / f"{role}.out"), "--stats-json", str(scratch / f"{role}.json")]
        with open(scratch / f"{role}.err", "w", encoding="utf-8") as stderr:
            processes[role] = subprocess.Popen([sys.executable, "-m", "ezlang", "run", *arguments[role], *extra],
                                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    codes, peaks = _wait(processes)
    wall = time.perf_counter() - start
    failed = [role for role in ROLES if codes[role] != 0]
    if failed:
        logs = "\n".join(f"[{role}, exit {codes[role]}] {(scratch / f'{role}.err').read_text().strip()}"
                         for role in failed)
        raise HarnessError(f"the secure run failed ({', '.join(failed)}):\n{logs}")
    stats = {role: RoleStats.from_json(json.loads((scratch / f"{role}.json").read_text())) for role in ROLES}
    return SecureRun(client_outputs((scratch / "client.out").read_text()), stats, peaks, wall)


def _wait(processes: dict[str, subprocess.Popen]) -> tuple[dict[str, int], dict[str, int]]:
    """Every role's exit code and peak resident bytes; once one fails, the others get a short
    grace to report, then are killed (they would otherwise wait for their peer's timeout)."""
    codes: dict[str, int] = {}
    peaks: dict[str, int] = {}
    failed_at: Optional[float] = None
    while len(codes) < len(processes):
        for role, process in processes.items():
            if role in codes:
                continue
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = codes[role] = os.waitstatus_to_exitcode(status)
                peaks[role] = usage.ru_maxrss * 1024  # Linux reports kilobytes
                if codes[role] != 0 and failed_at is None:
                    failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > _GRACE_SECONDS:
            for role, process in processes.items():
                if role not in codes:
                    process.kill()
        time.sleep(_POLL_SECONDS)
    return codes, peaks


def public_inputs(manifest: Manifest, batch: int, scratch: Path) -> Optional[str]:
    """A public-inputs file when the program reads public inputs: an imported program's only
    one is its batch size (docs/import.md)."""
    public = [entry.name for entry in manifest.inputs if entry.party == "ALL"]
    if not public:
        return None
    path = scratch / "public.json"
    path.write_text(json.dumps({name: batch for name in public}))
    return str(path)


def client_outputs(text: str) -> list[np.ndarray]:
    """The values of the CLIENT section's `name = value` lines, in program order; a label index
    printed with its class name counts as the index."""
    lines = text.splitlines()
    body = lines[lines.index("CLIENT:") + 1:] if "CLIENT:" in lines else lines
    values = []
    for line in body:
        if " = " in line:
            value = _NAMED_INDEX.sub(r"\1", line.split(" = ", 1)[1])
            values.append(np.asarray(json.loads(value), dtype=np.float64))
    return values


# ---------------------------------------------------------------- comparison


def compare(manifest: Manifest, want: dict[str, np.ndarray], got: list[np.ndarray], n: int) -> dict[str, Any]:
    """Logit errors and argmax agreement over the n inputs. Secure outputs pair with onnxruntime's
    by name, else by position (the importer keeps the graph's output order)."""
    names = list(want)
    if len(got) != len(manifest.outputs):
        raise HarnessError(f"the secure run printed {len(got)} outputs; the manifest lists {len(manifest.outputs)}")
    logits, labels = None, None
    errors: list[np.ndarray] = []
    for k, (entry, values) in enumerate(zip(manifest.outputs, got)):
        reference_values = want.get(entry.name, want[names[min(k, len(names) - 1)]])
        if entry.kind == "label":
            labels = values.reshape(n).astype(np.int64)
        else:
            secure = values.reshape(n, -1)
            errors.append(np.abs(secure - reference_values.reshape(n, -1)))
            logits = (secure, reference_values.reshape(n, -1)) if logits is None else logits
    if logits is None:
        raise HarnessError("the model has no logit output to compare (only labels); export its logits too")
    secure_logits, float_logits = logits
    expected = float_logits.argmax(axis=1)
    chosen = labels if labels is not None else secure_logits.argmax(axis=1)
    ranked = np.sort(float_logits, axis=1)
    margins = ranked[:, -1] - ranked[:, -2] if ranked.shape[1] > 1 else np.full(n, np.inf)
    every = np.concatenate([e.reshape(-1) for e in errors])
    result: dict[str, Any] = {
        "inputs": n, "argmax_agreement": int((chosen == expected).sum()),
        "argmax_from": "secure ArgMax output" if labels is not None else "argmax of the secure logits",
        "max_logit_error": float(every.max()), "mean_logit_error": float(every.mean()),
        "max_logit_magnitude": float(np.abs(float_logits).max()),
        "smallest_float_margin": float(margins.min()),
        "disagreements": [{"input": int(i), "onnxruntime": int(expected[i]), "secure": int(chosen[i]),
                           "float_margin": float(margins[i])} for i in np.flatnonzero(chosen != expected)]}
    if labels is not None:
        result["label_equals_argmax_of_secure_logits"] = int((labels == secure_logits.argmax(axis=1)).sum())
    return result


def cost(runs: list[SecureRun], batch: int) -> dict[str, Any]:
    def median(values: list[float]) -> float:
        return float(statistics.median(values))

    def per_role(measure) -> dict[str, float]:
        return {role: median([measure(run, role) for run in runs]) for role in ROLES}

    return {
        "batch": batch, "runs": len(runs),
        "online_seconds": median([run.stats["client"].seconds.get("online", 0.0) for run in runs]),
        "wall_seconds": median([run.wall_seconds for run in runs]),
        "online_rounds": median([run.stats["client"].total("rounds", phase="online", peer="server") for run in runs]),
        "bytes_sent": per_role(lambda run, role: run.stats[role].total("bytes_sent")),
        "dealer_bytes_to": {party: median([run.stats["dealer"].total("bytes_sent", peer=party) for run in runs])
                            for party in ("server", "client")},
        "peak_memory_bytes": per_role(lambda run, role: run.peak_bytes[role])}


def session_cost(run: session_run.SessionRun, batch: int) -> dict[str, Any]:
    """`cost`'s figures per query of one session, medians over the queries after the first, and
    the first query's (which registers the model)."""
    first = run.queries("client")[0]
    return {
        "batch": batch, "runs": len(run.outputs), "session": True,
        "online_seconds": run.median_later("client", lambda query: query["online_s"]),
        "query_seconds": run.median_later("client", lambda query: query["query_s"]),
        "wall_seconds": run.wall_seconds,
        "online_rounds": run.median_later("client", lambda query: query["traffic"]["server"]["rounds"]),
        "bytes_sent": {role: run.median_later(role, session_run.total_bytes_sent) for role in ROLES},
        "dealer_bytes_to": {party: run.median_later("dealer", lambda query, p=party: session_run.bytes_sent(query, p))
                            for party in ("server", "client")},
        "peak_memory_bytes": {role: run.role(role)["peak_memory_bytes"] for role in ROLES},
        "first_query_seconds": first["query_s"],
        "registration_bytes": run.role("server")["session"]["onesided"]["setup_bytes"]}


# ---------------------------------------------------------------- driver


def evaluate(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    x = np.load(args.inputs, allow_pickle=False).astype(np.float32)
    if len(x) < args.n:
        raise HarnessError(f"{args.inputs} holds {len(x)} inputs; --n {args.n} asks for more")
    if args.session and args.n % args.batch:
        raise HarnessError(f"--session runs every query at one batch size: --n {args.n} is not a multiple of "
                           f"--batch {args.batch}")
    x = x[:args.n]
    manifest, import_seconds = import_model(args.model, work / "model", args)
    want, ort_seconds = reference(args.model, x, args.batch)
    runner = session_outputs if args.session else process_outputs
    got, spent = runner(args, manifest, x, work)
    return {"model": str(args.model), "inputs_file": str(args.inputs), "bitlen": manifest.bitlen,
            "scale": manifest.scale, "import_seconds": import_seconds,
            "accuracy": compare(manifest, want, got, args.n), "cost": {**spent, "onnxruntime_seconds": ort_seconds}}


def process_outputs(args: argparse.Namespace, manifest: Manifest, x: np.ndarray,
                    work: Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Three processes per batch of rows: every output over all rows, and the cost per run."""
    runs, outputs = [], []
    for start in range(0, args.n, args.batch):
        scratch = work / f"run{start}"
        scratch.mkdir()
        run = secure_run(work / "model", manifest, x[start:start + args.batch], scratch, args.timeout)
        runs.append(run)
        outputs.append([out.reshape(len(x[start:start + args.batch]), -1) for out in run.outputs])
        if args.progress:
            print(f"  {min(start + args.batch, args.n)}/{args.n} inputs, {run.wall_seconds:.1f} s", file=sys.stderr)
    got = [np.concatenate([chunk[k] for chunk in outputs]) for k in range(len(outputs[0]))]
    return got, cost(runs, args.batch)


def session_outputs(args: argparse.Namespace, manifest: Manifest, x: np.ndarray,
                    work: Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    """One session, one query per batch of rows: every output over all rows, and the cost per query."""
    scratch = work / "session"
    scratch.mkdir()
    files = []
    for start in range(0, args.n, args.batch):
        files.append(scratch / f"query{start // args.batch + 1}.npy")
        np.save(files[-1], x[start:start + args.batch])
    public = public_inputs(manifest, args.batch, scratch)
    run = session_run.query_session(work / "model" / manifest.program, work / "model" / manifest.weights, files,
                                    scratch, bitlen=manifest.bitlen, scale=manifest.scale, timeout=args.timeout,
                                    public_inputs=Path(public) if public else None)
    got = [np.concatenate([query[k].reshape(args.batch, -1) for query in run.outputs])
           for k in range(len(run.outputs[0]))]
    return got, session_cost(run, args.batch)


def render(result: dict[str, Any]) -> str:
    accuracy, spent = result["accuracy"], result["cost"]
    lines = [f"{result['model']} at --bitlen {result['bitlen']} --scale {result['scale']}, "
             f"{accuracy['inputs']} inputs of {result['inputs_file']}:",
             f"  argmax agreement      {accuracy['argmax_agreement']}/{accuracy['inputs']} ({accuracy['argmax_from']})",
             f"  largest logit error   {accuracy['max_logit_error']:.6g} (mean {accuracy['mean_logit_error']:.3g}; "
             f"logits up to {accuracy['max_logit_magnitude']:.3g}, smallest float top-2 margin "
             f"{accuracy['smallest_float_margin']:.3g})"]
    lines += [f"  disagreement on input {d['input']}: onnxruntime {d['onnxruntime']}, secure {d['secure']} "
              f"(float margin {d['float_margin']:.3g})" for d in accuracy["disagreements"]]
    lines += [_cost_line(spent),
              "  sent: " + ", ".join(f"{role} {_size(spent['bytes_sent'][role])}" for role in ROLES) +
              "; dealer to " + ", ".join(f"{p} {_size(v)}" for p, v in spent["dealer_bytes_to"].items()),
              "  peak memory: " + ", ".join(f"{role} {_size(spent['peak_memory_bytes'][role])}" for role in ROLES)]
    return "\n".join(lines)


def _cost_line(spent: dict[str, Any]) -> str:
    onnxruntime_ms = f"onnxruntime {spent['onnxruntime_seconds'] * 1000:.2f} ms"
    if not spent.get("session"):
        return (f"  per secure run of batch {spent['batch']} (medians of {spent['runs']}): online "
                f"{spent['online_seconds']:.3f} s, wall {spent['wall_seconds']:.1f} s, "
                f"{spent['online_rounds']:.0f} rounds; {onnxruntime_ms}")
    return (f"  one session of {spent['runs']} queries of batch {spent['batch']} in {spent['wall_seconds']:.1f} s; "
            f"query 1 (registers {_size(spent['registration_bytes'])}) {spent['first_query_seconds']:.3f} s; "
            f"per later query (medians): online {spent['online_seconds']:.3f} s, whole query "
            f"{spent['query_seconds']:.3f} s, {spent['online_rounds']:.0f} rounds; {onnxruntime_ms}")


def _size(count: float) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= factor:
            return f"{count / factor:.1f} {unit}"
    return f"{count:.0f} B"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the ONNX model")
    parser.add_argument("--inputs", type=Path, required=True, help=".npy batch of inputs (first axis: inputs)")
    parser.add_argument("--n", type=int, default=100, help="how many inputs to compare (default 100)")
    parser.add_argument("--batch", type=int, default=1, help="inputs per secure run (default 1)")
    parser.add_argument("--session", action="store_true",
                        help="run the batches as the queries of one session (`ezlang query --local`): the model "
                             "is registered once, as a served model is")
    parser.add_argument("--import-batch", action="store_true",
                        help="pass --batch to `ezlang import` (for models imported at a fixed batch size)")
    parser.add_argument("--bitlen", type=int, choices=(32, 64), help="passed to `ezlang import`")
    parser.add_argument("--scale", type=int, help="passed to `ezlang import`")
    parser.add_argument("--input-range", nargs=2, type=float, metavar=("LO", "HI"),
                        help="passed to `ezlang import`: every input value lies in [LO, HI]; lets the range "
                             "analysis bound the program, which the rewrite rules need")
    parser.add_argument("--calibrate", help="passed to `ezlang import` (instead of --input-range)")
    parser.add_argument("--labels", help="class names, passed to `ezlang import --labels`")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a role waits for a peer (default 600)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", type=Path, help="keep the imported model and run files in this (new) folder")
    parser.add_argument("--progress", action="store_true", help="print a line per secure run to stderr")
    args = parser.parse_args(argv)
    try:
        if args.keep:
            args.keep.mkdir(parents=True)
            result = evaluate(args, args.keep)
        else:
            with tempfile.TemporaryDirectory(prefix="ezlang-accuracy-") as scratch:
                result = evaluate(args, Path(scratch))
    except HarnessError as error:
        print(f"accuracy: {error}", file=sys.stderr)
        return 1
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
