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


def test_the_two_layer_net_fits_32_bits_at_scale_11() -> None:
    # Judged on the optimised program, which keeps both layers' accumulators at scale 2s (8
    # truncations run instead of 160): score ≤ 1 + 8·17 = 137 at scale 22 needs 31 bits. At
    # scale 12 that accumulator would overflow, so the rules leave its 32 truncations in place:
    # a larger scale is not worth more rounds.
    choice = choose_format(source(NET))
    assert (choice.bitlen, choice.scale, choice.fits, choice.headroom_bits) == (32, 11, True, 1)
    assert choice.limiting is not None and str(choice.limiting) == "examples/two_layer_net.ezpc:39:15"
    assert choice.limiting_interval == Interval(-137 << 22, 137 << 22)
    assert choice.reason == (
        "--bitlen 32 --scale 11 fits: the widest value, `score` at examples/two_layer_net.ezpc:39:15, lies in "
        "[-574619648, 574619648] (31 of 32 bits, 1 to spare). At --bitlen 32 --scale 12, nothing overflows, "
        "but 40 truncations run instead of 8: an accumulator kept at the finer scale would overflow there, "
        "so its truncations stay.")


def test_headroom_costs_scale() -> None:
    choice = choose_format(source(NET), headroom=3)
    assert (choice.bitlen, choice.scale, choice.headroom_bits) == (32, 10, 3)  # 137·2^20 needs 29 bits


def test_given_ranges_override_the_declared_ones() -> None:
    # x in [-1/16, 1/16]: acc ≤ 1 + 16/16 = 2, so score ≤ 1 + 8·2 = 17 and 17·2^(2s) < 2^31 up to s = 13.
    choice = choose_format(source(NET), input_ranges={"x": (-0.0625, 0.0625)}, max_scale=14)
    assert (choice.bitlen, choice.scale) == (32, 13)


def test_calibration_bounds_inputs_without_a_declared_range() -> None:
    samples = [{role: load_inputs(REPOSITORY / f"examples/inputs/two_layer_net.{role.value.lower()}.json")
                for role in (Role.SERVER, Role.CLIENT)}]
    choice = choose_format(UNBOUNDED_NET, calibration=samples)
    assert (choice.bitlen, choice.scale, choice.fits) == (32, 13, True)


def test_without_ranges_nothing_fits_and_the_reason_says_where() -> None:
    choice = choose_format(UNBOUNDED_NET)
    assert (choice.bitlen, choice.scale, choice.fits) == (64, 8, False)
    assert choice.limiting is not None and str(choice.limiting) == "net.ezpc:30:19"
    assert choice.reason.startswith("no format fits: at --bitlen 64 --scale 8, `x[i] * w1[i][j]` at net.ezpc:30:19 "
                                    "can reach [")
    assert choice.reason.endswith("which overflows the 64-bit ring; declare tighter input ranges or allow a "
                                  "smaller scale")


def test_the_fmri_mlp_needs_64_bits() -> None:
    choice = choose_format(source(MLP))
    assert (choice.bitlen, choice.scale, choice.fits) == (64, 16, True)
    assert "At --bitlen 64 --scale 17, nothing overflows, but 12200 truncations run instead of 600" in choice.reason
    assert "At --bitlen 32 --scale 8, `h2[i] * w3[i][j]` at " in choice.reason
