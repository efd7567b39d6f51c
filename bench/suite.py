"""The benchmark suite of issue 6: every workload served over one session, against its plaintext baseline.

    python bench/suite.py [--quick] [--repeat 5] [--json FILE] [--markdown FILE]

Workloads: the rs-fMRI MLP (109350-200-200-200-58, ReLU, its logits as the only output: the
client takes the argmax itself, as the plaintext baseline does) at batch 1 and batch 100, a
784-128-128-10 MLP, a LeNet-style CNN (examples/fmri/make_cnns.py), the dot product of two
secret int32 vectors of n = 100,000 elements and n = 100,000 secret comparisons
(bench/secure_bench.py's programs). The ONNX models are built with seeded random weights (the
cost does not depend on training) and imported with `ezlang import --bitlen 64 --scale 12
--input-range -1 1 --batch B`; their inputs are seeded uniform values in [-1, 1].

Why sessions: a served model registers its one-sided products (the masked model, sent to the
client) once per session, so a query's price is what it costs after that. Every workload runs
as one session of 1 + --repeat queries with distinct inputs (`ezlang query --local`,
bench/session_run.py: the SERVER holds the weights or the left vector, the CLIENT the inputs).
Query 1 is the one-time setup; the per-query figures are medians over the queries after it.

Reported per workload (docs/performance.md explains every column): the CLIENT's online seconds
and whole-query seconds (its input file read to its outputs decoded); the plaintext baseline
measured in this process in the same run (onnxruntime on the CPU, numpy for the integer
programs; median of at least 25 calls) and both ratios; the online rounds (the client's
counter); query 1's seconds and the registration's bytes and seconds; each `ezlang serve`'s
start-up (compile, then read its inputs); the DEALER's seconds and bytes to SERVER and CLIENT per
query; the online bytes SERVER and CLIENT send per query; each process's peak memory; and the
correctness of every query: argmax agreement with onnxruntime for the models, the exact numpy
result for the integer programs.

--quick shrinks the sizes (rs-fMRI batch 10, n = 10,000, 2 repeats) to check the suite; its
numbers are not the benchmark. The table goes to stdout, every figure unrounded with --json
FILE, and with --markdown FILE the results section of docs/performance.md: the machine (read
here), the command and the table.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "examples" / "fmri")]  # the harnesses and the model builders

import accuracy
import make_cnns
import make_model
import mlp
import secure_bench
import session_run

ROLES = session_run.ROLES
MODEL_BITLEN, MODEL_SCALE, INPUT_RANGE = 64, 12, (-1.0, 1.0)
INTEGER_BITLEN = 32
TIMEOUT_SECONDS = 600.0
PLAINTEXT_MIN_CALLS = 25  # plaintext calls are short: time enough of them for a stable median
SEED = 0


@dataclass(frozen=True)
class Sizes:
    fmri_batch: int
    n: int
    repeat: int


FULL, QUICK = Sizes(fmri_batch=100, n=100_000, repeat=5), Sizes(fmri_batch=10, n=10_000, repeat=2)


@dataclass(frozen=True)
class ModelWorkload:
    """An ONNX model: `build` writes it to the given path; its input is (batch, *shape)."""

    name: str
    build: Callable[[Path], None]
    shape: tuple[int, ...]
    batch: int


@dataclass(frozen=True)
class Baseline:
    """The plaintext side of a workload: what it is, its median seconds per call, and the right
    answer to every query."""

    name: str
    seconds: float
    answers: list[np.ndarray]


# ---------------------------------------------------------------- the models


def build_fmri_mlp(path: Path) -> None:
    layers = mlp.initial_layers((int(np.prod(make_model.synthetic.SHAPE)), *make_model.HIDDEN,
                                 make_model.synthetic.CLASSES), np.random.default_rng(SEED))
    onnx.save(make_model.onnx_model(layers, "logits"), path)


def build_mnist_mlp(path: Path) -> None:
    layers = mlp.initial_layers((784, 128, 128, 10), np.random.default_rng(SEED))
    onnx.save(make_model.onnx_model(layers, "logits", shape=(784,)), path)


def build_lenet(path: Path) -> None:
    rng = np.random.default_rng(SEED)
    conv = make_cnns.lenet_backbone("image", rng)
    head_nodes, head_weights = mlp.onnx_layers(mlp.initial_layers((conv.features, 120, 84, 10), rng),
                                               "features", "logits")
    onnx.save(make_cnns.graph_model("lenet", "image", (1, 28, 28), conv.nodes + head_nodes,
                                    conv.weights + head_weights, "logits", 10), path)


def model_workloads(sizes: Sizes) -> list[ModelWorkload]:
    fmri_shape = make_model.synthetic.SHAPE
    return [ModelWorkload("rs-fMRI MLP", build_fmri_mlp, fmri_shape, 1),
            ModelWorkload("rs-fMRI MLP", build_fmri_mlp, fmri_shape, sizes.fmri_batch),
            ModelWorkload("MLP 784-128-128-10", build_mnist_mlp, (784,), 1),
            ModelWorkload("LeNet CNN", build_lenet, (1, 28, 28), 1)]


# ---------------------------------------------------------------- measuring


def import_arguments(batch: int) -> argparse.Namespace:
    """What accuracy.import_model reads: the flags of `ezlang import`, the batch fixed at import."""
    return argparse.Namespace(bitlen=MODEL_BITLEN, scale=MODEL_SCALE, labels=None, calibrate=None,
                              input_range=INPUT_RANGE, batch=batch, import_batch=True)


def query_files(folder: Path, inputs: list[np.ndarray]) -> list[Path]:
    files = [folder / f"query{k + 1}.npy" for k in range(len(inputs))]
    for path, values in zip(files, inputs):
        np.save(path, values)
    return files


def measure_model(workload: ModelWorkload, repeat: int, work: Path) -> dict[str, Any]:
    """Builds and imports the model (neither is part of a query), then serves 1 + repeat queries."""
    folder = work / f"{workload.name.replace(' ', '_')}_b{workload.batch}"
    folder.mkdir()
    workload.build(folder / "model.onnx")
    manifest, _ = accuracy.import_model(folder / "model.onnx", folder / "imported", import_arguments(workload.batch))
    rng = np.random.default_rng(SEED)
    inputs = [rng.uniform(*INPUT_RANGE, (workload.batch, *workload.shape)).astype(np.float32)
              for _ in range(1 + repeat)]
    baseline = onnxruntime_baseline(folder / "model.onnx", inputs, repeat)
    public = accuracy.public_inputs(manifest, workload.batch, folder)
    run = session_run.query_session(folder / "imported" / manifest.program, folder / "imported" / manifest.weights,
                                    query_files(folder, inputs), folder, bitlen=manifest.bitlen, scale=manifest.scale,
                                    timeout=TIMEOUT_SECONDS, public_inputs=Path(public) if public else None)
    secure = np.concatenate([query[0].reshape(workload.batch, -1) for query in run.outputs])
    return {**summarize(workload.name, f"batch {workload.batch}", run, baseline),
            **argmax_agreement(secure, np.concatenate(baseline.answers))}


def argmax_agreement(secure: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """How many rows' argmax agree, the largest logit error, and each disagreement with
    onnxruntime's top-two margin (random weights on random inputs give close logits: a margin
    below the logit error is a tie the fixed-point rounding may break either way)."""
    chosen, expected = secure.argmax(axis=1), reference.argmax(axis=1)
    ranked = np.sort(reference, axis=1)
    margins = ranked[:, -1] - ranked[:, -2]
    return {"correct": f"argmax {int((chosen == expected).sum())}/{len(expected)}",
            "max_logit_error": float(np.abs(secure - reference).max()),
            "disagreements": [{"row": int(k), "onnxruntime": int(expected[k]), "secure": int(chosen[k]),
                               "float_margin": float(margins[k])} for k in np.flatnonzero(chosen != expected)]}


def onnxruntime_baseline(model: Path, inputs: list[np.ndarray], repeat: int) -> Baseline:
    """The logits of every query, and the median seconds of one call (after a first call, which
    sets the session up), cycling through the queries' inputs."""
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    answers = [session.run(None, {name: values})[0] for values in inputs]
    feeds = itertools.cycle(inputs)
    seconds = secure_bench.median_seconds(lambda: session.run(None, {name: next(feeds)}),
                                          max(repeat, PLAINTEXT_MIN_CALLS))
    return Baseline("onnxruntime", seconds, answers)


