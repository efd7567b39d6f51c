"""The front end's passes in order: parse, resolve fixed-point types, resolve names, infer labels
and type check.

Assumes: nothing about the input text.
Guarantees: a CheckResult whose `program` is the typed IR (every `Expr.ty` set, every operator
label decided, every implicit conversion an explicit `Convert`) exactly when no error was
reported. Phases stop as the reference's do: a lexing/parsing error stops everything, and name
resolution errors (E02xx) are reported without type checking, so no type error is ever a
consequence of an unresolved name; a fixed-point scale too large for the ring (E0429) stops
before name resolution, since every literal and conversion of that type would fail with it.
Fixed-point types come out as the ring's integers with a scale (ezlang.types.Type.scale); the
lowering to plain integers is ezlang.passes.fixed_pipeline.prepare, run after checking.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

from ezlang.diagnostics import CompileError, Diagnostics
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.parse import parse_program

from ezlang.passes.fixed_types import FixedTypes
from ezlang.passes.resolve_names import ResolveNames
from ezlang.passes.typecheck import TypeCheck

BITLENS = (32, 64)
DEFAULT_SCALE = 12


@dataclass(frozen=True)
class CheckResult:
    """The typed program (None when there are errors) and every diagnostic, in report order."""

    program: Optional[ast.Program]
    diagnostics: Diagnostics

    @property
    def ok(self) -> bool:
        return self.program is not None


def check_source(source: SourceFile, *, bitlen: int = 32, scale: int = DEFAULT_SCALE,
                 library: bool = False) -> CheckResult:
    """Parse and check one .ezpc file; `library` files need not end with `def void main()`;
    `scale` is the number of fractional bits of `fixed` written without `<s>`."""
    _require_options(bitlen, scale)
    with acyclic():
        try:
            program = parse_program(source)
        except CompileError as error:
            return CheckResult(None, error.diagnostics)
        return check_program(program, bitlen=bitlen, scale=scale, library=library)


def check_program(program: ast.Program, *, bitlen: int = 32, scale: int = DEFAULT_SCALE,
                  library: bool = False) -> CheckResult:
    """Check a parsed program; the result's program is its typed IR."""
    _require_options(bitlen, scale)
    diags = Diagnostics()
    with acyclic():
        program = FixedTypes(bitlen=bitlen, default_scale=scale).run(program, diags)
        if diags.has_errors:
            return CheckResult(None, diags)
        resolution = ResolveNames().run(program, diags)
        if diags.has_errors:
            return CheckResult(None, diags)
        typed = TypeCheck(bitlen=bitlen, library=library).run(program, resolution, diags)
    return CheckResult(None if diags.has_errors else typed, diags)


@contextmanager
def acyclic() -> Iterator[None]:
    """Pause the cycle collector: trees are acyclic, and with a million live nodes every full
    collection costs a third of a second, which made checking the 36,000-statement libraries
    three times slower."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _require_options(bitlen: int, scale: int) -> None:
    if bitlen not in BITLENS:
        raise ValueError(f"bitlen must be 32 or 64, not {bitlen!r}")
    if not 0 <= scale < bitlen:
        raise ValueError(f"scale must be at least 0 and below the bit width {bitlen}, not {scale!r}")
