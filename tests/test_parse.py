"""Parser: the complete surface language of the reference (§2–3, checklist §6.2), spans, and the
text of every lexing/parsing error users can see."""

from __future__ import annotations

import pytest

from ezlang.diagnostics import CompileError
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.parse import blank_comments, parse_text
from ezlang.types import Base, Label, Role


def paren(e: ast.Expr) -> str:
    """Fully parenthesised rendering, to pin precedence and associativity."""
    match e:
        case ast.IntLit(value=v) | ast.FloatLit(value=v):
            return str(v)
        case ast.BoolLit(value=v):
            return str(v).lower()
        case ast.RoleLit(role=r):
            return str(r)
        case ast.Var(name=n):
            return n
        case ast.Index(array=a, index=i):
            return f"{paren(a)}[{paren(i)}]"
        case ast.Call(name=n, args=args):
            return f"{n}({', '.join(map(paren, args))})"
        case ast.Binary(op=op, left=l, right=r, label=lab):
            return f"({paren(l)} {op}{'_' + str(lab) if lab else ''} {paren(r)})"
        case ast.Unary(op=op, operand=x, label=lab):
            return f"({op}{'_' + str(lab) + ' ' if lab else ''}{paren(x)})"
        case ast.Ternary(cond=c, then=t, other=o, label=lab):
            return f"({paren(c)} ?{'_' + str(lab) if lab else ''} {paren(t)} : {paren(o)})"
        case ast.Subsume(src=s, dst=d, operand=x):
            return f"(<{s}|>{d}> {paren(x)})"
    raise AssertionError(e)


def expr(text: str) -> ast.Expr:
    program = parse_text(f"def void main() {{ x = {text} }}")
    stmt = program.globals[0].body[0]
    assert isinstance(stmt, ast.Assign)
    return stmt.value


def main_body(body: str) -> tuple[ast.Stmt, ...]:
    return parse_text(f"def void main() {{ {body} }}").globals[-1].body


def parse_error(text: str) -> str:
    with pytest.raises(CompileError) as info:
        parse_text(text, "t.ezpc")
    return str(info.value)


# ---------------------------------------------------------------- expressions


@pytest.mark.parametrize("source, expected", [
    ("a + b * c", "(a + (b * c))"),
    ("a - b - c", "((a - b) - c)"),
    ("2 ^^ 3 ^^ 2", "((2 ^^ 3) ^^ 2)"),
    ("a * b ^^ c", "(a * (b ^^ c))"),
    ("a || b @ c && d", "(a || (b @ (c && d)))"),
    ("a & b == c", "(a & (b == c))"),
    ("a < b == c < d", "((a < b) == (c < d))"),
    ("a | b ^ c & d", "(a | (b ^ (c & d)))"),
    ("a << 2 + 1", "(a << (2 + 1))"),
    ("a >>> b >> c", "((a >>> b) >> c)"),
    ("!a && b", "((!a) && b)"),
    ("~a + b", "((~a) + b)"),
    ("!a[i]", "(!a[i])"),
    ("c ? a : d ? x : y", "(c ? a : (d ? x : y))"),
    ("a + b > c ? x : y", "(((a + b) > c) ? x : y)"),
    ("a +_al b", "(a +_al b)"),
    ("x *_al 2uL", "(x *_al 2)"),
    ("p &&_bl q", "(p &&_bl q)"),
    ("!_bl p", "(!_bl p)"),
    ("~_bl x", "(~_bl x)"),
    ("((A[i])<0)?_bl(A[i]):((-1)*(A[i]))", "((A[i] < 0) ?_bl A[i] : (-1 * A[i]))"),
    ("<al |> bl> y + 1", "(<al|>bl> (y + 1))"),
    ("f(a, g(b)[2], 3)", "f(a, g(b)[2], 3)"),
    ("A[i][j+1][k]", "A[i][(j + 1)][k]"),
    ("SERVER", "SERVER"),
])
def test_precedence_and_associativity(source: str, expected: str) -> None:
    assert paren(expr(source)) == expected


@pytest.mark.parametrize("source, value, base", [
    ("7", 7, Base.INT32),
    ("007", 7, Base.INT32),
    ("2147483647", 2**31 - 1, Base.INT32),
    ("-5", -5, Base.INT32),
    ("- 5", -5, Base.INT32),
    ("4294967295u", 2**32 - 1, Base.UINT32),
    ("-1u", 2**32 - 1, Base.UINT32),
    ("-2L", -2, Base.INT64),
    ("9223372036854775807L", 2**63 - 1, Base.INT64),
    ("18446744073709551615uL", 2**64 - 1, Base.UINT64),
    ("-1uL", 2**64 - 1, Base.UINT64),
])
def test_integer_literals(source: str, value: int, base: Base) -> None:
    lit = expr(source)
    assert isinstance(lit, ast.IntLit)
    assert (lit.value, lit.base) == (value, base)


