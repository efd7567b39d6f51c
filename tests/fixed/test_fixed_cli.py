"""`--scale` and `--explain-scales` on the command line, and fixed-point programs through
`ezlang check`, `interpret` and `compile`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ezlang.cli import main
from ezlang.run.local import role_arguments

PROGRAM = """\
def void main() {
  input(SERVER, w, fixed_al[2], [-1.0, 1.0]);
  input(CLIENT, x, fixed<8>_al[2]);
  fixed_al acc = 0.0;
  for i = [0:2] {
    acc = acc + w[i] * x[i]
  };
  fixed<4>_al coarse = acc;
  output(CLIENT, acc > 0.0 ? acc : 0.0);
  output(SERVER, coarse)
}
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "dot.ezpc").write_text(PROGRAM)
    (tmp_path / "server.json").write_text(json.dumps({"w": [0.5, -0.25]}))
    (tmp_path / "client.json").write_text(json.dumps({"x": [0.75, 1.1]}))
    return tmp_path


def test_explain_scales_lists_every_truncation_and_the_boundary(files: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    program = files / "dot.ezpc"
    assert main(["compile", str(program), "--explain-scales", "--no-optimize"]) == 0
    assert capsys.readouterr().out == (
        f"{program}:6:17: truncate by 8 after `w[i] * x[i]` (scale 20 → 12)\n"
        f"{program}:8:24: truncate by 8 converting `acc` (scale 12 → 4)\n"
        "2 truncations placed\n"
        "input `w`: scale 12\n"
        "input `x`: scale 8\n"
        f"{program}:9:3: output decoded at scale 12\n"
        f"{program}:10:3: output decoded at scale 4\n")


def test_explain_scales_lists_the_rewrites_and_the_counts_before_and_after(
        files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = files / "dot.ezpc"
    assert main(["compile", str(program), "--explain-scales"]) == 0
    out = capsys.readouterr().out
    # `w` has no declared range, so keeping `acc` at scale 20 could overflow: no rule applies, and
    # the conversion to fixed<4> is the program's own precision, which no rule drops
    assert ("rewrites:\n  truncations after products: 1 site (2 executed) before, 1 site (2 executed) after\n"
            f"  {program}:9:3: output decoded at scale 12: error ≤ 0 ulp\n"
            f"  {program}:10:3: output decoded at scale 4: error ≤ 0 ulp\n") in out


def test_explain_scales_follows_the_default_scale(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(files / "dot.ezpc"), "--explain-scales", "--scale", "16", "--bitlen", "64"]) == 0
    out = capsys.readouterr().out
    assert "truncate by 8 after `w[i] * x[i]` (scale 24 → 16)" in out and "input `w`: scale 16" in out


def test_interpret_prints_reals(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interpret", str(files / "dot.ezpc"), "--server-inputs", str(files / "server.json"),
                 "--client-inputs", str(files / "client.json")]) == 0
    # w = [2048, -1024] / 2^12, x = [192, round(281.6) = 282] / 2^8: acc = (1536 - 1128) / 2^12
    assert capsys.readouterr().out == ("SERVER:\n  coarse = 0.0625\n"
                                       "CLIENT:\n  acc > 0.0 ? acc : 0.0 = 0.099609375\n")


def test_interpret_json_gives_fixed_types_and_real_values(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interpret", str(files / "dot.ezpc"), "--format", "json", "--server-inputs",
                 str(files / "server.json"), "--client-inputs", str(files / "client.json")]) == 0
    outputs = json.loads(capsys.readouterr().out)["outputs"]
    assert [(o["type"], o["value"]) for o in outputs["SERVER"] + outputs["CLIENT"]] == [
        ("fixed<4>_al", 0.0625), ("fixed<12>_bl", 0.099609375)]


def test_the_scale_changes_what_interpret_computes(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "server.json").write_text(json.dumps({"w": [0.1, 0.0]}))
    (files / "client.json").write_text(json.dumps({"x": [1.0, 0.0]}))
    for scale, expected in (("4", "0.125"), ("12", "0.10009765625")):
        assert main(["interpret", str(files / "dot.ezpc"), "--scale", scale, "--server-inputs",
                     str(files / "server.json"), "--client-inputs", str(files / "client.json")]) == 0
        assert f"acc > 0.0 ? acc : 0.0 = {expected}\n" in capsys.readouterr().out


