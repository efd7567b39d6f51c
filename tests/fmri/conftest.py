"""Makes the example's scripts (examples/fmri) and the accuracy harness (bench) importable."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "fmri"))
sys.path.insert(0, str(ROOT / "bench"))
