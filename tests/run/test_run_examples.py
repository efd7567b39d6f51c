"""The four examples run as three processes (`ezlang run --local`) print what `interpret` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ROOT, ezlang

EXAMPLES = ("millionaires", "dot_product", "auction", "random_forest")


def widened(name: str, folder: Path) -> str:
    """The example with 64-bit secrets (the examples themselves are written for --bitlen 32)."""
    text = (ROOT / "examples" / f"{name}.ezpc").read_text()
    path = folder / f"{name}64.ezpc"
    path.write_text(text.replace("uint32_al", "uint64_al").replace("int32_al", "int64_al"))
    return str(path)


# The examples are typed for --bitlen 32; only millionaires has no secret literal, so only it
# widens to 64-bit secrets by renaming its types.
CASES = [(name, 32) for name in EXAMPLES] + [("millionaires", 64)]


@pytest.mark.parametrize("name,bitlen", CASES)
def test_example_runs_securely_with_the_interpreters_outputs(name: str, bitlen: int, tmp_path: Path) -> None:
    program = f"examples/{name}.ezpc" if bitlen == 32 else widened(name, tmp_path)
    inputs = ["--server-inputs", f"examples/inputs/{name}.server.json",
              "--client-inputs", f"examples/inputs/{name}.client.json", "--bitlen", str(bitlen)]
    expected = ezlang(["interpret", program, *inputs])
    assert expected.returncode == 0, expected.stderr
    secure = ezlang(["run", program, "--local", *inputs, "--stats"])
    assert secure.returncode == 0, secure.stderr
    assert secure.stdout == expected.stdout
    assert [line.split()[0] for line in secure.stderr.splitlines()[-3:]] == ["server", "dealer", "client"]
