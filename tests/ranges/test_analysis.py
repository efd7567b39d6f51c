"""The range analysis on hand-written programs: exact bounds, the loop rule, overflow warnings.

Each expected interval is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from ezlang.diagnostics import render_text
from ezlang.passes.fixed_pipeline import prepare
from ezlang.passes.pipeline import check_source
from ezlang.passes.ranges import Interval, analyze
from ezlang.passes.ranges_format import input_bounds

from range_helpers import analysed, interval_of, nodes, source

DOT = """int32 N = 8;
def void main() {
  input(SERVER, w, int32_al[N]);
  input(CLIENT, x, int32_al[N]);
  int32_al score = 0;
  for i = [0:N] {
    score = score + w[i] * x[i]
  };
  output(CLIENT, score)
}
"""


def test_a_dot_product_is_bounded_by_trip_count_times_the_product() -> None:
    report = analysed(DOT, w=(-100, 100), x=(-1000, 1000))
    assert interval_of(report, "w[i] * x[i]") == (-100_000, 100_000)
    assert interval_of(report, "score + w[i] * x[i]") == (-800_000, 800_000)  # 8 products
    assert report.variable("score") == Interval(-800_000, 800_000)
    assert report.overflows == () and report.diagnostics() == ()


def test_unbounded_inputs_overflow_and_the_warning_says_where_and_what_to_do() -> None:
    report = analysed(DOT)
    [warning] = report.diagnostics()
    assert render_text(warning) == """\
t.ezpc:7:21: warning[W0401]: value can overflow the 32-bit ring
7 |     score = score + w[i] * x[i]
  |                     ^^^^^^^^^^^ `w[i] * x[i]` can reach [-4611686016279904256, 4611686018427387904]
  note: the 32-bit ring holds [-2147483648, 2147483647]; this value needs 64 bits
  note: 1 more value(s) computed from overflowing ones can overflow too
  help: lower the fixed-point scale (--scale), use --bitlen 64, or declare a tighter input range \
(`input(CLIENT, x, fixed_al[n], [-1.0, 1.0])`)"""
    assert [(str(o.span), o.primary) for o in report.overflows] == [("t.ezpc:7:13", False), ("t.ezpc:7:21", True)]


def test_every_intermediate_value_of_an_accumulation_is_bounded() -> None:
    # Per iteration s moves by x[i] in [0, 5], then by -3: the hull of its moves is [-3, 5],
    # so over 4 iterations s stays in 10 + [4·-3, 4·5].
    report = analysed("""def void main() {
  input(CLIENT, x, int32_al[4]);
  int32_al s = 10;
  for i = [0:4] {
    s = s + x[i];
    s = s - 3
  };
  output(CLIENT, s)
}
""", x=(0, 5))
    assert report.variable("s") == Interval(-2, 30)


LAYER = """int32 K = 5;
int32 M = 3;
def void main() {{
  input(SERVER, w, int32_al[K][M]);
  input(CLIENT, x, int32_al[K]);
  int32_al[M] out;
  for {outer} {{
    for {inner} {{
      out[j] = out[j] + w[i][j] * x[i]
    }}
  }};
  int32_al h = out[0] > 0 ? out[0] : 0;
  output(CLIENT, h)
}}
"""


def test_an_array_indexed_by_the_loop_variable_collects_one_update_per_element() -> None:
    # Each out[j] collects the K = 5 products w[i][j]·x[i] in [-6, 6], whichever loop is inside.
    for outer, inner in (("i = [0:K]", "j = [0:M]"), ("j = [0:M]", "i = [0:K]")):
        report = analysed(LAYER.format(outer=outer, inner=inner), w=(-2, 2), x=(-3, 3))
        assert report.variable("out") == Interval(-30, 30), outer
        assert report.variable("h") == Interval(0, 30)  # ReLU: the `then` side is > 0


def test_max_narrows_both_sides() -> None:
    report = analysed("""def void main() {
  input(CLIENT, a, int32_al);
  input(SERVER, b, int32_al);
  int32_al m = a > b ? a : b;
  output(CLIENT, m)
}
""", a=(0, 10), b=(5, 7))
    assert report.variable("m") == Interval(5, 10)  # a when a > b (so a ≥ 6), else b


def test_a_while_condition_bounds_its_counter() -> None:
    report = analysed("""def void main() {
  int32_pl i = 0;
  while (i < 10) { i = i + 1 };
  output(CLIENT, i)
}
""")
    assert interval_of(report, "i + 1") == (1, 10)
    assert report.variable("i") == Interval(0, 10)
    assert report.overflows == ()


def test_a_doubling_while_loop_can_overflow() -> None:
    report = analysed("""def void main() {
  input(ALL, n, int32_pl);
  int32_pl p = 1;
  while (p < n) { p = p * 2 };
  output(CLIENT, p)
}
""")
    assert [(str(o.span), o.primary) for o in report.overflows] == [("t.ezpc:4:23", True)]


def test_a_short_loop_is_followed_iteration_by_iteration() -> None:
    # node = 2·node + 1 or 2, three times from 0: at most 2·(2·2 + 2) + 2 = 14.
    report = analysed("""def void main() {
  int32_pl node = 0;
  for d = [0:3] {
    bool_pl right = d == 1;
    node = 2 * node + (right ? 2 : 1)
  };
  output(CLIENT, node)
}
""")
    assert report.variable("node") == Interval(0, 14)


def test_an_accumulator_read_elsewhere_in_the_loop_is_widened() -> None:
    # `y = acc` reads acc outside its update, so the loop rule does not apply: a long loop
    # widens acc to its type's range and `acc + x[i]` may overflow (acc ≤ 100 in truth).
    report = analysed("""def void main() {
  input(CLIENT, x, int32_al[100]);
  int32_al acc = 0;
  int32_al y = 0;
  for i = [0:100] {
    acc = acc + x[i];
    y = acc
  };
  output(CLIENT, y)
}
""", x=(0, 1))
    assert [str(o.span) for o in report.overflows] == ["t.ezpc:6:11"]


def test_a_callee_writes_its_callers_array() -> None:
    report = analysed("""def void put(int32_al[4] a, int32_al v) {
  a[1] = v * 2
}
def void main() {
  input(CLIENT, x, int32_al);
  int32_al[4] a;
  put(a, x);
  output(CLIENT, a[1])
}
""", x=(-5, 5))
    assert report.variable("a") == Interval(-10, 10)
    assert report.variable("a", "put") == Interval(-10, 10)
    assert interval_of(report, "a[1]") == (-10, 10)


def test_an_extern_may_write_any_value_into_its_array() -> None:
    report = analysed("""extern void fill(int32_al[4] a);
