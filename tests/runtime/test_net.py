"""Channels between roles (runtime/src/net*.c) through ctypes, over real loopback sockets.

Each test opens a listener on a free port, connects to it and runs one side in a thread (ctypes
releases the GIL during a call). Misbehaving peers are played by plain Python sockets, which
can send what no ezrt channel would: half a frame, garbage, nothing at all."""

from __future__ import annotations

import ctypes
import random
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezlang import runtime_lib as rl
from ezlang.runtime_lib import (
    EZRT_EINVAL,
    EZRT_EPEER,
    EZRT_EPROTOCOL,
    EZRT_ETIMEOUT,
    ROLE_ANY,
    ROLE_CLIENT,
    ROLE_DEALER,
    ROLE_SERVER,
    Hello,
    NetStats,
)

LIB = rl.load()
HOST = b"127.0.0.1"
SHORT_MS = 200
HEADER = 8
MARKER = 0x455A << 48
HASH_A = bytes(range(32))
HASH_B = bytes(range(100, 132))


def err_buf() -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(256)


def in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Starts fn in a thread; returns a function that waits for its result (or exception)."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn)
    pool.shutdown(wait=False)
    return lambda: future.result(timeout=30)


class Listener:
    """An ezrt listener on a free loopback port."""

    def __init__(self, host: bytes = HOST, port: int = 0) -> None:
        handle = ctypes.c_void_p()
        err = err_buf()
        assert LIB.ezrt_listen(host, port, ctypes.byref(handle), err, len(err)) == 0, (
            err.value
        )
        self.handle = handle
        self.port = LIB.ezrt_listener_port(handle)

    def accept(self, peer_role: int, timeout_ms: int = 10_000) -> ctypes.c_void_p:
        ch = ctypes.c_void_p()
        err = err_buf()
        rc = LIB.ezrt_accept(
            self.handle, peer_role, timeout_ms, ctypes.byref(ch), err, len(err)
        )
        assert rc == 0, err.value
        return ch

    def close(self) -> None:
        LIB.ezrt_listener_close(self.handle)


def connect(port: int, peer_role: int, host: bytes = HOST, timeout_ms: int = 10_000):
    ch = ctypes.c_void_p()
    err = err_buf()
    rc = LIB.ezrt_connect(
        host, port, peer_role, timeout_ms, ctypes.byref(ch), err, len(err)
    )
    return rc, ch, err.value.decode()


@pytest.fixture
def pair():
    """A connected (server side, client side) pair of channels, closed afterwards."""
    listener = Listener()
    dialled = in_thread(lambda: connect(listener.port, ROLE_SERVER))
    server = listener.accept(ROLE_CLIENT)
    rc, client, err = dialled()
    assert rc == 0, err
    listener.close()
    yield server, client
    LIB.ezrt_close(server)
    LIB.ezrt_close(client)


@pytest.fixture
def raw_peer():
    """An ezrt channel (server side, expecting a client) whose peer is a plain Python socket."""
    listener = Listener()
    sock = socket.create_connection(("127.0.0.1", listener.port))
    ch = listener.accept(ROLE_CLIENT)
    listener.close()
    LIB.ezrt_channel_set_phase(ch, b"online")
    yield ch, sock
    sock.close()
    LIB.ezrt_close(ch)


def send(ch: ctypes.c_void_p, data: bytes) -> int:
    return LIB.ezrt_send(ch, rl.u8(data), len(data))


def recv(ch: ctypes.c_void_p, n: int) -> tuple[int, bytes]:
    buf = bytearray(n)
    rc = LIB.ezrt_recv(ch, rl.u8(buf), n)
    return rc, bytes(buf)


def stats(ch: ctypes.c_void_p) -> tuple[int, int, int, int, int]:
    s = NetStats()
    assert LIB.ezrt_channel_stats(ch, ctypes.byref(s)) == 0
    return (
        s.rounds,
        s.messages_sent,
        s.messages_received,
        s.bytes_sent,
        s.bytes_received,
    )


def error_of(ch: ctypes.c_void_p) -> str:
    return LIB.ezrt_channel_error(ch).decode()


