"""The Athos fixed-point tensor library (ezpc-language.md §7.1) as interpreter externs.

These are the oracle the secure runtime must match bit for bit; docs/athos.md states the
semantics. Every secret value lives in the ring Z/2^w of the program's secret width, held as a
canonical signed int; products and sums wrap modulo 2^w, comparisons and `>>` are signed.

Assumes: the interpreter binds each entry of ATHOS_EXTERNS once per call site to the extern's
declaration (`bind`), then calls the result with the evaluated arguments: public sizes as ints,
flags as bools, secret arrays as rectangular nested lists of canonical values of the declared
element type (int32 or int64), written in place.
Guarantees: results are written leaf list by leaf list, so aliases of sub-arrays stay valid and
an output may be the same array as an input; arguments that disagree with each other (shapes,
sizes, strides, a declaration with another signature) raise InterpError at the call's span.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ezlang.diagnostics import register
from ezlang.interp.result import InterpError
from ezlang.semantics import NEGATIVE_SHIFT, binary_fn
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base

BAD_LIBRARY_ARGUMENTS = register("E0630", "library function called with inconsistent arguments")
LIBRARY_SIGNATURE = register("E0631", "extern declared with a signature the library does not implement")

Array = np.ndarray  # int64 holding canonical values of the ring
Shape = tuple[int, ...]
_RINGS = (Base.INT32, Base.INT64)


@dataclass(frozen=True)
class Call:
    """One bound call site: the function's name, the ring's element type and the call's span."""

    function: str
    base: Base
    span: Span

    def fail(self, message: str, code: str = BAD_LIBRARY_ARGUMENTS) -> InterpError:
        return InterpError.at(self.span, code, f"{self.function}: {message}", label="called here")

    def sizes(self, **named: int) -> None:
        for name, value in named.items():
            if value < 0:
                raise self.fail(f"size `{name}` is {value}, which is negative")

    def positive(self, **named: int) -> None:
        for name, value in named.items():
            if value < 1:
                raise self.fail(f"`{name}` is {value}, but it must be at least 1")

    def shift(self, name: str, value: int) -> int:
        if value < 0:
            raise self.fail(f"negative shift amount {value} (`{name}`)", NEGATIVE_SHIFT)
        return value

    def load(self, name: str, value: list, shape: Shape) -> Array:
        self.expect(name, value, shape)
        return np.array(value, dtype=np.int64).reshape(shape)

    def expect(self, name: str, value: list, shape: Shape) -> None:
        actual = _shape(value, len(shape))
        if actual != shape and not (actual and actual[-1] == 0 and shape[:len(actual)] == actual):
            raise self.fail(f"`{name}` is a {_render(actual)} array, but the other arguments make "
                            f"it {_render(shape)}")

    def agree(self, names: str, given: Shape, windows: Shape) -> None:
        if given != windows:
            raise self.fail(f"the padding, kernel and strides give {', '.join(map(str, windows))} "
                            f"output positions, but `{names}` are {', '.join(map(str, given))}")

    def reduce(self, values: np.ndarray) -> Array:
        """Any 64-bit integer array taken modulo 2^w, as canonical signed values."""
        ring = values.astype(np.uint64)
        if self.base.width == 64:
            return ring.view(np.int64)
        return ring.astype(np.uint32).view(np.int32).astype(np.int64)

    def store(self, target: list, values: Array) -> None:
        _write(target, values.tolist())


# ---------------------------------------------------------------- element-wise functions


def _matmul(c: Call, i: int, j: int, k: int, A: list, B: list, C: list, modelIsA: bool) -> None:
    c.sizes(i=i, j=j, k=k)
    a, b = c.load("A", A, (i, j)), c.load("B", B, (j, k))
    c.expect("C", C, (i, k))
    c.store(C, c.reduce(_u(a) @ _u(b)))


def _argmax(c: Call, s1: int, s2: int, inp: list, out: list) -> None:
    c.sizes(s1=s1, s2=s2)
    if s1 > 0 and s2 == 0:
        raise c.fail("the rows are empty (`s2` is 0), so they have no maximum")
    x = c.load("inp", inp, (s1, s2))
    c.expect("out", out, (s1,))
    c.store(out, np.argmax(x, axis=1) if s1 else np.zeros(0, dtype=np.int64))


