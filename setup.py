"""Builds the native runtime: every runtime/src/*.c becomes one shared library, ezlang/_ezrt*.so.

It is a plain C library, not a Python extension module (it has no PyInit function): Python
loads it with ctypes (ezlang/runtime_lib.py) and the JIT with llvmlite's load_library_permanently.
setuptools' Extension is used only because it compiles C with the system compiler and ships the
result inside the package, for both `pip install .` and `pip install -e .`. All other metadata
lives in pyproject.toml.
"""

from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).parent
RUNTIME_SOURCES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "runtime" / "src").glob("*.c"))
RUNTIME_HEADERS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "runtime").glob("*/*.h"))
RUNTIME_FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-maes", "-msse4.1", "-pthread"]

setup(
    ext_modules=[
        Extension(
            "ezlang._ezrt",
            sources=RUNTIME_SOURCES,
            depends=RUNTIME_HEADERS,
            include_dirs=["runtime/include"],
            extra_compile_args=RUNTIME_FLAGS,
            extra_link_args=["-pthread"],  # the one-sided product's second thread
        )
    ]
)
