"""The importer from end to end, and the files it writes: model.ezpc, model.weights, manifest.json
(and public.json, the run-time batch size, when the model's batch is dynamic).

Why one module: the format (scale and bit width) depends on the program text, the text on the
format, and the manifest on both; this is where the steps meet. Format: given flags win; with
declared or calibrated input ranges, ezlang.passes.ranges_format.choose_format picks the smallest
ring and the largest scale at which the range analysis proves that nothing overflows (the
program is emitted with `fixed` for that, then again with `fixed<S>`); without input ranges,
nothing can be proved, and the defaults (--bitlen 32, --scale 12) are used.

Assumes: an ONNX file and ImportOptions. Guarantees: a Bundle whose program checks at its bit
width, whose weights file holds every SERVER input of the program under its name, and whose
manifest describes both; `write_bundle` leaves the directory with the complete new files or,
on failure, untouched. Errors are ImportFailure (E08xx).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ezlang.manifest import FILE_NAME, Manifest, TensorEntry
from ezlang.onnx_import.emit import Format, Header, emit, rounded_out
from ezlang.onnx_import.errors import BAD_CALIBRATION, BAD_LABELS, NO_FORMAT, UNSUPPORTED_SHAPE, ImportFailure
from ezlang.onnx_import.fold import fold
from ezlang.onnx_import.library import Library, standard_library
from ezlang.onnx_import.lower import lower
from ezlang.onnx_import.plan import Plan
from ezlang.onnx_import.read import read_model
from ezlang.weights import WeightTensor, encode_weights

DEFAULT_BITLEN, DEFAULT_SCALE = 32, 12
PROGRAM, WEIGHTS, PUBLIC = "model.ezpc", "model.weights", "public.json"
_INT32_LIMIT = 1 << 31


@dataclass(frozen=True)
class ImportOptions:
    batch: Optional[int] = None  # fix a dynamic batch dimension at import time
    max_batch: int = 1024  # the largest run-time batch a dynamic program accepts
    bitlen: Optional[int] = None
    scale: Optional[int] = None
    calibrate: Optional[Path] = None  # .npy/.npz of representative CLIENT inputs
    input_range: Optional[tuple[float, float]] = None  # declared range of every CLIENT input
    labels: Optional[Path] = None  # class names: one per line, or a .csv column
    labels_column: Optional[str] = None
    argmax: bool = False  # output each output's ArgMax (the class index) instead of logits


@dataclass(frozen=True)
class Bundle:
    program: str
    weights: bytes
    manifest: Manifest
    public: Optional[str]  # public.json, when the batch is chosen at run time
    format_reason: str  # why this scale and bit width


def import_model(path: str | Path, options: ImportOptions = ImportOptions()) -> Bundle:
    path = Path(path)
    graph = read_model(path, batch=options.batch)
    library = standard_library()
    plan = fold(lower(graph, reserved=library.signatures, argmax=options.argmax))
    _check_batch_limit(plan, options.max_batch)
    header = Header(path.name, graph.opset, _input_ranges(plan, options), options.max_batch)
    labels = _labels(options, plan)
    fmt, reason = _format(plan, library, header, options)
    text = emit(plan, library, fmt, header)
    _must_check(text, fmt)
    scale = fmt.scale if fmt.scale is not None else DEFAULT_SCALE
    weights = encode_weights([WeightTensor(w.var, w.values.astype(np.float32), scale) for w in plan.weights()])
    public = json.dumps({"batch": 1}) + "\n" if plan.batched else None
    return Bundle(text, weights, _manifest(plan, fmt, labels), public, reason)


def write_bundle(bundle: Bundle, directory: str | Path) -> list[Path]:
    """Write the files into `directory` (created if needed); each file appears whole or not at
    all, and none is replaced unless all were written. Other files in `directory` are kept."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {PROGRAM: bundle.program.encode(), WEIGHTS: bundle.weights, FILE_NAME: bundle.manifest.to_json().encode()}
    if bundle.public is not None:
        files[PUBLIC] = bundle.public.encode()
    staging = Path(tempfile.mkdtemp(prefix=".ezlang-import-", dir=directory))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        for name in files:
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [directory / name for name in files]


# ---------------------------------------------------------------- format


def _format(plan: Plan, library: Library, header: Header, options: ImportOptions) -> tuple[Format, str]:
    from ezlang.passes.ranges_format import choose_format
    from ezlang.source import SourceFile

    if options.bitlen is not None and options.scale is not None:
        return Format(options.scale, options.bitlen), f"--bitlen {options.bitlen} --scale {options.scale} as given"
    if any(item.tensor.var not in header.input_ranges for item in plan.inputs):
        fmt = Format(options.scale if options.scale is not None else DEFAULT_SCALE, options.bitlen or DEFAULT_BITLEN)
        return fmt, (f"--bitlen {fmt.bitlen} --scale {fmt.scale}: the inputs have no declared range, so the range "
                     "analysis cannot choose (give --calibrate or --input-range)")
    text = emit(plan, library, Format(None, options.bitlen or 64), header)
    bounds = dict(min_scale=options.scale, max_scale=options.scale) if options.scale is not None else {}
    choice = choose_format(SourceFile(PROGRAM, text), bitlens=(options.bitlen,) if options.bitlen else (32, 64),
                           **bounds)
    if not choice.fits:
        raise ImportFailure(NO_FORMAT, choice.reason,
                            help="declare a tighter input range (--input-range), or give --bitlen and --scale")
    return Format(choice.scale, choice.bitlen), choice.reason


