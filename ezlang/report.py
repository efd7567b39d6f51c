"""Renders the outcome of checking files as text for people, or JSON and SARIF 2.1.0 for tools.

Assumes: each FileReport holds one file's diagnostics in arrival order and, when an explanation
was asked for and the file checked clean, its output flows (ezlang.passes.flow_summary);
run results come from ezlang.interp.
Guarantees: functions from reports to strings; nothing here prints or touches files.
Line and column numbers are 1-based and count characters; end columns are exclusive (one past
the last character), as SARIF defines them, in both JSON and SARIF.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Optional
from urllib.parse import quote

import numpy as np

from ezlang import __version__
from ezlang.diagnostics import CODES, Diagnostic, Severity, render_text
from ezlang.interp import OutputValue, RunResult
from ezlang.passes.flow_summary import OutputFlow, describe
from ezlang.source import Span
from ezlang.types import Role


JSON_VERSION = 1
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_BASE_ID = "%SRCROOT%"


@dataclass(frozen=True)
class FileReport:
    """One checked file. `flows` is None when no explanation was computed for it."""

    path: str
    diagnostics: tuple[Diagnostic, ...]
    flows: Optional[tuple[OutputFlow, ...]] = None

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)

    def count(self, severity: Severity) -> int:
        return sum(d.severity is severity for d in self.diagnostics)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary(reports: Iterable[FileReport]) -> str:
    """`checked 3 files: 2 clean, 1 with errors (4 errors, 0 warnings)`."""
    reports = list(reports)
    clean = sum(r.ok for r in reports)
    errors = sum(r.count(Severity.ERROR) for r in reports)
    warnings = sum(r.count(Severity.WARNING) for r in reports)
    return (f"checked {_plural(len(reports), 'file')}: {clean} clean, {len(reports) - clean} with errors "
            f"({_plural(errors, 'error')}, {_plural(warnings, 'warning')})")


def render_diagnostics(reports: Iterable[FileReport]) -> str:
    """Every diagnostic as rendered by render_text, one blank line between them."""
    return "\n\n".join(render_text(d) for r in reports for d in r.diagnostics)


def render_explanations(reports: Iterable[FileReport]) -> str:
    return "\n".join(describe(f) for r in reports for f in (r.flows or ()))


def render_text_report(reports: list[FileReport], *, explain: bool = False) -> str:
    """Diagnostics, then the summary line, then (if asked) the flows: what `check` prints."""
    parts = [render_diagnostics(reports), summary(reports)]
    if explain:
        parts.append(render_explanations(reports))
    return "\n\n".join(p for p in parts if p) + "\n"


def span_range(span: Span) -> tuple[int, int, int, int]:
    """(line, column, end line, exclusive end column); an empty span ends where it starts."""
    line, col = span.file.line_col(span.start)
    if span.end <= span.start:
        return line, col, line, col
    end_line, last_col = span.end_line_col
    return line, col, end_line, last_col + 1


def _position_json(span: Optional[Span]) -> dict[str, Optional[int]]:
    line, col, end_line, end_col = span_range(span) if span else (None, None, None, None)
    return {"line": line, "column": col, "end_line": end_line, "end_column": end_col}


def diagnostic_json(diag: Diagnostic) -> dict[str, Any]:
    related = [{"path": s.span.file.name, **_position_json(s.span), "label": s.label} for s in diag.secondary]
    return {"code": diag.code, "severity": diag.severity.value, "message": diag.message,
            **_position_json(diag.span), "label": diag.label, "help": diag.help,
            "notes": list(diag.notes), "related": related}


def flow_json(flow: OutputFlow) -> dict[str, Any]:
    sources = [{"role": str(s.role), "name": s.name, **_position_json(s.span)} for s in flow.sources]
    parameters = [{"function": p.function, "name": p.name, "secret": p.secret} for p in flow.parameters]
    return {"recipient": str(flow.recipient), "output": flow.text, **_position_json(flow.span),
            "sources": sources, "parameters": parameters, "text": describe(flow)}


def _flows_json(report: FileReport) -> Optional[list[dict[str, Any]]]:
    return None if report.flows is None else [flow_json(f) for f in report.flows]


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def render_json(reports: list[FileReport], *, explain: bool = False) -> str:
    """{"version": 1, "files": [{"path", "ok", "diagnostics": [...], "flows"?: [...] | null}]}."""
    files = []
    for report in reports:
        entry: dict[str, Any] = {"path": report.path, "ok": report.ok,
                                 "diagnostics": [diagnostic_json(d) for d in report.diagnostics]}
        if explain:
            entry["flows"] = _flows_json(report)
        files.append(entry)
    return _dump({"version": JSON_VERSION, "files": files})


def render_sarif(reports: list[FileReport], *, root: Path, explain: bool = False) -> str:
    """A SARIF 2.1.0 log with one run; relative paths are resolved against `root` (%SRCROOT%)."""
    rule_ids = sorted({d.code for r in reports for d in r.diagnostics})
    rule_index = {code: i for i, code in enumerate(rule_ids)}
    run: dict[str, Any] = {
        "tool": {"driver": _driver(rule_ids)},
        "columnKind": "unicodeCodePoints",
        "results": [_result(r.path, d, rule_index, root) for r in reports for d in r.diagnostics],
    }
    if explain:
        run["properties"] = {"flows": [{"path": r.path, "flows": _flows_json(r)} for r in reports]}
    return _dump({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]})


def _driver(rule_ids: list[str]) -> dict[str, Any]:
    driver: dict[str, Any] = {"name": "ezlang", "version": __version__, "semanticVersion": __version__}
    uri = _information_uri()
    if uri:
        driver["informationUri"] = uri
    driver["rules"] = [_rule(code) for code in rule_ids]
    return driver


def _information_uri() -> Optional[str]:
    """The project's home page as the installed package declares it (pyproject [project.urls])."""
    try:
        urls = metadata.metadata("ezlang").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    return next((u.split(",", 1)[1].strip() for u in urls if "," in u), None)