def measure_integer(name: str, n: int, repeat: int, work: Path) -> dict[str, Any]:
    """secure_bench's program for `name`: SERVER holds the left vector for the whole session,
    CLIENT sends a new right vector per query."""
    folder = work / name.replace(" ", "_")
    folder.mkdir()
    rng = np.random.default_rng(SEED)
    left = rng.integers(-2**20, 2**20, n, dtype=np.int32)
    rights = [rng.integers(-2**20, 2**20, n, dtype=np.int32) for _ in range(1 + repeat)]
    (folder / "program.ezpc").write_text(secure_bench.PROGRAMS[name].format(n=n))
    np.save(folder / "server.npy", left)
    answers = [np.asarray(secure_bench.plaintext(name, left, right)(), dtype=np.float64) for right in rights]
    seconds = secure_bench.median_seconds(secure_bench.plaintext(name, left, rights[0]),
                                          max(repeat, PLAINTEXT_MIN_CALLS))
    run = session_run.query_session(folder / "program.ezpc", folder / "server.npy", query_files(folder, rights),
                                    folder, bitlen=INTEGER_BITLEN, scale=MODEL_SCALE, timeout=TIMEOUT_SECONDS)
    exact = sum(int(np.array_equal(query[0], want)) for query, want in zip(run.outputs, answers))
    return {**summarize(name, f"n={n}", run, Baseline("numpy", seconds, answers)),
            "correct": f"exact {exact}/{len(rights)}"}


