"""The proof certificate: which rule texts `ezlang verify-rules` proved, so that using a rule needs no z3.

Why: proving all rules takes seconds of z3, too slow for every compilation, yet the rewrite engine
must never apply a rule whose current text was not proved. `verify-rules --write-certificate`
records, per rule, the SHA-256 of its normalised text with the proof's widths, bound and verdict
(passes/rules/certificate.json, committed with the rules). The engine applies a rule only when its
digest is recorded as proved; CI's `verify-rules` fails when the file no longer matches the rules.

Assumes: rules validated by load.py. Guarantees: a rule's digest changes exactly when its text
changes other than in comments and whitespace (the normalised text drops `#` comments, trims
lines, collapses blanks); `certified` keeps a rule only if its digest is recorded as proved.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ezlang.passes.rules.load import Rule

VERSION = 1
_COMMENT = re.compile(r"#[^\n]*")
_BLANKS = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Entry:
    """What the certificate says about one rule."""

    digest: str
    widths: tuple[int, ...]
    bound: str
    proved: bool


def builtin_path() -> Path:
    return Path(str(resources.files("ezlang.passes.rules").joinpath("certificate.json")))


def normalised_text(rule: Rule) -> str:
    lines = (_BLANKS.sub(" ", _COMMENT.sub("", line)).strip() for line in rule.span.text.splitlines())
    return "\n".join(line for line in lines if line)


def digest(rule: Rule) -> str:
    return hashlib.sha256(normalised_text(rule).encode()).hexdigest()


def entry_for(rule: Rule, proved: bool) -> Entry:
    widths = next(p.values for p in rule.params if p.name == "w")
    bound = "exact" if rule.ulps == 0 else f"within {rule.ulps} ulp"
    return Entry(digest(rule), tuple(widths), bound, proved)


def render(entries: Mapping[str, Entry]) -> str:
    """The certificate file's text: stable key order, so a rewrite without changes is byte-identical."""
    rules = {name: {"sha256": e.digest, "widths": list(e.widths), "bound": e.bound, "proved": e.proved}
             for name, e in sorted(entries.items())}
    return json.dumps({"version": VERSION, "rules": rules}, indent=2, ensure_ascii=False) + "\n"


def read(path: Path | None = None) -> dict[str, Entry]:
    """The recorded entries; an absent or unreadable file certifies nothing."""
    try:
        document = json.loads((path or builtin_path()).read_text())
        records = document["rules"] if document.get("version") == VERSION else {}
        return {name: Entry(r["sha256"], tuple(r["widths"]), r["bound"], bool(r["proved"]))
                for name, r in records.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def stale(rules: Sequence[Rule], entries: Mapping[str, Entry]) -> list[str]:
    """Why the certificate does not match `rules` (empty when it does), one reason per rule."""
    reasons: list[str] = []
    names = {rule.name for rule in rules}
    for rule in rules:
        entry = entries.get(rule.name)
        if entry is None:
            reasons.append(f"{rule.span}: {rule.name}: not in the certificate")
        elif entry.digest != digest(rule):
            reasons.append(f"{rule.span}: {rule.name}: changed since it was certified")
        elif not entry.proved:
            reasons.append(f"{rule.span}: {rule.name}: recorded as not proved")
    reasons.extend(f"{name}: certified but no longer in the rule files" for name in sorted(set(entries) - names))
    return reasons


def certified(rules: Iterable[Rule], entries: Mapping[str, Entry]) -> tuple[tuple[Rule, ...], tuple[str, ...]]:
    """The rules the certificate covers as proved, and a note for each one left out."""
    usable: list[Rule] = []
    skipped: list[str] = []
    for rule in rules:
        entry = entries.get(rule.name)
        if entry is not None and entry.proved and entry.digest == digest(rule):
            usable.append(rule)
        else:
            skipped.append(f"rule `{rule.name}` ({rule.span}) skipped: its text is not certified as proved; "
                           "run `ezlang verify-rules --write-certificate`")
    return tuple(usable), tuple(skipped)
