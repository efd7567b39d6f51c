"""The fused ReLU and truncation in code generation: the expressions `fused_ops.relu_rescale`
recognises (and those it must not), the one runtime call the secure backend emits for them, alone
and batched in a loop, and the cleartext backend's results, which stay the interpreter's."""

from __future__ import annotations

import dataclasses
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang.codegen import compile_program, host_target
from ezlang.codegen.llvm import emit_module
from ezlang.codegen.secure import SecureSecretOps
from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.batch_rounds import batch_rounds
from ezlang.passes.fused_ops import relu_rescale
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Label, Role

from test_batch import batch_groups

TARGET = host_target()

DECLS = """
def int{w}_al helper(int{w}_al v) {
  return v
}
def void main() {
  input(SERVER, x, int{w}_al);
  input(SERVER, y, int{w}_al);
  input(SERVER, u, uint{w}_al);
  input(SERVER, a, int{w}_al[4]);
  input(ALL, p, int{w}_pl);
  int32_pl k = 3;
  int{w}_al r = {expr};
  output(CLIENT, r)
}
"""


def typed(text: str, bitlen: int = 32) -> ast.Program:
    result = check_source(SourceFile("relu.ezpc", text), bitlen=bitlen)
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


def nodes(value: object) -> Iterator[object]:
    if isinstance(value, tuple):
        for item in value:
            yield from nodes(item)
        return
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return
    yield value
    for field in dataclasses.fields(value):
        if field.name not in ("ty", "span", "name_span", "var_span", "known_to", "file"):
            yield from nodes(getattr(value, field.name))


def outer_shift(expr: str, bitlen: int = 32) -> ast.Binary:
    """The outermost right shift of `r`'s initialiser in DECLS."""
    program = typed(DECLS.replace("{w}", str(bitlen)).replace("{expr}", expr), bitlen)
    decl = next(n for n in nodes(program.globals) if isinstance(n, ast.Decl) and n.name == "r")
    return next(n for n in nodes(decl.init) if isinstance(n, ast.Binary) and n.op in (BinaryOp.SHR, BinaryOp.SHRL))


@pytest.mark.parametrize("expr,operand,shift", [
    ("(x > 0 ? x : 0) >> 12", "x", 12),
    ("(x >= 0 ? x : 0) >> 3", "x", 3),
    ("(0 < x ? x : 0) >> 0", "x", 0),
    ("(0 <= a[1] ? a[1] : 0) >> 5", "a[1]", 5),
    ("(x * y > 0 ? x * y : 0) >> 40", "x * y", 40),
    ("(x +_al p > 0 ? x +_al p : 0) >> 1", "x +_al p", 1),
])
def test_recognised_forms(expr, operand, shift):
    fused = relu_rescale(outer_shift(expr))
    assert fused is not None
    assert (fused.x.span.text, fused.shift) == (operand, shift)


def test_recognised_at_64_bits():
    fused = relu_rescale(outer_shift("(x > 0L ? x : 0L) >> 12", 64))
    assert fused is not None and fused.shift == 12


@pytest.mark.parametrize("expr", [
    "(x > 0 ? x : 1) >> 2",        # not a ReLU
    "(x > 1 ? x : 0) >> 2",        # compared with 1
    "(x < 0 ? x : 0) >> 2",        # the negative part
    "(x > 0 ? y : 0) >> 2",        # another value selected
    "(x > 0 ? x : 0) >>> 2",       # a logical shift
    "(x > 0 ? x : 0) >> k",        # an amount that is not a literal
    "(u > 0u ? u : 0u) >> 2",      # unsigned: `>` is not a sign test
    "(p > 0 ? p : 0) >> 2",        # public
    "((x + helper(x)) > 0 ? (x + helper(x)) : 0) >> 2",  # a call, which fusion would run once
])
def test_rejected_forms(expr):
    assert relu_rescale(outer_shift(expr)) is None


