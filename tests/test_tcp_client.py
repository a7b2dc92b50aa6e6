"""TcpClient.connect: resolution, Happy Eyeballs, failures, timeouts, options, no leaks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _resolver_util import Refusing, Sockaddrs, stuck
from _tcpconn_util import EchoServer, blackhole, has_ipv6, open_fd_count, wait_for
from netkit import (
    AddressError,
    ConnectFailed,
    Endpoint,
    NetkitTimeout,
    SocketOptions,
    TcpClient,
    TcpConnection,
)
from netkit.lookup import use_resolver
from netkit.tcp.client import ATTEMPT_DELAY, interleave_addresses

needs_ipv6 = pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")


def free_port(family: int = socket.AF_INET) -> int:
    """A port that nothing listens on right now (bound then closed, never listened)."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def resolved_to() -> Iterator[list[tuple[Any, ...]]]:
    """Make every name resolve to the sockaddrs appended to the yielded list (each with
    its own port, whatever port is asked), through the public resolver hook."""
    resolver = Sockaddrs()
    with use_resolver(resolver):
        yield resolver.sockaddrs


@pytest.fixture
def echo4() -> Iterator[EchoServer]:
    with EchoServer("127.0.0.1") as server:
        yield server


@pytest.fixture
def echo6() -> Iterator[EchoServer]:
    if not has_ipv6():
        pytest.skip("no IPv6 loopback")
    with EchoServer("::1") as server:
        yield server


# -- interleave_addresses (pure) --------------------------------------------------------


class A:
    def __init__(self, family: int, name: str) -> None:
        self.family = family
        self.name = name

    def __repr__(self) -> str:
        return self.name


def names(items: list[A]) -> list[str]:
    return [a.name for a in items]


def test_interleave_starts_with_the_first_family() -> None:
    six, four = socket.AF_INET6, socket.AF_INET
    items = [A(six, "6a"), A(six, "6b"), A(six, "6c"), A(four, "4a"), A(four, "4b")]
    assert names(interleave_addresses(items)) == ["6a", "4a", "6b", "4b", "6c"]
    items = [A(four, "4a"), A(six, "6a"), A(six, "6b"), A(six, "6c")]
    assert names(interleave_addresses(items)) == ["4a", "6a", "6b", "6c"]
    items = [A(six, "6a"), A(six, "6b"), A(four, "4a"), A(four, "4b"), A(four, "4c")]
    assert names(interleave_addresses(items, first_family_count=2)) == [
        "6a",
        "6b",
        "4a",
        "4b",
        "4c",
    ]
    assert interleave_addresses([]) == []
    with pytest.raises(ValueError, match="first_family_count"):
        interleave_addresses(items, first_family_count=0)


@given(st.lists(st.sampled_from([socket.AF_INET, socket.AF_INET6]), max_size=12))
def test_interleave_properties(families: list[int]) -> None:
    items = [A(f, str(i)) for i, f in enumerate(families)]
    out = interleave_addresses(items)
    assert sorted(names(out), key=int) == names(items)  # a permutation
    if items:
        assert out[0] is items[0]
    for fam in (socket.AF_INET, socket.AF_INET6):  # each family keeps its order
        assert [a for a in out if a.family == fam] == [a for a in items if a.family == fam]
    # Families alternate until one runs out.
    n = min(families.count(socket.AF_INET), families.count(socket.AF_INET6))
    head = [a.family for a in out[: 2 * n]]
    assert all(head[i] != head[i + 1] for i in range(len(head) - 1))


def test_attempt_delay_is_rfc_8305_recommendation() -> None:
    assert ATTEMPT_DELAY == 0.25


# -- connecting -------------------------------------------------------------------------


def test_connect_ipv4_literal(echo4: EchoServer) -> None:
    with TcpClient.connect("127.0.0.1", echo4.port, timeout=5) as conn:
        assert isinstance(conn, TcpClient)
        assert isinstance(conn, TcpConnection)
        assert conn.remote_address == Endpoint("127.0.0.1", echo4.port)
        conn.sendall(b"hello\n")
        assert conn.readline(timeout=5) == b"hello\n"


