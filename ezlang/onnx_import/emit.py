"""The text of model.ezpc: a header, the library functions the model uses, and `main`.

Why: the program is what both parties run and what an auditor reads, so it shows the
architecture (one call per layer with a comment naming the ONNX node and its shapes, every
size visible) and nothing of the weights: each weight tensor is a SERVER input whose declared
range is its largest magnitude rounded up to a power of two, so the text reveals only that
magnitude bucket (docs/import.md, "What the program reveals").

Assumes: a folded Plan, the library it calls, and the format (scale None writes `fixed`, the
program's default scale, as format selection needs; otherwise `fixed<scale>` everywhere).
Guarantees: a program that checks at --bitlen `bitlen` (given a library that checks), reads
the public `batch` first when the plan is batched, then every weight in first-use order, then
the model's inputs, and outputs the model's outputs to CLIENT; no weight value appears in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

from ezlang.onnx_import.library import Library
from ezlang.onnx_import.plan import Arg, Call, Plan, Tensor, Weight
from ezlang.onnx_import.shapes import Shape, Size, describe


@dataclass(frozen=True)
class Format:
    scale: Optional[int]  # None: the program's default scale (`fixed`)
    bitlen: int


@dataclass(frozen=True)
class Header:
    """What the header comment says beyond the plan."""

    source: str  # the ONNX file's name
    opset: int
    input_ranges: dict[str, tuple[float, float]]  # by program variable
    max_batch: int


def emit(plan: Plan, library: Library, fmt: Format, header: Header) -> str:
    fixed = f"fixed<{fmt.scale}>" if fmt.scale is not None else "fixed"
    lines = ["def void main() {"]
    if plan.batched:
        lines.append(f"  input(ALL, batch, int32_pl, [1, {header.max_batch}]);")
    lines.append("  (* the model's weights (SERVER): ranges are magnitudes rounded up to powers of two *)")
    for weight in plan.weights():
        lines.append(f"  input(SERVER, {weight.var}, {fixed}_al[{_product(weight.shape)}], "
                     f"{_range_text(weight_range(weight.values, fmt.scale))});"
                     f"  (* {describe(weight.shape)}, from `{weight.source}` *)")
    for item in plan.inputs:
        bounds = header.input_ranges.get(item.tensor.var)
        declared = f", {_range_text(bounds)}" if bounds is not None else ""
        lines.append(f"  input(CLIENT, {item.tensor.var}, {fixed}_al[{_product(item.tensor.shape)}]{declared});"
                     f"  (* ONNX input `{item.name}` {describe(item.tensor.shape)} *)")
    for call in plan.calls:
        lines += ["", f"  (* {call.describe()} *)"] + _call_lines(call, library, fmt.scale)
    lines.append("")
    lines += [f"  output(CLIENT, {out.tensor.var});  (* ONNX output `{out.name}` {describe(out.tensor.shape)}, "
              f"{out.kind} *)" for out in plan.outputs]
    lines.append("}")
    used = list(dict.fromkeys(call.function for call in plan.calls))
    return "\n".join([_header(plan, fmt, header), "", library.source(used, fmt.scale), "", *lines]) + "\n"


def _call_lines(call: Call, library: Library, scale: Optional[int]) -> list[str]:
    params = library.signature(call.function)
    given = dict(call.args)
    missing = [p.name for p in params if p.name not in given]
    extra = [name for name in given if name not in {p.name for p in params}]
    if missing or extra:
        raise ValueError(f"the library's {call.function} takes ({', '.join(p.name for p in params)}); the importer "
                         f"passes ({', '.join(given)})")
    out = call.output
    element = next(p for p in params if p.name == "Y").declared(scale)
    args = ", ".join(_arg_text(given[p.name]) for p in params)
    return [f"  {element}[{_product(out.shape)}] {out.var};", f"  {call.function}({args});"]


def _arg_text(value: Arg) -> str:
    if isinstance(value, (Tensor, Weight)):
        return value.var
    if isinstance(value, Size):
        return value.text()
    return real_text(float(value))


def _product(shape: Shape) -> str:
    return "*".join(d.text() for d in shape) or "1"


def weight_range(values: np.ndarray, scale: Optional[int]) -> tuple[float, float]:
    """[-2^k, 2^k] for the least k with every |value| ≤ 2^k (at least one step of the scale)."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    floor = -scale if scale is not None else -30
    exponent = max(_power_above(largest), floor) if largest > 0 else floor
    return -2.0 ** exponent, 2.0 ** exponent


def rounded_out(low: float, high: float) -> tuple[float, float]:
    """A calibrated range widened to [-2^k, 2^k] (or [0, 2^k] when it holds no negative value)."""
    largest = max(abs(low), abs(high))
    exponent = _power_above(largest) if largest > 0 else 0
    return (0.0 if low >= 0 else -2.0 ** exponent), 2.0 ** exponent


def _power_above(value: float) -> int:
    """The least k with value ≤ 2^k, exactly (log2 may round a value just above 2^k down to k)."""
    mantissa, exponent = math.frexp(value)  # value = mantissa · 2^exponent, 0.5 ≤ mantissa < 1
    return exponent - 1 if mantissa == 0.5 else exponent


def real_text(value: float) -> str:
    """The exact decimal of a double, as an EzPC real literal (digits, no exponent)."""
    exact = Fraction(value)
    sign = "-" if exact < 0 else ""
    whole, rest = divmod(abs(exact), 1)
    if rest == 0:
        return f"{sign}{whole}.0"
    digits = []
    while rest:
        rest *= 10
        digit, rest = divmod(rest, 1)
        digits.append(str(digit))
    return f"{sign}{whole}.{''.join(digits)}"


def _range_text(bounds: Sequence[float]) -> str:
    return f"[{real_text(bounds[0])}, {real_text(bounds[1])}]"


def _header(plan: Plan, fmt: Format, header: Header) -> str:
    scale = f"fixed<{fmt.scale}>: {fmt.scale} fractional bits" if fmt.scale is not None else "fixed (--scale)"
    inputs = [f"     {i.tensor.var}: CLIENT, shape {describe(i.tensor.shape)}"
              + (f", declared range {_range_text(header.input_ranges[i.tensor.var])}"
                 if i.tensor.var in header.input_ranges else "")
              for i in plan.inputs]
    if plan.batched:
        inputs.append(f"     batch: ALL (public), the number of rows, 1 to {header.max_batch}")
    outputs = [f"     {o.tensor.var}: CLIENT, shape {describe(o.tensor.shape)}, {o.kind}" for o in plan.outputs]
    client = plan.inputs[0].tensor.var if plan.inputs else "x"
    public = " --public-inputs public.json" if plan.batched else ""
    return "\n".join([
        f'(* Generated by `ezlang import` from {header.source} (model "{plan.model}", ONNX opset {header.opset}).',
        "   The architecture only: every weight is a SERVER input, read from model.weights.",
        "",
        "   Inputs:", *inputs,
        "   Outputs:", *outputs,
        f"   Format: {scale}, in the {fmt.bitlen}-bit ring (--bitlen {fmt.bitlen}).",
        "   Run it (all three roles on this machine):",
        f"     ezlang run model.ezpc --local --bitlen {fmt.bitlen} --server-inputs model.weights "
        f"--client-inputs {client}.npy{public}",
        "   A flat input takes any array of as many elements, in row-major order. *)"])
