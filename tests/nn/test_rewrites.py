"""After inlining, the rewrite rules see the library's loops as they see hand-written ones: each
layer's accumulator is kept at the finer scale and truncated once per output, each ReLU fuses
with that truncation, and the last layer's truncation goes (its output is decoded at the finer
scale)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from ezlang.passes.fixed_pipeline import prepare
from ezlang.passes.rewrite_tree import strip
from nn_support import Tensor, checked, layer_program, run

from ezlang.lib import nn
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Role


def nodes(node: ast.Expr) -> Iterator[ast.Expr]:
    yield node
    for name in ("array", "index", "left", "right", "operand", "cond", "then", "other"):
        child = getattr(node, name, None)
        if child is not None:
            yield from nodes(child)


def stmts(body: tuple[ast.Stmt, ...]) -> Iterator[ast.Stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.For, ast.While, ast.Block)):
            yield from stmts(stmt.body)
        elif isinstance(stmt, ast.If):
            yield from stmts((stmt.then,) if stmt.other is None else (stmt.then, stmt.other))


def truncations(program: ast.Program) -> list[ast.Binary]:
    """Every truncation placed by the lowering (or moved by a rule) in main, the program's only function."""
    exprs = [getattr(s, name) for s in stmts(program.globals[-1].body)  # type: ignore[union-attr]
             for name in ("init", "value", "target") if getattr(s, name, None) is not None]
    return [n for e in exprs for n in nodes(e) if isinstance(n, ast.Binary) and n.op is BinaryOp.SHR and n.rescale]


def fused(program: ast.Program) -> list[ast.Binary]:
    return [t for t in truncations(program) if isinstance(strip(t.left), ast.Ternary)]


def test_an_mlp_of_library_layers_truncates_once_per_neuron_with_every_relu_fused() -> None:
    rng = np.random.default_rng(8)
    sizes = [12, 8, 6, 4]
    tensors = {"x": Tensor(rng.uniform(-1, 1, sizes[0]), Role.CLIENT)}
    for layer, (k, m) in enumerate(zip(sizes, sizes[1:]), start=1):
        tensors[f"w{layer}"] = Tensor(rng.uniform(-0.5, 0.5, k * m))
        tensors[f"b{layer}"] = Tensor(rng.uniform(-0.5, 0.5, m))
    text = layer_program(["Gemm", "GemmRelu"],
                         ["GemmRelu(1, 12, 8, x, w1, b1, h1)", "GemmRelu(1, 8, 6, h1, w2, b2, h2)",
                          "Gemm(1, 6, 4, h2, w3, b3, y)"],
                         tensors, {"y": "fixed_al[4]"}, hidden={"h1": "fixed_al[8]", "h2": "fixed_al[6]"})
    prepared = prepare(checked(text), bitlen=32)
    assert prepared.optimized is not None
    rules = [a.rule for a in prepared.optimized.applications if a.rule != "mul-pow2-to-shl"]
    assert rules == ["sum-of-products", "rescale-past-relu"] * 2 + ["sum-of-products", "drop-final-rescale"]
    assert len(truncations(prepared.program)) == len(fused(prepared.program)) == 2
    assert list(prepared.boundary.outputs.values()) == [24]


def test_a_batch_chosen_at_run_time_keeps_the_accumulator_form() -> None:
    text = nn.source_for(["GemmRelu"]) + """
def void main() {
  input(ALL, batch, int32_pl);
  input(CLIENT, x, fixed_al[batch*3], [-1.0, 1.0]);
  input(SERVER, w, fixed_al[3*2], [-1.0, 1.0]);
  input(SERVER, b, fixed_al[2], [-1.0, 1.0]);
  fixed_al[batch*2] y;
  GemmRelu(batch, 3, 2, x, w, b, y);
  output(CLIENT, y)
}
"""
    prepared = prepare(checked(text), bitlen=32)
    assert prepared.optimized is not None
    assert [a.rule for a in prepared.optimized.applications if a.rule != "mul-pow2-to-shl"] == [
        "sum-of-products", "rescale-past-relu", "drop-final-rescale"]
    x, w, b = [0.5, -0.25, 1.0, -1.0, 0.75, 0.5], [0.5, -1.0, 0.25, 0.75, -0.5, 0.125], [0.125, -0.25]
    y = run(prepared, {Role.ALL: {"batch": 2}, Role.CLIENT: {"x": x}, Role.SERVER: {"w": w, "b": b}})["y"]
    expected = np.maximum(np.array(x).reshape(2, 3) @ np.array(w).reshape(3, 2) + b, 0).reshape(-1)
    assert y == expected.tolist()  # every value here is exact at scale 12


def test_a_convolution_truncates_once_per_output_with_its_relu_fused() -> None:
    rng = np.random.default_rng(9)
    tensors = {"x": Tensor(rng.uniform(-1, 1, 72), Role.CLIENT), "w": Tensor(rng.uniform(-0.5, 0.5, 54)),
               "b": Tensor(rng.uniform(-0.5, 0.5, 3)), "v": Tensor(rng.uniform(-0.5, 0.5, 48 * 2)),
               "c": Tensor(rng.uniform(-0.5, 0.5, 2))}
    text = layer_program(["ConvRelu", "Gemm"],
                         ["ConvRelu(1, 2, 1, 6, 6, 3, 1, 3, 3, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, x, w, b, h)",
                          "Gemm(1, 48, 2, h, v, c, y)"],
                         tensors, {"y": "fixed_al[2]"}, hidden={"h": "fixed_al[48]"})
    prepared = prepare(checked(text, bitlen=64), bitlen=64)
    assert len(truncations(prepared.program)) == len(fused(prepared.program)) == 1