def test_float_and_bool_literals() -> None:
    assert expr("-0.25") == ast.FloatLit(expr("-0.25").span, -0.25)
    assert isinstance(expr("true"), ast.BoolLit) and expr("false").value is False


def test_binary_minus_and_negative_literal_share_a_token() -> None:
    assert paren(expr("a - -1")) == "(a - -1)"
    assert paren(expr("a-1")) == "(a - 1)"


# ---------------------------------------------------------------- programs and statements


def test_comments_nest_and_keep_positions() -> None:
    text = "(* outer (* inner *) still comment *)\r\n(**********)\r\ndef void main() {\r\n  x = 1 (* it's *)\r\n}"
    program = parse_text(text)
    stmt = program.globals[0].body[0]
    assert (stmt.span.line, stmt.span.col) == (4, 3)
    assert blank_comments(SourceFile("t", "a (* b (* c *) d *) e")) == "a                   e"


def test_crlf_and_cr_line_endings() -> None:
    program = parse_text("def void main() {\r  x = 1;\r\n  y = 2\n}")
    assert [s.span.line for s in program.globals[0].body] == [2, 3]


def test_globals_externs_and_qualifiers() -> None:
    program = parse_text("""
        int32 N = 10;
        extern void Conv(int32_pl H, int32_pl FH, int32_al[((H-FH)/2)+1][N] out);
        extern float_pl intToFloat(int32_pl m);
        inline def void g(const int32_al[N] a) { }
        partition def int32_al f(int32_al x) { return x; }
        def void main() {
          unroll for i = [0:2] { x = i };
          partition for j = [0:2] { y = j }
        }""")
    const, conv, itf, g, f, main = program.globals
    assert isinstance(const, ast.GlobalConst) and const.base is Base.INT32
    assert isinstance(conv, ast.Extern) and conv.ret is None
    assert len(conv.params[2].type.dims) == 2
    assert itf.ret is not None and itf.ret.label is Label.PL and itf.ret.base is Base.FLOAT
    assert g.qualifier == "inline" and g.params[0].type.const and g.body == ()
    assert f.qualifier == "partition"
    assert [s.qualifier for s in main.body] == ["unroll", "partition"]


def test_statement_forms() -> None:
    body = main_body("""
        int32_al[10][20] A;
        int32 _ al w = 1;;;
        uint32_bl ux = x;
        input(SERVER, a, int64_al[2]);
        input(ALL, n, int32_pl);
        A[1][2] = 3;
        f(A, 2);
        while i < 3 { i = i + 1 };
        while c { };
        for i = [0:n] { };
        if (c) x = 1 else y = 2;
        if (c) { x = 1 } else if (d) { x = 2 } else x = 3;
        { x = 1; y = 2 };
        output(ALL, A)""")
    kinds = [type(s).__name__ for s in body]
    assert kinds == ["Decl", "Decl", "Decl", "Input", "Input", "Assign", "CallStmt", "While", "While",
                     "For", "If", "If", "Block", "Output"]
    assert body[0].type.dims and len(body[0].type.dims) == 2
    assert body[1].type.label is Label.AL
    assert body[3].role is Role.SERVER and body[4].role is Role.ALL
    assert isinstance(body[11].other, ast.If)
    assert paren(body[5].target) == "A[1][2]"
    assert body[5].target.span.text == "A[1][2]"


def test_return_forms() -> None:
    program = parse_text("def void f() { return }\ndef int32_al g() { return 1 }\ndef void main() { }")
    assert program.globals[0].body[0].value is None
    assert isinstance(program.globals[1].body[0].value, ast.IntLit)


def test_keywords_are_reserved_but_prefixes_are_names() -> None:
    body = main_body("iffy = int32x + alpha + ALLx")
    assert paren(body[0].value) == "((int32x + alpha) + ALLx)"
    assert "unexpected `for`" in parse_error("def void main() { int32_pl for = 3 }")


def test_spans_cover_the_source_text() -> None:
    value = expr("a +_al (b * c)")
    assert value.span.text == "a +_al (b * c)"
    assert value.right.span.text == "(b * c)"


