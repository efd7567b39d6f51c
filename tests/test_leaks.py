"""Every program in tests/programs/leaks tries to move a secret somewhere public; the checker must
reject it with the code and position its first line names:

    (* expect: E0301 at 5:3 — why the program leaks *)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ezlang.diagnostics import render_text
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile

LEAKS = sorted((Path(__file__).parent / "programs" / "leaks").glob("*.ezpc"))
EXPECT = re.compile(r"\(\* expect: (?P<code>[EW]\d{4}) at (?P<line>\d+):(?P<col>\d+) — (?P<why>.+?) \*\)")


def expectation(source: SourceFile) -> tuple[str, int, int]:
    match = EXPECT.match(source.text)
    assert match, f"{source.name}: first line must be `(* expect: CODE at LINE:COL — why *)`"
    return match["code"], int(match["line"]), int(match["col"])


def test_corpus_is_large_enough() -> None:
    assert len(LEAKS) >= 20


@pytest.mark.parametrize("path", LEAKS, ids=lambda p: p.stem)
def test_leak_is_rejected(path: Path) -> None:
    source = SourceFile.read(path)
    code, line, col = expectation(source)
    result = check_source(source, bitlen=32)
    errors = result.diagnostics.errors()
    assert result.program is None and errors, f"{path.name} was accepted:\n{source.text}"
    first = errors[0]
    assert first.span is not None, render_text(first)
    assert (first.code, first.span.line, first.span.col) == (code, line, col), render_text(first)
