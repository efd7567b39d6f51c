"""EzPC programs that declare the Athos externs run securely with the interpreter's outputs.

The declarations are the library's own files (ezlang/lib/athos32.ezpc, athos64.ezpc), prepended
to the program unchanged; the secure backend lowers each call to one native runtime function
(ezlang/codegen/externs_secure.py). An MLP runs as three processes (`ezlang run --local`) and
must print what `ezlang interpret` prints; a small CNN with the other functions runs as threads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ezlang import runtime_lib as rl
from ezlang.codegen.secure import unsupported_operations
from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role

from helpers import ROOT, ezlang, outcome, run_threads

LIB = ROOT / "ezlang" / "lib"

MLP = """
def void main() {
  input(CLIENT, x, T[1][4]);
  input(SERVER, w1, T[4][5]);
  input(SERVER, w2, T[5][3]);
  T[1][5] h;
  T[1][5] r;
  T[1][3] scores;
  T[1] label;
  MatMul2D(1, 4, 5, x, w1, h, true);
  Relu(5, h[0], r[0], 2, true);
  MatMul2D(1, 5, 3, r, w2, scores, false);
  ArgMax(1, 3, scores, label);
  output(ALL, scores);
  output(CLIENT, label)
}
"""

CNN = """
def void main() {
  input(CLIENT, img, T[1][4][4][2]);
  input(SERVER, filt, T[2][2][2][3]);
  input(SERVER, scale, T[12]);
  T[1][3][3][3] conv;
  T[1][2][2][3] maxed;
  T[1][2][2][3] avg;
  T[12] flat;
  T[12] prod;
  T[12] floored;
  Conv2DWrapper(1, 4, 4, 2, 2, 2, 3, 0, 0, 0, 0, 1, 1, img, filt, conv);
  MaxPool(1, 2, 2, 3, 2, 2, 0, 1, 0, 1, 2, 2, 1, 3, 3, 3, conv, maxed);
  AvgPool(1, 2, 2, 3, 2, 2, 0, 1, 0, 1, 2, 2, 1, 3, 3, 3, conv, avg);
  for i = [0:12] {
    flat[i] = maxed[0][i / 6][(i / 3) % 2][i % 3] - avg[0][i / 6][(i / 3) % 2][i % 3]
  };
  ElemWiseSecretSharedVectorMult(12, flat, scale, prod);
  ScaleUp(12, prod, 3);
  ScaleDown(12, prod, 5);
  Floor(12, prod, floored, 2);
  ClearMemSecret1(12, flat);
  output(ALL, floored)
}
"""


def program_text(body: str, bitlen: int) -> str:
    declarations = (LIB / f"athos{bitlen}.ezpc").read_text()
    return declarations + body.replace("T[", f"int{bitlen}_al[")


@pytest.mark.parametrize("bitlen", [32, 64])
def test_an_mlp_declaring_the_athos_externs_runs_with_the_interpreters_outputs(bitlen: int, tmp_path: Path) -> None:
    path = tmp_path / f"mlp{bitlen}.ezpc"
    path.write_text(program_text(MLP, bitlen))
    (tmp_path / "client.json").write_text(json.dumps({"x": [[3, -1, 4, 1]]}))
    (tmp_path / "server.json").write_text(json.dumps({
        "w1": [[1, -2, 3, 0, 5], [2, 2, -1, 4, 0], [-3, 1, 1, 1, 2], [0, 5, -2, 3, -1]],
        "w2": [[1, 0, -1], [2, -3, 1], [0, 1, 1], [-1, 2, 0], [3, 1, -2]]}))
    inputs = ["--server-inputs", str(tmp_path / "server.json"), "--client-inputs", str(tmp_path / "client.json"),
              "--bitlen", str(bitlen)]
    expected = ezlang(["interpret", str(path), *inputs])
    assert expected.returncode == 0, expected.stderr
    secure = ezlang(["run", str(path), "--local", *inputs])
    assert secure.returncode == 0, secure.stderr
    assert secure.stdout == expected.stdout
    assert "label" in secure.stdout


@pytest.mark.parametrize("bitlen", [32, 64])
def test_a_cnn_with_convolution_pools_and_scaling_agrees_with_the_interpreter(bitlen: int) -> None:
    checked = check_source(SourceFile("cnn.ezpc", program_text(CNN, bitlen)), bitlen=bitlen)
    assert checked.program is not None, checked.diagnostics
    assert unsupported_operations(checked.program) == []
    img = [[[[(7 * h + 3 * w + 5 * c) % 11 - 5 for c in range(2)] for w in range(4)] for h in range(4)]]
    filt = [[[[(h + 2 * w + c - 2 * o) % 5 - 2 for o in range(3)] for c in range(2)] for w in range(2)] for h in range(2)]
    sources = {Role.SERVER: InputSource.from_mapping({"filt": filt, "scale": [k - 6 for k in range(12)]}),
               Role.CLIENT: InputSource.from_mapping({"img": img}), Role.ALL: InputSource.from_mapping({})}
    expected = interpret(checked.program, sources).outputs
    results = run_threads(checked.program, bitlen, sources)
    assert outcome(results[rl.ROLE_SERVER]).outputs == expected[Role.SERVER]
    assert outcome(results[rl.ROLE_CLIENT]).outputs == expected[Role.CLIENT]


def test_an_athos_extern_declared_with_another_signature_is_refused(tmp_path: Path) -> None:
    text = ("extern void ArgMax(int32_pl I, int32_pl J, int32_pl bwA, int32_pl bwB, int32_al[I][J] A, "
            "int32_al[I] index);\n"
            "def void main() {\n  input(CLIENT, a, int32_al[1][2]);\n  int32_al[1] i;\n"
            "  ArgMax(1, 2, 32, 32, a, i);\n  output(CLIENT, i)\n}\n")
    checked = check_source(SourceFile("seedot.ezpc", text), bitlen=32)
    assert checked.program is not None
    assert [what for _, what in unsupported_operations(checked.program)] == ["call of extern `ArgMax`"]