def frame(payload: bytes) -> bytes:
    return struct.pack("<Q", MARKER | len(payload)) + payload


def hello(
    role: int, *, version: int = 1, bitlen: int = 64, program: bytes = HASH_A
) -> Hello:
    h = Hello(protocol_version=version, role=role, bitlen=bitlen)
    h.program_hash[:] = list(program)
    return h


def handshake(ch: ctypes.c_void_p, mine: Hello) -> tuple[int, Hello, str]:
    theirs = Hello()
    err = err_buf()
    rc = LIB.ezrt_handshake(ch, ctypes.byref(mine), ctypes.byref(theirs), err, len(err))
    return rc, theirs, err.value.decode()


def both_handshake(pair, server_hello: Hello, client_hello: Hello):
    server, client = pair
    other = in_thread(lambda: handshake(client, client_hello))
    return handshake(server, server_hello), other()


# ---- messages ----------------------------------------------------------------------------------

SIZES = [0, 1, 7, 8, 100, 65_535, 65_536, 65_537, 200_003, 1 << 20]


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def test_echo_round_trip_of_every_size(pair):
    server, client = pair

    def echo() -> list[int]:
        codes = []
        for size in SIZES:
            rc, data = recv(client, size)
            codes += [rc, send(client, data)]
        return codes + [LIB.ezrt_flush(client)]

    echoed = in_thread(echo)
    for seed, size in enumerate(SIZES):
        assert send(server, payload(size, seed)) == 0
        assert recv(server, size) == (0, payload(size, seed))
    assert set(echoed()) == {0}


def test_a_batch_of_sends_arrives_in_order(pair):
    server, client = pair
    received = in_thread(lambda: [recv(client, size) for size in SIZES])
    for seed, size in enumerate(SIZES):
        assert send(server, payload(size, seed)) == 0
    assert LIB.ezrt_flush(server) == 0
    assert received() == [(0, payload(size, seed)) for seed, size in enumerate(SIZES)]


def test_counters_count_rounds_messages_and_header_bytes(pair):
    server, client = pair

    def client_side() -> None:
        for n in (3, 5, 0):
            assert recv(client, n)[0] == 0
        assert send(client, b"x" * 10) == 0
        assert send(client, b"y" * 2) == 0
        assert recv(client, 4)[0] == 0

    done = in_thread(client_side)
    for n in (3, 5, 0):
        assert send(server, b"s" * n) == 0
    assert recv(server, 10)[0] == 0
    assert recv(server, 2)[0] == 0
    assert send(server, b"four") == 0
    assert LIB.ezrt_flush(server) == 0
    done()
    assert stats(server) == (2, 4, 2, 3 + 5 + 0 + 4 + 4 * HEADER, 10 + 2 + 2 * HEADER)
    assert stats(client) == (1, 2, 4, 10 + 2 + 2 * HEADER, 3 + 5 + 0 + 4 + 4 * HEADER)


def test_frames_on_the_wire_are_marker_and_length_then_payload(raw_peer):
    ch, sock = raw_peer
    assert send(ch, b"abc") == 0
    assert send(ch, b"") == 0
    assert LIB.ezrt_flush(ch) == 0
    expected = frame(b"abc") + frame(b"")
    received = b""
    while len(received) < len(expected):
        received += sock.recv(64)
    assert received == expected


# ---- handshake ---------------------------------------------------------------------------------


