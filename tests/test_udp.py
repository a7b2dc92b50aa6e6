"""netkit.udp: UdpEndpoint unicast, connected, sizes, deadlines, batches and errors."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _resolver_util import Refusing
from netkit._core.sockaddr import endpoint as sender_endpoint
from netkit.addr import Endpoint
from netkit.errors import (
    AddressError,
    ConnectionClosed,
    ConnectionRefused,
    FrameTooLarge,
    LookupFailed,
    NetkitError,
    NetkitTimeout,
)
from netkit.lookup import use_resolver
from netkit.options import SocketOptions
from netkit.testing import fake_resolver
from netkit.udp import (
    MAX_PAYLOAD_IPV4,
    MAX_PAYLOAD_IPV6,
    SAFE_PAYLOAD,
    Datagram,
    UdpEndpoint,
)

LOOPBACKS = ["127.0.0.1", "::1"]
# Generous bound for "returns within its deadline" on a shared 2-core machine.
SLACK = 2.0


@pytest.fixture(params=LOOPBACKS)
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[UdpEndpoint, UdpEndpoint]]:
    with UdpEndpoint.bind(request.param, 0) as a, UdpEndpoint.bind(request.param, 0) as b:
        yield a, b


def closed_port(host: str) -> int:
    """A port with (almost certainly) nothing listening: bound, then released."""
    with UdpEndpoint.bind(host, 0) as ep:
        return ep.address.port


class SpySocket:
    """Stands in for the endpoint's socket and records every send system call."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.calls: list[str] = []

    def sendto(self, *args: Any) -> int:
        self.calls.append("sendto")
        return self.real.sendto(*args)

    def send(self, *args: Any) -> int:
        self.calls.append("send")
        return self.real.send(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def spy_on(ep: UdpEndpoint) -> SpySocket:
    spy = SpySocket(ep.socket)
    ep._sock = spy  # type: ignore[assignment]
    return spy


# ---------------------------------------------------------------------------------------
# Round trips


def test_round_trip_with_every_target_form(pair: tuple[UdpEndpoint, UdpEndpoint]) -> None:
    a, b = pair
    target = a.address
    assert target.port != 0
    assert isinstance(target, Endpoint)
    b.sendto(b"endpoint", target)
    b.sendto(b"tuple", (target.host, target.port))
    b.sendto(bytearray(b"text"), str(target))
    b.sendto(memoryview(b"view"), target)
    got = [a.recvfrom(timeout=5) for _ in range(4)]
    assert [d.data for d in got] == [b"endpoint", b"tuple", b"text", b"view"]
    for d in got:
        assert isinstance(d, Datagram)
        assert type(d.data) is bytes
        assert d.sender == b.address
    # Reply to the sender exactly as received.
    a.sendto(got[0].data.upper(), got[0].sender)
    assert b.recvfrom(timeout=5) == Datagram(b"ENDPOINT", a.address)


def test_empty_datagram_round_trips(pair: tuple[UdpEndpoint, UdpEndpoint]) -> None:
    a, b = pair
    b.sendto(b"", a.address)
    assert a.recvfrom(max_size=0, timeout=5) == Datagram(b"", b.address)


@given(payload=st.binary(min_size=0, max_size=SAFE_PAYLOAD), v6=st.booleans())
def test_any_safe_payload_round_trips_unchanged(payload: bytes, v6: bool) -> None:
    host = "::1" if v6 else "127.0.0.1"
    with UdpEndpoint.bind(host) as a, UdpEndpoint.connect(host, a.address.port) as b:
        b.send(payload)
        got = a.recvfrom(max_size=SAFE_PAYLOAD, timeout=5)
        assert got.data == payload
        assert got.sender == b.address


def test_largest_datagrams_round_trip() -> None:
    for host, limit in (("127.0.0.1", MAX_PAYLOAD_IPV4), ("::1", MAX_PAYLOAD_IPV6)):
        opts = SocketOptions(recv_buffer=1 << 18)
        with UdpEndpoint.bind(host, options=opts) as a, UdpEndpoint.bind(host) as b:
            payload = bytes(range(256)) * (limit // 256) + b"z" * (limit % 256)
            b.sendto(payload, a.address)
            assert a.recv(timeout=5) == payload


def test_dual_stack_endpoint_talks_to_ipv4() -> None:
    with UdpEndpoint.bind("::", 0) as server, UdpEndpoint.bind("127.0.0.1") as client:
        assert server.family == socket.AF_INET6
        client.sendto(b"ping", ("127.0.0.1", server.address.port))
        got = server.recvfrom(timeout=5)
        assert got.sender == Endpoint("::ffff:127.0.0.1", client.address.port)
        server.sendto(b"pong", got.sender)  # mapped address, as received
        server.sendto(b"pong2", client.address)  # a plain IPv4 endpoint works too
        assert client.recv(timeout=5) == b"pong"
        assert client.recv(timeout=5) == b"pong2"


def test_connected_endpoint_only_hears_its_peer() -> None:
    with (
        UdpEndpoint.bind("127.0.0.1") as peer,
        UdpEndpoint.bind("127.0.0.1") as stranger,
    ):
        with UdpEndpoint.connect("127.0.0.1", peer.address.port) as conn:
            assert conn.remote_address == peer.address
            stranger.sendto(b"noise", conn.address)
            peer.sendto(b"signal", conn.address)
            assert conn.recv(timeout=5) == b"signal"
            conn.send(b"reply")
            assert peer.recvfrom(timeout=5) == Datagram(b"reply", conn.address)


def test_connect_by_hostname_and_with_source() -> None:
    with UdpEndpoint.bind("127.0.0.1") as server:
        source = ("127.0.0.1", closed_port("127.0.0.1"))
        try:
            conn = UdpEndpoint.connect("localhost", server.address.port, source=source)
        except OSError as exc:  # the port was taken meanwhile: vanishingly rare
            pytest.skip(f"source port taken: {exc}")
        with conn:
            assert conn.address == Endpoint(*source)
            conn.send(b"hi")
            assert server.recvfrom(timeout=5).sender == Endpoint(*source)


def test_sender_addresses_match_endpoint() -> None:
    for addr in (
        ("127.0.0.1", 5),
        ("::1", 65535, 0, 0),
        ("::ffff:127.0.0.1", 80, 0, 0),
        ("fe80::1", 9, 0, 3),
        ("2001:db8::1", 1, 0, 0),
    ):
        fast = sender_endpoint(addr)
        slow = Endpoint.from_sockaddr(addr)
        assert fast == slow
        assert hash(fast) == hash(slow)
        assert str(fast) == str(slow)
    # inet_ntop's "::1.2.3.4" is not canonical text: it must be fixed, not trusted.
    assert sender_endpoint(("::1.2.3.4", 7, 0, 0)) == Endpoint("::102:304", 7)


# ---------------------------------------------------------------------------------------
# Sizes


# timeout=None takes the blocking fast path, a deadline the poll path: both must detect
# truncation. (The datagrams are sent first, so a blocking receive has them to read.)
deadline_or_none = pytest.mark.parametrize("timeout", [5.0, None], ids=["deadline", "blocking"])


@deadline_or_none
def test_oversized_datagram_raises_and_is_dropped(
    pair: tuple[UdpEndpoint, UdpEndpoint], timeout: float | None
) -> None:
    a, b = pair
    b.sendto(b"x" * 2000, a.address)
    b.sendto(b"next", a.address)
    with pytest.raises(FrameTooLarge) as info:
        a.recvfrom(max_size=1000, timeout=timeout)
    assert info.value.size == 2000
    assert info.value.limit == 1000
    assert "2000" in str(info.value)
    # The endpoint stays usable and the oversized datagram is gone.
    assert a.recvfrom(max_size=1000, timeout=timeout).data == b"next"
    # A datagram of exactly max_size passes.
    b.sendto(b"y" * 1000, a.address)
    assert a.recvfrom(max_size=1000, timeout=timeout).data == b"y" * 1000


@deadline_or_none
def test_oversized_datagram_on_connected_recv(timeout: float | None) -> None:
    with UdpEndpoint.bind("127.0.0.1") as server:
        with UdpEndpoint.connect("127.0.0.1", server.address.port) as conn:
            server.sendto(b"z" * 10, conn.address)
            server.sendto(b"ok", conn.address)
            with pytest.raises(FrameTooLarge) as info:
                conn.recv(max_size=9, timeout=timeout)
            assert (info.value.size, info.value.limit) == (10, 9)
            assert conn.recv(max_size=9, timeout=timeout) == b"ok"


@pytest.mark.parametrize(
    ("host", "limit"), [("127.0.0.1", MAX_PAYLOAD_IPV4), ("::1", MAX_PAYLOAD_IPV6)]
)
def test_oversized_send_is_refused_before_any_syscall(host: str, limit: int) -> None:
    assert (MAX_PAYLOAD_IPV4, MAX_PAYLOAD_IPV6) == (65507, 65527)
    with UdpEndpoint.bind(host) as a, UdpEndpoint.bind(host) as b:
        spy = spy_on(b)
        too_big = b"x" * (limit + 1)
        for target in (a.address, str(a.address), (a.address.host, a.address.port)):
            with pytest.raises(FrameTooLarge) as info:
                b.sendto(too_big, target)
            assert (info.value.size, info.value.limit) == (limit + 1, limit)
        with pytest.raises(FrameTooLarge):
            b.sendto(memoryview(too_big), a.address)
        with pytest.raises(FrameTooLarge):
            b.send_many([(b"ok", a.address), (too_big, a.address)])
        assert spy.calls == []
        with UdpEndpoint.connect(host, a.address.port) as conn:
            conn_spy = spy_on(conn)
            with pytest.raises(FrameTooLarge):
                conn.send(too_big)
            with pytest.raises(FrameTooLarge):
                conn.send_many([b"ok", too_big])
            assert conn_spy.calls == []


def test_ipv4_limit_applies_to_mapped_addresses_on_ipv6_endpoint() -> None:
    with UdpEndpoint.bind("::") as server, UdpEndpoint.bind("127.0.0.1") as client:
        spy = spy_on(server)
        for target in (client.address, Endpoint("::ffff:127.0.0.1", client.address.port)):
            with pytest.raises(FrameTooLarge) as info:
                server.sendto(b"x" * (MAX_PAYLOAD_IPV4 + 1), target)
            assert info.value.limit == MAX_PAYLOAD_IPV4
        assert spy.calls == []


# ---------------------------------------------------------------------------------------
# Connected endpoints and ICMP errors


@pytest.mark.parametrize("host", LOOPBACKS)
def test_connected_endpoint_reports_refusal(host: str) -> None:
    with UdpEndpoint.connect(host, closed_port(host)) as conn:
        conn.send(b"anyone?")
        with pytest.raises(ConnectionRefused) as info:
            conn.recv(timeout=5)
        assert isinstance(info.value, ConnectionRefusedError)
        assert isinstance(info.value, NetkitError)
        assert str(conn.remote_address) in str(info.value)
        # The error is reported once; the endpoint is still usable afterwards.
        with pytest.raises(NetkitTimeout):
            conn.recv(timeout=0.05)


def test_refusal_also_surfaces_on_next_send() -> None:
    with UdpEndpoint.connect("127.0.0.1", closed_port("127.0.0.1")) as conn:
        conn.send(b"one")
        with pytest.raises(ConnectionRefused):
            # Loopback delivers the ICMP error during the first send; the next call
            # (this send, or a receive) reports it.
            conn.send(b"two")


# ---------------------------------------------------------------------------------------
# Deadlines


def test_recvfrom_timeout_is_a_deadline(pair: tuple[UdpEndpoint, UdpEndpoint]) -> None:
    a, _ = pair
    start = time.monotonic()
    with pytest.raises(NetkitTimeout):
        a.recvfrom(timeout=0.2)
    elapsed = time.monotonic() - start
    assert 0.19 <= elapsed < 0.2 + SLACK


def test_connected_timeout_holds_while_strangers_flood() -> None:
    with UdpEndpoint.bind("127.0.0.1") as peer, UdpEndpoint.bind("127.0.0.1") as stranger:
        with UdpEndpoint.connect("127.0.0.1", peer.address.port) as conn:
            stop = threading.Event()

            def flood() -> None:
                deadline = time.monotonic() + 10
                while not stop.is_set() and time.monotonic() < deadline:
                    stranger.sendto(b"noise", conn.address)

            thread = threading.Thread(target=flood)
            thread.start()
            try:
                start = time.monotonic()
                with pytest.raises(NetkitTimeout):
                    conn.recv(timeout=0.3)
                elapsed = time.monotonic() - start
            finally:
                stop.set()
                thread.join(10)
            assert 0.29 <= elapsed < 0.3 + SLACK


def test_zero_timeout_polls(pair: tuple[UdpEndpoint, UdpEndpoint]) -> None:
    a, b = pair
    with pytest.raises(NetkitTimeout):
        a.recvfrom(timeout=0)
    b.sendto(b"now", a.address)
    # Loopback delivery is synchronous: the datagram is queued when sendto returns.
    assert a.recvfrom(timeout=0).data == b"now"


def test_timeout_then_blocking_call_mixes_modes(pair: tuple[UdpEndpoint, UdpEndpoint]) -> None:
    a, b = pair
    with pytest.raises(NetkitTimeout):
        a.recvfrom(timeout=0.01)
    b.sendto(b"one", a.address)
    assert a.recvfrom().data == b"one"  # back in blocking mode
    b.sendto(b"two", a.address)
    assert a.recv_many(5, timeout=5)[0].data == b"two"
    b.sendto(b"three", a.address)
    assert a.recv() == b"three"


def test_default_timeout_from_options() -> None:
    with UdpEndpoint.bind("127.0.0.1", options=SocketOptions(timeout=0.1)) as ep:
        assert ep.socket.gettimeout() is None  # the endpoint keeps the socket blocking
        start = time.monotonic()
        with pytest.raises(NetkitTimeout):
            ep.recvfrom()
        assert time.monotonic() - start < 0.1 + SLACK


@pytest.mark.parametrize(("value", "error"), [(-1, ValueError), ("1", TypeError)])
def test_bad_timeout_values(value: Any, error: type[Exception]) -> None:
    with UdpEndpoint.bind() as ep, pytest.raises(error):
        ep.recvfrom(timeout=value)


# ---------------------------------------------------------------------------------------
# Batches


def test_send_many_and_recv_many_keep_order_and_bounds(
    pair: tuple[UdpEndpoint, UdpEndpoint],
) -> None:
    a, b = pair
    payloads = [b"%03d" % i for i in range(50)]
    assert b.send_many((p, a.address) for p in payloads) == 50
    received: list[Datagram] = []
    while len(received) < 50:
        batch = a.recv_many(16, timeout=5)
        assert 1 <= len(batch) <= 16
        received.extend(batch)
    assert [d.data for d in received] == payloads
    assert {d.sender for d in received} == {b.address}
    # Echo a batch back by handing the datagrams themselves to send_many.
    b.sendto(b"a", a.address)
    b.sendto(b"b", a.address)
    echo = a.recv_many(2, timeout=5)
    assert a.send_many(echo) == 2
    assert [d.data for d in b.recv_many(10, timeout=5)] in ([b"a", b"b"], [b"a"])


def test_recv_many_times_out_when_nothing_comes(pair: tuple[UdpEndpoint, UdpEndpoint]) -> None:
    a, _ = pair
    start = time.monotonic()
    with pytest.raises(NetkitTimeout):
        a.recv_many(8, timeout=0.2)
    assert 0.19 <= time.monotonic() - start < 0.2 + SLACK


def test_recv_many_defers_an_oversized_datagram(pair: tuple[UdpEndpoint, UdpEndpoint]) -> None:
    a, b = pair
    b.send_many([(b"1", a.address), (b"2" * 100, a.address), (b"3", a.address)])
    assert [d.data for d in a.recv_many(10, max_size=10, timeout=5)] == [b"1"]
    with pytest.raises(FrameTooLarge):
        a.recvfrom(max_size=10, timeout=5)
    assert [d.data for d in a.recv_many(10, max_size=10, timeout=5)] == [b"3"]


def test_connected_send_many() -> None:
    with UdpEndpoint.bind("::1") as server:
        with UdpEndpoint.connect("::1", server.address.port) as conn:
            assert conn.send_many([b"a", bytearray(b"b"), memoryview(b"c")]) == 3
            got: list[Datagram] = []
            while len(got) < 3:
                got.extend(server.recv_many(3, timeout=5))
            assert [d.data for d in got] == [b"a", b"b", b"c"]


@pytest.mark.parametrize(
    ("count", "error"), [(0, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_recv_many_bad_counts(count: Any, error: type[Exception]) -> None:
    with UdpEndpoint.bind() as ep, pytest.raises(error):
        ep.recv_many(count, timeout=0)


# ---------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "target",
    [
        "127.1:80",
        "999.1.1.1:80",
        "localhost",
        "[::1]",
        ("127.0.0.1", 70000),
        ("0x7f000001", 80),
        ("127.0.0.1", 0),
        Endpoint("127.0.0.1", 0),
        "",
    ],
)
def test_bad_targets_raise_address_error(target: Any) -> None:
    with UdpEndpoint.bind("127.0.0.1") as ep:
        spy = spy_on(ep)
        with pytest.raises(AddressError):
            ep.sendto(b"x", target)
        assert spy.calls.count("sendto") <= 1  # a port-0 Endpoint reaches the kernel once


@pytest.mark.parametrize("target", [["127.0.0.1", 80], ("127.0.0.1", "80"), 80, None, ("a",)])
def test_wrong_target_types_raise_type_error(target: Any) -> None:
    with UdpEndpoint.bind() as ep, pytest.raises(TypeError):
        ep.sendto(b"x", target)


def test_wrong_data_type() -> None:
    with UdpEndpoint.bind() as ep, pytest.raises(TypeError):
        ep.sendto("text", ("127.0.0.1", 9))  # type: ignore[arg-type]


def test_ipv6_target_on_ipv4_endpoint() -> None:
    with UdpEndpoint.bind("127.0.0.1") as ep, pytest.raises(AddressError, match="IPv6"):
        ep.sendto(b"x", "[::1]:9")


def test_bind_and_connect_refuse_bad_input() -> None:
    with pytest.raises(AddressError):
        UdpEndpoint.bind("127.1", 0)
    with pytest.raises(AddressError):
        UdpEndpoint.bind("127.0.0.1", 65536)
    with pytest.raises(TypeError):
        UdpEndpoint.bind("127.0.0.1", "0")  # type: ignore[arg-type]
    with pytest.raises(AddressError):
        UdpEndpoint.connect("127.0.0.1", 0)
    with pytest.raises(TypeError):
        UdpEndpoint.bind(b"127.0.0.1", 0)  # type: ignore[arg-type]
    # .invalid names fail at once, as in netkit.lookup.resolve: no resolver is asked.
    with use_resolver(Refusing()):
        with pytest.raises(LookupFailed, match=r"\.invalid domain never resolves"):
            UdpEndpoint.connect("no-such-host.invalid", 53)
        with UdpEndpoint.bind() as ep:
            with pytest.raises(LookupFailed, match=r"\.invalid domain never resolves"):
                ep.sendto(b"x" * (MAX_PAYLOAD_IPV4 + 1), "no-such-host.invalid:53")
    # Other unknown names fail as the resolver says.
    with fake_resolver():
        with pytest.raises(LookupFailed, match=r"'no-such-host\.test'"):
            UdpEndpoint.connect("no-such-host.test", 53)


def test_send_on_unconnected_endpoint() -> None:
    with UdpEndpoint.bind() as ep, pytest.raises(AddressError, match="sendto"):
        ep.send(b"x")


def test_closed_endpoint_raises_connection_closed() -> None:
    ep = UdpEndpoint.bind("127.0.0.1")
    target = ep.address
    ep.close()
    ep.close()  # idempotent
    assert ep.closed
    assert repr(ep) == "<UdpEndpoint closed>"
    calls: list[Callable[[], object]] = [
        lambda: ep.recvfrom(),
        lambda: ep.recvfrom(timeout=1),
        lambda: ep.recv(),
        lambda: ep.recv_many(4),
        lambda: ep.sendto(b"x", target),
        lambda: ep.sendto(b"x", str(target)),
        lambda: ep.send(b"x"),
        lambda: ep.send_many([b"x"]),
        lambda: ep.address,
        lambda: ep.join_multicast("239.255.0.1"),
        lambda: ep.multicast_ttl,
    ]
    for call in calls:
        with pytest.raises(ConnectionClosed, match="closed"):
            call()


def _wait_until_blocked(thread: threading.Thread) -> None:
    """Wait (bounded) until *thread* sleeps in the kernel, i.e. is blocked in recv."""
    path = f"/proc/self/task/{thread.native_id}/stat"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "S":
            return
        time.sleep(0.001)  # polling a condition, not synchronising on time


@pytest.mark.parametrize("method", ["recvfrom", "recv", "recv_many", "recvfrom_deadline"])
def test_close_wakes_a_blocked_receiver(method: str) -> None:
    ep = UdpEndpoint.bind("127.0.0.1")
    errors: list[BaseException] = []
    calls: dict[str, Callable[[], object]] = {
        "recvfrom": lambda: ep.recvfrom(),
        "recv": lambda: ep.recv(),
        "recv_many": lambda: ep.recv_many(8),
        "recvfrom_deadline": lambda: ep.recvfrom(timeout=30),
    }

    def receive() -> None:
        try:
            calls[method]()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    _wait_until_blocked(thread)
    ep.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], ConnectionClosed)


def test_no_fd_leak_over_many_cycles() -> None:
    def count() -> int:
        return len(os.listdir("/proc/self/fd"))

    with UdpEndpoint.bind("127.0.0.1") as taken:
        busy = taken.address.port
        before = count()
        for i in range(1000):
            if i % 4 == 0:
                ep = UdpEndpoint.bind("127.0.0.1", 0)
            elif i % 4 == 1:
                ep = UdpEndpoint.connect("::1", 9)
            elif i % 4 == 2:
                with pytest.raises(OSError, match="cannot bind"):
                    UdpEndpoint.bind("127.0.0.1", busy)  # fails: its socket must not leak
                continue
            else:
                ep = UdpEndpoint.bind("::1", 0)
                with pytest.raises(NetkitTimeout):
                    ep.recv_many(2, timeout=0)
            with ep:
                ep.close()
        assert count() == before


# ---------------------------------------------------------------------------------------
# Wrapping sockets, options


def test_wrap_existing_socket_keeps_its_timeout_as_default() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    with UdpEndpoint(sock) as ep:
        assert ep.socket is sock
        assert ep.fileno() == sock.fileno()
        assert sock.gettimeout() is None
        with pytest.raises(NetkitTimeout):
            ep.recvfrom()
    assert sock.fileno() == -1


def test_wrap_refuses_non_udp_sockets() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        pytest.raises(ValueError, match="SOCK_DGRAM"),
    ):
        UdpEndpoint(tcp)
    with pytest.raises(TypeError):
        UdpEndpoint("socket")  # type: ignore[arg-type]


def test_options_are_applied_and_read_back() -> None:
    opts = SocketOptions(reuse_addr=True, broadcast=True, ttl=7)
    with UdpEndpoint.bind("127.0.0.1", options=opts) as ep:
        read = SocketOptions.read(ep.socket)
        assert (read.reuse_addr, read.broadcast, read.ttl) == (True, True, 7)
    with UdpEndpoint.bind("::", options=SocketOptions(v6only=True)) as ep:
        assert SocketOptions.read(ep.socket).v6only is True
    with UdpEndpoint.bind("::") as ep:
        assert SocketOptions.read(ep.socket).v6only is False  # dual stack by default
    with pytest.raises(TypeError):
        UdpEndpoint.bind(options={"broadcast": True})  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "error"), [(-1, ValueError), ("8", TypeError)])