def void main() {
  int32_al[4] a;
  fill(a);
  output(CLIENT, a[0])
}
""")
    assert interval_of(report, "a[0]") == (-(1 << 31), (1 << 31) - 1)


def test_a_recursive_function_is_analysed_with_unknown_arguments() -> None:
    report = analysed("""def int32_pl sum(int32_pl n) {
  if (n <= 0) { return 0 };
  return n + sum(n - 1)
}
def void main() {
  int32_pl s = sum(5);
  output(CLIENT, s)
}
""")
    assert interval_of(report, "sum(5)") == (-(1 << 31), (1 << 31) - 1)
    # `n - 1` cannot overflow: n ≥ 1 there, as `n <= 0` failed.
    assert [str(o.span) for o in report.overflows] == ["t.ezpc:3:10"]


def test_an_unreached_branch_has_no_interval() -> None:
    report = analysed("""int32 N = 8;
def void main() {
  input(CLIENT, x, int32_al);
  int32_al s = x;
  if (N < 0) { s = s * s };
  output(CLIENT, s)
}
""")
    [square] = nodes(report.program, "s * s")
    assert report.interval(square) is None
    assert report.overflows == ()


def test_the_lowered_two_layer_net_is_bounded_at_its_declared_ranges() -> None:
    # Inputs in [-1, 1] at scale 12 are in [-4096, 4096]; acc = b1[j] + 16 products of two of
    # them, each truncated back by 12 bits: 17·4096 = 69632.
    checked = check_source(source("examples/two_layer_net.ezpc"), bitlen=32, scale=12)
    assert checked.program is not None
    prepared = prepare(checked.program, bitlen=32, optimize=False)
    report = analyze(prepared.program, bitlen=32, input_bounds=input_bounds(prepared, {}, ()))
    assert report.variable("acc") == Interval(-69632, 69632)
    assert report.variable("hidden") == Interval(0, 69632)
    assert report.variable("score") == Interval(-(4096 + 8 * 69632), 4096 + 8 * 69632)
    widest = report.widest()
    assert widest is not None and widest[0].span.text == "hidden[j] * w2[j][k]"
    assert widest[1] == Interval(-69632 * 4096, 69632 * 4096)