def test_matching_hellos_connect_and_report_the_peer(pair):
    (rc_s, theirs_s, err_s), (rc_c, theirs_c, err_c) = both_handshake(
        pair, hello(ROLE_SERVER), hello(ROLE_CLIENT)
    )
    assert (rc_s, err_s, rc_c, err_c) == (0, "", 0, "")
    assert (theirs_s.role, theirs_s.bitlen, theirs_s.protocol_version) == (
        ROLE_CLIENT,
        64,
        1,
    )
    assert bytes(theirs_c.program_hash) == HASH_A
    assert stats(pair[0]) == stats(pair[1]) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    "server_hello, client_hello, server_msg, client_msg",
    [
        (
            hello(ROLE_SERVER, version=1),
            hello(ROLE_CLIENT, version=2),
            "protocol version differs: this server speaks 1, the client speaks 2",
            "protocol version differs: this client speaks 2, the server speaks 1",
        ),
        (
            hello(ROLE_SERVER, bitlen=64),
            hello(ROLE_CLIENT, bitlen=32),
            "bit width differs: this server uses 64, the client uses 32",
            "bit width differs: this client uses 32, the server uses 64",
        ),
        (
            hello(ROLE_SERVER, program=HASH_A),
            hello(ROLE_CLIENT, program=HASH_B),
            (
                "program hash differs: this server runs 00010203\u20261e1f, the client runs "
                "64656667\u20268283"
            ),
            (
                "program hash differs: this client runs 64656667\u20268283, the server runs "
                "00010203\u20261e1f"
            ),
        ),
    ],
    ids=["version", "bitlen", "program"],
)
def test_a_mismatch_is_refused_on_both_sides_naming_both_values(
    pair, server_hello, client_hello, server_msg, client_msg
):
    (rc_s, _, err_s), (rc_c, _, err_c) = both_handshake(
        pair, server_hello, client_hello
    )
    assert (rc_s, err_s) == (EZRT_EPROTOCOL, server_msg)
    assert (rc_c, err_c) == (EZRT_EPROTOCOL, client_msg)
    assert error_of(pair[0]) == server_msg
    assert send(pair[0], b"after") == EZRT_EPROTOCOL


def test_hashes_that_differ_only_in_the_middle_are_shown_whole(pair):
    other = bytearray(HASH_A)
    other[16] ^= 0xFF
    (rc, _, err), _ = both_handshake(
        pair,
        hello(ROLE_SERVER, program=HASH_A),
        hello(ROLE_CLIENT, program=bytes(other)),
    )
    assert rc == EZRT_EPROTOCOL
    assert (
        err
        == f"program hash differs: this server runs {HASH_A.hex()}, the client runs {other.hex()}"
    )


def test_the_version_is_checked_before_the_other_fields(pair):
    (_, _, err), _ = both_handshake(
        pair, hello(ROLE_SERVER, version=3, bitlen=32), hello(ROLE_CLIENT, version=4)
    )
    assert err == "protocol version differs: this server speaks 3, the client speaks 4"


def test_an_unexpected_role_is_refused(pair):
    (rc, _, err), (rc_dealer, _, _) = both_handshake(
        pair, hello(ROLE_SERVER), hello(ROLE_DEALER)
    )
    assert (rc, err) == (EZRT_EPROTOCOL, "unexpected role: expected client, got dealer")
    # The other side was told to expect a server and got one; it learns of the refusal when
    # the refusing side closes the connection.
    assert rc_dealer == 0


def test_a_role_outside_the_protocol_is_named_by_number(raw_peer):
    ch, sock = raw_peer
    sock.sendall(frame(struct.pack("<IBB", 1, 7, 64) + HASH_A))
    rc, _, err = handshake(ch, hello(ROLE_SERVER))
    assert (rc, err) == (EZRT_EPROTOCOL, "unexpected role: expected client, got role 7")


def test_a_listener_of_any_role_learns_each_peer_from_its_hello():
    listener = Listener()
    roles = {}
    for role in (ROLE_DEALER, ROLE_CLIENT):

        def dial(role=role):
            rc, ch, _ = connect(listener.port, ROLE_SERVER)
            assert rc == 0
            result = handshake(ch, hello(role))
            LIB.ezrt_close(ch)
            return result[0]

        dialled = in_thread(dial)
        ch = listener.accept(ROLE_ANY)
        rc, theirs, _ = handshake(ch, hello(ROLE_SERVER))
        assert rc == 0 and dialled() == 0
        # The peer closed after its handshake; the message names the role its hello announced.
        assert recv(ch, 1)[0] == EZRT_EPEER
        roles[theirs.role] = error_of(ch)
        LIB.ezrt_close(ch)
    listener.close()
    assert roles == {
        ROLE_DEALER: "dealer disconnected during connection phase",
        ROLE_CLIENT: "client disconnected during connection phase",
    }


