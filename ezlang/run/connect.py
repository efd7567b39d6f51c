"""Connection set-up between the three roles: who listens, who connects, and the handshakes.

Why: every pair of roles needs one channel (SERVER–CLIENT for the online phase, DEALER–SERVER
and DEALER–CLIENT for correlated randomness), and roles start in any order. The topology
(docs/running.md) orders the roles SERVER, DEALER, CLIENT; each listens for the roles after it
and connects to the roles before it:

    SERVER  --listen A                       accepts DEALER and CLIENT on A
    DEALER  --listen B  --connect A          connects to SERVER, accepts CLIENT on B
    CLIENT  --connect A --dealer B           connects to SERVER and to DEALER

No role waits for a role after it before it has finished with the roles before it, so the
set-up cannot deadlock; connecting retries until the timeout, so start order does not matter.

Assumes: the runtime library (ezlang.runtime_lib) with the channel functions of ezrt.h.
Guarantees: `open_links` returns one handshaken channel per peer (each side has checked the
protocol version, the roles, the bit width and the program hash), or raises SetupError with the
runtime's message, which names both sides' values on a mismatch; channels opened before a
failure are closed. A serving role (`ezlang serve`) waits `wait_ms` for its peers to arrive
instead of `timeout_ms`, since a server waits for clients as long as it runs.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Optional

from ezlang import runtime_lib as rl

ROLE_NAMES = {rl.ROLE_SERVER: "server", rl.ROLE_CLIENT: "client", rl.ROLE_DEALER: "dealer"}
ROLE_NUMBERS = {name: number for number, name in ROLE_NAMES.items()}
_ERROR_BYTES = 512


class SetupError(RuntimeError):
    """Connecting or handshaking failed; the message says with whom and why."""


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """HOST:PORT, or [IPv6]:PORT; raises ValueError with a message for the command line."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (a port is 0-65535)")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host:
        raise ValueError(f"{text!r} has no host (write e.g. 127.0.0.1:{port})")
    return Address(host, int(port))


@dataclass(frozen=True)
class Endpoints:
    """--listen, --connect (the SERVER's address) and --dealer (the DEALER's address)."""

    listen: Optional[Address] = None
    server: Optional[Address] = None
    dealer: Optional[Address] = None


@dataclass
class Links:
    """One role's open channels, by peer role number."""

    channels: dict[int, ctypes.c_void_p] = field(default_factory=dict)

    def channel(self, peer: int) -> ctypes.c_void_p:
        return self.channels[peer]

    def set_phase(self, phase: str) -> None:
        for channel in self.channels.values():
            rl.load().ezrt_channel_set_phase(channel, phase.encode())

    def stats(self) -> dict[int, rl.NetStats]:
        out = {}
        for peer, channel in self.channels.items():
            counters = rl.NetStats()
            rl.load().ezrt_channel_stats(channel, ctypes.byref(counters))
            out[peer] = counters
        return out

    def errors(self) -> list[str]:
        """The failure messages of the channels that failed ("client disconnected during ...")."""
        found = (rl.load().ezrt_channel_error(channel) for channel in self.channels.values())
        return [message.decode() for message in found if message]

    def close(self) -> None:
        for channel in self.channels.values():
            rl.load().ezrt_close(channel)
        self.channels.clear()


def hello(role: int, bitlen: int, program_hash: bytes, version: int) -> rl.Hello:
    mine = rl.Hello(protocol_version=version, role=role, bitlen=bitlen)
    ctypes.memmove(mine.program_hash, program_hash, 32)
    return mine


def open_links(mine: rl.Hello, endpoints: Endpoints, timeout_ms: int, wait_ms: Optional[int] = None) -> Links:
    """`wait_ms` (default `timeout_ms`): how long the server and the dealer wait for a peer to
    arrive; the client always connects within `timeout_ms`."""
    links = Links()
    try:
        _SETUP[mine.role](links, mine, endpoints, timeout_ms, wait_ms or timeout_ms)
    except BaseException:
        links.close()
        raise
    for channel in links.channels.values():
        rl.load().ezrt_channel_set_timeout(channel, timeout_ms)
    return links


