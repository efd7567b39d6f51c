"""The proof certificate: it matches the shipped rule files (hashes only, no z3), `verify-rules`
writes it and fails when it is stale, and the engine uses only certified rule texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ezlang.passes.rules import certificate, prove
from ezlang.passes.rules.load import builtin_paths, load_file, load_text

from ezlang.cli import main

SHIPPED = [rule for path in builtin_paths() for rule in load_file(path)]
COMMITTED = certificate.builtin_path()
RULE = "name: r\nparams: w in {32}, s in 0..4\nfrom: %z = rescale %x, s\nto: %z = rescale %x, s\nbound: exact\n"


def test_the_certificate_matches_the_shipped_rules() -> None:
    assert certificate.stale(SHIPPED, certificate.read()) == []
    usable, skipped = certificate.certified(SHIPPED, certificate.read())
    assert [r.name for r in usable] == [r.name for r in SHIPPED] and skipped == ()


def test_the_digest_ignores_comments_and_spacing_but_not_the_rule() -> None:
    plain = load_text(RULE)[0]
    spaced = load_text("# why\nname:   r\nparams: w in {32},  s in 0..4   # note\n"
                       "from: %z = rescale %x, s\nto:   %z = rescale %x, s\nbound: exact\n")[0]
    other = load_text(RULE.replace("0..4", "0..5"))[0]
    assert certificate.digest(plain) == certificate.digest(spaced) != certificate.digest(other)


def test_stale_reasons_name_the_rule_and_its_location() -> None:
    rule = load_text(RULE)[0]
    entries = {"r": certificate.entry_for(load_text(RULE.replace("0..4", "0..5"))[0], True),
               "gone": certificate.entry_for(rule, True)}
    assert certificate.stale([rule], entries) == ["<rules>:1:1: r: changed since it was certified",
                                                  "gone: certified but no longer in the rule files"]
    assert certificate.stale([rule], {"r": certificate.entry_for(rule, False)}) == [
        "<rules>:1:1: r: recorded as not proved"]
    assert certificate.stale([rule], {}) == ["<rules>:1:1: r: not in the certificate"]


@pytest.fixture
def fast_proofs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """verify-rules against a certificate in tmp_path, with every proof taken as done (z3 is
    exercised by tests/rules)."""
    target = tmp_path / "certificate.json"
    monkeypatch.setattr(certificate, "builtin_path", lambda: target)
    monkeypatch.setattr(prove, "prove", lambda rule, timeout_ms=0: prove.Outcome(rule))
    return target


def test_verify_rules_writes_the_certificate(fast_proofs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-rules", "--write-certificate"]) == 0
    assert f"wrote {fast_proofs} (8 of 8 rules proved)" in capsys.readouterr().err
    written = json.loads(fast_proofs.read_text())
    assert written["version"] == 1
    assert written["rules"]["merge-rescales"] == {
        "sha256": certificate.digest(next(r for r in SHIPPED if r.name == "merge-rescales")),
        "widths": [32, 64], "bound": "exact", "proved": True}
    assert written["rules"]["sum-of-products"]["bound"] == "within 1 ulp"
    assert fast_proofs.read_text() == COMMITTED.read_text()  # the committed file is what the command writes
    assert main(["verify-rules"]) == 0


def test_verify_rules_fails_on_a_stale_certificate(fast_proofs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-rules", "--write-certificate"]) == 0
    document = json.loads(fast_proofs.read_text())
    document["rules"]["merge-rescales"]["sha256"] = "0" * 64
    fast_proofs.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["verify-rules"]) == 1
    err = capsys.readouterr().err
    assert f"{fast_proofs} is stale:" in err
    assert "truncation.rules:5:1: merge-rescales: changed since it was certified" in err
    assert "run `ezlang verify-rules --write-certificate` and commit the file" in err


def test_verify_rules_of_other_files_ignores_the_certificate(fast_proofs: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.rules"
    other.write_text(RULE)
    assert main(["verify-rules", "--rules", str(other)]) == 0
    capsys.readouterr()
    assert main(["verify-rules", "--rules", str(other), "--write-certificate"]) == 2
    assert capsys.readouterr().err == ("ezlang verify-rules: error: --write-certificate certifies the built-in "
                                       "rules; it cannot be combined with --rules\n")


def test_an_unreadable_certificate_certifies_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "certificate.json"
    broken.write_text("{not json")
    assert certificate.read(broken) == {}
    usable, skipped = certificate.certified(SHIPPED, certificate.read(broken))
    assert usable == () and len(skipped) == len(SHIPPED)