def test_a_listener_of_any_role_refuses_its_own_role():
    listener = Listener()
    dialled = in_thread(
        lambda: handshake(connect(listener.port, ROLE_SERVER)[1], hello(ROLE_SERVER))
    )
    ch = listener.accept(ROLE_ANY)
    rc, _, err = handshake(ch, hello(ROLE_SERVER))
    dialled()
    listener.close()
    LIB.ezrt_close(ch)
    assert (rc, err) == (
        EZRT_EPROTOCOL,
        "unexpected role: expected client or dealer, got server",
    )


# ---- failing peers -----------------------------------------------------------------------------


def test_a_peer_that_closes_mid_message_is_reported_at_once(raw_peer):
    ch, sock = raw_peer
    sock.sendall(frame(b"0123456789abcdef")[: HEADER + 5])
    sock.close()
    assert recv(ch, 16)[0] == EZRT_EPEER
    assert (
        error_of(ch)
        == "client disconnected in the middle of a message during online phase"
    )


def test_a_peer_that_closes_between_messages_is_reported(raw_peer):
    ch, sock = raw_peer
    sock.close()
    assert recv(ch, 16)[0] == EZRT_EPEER
    assert error_of(ch) == "client disconnected during online phase"


def test_a_silent_peer_times_out_with_the_phase_in_the_message(raw_peer):
    ch, _sock = raw_peer
    assert LIB.ezrt_channel_set_timeout(ch, SHORT_MS) == 0
    assert LIB.ezrt_channel_set_phase(ch, b"setup") == 0
    assert recv(ch, 4)[0] == EZRT_ETIMEOUT
    assert error_of(ch) == "no message from client for 0.2 s during setup phase"


def test_a_peer_that_stops_reading_times_out_the_sender(raw_peer):
    ch, _sock = raw_peer
    assert LIB.ezrt_channel_set_timeout(ch, SHORT_MS) == 0
    big = bytes(1 << 20)
    codes = [send(ch, big) for _ in range(64)]
    assert codes[-1] == EZRT_ETIMEOUT
    assert error_of(ch) == "client accepted no data for 0.2 s during online phase"


def test_garbage_is_a_protocol_error(raw_peer):
    ch, sock = raw_peer
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert recv(ch, 16)[0] == EZRT_EPROTOCOL
    assert error_of(ch) == (
        "malformed message from client during online phase: not an ezlang frame header"
    )


@pytest.mark.parametrize("announced", [15, 17, (1 << 48) - 1])
def test_a_frame_of_another_length_is_a_protocol_error(raw_peer, announced):
    ch, sock = raw_peer
    sock.sendall(struct.pack("<Q", MARKER | announced) + bytes(16))
    assert recv(ch, 16)[0] == EZRT_EPROTOCOL
    assert error_of(ch) == (
        f"malformed message from client during online phase: {announced} bytes, expected 16"
    )


def expected_outcome(wire: bytes, n: int) -> tuple[int, bytes | None]:
    """What receiving n bytes must give when the peer sent `wire` and closed (the buffer's
    contents are unspecified after a failure)."""
    if len(wire) < HEADER:
        return EZRT_EPEER, None
    if struct.unpack("<Q", wire[:HEADER])[0] != MARKER | n:
        return EZRT_EPROTOCOL, None
    if len(wire) < HEADER + n:
        return EZRT_EPEER, None
    return 0, wire[HEADER : HEADER + n]


wires = st.one_of(
    st.binary(max_size=40),
    st.tuples(st.integers(0, 40), st.binary(max_size=40)).map(
        lambda t: frame(t[1])[: t[0] + 8]
    ),
    st.binary(max_size=40).map(frame),
)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(wire=wires, n=st.integers(0, 24))
def test_whatever_a_peer_sends_is_received_or_refused_never_misread(wire, n):
    listener = Listener()
    sock = socket.create_connection(("127.0.0.1", listener.port))
    ch = listener.accept(ROLE_CLIENT)
    listener.close()
    sock.sendall(wire)
    sock.close()
    try:
        rc, data = recv(ch, n)
        assert (rc, data if rc == 0 else None) == expected_outcome(wire, n)
    finally:
        LIB.ezrt_close(ch)


