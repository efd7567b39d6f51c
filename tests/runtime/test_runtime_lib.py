"""The ctypes binding (ezlang/runtime_lib.py) against the ABI header and the built library."""

import re
from pathlib import Path

from ezlang import runtime_lib as rl

HEADER = Path(__file__).resolve().parents[2] / "runtime" / "include" / "ezrt.h"
DECLARATION = re.compile(r"\b(ezrt_\w+)\s*\(([^()]*)\)\s*;")


def header_functions() -> dict[str, int]:
    """Every function ezrt.h declares, with its number of parameters."""
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.DOTALL)
    arity = {}
    for name, params in DECLARATION.findall(text):
        params = params.strip()
        arity[name] = 0 if params in ("", "void") else params.count(",") + 1
    return arity


def test_binding_types_exactly_the_header_functions_with_their_arity():
    declared = header_functions()
    bound = {name: len(argtypes) for name, (_, argtypes) in rl.SIGNATURES.items()}
    assert bound == declared


def test_library_exports_every_bound_function():
    lib = rl.load()
    assert all(hasattr(lib, name) for name in rl.SIGNATURES)


def test_library_is_found_through_the_import_system():
    assert Path(rl.library_path()).name.startswith("_ezrt.")
