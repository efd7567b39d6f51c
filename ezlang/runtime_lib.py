"""ctypes binding of the native runtime whose ABI is runtime/include/ezrt.h.

Assumes: the package was installed with pip, which compiled runtime/src/*.c into the shared
library `ezlang._ezrt` (setup.py); it is a plain C library found through the import system but
never imported as a module.
Guarantees: `load()` returns that library with argtypes and restype declared for every function
in `SIGNATURES`, checked once per process that `ezrt_prg` has the layout of `Prg`; `check`
turns a status code into `EzrtError` with the runtime's own message. The typed helpers below
take and return numpy arrays and bytes, for tests, benchmarks and the Python driver.
"""

from __future__ import annotations

import ctypes
import importlib.util
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

U64Array = npt.NDArray[np.uint64]

_u8p = ctypes.POINTER(ctypes.c_uint8)
_u64p = ctypes.POINTER(ctypes.c_uint64)
_size = ctypes.c_size_t
_uint = ctypes.c_uint
_status = ctypes.c_int

EZRT_OK = 0
EZRT_EINVAL = 1
EZRT_ELENGTH = 2
EZRT_ERANDOM = 3
EZRT_ENOCPU = 4
EZRT_ENOMEM = 5
EZRT_EIO = 6
EZRT_EPEER = 7
EZRT_ETIMEOUT = 8
EZRT_EPROTOCOL = 9
EZRT_EUNINIT = 10


class Prg(ctypes.Structure):
    """`ezrt_prg`: AES-128-CTR state, allocated by the caller and passed by reference."""

    _fields_ = [
        ("round_keys", ctypes.c_uint8 * 176),
        ("block", ctypes.c_uint8 * 16),
        ("counter", ctypes.c_uint64),
        ("used", ctypes.c_uint32),
        ("magic", ctypes.c_uint32),
    ]


_prgp = ctypes.POINTER(Prg)

# name -> (restype, argtypes), in the order of ezrt.h.
SIGNATURES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "ezrt_strerror": (ctypes.c_char_p, (_status,)),
    "ezrt_random_bytes": (_status, (_u8p, _size)),
    "ezrt_cpu_check": (_status, ()),
    "ezrt_aes128_encrypt": (_status, (_u8p, _u8p, _u8p, _size)),
    "ezrt_prg_size": (_size, ()),
    "ezrt_prg_init": (_status, (_prgp, _u8p)),
    "ezrt_prg_fresh": (_status, (_prgp,)),
    "ezrt_prg_wipe": (None, (_prgp,)),
    "ezrt_prg_bytes": (_status, (_prgp, _u8p, _size)),
    "ezrt_prg_u64s": (_status, (_prgp, _u64p, _size, _uint)),
    "ezrt_ring_mask": (ctypes.c_uint64, (_uint,)),
    "ezrt_ring_add": (_status, (_uint, _u64p, _size, _u64p, _size, _u64p, _size)),
    "ezrt_ring_sub": (_status, (_uint, _u64p, _size, _u64p, _size, _u64p, _size)),
    "ezrt_ring_mul": (_status, (_uint, _u64p, _size, _u64p, _size, _u64p, _size)),
    "ezrt_ring_neg": (_status, (_uint, _u64p, _size, _u64p, _size)),
    "ezrt_packed_size": (_size, (_size, _uint)),
    "ezrt_pack": (_status, (_u64p, _size, _uint, _u8p, _size)),
    "ezrt_unpack": (_status, (_u8p, _size, _uint, _u64p, _size)),
    "ezrt_dcf_key_size": (_size, (_uint, _uint)),
    "ezrt_dcf_gen": (
        _status,
        (_prgp, _uint, _uint, ctypes.c_uint64, ctypes.c_uint64, _u8p, _size, _u8p, _size),
    ),
    "ezrt_dcf_eval": (_status, (ctypes.c_int, _u8p, _size, _uint, _uint, ctypes.c_uint64, _u64p)),
    "ezrt_dcf_gen_batch": (
        _status,
        (_prgp, _uint, _uint, _u64p, _u64p, _size, _u8p, _size, _u8p, _size),
    ),
    "ezrt_dcf_eval_batch": (
        _status,
        (ctypes.c_int, _u8p, _size, _uint, _uint, _u64p, _u64p, _size),
    ),
}


# ---- channels between roles (runtime/src/net*.c; the same section of ezrt.h) ----

