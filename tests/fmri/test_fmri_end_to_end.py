"""The example's flow at a small size: an MLP exported by make_model.py, imported with the class
names, run on a NIfTI scan; and bench/accuracy.py against onnxruntime on a secure run, in
three processes per batch and as the queries of one session (--session)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

import accuracy
import make_model
import make_volumes
import mlp

SHAPE = (4, 5, 3)
NAMES = [f"NETWORK-{k}" for k in range(6)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fmri")
    layers = mlp.initial_layers((int(np.prod(SHAPE)), 8, 8, len(NAMES)), np.random.default_rng(3))
    onnx.save(make_model.onnx_model(layers, "both", SHAPE), folder / "mlp.onnx")
    (folder / "labels.txt").write_text("\n".join(NAMES) + "\n")
    return folder / "mlp.onnx"


def ezlang(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ezlang", *args], capture_output=True, text=True, timeout=300)


def test_a_nifti_scan_is_classified_with_the_class_name(model: Path, tmp_path: Path) -> None:
    imported = ezlang("import", str(model), "-o", str(tmp_path / "model"), "--bitlen", "64", "--scale", "12",
                      "--input-range", "-1", "1", "--labels", str(model.parent / "labels.txt"))
    assert imported.returncode == 0, imported.stderr
    scan = np.random.default_rng(4).uniform(-1, 1, SHAPE).astype(np.float32)
    make_volumes.write_volume(scan, tmp_path / "scan.nii.gz")
    ran = ezlang("interpret", str(tmp_path / "model" / "model.ezpc"), "--bitlen", "64",
                 "--server-inputs", str(tmp_path / "model" / "model.weights"),
                 "--client-inputs", str(tmp_path / "scan.nii.gz"),
                 "--public-inputs", str(tmp_path / "model" / "public.json"))
    assert ran.returncode == 0, ran.stderr
    logits, label = onnxruntime.InferenceSession(str(model)).run(None, {"scan": scan[None]})
    assert f"label = [{label[0]} ({NAMES[label[0]]})]" in ran.stdout
    got = accuracy.client_outputs(ran.stdout)[0]
    np.testing.assert_allclose(got.reshape(-1), logits.reshape(-1), atol=0.01)


def test_the_harness_compares_a_secure_batch_with_onnxruntime(model: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "batch.npy"
    np.save(inputs, np.random.default_rng(5).uniform(-1, 1, (2, *SHAPE)).astype(np.float32))
    report = tmp_path / "report.json"
    assert accuracy.main([str(model), "--inputs", str(inputs), "--n", "2", "--batch", "2", "--bitlen", "64",
                          "--scale", "12", "--input-range", "-1", "1", "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert (result["bitlen"], result["scale"]) == (64, 12)
    assert result["accuracy"]["argmax_from"] == "secure ArgMax output"
    error = result["accuracy"]["max_logit_error"]
    assert 0 < error < 0.01
    # a secure label may differ only where onnxruntime's top two are within the logit error
    assert result["accuracy"]["argmax_agreement"] + len(result["accuracy"]["disagreements"]) == 2
    assert all(d["float_margin"] <= 2 * error for d in result["accuracy"]["disagreements"])
    assert result["cost"]["runs"] == 1 and result["cost"]["online_rounds"] > 0
    assert all(result["cost"]["peak_memory_bytes"][role] > 0 for role in ("server", "dealer", "client"))


def test_the_harness_runs_its_batches_as_the_queries_of_one_session(model: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "batch.npy"
    np.save(inputs, np.random.default_rng(6).uniform(-1, 1, (4, *SHAPE)).astype(np.float32))
    report = tmp_path / "report.json"
    assert accuracy.main([str(model), "--inputs", str(inputs), "--n", "4", "--batch", "2", "--session",
                          "--bitlen", "64", "--scale", "12", "--input-range", "-1", "1", "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    error = result["accuracy"]["max_logit_error"]
    assert 0 < error < 0.01 and result["accuracy"]["inputs"] == 4
    assert result["accuracy"]["argmax_agreement"] + len(result["accuracy"]["disagreements"]) == 4
    assert all(d["float_margin"] <= 2 * error for d in result["accuracy"]["disagreements"])
    spent = result["cost"]
    assert (spent["session"], spent["runs"], spent["batch"]) == (True, 2, 2)
    weights = int(np.prod(SHAPE)) * 8 + 8 * 8 + 8 * len(NAMES)  # the three Gemm matrices, registered once
    assert spent["registration_bytes"] == weights * 8 + 3 * 8  # 8 bytes per ring element, one message each
    assert spent["first_query_seconds"] > spent["query_seconds"] >= spent["online_seconds"] > 0
    assert all(spent["peak_memory_bytes"][role] > 0 for role in ("server", "dealer", "client"))