def _relu(c: Call, s1: int, inp: list, out: list, sf: int, doTruncation: bool) -> None:
    c.sizes(s1=s1)
    y = np.maximum(c.load("inp", inp, (s1,)), 0)
    c.expect("out", out, (s1,))
    c.store(out, y >> min(c.shift("sf", sf), 63) if doTruncation else y)


def _floor(c: Call, s1: int, inp: list, out: list, sf: int) -> None:
    c.sizes(s1=s1)
    x = c.load("inp", inp, (s1,))
    c.expect("out", out, (s1,))
    sf = c.shift("sf", sf)
    c.store(out, np.zeros_like(x) if sf >= c.base.width else x & np.int64(-(1 << sf)))


def _mult(c: Call, s1: int, arr1: list, arr2: list, out: list) -> None:
    c.sizes(s1=s1)
    a, b = c.load("arr1", arr1, (s1,)), c.load("arr2", arr2, (s1,))
    c.expect("out", out, (s1,))
    c.store(out, c.reduce(_u(a) * _u(b)))


def _public_div(c: Call, s1: int, arr1: list, divisor: int, out: list) -> None:
    c.sizes(s1=s1)
    a = c.load("arr1", arr1, (s1,))
    c.expect("out", out, (s1,))
    div = binary_fn(BinaryOp.DIV, c.base)
    _write(out, [div(x, divisor) for x in a.tolist()])


def _scale_up(c: Call, s1: int, arr: list, sf: int) -> None:
    c.sizes(s1=s1)
    x, sf = c.load("arr", arr, (s1,)), c.shift("sf", sf)
    c.store(arr, np.zeros_like(x) if sf >= c.base.width else c.reduce(_u(x) << np.uint64(sf)))


def _scale_down(c: Call, s1: int, arr: list, sf: int) -> None:
    c.sizes(s1=s1)
    c.store(arr, c.load("arr", arr, (s1,)) >> min(c.shift("sf", sf), 63))


# ---------------------------------------------------------------- pooling and convolutions


def _pool(reducer: Callable[[Call, Array, int], Array]) -> Callable[..., None]:
    def pool(c: Call, N: int, H: int, W: int, C: int, kH: int, kW: int, padHL: int, padHR: int,
             padWL: int, padWR: int, strideH: int, strideW: int, N1: int, imgH: int, imgW: int,
             C1: int, inp: list, out: list) -> None:
        c.sizes(N=N, H=H, W=W, C=C, N1=N1, imgH=imgH, imgW=imgW, C1=C1)
        c.positive(kH=kH, kW=kW, strideH=strideH, strideW=strideW)
        if (N1, C1) != (N, C):
            raise c.fail(f"the input has {N1} images of {C1} channels, the output {N} of {C}")
        x = c.load("inp", inp, (N1, imgH, imgW, C1))
        c.expect("out", out, (N, H, W, C))
        windows = _windows(x, (kH, kW), ((padHL, padHR), (padWL, padWR)), (strideH, strideW))
        c.agree("H, W", (H, W), windows.shape[1:3])
        c.store(out, reducer(c, windows, kH * kW))
    return pool


def _max(c: Call, windows: Array, size: int) -> Array:
    return windows.max(axis=(-2, -1))


def _average(c: Call, windows: Array, size: int) -> Array:
    total = c.reduce(_u(windows).sum(axis=(-2, -1), dtype=np.uint64))
    return np.floor_divide(total, size)


