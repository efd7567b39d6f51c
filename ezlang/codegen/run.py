"""Drive a compiled program: bind inputs, collect outputs, turn a failure into an InterpError.

Why: compiled code only moves buffers across its I/O sites; what a site reads, how a value is
validated, what an output looks like and what an error says are the reference interpreter's, so
the two backends can be compared output by output.

Assumes: a CompiledProgram whose tables belong to its code.
Guarantees: the RunResult the interpreter returns for the same program and inputs (outputs in
program order per party, ALL outputs under both, unused-input warnings; no trace), or the same
InterpError: input errors come from ezlang.inputs through the same readers, run-time errors from
the site tables (ezlang.codegen.sites).
"""

from __future__ import annotations

import ctypes
import resource
from abc import ABC, abstractmethod
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from ezlang.codegen import abi
from ezlang.codegen.sites import InputSite, OutputSite, Tables
from ezlang.diagnostics import Diagnostic, Severity
from ezlang.inputs import NO_INPUT_SOURCE, UNUSED_INPUT, InputError, InputReader, InputRequest, InputSource
from ezlang.interp.result import InterpError, OutputValue, RunResult
from ezlang.types import Role

_RECIPIENTS = {Role.SERVER: (Role.SERVER,), Role.CLIENT: (Role.CLIENT,), Role.ALL: (Role.SERVER, Role.CLIENT)}
_DEFAULT_STACK = 8 << 20
_ENTRY = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(abi.Context))


@dataclass
class IoHost(ABC):
    """The host side of compiled code's I/O callbacks, shared by the cleartext and secure drivers:
    exceptions are kept (they cannot cross native frames) and reported as a status, and inputs
    are read through the interpreter's readers so that values and errors are the same."""

    tables: Tables
    readers: dict[Role, InputReader]
    failure: Optional[BaseException] = field(default=None, init=False)

    def read_input(self, site: int, dims: Any, count: int, buffer: int) -> int:
        return self._guard(lambda: self._read(self.tables.inputs[site], dims, count, buffer))

    def write_output(self, site: int, dims: Any, count: int, buffer: int) -> int:
        return self._guard(lambda: self._write(self.tables.outputs[site], dims, count, buffer))

    def _guard(self, action: Any) -> int:
        try:
            action()
        except Exception as error:  # re-raised by the driver once the native code has returned
            self.failure = error
            return abi.STATUS_ERROR
        return abi.STATUS_OK

    def read_value(self, site: InputSite, dims: Any) -> tuple[InputRequest, Any]:
        """The checked value of one execution of an input site, or the interpreter's error."""
        request = InputRequest(site.name, site.role, site.type, shape(dims, site.type.rank), arrays=True)
        reader = self.readers.get(site.role)
        if reader is None:
            raise InterpError.at(site.span, NO_INPUT_SOURCE,
                                 f"{request.describe()}: no inputs were given for {site.role}")
        try:
            return request, reader.read(request)
        except InputError as error:
            raise InterpError.at(site.span, error.code, error.message, help=error.help) from None

    @abstractmethod
    def _read(self, site: InputSite, dims: Any, count: int, buffer: int) -> None:
        """Fill the site's buffer: each driver decides what its buffers hold."""

    @abstractmethod
    def _write(self, site: OutputSite, dims: Any, count: int, buffer: int) -> None:
        """Take the values an output site hands over."""


@dataclass
class _Session(IoHost):
    """One cleartext run's host state: every party's outputs."""

    outputs: dict[Role, list[OutputValue]] = field(default_factory=lambda: {Role.SERVER: [], Role.CLIENT: []})

    def _read(self, site: InputSite, dims: Any, count: int, buffer: int) -> None:
        request, value = self.read_value(site, dims)
        flat = np.asarray(value, dtype=abi.DTYPES[site.type.base]).reshape(-1)
        assert flat.size == count, f"{request.describe()}: {flat.size} values for {count} elements"
        ctypes.memmove(buffer, flat.ctypes.data, flat.nbytes)

    def _write(self, site: OutputSite, dims: Any, count: int, buffer: int) -> None:
        dtype = abi.DTYPES[site.type.base]
        raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(buffer)
        value = np.frombuffer(raw, dtype=dtype, count=count).reshape(shape(dims, site.type.rank)).tolist()
        out = OutputValue(site.span, site.recipient, site.text, site.type, value)
        for role in _RECIPIENTS[site.recipient]:
            self.outputs[role].append(out)


def shape(dims: Any, rank: int) -> tuple[int, ...]:
    return tuple(int(dims[k]) for k in range(rank))


def run_entry(entry: int, tables: Tables, inputs: Mapping[Role, InputSource]) -> RunResult:
    """Runs the compiled `ezpc_entry` at address `entry` with every party's inputs."""
    session = _Session(tables, {role: source.reader() for role, source in inputs.items()})
    read, write = abi.IO_CALLBACK(session.read_input), abi.IO_CALLBACK(session.write_output)
    context = abi.Context(read_input=read, write_output=write, stack_budget=stack_budget(), error_site=abi.HOST_SITE)
    status = _ENTRY(entry)(ctypes.byref(context))
    if status != abi.STATUS_OK:
        raise _failure(session, context)
    outputs = {role: tuple(values) for role, values in session.outputs.items()}
    return RunResult(outputs, (), unused_inputs(session.readers))


def _failure(session: _Session, context: abi.Context) -> BaseException:
    if context.error_site == abi.HOST_SITE:
        assert session.failure is not None, "compiled code failed without recording why"
        return session.failure
    return session.tables.errors[context.error_site].error(list(context.error_values))


def unused_inputs(readers: Mapping[Role, InputReader]) -> tuple[Diagnostic, ...]:
    return tuple(Diagnostic(UNUSED_INPUT, Severity.WARNING, note, None)
                 for reader in readers.values() for note in reader.leftovers())


def stack_budget() -> int:
    """Half the stack of the calling thread: the rest is left to Python and the callbacks."""
    size = threading.stack_size()
    if size == 0:
        soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
        size = soft if 0 < soft < (1 << 40) else _DEFAULT_STACK
    return min(size, 1 << 30) // 2
