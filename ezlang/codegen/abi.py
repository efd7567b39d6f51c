"""The contract between compiled programs and their host: the run context, the I/O callbacks,
the status codes and the memory representation of values.

Why: the JIT-compiled code and the Python driver (ezlang.codegen.run) must agree on one memory
layout and one set of signatures. Both sides are declared here, once: as llvmlite types for the
emitter and as ctypes types for the driver; tests/codegen/test_abi.py compares their offsets.

Every compiled function returns an i32 status. STATUS_ERROR means the error is described by the
context (`error_site` indexes the program's error table and `error_values` holds its operands)
or, when `error_site` is HOST_SITE, by the exception a host callback raised. The two other
non-zero codes are answers of a callee that only its caller can turn into an error, because the
error's position is the call site.
"""

from __future__ import annotations

import ctypes
from typing import Optional

import numpy as np
from llvmlite import ir

from ezlang.types import Base

STATUS_OK = 0
STATUS_ERROR = 1
STATUS_NO_RETURN = 2  # a non-void function ran off its end without `return`
STATUS_TOO_DEEP = 3   # the callee found the stack budget spent before it started
HOST_SITE = -1

ENTRY = "ezpc_entry"  # i32 ezpc_entry(ctx*): evaluates the global constants, then runs main

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32 = ir.FloatType()
PTR = ir.PointerType()

# i32 callback(i32 site, const i64 *dims, i64 element_count, void *buffer): `dims` holds the
# array's rank dimensions (NULL for a scalar); `buffer` the elements, row-major.
IO_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(ctypes.c_int64),
                               ctypes.c_int64, ctypes.c_void_p)
IO_CALLBACK_IR = ir.FunctionType(I32, [I32, PTR, I64, PTR])


class Context(ctypes.Structure):
    """One run's context, owned by the driver; compiled code reads and writes it in place."""

    _fields_ = [
        ("read_input", IO_CALLBACK),      # fills `buffer` with the value of input site `site`
        ("write_output", IO_CALLBACK),    # delivers `buffer` as the value of output site `site`
        ("stack_budget", ctypes.c_uint64),  # bytes of native stack the program may use
        ("stack_limit", ctypes.c_uint64),   # lowest frame address allowed; set by ezpc_entry
        ("error_site", ctypes.c_int32),
        ("error_values", ctypes.c_int64 * 2),
        ("runtime", ctypes.c_void_p),     # reserved for the secure runtime's own context
    ]


CONTEXT_FIELDS = tuple(name for name, _ in Context._fields_)
CONTEXT_IR_FIELDS = (PTR, PTR, I64, I64, I32, ir.ArrayType(I64, 2), PTR)


def context_type(module: ir.Module) -> ir.IdentifiedStructType:
    """The context struct as a named type of `module` (`%ezpc.context`)."""
    ty = module.context.get_identified_type("ezpc.context")
    if ty.is_opaque:
        ty.set_body(*CONTEXT_IR_FIELDS)
    return ty


def field(builder: ir.IRBuilder, ctx: ir.Value, name: str) -> ir.Value:
    """A pointer to the context field `name`."""
    index = CONTEXT_FIELDS.index(name)
    return builder.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, index)],
                       source_etype=context_type(builder.module), name=name)


def call_host(builder: ir.IRBuilder, ctx: ir.Value, callback: str, site: int, dims: Optional[ir.Value],
              count: ir.Value, buffer: ir.Value) -> ir.Value:
    """Calls the host's `read_input` or `write_output` callback; returns its status."""
    # A typed function pointer carries the callee's signature; LLVM prints it as `ptr`.
    fn = builder.load(field(builder, ctx, callback), typ=IO_CALLBACK_IR.as_pointer(), name=callback)
    return builder.call(fn, [ir.Constant(I32, site), dims if dims is not None else ir.Constant(PTR, None),
                             count, buffer], name="io.status")


# ---------------------------------------------------------------- cleartext representation

_VALUE_TYPES = {Base.INT32: I32, Base.UINT32: I32, Base.INT64: I64, Base.UINT64: I64, Base.FLOAT: F32,
                Base.BOOL: I1}
# Array elements and I/O buffers: a bool is a byte holding 0 or 1 (numpy's bool_ layout).
_MEMORY_TYPES = {**_VALUE_TYPES, Base.BOOL: I8}
DTYPES = {Base.INT32: np.dtype(np.int32), Base.UINT32: np.dtype(np.uint32), Base.INT64: np.dtype(np.int64),
          Base.UINT64: np.dtype(np.uint64), Base.FLOAT: np.dtype(np.float32), Base.BOOL: np.dtype(np.bool_)}


def value_type(base: Base) -> ir.Type:
    """The SSA type of a cleartext scalar."""
    return _VALUE_TYPES[base]


def memory_type(base: Base) -> ir.Type:
    """The in-memory type of a cleartext array element or I/O buffer element."""
    return _MEMORY_TYPES[base]
