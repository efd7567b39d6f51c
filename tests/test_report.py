"""Reports on hand-made diagnostics: text, JSON, and SARIF checked against the 2.1.0 schema rules."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from ezlang import report
from ezlang.diagnostics import Diagnostic, SecondarySpan, Severity, render_text
from ezlang.interp import OutputValue, RunResult
from ezlang.passes.dependencies import InputRef, OpenParameter
from ezlang.passes.flow_summary import OutputFlow
from ezlang.passes.resolve_names import DUPLICATE_PARAM
from ezlang.report import (FileReport, render_json, render_run_text, render_sarif, render_text_report,
                           span_range, summary)
from ezlang.semantics import to_f32
from ezlang.source import SourceFile, Span
from ezlang.types import Base, Label, Role, Type

PROGRAM = """\
def void main() {
  input(SERVER, w, int32);
  input(CLIENT, x, int32);
  int32 y = w * x;
  output(CLIENT, y);
  output(SERVER, 7);
}
"""
SOURCE = SourceFile("model.ezpc", PROGRAM)


def span_of(text: str, source: SourceFile = SOURCE) -> Span:
    start = source.text.index(text)
    return Span(source, start, start + len(text))


def error(code: str = "E0104", where: str = "w * x", **fields: Any) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, "something is wrong", span_of(where), **fields)


def warning(where: str = "int32 y") -> Diagnostic:
    return Diagnostic(DUPLICATE_PARAM, Severity.WARNING, "a warning", span_of(where))


def flow(output: str, *sources: tuple[Role, str]) -> OutputFlow:
    """The flow of `output(R, e)` where `output` is the statement's text and R its recipient."""
    recipient, text = re.fullmatch(r"output\((\w+), (.*)\);", output).groups()
    refs = tuple(InputRef(role, name, span_of(f"input({role}, {name}")) for role, name in sources)
    return OutputFlow(span_of(output), Role(recipient), text, refs)


def test_summary_counts_files_and_errors():
    reports = [FileReport("a.ezpc", ()), FileReport("b.ezpc", ()),
               FileReport("c.ezpc", (error(), error(), error(), error()))]
    assert summary(reports) == "checked 3 files: 2 clean, 1 with errors (4 errors, 0 warnings)"


def test_summary_counts_warnings_and_a_file_with_only_warnings_as_clean():
    reports = [FileReport("a.ezpc", (warning(), warning())), FileReport("b.ezpc", (warning(), error()))]
    assert summary(reports) == "checked 2 files: 1 clean, 1 with errors (1 error, 3 warnings)"


def test_summary_uses_singular_for_one():
    assert summary([FileReport("a.ezpc", (error(),))]) == \
        "checked 1 file: 0 clean, 1 with errors (1 error, 0 warnings)"


def test_file_with_only_warnings_is_ok():
    assert FileReport("a.ezpc", (warning(),)).ok
    assert not FileReport("a.ezpc", (warning(), error())).ok


def test_text_report_is_diagnostics_then_summary():
    first, second = error(), error("E0101", "int32 y", label="here", help="do this")
    reports = [FileReport("model.ezpc", (first,)), FileReport("other.ezpc", ()),
               FileReport("model.ezpc", (second,))]
    assert render_text_report(reports) == (
        f"{render_text(first)}\n\n{render_text(second)}\n\n"
        "checked 3 files: 1 clean, 2 with errors (2 errors, 0 warnings)\n")


def test_text_report_of_clean_files_is_the_summary():
    assert render_text_report([FileReport("a.ezpc", ())]) == \
        "checked 1 file: 1 clean, 0 with errors (0 errors, 0 warnings)\n"


def test_explanation_follows_the_summary_one_line_per_output():
    flows = (flow("output(CLIENT, y);", (Role.SERVER, "w"), (Role.CLIENT, "x")), flow("output(SERVER, 7);"))
    text = render_text_report([FileReport("model.ezpc", (), flows), FileReport("bad.ezpc", (error(),))],
                              explain=True)
    assert text.endswith("checked 2 files: 1 clean, 1 with errors (1 error, 0 warnings)\n\n"
                         "output(CLIENT, y) at model.ezpc:5 depends on SERVER:w and CLIENT:x\n"
                         "output(SERVER, 7) at model.ezpc:6 depends on no party input\n")


def test_explanation_is_left_out_unless_asked():
    flows = (flow("output(SERVER, 7);"),)
    assert "output(" not in render_text_report([FileReport("model.ezpc", (), flows)])


