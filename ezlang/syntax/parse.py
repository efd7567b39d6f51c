"""Text → AST. Loads grammar/ezpc.lark once; turns Lark's parse tree into frozen AST nodes.

Comments are blanked out first (they nest, which no regular lexer can do) with newlines kept so
every position survives. The tree is transformed without recursion, so the 36,000-statement
bodies of the Athos libraries need no raised recursion limit. Lexing and parsing stop at the
first error, as in the reference, and raise CompileError with one diagnostic that says where,
what was expected, and how the usual mistakes are fixed.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Optional

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ezlang.diagnostics import CompileError, Diagnostics, register
from ezlang.source import SourceFile, Span
from ezlang.syntax import ast
from ezlang.types import Base, Label, Role

BAD_FIXED_NUMBER = register("E0106", "invalid fixed-point scale or input range bound")

_COMMENT_DELIMITER = re.compile(r"\(\*|\*\)")
_NOT_NEWLINE = re.compile(r"[^\r\n]")

# Largest magnitude each literal suffix admits (§2.4); a negative literal is negated afterwards.
_LITERAL_BASE = {"": Base.INT32, "u": Base.UINT32, "L": Base.INT64, "uL": Base.UINT64}
_LITERAL_MAX = {Base.INT32: 2**31 - 1, Base.UINT32: 2**32 - 1, Base.INT64: 2**63 - 1, Base.UINT64: 2**64 - 1}


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, "_ToAst"]:
    """The LALR parser with the AST builder bound to it (building the table costs ~0.1 s)."""
    builder = _ToAst()
    grammar = resources.files("ezlang.grammar").joinpath("ezpc.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="basic", transformer=builder, keep_all_tokens=True,
                maybe_placeholders=False), builder


_PARSE_LOCK = threading.Lock()


def blank_comments(source: SourceFile) -> str:
    """The text with every (possibly nested) `(* ... *)` comment replaced by spaces.

    Raises CompileError E0102 at the opening of a comment that never closes."""
    text = source.text
    pieces: list[str] = []
    depth, copied, opened = 0, 0, 0
    for match in _COMMENT_DELIMITER.finditer(text):
        if match.group() == "(*":
            if depth == 0:
                pieces.append(text[copied:match.start()])
                opened = match.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                pieces.append(_NOT_NEWLINE.sub(" ", text[opened:match.end()]))
                copied = match.end()
    if depth > 0:
        diags = Diagnostics()
        diags.error("E0102", "comment is never closed", Span(source, opened, opened + 2),
                    label="this `(*` has no matching `*)`",
                    help="comments nest: every `(*` inside a comment needs its own `*)`")
        raise CompileError(diags)
    pieces.append(text[copied:])
    return "".join(pieces)


def parse_program(source: SourceFile) -> ast.Program:
    """Parse one .ezpc file; raises CompileError on the first lexical or syntax error."""
    text = blank_comments(source)
    parser, builder = _parser()
    with _PARSE_LOCK:
        builder.source = source
        try:
            return parser.parse(text)
        except UnexpectedInput as exc:
            raise CompileError(_syntax_error(source, text, exc)) from None


def parse_text(text: str, name: str = "<input>.ezpc") -> ast.Program:
    return parse_program(SourceFile(name, text))


# ---------------------------------------------------------------- syntax errors


def _describe_terminal(name: str) -> str:
    try:
        pattern = _parser()[0].get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return {"ID": "a name", "NUMBER": "a number"}.get(name, name.lower())


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "ID":
        return f"name `{token}`"
    if token.type == "NUMBER":
        return f"number `{token}`"
    return f"`{token}`"


def _previous_token(text: str, pos: int) -> str:
    before = text[:pos].rstrip()
    return before[-1:] if before else ""


def _hint_for(text: str, token: Token, expected: set[str]) -> Optional[str]:
    """How to fix the common mistakes, from the offending token and its neighbourhood."""
    pos = token.start_pos or 0
    previous = _previous_token(text, pos)
    if str(token) == "_" and re.search(r"\b(u?int(32|64)|float|bool|fixed(<[0-9]+>)?)\s*$", text[:pos]):
        return "a global constant is always public and takes no label: write `int32 N = 10;`"
    if str(token) == "_" and previous.isalnum():
        return "names cannot contain `_`; `_` only introduces a label, as in `int32_al` or `+_bl`"
    if token.type == "BANG" and text[pos + 1:pos + 2] == "=":
        return "EzPC has no `!=`: write `!(a == b)`"
    if token.type == "ELSE" and previous == ";":
        return ("an `if` branch is a single statement: drop the `;` before `else` "
                "(`if (c) x = 1 else x = 2`) or write the branch as a block `{ ... }`")
    if previous == "-" and token.type in ("ID", "LPAR"):
        return "EzPC has no unary minus: write `0 - x` or `(-1) * x`"
    if token.type == "ID" and previous.isdigit() and token.start_pos == pos and text[pos - 1:pos].isdigit():
        return "integer suffixes are exactly `u`, `L` and `uL` (case-sensitive)"
    if previous == "}" and token.type not in ("SEMICOLON", "ELSE", "RBRACE"):
        return "a `for`, `while`, `if` or `{ }` block must be followed by `;` when another statement follows"
    if token.type == "RBRACE" and previous == "{":
        return "an empty `{ }` is not a statement: remove it, or put a statement inside"
    if token.type == "SEMICOLON" and previous in ("{", ";") and "RBRACE" not in expected:
        return "a statement sequence cannot start with `;`"
    if "SEMICOLON" in expected and len(expected) < 8:
        return "a `;` may be missing between two statements"
    return None


def _syntax_error(source: SourceFile, text: str, exc: UnexpectedInput) -> Diagnostics:
    diags = Diagnostics()
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream]
        span = Span(source, exc.pos_in_stream, exc.pos_in_stream + 1)
        shown = repr(char) if not char.isprintable() or char == " " else f"`{char}`"
        help_text = None
        if char == "_":
            help_text = "names cannot contain `_`; `_` only introduces a label, as in `int32_al`"
        elif char == ".":
            help_text = "a real literal needs digits on both sides of the point, as in `0.5`"
        elif char in "#/":
            help_text = "the only comments are `(* ... *)`"
        diags.error("E0101", f"unexpected character {shown}", span,
                    label="not part of any EzPC token", help=help_text)
        return diags
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        end = len(text.rstrip())
        expected = sorted(_describe_terminal(t) for t in getattr(exc, "expected", ()) or ())
        diags.error("E0104", "unexpected end of file", Span(source, max(0, end - 1), max(1, end)),
                    label="the program stops here",
                    help=f"expected {', '.join(expected)}" if expected else None)
        return diags
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    start = token.start_pos or 0
    expected_names = set(exc.expected)
    expected = sorted({_describe_terminal(t) for t in expected_names})
    listed = ", ".join(expected[:12]) + (", ..." if len(expected) > 12 else "")
    diags.error("E0104", f"unexpected {_describe_token(token)}",
                Span(source, start, max(start + 1, token.end_pos or start + 1)),
                label=f"expected {listed}", help=_hint_for(text, token, expected_names))
    return diags


def _fixed_number_error(span: Span, message: str, help_text: str) -> CompileError:
    diags = Diagnostics()
    diags.error(BAD_FIXED_NUMBER, message, span, label="not allowed here", help=help_text)
    return CompileError(diags)


def _literal_error(span: Span, digits: str, base: Base, negative: bool) -> CompileError:
    diags = Diagnostics()
    hint = {Base.INT32: "use an `L` suffix for int64", Base.UINT32: "use a `uL` suffix for uint64"}.get(base)
    if negative and base is Base.INT32 and int(digits) == 2**31:
        hint = "-2147483648 cannot be written directly: write `(0 - 2147483647) - 1`"
    diags.error("E0103", f"integer literal {'-' if negative else ''}{digits} does not fit in {base}",
                span, label=f"{base} literals go up to {_LITERAL_MAX[base]}", help=hint)
    return CompileError(diags)


# ---------------------------------------------------------------- parse tree → AST


@dataclass(frozen=True)
class _Positioned:
    """A fragment that is not an AST node but must still contribute its extent to its parent."""

    value: Any
    start: int
    end: int


def _start_of(child: Any) -> Optional[int]:
    if isinstance(child, Token):
        return child.start_pos
    if isinstance(child, _Positioned):
        return child.start
    if isinstance(child, tuple):
        return next((p for p in map(_start_of, child) if p is not None), None)
    span = getattr(child, "span", None)
    return span.start if span is not None else None


def _end_of(child: Any) -> Optional[int]:
    if isinstance(child, Token):
        return child.end_pos
    if isinstance(child, _Positioned):
        return child.end
    if isinstance(child, tuple):
        return next((p for p in map(_end_of, reversed(child)) if p is not None), None)
    span = getattr(child, "span", None)
    return span.end if span is not None else None


def _rule(method: Callable[..., Any]) -> Callable[..., Any]:
    """Give a rule callback the span of all its children and only the children that carry
    meaning (punctuation and anonymous keywords dropped)."""

    def callback(self: "_ToAst", children: list[Any]) -> Any:
        start = next((p for p in map(_start_of, children) if p is not None), 0)
        end = next((p for p in map(_end_of, reversed(children)) if p is not None), start)
        kept = [c for c in children if not (isinstance(c, Token) and c.type not in _MEANINGFUL)]
        return method(self, Span(self.source, start, end), kept)

    callback.__name__ = method.__name__
    return callback


def _named_terminals() -> frozenset[str]:
    grammar = resources.files("ezlang.grammar").joinpath("ezpc.lark").read_text()
    return frozenset(re.findall(r"^([A-Z][A-Z0-9_]*)\s*:", grammar, re.MULTILINE))


_MEANINGFUL = _named_terminals()
_BINARY = {op.value: op for op in ast.BinaryOp}
_UNARY = {op.value: op for op in ast.UnaryOp}


def _tok(source: SourceFile, token: Token) -> Span:
    return Span(source, token.start_pos, token.end_pos)


def _split(children: list[Any], kind: type) -> tuple[list[Any], list[Any]]:
    """Children of `kind` (unwrapped from _Positioned) and the rest."""
    hits = [c.value for c in children if isinstance(c, _Positioned) and isinstance(c.value, kind)]
    rest = [c for c in children if not (isinstance(c, _Positioned) and isinstance(c.value, kind))]
    return hits, rest


@dataclass(frozen=True)
class _BaseType:
    """A base type as written; `scale` only for `fixed<s>`."""

    base: Base
    scale: Optional[int] = None


class _Qualifier(str):
    """`partition`, `inline` or `unroll`."""


class _Void:
    """The return type `void`."""


class _ToAst(Transformer):
    """Called by the LALR parser on every reduction (no parse tree is built): one method per
    grammar rule, each building its AST node. `source` is set for the duration of one parse."""

    source: SourceFile

    @_rule
    def start(self, span, children):
        return ast.Program(self.source, tuple(children))

    @_rule
    def fun_def(self, span, children):
        qualifiers, children = _split(children, _Qualifier)
        ret, name, params, *body = children
        return ast.FunDef(span, None if isinstance(ret, _Void) else ret, str(name), _tok(self.source, name),
                          params, body[0] if body else (), qualifiers[0] if qualifiers else None)

    @_rule
    def extern_decl(self, span, children):
        ret, name, params = children
        return ast.Extern(span, None if isinstance(ret, _Void) else ret, str(name), _tok(self.source, name), params)

    @_rule
    def global_const(self, span, children):
        base, name, value = children
        return ast.GlobalConst(span, base.value.base, str(name), _tok(self.source, name), value, base.value.scale)

    @_rule
    def params(self, span, children):
        return tuple(children)

    @_rule
    def param(self, span, children):
        type_, name = children
        return ast.Param(span, type_, str(name))

    @_rule
    def ret_type(self, span, children):
        (child,) = children
        return _Void() if isinstance(child, Token) else child

    @_rule
    def type(self, span, children):
        labels, (base, *dims) = _split(children, Label)
        return ast.TypeNode(span, base.value.base, labels[0] if labels else None, tuple(d.value for d in dims),
                            scale=base.value.scale)

    @_rule
    def const_type(self, span, children):
        labels, (_const, base, *dims) = _split(children, Label)
        return ast.TypeNode(span, base.value.base, labels[0] if labels else None, tuple(d.value for d in dims), True,
                            base.value.scale)

    @_rule
    def label_suffix(self, span, children):
        return children[0]

    @_rule
    def dim(self, span, children):
        return _Positioned(children[0], span.start, span.end)

    @_rule
    def basetype(self, span, children):
        numbers = [c for c in children if c.type == "NUMBER"]
        scale = self._scale(numbers[0]) if numbers else None
        return _Positioned(_BaseType(Base(str(children[0])), scale), span.start, span.end)

    def _scale(self, token: Token) -> int:
        if not token.isdigit():
            raise _fixed_number_error(_tok(self.source, token), f"`{token}` is not a fixed-point scale",
                                      "the scale counts fractional bits: a whole number, as in `fixed<12>`")
        return int(token)

    @_rule
    def label(self, span, children):
        return _Positioned(Label(str(children[0])), span.start, span.end)

    @_rule
    def role(self, span, children):
        return _Positioned(Role(str(children[0])), span.start, span.end)

    @_rule
    def funqual(self, span, children):
        return _Positioned(_Qualifier(str(children[0])), span.start, span.end)

    loopqual = funqual

    # statements
    @_rule
    def seq(self, span, children):
        return tuple(children)

    @_rule
    def block(self, span, children):
        return ast.Block(span, children[0])

    @_rule
    def decl(self, span, children):
        type_, name, *init = children
        return ast.Decl(span, type_, str(name), _tok(self.source, name), init[0] if init else None)

    @_rule
    def assign(self, span, children):
        target, value = children
        return ast.Assign(span, target, value)

    def lvalue(self, children):
        # `name [ e ] [ e ]`: the brackets give each Index node its exact extent.
        name = children[0]
        target: ast.LValue = ast.Var(_tok(self.source, name), str(name))
        for i in range(2, len(children), 3):
            close = children[i + 1]
            target = ast.Index(Span(self.source, name.start_pos, close.end_pos), target, children[i])
        return target

    @_rule
    def call_stmt(self, span, children):
        name, args = children
        return ast.CallStmt(span, str(name), _tok(self.source, name), args)

    @_rule
    def return_stmt(self, span, children):
        return ast.Return(span, children[1] if len(children) > 1 else None)

    @_rule
    def input_stmt(self, span, children):
        role, name, type_, *bounds = children
        if not bounds:
            return ast.Input(span, role.value, str(name), _tok(self.source, name), type_)
        declared = bounds[0]
        return ast.Input(span, role.value, str(name), _tok(self.source, name), type_, declared.value,
                         Span(self.source, declared.start, declared.end))

    @_rule
    def input_range(self, span, children):
        low, high = children
        return _Positioned((low, high), span.start, span.end)

    @_rule
    def range_bound(self, span, children):
        text = str(children[-1])
        if text.rstrip("uL") != text:
            raise _fixed_number_error(span, f"`{span.text}` cannot bound an input range",
                                      "range bounds are plain numbers such as `-1.0` or `255`, without suffix")
        value = float(text) if "." in text else int(text)
        return -value if len(children) == 2 else value

    @_rule
    def output_stmt(self, span, children):
        role, value = children
        return ast.Output(span, role.value, value)

    @_rule
    def for_stmt(self, span, children):
        qualifiers, (var, lo, hi, *body) = _split(children, _Qualifier)
        return ast.For(span, str(var), _tok(self.source, var), lo, hi, body[0] if body else (),
                       qualifiers[0] if qualifiers else None)

    @_rule
    def while_stmt(self, span, children):
        cond, *body = children
        return ast.While(span, cond, body[0] if body else ())

    @_rule
    def if_stmt(self, span, children):
        cond, then, *other = children
        return ast.If(span, cond, then, other[0] if other else None)

    # expressions
    @_rule
    def lab(self, span, children):
        return children[0]

    @_rule
    def paren(self, span, children):
        # The parentheses belong to the node, so that enclosing spans reach the `)`.
        return dataclasses.replace(children[0], span=span)

    @_rule
    def ternary(self, span, children):
        labels, (cond, then, other) = _split(children, Label)
        return ast.Ternary(span, cond, then, other, labels[0] if labels else None)

    @_rule
    def binop(self, span, children):
        labels, (left, op, right) = _split(children, Label)
        return ast.Binary(span, _BINARY[str(op)], left, right, labels[0] if labels else None)

    @_rule
    def unop(self, span, children):
        labels, (op, operand) = _split(children, Label)
        return ast.Unary(span, _UNARY[str(op)], operand, labels[0] if labels else None)

    @_rule
    def subsumption(self, span, children):
        _lt, src, dst, _gt, operand = children
        return ast.Subsume(span, src.value, dst.value, operand)

    @_rule
    def index(self, span, children):
        array, index = children
        return ast.Index(span, array, index)

    @_rule
    def num(self, span, children):
        negative = len(children) == 2
        text = str(children[-1])
        if "." in text:
            value = float(text)
            return ast.FloatLit(span, -value if negative else value)
        digits = text.rstrip("uL")
        base = _LITERAL_BASE[text[len(digits):]]
        magnitude = int(digits)
        if magnitude > _LITERAL_MAX[base]:
            raise _literal_error(span, digits, base, negative)
        value = -magnitude if negative else magnitude
        if not base.signed:
            value %= 1 << base.width
        return ast.IntLit(span, value, base)

    @_rule
    def true_lit(self, span, children):
        return ast.BoolLit(span, True)

    @_rule
    def false_lit(self, span, children):
        return ast.BoolLit(span, False)

    @_rule
    def role_lit(self, span, children):
        return ast.RoleLit(span, children[0].value)

    @_rule
    def var(self, span, children):
        return ast.Var(span, str(children[0]))

    @_rule
    def app(self, span, children):
        name, args = children
        return ast.Call(span, str(name), _tok(self.source, name), args)

    @_rule
    def args(self, span, children):
        return tuple(children)
