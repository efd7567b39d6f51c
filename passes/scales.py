"""Lowering of fixed point to plain integers: the unchanged interpreter and secure runtime run
fixed-point programs as the integer programs this pass produces.

Assumes: a checked program (the typed IR of ezlang.passes.pipeline): fixed-point values have a
Type.scale, operands of `+ -`, comparisons and ternary branches are aligned by explicit Converts,
and every other scale change is an explicit Convert.
Guarantees: a program meaning the same numbers with no scale on any Type or TypeNode:
* a value v at scale s is its encoding round(v·2^s) in the signed ring (ezlang.fixed: rounded
  half away from zero); literals become IntLits of their encodings;
* a product of scales a and b is truncated to its scale t by `Binary(SHR, p, IntLit(a+b-t),
  rescale=True)` (typed like p, same label); a Convert to a smaller scale is a truncation
  without the flag, since the program asked for that precision: no rule that is exact only
  within a bound may move or drop it (dropping it would also show the output's recipient more
  low bits than the program declares); one to a larger scale is `Binary(SHL, x, IntLit(d))`;
* fixed / fixed is `(a << sb) / b`, which keeps the dividend's scale;
* every truncation placed is listed (Truncation) with the span of the expression it belongs to,
  and the Boundary gives the scale of each fixed input and output.
Each node keeps the span of the expression it comes from. A program without fixed point comes
back as the very same object with no truncation, so integer programs are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

from ezlang.fixed import encode, fits
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Label, Type

_SHIFT_AMOUNT = Type(Base.INT32, Label.PL)


@dataclass(frozen=True)
class Truncation:
    """A `>>` the lowering placed: by `shift` bits, from `from_scale` to `to_scale`; `reason` is
    "product" (after a `*`) or "conversion" (a value stored at a smaller scale)."""

    span: Span
    shift: int
    from_scale: int
    to_scale: int
    reason: str


@dataclass(frozen=True)
class Boundary:
    """Scales at the program's edges: input variable name → scale of its values (fixed inputs
    only), Output statement `span.start` → scale its values are decoded at (fixed outputs only),
    and input name → declared range `[lo, hi]` (every input that declares one)."""

    inputs: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    outputs: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Lowered:
    program: ast.Program
    truncations: tuple[Truncation, ...]
    boundary: Boundary


def lower_fixed(program: ast.Program, *, bitlen: int) -> Lowered:
    """The integer program of a checked (fixed-point or integer) program; see the module."""
    lowering = _Lowering(bitlen)
    globals_ = tuple(lowering.global_(g) for g in program.globals)
    lowered = program if _same(globals_, program.globals) else replace(program, globals=globals_)
    boundary = Boundary(MappingProxyType(lowering.inputs), MappingProxyType(lowering.outputs),
                        MappingProxyType(lowering.ranges))
    return Lowered(lowered, tuple(lowering.truncations), boundary)


def _plain(ty: Optional[Type]) -> Optional[Type]:
    return ty.rescaled(None) if ty is not None and ty.is_fixed else ty


def _scale(expr: ast.Expr) -> int:
    return (expr.ty.scale or 0) if expr.ty is not None else 0


def _same(new: tuple[Any, ...], old: tuple[Any, ...]) -> bool:
    return all(a is b for a, b in zip(new, old))


@dataclass
class _Lowering:
    bitlen: int
    truncations: list[Truncation] = field(default_factory=list)
    inputs: dict[str, int] = field(default_factory=dict)
    outputs: dict[int, int] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    # ------------------------------------------------------------ globals and types

    def global_(self, node: ast.Global) -> ast.Global:
        if isinstance(node, ast.GlobalConst):
            value = self.expr(node.value)
            return node if value is node.value and node.scale is None else replace(node, value=value, scale=None)
        params = tuple(replace(p, type=self.type_(p.type)) if p.type.scale is not None else p for p in node.params)
        ret = self.type_(node.ret) if node.ret is not None else None
        if not _same(params, node.params) or ret is not node.ret:
            node = replace(node, params=params, ret=ret)
        if isinstance(node, ast.FunDef):
            body = self.body(node.body)
            return node if body is node.body else replace(node, body=body)
        return node

    @staticmethod
    def type_(node: ast.TypeNode) -> ast.TypeNode:
        return node if node.scale is None else replace(node, scale=None)

    # ------------------------------------------------------------ statements

    def body(self, body: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        lowered = tuple(self.stmt(s) for s in body)
        return body if _same(lowered, body) else lowered

    def stmt(self, node: ast.Stmt) -> ast.Stmt:
        return _STATEMENTS[type(node)](self, node)

    def _decl(self, node: ast.Decl) -> ast.Stmt:
        return self._rebuild(node, type=self.type_(node.type), init=self._optional(node.init))

    def _assign(self, node: ast.Assign) -> ast.Stmt:
        return self._rebuild(node, target=self.expr(node.target), value=self.expr(node.value))

    def _call_stmt(self, node: ast.CallStmt) -> ast.Stmt:
        return self._rebuild(node, args=self._exprs(node.args))

    def _return(self, node: ast.Return) -> ast.Stmt:
        return self._rebuild(node, value=self._optional(node.value))

    def _output(self, node: ast.Output) -> ast.Stmt:
        if node.value.ty is not None and node.value.ty.is_fixed:
            self.outputs[node.span.start] = _scale(node.value)
        return self._rebuild(node, value=self.expr(node.value))

    def _for(self, node: ast.For) -> ast.Stmt:
        return self._rebuild(node, lo=self.expr(node.lo), hi=self.expr(node.hi), body=self.body(node.body))

    def _while(self, node: ast.While) -> ast.Stmt:
        return self._rebuild(node, cond=self.expr(node.cond), body=self.body(node.body))

    def _block(self, node: ast.Block) -> ast.Stmt:
        return self._rebuild(node, body=self.body(node.body))

    def _input(self, node: ast.Input) -> ast.Stmt:
        if node.range is not None:
            self.ranges[node.name] = node.range
        if node.type.scale is not None:
            self.inputs[node.name] = node.type.scale
        return self._rebuild(node, type=self.type_(node.type))

    def _if_chain(self, node: ast.If) -> ast.Stmt:
        """`if ... else if ...` iteratively (chains of thousands occur), rebuilt from its end."""
        chain: list[tuple[ast.If, ast.Expr, ast.Stmt]] = []
        branch: Optional[ast.Stmt] = node
        while isinstance(branch, ast.If):
            chain.append((branch, self.expr(branch.cond), self.stmt(branch.then)))
            branch = branch.other
        rebuilt = self.stmt(branch) if branch is not None else None
        for original, cond, then in reversed(chain):
            rebuilt = self._rebuild(original, cond=cond, then=then, other=rebuilt)
        assert rebuilt is not None
        return rebuilt

    @staticmethod
    def _rebuild(node: Any, **children: Any) -> Any:
        """`node` itself when no child changed, else a copy with the new children."""
        if all(getattr(node, name) is child for name, child in children.items()):
            return node
        return replace(node, **children)

    # ------------------------------------------------------------ expressions

    def _optional(self, e: Optional[ast.Expr]) -> Optional[ast.Expr]:
        return self.expr(e) if e is not None else None

    def _exprs(self, exprs: tuple[ast.Expr, ...]) -> tuple[ast.Expr, ...]:
        lowered = tuple(self.expr(e) for e in exprs)
        return exprs if _same(lowered, exprs) else lowered

    def expr(self, e: Any) -> Any:
        match e:
            case ast.IntLit() | ast.FloatLit() if e.ty is not None and e.ty.is_fixed:
                return self._literal(e)
            case ast.IntLit() | ast.FloatLit() | ast.BoolLit() | ast.RoleLit() | ast.Var():
                return self._typed(e)
            case ast.Index():
                return self._typed(e, array=self.expr(e.array), index=self.expr(e.index))
            case ast.Call():
                return self._typed(e, args=self._exprs(e.args))
            case ast.Binary():
                return self._binary(e)
            case ast.Unary() | ast.Subsume():
                return self._typed(e, operand=self.expr(e.operand))
            case ast.Ternary():
                return self._typed(e, cond=self.expr(e.cond), then=self.expr(e.then), other=self.expr(e.other))
            case ast.Convert():
                return self._convert(e)
        raise AssertionError(f"unknown expression {e!r}")

    def _literal(self, e: ast.IntLit | ast.FloatLit) -> ast.Expr:
        assert e.ty is not None and e.ty.scale is not None
        encoded = encode(e.value, e.ty.scale)
        assert fits(encoded, self.bitlen), f"the checker lets {e.span.text} at scale {e.ty.scale} overflow"
        return ast.IntLit(e.span, encoded, e.ty.base, ty=_plain(e.ty), known_to=e.known_to)

    def _typed(self, e: Any, **children: Any) -> Any:
        """`e` with lowered children and its type without scale; `e` itself if nothing changed."""
        plain = _plain(e.ty)
        if plain is e.ty and all(getattr(e, name) is child for name, child in children.items()):
            return e
        return replace(e, **children, ty=plain)

    def _binary(self, e: ast.Binary) -> ast.Expr:
        left, right = self.expr(e.left), self.expr(e.right)
        if e.op is BinaryOp.MUL and e.ty is not None and e.ty.is_fixed:
            product = replace(e, left=left, right=right, ty=_plain(e.ty))
            return self._truncate(product, _scale(e.left) + _scale(e.right), _scale(e), e.span, "product")
        if e.op is BinaryOp.DIV and e.right.ty is not None and e.right.ty.is_fixed:
            left = self._shift_left(left, _scale(e.right), e.span)
        return self._typed(e, left=left, right=right)

    def _convert(self, e: ast.Convert) -> ast.Expr:
        operand = self.expr(e.operand)
        assert e.ty is not None and e.operand.ty is not None
        if not (e.ty.is_fixed or e.operand.ty.is_fixed):
            return self._typed(e, operand=operand)
        target = _plain(e.ty)
        converted = operand if operand.ty == target else ast.Convert(e.span, operand, ty=target, known_to=e.known_to)
        source_scale, target_scale = _scale(e.operand), e.ty.scale or 0
        if target_scale >= source_scale:
            return self._shift_left(converted, target_scale - source_scale, e.span)
        return self._truncate(converted, source_scale, target_scale, e.span, "conversion")

    def _shift_left(self, x: ast.Expr, amount: int, span: Span) -> ast.Expr:
        if amount == 0:
            return x
        assert x.ty is not None
        return ast.Binary(span, BinaryOp.SHL, x, ast.IntLit(span, amount, Base.INT32, ty=_SHIFT_AMOUNT),
                          x.ty.label, ty=x.ty, known_to=x.known_to)

    def _truncate(self, x: ast.Expr, from_scale: int, to_scale: int, span: Span, reason: str) -> ast.Expr:
        shift = from_scale - to_scale
        if shift == 0:
            return x
        assert x.ty is not None
        self.truncations.append(Truncation(span, shift, from_scale, to_scale, reason))
        return ast.Binary(span, BinaryOp.SHR, x, ast.IntLit(span, shift, Base.INT32, ty=_SHIFT_AMOUNT),
                          x.ty.label, ty=x.ty, known_to=x.known_to, rescale=reason == "product")


_STATEMENTS: Mapping[type, Callable[[_Lowering, Any], ast.Stmt]] = MappingProxyType({
    ast.Decl: _Lowering._decl, ast.Assign: _Lowering._assign, ast.CallStmt: _Lowering._call_stmt,
    ast.Return: _Lowering._return, ast.Input: _Lowering._input, ast.Output: _Lowering._output,
    ast.For: _Lowering._for, ast.While: _Lowering._while, ast.If: _Lowering._if_chain, ast.Block: _Lowering._block,
})
