"""Party input files: where the values of `input(R, x, T)` statements come from.

Each party (SERVER, CLIENT, and ALL for public inputs) has one InputSource. A source is
immutable; every run opens a fresh InputReader on it, so one source can feed many runs.

* Keyed sources (.json, .npz, .npy, .weights, .nii/.nii.gz, `from_mapping`) map an input name
  to its value (a .npy or NIfTI file holds one unnamed value). A value one nesting level deeper
  than the input's type is a list with one value per execution of the input statement (an input
  inside a loop). A numpy array with as many elements as a flat (rank 1) input is read in
  row-major order whatever its shape, as imported models declare their tensors flat.
* Sequential sources (plain text, `from_sequence`) are consumed scalar by scalar in program
  order, arrays in row-major order, like EzPC's standard input.

Every value is checked against the input's type and shape. An integer may be written with the
signed or the unsigned spelling of its bits (int32 accepts -2^31 … 2^32 - 1, so 4294967295 is
-1), floats are rejected for integers, bools are true/false/0/1, floats are rounded to single
precision. A fixed-point input (a request whose type has a scale) takes integers or reals and
stores their encoding round(v·2^s) (ezlang.fixed), which must fit the ring; a request with a
declared range rejects values outside it. Programs are run lowered to integers, so the scales
and ranges come from the lowering's Boundary through `at_boundary`. docs/inputs.md is the
user-facing description.

Assumes: requests come in program order. Guarantees: every value returned is canonical for its
type (see ezlang.semantics) and has exactly the requested shape; anything else is an InputError.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ezlang.diagnostics import Diagnostic, Severity, register
from ezlang.fixed import encode_in_ring, representable
from ezlang.semantics import int_range, to_f32, wrap
from ezlang.types import Base, Role, Type
from ezlang.weights import WeightsError, read_weights

MISSING_INPUT = register("E0620", "missing input value")
BAD_INPUT_VALUE = register("E0621", "input value of the wrong kind")
INPUT_OUT_OF_RANGE = register("E0622", "input value out of range")
BAD_INPUT_SHAPE = register("E0623", "input value of the wrong shape")
INPUT_EXHAUSTED = register("E0624", "input read more often than values were given")
UNREADABLE_INPUT = register("E0625", "cannot read input file")
NO_INPUT_SOURCE = register("E0626", "no inputs given for a party")
OUTSIDE_DECLARED_RANGE = register("E0627", "input value outside its declared range")
UNUSED_INPUT = register("W0601", "input value never read")

_INTEGER_TOKEN = re.compile(r"[+-]?[0-9]+\Z")
_BOOL_TOKENS = {"true": True, "false": False, "0": False, "1": True}


class InputError(Exception):
    """A bad, missing or unreadable input; the interpreter adds the span of the input statement."""

    def __init__(self, code: str, message: str, help: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.help = help

    @property
    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.code, Severity.ERROR, self.message, None, help=self.help)


@dataclass(frozen=True)
class InputRequest:
    """One execution of `input(role, name, type)` whose array dimensions evaluated to `dims`;
    `range` is the declared `[lo, hi]` of every value, if any. With `arrays`, a value checked
    from a numpy array comes back as a flat numpy array of the canonical values (what compiled
    code copies into its buffers, without a round trip through Python lists); otherwise, and
    for every other value, as a canonical nested list."""

    name: str
    role: Role
    type: Type
    dims: tuple[int, ...] = ()
    range: Optional[tuple[float, float]] = None
    arrays: bool = False

    def describe(self) -> str:
        shape = "".join(f"[{d}]" for d in self.dims)
        return f"input `{self.name}` of {self.role} ({self.type.scalar()}{shape})"


def _fail(code: str, request: InputRequest, origin: str, detail: str,
          help: Optional[str] = None) -> InputError:
    return InputError(code, f"{request.describe()} from {origin}: {detail}", help)


# ---------------------------------------------------------------- checking one value


@dataclass(frozen=True)
class _Checker:
    """Checks raw values (Python scalars, nested lists, numpy arrays, text tokens) for a request."""

    request: InputRequest
    origin: str
    tokens: bool = False  # whether strings are text tokens to parse (sequential sources only)

    def value(self, raw: Any, where: str) -> Any:
        """`raw` as a canonical nested list of the requested shape."""
        if isinstance(raw, np.ndarray):
            return self._array(raw, where)
        return self._nested(raw, 0, where)

    def _nested(self, raw: Any, depth: int, where: str) -> Any:
        dims = self.request.dims
        if depth == len(dims):
            return self.scalar(raw, where)
        if not isinstance(raw, (list, tuple)):
            raise self._shape(f"{where} should be a list of {dims[depth]}, found {_show(raw)}")
        if len(raw) != dims[depth]:
            raise self._shape(f"{where} has {len(raw)} entries, expected {dims[depth]}")
        if depth + 1 == len(dims):
            row = self._int_row(raw)
            if row is not None:
                return row
        return [self._nested(item, depth + 1, f"{where}[{i}]") for i, item in enumerate(raw)]

    def _int_row(self, row: Sequence[Any]) -> Optional[list[int]]:
        """A row of in-range Python ints checked in bulk (the common case), else None."""
        base = self.request.type.base
        if not row or not base.is_int or self.request.type.is_fixed or self.request.range is not None \
                or not all(type(v) is int for v in row):
            return None
        low, high = min(row), max(row)
        spelled_low, spelled_high = _spellings(base)
        if low < spelled_low or high > spelled_high:
            return None
        canonical = int_range(base)
        if canonical.start <= low and high < canonical.stop:
            return list(row)
        return [wrap(v, base) for v in row]

    def scalar(self, raw: Any, where: str) -> Any:
        if isinstance(raw, np.generic):
            raw = raw.item()
        base = self.request.type.base
        if base is Base.BOOL:
            return self._bool(raw, where)
        if base is Base.FLOAT:
            return self._float(raw, where)
        if self.request.type.is_fixed:
            return self._fixed(raw, where)
        return self._declared(self._int(raw, where), where)

    def _int(self, raw: Any, where: str) -> int:
        base = self.request.type.base
        if self.tokens and isinstance(raw, str) and _INTEGER_TOKEN.match(raw):
            raw = int(raw)
        if type(raw) is not int:
            raise self._kind(f"{where} = {_show(raw)} is not an integer")
        low, high = _spellings(base)
        if not low <= raw <= high:
            raise _fail(INPUT_OUT_OF_RANGE, self.request, self.origin,
                        f"{where} = {raw} does not fit in {base.width} bits", help=_range_help(base))
        return wrap(raw, base)

    def _fixed(self, raw: Any, where: str) -> int:
        ty = self.request.type
        assert ty.scale is not None
        if self.tokens and isinstance(raw, str):
            try:
                raw = int(raw) if _INTEGER_TOKEN.match(raw) else float(raw)
            except ValueError:
                raise self._kind(f"{where} = {_show(raw)} is not a number") from None
        if type(raw) not in (int, float):
            raise self._kind(f"{where} = {_show(raw)} is not a number")
        self._declared(raw, where)
        encoded = encode_in_ring(raw, ty.scale, ty.base.width)
        if encoded is None:
            raise _fail(INPUT_OUT_OF_RANGE, self.request, self.origin,
                        f"{where} = {raw} does not fit {ty.scalar()} in the {ty.base.width}-bit ring, which "
                        f"holds {representable(ty.scale, ty.base.width)}",
                        help="scale the data down, or use fewer fractional bits (`fixed<8>`) or --bitlen 64")
        return encoded

    def _declared(self, value: Any, where: str) -> Any:
        """`value` itself when it lies in the declared range (NaN never does)."""
        bounds = self.request.range
        if bounds is None or bounds[0] <= value <= bounds[1]:
            return value
        raise _fail(OUTSIDE_DECLARED_RANGE, self.request, self.origin,
                    f"{where} = {value} is outside the declared range [{bounds[0]}, {bounds[1]}]",
                    help="the program declares this range in its `input` statement, and its analysis of "
                         "overflows relies on it: correct the value, or widen the declared range")

    def _bool(self, raw: Any, where: str) -> bool:
        if self.tokens and isinstance(raw, str) and raw in _BOOL_TOKENS:
            return _BOOL_TOKENS[raw]
        if type(raw) is bool:
            return raw
        if type(raw) is int and raw in (0, 1):
            return raw == 1
        raise self._kind(f"{where} = {_show(raw)} is not a bool (true, false, 0 or 1)")

    def _float(self, raw: Any, where: str) -> float:
        if self.tokens and isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                raise self._kind(f"{where} = {_show(raw)} is not a number") from None
        if type(raw) not in (int, float):
            raise self._kind(f"{where} = {_show(raw)} is not a number")
        try:
            double = float(raw)
        except OverflowError:
            double = math.inf if raw > 0 else -math.inf
        value = to_f32(double)
        if math.isinf(value) and not (type(raw) is float and math.isinf(raw)):
            raise _fail(INPUT_OUT_OF_RANGE, self.request, self.origin,
                        f"{where} = {raw} is outside the single-precision float range")
        return value

    def _array(self, raw: np.ndarray, where: str) -> Any:
        dims = self.request.dims
        if raw.shape != dims:
            raise self._shape(f"{where} has shape {_shape(raw.shape)}, expected {_shape(dims)}")
        if raw.dtype.kind not in "biuf":
            raise self._kind(f"{where} has element type {raw.dtype}, not numbers")
        if raw.size == 0:
            return raw.tolist()
        base = self.request.type.base
        if self.request.type.is_fixed and raw.dtype.kind == "f":
            return self._fixed_array(raw, where)
        if self.request.type.is_fixed or (base.is_int and self.request.range is not None):
            return self._nested(raw.tolist(), 0, where)  # exact, element by element
        if base.is_int:
            return self._int_array(raw, where)
        if base is Base.BOOL and raw.dtype.kind != "f":
            return self._bool_array(raw, where)
        if base is Base.FLOAT and raw.dtype.kind != "b":
            return self._float_array(raw, where)
        return self._first_bad(raw, np.ones(raw.shape, dtype=bool), where)

    def _int_array(self, raw: np.ndarray, where: str) -> Any:
        base = self.request.type.base
        if raw.dtype.kind not in "iu":
            return self._first_bad(raw, np.ones(raw.shape, dtype=bool), where)
        low, high = _spellings(base)
        bad = (raw < low) | (raw > high)
        if bad.any():
            return self._first_bad(raw, bad, where)
        bits = raw.astype(np.uint64 if base.width == 64 else np.uint32)
        signed = np.int64 if base.width == 64 else np.int32
        return self._canonical(bits.view(signed) if base.signed else bits)

    def _fixed_array(self, raw: np.ndarray, where: str) -> Any:
        """A float array encoded at once, exactly as `_fixed` encodes one value."""
        ty = self.request.type
        assert ty.scale is not None
        values = raw.astype(np.float64)
        bounds = self.request.range
        bad = ~np.isfinite(values)
        if bounds is not None:
            bad |= (values < bounds[0]) | (values > bounds[1])
        # In place where possible: a model's weights are tens of millions of values, and every
        # temporary array of that size costs its page faults.
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = np.multiply(values, float(1 << ty.scale), out=values)  # exact: a power of two
            fraction = np.abs(scaled)
            magnitude = np.floor(fraction)
            np.subtract(fraction, magnitude, out=fraction)
            magnitude += fraction >= 0.5  # half away from zero, exactly
            encoded = np.copysign(magnitude, scaled, out=magnitude)
            limit = float(1 << (ty.base.width - 1))
            bad |= encoded < -limit
            bad |= encoded >= limit
        if bad.any():
            return self._first_bad(raw, bad, where)
        return self._canonical(encoded.astype(np.int64))

    def _bool_array(self, raw: np.ndarray, where: str) -> Any:
        bad = (raw != 0) & (raw != 1)
        if bad.any():
            return self._first_bad(raw, bad, where)
        return self._canonical(raw.astype(bool))

    def _canonical(self, values: np.ndarray) -> Any:
        return values.reshape(-1) if self.request.arrays else values.tolist()

    def _float_array(self, raw: np.ndarray, where: str) -> Any:
        with np.errstate(over="ignore"):  # through double, as a Python number goes
            single = raw.astype(np.float64).astype(np.float32)
        bad = np.isinf(single) & ~np.isinf(raw)
        if bad.any():
            return self._first_bad(raw, bad, where)
        return single.tolist()

    def _first_bad(self, raw: np.ndarray, bad: np.ndarray, where: str) -> Any:
        """Re-check the first offending element one by one, for a precise message."""
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        self.scalar(raw[index], where + "".join(f"[{i}]" for i in index))
        raise AssertionError("an element flagged as bad passed the scalar check")

    def _kind(self, detail: str) -> InputError:
        return _fail(BAD_INPUT_VALUE, self.request, self.origin, detail)

    def _shape(self, detail: str) -> InputError:
        return _fail(BAD_INPUT_SHAPE, self.request, self.origin, detail)


def _spellings(base: Base) -> tuple[int, int]:
    """Integers accepted for `base`: the signed or the unsigned spelling of any `width` bits."""
    return -(1 << (base.width - 1)), (1 << base.width) - 1


def _range_help(base: Base) -> str:
    low, high = _spellings(base)
    other = f"2^{base.width - 1} and more" if base.signed else "negative values"
    return f"{base} accepts {low} to {high}; {other} are read as their two's complement bits"


def _show(raw: Any) -> str:
    if isinstance(raw, str):
        return repr(raw)
    if isinstance(raw, (list, tuple)):
        return f"a list of {len(raw)}"
    if isinstance(raw, bool) or raw is None:
        return json.dumps(raw)
    return repr(raw)


def _shape(dims: Sequence[int]) -> str:
    return "".join(f"[{d}]" for d in dims) or "[] (a scalar)"


def _flat_view(raw: Any, dims: tuple[int, ...]) -> Any:
    """A numpy array with exactly as many elements as a flat (rank 1) input holds is that input's
    value in row-major order, whatever its shape: an image [1, 28, 28] feeds `fixed_al[784]`."""
    if len(dims) == 1 and isinstance(raw, np.ndarray) and raw.ndim != 1 and raw.size == dims[0]:
        return raw.reshape(-1)
    return raw


def _depth(raw: Any) -> int:
    """Nesting depth of a raw value: 0 for a scalar, the number of list levels otherwise."""
    if isinstance(raw, np.ndarray):
        return raw.ndim
    depth = 0
    while isinstance(raw, (list, tuple)):
        depth += 1
        if not raw:
            break
        raw = raw[0]
    return depth


# ---------------------------------------------------------------- sources and readers


class InputReader(ABC):
    """One run's cursor over an InputSource."""

    @abstractmethod
    def read(self, request: InputRequest) -> Any:
        """The value for one execution of an input statement; raises InputError."""

    @abstractmethod
    def leftovers(self) -> tuple[str, ...]:
        """What the source holds that the run never read, one description per item."""


