"""Fixed-point types as written become checked types: `fixed<s>` and `fixed` (the program's
default scale) are the ring's signed integer, int32 for --bitlen 32 and int64 for 64, with a
scale. Name resolution computes every binding's type from the written types, so this runs first.

Assumes: a parsed program.
Guarantees: no TypeNode or GlobalConst has base FIXED; each fixed one has the ring's signed base
and its scale, and a scale not below the ring width is reported (E0429). Nothing else changes: a
program without fixed types is returned as the very same object, and so is every unchanged
statement, so the 36,000-statement Athos bodies cost one walk and no copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Optional

from ezlang.diagnostics import Diagnostics
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Base

from ezlang.passes import type_codes as codes

RING_BASE = {32: Base.INT32, 64: Base.INT64}


@dataclass(frozen=True)
class FixedTypes:
    """Assumes: a parsed program. Guarantees: every written fixed type resolved (see module)."""

    name: ClassVar[str] = "fixed-types"
    bitlen: int
    default_scale: int

    def run(self, program: ast.Program, diags: Diagnostics) -> ast.Program:
        resolver = _Resolver(self.bitlen, self.default_scale, diags)
        globals_ = tuple(resolver.global_(g) for g in program.globals)
        return program if _same(globals_, program.globals) else replace(program, globals=globals_)


@dataclass(frozen=True)
class _Resolver:
    bitlen: int
    default_scale: int
    diags: Diagnostics

    def global_(self, node: ast.Global) -> ast.Global:
        if isinstance(node, ast.GlobalConst):
            if node.base is not Base.FIXED:
                return node
            return replace(node, base=RING_BASE[self.bitlen], scale=self._scale(node.scale, node.span))
        params = tuple(replace(p, type=self.type_(p.type)) if self._written_fixed(p.type) else p
                       for p in node.params)
        ret = self.type_(node.ret) if node.ret is not None else None
        if not _same(params, node.params) or ret is not node.ret:
            node = replace(node, params=params, ret=ret)
        if isinstance(node, ast.FunDef):
            body = self.body(node.body)
            return node if body is node.body else replace(node, body=body)
        return node

    def body(self, body: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        resolved = tuple(self.stmt(s) for s in body)
        return body if _same(resolved, body) else resolved

    def stmt(self, node: ast.Stmt) -> ast.Stmt:
        match node:
            case ast.Decl() | ast.Input():
                return replace(node, type=self.type_(node.type)) if self._written_fixed(node.type) else node
            case ast.For() | ast.While() | ast.Block():
                body = self.body(node.body)
                return node if body is node.body else replace(node, body=body)
            case ast.If():
                return self._if_chain(node)
        return node

    def _if_chain(self, node: ast.If) -> ast.Stmt:
        """`if ... else if ...` iteratively (chains of thousands occur), rebuilt from its end."""
        chain: list[tuple[ast.If, ast.Stmt]] = []
        branch: Optional[ast.Stmt] = node
        while isinstance(branch, ast.If):
            chain.append((branch, self.stmt(branch.then)))
            branch = branch.other
        rebuilt = self.stmt(branch) if branch is not None else None
        for original, then in reversed(chain):
            if then is not original.then or rebuilt is not original.other:
                rebuilt = replace(original, then=then, other=rebuilt)
            else:
                rebuilt = original
        assert rebuilt is not None
        return rebuilt

    def type_(self, node: ast.TypeNode) -> ast.TypeNode:
        if not self._written_fixed(node):
            return node
        return replace(node, base=RING_BASE[self.bitlen], scale=self._scale(node.scale, node.span))

    @staticmethod
    def _written_fixed(node: ast.TypeNode) -> bool:
        return node.base is Base.FIXED

    def _scale(self, written: Optional[int], span: Span) -> int:
        scale = self.default_scale if written is None else written
        if scale >= self.bitlen:
            self.diags.error(codes.FIXED_SCALE, f"{codes.quote(span)} has {scale} fractional bits, but the ring "
                             f"has only {self.bitlen} bits", span, label="scale too large",
                             help=f"use at most {self.bitlen - 1} fractional bits (about 12 to 16 for 32-bit "
                                  "rings leaves room for the integer part), or check with --bitlen 64")
        return scale


def _same(new: tuple[object, ...], old: tuple[object, ...]) -> bool:
    return all(a is b for a, b in zip(new, old))