def summarize(name: str, size: str, run: session_run.SessionRun, baseline: Baseline) -> dict[str, Any]:
    """One row but its correctness: the steady price of a query (medians over queries 2..), the
    one-time setup, the plaintext."""
    online_s = run.median_later("client", lambda query: query["online_s"])
    query_s = run.median_later("client", lambda query: query["query_s"])
    first = run.queries("client")[0]
    registered = {role: run.role(role)["session"]["onesided"] for role in ("server", "client")}
    return {
        "workload": name, "size": size, "queries": len(run.outputs),
        "online_s": online_s, "query_s": query_s,
        "rounds": run.median_later("client", lambda query: query["traffic"]["server"]["rounds"]),
        "first_query_s": first["query_s"], "first_query_online_s": first["online_s"],
        "registration": {"slots": registered["server"]["slots"], "bytes": registered["server"]["setup_bytes"],
                         "server_s": registered["server"]["setup_s"], "client_s": registered["client"]["setup_s"]},
        "startup": {role: run.role(role)["startup"] for role in ROLES},
        "dealer_s": run.median_later("dealer", lambda query: query["online_s"] + query["offline_s"]),
        "dealer_bytes": {party: run.median_later("dealer", lambda query, p=party: session_run.bytes_sent(query, p))
                         for party in ("server", "client")},
        "online_bytes_sent": {role: run.median_later(role, session_run.online_bytes_sent)
                              for role in ("server", "client")},
        "peak_memory_bytes": {role: run.role(role)["peak_memory_bytes"] for role in ROLES},
        "session_wall_s": run.wall_seconds,
        "baseline": baseline.name, "plaintext_s": baseline.seconds,
        "online_ratio": online_s / baseline.seconds, "query_ratio": query_s / baseline.seconds}


# ---------------------------------------------------------------- the table and the machine


COLUMNS = ("workload", "size", "online ms", "query ms", "plain ms", "online/plain", "query/plain", "rounds",
           "query 1 ms", "registration", "start-up s S/D", "dealer ms", "dealer MB to S/C", "online MB S/C",
           "peak MB S/C/D", "correct")