def _conv2d(c: Call, N: int, H: int, W: int, CI: int, FH: int, FW: int, CO: int, padHL: int,
            padHR: int, padWL: int, padWR: int, strideH: int, strideW: int, inp: list,
            filter: list, out: list, G: int = 1) -> None:
    c.sizes(N=N, H=H, W=W, CI=CI, CO=CO)
    c.positive(FH=FH, FW=FW, strideH=strideH, strideW=strideW, G=G)
    if CI % G or CO % G:
        raise c.fail(f"{G} groups do not divide CI = {CI} and CO = {CO} input and output channels")
    x = c.load("inp", inp, (N, H, W, CI))
    f = c.load("filter", filter, (FH, FW, CI // G, CO))
    pads, strides = ((padHL, padHR), (padWL, padWR)), (strideH, strideW)
    groups = [_conv(c, x[..., g * CI // G:(g + 1) * CI // G], f[..., g * CO // G:(g + 1) * CO // G],
                    pads, strides) for g in range(G)]
    y = np.concatenate(groups, axis=-1)
    c.expect("out", out, y.shape)
    c.store(out, y)


def _conv3d(c: Call, N: int, D: int, H: int, W: int, CI: int, FD: int, FH: int, FW: int, CO: int,
            padDL: int, padDR: int, padHL: int, padHR: int, padWL: int, padWR: int, strideD: int,
            strideH: int, strideW: int, inp: list, filter: list, out: list, consSF: int = 0) -> None:
    c.sizes(N=N, D=D, H=H, W=W, CI=CI, CO=CO)
    c.positive(FD=FD, FH=FH, FW=FW, strideD=strideD, strideH=strideH, strideW=strideW)
    x = c.load("inp", inp, (N, D, H, W, CI))
    f = c.load("filter", filter, (FD, FH, FW, CI, CO))
    y = _conv(c, x, f, ((padDL, padDR), (padHL, padHR), (padWL, padWR)), (strideD, strideH, strideW))
    c.expect("out", out, y.shape)
    c.store(out, y)


def _conv_transpose2d(c: Call, N: int, HPrime: int, WPrime: int, CI: int, FH: int, FW: int, CO: int,
                      H: int, W: int, padHL: int, padHR: int, padWL: int, padWR: int, strideH: int,
                      strideW: int, inp: list, filter: list, out: list) -> None:
    c.sizes(N=N, HPrime=HPrime, WPrime=WPrime, CI=CI, CO=CO, H=H, W=W)
    c.positive(FH=FH, FW=FW, strideH=strideH, strideW=strideW)
    x = c.load("inp", inp, (N, HPrime, WPrime, CI))
    f = c.load("filter", filter, (FH, FW, CO, CI))
    c.expect("out", out, (N, H, W, CO))
    y = _transposed(c, x, f, ((padHL, padHR), (padWL, padWR)), (strideH, strideW))
    c.agree("H, W", (H, W), y.shape[1:3])
    c.store(out, y)


def _conv_transpose3d(c: Call, N: int, DPrime: int, HPrime: int, WPrime: int, CI: int, FD: int,
                      FH: int, FW: int, CO: int, D: int, H: int, W: int, padDL: int, padDR: int,
                      padHL: int, padHR: int, padWL: int, padWR: int, strideD: int, strideH: int,
                      strideW: int, inp: list, filter: list, out: list, consSF: int = 0) -> None:
    c.sizes(N=N, DPrime=DPrime, HPrime=HPrime, WPrime=WPrime, CI=CI, CO=CO, D=D, H=H, W=W)
    c.positive(FD=FD, FH=FH, FW=FW, strideD=strideD, strideH=strideH, strideW=strideW)
    x = c.load("inp", inp, (N, DPrime, HPrime, WPrime, CI))
    f = c.load("filter", filter, (FD, FH, FW, CO, CI))
    c.expect("out", out, (N, D, H, W, CO))
    y = _transposed(c, x, f, ((padDL, padDR), (padHL, padHR), (padWL, padWR)),
                    (strideD, strideH, strideW))
    c.agree("D, H, W", (D, H, W), y.shape[1:4])
    c.store(out, y)


def _conv(c: Call, x: Array, f: Array, pads: Sequence[tuple[int, int]], strides: Sequence[int]) -> Array:
    """x [N][*S][CI] convolved with f [*F][CI][CO] (no flipping): [N][*O][CO] in the ring."""
    r = len(strides)
    windows = _windows(x, f.shape[:r], pads, strides)  # [N][*O][CI][*F]
    summed = (list(range(r + 1, 2 * r + 2)), [r, *range(r)])
    return c.reduce(np.tensordot(_u(windows), _u(f), axes=summed))


def _transposed(c: Call, x: Array, f: Array, pads: Sequence[tuple[int, int]],
                strides: Sequence[int]) -> Array:
    """Athos's transposed convolution: spread the input `stride` apart, pad, and convolve with
    stride 1 with the filter [*F][CO][CI] mirrored in space and with its channels swapped."""
    r = len(strides)
    spread = tuple((n - 1) * s + 1 if n else 0 for n, s in zip(x.shape[1:r + 1], strides))
    dilated = np.zeros((x.shape[0], *spread, x.shape[-1]), dtype=np.int64)
    dilated[(slice(None), *(slice(None, None, s) for s in strides))] = x
    mirrored = np.swapaxes(f[(slice(None, None, -1),) * r], -1, -2)
    return _conv(c, dilated, mirrored, pads, (1,) * r)


def _windows(x: Array, kernel: Sequence[int], pads: Sequence[tuple[int, int]],
             strides: Sequence[int]) -> Array:
    """The windows of x [N][*S][C] as [N][*O][C][*kernel], after zero padding (a negative pad
    crops); O = (S + padL + padR - kernel) / stride + 1, or 0 when the kernel does not fit."""
    r = len(kernel)
    for axis, (left, right) in enumerate(pads, start=1):
        x = _pad(x, axis, left, right)
    spatial = x.shape[1:r + 1]
    if any(n < k for n, k in zip(spatial, kernel)):
        counts = tuple(max(0, (n - k) // s + 1) for n, k, s in zip(spatial, kernel, strides))
        return np.zeros((x.shape[0], *counts, x.shape[-1], *kernel), dtype=np.int64)
    windows = sliding_window_view(x, tuple(kernel), axis=tuple(range(1, r + 1)))
    return windows[(slice(None), *(slice(None, None, s) for s in strides))]


def _pad(x: Array, axis: int, left: int, right: int) -> Array:
    n = x.shape[axis]
    keep = [slice(None)] * x.ndim
    keep[axis] = slice(max(0, -left), max(max(0, -left), n - max(0, -right)))
    widths = [(0, 0)] * x.ndim
    widths[axis] = (max(0, left), max(0, right))
    return np.pad(x[tuple(keep)], widths)


# ---------------------------------------------------------------- helpers


def _u(x: Array) -> np.ndarray:
    """The ring view: uint64 arithmetic wraps modulo 2^64, which 2^w divides."""
    return x.astype(np.uint64)


def _shape(value: Any, rank: int) -> Shape:
    dims = []
    for _ in range(rank):
        if not isinstance(value, list):
            break
        dims.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(dims)


def _render(shape: Shape) -> str:
    return "".join(f"[{n}]" for n in shape) or "scalar"


def _write(target: list, values: list) -> None:
    if target and isinstance(target[0], list):
        for row, new in zip(target, values):
            _write(row, new)
    else:
        target[:] = values


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class LibraryExtern:
    """A library function and the declarations it implements: each signature lists parameters
    as `kind name`, kind P (public int), B (bool) or S<rank> (secret int32/int64 array)."""

    name: str
    signatures: tuple[str, ...]
    compute: Callable[..., None]

    def bind(self, declaration: ast.Extern, span: Span) -> Callable[..., None]:
        for signature in self.signatures:
            params = [p.split() for p in signature.split(", ")]
            base = _ring(params, declaration)
            if base is not None:
                names = [name for _, name in params]
                call, compute = Call(self.name, base, span), self.compute
                return lambda *values: compute(call, **dict(zip(names, values)))
        message = (f"extern `{self.name}` is declared with parameters the Athos library does not "
                   f"implement (see docs/athos.md)")
        expected = " or ".join(f"({s})" for s in self.signatures)

        def mismatch(*values: Any) -> None:
            raise InterpError.at(span, LIBRARY_SIGNATURE, message, label="called here",
                                 help=f"the library's {self.name} takes {expected}, where P is a "
                                      "public int, B a bool and S<k> a rank-k int32_al/int64_al array")
        return mismatch


def _ring(params: list[list[str]], declaration: ast.Extern) -> Optional[Base]:
    """The secret element type if `declaration` has these parameter kinds, else None."""
    if len(params) != len(declaration.params):
        return None
    rings = set()
    for (kind, _), param in zip(params, declaration.params):
        ty = ast.declared_type(param.type)
        if kind == "P" and not (ty.rank == 0 and ty.base.is_int):
            return None
        if kind == "B" and not (ty.rank == 0 and ty.base is Base.BOOL):
            return None
        if kind.startswith("S"):
            if ty.rank != int(kind[1:]) or ty.base not in _RINGS:
                return None
            rings.add(ty.base)
    return rings.pop() if len(rings) == 1 else None


_POOL = ("P N, P H, P W, P C, P kH, P kW, P padHL, P padHR, P padWL, P padWR, P strideH, P strideW, "
         "P N1, P imgH, P imgW, P C1, S4 inp, S4 out")
_CONV2D = "P N, P H, P W, P CI, P FH, P FW, P CO, P padHL, P padHR, P padWL, P padWR, P strideH, P strideW"
_CONV3D = ("P N, P D, P H, P W, P CI, P FD, P FH, P FW, P CO, P padDL, P padDR, P padHL, P padHR, "
           "P padWL, P padWR, P strideD, P strideH, P strideW, S5 inp, S5 filter")
_TRANSPOSE2D = ("P N, P HPrime, P WPrime, P CI, P FH, P FW, P CO, P H, P W, P padHL, P padHR, "
                "P padWL, P padWR, P strideH, P strideW, S4 inp, S4 filter, S4 out")
_TRANSPOSE3D = ("P N, P DPrime, P HPrime, P WPrime, P CI, P FD, P FH, P FW, P CO, P D, P H, P W, "
                "P padDL, P padDR, P padHL, P padHR, P padWL, P padWR, P strideD, P strideH, P strideW, "
                "S5 inp, S5 filter")

ATHOS_EXTERNS: Mapping[str, LibraryExtern] = MappingProxyType({e.name: e for e in (
    LibraryExtern("MatMul2D", ("P i, P j, P k, S2 A, S2 B, S2 C, B modelIsA",), _matmul),
    LibraryExtern("ArgMax", ("P s1, P s2, S2 inp, S1 out",), _argmax),
    LibraryExtern("Relu", ("P s1, S1 inp, S1 out, P sf, B doTruncation",), _relu),
    LibraryExtern("Floor", ("P s1, S1 inp, S1 out, P sf",), _floor),
    LibraryExtern("MaxPool", (_POOL,), _pool(_max)),
    LibraryExtern("AvgPool", (_POOL,), _pool(_average)),
    LibraryExtern("ElemWiseSecretSharedVectorMult", ("P s1, S1 arr1, S1 arr2, S1 out",), _mult),
    LibraryExtern("ElemWiseActModelVectorMult", ("P s1, S1 arr1, S1 arr2, S1 out",), _mult),
    LibraryExtern("ElemWiseVectorPublicDiv", ("P s1, S1 arr1, P divisor, S1 out",), _public_div),
    LibraryExtern("ScaleUp", ("P s1, S1 arr, P sf",), _scale_up),
    LibraryExtern("ScaleDown", ("P s1, S1 arr, P sf",), _scale_down),
    LibraryExtern("Conv2DWrapper", (f"{_CONV2D}, S4 inp, S4 filter, S4 out",), _conv2d),
    LibraryExtern("Conv2DGroupWrapper", (f"{_CONV2D}, P G, S4 inp, S4 filter, S4 out",), _conv2d),
    LibraryExtern("Conv3DWrapper", (f"{_CONV3D}, S5 out", f"{_CONV3D}, P consSF, S5 out"), _conv3d),
    LibraryExtern("ConvTranspose2DWrapper", (_TRANSPOSE2D,), _conv_transpose2d),
    LibraryExtern("ConvTranspose3DWrapper", (f"{_TRANSPOSE3D}, S5 out", f"{_TRANSPOSE3D}, P consSF, S5 out"),
                  _conv_transpose3d),
)})