def test_span_range_is_one_based_with_exclusive_end_column():
    assert span_range(span_of("w * x")) == (4, 13, 4, 18)


def test_span_range_across_lines_ends_after_the_last_character():
    assert span_range(span_of("x;\n  output")) == (4, 17, 5, 9)


def test_span_range_of_a_span_ending_in_a_newline_stays_on_its_line():
    assert span_range(span_of("output(SERVER, 7);\n")) == (6, 3, 6, 22)


def test_empty_span_range_ends_where_it_starts():
    start = PROGRAM.index("int32 y")
    assert span_range(Span(SOURCE, start, start)) == (4, 3, 4, 3)


def test_json_diagnostic_has_every_field():
    other = SourceFile("lib.ezpc", "int32 f;\n")
    diag = error(label="secret", help="declare it public", notes=("first", "second"),
                 secondary=(SecondarySpan(span_of("f", other), "declared here"),))
    document = json.loads(render_json([FileReport("model.ezpc", (diag,))]))
    assert document == {"version": 1, "files": [{"path": "model.ezpc", "ok": False, "diagnostics": [{
        "code": "E0104", "severity": "error", "message": "something is wrong",
        "line": 4, "column": 13, "end_line": 4, "end_column": 18,
        "label": "secret", "help": "declare it public", "notes": ["first", "second"],
        "related": [{"path": "lib.ezpc", "line": 1, "column": 7, "end_line": 1, "end_column": 8,
                     "label": "declared here"}]}]}]}


def test_json_diagnostic_without_a_span_has_null_positions():
    diag = Diagnostic("E0104", Severity.ERROR, "no main", None)
    entry = json.loads(render_json([FileReport("a.ezpc", (diag,))]))["files"][0]["diagnostics"][0]
    assert [entry[k] for k in ("line", "column", "end_line", "end_column", "help")] == [None] * 5


def test_json_keeps_file_order_and_ok_flags():
    reports = [FileReport("b.ezpc", (warning(),)), FileReport("a.ezpc", (error(),))]
    files = json.loads(render_json(reports))["files"]
    assert [(f["path"], f["ok"], [d["severity"] for d in f["diagnostics"]]) for f in files] == \
        [("b.ezpc", True, ["warning"]), ("a.ezpc", False, ["error"])]


def test_json_flows_only_when_explaining():
    reports = [FileReport("model.ezpc", (), (flow("output(CLIENT, y);", (Role.SERVER, "w")),)),
               FileReport("bad.ezpc", (error(),))]
    assert all("flows" not in f for f in json.loads(render_json(reports))["files"])
    good, bad = json.loads(render_json(reports, explain=True))["files"]
    assert bad["flows"] is None
    assert good["flows"] == [{
        "recipient": "CLIENT", "output": "y", "line": 5, "column": 3, "end_line": 5, "end_column": 21,
        "sources": [{"role": "SERVER", "name": "w", "line": 2, "column": 3, "end_line": 2,
                     "end_column": 18}],
        "parameters": [],
        "text": "output(CLIENT, y) at model.ezpc:5 depends on SERVER:w"}]


def test_json_flow_lists_open_parameters_of_uncalled_functions():
    out = OutputFlow(span_of("output(SERVER, 7);"), Role.SERVER, "7", (),
                     (OpenParameter("f", "a", True), OpenParameter("f", "b", False)))
    entry = json.loads(render_json([FileReport("model.ezpc", (), (out,))], explain=True))["files"][0]
    assert entry["flows"][0]["parameters"] == [{"function": "f", "name": "a", "secret": True},
                                               {"function": "f", "name": "b", "secret": False}]