def test_bad_max_size(value: Any, error: type[Exception]) -> None:
    with UdpEndpoint.bind() as ep, pytest.raises(error):
        ep.recvfrom(max_size=value, timeout=0)


def test_datagram_is_a_frozen_typed_tuple(pair: tuple[UdpEndpoint, UdpEndpoint]) -> None:
    a, b = pair
    b.sendto(b"x", a.address)
    got = a.recvfrom(timeout=5)
    assert type(got) is Datagram
    assert got._fields == ("data", "sender")
    with pytest.raises(AttributeError):
        got.data = b"y"  # type: ignore[misc]
    assert hash(got) == hash(Datagram(b"x", b.address))


def test_refusal_does_not_lose_queued_datagrams() -> None:
    with UdpEndpoint.bind("127.0.0.1") as server:
        with UdpEndpoint.connect("127.0.0.1", server.address.port) as conn:
            server.sendto(b"first", conn.address)
            server.close()  # now the peer's port is closed
            conn.send(b"refused")  # ICMP port unreachable comes back at once
            # Linux reports the socket error before queued data; either way the
            # error comes once and the datagram is still there afterwards.
            with pytest.raises(ConnectionRefused):
                conn.recv_many(8, timeout=5)
            assert [d.data for d in conn.recv_many(8, timeout=5)] == [b"first"]
            with pytest.raises(NetkitTimeout):
                conn.recv(timeout=0)