def test_a_label_conversion_between_shift_and_selection_is_seen_through():
    node = outer_shift("(x > 0 ? x : 0) >> 12")
    ternary = node.left
    assert ternary.ty is not None
    wrapped = dataclasses.replace(node, left=ast.Convert(ternary.span, ternary,
                                                         ty=dataclasses.replace(ternary.ty, label=Label.AL)))
    fused = relu_rescale(wrapped)
    assert fused is not None and fused.x.span.text == "x"
    other = relu_rescale(outer_shift("(y > 0 ? y : 0) >> 1"))
    assert other is not None
    moved = relu_rescale(fused.with_operand(wrapped, other.x))
    assert moved is not None and (moved.x, moved.shift) == (other.x, 12)


LOOP = """
def void main() {
  input(SERVER, a, int32_al[6]);
  input(CLIENT, b, int32_al[6]);
  int32_al[6] c;
  for i = [0:6] { c[i] = (a[i] * b[i] > 0 ? a[i] * b[i] : 0) >> 3 };
  output(CLIENT, c)
}
"""


def test_a_loop_batches_the_fused_operation_once_after_its_operand():
    """The product is hoisted once (not once per occurrence), the fused operation after it."""
    assert batch_groups(typed(LOOP)) == [["a[i] * b[i]"], ["(a[i] * b[i] > 0 ? a[i] * b[i] : 0) >> 3"]]


def secure_ir(program: ast.Program) -> str:
    return emit_module(batch_rounds(program), SecureSecretOps(32), triple=TARGET.triple,
                       data_layout=TARGET.data_layout).ir


def calls(ir_text: str, name: str) -> int:
    return ir_text.count(f'call i32 @"{name}"(')


def test_the_secure_backend_calls_the_fused_operation_instead_of_three():
    scalar = secure_ir(typed(DECLS.replace("{w}", "32").replace("{expr}", "(x > 0 ? x : 0) >> 12")))
    batched = secure_ir(typed(LOOP))
    for ir_text in (scalar, batched):
        assert calls(ir_text, "ezrt_relu_rescale") >= 1
        assert calls(ir_text, "ezrt_lt") == calls(ir_text, "ezrt_shr") == 0


EXTREMES = {32: [0, 1, -1, 2**31 - 1, -2**31, 4096, -4096, 4095], 64: [0, 1, -1, 2**63 - 1, -2**63, 4096, -4095]}
SHIFTS = [0, 1, 12, 31, 32, 63, 64, 70]


def cleartext_program(bitlen: int) -> str:
    zero = "0" if bitlen == 32 else "0L"
    lines = "\n".join(f"  for i = [0:N] {{ c[{k}][i] = (a[i] > {zero} ? a[i] : {zero}) >> {s} }};"
                      for k, s in enumerate(SHIFTS))
    return (f"int32 N = 12;\ndef void main() {{\n  input(SERVER, a, int{bitlen}_al[N]);\n"
            f"  int{bitlen}_al[{len(SHIFTS)}][N] c;\n{lines}\n  output(CLIENT, c)\n}}\n")


@pytest.mark.parametrize("bitlen", [32, 64])
@settings(max_examples=15, deadline=None, database=None, derandomize=True)
@given(data=st.data())
def test_the_cleartext_backend_keeps_the_interpreters_values(bitlen, data):
    low, high = -2**(bitlen - 1), 2**(bitlen - 1) - 1
    values = data.draw(st.lists(st.sampled_from(EXTREMES[bitlen]) | st.integers(low, high), min_size=12,
                                max_size=12))
    program = typed(cleartext_program(bitlen), bitlen)
    inputs = {Role.SERVER: InputSource.from_mapping({"a": values}), Role.CLIENT: InputSource.from_mapping({}),
              Role.ALL: InputSource.from_mapping({})}
    expected = interpret(program, inputs).outputs
    assert compile_program(program, target=TARGET).run(inputs).outputs == expected
    assert compile_program(batch_rounds(program), target=TARGET).run(inputs).outputs == expected
