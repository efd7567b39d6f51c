"""Hypothesis strategy for random programs full of accumulation loops, as source text.

Why: the general program generator (tests/gen_programs.py) rarely writes `acc = acc + e`, the
form the loop rule of the range analysis exists for. These programs nest `for` loops over two
sizes, update a scalar and two arrays (by loop variables or fixed indices, adding or
subtracting), keep temporaries, branch on loop variables, apply ReLU, and sometimes read an
accumulator outside its update (which must make the analysis fall back to widening).
Every index stays in bounds, so a run never fails; arithmetic is labelled `_al`, since ReLU and
shifts compute in boolean sharing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

ROWS, COLUMNS = "R", "C"  # the two sizes: x and col have R elements, out has C, w is R × C


@dataclass(frozen=True)
class Accumulation:
    text: str
    rows: int
    columns: int


@dataclass
class _Gen:
    draw: st.DrawFn
    loops: list[tuple[str, str]] = field(default_factory=list)  # (variable, size it ranges over)
    temps: list[str] = field(default_factory=list)
    names: int = 0
    budget: int = 14

    def pick(self, options: list[str]) -> str:
        return self.draw(st.sampled_from(options))

    def index(self, size: str, bound: int) -> str:
        """An in-bounds index for an array of `size` (a loop variable over it, or a literal)."""
        over = [var for var, ranges in self.loops if ranges == size]
        return self.pick(over) if over and self.draw(st.integers(0, 4)) else str(self.draw(st.integers(0, bound - 1)))

    def expr(self, depth: int, rows: int, columns: int) -> str:
        leaves = [f"x[{self.index(ROWS, rows)}]", f"w[{self.index(ROWS, rows)}][{self.index(COLUMNS, columns)}]",
                  _literal(self.draw(st.integers(-3, 3)))] + self.temps
        if depth == 0 or not self.draw(st.integers(0, 2)):
            return self.pick(leaves)
        kind = self.pick(["*_al", "+_al", ">>", "relu"])
        a = self.expr(depth - 1, rows, columns)
        if kind == ">>":
            return f"({a} >> {self.draw(st.integers(0, 3))})"
        if kind == "relu":
            return f"({a} > 0 ? {a} : 0)"
        return f"({a} {kind} {self.expr(depth - 1, rows, columns)})"

    def statements(self, depth: int, rows: int, columns: int) -> list[str]:
        stmts: list[str] = []
        for _ in range(self.draw(st.integers(1, 3))):
            if self.budget <= 0:
                break
            self.budget -= 1
            stmts.append(self.statement(depth, rows, columns))
        return stmts

    def statement(self, depth: int, rows: int, columns: int) -> str:
        kinds = ["scalar", "scalar", "out", "out", "col", "temp", "reads"] + (["for", "for", "if"] if depth < 3 else [])
        kind = self.pick(kinds)
        e = self.expr(2, rows, columns)
        if kind == "scalar":
            return self.pick([f"acc = acc +_al {e}", f"acc = acc -_al {e}", f"acc = {e} +_al acc"])
        if kind == "out":
            j = self.index(COLUMNS, columns)
            return self.pick([f"out[{j}] = out[{j}] +_al {e}", f"out[{j}] = out[{j}] -_al {e}"])
        if kind == "col":
            i = self.index(ROWS, rows)
            return f"col[{i}] = col[{i}] +_al {e}"
        if kind == "temp":
            self.names += 1
            name = f"t{self.names}"
            text = f"int32_al {name} = {e}"
            self.temps.append(name)
            return text
        if kind == "reads":
            return self.pick(["other = other +_al acc", f"out[0] = out[0] > 0 ? out[0] : {e}", "acc = acc *_al 2"])
        if kind == "if":
            var = self.loops[-1][0] if self.loops else "0"
            return f"if ({var} < {self.draw(st.integers(0, 2))}) {self.block(depth, rows, columns)}"
        return self.loop(depth, rows, columns)

    def block(self, depth: int, rows: int, columns: int) -> str:
        temps = len(self.temps)
        body = self.statements(depth + 1, rows, columns) or ["other = other +_al 1"]
        del self.temps[temps:]  # a block's temporaries go out of scope with it
        return "{\n" + ";\n".join(body) + "\n}"

    def loop(self, depth: int, rows: int, columns: int) -> str:
        self.names += 1
        var, size = f"v{self.names}", self.pick([ROWS, COLUMNS])
        start = self.draw(st.integers(0, 1))
        self.loops.append((var, size))
        body = self.block(depth, rows, columns)
        self.loops.pop()
        return f"for {var} = [{start}:{size}] {body}"


def _literal(value: int) -> str:
    return f"(0 - {-value})" if value < 0 else str(value)


@st.composite
def accumulations(draw: st.DrawFn) -> Accumulation:
    rows, columns = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    gen = _Gen(draw)
    body = [gen.loop(0, rows, columns)] + gen.statements(0, rows, columns)
    text = "\n".join([
        f"int32 R = {rows};", f"int32 C = {columns};", "def void main() {",
        "  input(SERVER, w, int32_al[R][C]);", "  input(CLIENT, x, int32_al[R]);",
        f"  int32_al acc = {draw(st.integers(-5, 5))};", "  int32_al other = 0;",
        "  int32_al[C] out;", "  int32_al[R] col;",
        ";\n".join(body) + ";",
        "  output(CLIENT, acc); output(CLIENT, other); output(CLIENT, out); output(CLIENT, col)", "}", ""])
    return Accumulation(text, rows, columns)
