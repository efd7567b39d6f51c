"""The layer library ezlang/lib/nn.ezpc as data: its functions, their signatures and their source
text, for the ONNX importer, which copies the functions a model uses into model.ezpc.

Why: a generated program must be self-contained and readable, so it carries the library
functions it calls, verbatim with their comments, rather than a reference to a file that could
change under it. `source_for(["ConvRelu", "Gemm"], scale=14)` gives that text: the functions
named and every library function they call, in library order (a function is defined before its
callers, as EzPC requires), with the library's `fixed` (the program's default scale) made
`fixed<14>`.

Assumes: nn.ezpc parses (tests/nn/test_library.py also checks it at both bit widths).
Guarantees: each function's `text` is the exact source of its definition, preceded by the comment
just above it, if any; `calls` are the library functions it calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Mapping, Optional

from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.parse import parse_program

LIBRARY_FILE = "nn.ezpc"
_DEFAULT_SCALE = re.compile(r"\bfixed(?=_(?:al|pl)\b)")
_TRAILING_COMMENT = re.compile(r"\(\*(?:(?!\(\*|\*\)).)*\*\)[ \t]*\r?\n?[ \t]*$", re.DOTALL)


@dataclass(frozen=True)
class LibraryFunction:
    """One function of the library: its name, its parameters as written (`int32_pl N`), its
    source text and the library functions it calls."""

    name: str
    params: tuple[str, ...]
    text: str
    calls: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


def library_text() -> str:
    """The whole of nn.ezpc."""
    return resources.files("ezlang.lib").joinpath(LIBRARY_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def functions() -> Mapping[str, LibraryFunction]:
    """Every function of the library by name, in library order."""
    source = SourceFile(f"ezlang/lib/{LIBRARY_FILE}", library_text())
    program = parse_program(source)
    found: dict[str, LibraryFunction] = {}
    previous_end = 0
    for item in program.globals:
        assert isinstance(item, ast.FunDef), f"{item.name}: the layer library holds only functions"
        comment = _comment_before(source.text[previous_end:item.span.start])
        params = tuple(" ".join(p.span.text.split()) for p in item.params)
        calls = tuple(dict.fromkeys(name for name in _called(item.body) if name in found))
        found[item.name] = LibraryFunction(item.name, params, comment + item.span.text, calls)
        previous_end = item.span.end
    return MappingProxyType(found)


def needed(names: Iterable[str]) -> tuple[str, ...]:
    """The functions named and every library function they call, transitively, in library order;
    KeyError for a name the library does not have."""
    library = functions()
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(library[name].calls)
    return tuple(name for name in library if name in wanted)


def source_for(names: Iterable[str], scale: Optional[int] = None) -> str:
    """The source text of `needed(names)`, one blank line between functions, ending in a newline;
    with `scale`, every `fixed_al`/`fixed_pl` written at the program's scale is made
    `fixed<scale>_al`/`fixed<scale>_pl`, so that the text means the same whatever --scale is."""
    library = functions()
    text = "\n\n".join(library[name].text for name in needed(names)) + "\n"
    return text if scale is None else _DEFAULT_SCALE.sub(f"fixed<{scale}>", text)


def _comment_before(gap: str) -> str:
    """The comment on the lines right above a definition (no blank line between), with the line
    break after it, or ""."""
    match = _TRAILING_COMMENT.search(gap)
    return "" if match is None else match.group(0).rstrip() + "\n"


def _called(body: tuple[ast.Stmt, ...]) -> Iterator[str]:
    for stmt in body:
        if isinstance(stmt, ast.CallStmt):
            yield stmt.name
        if isinstance(stmt, (ast.For, ast.While, ast.Block)):
            yield from _called(stmt.body)
        elif isinstance(stmt, ast.If):
            yield from _called((stmt.then,) if stmt.other is None else (stmt.then, stmt.other))
