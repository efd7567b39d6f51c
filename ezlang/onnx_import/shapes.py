"""Tensor shapes with a symbolic batch size, and the output shape of every supported operator.

Why: a model exported with a dynamic batch dimension has sizes like `batch·784`, and the
generated program passes such sizes to the layer library as public int32 expressions
(`batch*784`). ONNX's own shape inference gives up on arithmetic over symbolic dimensions, so
the importer computes shapes itself, with one function per operator family.

A Size is `factor` or `factor·batch`: a product of sizes in which the batch occurs twice is not
representable and raises ShapeError, as does any size that must be static (a kernel, a channel
count, a spatial extent) but involves the batch.

Assumes: attributes already normalised by ezlang.onnx_import.read (pads, strides, kernel shapes
as full tuples; negative axes resolved by the callers below). Guarantees: each function returns
the ONNX-specified output shape or raises ShapeError naming what does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union


class ShapeError(ValueError):
    """A shape the importer cannot represent or that contradicts an operator's rules."""


@dataclass(frozen=True)
class Size:
    """`factor`, times the run-time batch size when `batched`."""

    factor: int
    batched: bool = False

    def __mul__(self, other: Union["Size", int]) -> "Size":
        other = as_size(other)
        if self.batched and other.batched:
            raise ShapeError("a size would be a multiple of batch² (the batch occurs in two dimensions)")
        return Size(self.factor * other.factor, self.batched or other.batched)

    __rmul__ = __mul__

    def divided_by(self, other: "Size") -> "Size":
        if other.batched and not self.batched or other.factor == 0 or self.factor % other.factor:
            raise ShapeError(f"{self.text()} is not a multiple of {other.text()}")
        return Size(self.factor // other.factor, self.batched and not other.batched)

    @property
    def static(self) -> int:
        if self.batched:
            raise ShapeError("a size that must be fixed at import time depends on the batch size")
        return self.factor

    def text(self) -> str:
        """The size as an EzPC int32 expression: `784`, `batch`, `batch*784`."""
        if not self.batched:
            return str(self.factor)
        return "batch" if self.factor == 1 else f"batch*{self.factor}"

    def json(self) -> Union[int, str]:
        """The size as manifest.json spells a dimension: an integer, or "batch"."""
        return self.text() if self.batched else self.factor


Shape = tuple[Size, ...]
BATCH = Size(1, True)


def as_size(value: Union[Size, int]) -> Size:
    return value if isinstance(value, Size) else Size(int(value))


def numel(shape: Sequence[Size]) -> Size:
    total = Size(1)
    for dim in shape:
        total = total * dim
    return total


def describe(shape: Sequence[Size]) -> str:
    return "[" + ", ".join(d.text() for d in shape) + "]"


def axis(value: int, rank: int) -> int:
    """A possibly negative ONNX axis as an index into a shape of `rank` dimensions."""
    if not -rank <= value < rank:
        raise ShapeError(f"axis {value} is outside a tensor of rank {rank}")
    return value % rank


# ---------------------------------------------------------------- convolution and pooling


def window_output(size: int, kernel: int, pad_begin: int, pad_end: int, stride: int, dilation: int,
                  ceil_mode: bool = False) -> int:
    """Positions of a sliding window along one axis (Conv, MaxPool, AveragePool)."""
    span = (kernel - 1) * dilation + 1
    room = size + pad_begin + pad_end - span
    if room < 0:
        raise ShapeError(f"a window of {span} does not fit an axis of {size} padded by {pad_begin}+{pad_end}")
    steps = -(-room // stride) if ceil_mode else room // stride
    if ceil_mode and steps * stride >= size + pad_begin:  # ONNX drops a window starting in the end padding
        steps -= 1
    return steps + 1


def transposed_output(size: int, kernel: int, pad_begin: int, pad_end: int, stride: int, dilation: int,
                      output_padding: int) -> int:
    """Positions along one axis of ConvTranspose's output."""
    out = stride * (size - 1) + output_padding + (kernel - 1) * dilation + 1 - pad_begin - pad_end
    if out <= 0:
        raise ShapeError(f"the transposed convolution's output along an axis of {size} would be empty")
    return out


def same_pads(size: int, kernel: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    """auto_pad SAME_UPPER / SAME_LOWER: the output has ceil(size / stride) positions."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size)
    small, large = total // 2, total - total // 2
    return (small, large) if upper else (large, small)


def reshape(shape: Shape, target: Sequence[int], allowzero: bool = False) -> Shape:
    """ONNX Reshape: 0 copies the input's dimension (unless allowzero), -1 is inferred."""
    dims: list[Union[Size, None]] = []
    for i, value in enumerate(target):
        if value == 0 and not allowzero:
            if i >= len(shape):
                raise ShapeError(f"Reshape copies dimension {i} (0) but the input has rank {len(shape)}")
            dims.append(shape[i])
        elif value == -1:
            dims.append(None)
        elif value < 0:
            raise ShapeError(f"Reshape target dimension {value}")
        else:
            dims.append(Size(value))
    known = numel([d for d in dims if d is not None])
    total = numel(shape)
    if dims.count(None) > 1:
        raise ShapeError("Reshape target has more than one -1")
    if None in dims:
        dims[dims.index(None)] = total.divided_by(known)
    result = tuple(d for d in dims if d is not None)
    if numel(result) != total:
        raise ShapeError(f"Reshape of {describe(shape)} ({total.text()} elements) to {list(target)} "
                         f"({numel(result).text()} elements)")
    return result


def broadcast(left: Shape, right: Shape) -> Shape:
    """Numpy (multidirectional) broadcasting of two shapes."""
    rank = max(len(left), len(right))
    left = (Size(1),) * (rank - len(left)) + left
    right = (Size(1),) * (rank - len(right)) + right
    out = []
    for a, b in zip(left, right):
        if a == b or b == Size(1):
            out.append(a)
        elif a == Size(1):
            out.append(b)
        else:
            raise ShapeError(f"shapes {describe(left)} and {describe(right)} do not broadcast")
    return tuple(out)


def matmul(left: Shape, right: Shape) -> Shape:
    """numpy.matmul's shape for a right operand of rank 1 or 2 (no batched right operand)."""
    if len(right) > 2:
        if any(d != Size(1) for d in right[:-2]):
            raise ShapeError(f"MatMul with a batched right operand {describe(right)}")
        right = right[-2:]
    if left[-1] != right[0]:
        raise ShapeError(f"MatMul of {describe(left)} by {describe(right)}: inner sizes differ")
    return left[:-1] + right[1:]


