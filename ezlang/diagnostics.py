"""Diagnostics are values: passes add them to a sink, the CLI renders them once.

Every code a user can see is registered in CODES with a one-line title; tests/programs/errors
pins the text of each. Codes are grouped by family:
  E01xx lexing and parsing          E02xx names and scopes
  E03xx information flow (leaks)    E04xx types and labels
  E05xx program structure           E06xx run time and inputs
  E07xx secure compilation          E08xx ONNX import
  W0xxx warnings
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterator, Optional

from ezlang.source import Span


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


CODES: dict[str, str] = {
    "E0101": "unexpected character",
    "E0102": "unterminated comment",
    "E0103": "integer literal out of range",
    "E0104": "syntax error",
    "E0105": "input is not ASCII text",
}


def register(code: str, title: str) -> str:
    """Add a code to the registry (idempotent); passes call this at import time."""
    existing = CODES.setdefault(code, title)
    if existing != title:
        raise ValueError(f"diagnostic code {code} registered twice: {existing!r} and {title!r}")
    return code


@dataclass(frozen=True)
class SecondarySpan:
    span: Span
    label: str


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Optional[Span]
    label: str = ""
    secondary: tuple[SecondarySpan, ...] = ()
    help: Optional[str] = None
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return CODES.get(self.code, "")


@dataclass
class Diagnostics:
    """A sink that passes append to; ordered by arrival."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diag: Diagnostic) -> None:
        if diag.code not in CODES:
            raise KeyError(f"unregistered diagnostic code {diag.code}")
        self.items.append(diag)

    def error(self, code: str, message: str, span: Optional[Span], *, label: str = "",
              help: Optional[str] = None, secondary: tuple[SecondarySpan, ...] = (),
              notes: tuple[str, ...] = ()) -> None:
        self.add(Diagnostic(code, Severity.ERROR, message, span, label, secondary, help, notes))

    def warning(self, code: str, message: str, span: Optional[Span], *, label: str = "",
                help: Optional[str] = None) -> None:
        self.add(Diagnostic(code, Severity.WARNING, message, span, label, (), help))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class CompileError(Exception):
    """Raised by a stage that cannot continue; carries the diagnostics gathered so far."""

    def __init__(self, diagnostics: Diagnostics):
        self.diagnostics = diagnostics
        first = diagnostics.errors()[0] if diagnostics.errors() else None
        super().__init__(render_text(first) if first else "compilation failed")


def _caret_line(span: Span, line: int, text: str) -> str:
    start_line, start_col = span.file.line_col(span.start)
    end_line, end_col = span.end_line_col
    first = start_col if line == start_line else 1
    last = end_col if line == end_line else len(text)
    width = max(1, last - first + 1)
    prefix = "".join(ch if ch == "\t" else " " for ch in text[: first - 1])
    return prefix + "^" * width


def _snippet(span: Span, label: str, gutter: int) -> list[str]:
    line = span.line
    text = span.file.line_text(line)
    pad = " " * gutter
    return [f"{line:>{gutter}} | {text}", f"{pad} | {_caret_line(span, line, text)}" + (f" {label}" if label else "")]


def render_text(diag: Diagnostic) -> str:
    """`file:line:col: error[E0302]: message`, the source line with carets, then help and notes."""
    where = f"{diag.span}: " if diag.span else ""
    lines = [f"{where}{diag.severity.value}[{diag.code}]: {diag.message}"]
    spans = ([(diag.span, diag.label)] if diag.span else []) + [(s.span, s.label) for s in diag.secondary]
    if spans:
        gutter = max(len(str(s.line)) for s, _ in spans)
        for span, label in spans:
            if span.file is not spans[0][0].file:
                lines.append(f"{' ' * gutter}--> {span}")
            lines.extend(_snippet(span, label, gutter))
    for note in diag.notes:
        lines.append(f"  note: {note}")
    if diag.help:
        lines.append(f"  help: {diag.help}")
    return "\n".join(lines)
