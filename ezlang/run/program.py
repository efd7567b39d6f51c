"""A program compiled for the secure runtime, and the hash every role announces at connection.

Why: the three roles run the same native code (docs/protocols.md §2), so each compiles the
program itself and the handshake compares a hash of what was compiled: two roles that would
call the runtime in different orders never start.

Assumes: a typed program (ezlang.passes.pipeline) checked at `bitlen`.
Guarantees: `compile_secure` refuses what the secure runtime cannot run (E0701, one diagnostic
listing every operation) before emitting, batches the interactive operations of loops into one
round each (ezlang.passes.batch_rounds) and computes products that are only summed as matrix
products opening only the sums (ezlang.passes.batch_sums), choosing the one-sided protocol
for those whose one factor the SERVER alone knows (ezlang.passes.protocols); the hash is SHA-256 over the protocol
version, the bit width and the emitted LLVM IR without its module name (so the file's name does
not matter, its comments and layout neither); the native code resolves the runtime's symbols.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import llvmlite.binding as llvm

from ezlang import runtime_lib
from ezlang.codegen.jit import Loaded, ObjectCache, compile_ir, host_target
from ezlang.codegen.llvm import emit_module
from ezlang.codegen.secure import SecureSecretOps, check_supported
from ezlang.codegen.sites import Tables
from ezlang.passes.batch_rounds import batch_rounds
from ezlang.passes.batch_sums import batch_sums
from ezlang.passes.protocols import choose_protocols
from ezlang.syntax import ast

PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class SecureProgram:
    tables: Tables
    code: Loaded
    bitlen: int
    hash: bytes


def program_hash(ir_text: str, bitlen: int) -> bytes:
    body = "\n".join(line for line in ir_text.splitlines()
                     if not line.startswith(("; ModuleID", "source_filename")))
    return hashlib.sha256(f"ezlang-secure\0{PROTOCOL_VERSION}\0{bitlen}\0{body}".encode()).digest()


def compile_secure(program: ast.Program, bitlen: int, cache: Optional[ObjectCache] = None) -> SecureProgram:
    """Raises CompileError for operations the runtime does not support yet."""
    check_supported(program)
    target = host_target()
    annotated, protocols = choose_protocols(batch_sums(batch_rounds(program)))
    emitted = emit_module(annotated, SecureSecretOps(bitlen, protocols), triple=target.triple,
                          data_layout=target.data_layout)
    llvm.load_library_permanently(runtime_lib.library_path())
    code = compile_ir(emitted.ir, target, cache)
    return SecureProgram(emitted.tables, code, bitlen, program_hash(emitted.ir, bitlen))