def test_long_statement_sequences_do_not_recurse() -> None:
    lines = "\n".join(f"  inp[{i}] = {i};" for i in range(40_000))
    program = parse_text(f"def void main() {{\n  int32_al[40000] inp;\n{lines}\n}}")
    assert len(program.globals[0].body) == 40_001


def test_long_expression_chains_do_not_recurse() -> None:
    value = expr(" + ".join(["a"] * 5_000))
    depth = 0
    while isinstance(value, ast.Binary):
        value, depth = value.left, depth + 1
    assert depth == 4_999


# ---------------------------------------------------------------- errors users see


def test_unexpected_character() -> None:
    assert parse_error("def void main() {\n  x = 1 # 2\n}") == (
        "t.ezpc:2:9: error[E0101]: unexpected character `#`\n"
        "2 |   x = 1 # 2\n"
        "  |         ^ not part of any EzPC token\n"
        "  help: the only comments are `(* ... *)`")


def test_underscore_in_a_name() -> None:
    message = parse_error("def void main() { my_var = 1 }")
    assert message.splitlines()[0] == "t.ezpc:1:21: error[E0104]: unexpected `_`"
    assert "help: names cannot contain `_`" in message


def test_unterminated_comment() -> None:
    assert parse_error("def void main() { (* (* *) }") == (
        "t.ezpc:1:19: error[E0102]: comment is never closed\n"
        "1 | def void main() { (* (* *) }\n"
        "  |                   ^^ this `(*` has no matching `*)`\n"
        "  help: comments nest: every `(*` inside a comment needs its own `*)`")


@pytest.mark.parametrize("literal, message", [
    ("2147483648", "t.ezpc:1:23: error[E0103]: integer literal 2147483648 does not fit in int32"),
    ("-2147483648", "t.ezpc:1:23: error[E0103]: integer literal -2147483648 does not fit in int32"),
    ("4294967296u", "t.ezpc:1:23: error[E0103]: integer literal 4294967296 does not fit in uint32"),
    ("9223372036854775808L", "t.ezpc:1:23: error[E0103]: integer literal 9223372036854775808 does not fit in int64"),
    ("18446744073709551616uL", "t.ezpc:1:23: error[E0103]: integer literal 18446744073709551616 does not fit in uint64"),
])
def test_literal_out_of_range(literal: str, message: str) -> None:
    assert parse_error(f"def void main() {{ x = {literal} }}").splitlines()[0] == message


@pytest.mark.parametrize("body, first_line, help_text", [
    ("if (c) x = 1; else x = 2", "t.ezpc:1:33: error[E0104]: unexpected `else`",
     "an `if` branch is a single statement"),
    ("x = -y", "t.ezpc:1:24: error[E0104]: unexpected name `y`", "EzPC has no unary minus"),
    ("x = a != b", "t.ezpc:1:25: error[E0104]: unexpected `!`", "EzPC has no `!=`"),
    ("x = 5U", "t.ezpc:1:24: error[E0104]: unexpected name `U`", "suffixes are exactly `u`, `L` and `uL`"),
    ("for i = [0:3] { x = 1 } x = 2", "t.ezpc:1:43: error[E0104]: unexpected name `x`",
     "must be followed by `;`"),
    ("if (c) {} else {}", "t.ezpc:1:27: error[E0104]: unexpected `}`", "an empty `{ }` is not a statement"),
    ("{ ; }", "t.ezpc:1:21: error[E0104]: unexpected `;`", None),
    ("unroll for i = [0:2] { }", "t.ezpc:1:42: error[E0104]: unexpected `}`", None),
    ("a = b = c", "t.ezpc:1:25: error[E0104]: unexpected `=`", None),
    ("x = 1e5", "t.ezpc:1:24: error[E0104]: unexpected name `e5`", None),
    ("x = .5", "t.ezpc:1:23: error[E0101]: unexpected character `.`", "digits on both sides"),
])
def test_syntax_errors_say_where_and_how_to_fix(body: str, first_line: str, help_text: str | None) -> None:
    message = parse_error(f"def void main() {{ {body} }}")
    assert message.splitlines()[0] == first_line
    if help_text:
        assert help_text in message


def test_unexpected_end_of_file() -> None:
    message = parse_error("def void main() {\n  x = 1")
    assert message.splitlines()[0] == "t.ezpc:2:7: error[E0104]: unexpected end of file"


def test_global_constant_may_not_be_labelled() -> None:
    message = parse_error("int32_pl N = 1;")
    assert message.splitlines()[0] == "t.ezpc:1:6: error[E0104]: unexpected `_`"
    assert "help: a global constant is always public and takes no label" in message