ROLE_SERVER = 0
ROLE_CLIENT = 1
ROLE_DEALER = 2
ROLE_ANY = 255


class Hello(ctypes.Structure):
    """`ezrt_hello`: what each role announces at connection."""

    _fields_ = [
        ("protocol_version", ctypes.c_uint32),
        ("role", ctypes.c_uint8),
        ("bitlen", ctypes.c_uint8),
        ("program_hash", ctypes.c_uint8 * 32),
    ]


class NetStats(ctypes.Structure):
    """`ezrt_net_stats`: one channel's traffic since its handshake."""

    _fields_ = [
        ("rounds", ctypes.c_uint64),
        ("messages_sent", ctypes.c_uint64),
        ("messages_received", ctypes.c_uint64),
        ("bytes_sent", ctypes.c_uint64),
        ("bytes_received", ctypes.c_uint64),
    ]


_handle = ctypes.c_void_p  # ezrt_channel * and ezrt_listener *, opaque
_handle_out = ctypes.POINTER(ctypes.c_void_p)
_text = ctypes.c_char_p  # host names, phases, and the caller's error buffers
_hellop = ctypes.POINTER(Hello)
_port, _role, _ms = ctypes.c_uint16, ctypes.c_uint8, ctypes.c_int

SIGNATURES.update(
    {
        "ezrt_listen": (_status, (_text, _port, _handle_out, _text, _size)),
        "ezrt_listener_port": (_port, (_handle,)),
        "ezrt_accept": (_status, (_handle, _role, _ms, _handle_out, _text, _size)),
        "ezrt_listener_close": (None, (_handle,)),
        "ezrt_connect": (
            _status,
            (_text, _port, _role, _ms, _handle_out, _text, _size),
        ),
        "ezrt_channel_set_timeout": (_status, (_handle, _ms)),
        "ezrt_channel_set_phase": (_status, (_handle, _text)),
        "ezrt_handshake": (_status, (_handle, _hellop, _hellop, _text, _size)),
        "ezrt_send": (_status, (_handle, _u8p, _size)),
        "ezrt_flush": (_status, (_handle,)),
        "ezrt_recv": (_status, (_handle, _u8p, _size)),
        "ezrt_channel_stats": (_status, (_handle, ctypes.POINTER(NetStats))),
        "ezrt_channel_error": (ctypes.c_char_p, (_handle,)),
        "ezrt_close": (_status, (_handle,)),
    }
)

# ---- end of channels between roles ----

# ---- sessions and protocols (runtime/src/session.c, proto_*.c; the same section of ezrt.h) ----

RECIPIENT_ALL = 3

_session = ctypes.c_void_p  # ezrt_session *, opaque

SIGNATURES.update(
    {
        "ezrt_session_open_party": (_status, (_handle_out, _role, _uint, _handle, _handle)),
        "ezrt_session_open_dealer": (_status, (_handle_out, _uint, _handle, _handle)),
        "ezrt_session_free": (None, (_session,)),
        "ezrt_session_error": (ctypes.c_char_p, (_session,)),
        "ezrt_session_role": (_role, (_session,)),
        "ezrt_session_flush": (_status, (_session,)),
        "ezrt_share_public": (_status, (_session, _u64p, _u64p, _size)),
        "ezrt_input": (_status, (_session, _role, _u64p, _u64p, _size)),
        "ezrt_output": (_status, (_session, _role, _u64p, _u64p, _size)),
        "ezrt_mul": (_status, (_session, _u64p, _u64p, _u64p, _size)),
        "ezrt_lt": (_status, (_session, ctypes.c_int, _u64p, _u64p, _u64p, _size)),
        "ezrt_bits": (_status, (_session, _u64p, _u64p, _size)),
        "ezrt_relu_rescale": (_status, (_session, _uint, _u64p, _u64p, _size)),
        "ezrt_relu_rescale_shares": (_status, (_session, _uint, _uint, _u64p, _u64p, _size)),
    }
)

# ---- end of sessions and protocols ----

# ---- one-sided matrix products (runtime/src/proto_onesided.c; the same section of ezrt.h) ----

KNOWN_LEFT = 0
KNOWN_RIGHT = 1
OTHER_WIRE = 0
OTHER_CLIENT_CLEAR = 1
OTHER_SHARED = 2
ONESIDED_MAX_SLOTS = 4096


