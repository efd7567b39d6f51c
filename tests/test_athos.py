"""The Athos tensor library (ezlang.lib.athos) against loop implementations written the way
Athos's own EzPC library writes them, against hand-computed values, and end to end."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang.cli import main
from ezlang.inputs import InputSource
from ezlang.interp import InterpError, interpret
from ezlang.lib.athos import ATHOS_EXTERNS
from ezlang.passes.pipeline import check_source
from ezlang.semantics import binary_fn, wrap
from ezlang.source import SourceFile
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.syntax.parse import parse_text
from ezlang.types import Base, Role

RINGS = {32: Base.INT32, 64: Base.INT64}
FEW = settings(max_examples=25, deadline=None)


def library_text(bits: int) -> str:
    return resources.files("ezlang.lib").joinpath(f"athos{bits}.ezpc").read_text()


@cache
def declarations(bits: int) -> dict[str, ast.Extern]:
    program = parse_text(library_text(bits), name=f"athos{bits}.ezpc")
    return {g.name: g for g in program.globals if isinstance(g, ast.Extern)}


def call(name: str, bits: int, *args):
    extern = declarations(bits)[name]
    ATHOS_EXTERNS[name].bind(extern, extern.name_span)(*args)


def zeros(*shape):
    if len(shape) == 1:
        return [0] * shape[0]
    return [zeros(*shape[1:]) for _ in range(shape[0])]


def ring_values(bits: int):
    return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def tensor(draw, bits: int, *shape):
    if len(shape) == 1:
        return draw(st.lists(ring_values(bits), min_size=shape[0], max_size=shape[0]))
    return [tensor(draw, bits, *shape[1:]) for _ in range(shape[0])]


widths = st.sampled_from([32, 64])
small = st.integers(0, 3)
positive = st.integers(1, 3)


# ---------------------------------------------------------------- loop references


def matmul_ref(bits, A, B, i, j, k):
    return [[wrap(sum(A[a][b] * B[b][c] for b in range(j)), RINGS[bits]) for c in range(k)] for a in range(i)]


def pool_ref(bits, x, kH, kW, pads, strides, reducer):
    """Athos's while loops: window corners from -padLeft while the window fits, padding is 0."""
    N, H, W, C = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    rows = []
    for n in range(N):
        out_h = []
        top = -pads[0]
        while top + kH - 1 <= H - 1 + pads[1]:
            out_w = []
            left = -pads[2]
            while left + kW - 1 <= W - 1 + pads[3]:
                cell = []
                for c in range(C):
                    window = [x[n][h][w][c] if 0 <= h < H and 0 <= w < W else 0
                              for h in range(top, top + kH) for w in range(left, left + kW)]
                    cell.append(reducer(window))
                out_w.append(cell)
                left += strides[1]
            out_h.append(out_w)
            top += strides[0]
        rows.append(out_h)
    return rows


def conv_ref(bits, x, f, pads, strides, G=1):
    """Loop convolution as in Athos's Conv2DLoop, with groups as in Conv2DGroup."""
    N, H, W, CI = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    FH, FW, CO = len(f), len(f[0]), len(f[0][0][0])
    OH = (H - FH + pads[0] + pads[1]) // strides[0] + 1
    OW = (W - FW + pads[2] + pads[3]) // strides[1] + 1
    CIG, COG = CI // G, CO // G
    out = zeros(N, OH, OW, CO)
    for n, h, w, co in product(range(N), range(OH), range(OW), range(CO)):
        g = co // COG
        total = 0
        for fh, fw, cig in product(range(FH), range(FW), range(CIG)):
            ph, pw = h * strides[0] + fh - pads[0], w * strides[1] + fw - pads[2]
            if 0 <= ph < H and 0 <= pw < W:
                total += x[n][ph][pw][g * CIG + cig] * f[fh][fw][cig][co]
        out[n][h][w][co] = wrap(total, RINGS[bits])
    return out


def conv3d_ref(bits, x, f, pads, strides):
    N, D, H, W, CI = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0]), len(x[0][0][0][0])
    FD, FH, FW, CO = len(f), len(f[0]), len(f[0][0]), len(f[0][0][0][0])
    O = [(S - F + pads[2 * a] + pads[2 * a + 1]) // strides[a] + 1 for a, (S, F) in enumerate(((D, FD), (H, FH), (W, FW)))]
    out = zeros(N, *O, CO)
    for n, d, h, w, co in product(range(N), range(O[0]), range(O[1]), range(O[2]), range(CO)):
        total = 0
        for fd, fh, fw, ci in product(range(FD), range(FH), range(FW), range(CI)):
            p = (d * strides[0] + fd - pads[0], h * strides[1] + fh - pads[2], w * strides[2] + fw - pads[4])
            if 0 <= p[0] < D and 0 <= p[1] < H and 0 <= p[2] < W:
                total += x[n][p[0]][p[1]][p[2]][ci] * f[fd][fh][fw][ci][co]
        out[n][d][h][w][co] = wrap(total, RINGS[bits])
    return out


def conv_transpose_ref(bits, x, f, H, W, pads, strides):
    """Athos's ConvTranspose2D: stride-1 windows over the input spread `stride` apart and
    padded; a position holds an input value only where it is a multiple of the stride."""
    N, HP, WP, CI = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    FH, FW, CO = len(f), len(f[0]), len(f[0][0])
    HT, WT = HP + (HP - 1) * (strides[0] - 1), WP + (WP - 1) * (strides[1] - 1)
    out = zeros(N, H, W, CO)
    for n, h, w, co in product(range(N), range(H), range(W), range(CO)):
        total = 0
        for fh, fw, ci in product(range(FH), range(FW), range(CI)):
            ph, pw = h - pads[0] + fh, w - pads[2] + fw
            if 0 <= ph < HT and 0 <= pw < WT and ph % strides[0] == 0 and pw % strides[1] == 0:
                total += x[n][ph // strides[0]][pw // strides[1]][ci] * f[FH - 1 - fh][FW - 1 - fw][co][ci]
        out[n][h][w][co] = wrap(total, RINGS[bits])
    return out


# ---------------------------------------------------------------- properties


@FEW
@given(st.data(), widths, small, small, small)
def test_matmul_matches_loops(data, bits, i, j, k):
    A, B = tensor(data.draw, bits, i, j), tensor(data.draw, bits, j, k)
    C = zeros(i, k)
    call("MatMul2D", bits, i, j, k, A, B, C, True)
    assert C == matmul_ref(bits, A, B, i, j, k)


@FEW
@given(st.data(), widths, st.integers(1, 5), st.integers(0, 70), st.booleans())
def test_elementwise_functions_match_the_operators(data, bits, n, sf, truncate):
    base = RINGS[bits]
    ops = {op: binary_fn(op, base) for op in (BinaryOp.MUL, BinaryOp.SHL, BinaryOp.SHR, BinaryOp.BAND)}
    a, b = tensor(data.draw, bits, n), tensor(data.draw, bits, n)
    out = zeros(n)
    call("Relu", bits, n, a, out, sf, truncate)
    assert out == [ops[BinaryOp.SHR](max(x, 0), sf) if truncate else max(x, 0) for x in a]
    call("Floor", bits, n, a, out, sf)
    mask = ~(ops[BinaryOp.SHL](1, sf) - 1)
    assert out == [x & wrap(mask, base) for x in a]
    call("ElemWiseSecretSharedVectorMult", bits, n, a, b, out)
    assert out == [ops[BinaryOp.MUL](x, y) for x, y in zip(a, b)]
    call("ElemWiseActModelVectorMult", bits, n, b, a, out)
    assert out == [ops[BinaryOp.MUL](x, y) for x, y in zip(a, b)]
    up, down = list(a), list(a)
    call("ScaleUp", bits, n, up, sf)
    call("ScaleDown", bits, n, down, sf)
    assert (up, down) == ([ops[BinaryOp.SHL](x, sf) for x in a], [ops[BinaryOp.SHR](x, sf) for x in a])


@FEW
@given(st.data(), widths, st.integers(1, 3), st.integers(1, 4))
def test_argmax_is_the_first_signed_maximum(data, bits, rows, cols):
    x = [data.draw(st.lists(st.sampled_from([-(1 << (bits - 1)), -1, 0, 1, (1 << (bits - 1)) - 1]),
                            min_size=cols, max_size=cols)) for _ in range(rows)]
    out = zeros(rows)
    call("ArgMax", bits, rows, cols, x, out)
    assert out == [row.index(max(row)) for row in x]


@FEW
@given(st.data(), widths, positive, positive, positive, positive, positive, st.lists(small, min_size=4, max_size=4),
       st.tuples(positive, positive))
def test_pools_match_athos_loops(data, bits, N, H, W, C, k, pads, strides):
    kH, kW = k, data.draw(positive)
    if H + pads[0] + pads[1] < kH or W + pads[2] + pads[3] < kW:
        return
    x = tensor(data.draw, bits, N, H, W, C)
    OH, OW = (H + pads[0] + pads[1] - kH) // strides[0] + 1, (W + pads[2] + pads[3] - kW) // strides[1] + 1
    args = (N, OH, OW, C, kH, kW, *pads, *strides, N, H, W, C, x)
    out = zeros(N, OH, OW, C)
    call("MaxPool", bits, *args, out)
    assert out == pool_ref(bits, x, kH, kW, pads, strides, max)
    call("AvgPool", bits, *args, out)
    assert out == pool_ref(bits, x, kH, kW, pads, strides, lambda w: wrap(sum(w), RINGS[bits]) // (kH * kW))


@FEW
@given(st.data(), widths, positive, positive, positive, st.sampled_from([(1, 1), (2, 1), (2, 2), (3, 1)]),
       positive, positive, st.lists(small, min_size=4, max_size=4), st.tuples(positive, positive))
def test_convolutions_match_athos_loops(data, bits, N, H, W, groups, FH, FW, pads, strides):
    G, per_group = groups
    CI, CO = G * per_group, G * data.draw(positive)
    if H + pads[0] + pads[1] < FH or W + pads[2] + pads[3] < FW:
        return
    x, f = tensor(data.draw, bits, N, H, W, CI), tensor(data.draw, bits, FH, FW, CI // G, CO)
    expected = conv_ref(bits, x, f, pads, strides, G)
    out = zeros(N, len(expected[0]), len(expected[0][0]), CO)
    args = (N, H, W, CI, FH, FW, CO, *pads, *strides)
    if G == 1:
        call("Conv2DWrapper", bits, *args, x, f, out)
        assert out == expected
    call("Conv2DGroupWrapper", bits, *args, G, x, f, out)
    assert out == expected


@FEW
@given(st.data(), widths, st.lists(positive, min_size=3, max_size=3), st.lists(positive, min_size=3, max_size=3),
       st.lists(st.integers(0, 1), min_size=6, max_size=6), st.lists(st.integers(1, 2), min_size=3, max_size=3))
def test_conv3d_matches_loops(data, bits, spatial, kernel, pads, strides):
    if any(s + pads[2 * a] + pads[2 * a + 1] < k for a, (s, k) in enumerate(zip(spatial, kernel))):
        return
    x, f = tensor(data.draw, bits, 1, *spatial, 2), tensor(data.draw, bits, *kernel, 2, 2)
    expected = conv3d_ref(bits, x, f, pads, strides)
    out = zeros(1, *[len(expected[0]), len(expected[0][0]), len(expected[0][0][0])], 2)
    call("Conv3DWrapper", bits, 1, *spatial, 2, *kernel, 2, *pads, *strides, x, f, out)
    assert out == expected


@FEW
@given(st.data(), widths, positive, positive, positive, positive, st.lists(small, min_size=4, max_size=4),
       st.tuples(positive, positive))
def test_transposed_convolution_matches_athos_loops(data, bits, HP, WP, FH, FW, pads, strides):
    H = HP + (HP - 1) * (strides[0] - 1) + pads[0] + pads[1] - FH + 1
    W = WP + (WP - 1) * (strides[1] - 1) + pads[2] + pads[3] - FW + 1
    if H < 1 or W < 1:
        return
    x, f = tensor(data.draw, bits, 1, HP, WP, 2), tensor(data.draw, bits, FH, FW, 3, 2)
    out = zeros(1, H, W, 3)
    call("ConvTranspose2DWrapper", bits, 1, HP, WP, 2, FH, FW, 3, H, W, *pads, *strides, x, f, out)
    assert out == conv_transpose_ref(bits, x, f, H, W, pads, strides)


# ---------------------------------------------------------------- hand-computed values


def test_hand_computed_values_at_32_bits():
    C = zeros(1, 1)
    call("MatMul2D", 32, 1, 2, 1, [[1 << 16, 3]], [[1 << 16], [-2]], C, False)
    assert C == [[-6]]  # 2^32 wraps to 0
    out = zeros(3)
    call("Relu", 32, 3, [-5, 12, -(1 << 31)], out, 2, True)
    assert out == [0, 3, 0]
    call("Floor", 32, 3, [7, -7, -(1 << 31)], out, 2)
    assert out == [4, -8, -(1 << 31)]
    call("ElemWiseVectorPublicDiv", 32, 3, [7, -7, -(1 << 31)], 2, out)
    assert out == [3, -3, -(1 << 30)]
    call("ElemWiseVectorPublicDiv", 32, 3, [7, -7, -(1 << 31)], -1, out)
    assert out == [-7, 7, -(1 << 31)]
    call("ElemWiseVectorPublicDiv", 32, 3, [7, -7, 0], 0, out)
    assert out == [-1, -1, -1]
    arr = [3, -3, (1 << 30)]
    call("ScaleUp", 32, 3, arr, 1)
    assert arr == [6, -6, -(1 << 31)]
    call("ScaleDown", 32, 3, arr, 2)
    assert arr == [1, -2, -(1 << 29)]


def test_hand_computed_pools_and_convolutions():
    image = [[[[1], [2], [3]], [[4], [5], [6]], [[7], [8], [-9]]]]  # 1x3x3x1
    out = zeros(1, 2, 2, 1)
    call("MaxPool", 32, 1, 2, 2, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 3, 3, 1, image, out)
    assert out == [[[[5], [6]], [[8], [8]]]]
    call("AvgPool", 32, 1, 2, 2, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 3, 3, 1, image, out)
    assert out == [[[[3], [4]], [[6], [2]]]]  # 12/4, 16/4, 24/4, floor(10/4)
    negative = [[[[-9]]]]
    one = zeros(1, 1, 1, 1)
    call("AvgPool", 32, 1, 1, 1, 1, 1, 2, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, negative, one)
    assert one == [[[[-5]]]]  # the padded zero counts: floor(-9 / 2)
    call("MaxPool", 32, 1, 1, 1, 1, 1, 2, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, negative, one)
    assert one == [[[[0]]]]
    conv = zeros(1, 2, 2, 1)
    call("Conv2DWrapper", 32, 1, 3, 3, 1, 2, 2, 1, 0, 0, 0, 0, 1, 1, image, [[[[1]], [[0]]], [[[0]], [[1]]]], conv)
    assert conv == [[[[6], [8]], [[12], [-4]]]]
    spread = zeros(1, 3, 3, 1)
    call("ConvTranspose2DWrapper", 32, 1, 2, 2, 1, 1, 1, 1, 3, 3, 0, 0, 0, 0, 2, 2,
         [[[[1], [2]], [[3], [4]]]], [[[[10]]]], spread)
    assert spread == [[[[10], [0], [20]], [[0], [0], [0]], [[30], [0], [40]]]]


def test_signed_edges_at_64_bits():
    low, high = -(1 << 63), (1 << 63) - 1
    index = [0]
    call("ArgMax", 64, 1, 3, [[low, high, high]], index)
    assert index == [1]
    out = zeros(2)
    call("ElemWiseSecretSharedVectorMult", 64, 2, [high, low], [high, -1], out)
    assert out == [1, low]
    call("Relu", 64, 2, [low, high], out, 63, True)
    assert out == [0, 0]
    arr = [high, low]
    call("ScaleDown", 64, 2, arr, 100)
    assert arr == [0, -1]
    call("ScaleUp", 64, 2, arr, 64)
    assert arr == [0, 0]
    C = zeros(1, 1)
    call("MatMul2D", 64, 1, 2, 1, [[high, high]], [[high], [high]], C, True)
    assert C == [[2]]


def test_outputs_may_alias_inputs_and_sub_arrays_stay_shared():
    data = [[-1, 2], [3, -4]]
    row = data[1]
    call("Relu", 32, 2, row, row, 0, False)
    assert row is data[1] and data == [[-1, 2], [3, 0]]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("name, args, message", [
    ("MatMul2D", (2, 2, 2, [[1, 2]], [[1, 2], [3, 4]], [[0, 0], [0, 0]], True),
     "MatMul2D: `A` is a [1][2] array, but the other arguments make it [2][2]"),
    ("Relu", (-1, [], [], 0, False), "Relu: size `s1` is -1, which is negative"),
    ("ScaleUp", (1, [1], -2), "ScaleUp: negative shift amount -2 (`sf`)"),
    ("ArgMax", (1, 0, [[]], [0]), "ArgMax: the rows are empty (`s2` is 0), so they have no maximum"),
    ("MaxPool", (1, 2, 2, 1, 2, 2, 0, 0, 0, 0, 0, 1, 1, 3, 3, 1, zeros(1, 3, 3, 1), zeros(1, 2, 2, 1)),
     "MaxPool: `strideH` is 0, but it must be at least 1"),
    ("MaxPool", (1, 1, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 3, 3, 1, zeros(1, 3, 3, 1), zeros(1, 1, 1, 1)),
     "MaxPool: the padding, kernel and strides give 2, 2 output positions, but `H, W` are 1, 1"),
    ("Conv2DGroupWrapper", (1, 1, 1, 3, 1, 1, 2, 0, 0, 0, 0, 1, 1, 2, zeros(1, 1, 1, 3), zeros(1, 1, 1, 2),
                            zeros(1, 1, 1, 2)),
     "Conv2DGroupWrapper: 2 groups do not divide CI = 3 and CO = 2 input and output channels"),
])
def test_inconsistent_arguments_are_reported(name, args, message):
    with pytest.raises(InterpError) as caught:
        call(name, 32, *args)
    assert caught.value.diagnostic.message == message
    assert caught.value.diagnostic.code in {"E0630", "E0602"}


def test_a_declaration_with_another_signature_fails_when_called():
    text = """extern void ArgMax(int32_pl I, int32_pl J, int32_pl bwA, int32_pl bwB, int32_al[I*J] A, int32_al[1] index);
def void main() {
  int32_al[4] a; int32_al[1] i;
  ArgMax(2, 2, 32, 32, a, i);
  output(ALL, i)
}"""
    with pytest.raises(InterpError) as caught:
        interpret(checked(text), {})
    diagnostic = caught.value.diagnostic
    assert (diagnostic.code, str(diagnostic.span)) == ("E0631", "t.ezpc:4:3")
    assert "(P s1, P s2, S2 inp, S1 out)" in diagnostic.help


# ---------------------------------------------------------------- end to end

PROGRAM = """
def void main() {
  input(SERVER, w, int32_al[2][3]);
  input(CLIENT, x, int32_al[3][2]);
  int32_al[2][2] y;
  MatMul2D(2, 3, 2, w, x, y, true);
  int32_al[4] flat;
  for i = [0:2] { for j = [0:2] { flat[2*i+j] = y[i][j]; }; };
  int32_al[4] r;
  Relu(4, flat, r, 1, true);
  int32_al[2][2] rr;
  for i = [0:2] { for j = [0:2] { rr[i][j] = r[2*i+j]; }; };
  int32_al[2] best;
  ArgMax(2, 2, rr, best);
  output(CLIENT, r);
  output(ALL, best)
}
"""
W_IN, X_IN = [[1, 2, 3], [-4, 5, 6]], [[1, -1], [2, 0], [3, 5]]  # w·x = [[14, 14], [24, 34]]


def checked(text: str, bits: int = 32):
    result = check_source(SourceFile("t.ezpc", text), bitlen=bits)
    assert result.ok, [str(d.message) for d in result.diagnostics]
    return result.program


@pytest.mark.parametrize("bits", [32, 64])
def test_program_with_the_library_declarations_runs(bits):
    text = library_text(bits) + PROGRAM.replace("int32_al", f"int{bits}_al")
    run = interpret(checked(text, bits), {Role.SERVER: InputSource.from_mapping({"w": W_IN}),
                                          Role.CLIENT: InputSource.from_mapping({"x": X_IN})})
    assert [o.value for o in run.outputs[Role.CLIENT]] == [[7, 7, 12, 17], [0, 1]]
    assert [o.value for o in run.outputs[Role.SERVER]] == [[0, 1]]


def test_cli_interpret_uses_the_library(tmp_path, capsys):
    program = tmp_path / "net.ezpc"
    program.write_text(library_text(32) + PROGRAM)
    (tmp_path / "s.json").write_text(json.dumps({"w": W_IN}))
    (tmp_path / "c.json").write_text(json.dumps({"x": X_IN}))
    code = main(["interpret", str(program), "--server-inputs", str(tmp_path / "s.json"),
                 "--client-inputs", str(tmp_path / "c.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert out == "SERVER:\n  best = [0, 1]\nCLIENT:\n  r = [7, 7, 12, 17]\n  best = [0, 1]\n"


def test_wrong_shape_in_a_program_names_the_call():
    text = library_text(32) + """
def void main() {
  int32_al[2][3] a; int32_al[3][2] b; int32_al[2][2] c;
  MatMul2D(2, 2, 2, a, b, c, false);
  output(ALL, c)
}"""
    with pytest.raises(InterpError) as caught:
        interpret(checked(text), {})
    diagnostic = caught.value.diagnostic
    assert diagnostic.code == "E0630"
    assert diagnostic.span.line == library_text(32).count("\n") + 4
    assert diagnostic.message == "MatMul2D: `A` is a [2][3] array, but the other arguments make it [2][2]"


@pytest.mark.parametrize("bits", [32, 64])
def test_library_files_check_clean(bits):
    result = check_source(SourceFile(f"athos{bits}.ezpc", library_text(bits)), bitlen=bits, library=True)
    assert result.ok
    assert set(ATHOS_EXTERNS) <= set(declarations(bits))


def test_3d_variants_with_cons_sf_and_a_flat_depth_agree_with_2d():
    x = [[[[1, -2], [3, 4]], [[5, 6], [-7, 8]]]]  # [1][2][2][2]
    f = [[[[1, 4], [2, 5], [3, 6]]]]  # [FH=1][FW=1][CO=3][CI=2]
    flat = zeros(1, 2, 2, 3)
    call("ConvTranspose2DWrapper", 32, 1, 2, 2, 2, 1, 1, 3, 2, 2, 0, 0, 0, 0, 1, 1, x, f, flat)
    assert flat[0][0][0] == [-7, -8, -9]
    text = library_text(32).replace("filterArr,\n", "filterArr, int32_pl consSF,\n")
    externs = {g.name: g for g in parse_text(text).globals if isinstance(g, ast.Extern)}

    def bound(name):
        return ATHOS_EXTERNS[name].bind(externs[name], externs[name].name_span)

    deep = zeros(1, 1, 2, 2, 3)
    bound("ConvTranspose3DWrapper")(1, 1, 2, 2, 2, 1, 1, 1, 3, 1, 2, 2, *[0] * 6, 1, 1, 1, [x], [f], 12, deep)
    assert deep == [flat]
    identity = [[[[[1, 0, 0], [0, 1, 0]]] * 2] * 2]  # [FD=1][FH=2][FW=2][CI=2][CO=3]
    summed = zeros(1, 1, 1, 1, 3)
    bound("Conv3DWrapper")(1, 1, 2, 2, 2, 1, 2, 2, 3, *[0] * 6, 1, 1, 1, [x], identity, 12, summed)
    assert summed == [[[[[1 + 3 + 5 - 7, -2 + 4 + 6 + 8, 0]]]]]
