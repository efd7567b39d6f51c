"""The JIT around the emitter: examples, the object cache, the ABI layout, and `ezlang compile`."""

from __future__ import annotations

from pathlib import Path

import llvmlite.binding as llvm
from llvmlite import ir
import pytest

from ezlang import cli
from ezlang.codegen import ObjectCache, abi, compile_program, emit_llvm, host_target
from ezlang.inputs import InputSource, load_inputs
from ezlang.passes.pipeline import check_source
from ezlang.source import SourceFile
from ezlang.types import Role

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TARGET = host_target()
EXPECTED = {
    "millionaires": {Role.SERVER: [True], Role.CLIENT: [True]},
    "dot_product": {Role.SERVER: [], Role.CLIENT: [104]},
    "auction": {Role.SERVER: [5, 355], Role.CLIENT: [5, 355]},
    "random_forest": {Role.SERVER: [], Role.CLIENT: [34]},
}


def typed(text: str):
    result = check_source(SourceFile("t.ezpc", text))
    assert result.program is not None
    return result.program


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_examples_give_their_documented_outputs(name: str) -> None:
    program = check_source(SourceFile.read(EXAMPLES / f"{name}.ezpc")).program
    inputs = {role: load_inputs(EXAMPLES / "inputs" / f"{name}.{role.value.lower()}.json")
              for role in (Role.SERVER, Role.CLIENT)}
    run = compile_program(program, target=TARGET).run(inputs)
    assert {role: [out.value for out in run.outputs[role]] for role in EXPECTED[name]} == EXPECTED[name]


def test_cache_reuses_object_code(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path)
    program = typed("def void main() { input(ALL, n, int32_pl); output(CLIENT, n * 2) }")
    first = compile_program(program, cache=cache, target=TARGET)
    second = compile_program(program, cache=cache, target=TARGET)
    assert (cache.hits, cache.misses) == (1, 1)
    assert len(list(tmp_path.glob("*.o"))) == 1
    inputs = {Role.ALL: InputSource.from_mapping({"n": 21})}
    assert [o.value for o in second.run(inputs).outputs[Role.CLIENT]] == [42]
    assert first.run(inputs).outputs == second.run(inputs).outputs
    compile_program(typed("def void main() { output(CLIENT, 3) }"), cache=cache, target=TARGET)
    assert (cache.hits, cache.misses) == (1, 2)


def test_context_layout_matches_the_llvm_struct() -> None:
    module = ir.Module(context=ir.Context())
    module.data_layout = TARGET.data_layout
    ir.GlobalVariable(module, abi.context_type(module), "probe")
    parsed = llvm.parse_assembly(str(module))
    data = llvm.create_target_data(parsed.data_layout)
    context = parsed.get_global_variable("probe").global_value_type
    offsets = [data.get_element_offset(context, k) for k in range(len(abi.CONTEXT_FIELDS))]
    assert offsets == [getattr(abi.Context, name).offset for name in abi.CONTEXT_FIELDS]
    assert data.get_abi_size(context) == abi.ctypes.sizeof(abi.Context)


def test_emitted_ir_is_readable() -> None:
    text = emit_llvm(typed("def int32_pl twice(int32_pl x) { return x + x }\n"
                           "def void main() { int32_pl[2] a; output(CLIENT, twice(a[1])) }"), TARGET)
    assert "define internal i32 @ezpc.twice(ptr %ctx, i32 %x, ptr %result)" in text
    assert "define internal i32 @ezpc.main(ptr %ctx)" in text
    assert "%add = add i32 %x" in text and "%inside = icmp ult i64" in text


def test_compile_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = str(EXAMPLES / "dot_product.ezpc")
    assert cli.main(["compile", source, "--emit-llvm"]) == 0
    assert "define internal i32 @ezpc.main(ptr %ctx)" in capsys.readouterr().out
    assert cli.main(["compile", source, "--emit-opt-llvm"]) == 0
    assert "@ezpc_entry(ptr" in capsys.readouterr().out
    assert cli.main(["compile", source, "--emit-asm", "--bitlen", "32"]) == 0
    assert "ezpc_entry:" in capsys.readouterr().out
    assert cli.main(["compile", source, "-o", str(tmp_path / "dot.o")]) == 0
    assert (tmp_path / "dot.o").read_bytes()[:4] == b"\x7fELF"
    assert len(list((tmp_path / "cache" / "ezlang" / "objects").glob("*.o"))) == 1


def test_compile_command_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "bad.ezpc"
    program.write_text("extern int32_pl F(int32_pl x);\ndef void main() { output(CLIENT, F(1)) }\n")
    assert cli.main(["compile", str(program), "--emit-llvm"]) == 1
    assert "error[E0604]: extern `F` has no implementation in compiled code" in capsys.readouterr().err
    program.write_text("def void main() { output(CLIENT, x) }\n")
    assert cli.main(["compile", str(program)]) == 1
    assert "error[E0" in capsys.readouterr().err
