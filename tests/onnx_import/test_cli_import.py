"""`ezlang import` on the command line, and the imported files used as they come by `interpret`
and by a secure `run --local`, with class names printed next to the predicted indices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from ezlang.cli import main
from onnx_support import model, node, reference


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def classifier(tmp_path: Path) -> tuple[Path, np.ndarray, list[int]]:
    """A two-layer classifier of 3 classes on [batch, 2, 3] inputs, two inputs, and their classes."""
    rng = np.random.default_rng(0)
    weights = {"w1": rng.normal(0, 0.5, (6, 5)), "b1": rng.normal(0, 0.1, 5), "w2": rng.normal(0, 0.5, (5, 3))}
    nodes = [node("Flatten", ["x"], ["f"]), node("MatMul", ["f", "w1"], ["m"]), node("Add", ["m", "b1"], ["h"]),
             node("Relu", ["h"], ["r"]), node("MatMul", ["r", "w2"], ["logits"])]
    path = tmp_path / "classifier.onnx"
    onnx.save(model(nodes, {"x": ["batch", 2, 3]}, ["logits"], weights), str(path))
    x = rng.uniform(-1, 1, (2, 2, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "labels.txt").write_text("rest\nvisual\nmotor\n")
    proto = onnx.load(str(path))
    return path, x, np.argmax(reference(proto, {"x": x})[0], axis=-1).tolist()


def _import(capsys: pytest.CaptureFixture[str], path: Path, out: Path) -> str:
    code, stdout, stderr = _run(capsys, "import", str(path), "-o", str(out), "--input-range", "-1", "1",
                                "--argmax", "--labels", str(path.parent / "labels.txt"))
    assert (code, stdout) == (0, "")
    return stderr


def test_import_then_interpret_prints_label_names(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  classifier) -> None:
    path, _, classes = classifier
    stderr = _import(capsys, path, tmp_path / "out")
    assert stderr.splitlines()[:4] == [f"wrote {tmp_path / 'out' / name}" for name in
                                       ("model.ezpc", "model.weights", "manifest.json", "public.json")]
    assert "fits" in stderr.splitlines()[4]
    (tmp_path / "two.json").write_text('{"batch": 2}')
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, "interpret", str(out / "model.ezpc"), "--server-inputs", str(out / "model.weights"),
                           "--client-inputs", str(tmp_path / "x.npy"), "--public-inputs", str(tmp_path / "two.json"))
    names = ["rest", "visual", "motor"]
    assert code == 0
    assert f"  logitsLabel = [{classes[0]} ({names[classes[0]]}), {classes[1]} ({names[classes[1]]})]" in stdout


def test_imported_program_runs_securely(capsys: pytest.CaptureFixture[str], tmp_path: Path, classifier) -> None:
    path, x, classes = classifier
    _import(capsys, path, tmp_path / "out")
    out = tmp_path / "out"
    np.save(tmp_path / "one.npy", x[:1])
    code, stdout, stderr = _run(capsys, "run", str(out / "model.ezpc"), "--local", "--server-inputs",
                                str(out / "model.weights"), "--client-inputs", str(tmp_path / "one.npy"),
                                "--public-inputs", str(out / "public.json"))
    assert code == 0, stderr
    names = ["rest", "visual", "motor"]
    assert f"  logitsLabel = [{classes[0]} ({names[classes[0]]})]" in stdout


def test_unsupported_model_exits_1_and_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    onnx.save(model([node("Erf", ["x"], ["y"])], {"x": [2]}, ["y"]), str(path))
    code, stdout, stderr = _run(capsys, "import", str(path), "-o", str(tmp_path / "out"))
    assert (code, stdout) == (1, "")
    assert stderr == (f"error[E0802]: {path}: 1 node(s) cannot be imported\n"
                      '  note: node "Erf_y": operator Erf\n'
                      "  help: docs/import.md lists the supported operators and attributes; re-export the model "
                      "without these, or replace them by supported ones\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["missing.onnx", "-o", "out"], "missing.onnx: no such file"),
    (["MODEL", "-o", "out", "--calibrate", "MODEL", "--input-range", "0", "1"],
     "give either --calibrate or --input-range, not both"),
    (["MODEL", "-o", "out", "--input-range", "1", "0"], "--input-range 1.0 0.0: give finite LO <= HI"),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, classifier, argv, message) -> None:
    argv = [str(classifier[0]) if a == "MODEL" else str(tmp_path / a) if a in ("out", "missing.onnx") else a
            for a in argv]
    code, _, stderr = _run(capsys, "import", *argv)
    assert code == 2
    assert stderr.strip().endswith(message.replace("missing.onnx", str(tmp_path / "missing.onnx")))


def test_import_without_an_input_range_warns_that_the_rules_stay_off(capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path, classifier) -> None:
    path, _, _ = classifier
    code, _, stderr = _run(capsys, "import", str(path), "-o", str(tmp_path / "out"))
    assert code == 0
    assert stderr.splitlines()[-1].startswith("warning: no --input-range or --calibrate: the range analysis cannot "
                                              "bound the client's input, so the rewrite rules that remove truncations "
                                              "stay off")


def test_import_with_an_input_range_does_not_warn(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  classifier) -> None:
    path, _, _ = classifier
    assert "warning:" not in _import(capsys, path, tmp_path / "out")
