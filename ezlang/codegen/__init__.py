"""LLVM code generation: typed IR → LLVM IR → optimised, JIT-compiled native code.

`compile_program` lowers a checked program (ezlang.passes.pipeline) with ezlang.codegen.llvm,
optimises and compiles it for the host with ezlang.codegen.jit (object code cached by program
hash), and returns a CompiledProgram whose `run` takes the same inputs as the interpreter and
returns the same RunResult. The backend is chosen by the SecretOps implementation
(ezlang.codegen.secret); today's is the cleartext one. docs/codegen.md describes the lowering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from ezlang.codegen.jit import Loaded, ObjectCache, Target, assembly, compile_ir, host_target, optimise, parse
from ezlang.codegen.jit import object_code as jit_object_code
from ezlang.codegen.llvm import EmittedModule, emit_module
from ezlang.codegen.run import run_entry
from ezlang.codegen.secret import ClearSecretOps, SecretOps
from ezlang.codegen.sites import Tables
from ezlang.inputs import InputSource
from ezlang.interp.result import RunResult
from ezlang.syntax import ast
from ezlang.types import Role

__all__ = ["CompiledProgram", "ClearSecretOps", "ObjectCache", "SecretOps", "Target", "compile_program",
           "emit", "emit_llvm", "object_code", "emit_optimised_llvm", "emit_assembly", "host_target"]


@dataclass(frozen=True)
class CompiledProgram:
    """Native code for one program and the tables of its I/O and error sites."""

    tables: Tables
    code: Loaded

    def run(self, inputs: Mapping[Role, InputSource]) -> RunResult:
        """Runs `main`; `inputs[R]` feeds `input(R, ...)`, as for ezlang.interp.interpret."""
        return run_entry(self.code.entry, self.tables, inputs)


def emit(program: ast.Program, target: Optional[Target] = None) -> EmittedModule:
    target = target or host_target()
    return emit_module(program, triple=target.triple, data_layout=target.data_layout)


def compile_program(program: ast.Program, *, cache: Optional[ObjectCache] = None,
                    target: Optional[Target] = None) -> CompiledProgram:
    """Compiles a typed program for the host; with a cache, object code is reused across calls."""
    target = target or host_target()
    emitted = emit(program, target)
    return CompiledProgram(emitted.tables, compile_ir(emitted.ir, target, cache))


def object_code(program: ast.Program, cache: Optional[ObjectCache] = None,
                target: Optional[Target] = None) -> bytes:
    """The optimised object code (ELF on Linux) of a typed program, through the cache if given."""
    target = target or host_target()
    ir_text = emit(program, target).ir
    return cache.compile(ir_text, target) if cache is not None else jit_object_code(ir_text, target)


def emit_llvm(program: ast.Program, target: Optional[Target] = None) -> str:
    """The unoptimised module as LLVM prints it (named values, one function per EzPC function)."""
    return str(parse(emit(program, target).ir))


def emit_optimised_llvm(program: ast.Program, target: Optional[Target] = None) -> str:
    target = target or host_target()
    module = parse(emit(program, target).ir)
    optimise(module, target)
    return str(module)


def emit_assembly(program: ast.Program, target: Optional[Target] = None) -> str:
    target = target or host_target()
    module = parse(emit(program, target).ir)
    optimise(module, target)
    return assembly(module, target)
