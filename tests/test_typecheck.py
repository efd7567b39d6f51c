"""The typed IR contract of ezlang.passes.pipeline: what check_source/check_program return, how
every expression is annotated, where conversions are made explicit, and scale."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

import pytest

from ezlang.diagnostics import Diagnostics
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.parse import parse_text
from ezlang.types import Base, Label, Type
from ezlang.passes.pipeline import CheckResult, check_program, check_source

ACCEPTED = Path(__file__).parent / "programs" / "accepted"
EXPR_TYPES = (ast.IntLit, ast.FloatLit, ast.BoolLit, ast.RoleLit, ast.Var, ast.Index, ast.Call, ast.Binary,
              ast.Unary, ast.Ternary, ast.Subsume, ast.Convert)


def T(text: str) -> Type:
    """`int32_al[][]` → Type; `const` prefix allowed."""
    const = text.startswith("const ")
    text = text.removeprefix("const ")
    rank = text.count("[]")
    base, label = text.replace("[]", "").split("_")
    return Type(Base(base), Label(label), rank, const)


def nodes(node: Any) -> Iterator[Any]:
    """Every dataclass node below `node` (expressions, statements, types), pre-order."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(reversed(item))
        elif dataclasses.is_dataclass(item) and not isinstance(item, (Type, type)):
            yield item
            stack.extend(reversed([getattr(item, f.name) for f in dataclasses.fields(item)
                                   if f.name not in ("span", "name_span", "var_span", "ty", "known_to")]))


def typed(body: str, *, prelude: str = "", bitlen: int = 32) -> ast.Program:
    result = check_source(SourceFile("t.ezpc", f"{prelude}def void main() {{\n{body}\n}}\n"), bitlen=bitlen)
    assert [d.message for d in result.diagnostics] == []
    assert result.program is not None
    return result.program


def init_of(program: ast.Program, name: str) -> ast.Expr:
    decl = next(n for n in nodes(program) if isinstance(n, ast.Decl) and n.name == name)
    assert decl.init is not None
    return decl.init


def shape(e: ast.Expr) -> str:
    """A compact rendering of a typed expression: conversions as `conv<T>(...)`."""
    match e:
        case ast.Convert(operand=x, ty=t):
            return f"conv<{t}>({shape(x)})"
        case ast.Binary(op=op, left=l, right=r, label=lab, ty=t):
            return f"({shape(l)} {op}_{lab} {shape(r)}):{t}"
        case ast.Unary(op=op, operand=x, label=lab, ty=t):
            return f"({op}_{lab} {shape(x)}):{t}"
        case ast.Ternary(cond=c, then=a, other=b, label=lab, ty=t):
            return f"({shape(c)} ?_{lab} {shape(a)} : {shape(b)}):{t}"
        case ast.Index(array=a, index=i, ty=t):
            return f"{shape(a)}[{shape(i)}]:{t}"
        case ast.Call(name=n, args=args, ty=t):
            return f"{n}({', '.join(map(shape, args))}):{t}"
        case ast.Subsume(src=s, dst=d, operand=x, ty=t):
            return f"<{s}|>{d}>({shape(x)}):{t}"
        case ast.Var(name=n, ty=t):
            return f"{n}:{t}"
    return f"{e.span.text}:{e.ty}"


# ---------------------------------------------------------------- API


def test_check_result_holds_program_and_diagnostics() -> None:
    result = check_source(SourceFile("t.ezpc", "def void main() { int32_pl x = 1 }"))
    assert isinstance(result, CheckResult) and isinstance(result.diagnostics, Diagnostics)
    assert result.ok and isinstance(result.program, ast.Program) and len(result.diagnostics) == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.program = None  # type: ignore[misc]


def test_errors_give_no_program() -> None:
    result = check_source(SourceFile("t.ezpc", "def void main() { int32_pl x = true }"))
    assert result.program is None and not result.ok
    assert [d.code for d in result.diagnostics] == ["E0401"]


def test_parse_errors_are_returned_not_raised() -> None:
    result = check_source(SourceFile("t.ezpc", "def void main() { x = }"))
    assert result.program is None and [d.code for d in result.diagnostics] == ["E0104"]


@pytest.mark.parametrize("bitlen", [0, 16, 33, 41, 128])
def test_bitlen_must_be_32_or_64(bitlen: int) -> None:
    with pytest.raises(ValueError, match="bitlen must be 32 or 64"):
        check_source(SourceFile("t.ezpc", "def void main() { }"), bitlen=bitlen)
    with pytest.raises(ValueError):
        check_program(parse_text("def void main() { }"), bitlen=bitlen)


def test_bitlen_selects_the_width_of_secret_integers() -> None:
    program = parse_text("def void main() { int64_al x = 1L }")
    assert [d.code for d in check_program(program).diagnostics] == ["E0415"]
    assert check_program(program, bitlen=64).ok
    assert [d.code for d in check_program(parse_text("def void main() { int32 x }"), bitlen=64).diagnostics] \
        == ["E0415"]