def _server(links: Links, mine: rl.Hello, endpoints: Endpoints, timeout_ms: int, wait_ms: int) -> None:
    listener = _listen(_required(endpoints.listen, "--listen"))
    try:
        for _ in range(2):
            channel = _accept(listener, rl.ROLE_ANY, wait_ms, "a client or dealer")
            peer = _handshake(channel, mine)
            if peer in links.channels:
                rl.load().ezrt_close(channel)
                raise SetupError(f"a second {ROLE_NAMES[peer]} connected; expected one client and one dealer")
            links.channels[peer] = channel
    finally:
        rl.load().ezrt_listener_close(listener)


def _dealer(links: Links, mine: rl.Hello, endpoints: Endpoints, timeout_ms: int, wait_ms: int) -> None:
    listener = _listen(_required(endpoints.listen, "--listen"))
    try:
        server = _connect(_required(endpoints.server, "--connect"), rl.ROLE_SERVER, wait_ms)
        _handshake(server, mine)
        links.channels[rl.ROLE_SERVER] = server
        client = _accept(listener, rl.ROLE_CLIENT, wait_ms, "the client")
        _handshake(client, mine)
        links.channels[rl.ROLE_CLIENT] = client
    finally:
        rl.load().ezrt_listener_close(listener)


def _client(links: Links, mine: rl.Hello, endpoints: Endpoints, timeout_ms: int, _wait_ms: int) -> None:
    for peer, address, flag in ((rl.ROLE_SERVER, endpoints.server, "--connect"),
                                (rl.ROLE_DEALER, endpoints.dealer, "--dealer")):
        channel = _connect(_required(address, flag), peer, timeout_ms)
        _handshake(channel, mine)
        links.channels[peer] = channel


_SETUP = {rl.ROLE_SERVER: _server, rl.ROLE_DEALER: _dealer, rl.ROLE_CLIENT: _client}


def _required(address: Optional[Address], flag: str) -> Address:
    if address is None:
        raise SetupError(f"this role needs {flag} HOST:PORT")
    return address


def _listen(address: Address) -> ctypes.c_void_p:
    listener, err = ctypes.c_void_p(), ctypes.create_string_buffer(_ERROR_BYTES)
    status = rl.load().ezrt_listen(address.host.encode(), address.port, ctypes.byref(listener), err, len(err))
    if status != rl.EZRT_OK:
        raise SetupError(f"cannot listen on {address}: {err.value.decode()}")
    return listener


def _accept(listener: ctypes.c_void_p, peer: int, timeout_ms: int, who: str) -> ctypes.c_void_p:
    channel, err = ctypes.c_void_p(), ctypes.create_string_buffer(_ERROR_BYTES)
    status = rl.load().ezrt_accept(listener, peer, timeout_ms, ctypes.byref(channel), err, len(err))
    if status != rl.EZRT_OK:
        port = rl.load().ezrt_listener_port(listener)
        raise SetupError(f"waiting for {who} on port {port}: {err.value.decode()}")
    return channel


def _connect(address: Address, peer: int, timeout_ms: int) -> ctypes.c_void_p:
    channel, err = ctypes.c_void_p(), ctypes.create_string_buffer(_ERROR_BYTES)
    status = rl.load().ezrt_connect(address.host.encode(), address.port, peer, timeout_ms, ctypes.byref(channel),
                                    err, len(err))
    if status != rl.EZRT_OK:
        raise SetupError(err.value.decode() or f"could not connect to {ROLE_NAMES[peer]} at {address}")
    return channel


def _handshake(channel: ctypes.c_void_p, mine: rl.Hello) -> int:
    """Runs the handshake; returns the peer's role. A refused channel is closed here."""
    theirs, err = rl.Hello(), ctypes.create_string_buffer(_ERROR_BYTES)
    status = rl.load().ezrt_handshake(channel, ctypes.byref(mine), ctypes.byref(theirs), err, len(err))
    if status != rl.EZRT_OK:
        rl.load().ezrt_close(channel)
        raise SetupError(f"handshake failed: {err.value.decode() or rl.strerror(status)}")
    return int(theirs.role)
