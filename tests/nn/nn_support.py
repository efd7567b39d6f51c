"""What the layer-library tests share: check a program, lower it, inline the library calls,
optimise as `ezlang.passes.fixed_pipeline.prepare` does, and run it in the interpreter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from ezlang.passes.fixed_pipeline import Prepared, prepare
from ezlang.passes.pipeline import check_source

from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.lib import nn
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role


def checked(text: str, *, bitlen: int = 32, scale: int = 12) -> ast.Program:
    result = check_source(SourceFile("nn_test.ezpc", text), bitlen=bitlen, scale=scale)
    assert result.program is not None, [str(d) for d in result.diagnostics.items]
    return result.program


def run(prepared: Prepared, inputs: Mapping[Role, Mapping[str, Any]]) -> dict[str, Any]:
    """Output text → decoded value of every output the CLIENT receives."""
    sources = prepared.inputs({role: InputSource.from_mapping(values) for role, values in inputs.items()})
    result = prepared.run_result(interpret(prepared.program, sources))
    return {out.text: out.value for out in result.outputs.get(Role.CLIENT, ())}


@dataclass(frozen=True)
class Tensor:
    """A flat fixed-point input of a test program: its values (any shape, row-major), who gives it
    and its declared range (a power of two bounding the values)."""

    values: np.ndarray
    role: Role = Role.SERVER

    @property
    def bound(self) -> float:
        return float(2.0 ** np.ceil(np.log2(max(np.abs(self.values).max(), 2.0 ** -8))))


def layer_program(uses: list[str], calls: list[str], inputs: Mapping[str, Tensor], outputs: Mapping[str, str],
                  hidden: Mapping[str, str] | None = None) -> str:
    """A program with the library functions `uses` (and their helpers), one input per tensor,
    one declaration per output and per hidden array (name -> its type, e.g. `fixed_al[12]`),
    the calls, then one `output(CLIENT, name)` per output."""
    lines = [f"input({t.role}, {name}, fixed_al[{t.values.size}], [-{t.bound}, {t.bound}]);"
             for name, t in inputs.items()]
    lines += [f"{ty} {name};" for name, ty in {**(hidden or {}), **outputs}.items()]
    lines += [f"{call};" for call in calls]
    lines += [f"output(CLIENT, {name});" for name in outputs]
    return nn.source_for(uses) + "\ndef void main() {\n" + "\n".join("  " + line for line in lines) + "\n}\n"


def run_layers(uses: list[str], calls: list[str], inputs: Mapping[str, Tensor], outputs: Mapping[str, str], *,
               bitlen: int = 32, scale: int = 12) -> dict[str, np.ndarray]:
    """Each output's decoded values, after check, lowering, inlining and optimisation."""
    prepared = prepare(checked(layer_program(uses, calls, inputs, outputs), bitlen=bitlen, scale=scale),
                               bitlen=bitlen)
    given: dict[Role, dict[str, Any]] = {role: {} for role in (Role.SERVER, Role.CLIENT, Role.ALL)}
    for name, tensor in inputs.items():
        given[tensor.role][name] = tensor.values.reshape(-1).tolist()
    return {name: np.array(value, dtype=np.float64) for name, value in run(prepared, given).items()}