# The rules of sarif-schema-2.1.0.json that our logs touch, written out so the tests need no
# download: allowed properties per object kind (the schema forbids others), required ones, ranges.
_URI_REFERENCE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_ALLOWED = {
    "log": {"$schema", "version", "runs", "inlineExternalProperties", "properties"},
    "run": {"tool", "invocations", "conversion", "language", "versionControlProvenance",
            "originalUriBaseIds", "artifacts", "logicalLocations", "graphs", "results",
            "automationDetails", "runAggregates", "baselineGuid", "redactionTokens",
            "defaultEncoding", "defaultSourceLanguage", "newlineSequences", "columnKind",
            "externalPropertyFileReferences", "threadFlowLocations", "taxonomies", "addresses",
            "translations", "policies", "webRequests", "webResponses", "specialLocations", "properties"},
    "tool": {"driver", "extensions", "properties"},
    "toolComponent": {"guid", "name", "organization", "product", "productSuite", "shortDescription",
                      "fullDescription", "fullName", "version", "semanticVersion",
                      "dottedQuadFileVersion", "releaseDateUtc", "downloadUri", "informationUri",
                      "globalMessageStrings", "notifications", "rules", "taxa", "locations",
                      "language", "contents", "isComprehensive", "localizedDataSemanticVersion",
                      "minimumRequiredLocalizedDataSemanticVersion", "associatedComponent",
                      "translationMetadata", "supportedTaxonomies", "properties"},
    "reportingDescriptor": {"id", "deprecatedIds", "guid", "deprecatedGuids", "name", "deprecatedNames",
                            "shortDescription", "fullDescription", "messageStrings",
                            "defaultConfiguration", "helpUri", "help", "relationships", "properties"},
    "reportingConfiguration": {"enabled", "level", "rank", "parameters", "properties"},
    "multiformatMessageString": {"text", "markdown", "properties"},
    "result": {"ruleId", "ruleIndex", "rule", "kind", "level", "message", "analysisTarget", "locations",
               "guid", "correlationGuid", "occurrenceCount", "partialFingerprints", "fingerprints",
               "stacks", "codeFlows", "graphs", "graphTraversals", "relatedLocations", "suppressions",
               "baselineState", "rank", "attachments", "hostedViewerUri", "workItemUris", "provenance",
               "fixes", "taxa", "webRequest", "webResponse", "properties"},
    "message": {"text", "markdown", "id", "arguments", "properties"},
    "location": {"id", "physicalLocation", "logicalLocations", "message", "annotations",
                 "relationships", "properties"},
    "physicalLocation": {"address", "artifactLocation", "region", "contextRegion", "properties"},
    "artifactLocation": {"uri", "uriBaseId", "index", "description", "properties"},
    "region": {"startLine", "startColumn", "endLine", "endColumn", "charOffset", "charLength",
               "byteOffset", "byteLength", "snippet", "message", "sourceLanguage", "properties"},
}
_LEVELS = {"none", "note", "warning", "error"}