def cells(row: dict[str, Any]) -> tuple[str, ...]:
    def joined(values: list[float], form: str) -> str:
        return "/".join(format(value, form) for value in values)

    startup = [sum(row["startup"][role].values()) for role in ("server", "dealer")]
    registration = row["registration"]
    return (row["workload"], row["size"], f"{row['online_s'] * 1e3:.1f}", f"{row['query_s'] * 1e3:.1f}",
            f"{row['plaintext_s'] * 1e3:.3f} ({row['baseline']})", f"{row['online_ratio']:.1f}x",
            f"{row['query_ratio']:.1f}x", f"{row['rounds']:.0f}", f"{row['first_query_s'] * 1e3:.0f}",
            f"{registration['bytes'] / 1e6:.1f} MB, {registration['server_s'] * 1e3:.0f} ms" if registration["slots"]
            else "-",
            joined(startup, ".1f"), f"{row['dealer_s'] * 1e3:.1f}",
            joined([row["dealer_bytes"][p] / 1e6 for p in ("server", "client")], ".2f"),
            joined([row["online_bytes_sent"][r] / 1e6 for r in ("server", "client")], ".3f"),
            joined([row["peak_memory_bytes"][r] / 1e6 for r in ROLES], ".0f"), row["correct"])


def table(rows: list[dict[str, Any]]) -> str:
    lines = [COLUMNS] + [cells(row) for row in rows]
    widths = [max(len(line[k]) for line in lines) for k in range(len(COLUMNS))]
    text = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(text)


def machine() -> dict[str, str]:
    """What the numbers were measured on, read from this machine."""
    return {"cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
            "cores": str(os.cpu_count()), "memory": _memory(), "os": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "onnxruntime": onnxruntime.__version__,
            "ezlang": _ezlang_version(), "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes")}


def _proc_field(path: str, name: str) -> str | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == name), None)


def _memory() -> str:
    total = _proc_field("/proc/meminfo", "MemTotal")  # "16303412 kB"
    return f"{int(total.split()[0]) / 2**20:.1f} GiB" if total else "unknown"


def _ezlang_version() -> str:
    version = importlib.metadata.version("ezlang")
    described = subprocess.run(["git", "-C", str(BENCH.parent), "describe", "--always", "--dirty"],
                               capture_output=True, text=True, check=False)
    return f"{version} (git {described.stdout.strip()})" if described.returncode == 0 else version


def markdown(rows: list[dict[str, Any]], about: dict[str, str], command: str, quick: bool) -> str:
    title = "Quick run (small sizes; NOT the benchmark)" if quick else "Full run"
    return "\n".join([
        f"### {title}, {about['date']}", "",
        (f"Machine: {about['cpu']}, {about['cores']} cores, {about['memory']} RAM; {about['os']}; Python "
         f"{about['python']}, numpy {about['numpy']}, onnxruntime {about['onnxruntime']}, ezlang {about['ezlang']}."),
        "", f"Command: `{command}`", "", table(rows), ""])


# ---------------------------------------------------------------- driver


def measure_all(sizes: Sizes, repeat: int, work: Path) -> list[dict[str, Any]]:
    rows = []
    for workload in model_workloads(sizes):
        rows.append(measure_model(workload, repeat, work))
        print(f"  measured {workload.name}, batch {workload.batch}", file=sys.stderr)
    for name in secure_bench.PROGRAMS:
        rows.append(measure_integer(name, sizes.n, repeat, work))
        print(f"  measured {name}, n={sizes.n}", file=sys.stderr)
    return rows


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give at least 1 (query 1 registers the model; the figures "
                                         "are over the queries after it)")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and 2 repeats: checks the suite")
    parser.add_argument("--repeat", type=_positive, help="queries per session after the first (default 5; 2 with "
                                                         "--quick)")
    parser.add_argument("--json", type=Path, help="also write the machine and the rows as JSON to this file")
    parser.add_argument("--markdown", type=Path, help="also write docs/performance.md's results section to this file")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    repeat = args.repeat or sizes.repeat
    try:
        with tempfile.TemporaryDirectory(prefix="ezlang-suite-") as scratch:
            rows = measure_all(sizes, repeat, Path(scratch))
    except session_run.HarnessError as error:
        print(f"suite: {error}", file=sys.stderr)
        return 1
    about, command = machine(), " ".join(["python bench/suite.py", *(argv if argv is not None else sys.argv[1:])])
    print((f"QUICK RUN (small sizes, {repeat} repeats; not the benchmark)\n" if args.quick else "") + table(rows))
    if args.json:
        document = {"quick": args.quick, "repeat": repeat, "command": command, "machine": about, "rows": rows}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown(rows, about, command, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