def test_library_mode_skips_only_the_main_rule() -> None:
    library = parse_text("def void f() { }")
    assert [d.code for d in check_program(library).diagnostics] == ["E0506"]
    assert check_program(library, library=True).ok
    broken = parse_text("def void f() { int32_pl x = true }")
    assert [d.code for d in check_program(broken, library=True).diagnostics] == ["E0401"]


# ---------------------------------------------------------------- annotations


def test_every_expression_is_typed_and_every_operator_labelled() -> None:
    for path in sorted(ACCEPTED.glob("*.ezpc")):
        bitlen = 64 if "(* OPTIONS bitlen=64 *)" in path.read_text() else 32
        program = check_source(SourceFile.read(path), bitlen=bitlen).program
        assert program is not None
        exprs = [n for n in nodes(program) if isinstance(n, EXPR_TYPES)]
        assert len(exprs) > 20
        assert all(e.ty is not None and e.ty.label is not None for e in exprs)
        assert all(e.label is not None for e in exprs if isinstance(e, (ast.Binary, ast.Unary, ast.Ternary)))


def test_literals_and_roles_are_public() -> None:
    program = typed("int32_pl a = 1; uint64_pl b = 2uL; float_pl c = 0.5; bool_pl d = true; uint32_pl e = CLIENT")
    assert [init_of(program, n).ty for n in "abcde"] == [
        T("int32_pl"), T("uint64_pl"), T("float_pl"), T("bool_pl"), T("uint32_pl")]


def test_variables_carry_their_declared_type_and_indexing_peels_dimensions() -> None:
    program = typed("const int32_al[2][3] M; int32_al x = M[1][2];\n"
                    "output(ALL, M); output(ALL, M[1])")
    outputs = [n for n in nodes(program) if isinstance(n, ast.Output)]
    assert [o.value.ty for o in outputs] == [T("const int32_al[][]"), T("const int32_al[]")]
    assert shape(init_of(program, "x")) == "M:const int32_al[][][1:int32_pl]:const int32_al[][2:int32_pl]:int32_al"


def test_declared_dimensions_are_typed() -> None:
    program = typed("int32_pl n = 4; int32_al[n][n + 1] A; input(SERVER, B, int32_al[2 * n])")
    dims = [d for node in nodes(program) if isinstance(node, ast.TypeNode) for d in node.dims]
    assert [shape(d) for d in dims] == ["n:int32_pl", "(n:int32_pl +_pl 1:int32_pl):int32_pl",
                                        "(2:int32_pl *_pl n:int32_pl):int32_pl"]


CONVERSIONS = [
    ("uint32_pl p = 3u; uint32_al x = p", "conv<uint32_al>(p:uint32_pl)"),
    ("uint32_al a; uint32_bl c; uint32_al x = a * c", "(a:uint32_al *_al conv<uint32_al>(c:uint32_bl)):uint32_al"),
    ("int64_pl x = 1", "conv<int64_pl>(1:int32_pl)"),
    ("int32_al s; uint32_bl x = s", "conv<uint32_bl>(s:int32_al)"),
    ("uint32_al a; uint32_al b; bool_bl x = a == b",
     "(conv<uint32_bl>(a:uint32_al) ==_bl conv<uint32_bl>(b:uint32_al)):bool_bl"),
    ("uint32_al a; uint32_pl p; uint32_bl x = a << p", "(conv<uint32_bl>(a:uint32_al) <<_bl p:uint32_pl):uint32_bl"),
    ("int32_al a; int32_al x = a >> 2u", "conv<int32_al>((conv<int32_bl>(a:int32_al) >>_bl 2u:uint32_pl):int32_bl)"),
    ("int32_pl n = 2; int64_pl x = 0L + n", "(0L:int64_pl +_pl conv<int64_pl>(n:int32_pl)):int64_pl"),
    ("bool_bl r; uint32_al a; uint32_al x = r ? a : 0u",
     "conv<uint32_al>((r:bool_bl ?_bl conv<uint32_bl>(a:uint32_al) : conv<uint32_bl>(0u:uint32_pl)):uint32_bl)"),
    ("int32_pl p; int32_al a; int32_al x = p > 0 ? a : 0",
     "((p:int32_pl >_pl 0:int32_pl):bool_pl ?_pl a:int32_al : conv<int32_al>(0:int32_pl)):int32_al"),
    ("uint32_al a; uint32_al x = a +_bl a",
     "conv<uint32_al>((conv<uint32_bl>(a:uint32_al) +_bl conv<uint32_bl>(a:uint32_al)):uint32_bl)"),
    ("int32_al a; int32_bl x = <al |> bl> a", "<al|>bl>(a:int32_al):int32_bl"),
    ("uint32_bl c; uint32_bl x = ~c", "(~_bl c:uint32_bl):uint32_bl"),
    ("int32_al a; bool_bl x = !(a > 0)",
     "(!_bl (conv<int32_bl>(a:int32_al) >_bl conv<int32_bl>(0:int32_pl)):bool_bl):bool_bl"),
    ("float_fl f; float_fl x = f * 2.0", "(f:float_fl *_fl conv<float_fl>(2.0:float_pl)):float_fl"),
    ("float_fl f; bool_bl x = f < 1.0", "(f:float_fl <_fl conv<float_fl>(1.0:float_pl)):bool_bl"),
]


