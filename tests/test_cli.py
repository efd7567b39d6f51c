"""The `ezlang` command end to end: main([...]) in process, plus the installed console script once."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ezlang import __version__, cli
from ezlang.cli import main
from test_report import assert_valid_sarif

CLEAN = """\
def void main() {
  input(SERVER, w, int32_al);
  input(CLIENT, x, int32_al);
  input(ALL, n, int32_pl);
  int32_al y = w * x + n;
  output(CLIENT, y);
  output(ALL, n)
}
"""
LEAK = """\
def void main() {
  input(SERVER, s, int32_al);
  int32_pl p = 0;
  if (s > 0) {
    p = 1
  };
  output(CLIENT, p)
}
"""
SYNTAX = "def void main() {\n  int32_pl x = 1 +;\n}\n"
LIBRARY = "def int32_al twice(int32_al a) {\n  return a + a;\n}\n"
WARNING = """\
def int32_pl f(int32_pl a, int32_pl a) {
  return a;
}

def void main() {
  output(ALL, f(1, 2))
}
"""
WIDE = "def void main() {\n  input(SERVER, x, int64_al);\n  output(SERVER, x)\n}\n"
OUT_OF_BOUNDS = """\
def void main() {
  int32_pl[3] a;
  input(ALL, k, int32_pl);
  output(CLIENT, a[k])
}
"""
PROGRAMS = {"clean.ezpc": CLEAN, "leak.ezpc": LEAK, "syntax.ezpc": SYNTAX, "lib.ezpc": LIBRARY,
            "warning.ezpc": WARNING, "wide.ezpc": WIDE, "oob.ezpc": OUT_OF_BOUNDS,
            "server.json": '{"w": 6}', "client.json": '{"x": -7}', "public.txt": "3\n",
            "index.txt": "5", "broken.json": '{"w": ', "program.txt": CLEAN}
CLEAN_SUMMARY = "checked 1 file: 1 clean, 0 with errors (0 errors, 0 warnings)\n"


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in PROGRAMS.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_clean_file_exits_0_with_the_summary_on_stderr(capsys):
    assert run(capsys, "check", "clean.ezpc") == (0, "", CLEAN_SUMMARY)


def test_check_leak_exits_1_with_the_diagnostic_and_summary(capsys):
    code, out, err = run(capsys, "check", "leak.ezpc")
    assert (code, out) == (1, "")
    assert err.startswith("leak.ezpc:4:7: error[E0302]: `if` condition `s > 0` depends on a secret")
    assert "4 |   if (s > 0) {\n  |       ^^^^^ secret\n" in err
    assert err.endswith("\n\nchecked 1 file: 0 clean, 1 with errors (1 error, 0 warnings)\n")


def test_check_several_files_reports_each_and_fails_if_any_fails(capsys):
    code, _, err = run(capsys, "check", "clean.ezpc", "leak.ezpc", "syntax.ezpc")
    assert code == 1
    assert err.index("leak.ezpc:4:7: error[E0302]") < err.index("syntax.ezpc:2:19: error[E0104]")
    assert err.endswith("checked 3 files: 1 clean, 2 with errors (2 errors, 0 warnings)\n")


def test_check_warnings_do_not_fail(capsys):
    code, _, err = run(capsys, "check", "warning.ezpc")
    assert code == 0
    assert err.startswith("warning.ezpc:1:37: warning[W0201]: parameter `a` is declared twice")
    assert err.endswith("checked 1 file: 1 clean, 0 with errors (0 errors, 1 warning)\n")


def test_check_library_needs_the_flag(capsys):
    code, _, err = run(capsys, "check", "lib.ezpc")
    assert code == 1 and "error[E0506]" in err
    assert run(capsys, "check", "--library", "lib.ezpc") == (0, "", CLEAN_SUMMARY)


def test_check_bitlen_selects_the_width_of_secret_integers(capsys):
    code, _, err = run(capsys, "check", "wide.ezpc")
    assert code == 1 and "error[E0415]: secret int64 needs --bitlen 64" in err
    assert run(capsys, "check", "--bitlen", "64", "wide.ezpc") == (0, "", CLEAN_SUMMARY)


def test_check_json_goes_to_stdout(capsys):
    code, out, err = run(capsys, "check", "--format", "json", "clean.ezpc", "leak.ezpc")
    document = json.loads(out)
    assert code == 1 and document["version"] == 1
    assert [(f["path"], f["ok"], [d["code"] for d in f["diagnostics"]]) for f in document["files"]] == \
        [("clean.ezpc", True, []), ("leak.ezpc", False, ["E0302"])]
    assert {k: document["files"][1]["diagnostics"][0][k] for k in ("line", "column", "end_column")} == \
        {"line": 4, "column": 7, "end_column": 12}
    assert "error[E0302]" in err and err.endswith("(1 error, 0 warnings)\n")


def test_check_sarif_is_valid_with_paths_relative_to_the_working_directory(capsys, workdir: Path):
    (workdir / "src").mkdir()
    shutil.copy(workdir / "leak.ezpc", workdir / "src" / "leak.ezpc")
    code, out, _ = run(capsys, "check", "--format", "sarif", "clean.ezpc", str(workdir / "src" / "leak.ezpc"))
    log = assert_valid_sarif(out)
    [result] = log["runs"][0]["results"]
    assert code == 1 and result["ruleId"] == "E0302"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"] == \
        {"uri": "src/leak.ezpc", "uriBaseId": "%SRCROOT%"}
    assert log["runs"][0]["tool"]["driver"]["version"] == __version__


def test_check_explain_prints_flows_on_stdout(capsys):
    code, out, err = run(capsys, "check", "--explain", "clean.ezpc", "leak.ezpc")
    assert code == 1
    assert out == ("output(CLIENT, y) at clean.ezpc:6 depends on SERVER:w, CLIENT:x and ALL:n\n"
                   "output(ALL, n) at clean.ezpc:7 depends on ALL:n\n")
    assert err.endswith("checked 2 files: 1 clean, 1 with errors (1 error, 0 warnings)\n")


def test_check_explain_in_json_and_sarif(capsys):
    _, out, _ = run(capsys, "check", "--explain", "--format", "json", "clean.ezpc", "leak.ezpc")
    clean, leak = json.loads(out)["files"]
    assert [f["text"] for f in clean["flows"]] == [
        "output(CLIENT, y) at clean.ezpc:6 depends on SERVER:w, CLIENT:x and ALL:n",
        "output(ALL, n) at clean.ezpc:7 depends on ALL:n"]
    assert leak["flows"] is None
    _, out, _ = run(capsys, "check", "--explain", "--format", "sarif", "clean.ezpc")
    [entry] = assert_valid_sarif(out)["runs"][0]["properties"]["flows"]
    assert entry["path"] == "clean.ezpc" and [f["recipient"] for f in entry["flows"]] == ["CLIENT", "ALL"]


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_check_output_writes_the_report_to_a_file(capsys, workdir: Path, fmt: str):
    code, out, err = run(capsys, "check", "--format", fmt, "--output", "report.out", "leak.ezpc")
    written = (workdir / "report.out").read_text()
    assert (code, out) == (1, "")
    assert err.endswith("checked 1 file: 0 clean, 1 with errors (1 error, 0 warnings)\n")
    if fmt == "text":
        assert written == err
    else:
        assert json.loads(written)
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []


def test_check_output_replaces_an_existing_file_and_keeps_its_mode(capsys, workdir: Path):
    report = workdir / "report.json"
    report.write_text("old")
    report.chmod(0o640)
    assert run(capsys, "check", "--format", "json", "-o", "report.json", "clean.ezpc")[0] == 0
    assert json.loads(report.read_text())["files"][0]["ok"] is True
    assert stat.S_IMODE(report.stat().st_mode) == 0o640


def test_check_output_text_with_explain_holds_the_flows(capsys, workdir: Path):
    assert run(capsys, "check", "--explain", "-o", "r.txt", "clean.ezpc") == (0, "", CLEAN_SUMMARY)
    assert (workdir / "r.txt").read_text() == (
        CLEAN_SUMMARY + "\noutput(CLIENT, y) at clean.ezpc:6 depends on SERVER:w, CLIENT:x and ALL:n\n"
        "output(ALL, n) at clean.ezpc:7 depends on ALL:n\n")


def test_interpret_prints_each_partys_outputs(capsys):
    code, out, err = run(capsys, "interpret", "clean.ezpc", "--server-inputs", "server.json",
                         "--client-inputs", "client.json", "--public-inputs", "public.txt")
    assert (code, out, err) == (0, "SERVER:\n  n = 3\nCLIENT:\n  y = -39\n  n = 3\n", "")


def test_interpret_json_and_output_file(capsys, workdir: Path):
    code, out, _ = run(capsys, "interpret", "clean.ezpc", "--format", "json", "-o", "run.json",
                       "--server-inputs", "server.json", "--client-inputs", "client.json",
                       "--public-inputs", "public.txt")
    document = json.loads((workdir / "run.json").read_text())
    assert (code, out, document["ok"], document["diagnostics"]) == (0, "", True, [])
    assert [(o["name"], o["type"], o["value"]) for o in document["outputs"]["CLIENT"]] == \
        [("y", "int32_al", -39), ("n", "int32_pl", 3)]


def test_interpret_refuses_a_program_with_errors(capsys):
    code, out, err = run(capsys, "interpret", "leak.ezpc")
    assert (code, out) == (1, "")
    assert err.startswith("leak.ezpc:4:7: error[E0302]")


def test_interpret_reports_run_time_errors(capsys):
    code, out, err = run(capsys, "interpret", "oob.ezpc", "--public-inputs", "index.txt")
    assert (code, out) == (1, "")
    assert err.startswith("oob.ezpc:4:18: error[E0601]: index 5 is out of bounds for `a` of length 3")


def test_interpret_json_of_a_run_time_error(capsys):
    code, out, err = run(capsys, "interpret", "oob.ezpc", "--public-inputs", "index.txt", "--format", "json")
    document = json.loads(out)
    assert (code, document["ok"], document["outputs"]) == (1, False, None)
    assert [d["code"] for d in document["diagnostics"]] == ["E0601"] and "error[E0601]" in err


def test_interpret_reports_missing_and_malformed_inputs(capsys):
    code, _, err = run(capsys, "interpret", "clean.ezpc", "--server-inputs", "server.json")
    assert code == 1 and "error[E0626]: input `x` of CLIENT (int32_al): no inputs were given for CLIENT" in err
    code, _, err = run(capsys, "interpret", "clean.ezpc", "--server-inputs", "broken.json")
    assert (code, err) == (1, "error[E0625]: broken.json:1:7: invalid JSON: Expecting value\n")


def test_interpret_prints_warnings_of_a_completed_run(capsys, workdir: Path):
    (workdir / "small.txt").write_text("2 9\n")
    code, out, err = run(capsys, "interpret", "oob.ezpc", "--public-inputs", "small.txt")
    assert (code, out) == (0, "SERVER:\n  (no outputs)\nCLIENT:\n  a[k] = 0\n")
    assert err.startswith("warning[W0601]: 1 value(s) at the end of small.txt were never read")


@pytest.mark.parametrize("argv", [["version"], ["--version"]])
def test_version(capsys, argv: list[str]):
    assert run(capsys, *argv) == (0, f"ezlang {__version__}\n", "")


def test_top_level_help_lists_the_commands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("check", "interpret", "version"):
        assert f"\n    {command}" in out


@pytest.mark.parametrize(("command", "options"), [
    ("check", ["--format", "--bitlen", "--library", "--explain", "--output", "exit codes"]),
    ("interpret", ["--server-inputs", "--client-inputs", "--public-inputs", "--bitlen", "--format",
                   "--output", "Exit codes"]),
])
def test_command_help_explains_every_option(capsys, command: str, options: list[str]):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    for option in options:
        assert option in out


USAGE_ERRORS = [
    (["check", "missing.ezpc"], "ezlang check: error: missing.ezpc: no such file\n"),
    (["check", "clean.ezpc", "server.json"],
     "ezlang check: error: server.json: not an EzPC source file (the name must end in .ezpc)\n"),
    (["check", "program.txt"],
     "ezlang check: error: program.txt: not an EzPC source file (the name must end in .ezpc)\n"),
    (["check", "dir.ezpc"], "ezlang check: error: dir.ezpc: is a directory, not a file\n"),
    (["check", "-o", "nowhere/report.json", "clean.ezpc"],
     "ezlang check: error: --output nowhere/report.json: directory nowhere does not exist\n"),
    (["check", "-o", "outdir", "clean.ezpc"], "ezlang check: error: --output outdir: is a directory\n"),
    (["interpret", "missing.ezpc"], "ezlang interpret: error: missing.ezpc: no such file\n"),
    (["interpret", "clean.txt"],
     "ezlang interpret: error: clean.txt: not an EzPC source file (the name must end in .ezpc)\n"),
    (["interpret", "clean.ezpc", "--client-inputs", "nothing.json"],
     "ezlang interpret: error: nothing.json: no such file\n"),
    (["interpret", "clean.ezpc", "--public-inputs", "outdir"],
     "ezlang interpret: error: outdir: is a directory, not a file\n"),
    (["interpret", "clean.ezpc", "-o", "gone/run.txt"],
     "ezlang interpret: error: --output gone/run.txt: directory gone does not exist\n"),
    ([], "ezlang: error: a command is required: check, interpret or version\n"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_clear_line(capsys, workdir: Path, argv: list[str], message: str):
    (workdir / "dir.ezpc").mkdir()
    (workdir / "outdir").mkdir()
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.endswith(message)
    assert not (workdir / "nowhere").exists()


ARGPARSE_ERRORS = [
    (["check"], "ezlang check: error: the following arguments are required: FILE"),
    (["check", "--format", "xml", "clean.ezpc"], "argument --format: invalid choice: 'xml'"),
    (["check", "--bitlen", "48", "clean.ezpc"], "argument --bitlen: invalid choice: 48"),
    (["check", "--bitlen", "wide", "clean.ezpc"], "argument --bitlen: invalid int value: 'wide'"),
    (["check", "--strict", "clean.ezpc"], "ezlang: error: unrecognized arguments: --strict"),
    (["interpret", "clean.ezpc", "--format", "sarif"], "argument --format: invalid choice: 'sarif'"),
    (["interpret", "clean.ezpc", "leak.ezpc"], "unrecognized arguments: leak.ezpc"),
    (["transpile", "clean.ezpc"], "argument COMMAND: invalid choice: 'transpile'"),
]


@pytest.mark.parametrize(("argv", "message"), ARGPARSE_ERRORS)
def test_bad_command_lines_exit_2_with_usage(capsys, argv: list[str], message: str):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("usage: ezlang") and message in err


def test_an_unreadable_file_is_a_usage_error(capsys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli.os, "access", lambda path, mode: path != "clean.ezpc")
    assert run(capsys, "check", "clean.ezpc") == (2, "", "ezlang check: error: clean.ezpc: permission denied\n")


def test_a_failing_read_is_a_usage_error(capsys, monkeypatch: pytest.MonkeyPatch):
    def fail(path: str):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(cli.SourceFile, "read", fail)
    assert run(capsys, "check", "clean.ezpc") == (2, "", "ezlang check: error: clean.ezpc: Input/output error\n")


def test_a_failing_write_leaves_no_file_behind(capsys, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    def fail(src: str, dst: str):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli.os, "replace", fail)
    code, out, err = run(capsys, "check", "--format", "json", "-o", "report.json", "clean.ezpc")
    assert (code, out) == (2, "")
    assert err.endswith("ezlang check: error: --output report.json: cannot write: No space left on device\n")
    assert sorted(p.name for p in workdir.iterdir()) == sorted(PROGRAMS)


def test_installed_console_script(workdir: Path):
    script = Path(sys.executable).with_name("ezlang")  # installed next to this interpreter
    done = subprocess.run([str(script), "check", "--format", "sarif", "clean.ezpc", "leak.ezpc"],
                          capture_output=True, text=True, cwd=workdir)
    assert done.returncode == 1
    assert [r["ruleId"] for r in assert_valid_sarif(done.stdout)["runs"][0]["results"]] == ["E0302"]
    assert done.stderr.endswith("checked 2 files: 1 clean, 1 with errors (1 error, 0 warnings)\n")


def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "ezlang", "version"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, f"ezlang {__version__}\n")
