"""What the importer tests share: build a one-graph ONNX model with onnx.helper, run it with
onnxruntime (the float reference), and run its import with ezlang (check, prepare, interpret)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.onnx_import import Bundle, ImportOptions, import_model
from ezlang.passes.fixed_pipeline import prepare
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role
from ezlang.weights import decode_weights

Dims = Sequence[Any]  # ints, or a string for a dynamic dimension


def model(nodes: Sequence[onnx.NodeProto], inputs: Mapping[str, Dims], outputs: Sequence[str],
          weights: Mapping[str, np.ndarray] = {}, opset: int = 17, indices: Sequence[str] = ()) -> onnx.ModelProto:
    """A model of `nodes`; `weights` of an integer dtype stay int64 (shapes, axes), others are
    float32; the outputs named in `indices` are int64 (ArgMax)."""
    graph = helper.make_graph(
        list(nodes), "test",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims)) for name, dims in inputs.items()],
        [helper.make_tensor_value_info(name, TensorProto.INT64 if name in indices else TensorProto.FLOAT, None)
         for name in outputs],
        [numpy_helper.from_array(np.asarray(value, dtype=np.int64 if np.asarray(value).dtype.kind == "i"
                                            else np.float32), name) for name, value in weights.items()])
    result = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    result.ir_version = 8  # what onnxruntime reads for these opsets
    return onnx.shape_inference.infer_shapes(result)  # gives the outputs the shapes the checker wants


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: Any) -> onnx.NodeProto:
    return helper.make_node(op, list(inputs), list(outputs), name=f"{op}_{outputs[0]}", **attrs)


def reference(proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()})


@dataclass(frozen=True)
class Imported:
    bundle: Bundle
    outputs: list[np.ndarray]  # in the model's output order, shaped as onnxruntime's


def import_and_run(proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray], folder: Path, *,
                   bitlen: int = 64, scale: int = 16, options: Optional[ImportOptions] = None,
                   batch: Optional[int] = None) -> Imported:
    """Import `proto` at (bitlen, scale) and run the program in the interpreter on `feeds`
    (`batch` is the run-time batch of a dynamic model)."""
    path = folder / "model.onnx"
    onnx.save(proto, str(path))
    chosen = options or ImportOptions(bitlen=bitlen, scale=scale)
    bundle = import_model(path, chosen)
    checked = check_source(SourceFile("model.ezpc", bundle.program), bitlen=bundle.manifest.bitlen,
                           scale=bundle.manifest.scale)
    assert checked.program is not None, [str(d) for d in checked.diagnostics.items]
    prepared = prepare(checked.program, bitlen=bundle.manifest.bitlen)
    client = {entry.name: np.asarray(feeds[onnx_name], dtype=np.float32)
              for entry, onnx_name in zip([e for e in bundle.manifest.inputs if e.party == "CLIENT"], feeds)}
    sources = {Role.SERVER: InputSource.from_mapping(decode_weights(bundle.weights, "model.weights")),
               Role.CLIENT: InputSource.from_mapping(client)}
    if bundle.manifest.batch == "dynamic":
        sources[Role.ALL] = InputSource.from_mapping({"batch": batch})
    run = prepared.run_result(interpret(prepared.program, prepared.inputs(sources)))
    values = [np.asarray(out.value, dtype=np.float64) for out in run.outputs[Role.CLIENT]]
    return Imported(bundle, values)


def assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    """Equal element by element within `tolerance` (absolute), whatever the shapes' nesting."""
    assert actual.size == expected.size, (actual.shape, expected.shape)
    error = np.max(np.abs(actual.reshape(-1) - expected.reshape(-1).astype(np.float64)), initial=0.0)
    assert error <= tolerance, f"largest error {error} > {tolerance}"