class OnesidedStats(ctypes.Structure):
    """`ezrt_onesided_stats`: one role's registrations and offline work in a session."""

    _fields_ = [
        ("slots", ctypes.c_uint64),
        ("setup_ns", ctypes.c_uint64),
        ("setup_bytes", ctypes.c_uint64),
        ("precompute_ns", ctypes.c_uint64),
        ("precomputed_hits", ctypes.c_uint64),
    ]


SIGNATURES.update(
    {
        "ezrt_onesided_ready": (ctypes.c_int, (_session, ctypes.c_uint32)),
        "ezrt_onesided_matmul": (
            _status,
            (_session, ctypes.c_uint32, ctypes.c_int, ctypes.c_int, _size, _size, _size, _u64p, _u64p, _u64p),
        ),
        "ezrt_onesided_refill": (_status, (_session,)),
        "ezrt_onesided_stats_get": (_status, (_session, ctypes.POINTER(OnesidedStats))),
    }
)

# ---- end of one-sided matrix products ----

# ---- bitwise operators, right shifts, division (runtime/src/proto_bitwise.c, proto_div.c) ----

SIGNATURES.update(
    {
        "ezrt_and": (_status, (_session, _u64p, _u64p, _u64p, _size)),
        "ezrt_or": (_status, (_session, _u64p, _u64p, _u64p, _size)),
        "ezrt_xor": (_status, (_session, _u64p, _u64p, _u64p, _size)),
        "ezrt_shr": (_status, (_session, ctypes.c_int, _uint, _u64p, _u64p, _size)),
        "ezrt_divmod": (_status, (_session, ctypes.c_int, _u64p, _u64p, _u64p, _u64p, _size)),
    }
)

# ---- end of bitwise operators, right shifts, division ----


# ---- the Athos tensor library on masked wires (runtime/src/athos_*.c) ----

_i64 = ctypes.c_int64
_wires = (_u64p, _size)  # an array of wires and its element count


def _athos(*kinds: str) -> tuple[Any, tuple[Any, ...]]:
    """An Athos function's signature from its parameter kinds: P (int64_t) or S (wires)."""
    args: list[Any] = [_session]
    for kind in kinds:
        args.extend(_wires if kind == "S" else (_i64,))
    return _status, tuple(args)


_POOL = "P" * 16 + "SS"
SIGNATURES.update(
    {
        "ezrt_matmul": (_status, (_session, _size, _size, _size, _u64p, _u64p, _u64p)),
        "ezrt_matmul_many": (_status, (_session, _size, ctypes.POINTER(_size), ctypes.POINTER(_u64p),
                                       ctypes.POINTER(_u64p), ctypes.POINTER(_u64p))),
        "ezrt_athos_matmul2d": _athos("P", "P", "P", "S", "S", "S", "P"),
        "ezrt_athos_elemwise_mult": _athos("P", "S", "S", "S"),
        "ezrt_athos_elemwise_public_div": _athos("P", "S", "P", "S"),
        "ezrt_athos_relu": _athos("P", "S", "S", "P", "P"),
        "ezrt_athos_floor": _athos("P", "S", "S", "P"),
        "ezrt_athos_scale_up": _athos("P", "S", "P"),
        "ezrt_athos_scale_down": _athos("P", "S", "P"),
        "ezrt_athos_argmax": _athos("P", "P", "S", "S"),
        "ezrt_athos_maxpool": _athos(*_POOL),
        "ezrt_athos_avgpool": _athos(*_POOL),
        "ezrt_athos_conv2d": _athos(*"P" * 13, "S", "S", "S"),
        "ezrt_athos_conv2d_group": _athos(*"P" * 14, "S", "S", "S"),
        "ezrt_athos_conv3d": _athos(*"P" * 18, "S", "S", "S"),
        "ezrt_athos_conv_transpose2d": _athos(*"P" * 15, "S", "S", "S"),
        "ezrt_athos_conv_transpose3d": _athos(*"P" * 21, "S", "S", "S"),
    }
)

# ---- end of the Athos tensor library ----


class RuntimeLibraryError(RuntimeError):
    """The native runtime is missing or does not match this binding."""


class EzrtError(RuntimeError):
    """A runtime call returned a status other than EZRT_OK."""

    def __init__(self, function: str, status: int, message: str) -> None:
        super().__init__(f"{function}: {message} (ezrt status {status})")
        self.function = function
        self.status = status