def _object(value: Any, kind: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    assert isinstance(value, dict), f"{kind} must be an object"
    assert set(value) <= _ALLOWED[kind], f"{kind} has unknown properties {set(value) - _ALLOWED[kind]}"
    missing = [key for key in required if key not in value]
    assert not missing, f"{kind} lacks required {missing}"
    if "properties" in value:
        assert isinstance(value["properties"], dict)
    return value


def _message(value: Any, kind: str = "message") -> None:
    _object(value, kind, ("text",))
    assert isinstance(value["text"], str) and value["text"]


def _positive_ints(obj: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key in obj:
            assert isinstance(obj[key], int) and not isinstance(obj[key], bool) and obj[key] >= 1, key


def _region(value: Any) -> None:
    region = _object(value, "region", ("startLine",))
    _positive_ints(region, "startLine", "startColumn", "endLine", "endColumn")
    assert region.get("endLine", region["startLine"]) >= region["startLine"]
    if region.get("endLine", region["startLine"]) == region["startLine"] and "startColumn" in region:
        assert region.get("endColumn", region["startColumn"]) >= region["startColumn"]


def _location(value: Any) -> dict[str, Any]:
    location = _object(value, "location", ("physicalLocation",))
    if "id" in location:
        assert isinstance(location["id"], int) and location["id"] >= -1
    physical = _object(location["physicalLocation"], "physicalLocation", ("artifactLocation", "region"))
    artifact = _object(physical["artifactLocation"], "artifactLocation", ("uri",))
    assert _URI_REFERENCE.match(artifact["uri"]), artifact["uri"]
    assert isinstance(artifact.get("uriBaseId", ""), str)
    _region(physical["region"])
    if "message" in location:
        _message(location["message"])
    return location


def _rule(value: Any) -> None:
    rule = _object(value, "reportingDescriptor", ("id",))
    assert isinstance(rule["id"], str)
    _message(rule["shortDescription"], "multiformatMessageString")
    config = _object(rule.get("defaultConfiguration", {}), "reportingConfiguration")
    assert config.get("level", "warning") in _LEVELS


def _result(value: Any, rules: list[dict[str, Any]]) -> None:
    result = _object(value, "result", ("message", "ruleId", "locations"))
    _message(result["message"])
    assert result.get("level", "warning") in _LEVELS
    if "ruleIndex" in result:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert len(result["locations"]) >= 1
    for location in result["locations"] + result.get("relatedLocations", []):
        _location(location)
    related_ids = [loc["id"] for loc in result.get("relatedLocations", [])]
    assert len(related_ids) == len(set(related_ids))


def assert_valid_sarif(text: str) -> dict[str, Any]:
    """The parsed log, after checking what the schema and GitHub code scanning require of it."""
    log = _object(json.loads(text), "log", ("version", "runs"))
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run = _object(log["runs"][0], "run", ("tool",))
    assert run.get("columnKind", "utf16CodeUnits") in {"utf16CodeUnits", "unicodeCodePoints"}
    driver = _object(_object(run["tool"], "tool", ("driver",))["driver"], "toolComponent", ("name",))
    assert driver["name"] == "ezlang" and isinstance(driver["version"], str)
    rules = driver.get("rules", [])
    for rule in rules:
        _rule(rule)
    assert len({r["id"] for r in rules}) == len(rules)
    for result in run["results"]:
        _result(result, rules)
    return log


def _sarif(reports: list[FileReport], root: Path = Path("/repo"), **options: Any) -> dict[str, Any]:
    return assert_valid_sarif(render_sarif(reports, root=root, **options))


def test_sarif_lists_the_rules_that_occur_in_order_with_their_titles():
    reports = [FileReport("model.ezpc", (error("E0104"), warning())), FileReport("b.ezpc", (error("E0101"),))]
    rules = _sarif(reports)["runs"][0]["tool"]["driver"]["rules"]
    assert [(r["id"], r["shortDescription"]["text"], r["defaultConfiguration"]["level"]) for r in rules] == \
        [("E0101", "unexpected character", "error"), ("E0104", "syntax error", "error"),
         ("W0201", "duplicate parameter name", "warning")]


def test_sarif_result_has_rule_level_message_and_region():
    diag = error(label="secret", help="declare it public", notes=("a note",))
    result = _sarif([FileReport("src/model.ezpc", (diag, warning()))])["runs"][0]["results"]
    assert [(r["ruleId"], r["ruleIndex"], r["level"]) for r in result] == \
        [("E0104", 0, "error"), ("W0201", 1, "warning")]
    assert result[0]["message"]["text"] == \
        "something is wrong: secret\nnote: a note\nhelp: declare it public"
    assert result[0]["locations"] == [{"physicalLocation": {
        "artifactLocation": {"uri": "src/model.ezpc", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 4, "startColumn": 13, "endLine": 4, "endColumn": 18}}}]


def test_sarif_note_severity_is_note_level():
    diag = Diagnostic("E0104", Severity.NOTE, "fyi", span_of("w * x"))
    assert _sarif([FileReport("m.ezpc", (diag,))])["runs"][0]["results"][0]["level"] == "note"


def test_sarif_secondary_spans_are_related_locations():
    diag = error(secondary=(SecondarySpan(span_of("input(SERVER, w"), "w is a SERVER input"),
                            SecondarySpan(span_of("int32 y"), "declared here")))
    related = _sarif([FileReport("model.ezpc", (diag,))])["runs"][0]["results"][0]["relatedLocations"]
    assert [(r["id"], r["message"]["text"], r["physicalLocation"]["region"]["startLine"]) for r in related] \
        == [(1, "w is a SERVER input", 2), (2, "declared here", 4)]


def test_sarif_diagnostic_without_span_points_at_the_first_line():
    diag = Diagnostic("E0104", Severity.ERROR, "no main", None)
    location = _sarif([FileReport("lib.ezpc", (diag,))])["runs"][0]["results"][0]["locations"][0]
    assert location["physicalLocation"]["region"] == {"startLine": 1}


@pytest.mark.parametrize(("path", "uri"), [
    ("model.ezpc", {"uri": "model.ezpc", "uriBaseId": "%SRCROOT%"}),
    ("./a/../b/model.ezpc", {"uri": "b/model.ezpc", "uriBaseId": "%SRCROOT%"}),
    ("/repo/x/my model.ezpc", {"uri": "x/my%20model.ezpc", "uriBaseId": "%SRCROOT%"}),
    ("/elsewhere/m.ezpc", {"uri": "file:///elsewhere/m.ezpc"}),
    ("../m.ezpc", {"uri": "file:///m.ezpc"}),
])
def test_sarif_artifact_uris_are_relative_to_the_root_when_possible(path: str, uri: dict[str, str]):
    assert report.artifact_location(path, Path("/repo")) == uri


def test_sarif_of_clean_files_has_no_results_and_no_rules():
    log = _sarif([FileReport("a.ezpc", ())])
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []


def test_sarif_flows_are_run_properties_when_explaining():
    reports = [FileReport("model.ezpc", (), (flow("output(SERVER, 7);"),)), FileReport("b.ezpc", (error(),))]
    assert "properties" not in _sarif(reports)["runs"][0]
    flows = _sarif(reports, explain=True)["runs"][0]["properties"]["flows"]
    assert [(f["path"], f["flows"] and [x["text"] for x in f["flows"]]) for f in flows] == \
        [("model.ezpc", ["output(SERVER, 7) at model.ezpc:6 depends on no party input"]), ("b.ezpc", None)]


def test_sarif_information_uri_comes_from_the_package_metadata(monkeypatch: pytest.MonkeyPatch):
    class Meta:
        def get_all(self, key: str) -> list[str]:
            return ["Homepage, https://example.org/ezlang"] if key == "Project-URL" else []

    monkeypatch.setattr(report.metadata, "metadata", lambda name: Meta())
    driver = _sarif([FileReport("a.ezpc", ())])["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == "https://example.org/ezlang"


@pytest.mark.parametrize("broken", [
    lambda log: log.pop("version"),
    lambda log: log["runs"][0]["results"][0].pop("message"),
    lambda log: log["runs"][0]["results"][0].update(level="fatal"),
    lambda log: log["runs"][0]["results"][0].update(ruleIndex=0, ruleId="E9999"),
    lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].update(startLine=0),
    lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"].update(extra=1),
    lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    .update(uri="a b.ezpc"),
])
def test_the_sarif_checks_reject_broken_logs(broken: Any):
    log = json.loads(render_sarif([FileReport("m.ezpc", (error(),))], root=Path("/repo")))
    broken(log)
    with pytest.raises(AssertionError):
        assert_valid_sarif(json.dumps(log))


def output_value(recipient: Role, text: str, ty: Type, value: Any) -> OutputValue:
    return OutputValue(span_of("output(CLIENT, y);"), recipient, text, ty, value)


RUN = RunResult({
    Role.SERVER: (output_value(Role.SERVER, "flag", Type(Base.BOOL, Label.PL), True),),
    Role.CLIENT: (output_value(Role.CLIENT, "y", Type(Base.INT32, Label.AL), -5),
                  output_value(Role.CLIENT, "m", Type(Base.BOOL, Label.BL, 2), [[True, False], [False, True]]),
                  output_value(Role.CLIENT, "f", Type(Base.FLOAT, Label.FL, 1),
                               [to_f32(0.1), to_f32(1e20), -math.inf, math.nan])),
})


def test_run_text_has_a_section_per_party_with_name_value_lines():
    assert render_run_text(RUN) == (
        "SERVER:\n"
        "  flag = true\n"
        "CLIENT:\n"
        "  y = -5\n"
        "  m = [[true, false], [false, true]]\n"
        "  f = [0.1, 1e+20, -inf, nan]\n")


def test_run_text_says_when_a_party_receives_nothing():
    assert render_run_text(RunResult({})) == "SERVER:\n  (no outputs)\nCLIENT:\n  (no outputs)\n"


def test_run_json_holds_outputs_types_and_positions():
    document = json.loads(report.render_run_json("model.ezpc", (warning(),), RUN))
    assert document["version"] == 1 and document["path"] == "model.ezpc" and document["ok"] is True
    assert [d["code"] for d in document["diagnostics"]] == ["W0201"]
    assert document["outputs"]["SERVER"] == [{"name": "flag", "type": "bool_pl", "value": True, "line": 5,
                                              "column": 3, "end_line": 5, "end_column": 21}]
    assert [(o["name"], o["type"], o["value"]) for o in document["outputs"]["CLIENT"]] == [
        ("y", "int32_al", -5), ("m", "bool_bl[][]", [[True, False], [False, True]]),
        ("f", "float_fl[]", [0.1, 1e20, "-inf", "nan"])]


def test_run_json_of_a_failed_run_has_no_outputs():
    document = json.loads(report.render_run_json("model.ezpc", (error(),), None))
    assert (document["ok"], document["outputs"], len(document["diagnostics"])) == (False, None, 1)
