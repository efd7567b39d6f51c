"""Makes tests/gen_programs.py importable from this folder, as it is from tests/."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