class InputSource(ABC):
    """The input values of one party (immutable; `reader()` starts a run)."""

    origin: str

    @abstractmethod
    def reader(self) -> InputReader: ...

    @staticmethod
    def from_mapping(values: Mapping[str, Any], origin: str = "<mapping>") -> "InputSource":
        """Keyed: name → scalar, nested list or numpy array (or a list of those, per execution)."""
        return KeyedSource(dict(values), origin)

    @staticmethod
    def from_sequence(values: Sequence[Any], origin: str = "<sequence>") -> "InputSource":
        """Sequential: flat scalars consumed in program order, arrays element by element."""
        items = tuple(values)
        for i, item in enumerate(items):
            if isinstance(item, (list, tuple, dict, np.ndarray)):
                raise TypeError(f"from_sequence takes flat scalars; item {i} is {type(item).__name__}")
        return SequenceSource(items, tuple(f"item {i}" for i in range(len(items))), origin)


@dataclass(frozen=True, eq=False)
class KeyedSource(InputSource):
    """Values by input name; `single` is set for a .npy file: one unnamed value for any name."""

    values: Mapping[str, Any]
    origin: str
    single: bool = False

    def reader(self) -> InputReader:
        return _KeyedReader(self)


@dataclass
class _KeyedReader(InputReader):
    source: KeyedSource
    reads: dict[str, int] = field(default_factory=dict)
    per_execution: dict[str, int] = field(default_factory=dict)  # name → number of values given

    def read(self, request: InputRequest) -> Any:
        raw = _flat_view(self._raw(request), request.dims)
        rank, depth = len(request.dims), _depth(raw)
        count = self.reads.get(request.name, 0)
        checker = _Checker(request, self.source.origin)
        if depth == rank + 1:
            self.per_execution[request.name] = len(raw)
            if count >= len(raw):
                raise _fail(INPUT_EXHAUSTED, request, self.source.origin,
                            f"`{request.name}` holds {len(raw)} value(s), one per execution, "
                            f"but the input statement runs {count + 1} times")
            self.reads[request.name] = count + 1
            return checker.value(raw[count], f"{request.name}[execution {count}]")
        if depth != rank:
            raise _fail(BAD_INPUT_SHAPE, request, self.source.origin,
                        f"`{request.name}` has {depth} nesting level(s), expected {rank} "
                        f"(shape {_shape(request.dims)}), or {rank + 1} for one value per execution")
        if count > 0:
            raise _fail(INPUT_EXHAUSTED, request, self.source.origin,
                        f"the input statement runs a second time but `{request.name}` holds one value",
                        help=f"give a list with one value per execution ({rank + 1} nesting "
                             f"levels instead of {rank})")
        self.reads[request.name] = 1
        return checker.value(raw, request.name)

    def _raw(self, request: InputRequest) -> Any:
        values = self.source.values
        if self.source.single:
            bound = next(iter(self.reads), request.name)
            if bound != request.name:
                raise _fail(MISSING_INPUT, request, self.source.origin,
                            f"a .npy file holds one input and it was used for `{bound}`",
                            help="give several inputs of one party in a .npz or .json file")
            return values[""]
        if request.name not in values:
            known = ", ".join(f"`{k}`" for k in sorted(values)) or "nothing"
            raise _fail(MISSING_INPUT, request, self.source.origin,
                        f"no value named `{request.name}` (the file has {known})")
        return values[request.name]

    def leftovers(self) -> tuple[str, ...]:
        origin = self.source.origin
        if self.source.single:
            return () if self.reads else (f"the array in {origin} was never read",)
        notes = [f"`{name}` in {origin} was never read" for name in self.source.values if name not in self.reads]
        for name, given in self.per_execution.items():
            if self.reads[name] < given:
                notes.append(f"`{name}` in {origin} holds {given} values, one per execution, "
                             f"but only {self.reads[name]} were read")
        return tuple(notes)