@needs_ipv6
@pytest.mark.parametrize("host", ["::1", "[::1]", "0:0::1"])
def test_connect_ipv6_literal(echo6: EchoServer, host: str) -> None:
    with TcpClient.connect(host, echo6.port, timeout=5) as conn:
        assert conn.remote_address == Endpoint("::1", echo6.port)
        conn.send_frame(b"six")
        assert conn.recv_frame(timeout=5) == b"six"


def test_connect_by_name(echo4: EchoServer) -> None:
    with TcpClient.connect("localhost", echo4.port, timeout=5) as conn:
        assert conn.remote_address.host in ("127.0.0.1", "::1")
        conn.sendall(b"x")
        assert conn.recv_exactly(1, timeout=5) == b"x"


def test_connect_without_timeout(echo4: EchoServer) -> None:
    with TcpClient.connect("127.0.0.1", echo4.port) as conn:
        conn.sendall(b"abc")
        assert conn.recv_exactly(3) == b"abc"


@pytest.mark.parametrize(
    ("host", "port", "error"),
    [
        ("127.0.0.1", 0, AddressError),
        ("127.0.0.1", 65536, AddressError),
        ("127.0.0.1", -1, AddressError),
        ("127.0.0.1", "80", TypeError),
        ("127.0.0.1", True, TypeError),
        ("", 80, AddressError),
        ("[127.0.0.1]", 80, AddressError),
        ("127.1", 80, AddressError),
        ("bad host name", 80, AddressError),
        (b"127.0.0.1", 80, TypeError),
    ],
)
def test_connect_argument_errors(host: Any, port: Any, error: type[Exception]) -> None:
    baseline = open_fd_count()
    with pytest.raises(error):
        TcpClient.connect(host, port, timeout=5)
    assert open_fd_count() == baseline