def _rule(code: str) -> dict[str, Any]:
    level = "warning" if code.startswith("W") else "error"
    return {"id": code, "shortDescription": {"text": CODES.get(code) or code},
            "defaultConfiguration": {"level": level}}


_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def _result(path: str, diag: Diagnostic, rule_index: dict[str, int], root: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": diag.code,
        "ruleIndex": rule_index[diag.code],
        "level": _LEVEL[diag.severity],
        "message": {"text": _sarif_message(diag)},
        "locations": [_location(path, diag.span, root)],
    }
    if diag.secondary:
        result["relatedLocations"] = [
            {"id": i, **_location(s.span.file.name, s.span, root), "message": {"text": s.label}}
            for i, s in enumerate(diag.secondary, start=1)]
    return result


def _sarif_message(diag: Diagnostic) -> str:
    """Message, label, notes and help in one text: code-scanning UIs show only message.text."""
    lines = [diag.message + (f": {diag.label}" if diag.label else "")]
    lines += [f"note: {note}" for note in diag.notes]
    lines += [f"help: {diag.help}"] if diag.help else []
    return "\n".join(lines)


def _location(path: str, span: Optional[Span], root: Path) -> dict[str, Any]:
    """A physical location; a diagnostic about a whole file points at its first line."""
    region: dict[str, int] = {"startLine": 1}
    if span:
        line, col, end_line, end_col = span_range(span)
        region = {"startLine": line, "startColumn": col, "endLine": end_line, "endColumn": end_col}
    return {"physicalLocation": {"artifactLocation": artifact_location(path, root), "region": region}}


def artifact_location(path: str, root: Path) -> dict[str, str]:
    """Relative to %SRCROOT% when the file lies under root, else an absolute file: URI.

    Symbolic links are kept as named: the path a user wrote is the one their repository holds."""
    base = Path(os.path.abspath(root))
    absolute = Path(os.path.normpath(base / path))
    try:
        relative = absolute.relative_to(base)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": SARIF_BASE_ID}


def render_run_text(run: RunResult) -> str:
    """A `SERVER:` and a `CLIENT:` section of `name = value` lines, outputs in program order."""
    lines: list[str] = []
    for role in (Role.SERVER, Role.CLIENT):
        outputs = run.outputs.get(role, ())
        lines.append(f"{role}:")
        lines += [f"  {out.text} = {output_text(out)}" for out in outputs] or ["  (no outputs)"]
    return "\n".join(lines) + "\n"


def output_text(out: OutputValue) -> str:
    """An output's value as `value_text` spells it; a decoded fixed-point value is a double and
    is spelled in full (the shortest text that reads back as it), not as a float32."""
    return _fixed_text(out.value) if out.type.is_fixed else value_text(out.value)


def _fixed_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_fixed_text(v) for v in value) + "]"
    return repr(value)


def value_text(value: Any) -> str:
    """EzPC spelling of a value: true/false, shortest single-precision floats, nested lists."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(np.float32(value))
    return str(value)


def render_run_json(path: str, diagnostics: Iterable[Diagnostic], run: Optional[RunResult]) -> str:
    """{"version": 1, "path", "ok", "diagnostics": [...], "outputs": {"SERVER": [...], "CLIENT": [...]}};
    outputs is null when the program did not run to the end."""
    outputs = None
    if run is not None:
        outputs = {str(role): [_output_json(out) for out in run.outputs.get(role, ())]
                   for role in (Role.SERVER, Role.CLIENT)}
    return _dump({"version": JSON_VERSION, "path": path, "ok": run is not None,
                  "diagnostics": [diagnostic_json(d) for d in diagnostics], "outputs": outputs})


def _output_json(out: OutputValue) -> dict[str, Any]:
    value = out.value if out.type.is_fixed else _value_json(out.value)
    return {"name": out.text, "type": str(out.type), "value": value,
            **_position_json(out.span)}


def _value_json(value: Any) -> Any:
    """Floats by their shortest single-precision spelling; JSON has no inf or nan, so those are
    the strings "inf", "-inf", "nan"."""
    if isinstance(value, (list, tuple)):
        return [_value_json(v) for v in value]
    if isinstance(value, float):
        text = str(np.float32(value))
        return float(text) if math.isfinite(value) else text
    return value
