"""The layer library as the importer uses it: signatures to order and type call arguments, and
the source text of the functions a model needs, at the model's scale.

Why: the generated model.ezpc is self-contained, so a reader (and an auditor) sees every loop
the secure run executes; ezlang.lib.nn gives the functions' text. The library is written with the
type name `fixed`, the program's default scale; the copy is written at the model's scale S by
turning each `fixed` without `<s>` outside comments into `fixed<S>`, so that the program's
meaning does not depend on the --scale it is run with.

Assumes: ezlang/lib/nn.ezpc parses. Guarantees: `signature(name)` lists the parameters in order
with their types; `source(names, scale)` is ezlang.lib.nn.source_for(names) at that scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping, Optional

from ezlang.lib import nn
from ezlang.source import SourceFile
from ezlang.syntax.parse import blank_comments

_UNSCALED_FIXED = re.compile(r"(?<![A-Za-z0-9])fixed(?![A-Za-z0-9])(?!\s*<)")
_PARAM = re.compile(r"(?:const\s+)?(?P<base>[a-z0-9]+)\s*(?:<\s*(?P<scale>\d+)\s*>)?_(?P<label>[a-z]+)"
                    r"(?P<dims>\s*\[.*\])?\s+(?P<name>[A-Za-z][A-Za-z0-9]*)$", re.DOTALL)


@dataclass(frozen=True)
class Param:
    name: str
    base: str  # "fixed", "int32", ...
    label: str  # "al", "pl", ...
    is_array: bool
    scale: Optional[int] = None  # written in the library (`fixed<0>`), else None

    def declared(self, scale: Optional[int]) -> str:
        """The element type of an array for this parameter: `fixed<12>_al`, `fixed<0>_al`, `int32_al`."""
        fixed_scale = self.scale if self.scale is not None else scale
        if self.base == "fixed" and fixed_scale is not None:
            return f"fixed<{fixed_scale}>_{self.label}"
        return f"{self.base}_{self.label}"


def parse_param(text: str) -> Param:
    """A parameter as the library writes it: `int32_pl N`, `fixed_al[N*K] X`, `fixed<0>_al[N] Y`."""
    match = _PARAM.match(" ".join(text.split()))
    if match is None:
        raise ValueError(f"a library parameter the importer cannot read: {text!r}")
    scale = match["scale"]
    return Param(match["name"], match["base"], match["label"], match["dims"] is not None,
                 int(scale) if scale is not None else None)


@dataclass(frozen=True)
class Library:
    signatures: Mapping[str, tuple[Param, ...]]  # function name → parameters, in library order

    def signature(self, name: str) -> tuple[Param, ...]:
        return self.signatures[name]

    def source(self, names: Iterable[str], scale: Optional[int]) -> str:
        return with_scale(nn.source_for(names).rstrip("\n"), scale)


@lru_cache(maxsize=1)
def standard_library() -> Library:
    """ezlang/lib/nn.ezpc, the library the importer emits calls to."""
    return Library({name: tuple(parse_param(p) for p in function.params)
                    for name, function in nn.functions().items()})


def with_scale(text: str, scale: Optional[int]) -> str:
    """`text` with every `fixed` written without `<s>`, outside comments, as `fixed<scale>`."""
    if scale is None:
        return text
    code = blank_comments(SourceFile("<library>", text))
    pieces, copied = [], 0
    for match in _UNSCALED_FIXED.finditer(code):
        pieces += [text[copied:match.start()], f"fixed<{scale}>"]
        copied = match.end()
    return "".join(pieces) + text[copied:]
