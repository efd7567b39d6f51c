"""The runtime core under AddressSanitizer and UBSan: packing at every width and count, and DCF
batches across input and output widths, with buffers of exactly the documented sizes
(sanitize_core.c). Complements the ctypes tests, which cannot see an overrun by one byte."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ["errors.c", "prg.c", "ring.c", "dcf.c"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
FLAGS = ["-O1", "-g", "-std=c11", "-Wall", "-Wextra", "-Werror", "-maes", "-msse4.1"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc with sanitizers")
def test_core_is_clean_under_address_and_undefined_behaviour_sanitizers(tmp_path):
    sources = [str(ROOT / "runtime" / "src" / name) for name in CORE]
    harness = str(Path(__file__).with_name("sanitize_core.c"))
    binary = tmp_path / "sanitize_core"
    include = f"-I{ROOT / 'runtime' / 'include'}"
    build = ["gcc", *FLAGS, *SANITIZE, include, *sources, harness, "-o", str(binary)]
    subprocess.run(build, check=True, capture_output=True)
    run = subprocess.run([str(binary)], check=False, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr
