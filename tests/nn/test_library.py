"""The layer library as a file (ezlang/lib/nn.ezpc) and as data (ezlang/lib/nn.py): it checks at
both ring widths, its header lists its functions, and the importer gets each function's text with
the helpers it needs, in an order that checks."""

from __future__ import annotations

import pytest

from ezlang.lib import nn
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile

LAYERS = ["Gemm", "GemmRelu", "MatMul", "Conv", "ConvRelu", "ConvTranspose", "Relu", "LeakyRelu", "Sigmoid",
          "Tanh", "MaxPool", "AvgPool", "GlobalAvgPool", "Add", "Sub", "Mul", "Div", "AddBroadcast",
          "SubBroadcast", "MulBroadcast", "AddChannel", "MulChannel", "AddConst", "MulConst", "Transpose",
          "Concat", "ArgMax", "Softmax"]
HELPERS = ["PadInput", "ConvWindows", "ConvTransposeWindows", "WindowDot", "WindowDotRelu", "PiecewiseLinear",
           "UnitInterval", "SigmoidOnRange", "MaxRows", "ExpOnRange"]


@pytest.mark.parametrize("bitlen,scale", [(32, 12), (64, 16)])
def test_the_library_checks_at_both_ring_widths(bitlen: int, scale: int) -> None:
    result = check_source(SourceFile("nn.ezpc", nn.library_text()), bitlen=bitlen, scale=scale, library=True)
    assert result.ok and not result.diagnostics.items, [str(d) for d in result.diagnostics.items]


def test_the_header_names_every_layer_and_helper() -> None:
    header = nn.library_text().split("*)")[0]
    assert sorted(nn.functions()) == sorted(LAYERS + HELPERS)
    for name in LAYERS:
        assert f"{name}(" in header or f"; {name}" in header or f" {name};" in header, name
    assert all(name in header for name in HELPERS)


def test_functions_carry_their_signature_comment_and_callees() -> None:
    gemm = nn.functions()["Gemm"]
    assert gemm.signature == ("Gemm(int32_pl N, int32_pl K, int32_pl M, fixed_al[N*K] X, fixed_al[K*M] W, "
                              "fixed_al[M] B, fixed_al[N*M] Y)")
    assert gemm.text.startswith("(* Y[n][m] = B[m] + sum over k of X[n][k] * W[k][m]. *)\ninline def void Gemm(")
    assert gemm.text.endswith("}") and gemm.calls == ()
    assert nn.functions()["Relu"].text.startswith("inline def void Relu(")
    assert nn.functions()["ConvRelu"].calls == ("PadInput", "ConvWindows", "WindowDotRelu")


def test_the_source_for_some_layers_holds_their_helpers_first_and_checks() -> None:
    assert nn.needed(["Softmax", "Tanh"]) == ("PiecewiseLinear", "UnitInterval", "SigmoidOnRange", "Tanh", "MaxRows",
                                              "ExpOnRange", "Softmax")
    text = nn.source_for(["ConvRelu", "Gemm"])
    assert [line.split("(")[0] for line in text.splitlines() if line.startswith("inline def")] == [
        "inline def void Gemm", "inline def void PadInput", "inline def void WindowDotRelu",
        "inline def void ConvWindows", "inline def void ConvRelu"]
    result = check_source(SourceFile("model.ezpc", text), bitlen=32, library=True)
    assert result.ok, [str(d) for d in result.diagnostics.items]
    with pytest.raises(KeyError):
        nn.needed(["Gemm", "Conv4D"])


def test_the_source_can_be_fixed_at_one_scale() -> None:
    text = nn.source_for(["ArgMax", "Relu"], scale=14)
    assert "fixed_" not in text and "fixed<14>_al[n] X" in text and "fixed<0>_al[N] Y" in text
    result = check_source(SourceFile("model.ezpc", text), bitlen=32, scale=9, library=True)
    assert result.ok, [str(d) for d in result.diagnostics.items]
