"""Interpreter vs JIT on a 100,000-element dot product: prints median times, asserts nothing.

Why: the compiled backend exists to take per-element Python off the hot path; this measures it.
Two programs: `inputs` reads both vectors (so the run includes validating 200,000 input values
in Python, the same for both backends), `loop` fills the vectors in EzPC itself, so the run is
arithmetic and loops only. Compilation is timed once cold (empty cache) and once warm.

    python bench/cleartext_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from ezlang.codegen import ObjectCache, compile_program, host_target
from ezlang.inputs import InputSource
from ezlang.interp import interpret
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role

N = 100_000
INPUTS = f"""int32 N = {N};
def void main() {{
  input(SERVER, w, int32_al[N]); input(CLIENT, x, int32_al[N]);
  int32_al score = 0;
  for i = [0:N] {{ score = score + w[i] * x[i] }};
  output(CLIENT, score)
}}
"""
LOOP = f"""int32 N = {N};
def void main() {{
  int32_al[N] w; int32_al[N] x;
  for i = [0:N] {{ w[i] = i * 7 + 1; x[i] = 3 - i }};
  int32_al score = 0;
  for i = [0:N] {{ score = score + w[i] * x[i] }};
  output(CLIENT, score)
}}
"""


def median_seconds(action: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(name: str, text: str, inputs: dict[Role, InputSource], repeat: int) -> None:
    program = check_source(SourceFile(f"{name}.ezpc", text)).program
    assert program is not None
    target = host_target()
    with tempfile.TemporaryDirectory() as directory:
        cold = median_seconds(lambda: compile_program(program, cache=ObjectCache(Path(directory)), target=target), 1)
        cache = ObjectCache(Path(directory))
        warm = median_seconds(lambda: compile_program(program, cache=cache, target=target), repeat)
        compiled = compile_program(program, cache=cache, target=target)
    expected = interpret(program, inputs).outputs
    assert compiled.run(inputs).outputs == expected
    interpreter = median_seconds(lambda: interpret(program, inputs), repeat)
    jit = median_seconds(lambda: compiled.run(inputs), repeat)
    print(f"{name:7} interpreter {interpreter * 1e3:9.2f} ms   jit run {jit * 1e3:8.3f} ms   "
          f"speed-up {interpreter / jit:7.1f}x   compile cold {cold * 1e3:7.1f} ms, warm {warm * 1e3:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median reported)")
    args = parser.parse_args()
    vectors = {Role.SERVER: InputSource.from_mapping({"w": [(i * 7 + 1) % 1000 for i in range(N)]}),
               Role.CLIENT: InputSource.from_mapping({"x": [3 - i % 1000 for i in range(N)]})}
    print(f"dot product of {N:,} elements, median of {args.repeat} runs")
    bench("inputs", INPUTS, vectors, args.repeat)
    bench("loop", LOOP, {}, args.repeat)


if __name__ == "__main__":
    main()
