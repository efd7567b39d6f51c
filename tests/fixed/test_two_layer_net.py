"""examples/two_layer_net.ezpc against numpy float64: its header promises logits within
2^-12 · (IN + 2) of the real network, in the interpreter and in a secure run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ezlang.cli import main

ROOT = Path(__file__).parent.parent.parent
PROGRAM = ROOT / "examples" / "two_layer_net.ezpc"
SERVER = ROOT / "examples" / "inputs" / "two_layer_net.server.json"
CLIENT = ROOT / "examples" / "inputs" / "two_layer_net.client.json"
IN = 16


def reference() -> np.ndarray:
    weights, features = json.loads(SERVER.read_text()), json.loads(CLIENT.read_text())
    hidden = np.maximum(np.array(features["x"]) @ np.array(weights["w1"]) + np.array(weights["b1"]), 0.0)
    return hidden @ np.array(weights["w2"]) + np.array(weights["b2"])


def logits(printed: str) -> np.ndarray:
    match = re.search(r"CLIENT:\n  logits = \[(.*)\]", printed)
    assert match is not None, printed
    return np.array([float(v) for v in match.group(1).split(",")])


@pytest.mark.parametrize("bitlen", ["32", "64"])
def test_the_interpreter_matches_numpy_within_the_stated_bound(bitlen: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interpret", str(PROGRAM), "--bitlen", bitlen, "--server-inputs", str(SERVER),
                 "--client-inputs", str(CLIENT)]) == 0
    assert np.max(np.abs(logits(capsys.readouterr().out) - reference())) <= 2.0 ** -12 * (IN + 2)


def test_a_secure_run_prints_what_the_interpreter_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interpret", str(PROGRAM), "--bitlen", "64", "--server-inputs", str(SERVER),
                 "--client-inputs", str(CLIENT)]) == 0
    interpreted = capsys.readouterr().out
    assert main(["run", str(PROGRAM), "--local", "--bitlen", "64", "--server-inputs", str(SERVER),
                 "--client-inputs", str(CLIENT)]) == 0
    assert capsys.readouterr().out == interpreted
