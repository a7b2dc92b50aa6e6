"""netkit.options: validation, apply and read back on real TCP and UDP sockets."""

from __future__ import annotations

import dataclasses
import doctest
import math
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import netkit
from netkit.options import LINGER_OFF, KeepAlive, LingerOff, SocketOptions

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux behaviour")

KINDS = [
    pytest.param(socket.AF_INET, socket.SOCK_STREAM, id="tcp4"),
    pytest.param(socket.AF_INET6, socket.SOCK_STREAM, id="tcp6"),
    pytest.param(socket.AF_INET, socket.SOCK_DGRAM, id="udp4"),
    pytest.param(socket.AF_INET6, socket.SOCK_DGRAM, id="udp6"),
]
MakeSocket = Callable[..., socket.socket]


@pytest.fixture
def make_socket() -> Iterator[MakeSocket]:
    """Create sockets that are closed at the end of the test, whatever happens."""
    made: list[socket.socket] = []

    def make(family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        sock = socket.socket(family, kind)
        made.append(sock)
        return sock

    yield make
    for sock in made:
        sock.close()


# --- apply and read back -------------------------------------------------------------


@pytest.mark.parametrize(("family", "kind"), KINDS)
def test_every_option_set_and_read_back(make_socket: MakeSocket, family: int, kind: int) -> None:
    sock = make_socket(family, kind)
    tcp = kind == socket.SOCK_STREAM
    before = SocketOptions.read(sock)
    wanted = SocketOptions(
        reuse_addr=not before.reuse_addr,
        reuse_port=not before.reuse_port,
        nodelay=True if tcp else None,
        keepalive=KeepAlive(idle=30, interval=7, count=4) if tcp else None,
        recv_buffer=32768,
        send_buffer=49152,
        linger=5 if tcp else None,
        v6only=True if family == socket.AF_INET6 else None,
        broadcast=None if tcp else True,
        ttl=17,
        timeout=2.5,
    )
    wanted.apply(sock)
    got = SocketOptions.read(sock)
    # Buffers are what the kernel holds (see test_buffers_report_what_the_kernel_holds).
    assert got.recv_buffer is not None
    assert got.recv_buffer >= 32768
    assert got.send_buffer is not None
    assert got.send_buffer >= 49152
    same = dataclasses.replace(got, recv_buffer=wanted.recv_buffer, send_buffer=wanted.send_buffer)
    assert same == wanted
    # And the socket itself agrees, read without netkit.
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == int(not before.reuse_addr)
    assert sock.gettimeout() == 2.5


@pytest.mark.parametrize(("family", "kind"), KINDS)
def test_read_of_a_fresh_socket_reports_only_what_applies(
    make_socket: MakeSocket, family: int, kind: int
) -> None:
    got = SocketOptions.read(make_socket(family, kind))
    tcp = kind == socket.SOCK_STREAM
    assert (got.nodelay is None) is not tcp
    assert (got.keepalive is None) is not tcp
    assert (got.linger is None) is not tcp
    assert (got.broadcast is None) is tcp
    assert (got.v6only is None) is (family == socket.AF_INET)
    assert got.timeout == math.inf  # a new socket blocks
    assert got.ttl is not None
    assert 1 <= got.ttl <= 255
    if tcp:
        assert got.keepalive is False
        assert got.linger is LINGER_OFF


def test_turning_options_off_again(make_socket: MakeSocket) -> None:
    sock = make_socket(socket.AF_INET6)
    SocketOptions(nodelay=True, keepalive=True, linger=0, v6only=True, reuse_addr=True).apply(sock)
    on = SocketOptions.read(sock)
    assert isinstance(on.keepalive, KeepAlive)  # the system's timers, read back
    assert on.keepalive.idle is not None
    assert on.keepalive.idle >= 1
    assert on.linger == 0
    assert isinstance(on.linger, int)
    off = SocketOptions(nodelay=False, keepalive=False, linger=LINGER_OFF, v6only=False)
    off.apply(sock)
    got = SocketOptions.read(sock)
    assert (got.nodelay, got.keepalive, got.linger, got.v6only) == (
        False,
        False,
        LINGER_OFF,
        False,
    )
    assert got.reuse_addr is True  # None left it alone


def test_none_leaves_everything_alone(make_socket: MakeSocket) -> None:
    sock = make_socket()
    SocketOptions(nodelay=True, ttl=9, timeout=1.0).apply(sock)
    before = SocketOptions.read(sock)
    SocketOptions().apply(sock)
    assert SocketOptions.read(sock) == before


def test_keepalive_timers_partly_set(make_socket: MakeSocket) -> None:
    sock = make_socket()
    default = SocketOptions.read(sock)
    SocketOptions(keepalive=True).apply(sock)
    system = SocketOptions.read(sock).keepalive
    assert isinstance(system, KeepAlive)
    SocketOptions(keepalive=KeepAlive(count=3)).apply(sock)
    got = SocketOptions.read(sock).keepalive
    assert got == KeepAlive(idle=system.idle, interval=system.interval, count=3)
    assert default.keepalive is False


def test_timeout_zero_is_non_blocking_and_inf_is_blocking(make_socket: MakeSocket) -> None:
    sock = make_socket()
    SocketOptions(timeout=0).apply(sock)
    assert sock.getblocking() is False
    assert SocketOptions.read(sock).timeout == 0
    SocketOptions(timeout=math.inf).apply(sock)
    assert sock.getblocking() is True
    assert sock.gettimeout() is None
    assert SocketOptions.read(sock).timeout == math.inf


@linux_only
def test_buffers_report_what_the_kernel_holds(make_socket: MakeSocket) -> None:
    # Linux doubles the requested size, for its own bookkeeping (man 7 socket).
    limits = [Path("/proc/sys/net/core/rmem_max"), Path("/proc/sys/net/core/wmem_max")]
    if not all(p.exists() for p in limits):
        pytest.skip("no /proc/sys/net/core/{r,w}mem_max to know the kernel's caps")
    cap = min(int(p.read_text()) for p in limits)
    size = min(32768, cap)
    sock = make_socket(socket.AF_INET, socket.SOCK_DGRAM)
    SocketOptions(recv_buffer=size, send_buffer=size).apply(sock)
    got = SocketOptions.read(sock)
    assert got.recv_buffer == 2 * size
    assert got.send_buffer == 2 * size
    assert got != SocketOptions.read(make_socket(socket.AF_INET, socket.SOCK_DGRAM))


def _read_to_eof(sock: socket.socket) -> None:
    while sock.recv(1024):
        pass


def test_linger_zero_resets_the_connection_on_close(make_socket: MakeSocket) -> None:
    listener = make_socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = make_socket()
    client.settimeout(10)
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    server.settimeout(10)
    with server:
        SocketOptions(linger=0).apply(client)
        client.sendall(b"x")
        assert server.recv(1) == b"x"
        client.close()
        # linger=0 makes close() abort: the peer sees a reset, not a clean EOF.
        with pytest.raises(ConnectionResetError):
            _read_to_eof(server)


def test_apply_works_on_a_connected_socket_from_another_thread(
    make_socket: MakeSocket,
) -> None:
    listener = make_socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        conn, _ = listener.accept()
        SocketOptions(nodelay=True, keepalive=KeepAlive(idle=60)).apply(conn)
        accepted.append(conn)
        done.set()

    thread = threading.Thread(target=accept)
    thread.start()
    client = make_socket()
    client.connect(listener.getsockname())
    assert done.wait(10)
    thread.join(10)
    with accepted[0] as conn:
        got = SocketOptions.read(conn)
        assert got.nodelay is True
        assert isinstance(got.keepalive, KeepAlive)
        assert got.keepalive.idle == 60


# --- options that do not fit the socket ----------------------------------------------


@pytest.mark.parametrize(
    ("family", "kind", "options", "message"),
    [
        (socket.AF_INET, socket.SOCK_DGRAM, SocketOptions(nodelay=True), "nodelay applies to TCP"),
        (socket.AF_INET6, socket.SOCK_DGRAM, SocketOptions(keepalive=True), "keepalive"),
        (socket.AF_INET, socket.SOCK_DGRAM, SocketOptions(linger=LINGER_OFF), "linger"),
        (socket.AF_INET, socket.SOCK_STREAM, SocketOptions(v6only=True), "v6only applies to"),
        (socket.AF_INET, socket.SOCK_DGRAM, SocketOptions(v6only=False), "AF_INET6"),
        (socket.AF_INET, socket.SOCK_STREAM, SocketOptions(broadcast=True), "broadcast"),
        (socket.AF_UNIX, socket.SOCK_STREAM, SocketOptions(ttl=3), "ttl applies to IP"),
        (socket.AF_UNIX, socket.SOCK_STREAM, SocketOptions(nodelay=True), "AF_UNIX"),
    ],
)
def test_option_that_does_not_fit_the_socket(
    make_socket: MakeSocket, family: int, kind: int, options: SocketOptions, message: str
) -> None:
    sock = make_socket(family, kind)
    with pytest.raises(ValueError, match=message):
        options.apply(sock)


def test_a_refused_apply_changes_nothing(make_socket: MakeSocket) -> None:
    sock = make_socket(socket.AF_INET, socket.SOCK_DGRAM)
    before = SocketOptions.read(sock)
    # reuse_addr comes first and would be fine; nodelay is refused: neither is set.
    with pytest.raises(ValueError, match="nodelay"):
        SocketOptions(reuse_addr=not before.reuse_addr, nodelay=True, timeout=3).apply(sock)
    assert SocketOptions.read(sock) == before


def test_apply_and_read_need_a_socket() -> None:
    with pytest.raises(TypeError, match="socket"):
        SocketOptions(nodelay=True).apply(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="socket"):
        SocketOptions.read("sock")  # type: ignore[arg-type]


def test_kernel_error_names_the_option(
    make_socket: MakeSocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = make_socket()
    monkeypatch.setattr(socket, "SO_REUSEPORT", 4321, raising=False)  # no such option
    with pytest.raises(OSError, match=r"\] cannot set socket option reuse_port: \w") as info:
        SocketOptions(reuse_port=True).apply(sock)
    assert info.value.errno is not None
    assert isinstance(info.value.__cause__, OSError)


def test_closed_socket_is_an_os_error(make_socket: MakeSocket) -> None:
    sock = make_socket()
    sock.close()
    with pytest.raises(OSError, match="nodelay"):
        SocketOptions(nodelay=True).apply(sock)


# --- options the platform lacks --------------------------------------------------------


@pytest.mark.parametrize(
    ("constants", "options", "name"),
    [
        (["SO_REUSEPORT"], SocketOptions(reuse_port=True), "reuse_port"),
        (["TCP_NODELAY"], SocketOptions(nodelay=False), "nodelay"),
        (["TCP_KEEPIDLE", "TCP_KEEPALIVE"], SocketOptions(keepalive=KeepAlive(idle=5)), "idle"),
        (["TCP_KEEPINTVL"], SocketOptions(keepalive=KeepAlive(interval=5)), "interval"),
        (["TCP_KEEPCNT"], SocketOptions(keepalive=KeepAlive(count=5)), "count"),
        (["IPV6_V6ONLY"], SocketOptions(v6only=True), "v6only"),
        (["IPV6_UNICAST_HOPS"], SocketOptions(ttl=5), "ttl"),
    ],
)
def test_missing_platform_option_is_not_implemented(
    make_socket: MakeSocket,
    monkeypatch: pytest.MonkeyPatch,
    constants: list[str],
    options: SocketOptions,
    name: str,
) -> None:
    for constant in constants:
        monkeypatch.delattr(socket, constant, raising=False)
    sock = make_socket(socket.AF_INET6)
    before = SocketOptions.read(sock)
    with pytest.raises(NotImplementedError, match=name):
        options.apply(sock)
    assert SocketOptions.read(sock) == before  # nothing half-applied


def test_read_reports_none_for_what_the_platform_lacks(
    make_socket: MakeSocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(socket, "SO_REUSEPORT")
    monkeypatch.delattr(socket, "TCP_KEEPCNT")
    sock = make_socket()
    SocketOptions(keepalive=KeepAlive(idle=9)).apply(sock)
    got = SocketOptions.read(sock)
    assert got.reuse_port is None
    assert got.keepalive == KeepAlive(idle=9, interval=got.keepalive.interval, count=None)  # type: ignore[union-attr]


@pytest.mark.skipif(
    hasattr(socket, "TCP_KEEPALIVE") or not hasattr(socket, "TCP_KEEPIDLE"),
    reason="checks the macOS spelling on a Linux-like socket module",
)
def test_macos_spelling_of_keepidle_is_used(
    make_socket: MakeSocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # macOS calls TCP_KEEPIDLE TCP_KEEPALIVE; pretend to be one.
    keepidle = socket.TCP_KEEPIDLE
    monkeypatch.setattr(socket, "TCP_KEEPALIVE", keepidle, raising=False)
    monkeypatch.delattr(socket, "TCP_KEEPIDLE")
    sock = make_socket()
    SocketOptions(keepalive=KeepAlive(idle=77)).apply(sock)
    got = SocketOptions.read(sock).keepalive
    assert isinstance(got, KeepAlive)
    assert got.idle == 77
    assert sock.getsockopt(socket.IPPROTO_TCP, keepidle) == 77


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"reuse_addr": 1}, TypeError, "reuse_addr must be a bool"),
        ({"reuse_port": "yes"}, TypeError, "reuse_port"),
        ({"nodelay": 0}, TypeError, "nodelay"),
        ({"v6only": 1.0}, TypeError, "v6only"),
        ({"broadcast": "true"}, TypeError, "broadcast"),
        ({"keepalive": 1}, TypeError, "keepalive must be a KeepAlive"),
        ({"keepalive": (1, 2, 3)}, TypeError, "keepalive"),
        ({"recv_buffer": 0}, ValueError, r"recv_buffer must be in 1\.\."),
        ({"recv_buffer": 2**31}, ValueError, "recv_buffer"),
        ({"send_buffer": 4096.0}, TypeError, "send_buffer must be an int"),
        ({"send_buffer": True}, TypeError, "send_buffer"),
        ({"linger": -1}, ValueError, r"linger must be in 0\.\."),
        ({"linger": 32768}, ValueError, "linger"),
        ({"linger": 1.5}, TypeError, "linger must be an int number of seconds, LINGER_OFF"),
        ({"linger": False}, TypeError, "linger"),
        ({"ttl": 0}, ValueError, r"ttl must be in 1\.\.255"),
        ({"ttl": 256}, ValueError, "ttl"),
        ({"ttl": "64"}, TypeError, "ttl"),
        ({"timeout": -0.1}, ValueError, r"timeout must be in 0\.\.1e\+09 seconds or math.inf"),
        ({"timeout": 1e10}, ValueError, "timeout"),
        ({"timeout": -math.inf}, ValueError, "timeout"),
        ({"timeout": 10**400}, ValueError, "timeout"),
        ({"timeout": math.nan}, ValueError, "timeout"),
        ({"timeout": "1"}, TypeError, "timeout must be a number"),
        ({"timeout": True}, TypeError, "timeout"),
    ],
)
def test_validation(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        SocketOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"idle": 0}, ValueError, r"KeepAlive.idle must be in 1\.\.32767"),
        ({"interval": 32768}, ValueError, "KeepAlive.interval"),
        ({"count": 128}, ValueError, r"KeepAlive.count must be in 1\.\.127"),
        ({"idle": 1.5}, TypeError, "KeepAlive.idle must be an int"),
        ({"count": True}, TypeError, "KeepAlive.count"),
    ],
)
def test_keepalive_validation(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        KeepAlive(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["ttl", "recv_buffer", "linger", "timeout"])
@pytest.mark.parametrize("value", [10**300, -(10**5000)], ids=["big", "huge-negative"])
def test_huge_values_give_short_messages(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field) as info:
        SocketOptions(**{field: value})  # type: ignore[arg-type]
    assert len(str(info.value)) < 300
    with pytest.raises(ValueError, match="count") as info:
        KeepAlive(count=value)
    assert len(str(info.value)) < 300


def test_linger_off_is_not_zero() -> None:
    assert SocketOptions(linger=LINGER_OFF) != SocketOptions(linger=0)
    assert repr(LINGER_OFF) == "LINGER_OFF"
    assert isinstance(LINGER_OFF, LingerOff)


def test_frozen_and_hashable() -> None:
    opts = SocketOptions(nodelay=True, keepalive=KeepAlive(1, 2, 3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.nodelay = False  # type: ignore[misc]
    assert hash(opts) == hash(SocketOptions(nodelay=True, keepalive=KeepAlive(1, 2, 3)))
    assert netkit.SocketOptions is SocketOptions
    assert netkit.KeepAlive is KeepAlive


def test_merged_takes_what_the_other_sets() -> None:
    base = SocketOptions(nodelay=True, ttl=10, timeout=5)
    merged = base.merged(SocketOptions(ttl=20, reuse_addr=True))
    assert merged == SocketOptions(nodelay=True, ttl=20, timeout=5, reuse_addr=True)
    with pytest.raises(TypeError, match="SocketOptions"):
        base.merged({"ttl": 3})  # type: ignore[arg-type]


# --- properties --------------------------------------------------------------------------

_maybe_bool = st.none() | st.booleans()
_keepalive = (
    st.none()
    | st.booleans()
    | st.builds(
        KeepAlive,
        idle=st.none() | st.integers(1, 32767),
        interval=st.none() | st.integers(1, 32767),
        count=st.none() | st.integers(1, 127),
    )
)
_tcp_options = st.builds(
    SocketOptions,
    reuse_addr=_maybe_bool,
    reuse_port=_maybe_bool,
    nodelay=_maybe_bool,
    keepalive=_keepalive,
    linger=st.none() | st.just(LINGER_OFF) | st.integers(0, 32767),
    v6only=_maybe_bool,
    ttl=st.none() | st.integers(1, 255),
    timeout=st.none() | st.just(math.inf) | st.floats(0, 1e6),
)


@given(_tcp_options)
def test_any_valid_tcp6_options_read_back(options: SocketOptions) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        options.apply(sock)
        got = SocketOptions.read(sock)
    for field in dataclasses.fields(options):
        wanted = getattr(options, field.name)
        if wanted is None:
            continue
        value = getattr(got, field.name)
        if isinstance(wanted, KeepAlive):
            assert isinstance(value, KeepAlive)
            for part in ("idle", "interval", "count"):
                if getattr(wanted, part) is not None:
                    assert getattr(value, part) == getattr(wanted, part)
        elif wanted is True and field.name == "keepalive":
            assert isinstance(value, KeepAlive)
        elif field.name == "timeout":
            # socket keeps timeouts in whole nanoseconds.
            assert value == pytest.approx(wanted, rel=1e-9, abs=1e-9)
        else:
            assert value == wanted, field.name


@given(_tcp_options, _tcp_options)
def test_merged_is_a_field_by_field_override(a: SocketOptions, b: SocketOptions) -> None:
    merged = a.merged(b)
    for field in dataclasses.fields(SocketOptions):
        other = getattr(b, field.name)
        assert getattr(merged, field.name) == (getattr(a, field.name) if other is None else other)
    assert a.merged(SocketOptions()) == a


@linux_only
def test_docs_examples_run() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "options.md"
    if not docs.exists():
        pytest.skip("docs/ not shipped with these tests")
    if int(Path("/proc/sys/net/core/rmem_max").read_text()) < 32768:
        pytest.skip("the buffer example needs net.core.rmem_max >= 32768")
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(docs), module_relative=False, optionflags=flags)
    assert result.failed == 0
    assert result.attempted > 10


_udp_options = st.builds(
    SocketOptions,
    reuse_addr=_maybe_bool,
    reuse_port=_maybe_bool,
    broadcast=_maybe_bool,
    v6only=_maybe_bool,
    ttl=st.none() | st.integers(1, 255),
    recv_buffer=st.none() | st.integers(1, 2**20),
)


@given(_udp_options)
def test_any_valid_udp6_options_read_back(options: SocketOptions) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        options.apply(sock)
        got = SocketOptions.read(sock)
    for name in ("reuse_addr", "reuse_port", "broadcast", "v6only", "ttl"):
        wanted = getattr(options, name)
        if wanted is not None:
            assert getattr(got, name) == wanted, name
    if options.recv_buffer is not None:
        assert got.recv_buffer is not None
        assert got.recv_buffer > 0


class _OddSocket(socket.socket):
    """A socket whose kernel reports values outside SocketOptions' ranges."""

    def getsockopt(self, level: int, option: int, buflen: int = 0) -> Any:
        if buflen:
            return _LINGER_ON_HUGE
        if (level, option) == (socket.IPPROTO_IP, socket.IP_TTL):
            return -1
        if (level, option) == (socket.IPPROTO_TCP, socket.TCP_KEEPCNT):
            return 1000
        if (level, option) == (socket.SOL_SOCKET, socket.SO_KEEPALIVE):
            return 1
        return super().getsockopt(level, option)


_LINGER_ON_HUGE = struct.pack("ii", 1, 100_000)


@linux_only
def test_read_reports_odd_kernel_values_as_unknown() -> None:
    with _OddSocket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        got = SocketOptions.read(sock)
    assert got.ttl is None
    assert got.linger is None
    assert isinstance(got.keepalive, KeepAlive)
    assert got.keepalive.count is None
    assert got.keepalive.idle is not None