@dataclass(frozen=True, eq=False)
class SequenceSource(InputSource):
    """Scalars in program order; `places` says where each came from (`line 3`, `item 7`)."""

    items: tuple[Any, ...]
    places: tuple[str, ...]
    origin: str

    def reader(self) -> InputReader:
        return _SequenceReader(self)


@dataclass
class _SequenceReader(InputReader):
    source: SequenceSource
    position: int = 0

    def read(self, request: InputRequest) -> Any:
        needed = math.prod(request.dims)
        left = len(self.source.items) - self.position
        if needed > left:
            raise _fail(INPUT_EXHAUSTED, request, self.source.origin,
                        f"needs {needed} value(s) but only {left} are left "
                        f"after the {self.position} already read")
        checker = _Checker(request, self.source.origin, tokens=True)
        flat = [self._next(checker, request, i) for i in range(needed)]
        return _reshape(flat, request.dims)

    def _next(self, checker: _Checker, request: InputRequest, i: int) -> Any:
        place = self.source.places[self.position]
        where = request.name + _row_major_index(i, request.dims) + f" ({place})"
        value = checker.scalar(self.source.items[self.position], where)
        self.position += 1
        return value

    def leftovers(self) -> tuple[str, ...]:
        left = len(self.source.items) - self.position
        if left == 0:
            return ()
        first = self.source.items[self.position]
        return (f"{left} value(s) at the end of {self.source.origin} were never read "
                f"(the first is {_show(first)} at {self.source.places[self.position]})",)


