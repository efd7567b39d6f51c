"""The .weights format (round trip and every corruption error) and the input files an imported
model takes: .weights, NIfTI volumes, and arrays of any shape for flat inputs."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import nibabel
import numpy as np
import pytest

from ezlang.inputs import InputError, InputSource, load_inputs
from ezlang.interp import InterpError, interpret
from ezlang.passes.fixed_pipeline import prepare
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role
from ezlang.weights import MAGIC, WeightTensor, WeightsError, decode_weights, encode_weights, read_weights

TENSORS = [WeightTensor("w", np.arange(6, dtype=np.float32).reshape(2, 3) / 7, 12),
           WeightTensor("b", np.array([-1.5, 0.25], dtype=np.float32), 12),
           WeightTensor("empty", np.zeros((0, 4), dtype=np.float32), 12)]


def test_round_trip_keeps_names_shapes_and_values(tmp_path: Path) -> None:
    path = tmp_path / "model.weights"
    path.write_bytes(encode_weights(TENSORS))
    loaded = read_weights(path)
    assert list(loaded) == ["w", "b", "empty"]
    for tensor in TENSORS:
        assert loaded[tensor.name].dtype == np.float32
        np.testing.assert_array_equal(loaded[tensor.name], tensor.values)


def test_layout_header_and_alignment() -> None:
    data = encode_weights(TENSORS)
    (length,) = struct.unpack_from("<I", data, len(MAGIC))
    header = json.loads(data[len(MAGIC) + 4:len(MAGIC) + 4 + length])
    payload = data[len(MAGIC) + 4 + length:]
    assert (len(MAGIC) + 4 + length) % 16 == 0
    assert header["sha256"] == hashlib.sha256(payload).hexdigest()
    assert header["tensors"][1] == {"name": "b", "shape": [2], "dtype": "float32", "scale": 12, "offset": 24,
                                    "nbytes": 8}


def _header_and_payload(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack_from("<I", data, len(MAGIC))
    return json.loads(data[len(MAGIC) + 4:len(MAGIC) + 4 + length]), data[len(MAGIC) + 4 + length:]


def _with_header(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(raw)) + raw + payload


def _corrupt(kind: str) -> bytes:
    data = encode_weights(TENSORS)
    header, payload = _header_and_payload(data)
    if kind == "magic":
        return b"EZLWGT2\n" + data[len(MAGIC):]
    if kind == "short":
        return data[:len(MAGIC) + 2]
    if kind == "header-length":
        return MAGIC + struct.pack("<I", 10_000) + data[len(MAGIC) + 4:]
    if kind == "json":
        return MAGIC + struct.pack("<I", 3) + b"{x}" + payload
    if kind == "dtype":
        header["tensors"][0]["dtype"] = "float64"
        return _with_header(header, payload)
    if kind == "nbytes":
        header["tensors"][0]["nbytes"] = 20
        return _with_header(header, payload)
    if kind == "truncated":
        return data[:-4]
    flipped = bytearray(data)
    flipped[-5] ^= 1
    return bytes(flipped)


@pytest.mark.parametrize("kind, code, message", [
    ("magic", "E0640", "m.weights is not a weights file (it does not start with b'EZLWGT1\\n'); `ezlang import` "
                       "writes them"),
    ("short", "E0641", "m.weights: the file ends inside its header length"),
    ("header-length", "E0641", "m.weights: the header is 10000 bytes but only "),
    ("json", "E0642", "m.weights: the header is not UTF-8 JSON: "),
    ("dtype", "E0642", "m.weights: tensor 0 (`w`): dtype 'float64' is not float32"),
    ("nbytes", "E0641", "m.weights: tensor 0 (`w`): 20 bytes do not hold shape [2, 3] of float32 (24 bytes)"),
    ("truncated", "E0641", "m.weights: tensor `b` ends at payload byte 32 but the payload has 28 bytes: "),
    ("flipped", "E0643", "m.weights: the payload's SHA-256 does not match the header: the file is corrupted"),
])
def test_corruption_is_reported_with_the_file_name(kind: str, code: str, message: str) -> None:
    with pytest.raises(WeightsError) as caught:
        decode_weights(_corrupt(kind), "m.weights")
    assert caught.value.code == code
    assert caught.value.message.startswith(message)


def test_load_inputs_reads_weights_and_reports_errors_as_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "model.weights"
    path.write_bytes(encode_weights(TENSORS))
    assert isinstance(load_inputs(path), InputSource)
    path.write_bytes(_corrupt("flipped"))
    with pytest.raises(InputError) as caught:
        load_inputs(path)
    assert caught.value.code == "E0643" and str(path) in caught.value.message


PROGRAM = """def void main() {
  input(CLIENT, x, fixed<8>_al[24]);
  output(CLIENT, x)
}
"""


def _echo(source: InputSource) -> list[float]:
    checked = check_source(SourceFile("echo.ezpc", PROGRAM), bitlen=32, scale=8)
    assert checked.program is not None
    prepared = prepare(checked.program, bitlen=32)
    run = prepared.run_result(interpret(prepared.program, prepared.inputs({Role.CLIENT: source})))
    return run.outputs[Role.CLIENT][0].value


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_nifti_volume_feeds_a_flat_input_in_row_major_order(suffix: str, tmp_path: Path) -> None:
    volume = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 12) / 4
    path = tmp_path / f"scan{suffix}"
    nibabel.save(nibabel.Nifti1Image(volume[..., None], np.eye(4)), path)  # a trailing time axis of 1
    assert _echo(load_inputs(path)) == volume.reshape(-1).tolist()


def test_a_nifti_file_with_several_volumes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "series.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.zeros((2, 3, 4, 5), dtype=np.float32), np.eye(4)), path)
    with pytest.raises(InputError) as caught:
        load_inputs(path)
    assert caught.value.code == "E0625"
    assert caught.value.message == (f"cannot read input file {path}: it holds 5 volumes of shape [2][3][4]; "
                                    "the program reads one")


def test_a_broken_nifti_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "scan.nii.gz"
    path.write_bytes(b"garbage")
    with pytest.raises(InputError) as caught:
        load_inputs(path)
    assert caught.value.code == "E0625"


def test_any_array_with_the_element_count_feeds_a_flat_input() -> None:
    values = np.linspace(-1, 1, 24).reshape(1, 2, 3, 4)
    assert _echo(InputSource.from_mapping({"x": values})) == [round(v * 256) / 256 for v in values.reshape(-1)]
    with pytest.raises(InterpError) as caught:
        _echo(InputSource.from_mapping({"x": np.zeros((5, 5))}))
    assert caught.value.diagnostic.code == "E0623"