def _must_check(text: str, fmt: Format) -> None:
    """The generated program checks; if not, that is a bug of the importer or the library. It is
    checked at a default scale other than its own, so that a `fixed` left without `<S>` shows."""
    from ezlang.diagnostics import render_text
    from ezlang.passes.pipeline import check_source
    from ezlang.source import SourceFile

    other = DEFAULT_SCALE + 1 if fmt.scale == DEFAULT_SCALE else DEFAULT_SCALE
    result = check_source(SourceFile(PROGRAM, text), bitlen=fmt.bitlen, scale=other)
    if result.program is None:
        shown = "\n".join(render_text(d) for d in result.diagnostics.errors()[:3])
        raise RuntimeError(f"the generated program does not check (a bug of the importer):\n{shown}")


def _check_batch_limit(plan: Plan, max_batch: int) -> None:
    tensors = [item.tensor for item in plan.inputs] + [call.output for call in plan.calls]
    for tensor in tensors:
        size = tensor.size
        elements = size.factor * (max_batch if size.batched else 1)
        if elements >= _INT32_LIMIT:
            raise ImportFailure(UNSUPPORTED_SHAPE, f"tensor `{tensor.var}` would have {elements} elements, beyond "
                                                   "the int32 indices of the program",
                                help="lower --max-batch, or fix the batch with --batch")


# ---------------------------------------------------------------- inputs, labels, manifest


def _input_ranges(plan: Plan, options: ImportOptions) -> dict[str, tuple[float, float]]:
    if options.input_range is not None:
        return {item.tensor.var: options.input_range for item in plan.inputs}
    if options.calibrate is None:
        return {}
    samples = _calibration(options.calibrate, plan)
    ranges = {}
    for item in plan.inputs:
        values = samples.get(item.name, samples.get(item.tensor.var))
        if values is None:
            raise ImportFailure(BAD_CALIBRATION, f"{options.calibrate} has no samples for input `{item.name}` "
                                                 f"(it has {', '.join(sorted(samples)) or 'nothing'})")
        ranges[item.tensor.var] = rounded_out(float(values.min()), float(values.max()))
    return ranges


def _calibration(path: Path, plan: Plan) -> dict[str, np.ndarray]:
    try:
        if path.suffix == ".npy":
            if len(plan.inputs) != 1:
                raise ImportFailure(BAD_CALIBRATION, f"{path}: a .npy file holds samples of one input; the model "
                                                     f"has {len(plan.inputs)}: give a .npz keyed by input name")
            arrays = {plan.inputs[0].name: np.load(path, allow_pickle=False)}
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        else:
            raise ImportFailure(BAD_CALIBRATION, f"{path}: calibration inputs must be a .npy or .npz file")
    except (OSError, ValueError) as error:
        raise ImportFailure(BAD_CALIBRATION, f"{path}: cannot read it: {error}") from None
    for name, values in arrays.items():
        if values.dtype.kind not in "iuf" or values.size == 0 or not np.isfinite(values).all():
            raise ImportFailure(BAD_CALIBRATION, f"{path}: `{name}` must be a non-empty array of finite numbers")
    return arrays


def _labels(options: ImportOptions, plan: Plan) -> tuple[str, ...]:
    if options.labels is None:
        return ()
    labels = read_labels(options.labels, options.labels_column)
    classes = _classes(plan)
    if classes is not None and classes != len(labels):
        raise ImportFailure(BAD_LABELS, f"{options.labels} gives {len(labels)} labels but the model has "
                                        f"{classes} classes")
    return labels


def read_labels(path: Path, column: Optional[str] = None) -> tuple[str, ...]:
    """One label per non-empty line; from a .csv, the distinct values of `column` (default: the
    first column whose header contains "name") in order of first appearance."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ImportFailure(BAD_LABELS, f"{path}: cannot read it: {error}") from None
    if path.suffix.lower() != ".csv":
        return tuple(line.strip() for line in text.splitlines() if line.strip())
    rows = list(csv.DictReader(text.splitlines()))
    headers = list(rows[0]) if rows else []
    chosen = column or next((h for h in headers if h and "name" in h.lower()), None)
    if chosen not in headers:
        raise ImportFailure(BAD_LABELS, f"{path}: no column {chosen!r}" if chosen else
                            f"{path}: no column header contains \"name\"", notes=[f"columns: {headers}"],
                            help="choose the column with --labels-column")
    values = [row[chosen].strip() for row in rows if row[chosen] and row[chosen].strip()]
    return tuple(dict.fromkeys(values))


def _classes(plan: Plan) -> Optional[int]:
    if not plan.outputs:
        return None
    out = plan.outputs[0]
    if out.kind == "label":
        producer = next(call for call in plan.calls if call.output.var == out.tensor.var)
        return producer.arg("M").static  # type: ignore[union-attr]
    last = out.tensor.shape[-1] if out.tensor.shape else None
    return None if last is None or last.batched else last.factor


def _manifest(plan: Plan, fmt: Format, labels: tuple[str, ...]) -> Manifest:
    inputs = [TensorEntry(i.tensor.var, tuple(d.json() for d in i.tensor.shape), party="CLIENT") for i in plan.inputs]
    if plan.batched:
        inputs.insert(0, TensorEntry("batch", (), party="ALL"))
    outputs = tuple(TensorEntry(o.tensor.var, tuple(d.json() for d in o.tensor.shape), kind=o.kind)
                    for o in plan.outputs)
    scale = fmt.scale if fmt.scale is not None else DEFAULT_SCALE
    first = plan.inputs[0].tensor.shape[:1] if plan.inputs else ()
    batch = "dynamic" if plan.batched else (first[0].factor if first else 1)
    return Manifest(plan.model, tuple(inputs), outputs, scale, fmt.bitlen, batch, labels, PROGRAM, WEIGHTS)