def _row_major_index(i: int, dims: tuple[int, ...]) -> str:
    parts = []
    for d in reversed(dims):
        parts.append(i % d)
        i //= d
    return "".join(f"[{p}]" for p in reversed(parts))


def _reshape(flat: list[Any], dims: tuple[int, ...]) -> Any:
    """The row-major flat list as nested lists of shape `dims`."""
    items = iter(flat)

    def build(level: int) -> Any:
        if level == len(dims):
            return next(items)
        return [build(level + 1) for _ in range(dims[level])]

    return build(0)


def at_boundary(source: InputSource, scales: Mapping[str, int],
                ranges: Mapping[str, tuple[float, float]]) -> InputSource:
    """`source` for a program lowered to integers: the inputs named in `scales` are fixed point
    at that scale (their values are encoded), those in `ranges` have a declared range."""
    if not scales and not ranges:
        return source
    return _BoundarySource(source, scales, ranges, source.origin)


@dataclass(frozen=True, eq=False)
class _BoundarySource(InputSource):
    inner: InputSource
    scales: Mapping[str, int]
    ranges: Mapping[str, tuple[float, float]]
    origin: str

    def reader(self) -> InputReader:
        return _BoundaryReader(self.inner.reader(), self)


@dataclass
class _BoundaryReader(InputReader):
    inner: InputReader
    source: _BoundarySource

    def read(self, request: InputRequest) -> Any:
        scale = self.source.scales.get(request.name)
        ty = request.type.rescaled(scale) if scale is not None else request.type
        return self.inner.read(replace(request, type=ty, range=self.source.ranges.get(request.name)))

    def leftovers(self) -> tuple[str, ...]:
        return self.inner.leftovers()