def test_an_input_outside_its_declared_range_fails_the_run(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "server.json").write_text(json.dumps({"w": [0.5, 1.5]}))
    assert main(["interpret", str(files / "dot.ezpc"), "--server-inputs", str(files / "server.json"),
                 "--client-inputs", str(files / "client.json")]) == 1
    assert "error[E0627]: input `w` of SERVER (fixed<12>_al[2])" in capsys.readouterr().err


def test_compile_emits_the_integer_program(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(files / "dot.ezpc"), "--emit-llvm"]) == 0
    assert "ashr" in capsys.readouterr().out


@pytest.mark.parametrize("flags", [["--scale", "32"], ["--scale", "-1"], ["--bitlen", "64", "--scale", "64"]])
@pytest.mark.parametrize("command", ["check", "interpret", "compile", "run"])
def test_the_scale_must_fit_the_ring(files: Path, capsys: pytest.CaptureFixture[str], command: str,
                                     flags: list[str]) -> None:
    assert main([command, str(files / "dot.ezpc"), *flags]) == 2
    bitlen = flags[1] if flags[0] == "--bitlen" else "32"
    assert capsys.readouterr().err == (f"ezlang {command}: error: --scale {flags[-1]}: the number of fractional bits "
                                       f"must be at least 0 and below --bitlen {bitlen}\n")


def test_check_takes_the_scale(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "big.ezpc").write_text("def void main() {\n  fixed_pl big = 100000.0\n}\n")
    assert main(["check", str(files / "big.ezpc")]) == 0
    assert main(["check", str(files / "big.ezpc"), "--scale", "16"]) == 1
    assert "error[E0427]: `100000.0` does not fit fixed<16>_pl in the 32-bit ring" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "interpret", "compile", "run"])
def test_help_explains_the_scale(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--scale N fractional bits of `fixed` written without `<s>` (0 <= N < --bitlen)" in help_text
    assert ("Default: for a fixed-point program that declares its input ranges, the largest scale with which "
            "the range analysis proves nothing overflows; otherwise 12") in help_text
    if command == "compile":
        assert "--explain-scales instead of compiling, list where the fixed-point lowering truncates" in help_text


def test_a_local_run_passes_the_scale_to_every_role() -> None:
    for args in role_arguments("p.ezpc", {}, None, 32, 5.0, scale=8).values():
        assert args[args.index("--scale") + 1] == "8"


NET = Path(__file__).parent.parent.parent / "examples" / "two_layer_net.ezpc"


def test_without_flags_a_program_with_declared_ranges_runs_at_the_chosen_format(
        capsys: pytest.CaptureFixture[str]) -> None:
    # ezlang.passes.ranges_format picks --bitlen 32 --scale 11 for this network (tests/ranges)
    assert main(["compile", str(NET), "--explain-scales"]) == 0
    out = capsys.readouterr().out
    assert "(scale 22 → 11)" in out and "input `x`: scale 11" in out


def test_a_given_bitlen_leaves_only_the_scale_to_choose(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(NET), "--explain-scales", "--bitlen", "64"]) == 0
    assert "input `x`: scale 24" in capsys.readouterr().out


def test_a_given_scale_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(NET), "--explain-scales", "--scale", "12"]) == 0
    assert "input `x`: scale 12" in capsys.readouterr().out


def test_a_program_with_an_undeclared_input_range_keeps_the_defaults(files: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # `w` declares no range, so nothing can be proven: --bitlen 32 and scale 12, as before
    assert main(["compile", str(files / "dot.ezpc"), "--explain-scales"]) == 0
    assert "input `w`: scale 12" in capsys.readouterr().out


def test_choose_format_uses_the_declared_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["choose-format", str(NET)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("--bitlen 32 --scale 11 fits: the widest value, `score` at ")
    assert out.endswith("use: --bitlen 32 --scale 11\n")


def test_choose_format_calibrates_undeclared_inputs_on_samples(files: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    # `x` declares no range: the two samples bound it to [-3.5, 2.0], and products stay within
    # 3.5 · 2^15 · 2^15 < 2^31 at the largest 32-bit scale considered
    (tmp_path / "other.json").write_text(json.dumps({"x": [-3.5, 2.0]}))
    assert main(["choose-format", str(files / "dot.ezpc"), "--server-inputs", str(files / "server.json"),
                 "--client-inputs", str(files / "client.json"), str(tmp_path / "other.json")]) == 0
    assert capsys.readouterr().out.endswith("use: --bitlen 32 --scale 15\n")


def test_choose_format_without_bounds_says_what_overflows(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["choose-format", str(files / "dot.ezpc")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("no format fits: at --bitlen 64 --scale 8, `w[i] * x[i]` at ")
    assert "declare tighter input ranges or allow a smaller scale" in out