def library_path() -> str:
    """Where pip put the compiled runtime."""
    spec = importlib.util.find_spec("ezlang._ezrt")
    if spec is None or spec.origin is None:
        raise RuntimeLibraryError(
            "the native runtime ezlang._ezrt is not built; reinstall with `pip install -e .`"
        )
    return spec.origin


@cache
def load() -> ctypes.CDLL:
    """The runtime library with every function of SIGNATURES typed (loaded once)."""
    lib = ctypes.CDLL(library_path())
    for name, (restype, argtypes) in SIGNATURES.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    if lib.ezrt_prg_size() != ctypes.sizeof(Prg):
        raise RuntimeLibraryError(
            f"ezrt_prg is {lib.ezrt_prg_size()} bytes in the library but "
            f"{ctypes.sizeof(Prg)} in ezlang.runtime_lib; rebuild with `pip install -e .`"
        )
    return lib


def strerror(status: int) -> str:
    message: bytes = load().ezrt_strerror(status)
    return message.decode()


def check(function: str, status: int) -> None:
    """Raise EzrtError unless status is EZRT_OK."""
    if status != EZRT_OK:
        raise EzrtError(function, status, strerror(status))


def u8(buf: bytearray | bytes) -> Any:
    """A uint8_t* to buf's storage (a bytes object must not be written through)."""
    if isinstance(buf, bytes):
        return ctypes.cast(ctypes.c_char_p(buf), _u8p)
    return (ctypes.c_uint8 * len(buf)).from_buffer(buf)


def u64(arr: U64Array) -> Any:
    """A uint64_t* to a C-contiguous uint64 array's storage."""
    if arr.dtype != np.uint64 or not arr.flags.c_contiguous:
        raise TypeError("expected a C-contiguous numpy.uint64 array")
    return arr.ctypes.data_as(_u64p)


def new_prg(seed: bytes | None = None) -> Prg:
    """A PRG keyed with seed (16 bytes), or with a fresh OS-random seed if seed is None."""
    prg = Prg()
    if seed is None:
        check("ezrt_prg_fresh", load().ezrt_prg_fresh(ctypes.byref(prg)))
    else:
        if len(seed) != 16:
            raise ValueError("a PRG seed is 16 bytes")
        check("ezrt_prg_init", load().ezrt_prg_init(ctypes.byref(prg), u8(seed)))
    return prg


def prg_bytes(prg: Prg, n: int) -> bytes:
    out = bytearray(n)
    check("ezrt_prg_bytes", load().ezrt_prg_bytes(ctypes.byref(prg), u8(out), n))
    return bytes(out)


def prg_u64s(prg: Prg, n: int, bits: int) -> U64Array:
    out = np.zeros(n, dtype=np.uint64)
    check("ezrt_prg_u64s", load().ezrt_prg_u64s(ctypes.byref(prg), u64(out), n, bits))
    return out


def dcf_key_size(n_in: int, m_out: int) -> int:
    return int(load().ezrt_dcf_key_size(n_in, m_out))


def dcf_gen_batch(
    prg: Prg, n_in: int, m_out: int, alphas: U64Array, betas: U64Array
) -> tuple[bytearray, bytearray]:
    """Both parties' keys for f_{alpha_j, beta_j}, concatenated (ezrt_dcf_gen_batch)."""
    count = len(alphas)
    size = count * dcf_key_size(n_in, m_out)
    keys0, keys1 = bytearray(size), bytearray(size)
    status = load().ezrt_dcf_gen_batch(
        ctypes.byref(prg), n_in, m_out, u64(alphas), u64(betas), count,
        u8(keys0), size, u8(keys1), size,
    )  # fmt: skip
    check("ezrt_dcf_gen_batch", status)
    return keys0, keys1


def dcf_eval_batch(party: int, keys: bytearray, n_in: int, m_out: int, xs: U64Array) -> U64Array:
    """Party party's shares of f_j(xs[j]) for the concatenated keys (ezrt_dcf_eval_batch)."""
    outs = np.zeros(len(xs), dtype=np.uint64)
    status = load().ezrt_dcf_eval_batch(
        party, u8(keys), len(keys), n_in, m_out, u64(xs), u64(outs), len(xs)
    )
    check("ezrt_dcf_eval_batch", status)
    return outs
