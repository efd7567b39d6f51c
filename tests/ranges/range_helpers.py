"""Shared by the range-analysis tests: check a program, analyse it, find nodes by their text."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from ezlang.diagnostics import render_text
from ezlang.inputs import InputSource
from ezlang.passes.pipeline import check_source
from ezlang.passes.ranges import RangeReport, analyze
from ezlang.passes.ranges_shapes import walk
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role


REPOSITORY = Path(__file__).resolve().parents[2]


def source(relative: str) -> SourceFile:
    """A file of the repository, named by its path from the repository's root."""
    return SourceFile(relative, (REPOSITORY / relative).read_text())


def checked(text: str, bitlen: int = 32, name: str = "t.ezpc") -> ast.Program:
    result = check_source(SourceFile(name, text), bitlen=bitlen)
    assert result.program is not None, "\n".join(render_text(d) for d in result.diagnostics)
    return result.program


def analysed(text: str, bitlen: int = 32, **bounds: tuple[int, int]) -> RangeReport:
    return analyze(checked(text, bitlen), bitlen=bitlen, input_bounds=bounds)


def nodes(program: ast.Program, text: str) -> Iterator[ast.Expr]:
    """Every expression whose source text is `text` (outermost first at each place)."""
    for node in walk(program):
        span = getattr(node, "span", None)
        if span is not None and hasattr(node, "ty") and span.text == text:
            yield node  # type: ignore[misc]


def interval_of(report: RangeReport, text: str) -> tuple[int, int]:
    """The join of the intervals of every node with source text `text`."""
    found = [report.interval(node) for node in nodes(report.program, text)]
    known = [i for i in found if i is not None]
    assert known, f"no analysed node reads `{text}`"
    return min(i.lo for i in known), max(i.hi for i in known)


def sources(values: Mapping[Role, Mapping[str, Any]]) -> dict[Role, InputSource]:
    return {role: InputSource.from_mapping(dict(named)) for role, named in values.items()}