def test_the_first_failure_sticks(raw_peer):
    ch, sock = raw_peer
    sock.close()
    assert recv(ch, 1)[0] == EZRT_EPEER
    assert send(ch, b"more") == EZRT_EPEER
    assert LIB.ezrt_flush(ch) == EZRT_EPEER
    assert recv(ch, 1)[0] == EZRT_EPEER
    assert error_of(ch) == "client disconnected during online phase"


SIGPIPE_SCRIPT = """
import ctypes, signal, socket
from ezlang import runtime_lib as rl
lib = rl.load()
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Python ignores SIGPIPE; a C program would die
listener, ch = ctypes.c_void_p(), ctypes.c_void_p()
assert lib.ezrt_listen(b"127.0.0.1", 0, ctypes.byref(listener), None, 0) == 0
sock = socket.create_connection(("127.0.0.1", lib.ezrt_listener_port(listener)))
assert lib.ezrt_accept(listener, rl.ROLE_CLIENT, 10000, ctypes.byref(ch), None, 0) == 0
sock.close()
big = bytes(1 << 20)
codes = [lib.ezrt_send(ch, rl.u8(big), len(big)) for _ in range(8)]
print(codes[-1], lib.ezrt_channel_error(ch).decode())
"""


def test_sending_to_a_closed_peer_is_an_error_not_a_signal():
    done = subprocess.run(
        [sys.executable, "-c", SIGPIPE_SCRIPT],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (
        0,
        f"{EZRT_EPEER} client disconnected during connection phase\n",
    )


# ---- connecting --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connect_retries_until_a_late_listener_appears():
    port = free_port()
    dialled = in_thread(lambda: connect(port, ROLE_SERVER, timeout_ms=10_000))
    time.sleep(0.3)  # let a few attempts be refused first
    listener = Listener(port=port)
    ch = listener.accept(ROLE_CLIENT)
    rc, client, err = dialled()
    listener.close()
    assert (rc, err) == (0, "")
    assert send(client, b"late") == 0 and LIB.ezrt_flush(client) == 0
    assert recv(ch, 4) == (0, b"late")
    LIB.ezrt_close(ch)
    LIB.ezrt_close(client)


def test_connect_gives_up_after_its_timeout_naming_the_peer():
    port = free_port()
    rc, _, err = connect(port, ROLE_DEALER, timeout_ms=SHORT_MS)
    assert rc == EZRT_ETIMEOUT
    assert (
        err
        == f"could not connect to dealer at 127.0.0.1 port {port} within 0.2 s: Connection refused"
    )


def test_accept_gives_up_after_its_timeout():
    listener = Listener()
    ch = ctypes.c_void_p()
    err = err_buf()
    rc = LIB.ezrt_accept(
        listener.handle, ROLE_DEALER, SHORT_MS, ctypes.byref(ch), err, len(err)
    )
    listener.close()
    assert rc == EZRT_ETIMEOUT
    assert (
        err.value.decode()
        == f"no connection from dealer on port {listener.port} within 0.2 s"
    )


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_loopback_works():
    listener = Listener(host=b"::1")
    dialled = in_thread(lambda: connect(listener.port, ROLE_SERVER, host=b"::1"))
    ch = listener.accept(ROLE_CLIENT)
    rc, client, _ = dialled()
    listener.close()
    assert rc == 0
    assert send(ch, b"v6") == 0 and LIB.ezrt_flush(ch) == 0
    assert recv(client, 2) == (0, b"v6")
    LIB.ezrt_close(ch)
    LIB.ezrt_close(client)


def test_arguments_out_of_range_are_refused_and_leave_the_channel_healthy(pair):
    server, _ = pair
    assert LIB.ezrt_send(server, None, 5) == EZRT_EINVAL
    assert LIB.ezrt_recv(server, None, 5) == EZRT_EINVAL
    assert LIB.ezrt_send(None, None, 0) == EZRT_EINVAL
    assert LIB.ezrt_channel_set_timeout(server, 0) == EZRT_EINVAL
    rc, _, _ = handshake(server, hello(7))
    assert rc == EZRT_EINVAL
    assert error_of(server) == ""
    assert send(server, b"ok") == 0
