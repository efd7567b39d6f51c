"""One role's side of a secure run: the I/O callbacks of the compiled code and the run itself.

Why: compiled code is the same in every role; what a role reads and receives differs. At a
secret input site the code asks the host for clear ring elements, and only the owner's host
writes them (the other roles' runtime passes NULL to ezrt_input); at a secret output site the
host is handed the opened ring elements and keeps them only if its role receives the output.
Public sites are exactly those of the cleartext driver: every role, the dealer included, reads
`input(ALL, ...)` from its public inputs.

A served session (ezlang.run.serve) runs the entry once per query with the same SERVER and
public inputs; a ReadMemo keeps the ring elements each input site wrote in the first run and
writes them again in later runs, since checking and encoding a model's 22M weights takes
seconds.

Assumes: a SecureProgram and an open session of `role` (its pointer goes in the context's
`runtime` field); a ReadMemo only for a role whose inputs are the same in every run (SERVER,
DEALER), whose reads are then the same too, since control flow is public.
Guarantees: outputs as the interpreter's OutputValues (ring elements decoded to the site's type:
two's complement for signed types, 0/1 for bool), in program order; a failure raises InterpError
(a failed check, or an input error of this role), or SessionError with the runtime's message.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from ezlang.codegen import abi
from ezlang.codegen.run import IoHost, shape, stack_budget, unused_inputs
from ezlang.codegen.sites import InputSite, OutputSite
from ezlang.diagnostics import Diagnostic
from ezlang.inputs import InputSource
from ezlang.interp.result import OutputValue
from ezlang.run.program import SecureProgram
from ezlang.types import Base, Role, Type

_RECEIVES = {Role.SERVER: (Role.SERVER, Role.ALL), Role.CLIENT: (Role.CLIENT, Role.ALL)}
_ENTRY = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(abi.Context))


class SessionError(RuntimeError):
    """The runtime failed (a peer vanished, a timeout, a protocol error); the message names the
    operation, the peer and the phase."""


@dataclass(frozen=True)
class RoleRun:
    outputs: tuple[OutputValue, ...]
    warnings: tuple[Diagnostic, ...]


@dataclass
class ReadMemo:
    """What each input site wrote, by (site, execution number in the run), and the unused-input
    warnings of that run; empty until a run completed, complete after."""

    buffers: dict[tuple[InputSite, int], np.ndarray] = field(default_factory=dict)
    warnings: Optional[tuple[Diagnostic, ...]] = None  # set with `buffers`, by the first complete run


@dataclass
class _Host(IoHost):
    role: Optional[Role] = None  # None for the dealer
    bitlen: int = 32
    outputs: list[OutputValue] = field(default_factory=list)
    replay: Mapping[tuple[InputSite, int], np.ndarray] = field(default_factory=dict)
    written: Optional[dict[tuple[InputSite, int], np.ndarray]] = None  # kept for a ReadMemo to fill
    executions: dict[InputSite, int] = field(default_factory=dict)

    def _read(self, site: InputSite, dims: Any, count: int, buffer: int) -> None:
        secret = site.type.label.is_secret
        if secret and site.role is not self.role:
            return  # another party's input: the runtime receives its masked wires
        key = (site, self.executions.get(site, 0))
        self.executions[site] = key[1] + 1
        flat = self.replay.get(key)
        if flat is None:
            request, value = self.read_value(site, dims)
            flat = _ring(value, site.type, self.bitlen) if secret else \
                np.asarray(value, dtype=abi.DTYPES[site.type.base]).reshape(-1)
            assert flat.size == count, f"{request.describe()}: {flat.size} values for {count} elements"
        if self.written is not None:
            self.written[key] = flat
        ctypes.memmove(buffer, flat.ctypes.data, flat.nbytes)

    def _write(self, site: OutputSite, dims: Any, count: int, buffer: int) -> None:
        if self.role is None or site.recipient not in _RECEIVES[self.role]:
            return
        secret = site.type.label.is_secret
        dtype = np.dtype(np.uint64) if secret else abi.DTYPES[site.type.base]
        raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(buffer)
        flat = np.frombuffer(raw, dtype=dtype, count=count)
        values = _decode(flat, site.type) if secret else flat
        value = values.reshape(shape(dims, site.type.rank)).tolist()
        self.outputs.append(OutputValue(site.span, site.recipient, site.text, site.type, value))


def _ring(value: Any, ty: Type, bitlen: int) -> np.ndarray:
    """Checked input values as ring elements of Z_2^bitlen (uint64)."""
    flat = np.asarray(value, dtype=abi.DTYPES[ty.base]).reshape(-1)
    if ty.base is Base.BOOL:
        return flat.astype(np.uint64)
    return (flat.astype(np.int64).view(np.uint64) & np.uint64((1 << bitlen) - 1)).astype(np.uint64)


def _decode(flat: np.ndarray, ty: Type) -> np.ndarray:
    """Opened ring elements (reduced mod 2^width) as values of the site's type."""
    if ty.base is Base.BOOL:
        return flat != 0
    bits = np.uint32 if ty.base.width == 32 else np.uint64
    return flat.astype(bits).view(abi.DTYPES[ty.base])


def run_role(program: SecureProgram, role: Optional[Role], session: int,
             inputs: Mapping[Role, InputSource], session_error: Any, memo: Optional[ReadMemo] = None) -> RoleRun:
    """Runs `main` in one role; `session` is the ezrt_session pointer and `session_error()` its
    error message; with `memo`, inputs come from it where an earlier run filled it."""
    filling = memo is not None and memo.warnings is None
    host = _Host(program.tables, {r: source.reader() for r, source in inputs.items()}, role=role,
                 bitlen=program.bitlen, replay=memo.buffers if memo is not None else {},
                 written={} if filling else None)
    read, write = abi.IO_CALLBACK(host.read_input), abi.IO_CALLBACK(host.write_output)
    context = abi.Context(read_input=read, write_output=write, stack_budget=stack_budget(),
                          error_site=abi.HOST_SITE, runtime=session)
    status = _ENTRY(program.code.entry)(ctypes.byref(context))
    if status != abi.STATUS_OK:
        if context.error_site != abi.HOST_SITE:
            raise program.tables.errors[context.error_site].error(list(context.error_values))
        if host.failure is not None:
            raise host.failure
        raise SessionError(session_error() or "the runtime failed without a message")
    if memo is None or memo.warnings is None:
        warnings = unused_inputs(host.readers)
        if memo is not None:
            memo.buffers, memo.warnings = host.written or {}, warnings
        return RoleRun(tuple(host.outputs), warnings)
    return RoleRun(tuple(host.outputs), memo.warnings)
