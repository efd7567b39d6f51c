"""Secure runs of `(x > 0 ? x : 0) >> s`, which the secure backend lowers to the fused
ezrt_relu_rescale: the interpreter's values bit for bit at 32 and 64 bits, and 2 online rounds
per layer where the unfused comparison, selection and shift take 3 (read from the channels'
counters, as `--stats` prints them)."""

from __future__ import annotations

import random

import pytest

from test_batch_rounds import secure_run, sources, typed

SHIFTS = [0, 1, 12, 13, 31, 32, 63, 64, 70]


def extremes(bitlen: int) -> list[int]:
    low, high = -2 ** (bitlen - 1), 2 ** (bitlen - 1) - 1
    return [0, 1, -1, 2, -2, high, low, high - 1, low + 1, 4095, 4096, -4096, -4097]


@pytest.mark.parametrize("bitlen", [32, 64])
def test_the_fused_values_are_the_interpreters(bitlen: int) -> None:
    rng = random.Random(bitlen)
    low, high = -2 ** (bitlen - 1), 2 ** (bitlen - 1) - 1
    values = extremes(bitlen) + [rng.randint(low, high) for _ in range(19)] + [rng.randint(-9999, 9999)
                                                                              for _ in range(8)]
    n, t, zero = len(values), f"int{bitlen}_al", "0" if bitlen == 32 else "0L"
    loops = "".join(f"  for i = [0:{n}] {{ c[{k}][i] = (a[i] > {zero} ? a[i] : {zero}) >> {s} }};\n"
                    for k, s in enumerate(SHIFTS))
    scalar = f"  {t} d = (b > {zero} ? b : {zero}) >> 7;\n  output(SERVER, d);\n"
    text = (f"def void main() {{\n  input(SERVER, a, {t}[{n}]);\n  input(CLIENT, b, {t});\n"
            f"  {t}[{len(SHIFTS)}][{n}] c;\n{loops}{scalar}  output(CLIENT, c)\n}}\n")
    secure_run(typed(text, bitlen), sources({"a": values}, {"b": values[5]}), bitlen)  # checks the values


def layers(count: int, layer: str) -> str:
    """`count` layers over 8 values, each reading the previous one's result."""
    body = "".join(layer.format(src="a" if k == 0 else f"h{k - 1}", dst=f"h{k}", tmp=f"t{k}")
                   for k in range(count))
    decls = "".join(f"  int32_al[8] h{k};\n  int32_al[8] t{k};\n" for k in range(count))
    return (f"def void main() {{\n  input(SERVER, a, int32_al[8]);\n{decls}{body}"
            f"  output(CLIENT, h{count - 1})\n}}\n")


FUSED = "  for i = [0:8] {{ {dst}[i] = ({src}[i] > 0 ? {src}[i] : 0) >> 4 }};\n"
# The same value written so that nothing fuses: the selection and the shift in two loops.
UNFUSED = ("  for i = [0:8] {{ {tmp}[i] = {src}[i] > 0 ? {src}[i] : 0 }};\n"
           "  for i = [0:8] {{ {dst}[i] = {tmp}[i] >> 4 }};\n")


def rounds_per_layer(layer: str) -> float:
    values = [-(2 ** 31), -5 << 24, -1, 0, 1, 4095, 7 << 24, 2 ** 31 - 1]
    one, _ = secure_run(typed(layers(1, layer)), sources({"a": values}, {}))
    three, outputs = secure_run(typed(layers(3, layer)), sources({"a": values}, {}))
    assert outputs[0].value == [max(v, 0) >> 12 for v in values]
    return (three - one) / 2


def test_a_fused_layer_takes_two_rounds_and_an_unfused_one_three() -> None:
    assert rounds_per_layer(FUSED) == 2
    assert rounds_per_layer(UNFUSED) == 3


MLP = """
int32 IN = 6;
int32 H = 4;
int32 OUT = 3;
def void main() {
  input(SERVER, w1, int32_al[IN][H]);
  input(SERVER, w2, int32_al[H][H]);
  input(SERVER, w3, int32_al[H][OUT]);
  input(CLIENT, x, int32_al[IN]);
  int32_al[H] h1;
  for j = [0:H] {
    int32_al acc = 0;
    for i = [0:IN] { acc = acc + x[i] * w1[i][j] };
    h1[j] = (acc > 0 ? acc : ZERO) >> 12
  };
  int32_al[H] h2;
  for j = [0:H] {
    int32_al acc = 0;
    for i = [0:H] { acc = acc + h1[i] * w2[i][j] };
    h2[j] = (acc > 0 ? acc : ZERO) >> 12
  };
  int32_al[OUT] out;
  for k = [0:OUT] {
    int32_al acc = 0;
    for j = [0:H] { acc = acc + h2[j] * w3[j][k] };
    out[k] = acc
  };
  output(CLIENT, out)
}
"""


def test_an_mlp_with_accumulators_takes_two_rounds_per_relu_layer() -> None:
    """Per hidden layer: one round for all its products (the nest's products are one batch,
    ezlang.passes.batch_nests), then all its ReLUs in one fused call: 2 rounds, 3 when the ReLU is
    written so that it does not fuse (`0 * acc` is 0 but not a literal). With the inputs' round:
    1 + (1 + 2) + (1 + 2) + 1."""
    rng = random.Random(1)
    inputs = sources({"w1": [[rng.randint(-4096, 4096) for _ in range(4)] for _ in range(6)],
                      "w2": [[rng.randint(-4096, 4096) for _ in range(4)] for _ in range(4)],
                      "w3": [[rng.randint(-4096, 4096) for _ in range(3)] for _ in range(4)]},
                     {"x": [rng.randint(-4096, 4096) for _ in range(6)]})
    fused, outputs = secure_run(typed(MLP.replace("ZERO", "0")), inputs)
    unfused, _ = secure_run(typed(MLP.replace("ZERO", "0 * acc")), inputs)
    assert (fused, unfused) == (8, 10)
    assert any(v != 0 for v in outputs[0].value)