@pytest.mark.parametrize("body,expected", CONVERSIONS, ids=[c[0] for c in CONVERSIONS])
def test_implicit_conversions_are_explicit(body: str, expected: str) -> None:
    assert shape(init_of(typed(body), "x")) == expected


def test_arguments_returns_and_assignments_are_converted() -> None:
    program = typed("int64_al r = f(1L, 2); r = 3L",
                    prelude="def int64_al f(int64_al a, int64_pl b) { return b }\n", bitlen=64)
    ret = next(n for n in nodes(program) if isinstance(n, ast.Return))
    assign = next(n for n in nodes(program) if isinstance(n, ast.Assign))
    assert ret.value is not None and shape(ret.value) == "conv<int64_al>(b:int64_pl)"
    assert shape(init_of(program, "r")) == "f(conv<int64_al>(1L:int64_pl), conv<int64_pl>(2:int32_pl)):int64_al"
    assert shape(assign.value) == "conv<int64_al>(3L:int64_pl)"


def test_for_bounds_are_int32_pl() -> None:
    program = typed("uint32_pl n = 3u; for i = [0u : n] { output(ALL, i) }")
    loop = next(n for n in nodes(program) if isinstance(n, ast.For))
    assert (shape(loop.lo), shape(loop.hi)) == ("conv<int32_pl>(0u:uint32_pl)", "conv<int32_pl>(n:uint32_pl)")
    assert [shape(n.value) for n in nodes(loop) if isinstance(n, ast.Output)] == ["i:int32_pl"]


def test_global_constants_are_public_and_converted() -> None:
    program = check_program(parse_text("int32 N = 5u;\nint64 M = 5;\ndef void main() { }")).program
    assert program is not None
    n, m = program.globals[0], program.globals[1]
    assert isinstance(n, ast.GlobalConst) and isinstance(m, ast.GlobalConst)
    assert (shape(n.value), shape(m.value)) == ("conv<int32_pl>(5u:uint32_pl)", "conv<int64_pl>(5:int32_pl)")


def test_rechecking_a_typed_program_reproduces_it() -> None:
    first = check_source(SourceFile.read(ACCEPTED / "label_inference_examples.ezpc")).program
    assert first is not None
    second = check_program(first).program
    assert second is not None
    shapes = [shape(n.init) for n in nodes(first) if isinstance(n, ast.Decl) and n.init is not None]
    assert shapes == [shape(n.init) for n in nodes(second) if isinstance(n, ast.Decl) and n.init is not None]


# ---------------------------------------------------------------- scale


def test_36000_statement_body_checks_without_recursion() -> None:
    lines = [f"  inp[{i}] = {1073741736 - i};" for i in range(36000)]
    text = "def void main() {\n  int32_al[36000] inp;\n" + "\n".join(lines) + "\n}\n"
    result = check_source(SourceFile("big.ezpc", text))
    assert result.ok and result.program is not None
    main = result.program.globals[0]
    assert isinstance(main, ast.FunDef) and len(main.body) == 36001
    last = main.body[-1]
    assert isinstance(last, ast.Assign)
    assert shape(last.value) == "conv<int32_al>(1073705737:int32_pl)"


def test_long_else_if_chains_check_without_recursion() -> None:
    chain = " else ".join(f"if (x == {i}) {{ y = {i} }}" for i in range(3000))
    program = typed(f"int32_pl x = 0; int32_pl y = 0;\n{chain} else {{ y = 0 - 1 }}")
    main = program.globals[-1]
    assert isinstance(main, ast.FunDef)
    branch: ast.Stmt | None = main.body[-1]
    conditions = []
    while isinstance(branch, ast.If):
        conditions.append(shape(branch.cond))
        branch = branch.other
    assert len(conditions) == 3000 and conditions[-1] == "(x:int32_pl ==_pl 2999:int32_pl):bool_pl"
    assert isinstance(branch, ast.Block)


def test_an_empty_program_has_no_main() -> None:
    empty = ast.Program(SourceFile("empty.ezpc", ""), ())
    assert [(d.code, d.message) for d in check_program(empty).diagnostics] == [("E0506", "the program is empty")]
    assert check_program(empty, library=True).ok


# ---------------------------------------------------------------- extern signatures


@pytest.mark.parametrize("extern", [
    "extern int32_al square(int32_al x);",
    "extern float_pl intToFloat(int32_pl m);",
    "extern void Relu(int32_pl n, int32_al[n] inp, int32_al[n] out, int32_pl sf, bool_pl doTruncation);",
    "extern void Peek(int32_al x, const int32_pl[4] table);",
])
def test_extern_signatures_that_cannot_reveal_are_accepted(extern: str) -> None:
    typed("  int32_pl unused = 0", prelude=extern + "\n")
