"""Choosing --bitlen and --scale: the smallest ring and the most fractional bits that cannot overflow."""

from __future__ import annotations

from ezlang.inputs import load_inputs
from ezlang.passes.ranges import Interval
from ezlang.passes.ranges_format import choose_format
from ezlang.source import SourceFile
from ezlang.types import Role

from range_helpers import REPOSITORY, source

NET = "examples/two_layer_net.ezpc"
MLP = "tests/ranges/programs/fmri_mlp.ezpc"
UNBOUNDED_NET = SourceFile("net.ezpc", source(NET).text.replace(", [-1.0, 1.0]", ""))


def test_the_two_layer_net_fits_32_bits_at_scale_13() -> None:
    # The format is judged on the optimised program, which keeps the first layer's accumulator
    # at scale 2s: acc ≤ 17 at scale 2s, 17·2^26 < 2^31 for s = 13; at s = 14 the second layer's
    # products (hidden ≤ 17 times w2 ≤ 1, at scale 28) overflow.
    choice = choose_format(source(NET))
    assert (choice.bitlen, choice.scale, choice.fits, choice.headroom_bits) == (32, 13, True, 0)
    assert choice.limiting is not None and str(choice.limiting) == "examples/two_layer_net.ezpc:29:13"
    assert choice.limiting_interval == Interval(-17 << 26, 17 << 26)
    assert choice.reason == (
        "--bitlen 32 --scale 13 fits: the widest value, `acc` at "
        "examples/two_layer_net.ezpc:29:13, lies in [-1140850688, 1140850688] (32 of 32 bits, 0 to spare). "
        "At --bitlen 32 --scale 14, `hidden[j] * w2[j][k]` at examples/two_layer_net.ezpc:38:23 can reach "
        "[-4563402752, 4563402752], which overflows the 32-bit ring.")


def test_headroom_costs_scale() -> None:
    # with 3 bits to spare, scale 11 no longer does: there the optimiser also keeps the second
    # layer's accumulator at scale 2s, which leaves only 2 bits
    choice = choose_format(source(NET), headroom=3)
    assert (choice.bitlen, choice.scale, choice.headroom_bits) == (32, 10, 3)


def test_given_ranges_override_the_declared_ones() -> None:
    # x in [-1/16, 1/16]: acc ≤ 1 + 16/16 = 2, and 2·2^(2s) < 2^31 up to s = 14.
    choice = choose_format(source(NET), input_ranges={"x": (-0.0625, 0.0625)}, max_scale=14)
    assert (choice.bitlen, choice.scale) == (32, 14)


def test_calibration_bounds_inputs_without_a_declared_range() -> None:
    samples = [{role: load_inputs(REPOSITORY / f"examples/inputs/two_layer_net.{role.value.lower()}.json")
                for role in (Role.SERVER, Role.CLIENT)}]
    choice = choose_format(UNBOUNDED_NET, calibration=samples)
    assert (choice.bitlen, choice.scale, choice.fits) == (32, 13, True)


def test_without_ranges_nothing_fits_and_the_reason_says_where() -> None:
    choice = choose_format(UNBOUNDED_NET)
    assert (choice.bitlen, choice.scale, choice.fits) == (64, 8, False)
    assert choice.limiting is not None and str(choice.limiting) == "net.ezpc:29:19"
    assert choice.reason.startswith("no format fits: at --bitlen 64 --scale 8, `x[i] * w1[i][j]` at net.ezpc:29:19 "
                                    "can reach [")
    assert choice.reason.endswith("which overflows the 64-bit ring; declare tighter input ranges or allow a "
                                  "smaller scale")


def test_the_fmri_mlp_needs_64_bits() -> None:
    choice = choose_format(source(MLP))
    assert (choice.bitlen, choice.scale, choice.fits) == (64, 20, True)
    assert "At --bitlen 32 --scale 8, `h2[i] * w3[i][j]` at " in choice.reason
