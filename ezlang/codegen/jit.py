"""Optimise, compile and load LLVM modules: the new pass manager, MCJIT, and an object cache.

Why: compiling is the expensive step (a 36,000-statement program takes seconds), and the same
program is run many times, so object code is cached on disk under a key that names everything
it depends on: the unoptimised IR (which is a function of the typed program and the emitter),
the target triple, CPU and features, the LLVM version and the optimisation level.

Assumes: IR produced by ezlang.codegen.llvm for this target (`Target.triple`, `.data_layout`).
Guarantees: `load` returns code whose `entry` address stays valid as long as the Loaded object
lives; an ObjectCache never serves bytes under a different key (files are written atomically)
and counts its hits and misses, for tests and benchmarks.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import llvmlite
import llvmlite.binding as llvm

from ezlang.codegen import abi

FORMAT = "ezlang-cleartext-1"  # bump when the ABI (ezlang.codegen.abi) changes


@dataclass(frozen=True)
class Target:
    """The host machine code is compiled for; `opt` is the optimisation level (0–3)."""

    triple: str
    cpu: str
    features: str
    opt: int = 2

    def machine(self) -> llvm.TargetMachine:
        """A fresh TargetMachine (an MCJIT engine takes ownership of the one it is given)."""
        target = llvm.Target.from_triple(self.triple)
        return target.create_target_machine(cpu=self.cpu, features=self.features, opt=self.opt,
                                            reloc="default", codemodel="jitdefault")

    @property
    def data_layout(self) -> str:
        return str(self.machine().target_data)

    def key(self, ir_text: str) -> str:
        parts = (FORMAT, llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info)), self.triple,
                 self.cpu, self.features, str(self.opt), ir_text)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def host_target(opt: int = 2) -> Target:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return Target(llvm.get_process_triple(), llvm.get_host_cpu_name(),
                  llvm.get_host_cpu_features().flatten(), opt)


def parse(ir_text: str) -> llvm.ModuleRef:
    """The module, verified (a failure here is a bug in the emitter)."""
    module = llvm.parse_assembly(ir_text)
    module.verify()
    return module


def optimise(module: llvm.ModuleRef, target: Target) -> None:
    """Runs LLVM's default `O<opt>` module pipeline (new pass manager) in place."""
    tuning = llvm.create_pipeline_tuning_options(speed_level=target.opt)
    builder = llvm.create_pass_builder(target.machine(), tuning)
    builder.getModulePassManager().run(module, builder)


def assembly(module: llvm.ModuleRef, target: Target) -> str:
    return target.machine().emit_assembly(module)


def object_code(ir_text: str, target: Target) -> bytes:
    module = parse(ir_text)
    optimise(module, target)
    return target.machine().emit_object(module)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/ezlang/objects, or ~/.cache/ezlang/objects."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ezlang" / "objects"


@dataclass
class ObjectCache:
    """Object code on disk, one file per key; `hits` and `misses` count `compile` calls."""

    directory: Path = field(default_factory=default_cache_dir)
    hits: int = 0
    misses: int = 0

    def compile(self, ir_text: str, target: Target) -> bytes:
        """The object code for `ir_text`, from the cache or freshly compiled (and then stored)."""
        path = self.directory / f"{target.key(ir_text)}.o"
        if path.is_file():
            self.hits += 1
            return path.read_bytes()
        self.misses += 1
        code = object_code(ir_text, target)
        self._store(path, code)
        return code

    def _store(self, path: Path, code: bytes) -> None:
        """Writes atomically; a cache that cannot be written is skipped, not an error."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as stream:
                stream.write(code)
            os.replace(temp, path)
        except OSError:
            return


@dataclass
class Loaded:
    """Object code linked into an MCJIT engine; `entry` is the address of `ezpc_entry`."""

    engine: llvm.ExecutionEngine
    entry: int


def load(code: bytes, target: Target) -> Loaded:
    empty = llvm.parse_assembly("")
    empty.triple = target.triple
    engine = llvm.create_mcjit_compiler(empty, target.machine())
    engine.add_object_file(llvm.ObjectFileRef.from_data(code))
    engine.finalize_object()
    return Loaded(engine, engine.get_function_address(abi.ENTRY))


def compile_ir(ir_text: str, target: Target, cache: Optional[ObjectCache] = None) -> Loaded:
    code = cache.compile(ir_text, target) if cache is not None else object_code(ir_text, target)
    return load(code, target)
