"""What the fixed-point tests share: check, lower and run small programs, and render lowered
expressions compactly (`(x * y) >>r 12` marks a truncation the lowering placed)."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from ezlang.diagnostics import Severity
from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.fixed_pipeline import Prepared, prepare
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.types import Role


def source(body: str, prelude: str = "") -> SourceFile:
    return SourceFile("f.ezpc", f"{prelude}def void main() {{\n{body}\n}}\n")


def checked(body: str, *, prelude: str = "", bitlen: int = 32, scale: int = 12) -> ast.Program:
    result = check_source(source(body, prelude), bitlen=bitlen, scale=scale)
    assert not result.diagnostics, [d.message for d in result.diagnostics]
    assert result.program is not None
    return result.program


def errors(body: str, *, prelude: str = "", bitlen: int = 32, scale: int = 12) -> list[tuple[str, str, str]]:
    """(code, line:col, message) of every error, the line counted from the first body line."""
    result = check_source(source(body, prelude), bitlen=bitlen, scale=scale)
    offset = prelude.count("\n") + 1
    return [(d.code, f"{d.span.line - offset}:{d.span.col}" if d.span else "", d.message)
            for d in result.diagnostics if d.severity is Severity.ERROR]


def prepared(body: str, *, prelude: str = "", bitlen: int = 32, scale: int = 12, optimize: bool = False) -> Prepared:
    """The lowered program; optimised by the rewrite rules only when asked, so that tests of the
    lowering see exactly the truncations it placed."""
    return prepare(checked(body, prelude=prelude, bitlen=bitlen, scale=scale), bitlen=bitlen, optimize=optimize)


def run(body: str, inputs: Mapping[Role, Mapping[str, Any]], *, prelude: str = "", bitlen: int = 32,
        scale: int = 12) -> dict[str, Any]:
    """Output text → decoded value of every output the CLIENT receives."""
    ready = prepared(body, prelude=prelude, bitlen=bitlen, scale=scale)
    sources = ready.inputs({role: InputSource.from_mapping(values) for role, values in inputs.items()})
    result = ready.run_result(interpret(ready.program, sources))
    return {out.text: out.value for out in result.outputs.get(Role.CLIENT, ())}


def statements(program: ast.Program) -> Iterator[ast.Stmt]:
    """Every statement of every function, pre-order."""
    stack: list[Any] = [g.body for g in reversed(program.globals) if isinstance(g, ast.FunDef)]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(reversed(item))
            continue
        yield item
        if isinstance(item, (ast.For, ast.While, ast.Block)):
            stack.append(item.body)
        elif isinstance(item, ast.If):
            stack.extend(s for s in (item.other, item.then) if s is not None)


def decl(program: ast.Program, name: str) -> ast.Decl:
    return next(s for s in statements(program) if isinstance(s, ast.Decl) and s.name == name)


def init(program: ast.Program, name: str) -> ast.Expr:
    found = decl(program, name).init
    assert found is not None
    return found


def show(e: ast.Expr) -> str:
    """A lowered expression as text: `conv<int32_al>(x)`, `(a * b) >>r 12` for a truncation."""
    match e:
        case ast.Convert(operand=x, ty=t):
            return f"conv<{t}>({show(x)})"
        case ast.Binary(op=op, left=l, right=r, rescale=rescale):
            return f"({show(l)} {op}{'r' if rescale else ''} {show(r)})"
        case ast.Ternary(cond=c, then=a, other=b):
            return f"({show(c)} ? {show(a)} : {show(b)})"
        case ast.Index(array=a, index=i):
            return f"{show(a)}[{show(i)}]"
        case ast.Call(name=n, args=args):
            return f"{n}({', '.join(map(show, args))})"
        case ast.Var(name=n):
            return n
        case ast.IntLit(value=v):
            return str(v)
    return e.span.text


def types_below(e: ast.Expr) -> Iterator[Any]:
    """The type of `e` and of every expression inside it."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node.ty
        for child in ("left", "right", "operand", "cond", "then", "other", "array", "index"):
            if hasattr(node, child):
                stack.append(getattr(node, child))
        stack.extend(getattr(node, "args", ()))
