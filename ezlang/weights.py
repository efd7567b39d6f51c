"""The `.weights` file: a model owner's private tensors, in one self-checking binary file.

Why: `ezlang import` strips every weight value out of the program it writes, so the values need
a home that the SERVER can hand to `ezlang run --server-inputs` as it comes, and whose corruption
(a truncated copy, a flipped bit) is caught before a secure run computes garbage with it.

Layout, all integers little-endian:

    magic    8 bytes   b"EZLWGT1\\n"
    length   u32       number of header bytes that follow
    header   UTF-8 JSON {"tensors": [{"name", "shape", "dtype": "float32", "scale", "offset",
                         "nbytes"}, ...], "sha256": hex digest of the payload}, padded with
                         spaces so that the payload starts at a multiple of 16 bytes
    payload  the tensors' float32 values, each row-major (C order), at `offset` bytes from the
             payload's start, `nbytes` = 4 · product of `shape`

`scale` is the number of fractional bits at which the program reads the tensor (the program's
input statement decides the encoding; the field documents it and lets tools show it).

Assumes: names are the program's input names (unique). Guarantees: `read_weights` returns each
tensor as a float32 array of its shape, or raises WeightsError (codes E0640-E0643) naming the
file and what is wrong: the magic, a length, the header, or the checksum.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ezlang.diagnostics import register

MAGIC = b"EZLWGT1\n"
_ALIGN = 16

NOT_WEIGHTS = register("E0640", "not a weights file")
TRUNCATED_WEIGHTS = register("E0641", "weights file truncated or inconsistent")
BAD_WEIGHTS_HEADER = register("E0642", "malformed weights file header")
WEIGHTS_CHECKSUM = register("E0643", "weights file checksum mismatch")


class WeightsError(Exception):
    """A weights file that cannot be used; `code` is one of the E064x codes above."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class WeightTensor:
    """One named tensor of a model: its values and the scale the program reads it at."""

    name: str
    values: np.ndarray
    scale: int


def encode_weights(tensors: Sequence[WeightTensor]) -> bytes:
    """The bytes of a weights file holding `tensors` in the given order."""
    chunks, entries, offset = [], [], 0
    for tensor in tensors:
        data = np.ascontiguousarray(tensor.values, dtype="<f4").tobytes()
        entries.append({"name": tensor.name, "shape": list(tensor.values.shape), "dtype": "float32",
                        "scale": tensor.scale, "offset": offset, "nbytes": len(data)})
        chunks.append(data)
        offset += len(data)
    payload = b"".join(chunks)
    header = json.dumps({"tensors": entries, "sha256": hashlib.sha256(payload).hexdigest()}).encode()
    start = len(MAGIC) + 4 + len(header)
    header += b" " * (-start % _ALIGN)
    return MAGIC + struct.pack("<I", len(header)) + header + payload


def write_weights(path: str | Path, tensors: Sequence[WeightTensor]) -> None:
    Path(path).write_bytes(encode_weights(tensors))


def read_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Name → float32 array of its shape, after checking magic, lengths and checksum."""
    return decode_weights(Path(path).read_bytes(), str(path))


def decode_weights(data: bytes, origin: str) -> dict[str, np.ndarray]:
    if data[:len(MAGIC)] != MAGIC:
        raise WeightsError(NOT_WEIGHTS, f"{origin} is not a weights file (it does not start with "
                                        f"{MAGIC!r}); `ezlang import` writes them")
    if len(data) < len(MAGIC) + 4:
        raise WeightsError(TRUNCATED_WEIGHTS, f"{origin}: the file ends inside its header length")
    (length,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4 + length
    if start > len(data):
        raise WeightsError(TRUNCATED_WEIGHTS, f"{origin}: the header is {length} bytes but only "
                                              f"{len(data) - len(MAGIC) - 4} follow the magic")
    entries, digest = _header(data[len(MAGIC) + 4:start], origin)
    payload = data[start:]
    _check_layout(entries, len(payload), origin)
    if hashlib.sha256(payload).hexdigest() != digest:
        raise WeightsError(WEIGHTS_CHECKSUM, f"{origin}: the payload's SHA-256 does not match the header: "
                                             "the file is corrupted; copy it again from the model owner")
    return {entry["name"]: np.frombuffer(payload, dtype="<f4", count=entry["nbytes"] // 4,
                                         offset=entry["offset"]).reshape(entry["shape"])
            for entry in entries}


def _header(raw: bytes, origin: str) -> tuple[list[dict[str, Any]], str]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(BAD_WEIGHTS_HEADER, f"{origin}: the header is not UTF-8 JSON: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("tensors"), list) \
            or not isinstance(header.get("sha256"), str):
        raise WeightsError(BAD_WEIGHTS_HEADER, f'{origin}: the header must be an object with "tensors" '
                                               f'(a list) and "sha256" (a string)')
    for i, entry in enumerate(header["tensors"]):
        _check_entry(entry, f"{origin}: tensor {i}")
    names = [entry["name"] for entry in header["tensors"]]
    if len(set(names)) != len(names):
        raise WeightsError(BAD_WEIGHTS_HEADER, f"{origin}: a tensor name occurs twice")
    return header["tensors"], header["sha256"]


def _check_entry(entry: Any, where: str) -> None:
    def natural(value: Any) -> bool:
        return type(value) is int and value >= 0

    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise WeightsError(BAD_WEIGHTS_HEADER, f"{where} has no name")
    where = f"{where} (`{entry['name']}`)"
    if entry.get("dtype") != "float32":
        raise WeightsError(BAD_WEIGHTS_HEADER, f"{where}: dtype {entry.get('dtype')!r} is not float32")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(natural(d) for d in shape):
        raise WeightsError(BAD_WEIGHTS_HEADER, f"{where}: shape {shape!r} is not a list of sizes")
    if not all(natural(entry.get(key)) for key in ("offset", "nbytes", "scale")):
        raise WeightsError(BAD_WEIGHTS_HEADER, f"{where}: offset, nbytes and scale must be non-negative integers")
    if entry["nbytes"] != 4 * math.prod(shape):
        raise WeightsError(TRUNCATED_WEIGHTS, f"{where}: {entry['nbytes']} bytes do not hold shape {shape} "
                                              f"of float32 ({4 * math.prod(shape)} bytes)")


def _check_layout(entries: Sequence[Mapping[str, Any]], size: int, origin: str) -> None:
    for entry in entries:
        end = entry["offset"] + entry["nbytes"]
        if end > size:
            raise WeightsError(TRUNCATED_WEIGHTS, f"{origin}: tensor `{entry['name']}` ends at payload byte "
                                                  f"{end} but the payload has {size} bytes: the file is truncated")
        if entry["offset"] % 4:
            raise WeightsError(BAD_WEIGHTS_HEADER, f"{origin}: tensor `{entry['name']}` starts at payload byte "
                                                   f"{entry['offset']}, not a multiple of 4")
