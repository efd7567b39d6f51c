"""The benchmark suite of issue 6: every workload secure against its plaintext baseline, in one run.

    python bench/suite.py [--quick] [--repeat 5] [--json FILE]

Workloads: the rs-fMRI MLP (109350-200-200-200-58, ReLU) at batch 1 and batch 100, a
784-128-128-10 MLP, a LeNet-style CNN (examples/fmri/make_cnns.py), the dot product of two
secret int32 vectors of n = 100,000 elements and n = 100,000 secret comparisons
(bench/secure_bench.py's programs). The ONNX models are built with seeded random weights (the
cost does not depend on training) and imported with `ezlang import --bitlen 64 --scale 12
--input-range -1 1`; their inputs are seeded uniform values in [-1, 1].

Every secure run is three processes on loopback (SERVER holds the weights, CLIENT the input,
DEALER the correlated randomness), run as bench/accuracy.py runs them so that each role's peak
memory is known. Per workload, medians over --repeat runs: the client's online seconds, the
set-up seconds, the dealer's seconds and bytes (per query), the online bytes each role sent, the
online rounds, each role's peak memory (an upper bound only, marked <=, where it does not exceed
this process's own peak: Linux starts a child's count from its parent's); and, measured in the same process and run, the
plaintext baseline (onnxruntime on the CPU for the models, numpy for the dot product and the
comparisons) with the ratio online / plaintext. For the models the argmax of the secure logits
(or the secure ArgMax label) is checked against onnxruntime's on the batch.

--quick shrinks the sizes (rs-fMRI batch 10 instead of 100, n = 10,000) and runs each workload
once, to check the suite in about two minutes; its numbers are not the benchmark. The table goes
to stdout, the rows with --json to FILE (docs/performance.md explains every column).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
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

from ezlang.manifest import Manifest, TensorEntry

ROLES = accuracy.ROLES
MODEL_BITLEN, MODEL_SCALE, INPUT_RANGE = 64, 12, (-1.0, 1.0)
INTEGER_BITLEN = 32
TIMEOUT_SECONDS = 600.0
PLAINTEXT_MIN_CALLS = 25  # plaintext calls are short: time enough of them for a stable median
SEED = 0


@dataclass(frozen=True)
class Sizes:
    fmri_batch: int
    n: int


FULL, QUICK = Sizes(fmri_batch=100, n=100_000), Sizes(fmri_batch=10, n=10_000)


@dataclass(frozen=True)
class ModelWorkload:
    """An ONNX model: `build` writes it to the given path; its input is (batch, *shape)."""

    name: str
    build: Callable[[Path], None]
    shape: tuple[int, ...]
    batch: int


# ---------------------------------------------------------------- the models


def build_fmri_mlp(path: Path) -> None:
    layers = mlp.initial_layers((int(np.prod(make_model.synthetic.SHAPE)), *make_model.HIDDEN,
                                 make_model.synthetic.CLASSES), np.random.default_rng(SEED))
    onnx.save(make_model.onnx_model(layers, "both"), path)


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
    """What accuracy.import_model reads: the flags of `ezlang import`."""
    return argparse.Namespace(bitlen=MODEL_BITLEN, scale=MODEL_SCALE, labels=None, calibrate=None,
                              input_range=INPUT_RANGE, batch=batch, import_batch=False)


def secure_runs(folder: Path, manifest: Manifest, rows: np.ndarray, repeat: int, work: Path) -> list[accuracy.SecureRun]:
    runs = []
    for index in range(repeat):
        scratch = work / f"run{index}"
        scratch.mkdir()
        runs.append(accuracy.secure_run(folder, manifest, rows, scratch, TIMEOUT_SECONDS))
    return runs


def measure_model(workload: ModelWorkload, repeat: int, work: Path, imported: dict[str, tuple[Path, Manifest]]) -> dict[str, Any]:
    """Imports the model once per name (the import is not part of a query), then runs the batch."""
    if workload.name not in imported:
        folder = work / workload.name.replace(" ", "_")
        folder.mkdir()
        workload.build(folder / "model.onnx")
        manifest, _ = accuracy.import_model(folder / "model.onnx", folder / "imported", import_arguments(1))
        imported[workload.name] = (folder, manifest)
    folder, manifest = imported[workload.name]
    rows = np.random.default_rng(SEED).uniform(*INPUT_RANGE, (workload.batch, *workload.shape)).astype(np.float32)
    want, _ = accuracy.reference(folder / "model.onnx", rows, workload.batch)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: rows}
    session.run(None, feed)  # the first call sets the session up
    plaintext_s = secure_bench.median_seconds(lambda: session.run(None, feed), max(repeat, PLAINTEXT_MIN_CALLS))
    run_folder = work / f"{folder.name}_b{workload.batch}"
    run_folder.mkdir()
    runs = secure_runs(folder / "imported", manifest, rows, repeat, run_folder)
    got = [out.reshape(workload.batch, -1) for out in runs[0].outputs]
    agreement = accuracy.compare(manifest, want, got, workload.batch)["argmax_agreement"]
    return summarize(workload.name, f"batch {workload.batch}", runs, "onnxruntime", plaintext_s,
                     f"{agreement}/{workload.batch}")


def measure_integer(name: str, n: int, repeat: int, work: Path) -> dict[str, Any]:
    """secure_bench's program for `name`, SERVER holding the left vector and CLIENT the right."""
    folder = work / name.replace(" ", "_")
    folder.mkdir()
    rng = np.random.default_rng(SEED)
    left = rng.integers(-2**20, 2**20, n, dtype=np.int32)
    right = rng.integers(-2**20, 2**20, n, dtype=np.int32)
    (folder / "program.ezpc").write_text(secure_bench.PROGRAMS[name].format(n=n))
    np.save(folder / "server.npy", left)
    manifest = Manifest(model=name, inputs=(TensorEntry("w", (n,), "SERVER"), TensorEntry("x", (n,), "CLIENT")),
                        outputs=(TensorEntry("result", ()),), scale=MODEL_SCALE, bitlen=INTEGER_BITLEN, batch=1,
                        program="program.ezpc", weights="server.npy")
    runs = secure_runs(folder, manifest, right, repeat, folder)
    plaintext_s = secure_bench.median_seconds(secure_bench.plaintext(name, left, right), max(repeat, PLAINTEXT_MIN_CALLS))
    return summarize(name, f"n={n}", runs, "numpy", plaintext_s, None)