def test_connect_other_argument_errors(echo4: EchoServer) -> None:
    with pytest.raises(TypeError, match="tls"):
        TcpClient.connect("127.0.0.1", echo4.port, tls="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="options"):
        TcpClient.connect("127.0.0.1", echo4.port, options={"nodelay": True})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        TcpClient.connect("127.0.0.1", echo4.port, timeout=-1)
    with pytest.raises(ValueError, match="tls"):
        TcpClient.connect("127.0.0.1", echo4.port, server_hostname="localhost")
    with pytest.raises(TypeError, match="source"):
        TcpClient.connect("127.0.0.1", echo4.port, source="127.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(AddressError, match="source"):
        TcpClient.connect("127.0.0.1", echo4.port, source=("localhost", 0))


# -- failures ---------------------------------------------------------------------------


def test_refused_lists_the_attempt() -> None:
    port = free_port()
    with pytest.raises(ConnectFailed) as info:
        TcpClient.connect("127.0.0.1", port, timeout=5)
    [(endpoint, error)] = info.value.attempts
    assert endpoint == Endpoint("127.0.0.1", port)
    assert isinstance(error, ConnectionRefusedError)
    assert f"127.0.0.1:{port}" in str(info.value)


@needs_ipv6
def test_every_address_failing_lists_every_attempt(resolved_to: list[tuple[Any, ...]]) -> None:
    port = free_port()
    resolved_to += [("127.0.0.1", port), ("::1", port, 0, 0), ("127.0.0.2", port)]
    baseline = open_fd_count()
    with pytest.raises(ConnectFailed) as info:
        TcpClient.connect("example.test", port, timeout=5)
    # Interleaved (IPv4 first, as the resolver said), every address tried, in order.
    assert [ep for ep, _ in info.value.attempts] == [
        Endpoint("127.0.0.1", port),
        Endpoint("::1", port),
        Endpoint("127.0.0.2", port),
    ]
    assert all(isinstance(err, ConnectionRefusedError) for _, err in info.value.attempts)
    assert open_fd_count() == baseline


@needs_ipv6
def test_failures_do_not_leak_fds_over_many_attempts() -> None:
    port = free_port()
    baseline = open_fd_count()
    for host in ["127.0.0.1", "::1"] * 25:
        with pytest.raises(ConnectFailed):
            TcpClient.connect(host, port, timeout=5)
    assert open_fd_count() == baseline


def test_failed_attempts_start_the_next_at_once(
    resolved_to: list[tuple[Any, ...]], echo4: EchoServer
) -> None:
    refused = free_port()
    resolved_to += [("127.0.0.1", refused), ("127.0.0.2", refused), ("127.0.0.1", echo4.port)]
    start = time.monotonic()
    with TcpClient.connect("example.test", 1234, timeout=5) as conn:
        elapsed = time.monotonic() - start
        assert conn.remote_address == Endpoint("127.0.0.1", echo4.port)
    # Refusals are immediate, so the live address is not held back by attempt delays.
    assert elapsed < 2 * ATTEMPT_DELAY


@needs_ipv6
def test_happy_eyeballs_dead_ipv4_live_ipv6(
    resolved_to: list[tuple[Any, ...]], echo6: EchoServer
) -> None:
    with blackhole(socket.AF_INET) as dead:
        resolved_to += [dead, ("::1", echo6.port, 0, 0)]
        baseline = open_fd_count()
        start = time.monotonic()
        conn = TcpClient.connect("dual.example.test", echo6.port, timeout=10)
        elapsed = time.monotonic() - start
        with conn:
            assert conn.remote_address == Endpoint("::1", echo6.port)
            conn.sendall(b"he\n")
            assert conn.readline(timeout=5) == b"he\n"
            # Two more descriptors: the winner and the echo server's end of it. The
            # pending IPv4 attempt was closed.
            assert open_fd_count() == baseline + 2
        assert wait_for(lambda: open_fd_count() == baseline)
    assert ATTEMPT_DELAY * 0.8 <= elapsed < 1.0


def test_happy_eyeballs_dead_first_address_same_family(
    resolved_to: list[tuple[Any, ...]], echo4: EchoServer
) -> None:
    with blackhole(socket.AF_INET) as dead:
        resolved_to += [dead, ("127.0.0.1", echo4.port)]
        baseline = open_fd_count()
        start = time.monotonic()
        with TcpClient.connect("x.example.test", echo4.port, timeout=10) as conn:
            assert conn.remote_address == Endpoint("127.0.0.1", echo4.port)
        assert time.monotonic() - start < 1.0
        assert wait_for(lambda: open_fd_count() == baseline)


def test_timeout_with_only_dead_addresses(resolved_to: list[tuple[Any, ...]]) -> None:
    with blackhole(socket.AF_INET) as dead, blackhole(socket.AF_INET) as dead2:
        resolved_to += [dead, dead2]
        baseline = open_fd_count()
        start = time.monotonic()
        with pytest.raises(NetkitTimeout) as info:
            TcpClient.connect("slow.example.test", 80, timeout=0.6)
        elapsed = time.monotonic() - start
        assert open_fd_count() == baseline
    assert 0.55 <= elapsed < 1.5
    cause = info.value.__cause__
    assert isinstance(cause, ConnectFailed)
    assert [ep for ep, _ in cause.attempts] == [
        Endpoint.from_sockaddr(dead),
        Endpoint.from_sockaddr(dead2),
    ]
    assert all(isinstance(err, NetkitTimeout) for _, err in cause.attempts)
    assert isinstance(info.value, TimeoutError)


def test_timeout_covers_resolution() -> None:
    with stuck():
        start = time.monotonic()
        with pytest.raises(NetkitTimeout, match="resolving"):
            TcpClient.connect("stuck.example.test", 80, timeout=0.3)
        assert time.monotonic() - start < 1.5


def test_lookup_failure_is_lookup_failed() -> None:
    from netkit import LookupFailed

    with pytest.raises(LookupFailed):
        TcpClient.connect("nothing.invalid", 80, timeout=5)


# -- options and source -----------------------------------------------------------------


def test_nodelay_on_by_default(echo4: EchoServer) -> None:
    with TcpClient.connect("127.0.0.1", echo4.port, timeout=5) as conn:
        assert conn.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    opts = SocketOptions(nodelay=False)
    with TcpClient.connect("127.0.0.1", echo4.port, timeout=5, options=opts) as conn:
        assert conn.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


def test_options_applied_before_connect(echo4: EchoServer) -> None:
    opts = SocketOptions(recv_buffer=65536, keepalive=True, v6only=True)  # v6only: IPv6 only
    with TcpClient.connect("127.0.0.1", echo4.port, timeout=5, options=opts) as conn:
        read = SocketOptions.read(conn.socket)
        assert read.keepalive
        assert read.recv_buffer is not None
        assert read.recv_buffer >= 65536


def test_options_timeout_is_the_default_deadline(echo4: EchoServer) -> None:
    opts = SocketOptions(timeout=0.3)
    with TcpClient.connect("127.0.0.1", echo4.port, options=opts) as conn:
        assert conn.socket.gettimeout() is None
        start = time.monotonic()
        with pytest.raises(NetkitTimeout):
            conn.recv()  # the echo server sends nothing unasked
        assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("source", [("127.0.0.1", 0), Endpoint("127.0.0.1", 0), ("", 0)])
def test_source_address(echo4: EchoServer, source: Any) -> None:
    with TcpClient.connect("127.0.0.1", echo4.port, timeout=5, source=source) as conn:
        assert conn.local_address.host == "127.0.0.1"


def test_source_port_is_bound(echo4: EchoServer) -> None:
    port = free_port()
    opts = SocketOptions(reuse_addr=True)
    with TcpClient.connect(
        "127.0.0.1", echo4.port, timeout=5, source=("127.0.0.1", port), options=opts
    ) as conn:
        assert conn.local_address == Endpoint("127.0.0.1", port)


@needs_ipv6
def test_source_family_filters_addresses(
    resolved_to: list[tuple[Any, ...]], echo4: EchoServer
) -> None:
    resolved_to += [("::1", echo4.port, 0, 0), ("127.0.0.1", echo4.port)]
    with TcpClient.connect(
        "both.example.test", echo4.port, timeout=5, source=("127.0.0.1", 0)
    ) as conn:
        assert conn.remote_address == Endpoint("127.0.0.1", echo4.port)
    with pytest.raises(ConnectFailed, match="family"):
        TcpClient.connect("127.0.0.1", echo4.port, timeout=5, source=("::1", 0))


def test_many_connects_leave_no_fds(echo4: EchoServer) -> None:
    baseline = open_fd_count()
    for _ in range(30):
        with TcpClient.connect("127.0.0.1", echo4.port, timeout=5) as conn:
            conn.sendall(b"ok")
            assert conn.recv_exactly(2, timeout=5) == b"ok"
    # The echo server (in this process) closes its ends as the clients go.
    assert wait_for(lambda: open_fd_count() == baseline)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_round_trip_through_tcp_server(host: str) -> None:
    from netkit import TcpServer

    if ":" in host and not has_ipv6():
        pytest.skip("no IPv6 loopback")

    def handler(conn: TcpConnection) -> None:
        while (frame := conn.recv_frame(timeout=5)) != b"bye":
            conn.send_frame(frame[::-1])

    with TcpServer(handler, host) as server:
        with TcpClient.connect(host, server.address.port, timeout=5) as conn:
            assert conn.remote_address == server.address
            for payload in (b"abc", b"", bytes(range(256)) * 1000):
                conn.send_frame(payload)
                assert conn.recv_frame(timeout=5) == payload[::-1]
            conn.send_frame(b"bye")


def test_ip_literal_skips_resolution(echo4: EchoServer) -> None:
    with use_resolver(Refusing()), TcpClient.connect("127.0.0.1", echo4.port, timeout=5) as conn:
        assert conn.remote_address.port == echo4.port