# ---------------------------------------------------------------- files


def load_inputs(path: str | Path) -> InputSource:
    """An InputSource from a .json, .npz, .npy, .weights (ezlang.weights) or NIfTI (.nii,
    .nii.gz) file, or from whitespace-separated text."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if path.name.lower().endswith((".nii", ".nii.gz")):
            return KeyedSource({"": _nifti_volume(path)}, str(path), single=True)
        if suffix == ".weights":
            return KeyedSource(read_weights(path), str(path))
        if suffix == ".json":
            return _load_json(path)
        if suffix == ".npz":
            _expect_magic(path, b"PK\x03\x04", "a .npz archive")
            with np.load(path, allow_pickle=False) as archive:
                return KeyedSource({name: archive[name] for name in archive.files}, str(path))
        if suffix == ".npy":
            _expect_magic(path, b"\x93NUMPY", "a .npy file")
            return KeyedSource({"": np.load(path, allow_pickle=False)}, str(path), single=True)
        return _load_text(path)
    except WeightsError as error:
        raise InputError(error.code, error.message) from None
    except OSError as error:
        raise InputError(UNREADABLE_INPUT, f"cannot read input file {path}: {error.strerror or error}") from None
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(UNREADABLE_INPUT, f"cannot read input file {path}: {error}") from None


def _nifti_volume(path: Path) -> np.ndarray:
    """The voxel values of a NIfTI file's one volume, as floats indexed [i, j, k] (a trailing
    time axis of length 1 is dropped)."""
    import nibabel  # only NIfTI inputs need it

    try:
        image = nibabel.load(path)
    except nibabel.filebasedimages.ImageFileError as error:
        raise InputError(UNREADABLE_INPUT, f"cannot read input file {path}: not a NIfTI image ({error})") from None
    if not isinstance(image, nibabel.spatialimages.SpatialImage):
        raise InputError(UNREADABLE_INPUT, f"cannot read input file {path}: it holds no image volume")
    volume = image.get_fdata(dtype=np.float32)  # with the file's intensity scaling applied
    while volume.ndim > 3 and volume.shape[-1] == 1:
        volume = volume[..., 0]
    if volume.ndim > 3:
        raise InputError(UNREADABLE_INPUT, f"cannot read input file {path}: it holds "
                                           f"{math.prod(volume.shape[3:])} volumes of shape "
                                           f"{_shape(volume.shape[:3])}; the program reads one",
                         help="extract one volume first, e.g. with nibabel: img.slicer[..., t]")
    return volume


def _expect_magic(path: Path, magic: bytes, kind: str) -> None:
    with path.open("rb") as file:
        if file.read(len(magic)) != magic:
            raise InputError(UNREADABLE_INPUT, f"cannot read input file {path}: it is not {kind}")


def _load_json(path: Path) -> InputSource:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(UNREADABLE_INPUT, f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from None
    if not isinstance(values, dict):
        raise InputError(UNREADABLE_INPUT, f"{path} must hold a JSON object mapping input names to values",
                         help='for example {"x": 5, "w": [[1, 2], [3, 4]]}')
    return KeyedSource(values, str(path))


def _load_text(path: Path) -> InputSource:
    items, places = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for token in line.split():
            items.append(token)
            places.append(f"line {number}")
    return SequenceSource(tuple(items), tuple(places), str(path))