def summarize(name: str, size: str, runs: list[accuracy.SecureRun], baseline: str, plaintext_s: float,
              argmax: str | None) -> dict[str, Any]:
    def median(pick: Callable[[accuracy.SecureRun], float]) -> float:
        return float(statistics.median(pick(run) for run in runs))

    online_s = median(lambda run: run.stats["client"].seconds.get("online", 0.0))
    return {
        "workload": name, "size": size, "repeats": len(runs),
        "online_s": online_s,
        "setup_s": median(lambda run: max(run.stats[r].seconds.get("setup", 0.0) for r in ("server", "client"))),
        "dealer_s": median(lambda run: sum(run.stats["dealer"].seconds.get(p, 0.0) for p in ("setup", "online"))),
        "dealer_bytes": median(lambda run: run.stats["dealer"].total("bytes_sent")),
        "online_bytes_sent": {role: median(lambda run, role=role: run.stats[role].total("bytes_sent", phase="online"))
                              for role in ROLES},
        "rounds": median(lambda run: run.stats["client"].total("rounds", phase="online", peer="server")),
        "peak_memory_bytes": {role: median(lambda run, role=role: run.peak_bytes[role]) for role in ROLES},
        "peak_memory_floor_bytes": parent_peak_bytes(),
        "wall_s": median(lambda run: run.wall_seconds),
        "baseline": baseline, "plaintext_s": plaintext_s,
        "ratio": online_s / plaintext_s if plaintext_s else None,
        "argmax_agreement": argmax}


def parent_peak_bytes() -> int:
    """This process's peak resident bytes. Linux counts a forked child's peak from its parent's
    peak at the fork, so a role's measured peak at or below this number only says "at most this"."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kilobytes


# ---------------------------------------------------------------- the table


COLUMNS = ("workload", "size", "online ms", "plain ms", "ratio", "rounds", "setup ms", "dealer ms", "dealer MB",
           "online MB S/C/D", "peak MB S/C/D", "argmax")


def table(rows: list[dict[str, Any]]) -> str:
    def megabytes(by_role: dict[str, float], floor: float = 0.0) -> str:
        return "/".join(("<=" if by_role[role] <= floor else "") + f"{by_role[role] / 1e6:.1f}"
                        for role in ("server", "client", "dealer"))

    cells = [COLUMNS] + [(row["workload"], row["size"], f"{row['online_s'] * 1e3:.1f}",
                          f"{row['plaintext_s'] * 1e3:.3f} ({row['baseline']})", f"{row['ratio']:.1f}x",
                          f"{row['rounds']:.0f}", f"{row['setup_s'] * 1e3:.1f}", f"{row['dealer_s'] * 1e3:.1f}",
                          f"{row['dealer_bytes'] / 1e6:.2f}", megabytes(row["online_bytes_sent"]),
                          megabytes(row["peak_memory_bytes"], row["peak_memory_floor_bytes"]),
                          row["argmax_agreement"] or "-") for row in rows]
    widths = [max(len(line[k]) for line in cells) for k in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |" for line in cells]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each: checks the suite")
    parser.add_argument("--repeat", type=int, help="secure runs per workload (default 5; 1 with --quick)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    repeat = args.repeat or (1 if args.quick else 5)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="ezlang-suite-") as scratch:
            work, imported = Path(scratch), {}
            for workload in model_workloads(sizes):
                rows.append(measure_model(workload, repeat, work, imported))
                print(f"  measured {workload.name}, batch {workload.batch}", file=sys.stderr)
            for name in secure_bench.PROGRAMS:
                rows.append(measure_integer(name, sizes.n, repeat, work))
                print(f"  measured {name}, n={sizes.n}", file=sys.stderr)
    except accuracy.HarnessError as error:
        print(f"suite: {error}", file=sys.stderr)
        return 1
    print(("QUICK RUN (small sizes, 1 repeat; not the benchmark)\n" if args.quick else "") + table(rows))
    if args.json:
        args.json.write_text(json.dumps({"quick": args.quick, "repeat": repeat, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