class FullBufferSocket(SpySocket):
    """The first send of each kind fails with EAGAIN, as with a full send buffer."""

    def __init__(self, real: socket.socket) -> None:
        super().__init__(real)
        self.failed: set[str] = set()

    def _maybe_fail(self, kind: str) -> None:
        self.calls.append(kind)
        if kind not in self.failed:
            self.failed.add(kind)
            raise BlockingIOError(11, "Resource temporarily unavailable")

    def sendto(self, *args: Any) -> int:
        self._maybe_fail("sendto")
        return self.real.sendto(*args)

    def send(self, *args: Any) -> int:
        self._maybe_fail("send")
        return self.real.send(*args)


def test_full_send_buffer_is_waited_out_not_raised() -> None:
    with UdpEndpoint.bind("127.0.0.1") as server:
        with UdpEndpoint.connect("127.0.0.1", server.address.port) as conn:
            for ep in (server, conn):
                ep._sock = FullBufferSocket(ep.socket)  # type: ignore[assignment]
            server.sendto(b"to conn", conn.address)
            assert conn.recv(timeout=5) == b"to conn"
            conn.send(b"to server")
            server.sendto(b"text target", str(conn.address))
            assert server.recvfrom(timeout=5).data == b"to server"
            assert conn.recv(timeout=5) == b"text target"
