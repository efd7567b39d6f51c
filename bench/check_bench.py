"""Time to parse and check the largest programs EzPC users have: the Athos cpp_pre libraries are
~750 KB with 36,000 look-up-table statements (`inp[32300] = 1073741736;`) in one body.

    python bench/check_bench.py [--statements 36000] [--repeat 5]

Prints the file size and the median parse, check and total time over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ezlang.passes.pipeline import check_program
from ezlang.source import SourceFile
from ezlang.syntax.parse import parse_program


def lookup_table_program(statements: int) -> str:
    lines = ["(* look-up-table initialiser in the shape of Library32_cpp_pre.ezpc *)",
             "def void main() {", f"  int32_al[{statements}] inp;"]
    lines += [f"  inp[{i}] = {1073741736 - 7 * i};" for i in range(statements)]
    lines += ["  output(CLIENT, inp)", "}"]
    return "\r\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=36_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    source = SourceFile("lut.ezpc", lookup_table_program(args.statements))
    parse_times, check_times = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        program = parse_program(source)
        parsed = time.perf_counter()
        result = check_program(program)
        checked = time.perf_counter()
        assert result.ok, [str(d) for d in result.diagnostics]
        parse_times.append(parsed - start)
        check_times.append(checked - parsed)
    parse_s, check_s = statistics.median(parse_times), statistics.median(check_times)
    print(f"{len(source.text.encode()) / 1000:.0f} KB, {args.statements} statements, median of {args.repeat}: "
          f"parse {parse_s:.2f} s, check {check_s:.2f} s, total {parse_s + check_s:.2f} s")


if __name__ == "__main__":
    main()
