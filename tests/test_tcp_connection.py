"""TcpConnection: every read method, EOF, limits, deadlines, writes, lifecycle.

The read methods are StreamConnection's, shared with UnixConnection: tests that need a
socketpair (no TCP handshake, chunks cut exactly) run them through UnixConnection.
"""

from __future__ import annotations

import errno
import io
import math
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _tcpconn_util import (
    EchoServer,
    Peer,
    dripper,
    has_ipv6,
    open_fd_count,
    paced_writer,
    tcp_pair,
)
from netkit import ConnectionClosed, Endpoint, FrameTooLarge, NetkitTimeout, TcpConnection
from netkit.framing import encode_frame
from netkit.tcp.connection import StreamConnection
from netkit.unix import UnixConnection

Pair = tuple[StreamConnection, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    """A stream connection over a Unix socketpair, and the raw peer socket."""
    a, b = socket.socketpair()
    conn = UnixConnection(a)
    try:
        yield conn, b
    finally:
        conn.close()
        b.close()


@pytest.fixture
def tcp() -> Iterator[tuple[TcpConnection, socket.socket]]:
    """A TcpConnection over real loopback TCP, and the raw peer socket."""
    a, b = tcp_pair()
    conn = TcpConnection(a)
    try:
        yield conn, b
    finally:
        conn.close()
        b.close()


# -- a socket that hands out pre-cut chunks: read methods at every split point -----------


class ChunkSocket(socket.socket):
    """A real (Unix) socket whose recv returns the given chunks one by one, then EOF.

    Lets the read methods be checked at every split point, deterministically.
    """

    def __init__(self, chunks: list[bytes]) -> None:
        a, b = socket.socketpair()
        b.close()
        super().__init__(socket.AF_UNIX, socket.SOCK_STREAM, fileno=a.detach())
        self.chunks = [c for c in chunks if c]
        self.calls = 0

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self.calls += 1
        if not self.chunks:
            return b""
        chunk = self.chunks[0]
        out, rest = chunk[:bufsize], chunk[bufsize:]
        if rest:
            self.chunks[0] = rest
        else:
            self.chunks.pop(0)
        return out

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[override]
        data = self.recv(nbytes or len(buffer))
        buffer[: len(data)] = data
        return len(data)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    out, start = [], 0
    for m in [*marks, len(data)]:
        out.append(data[start:m])
        start = m
    return out


# One operation on the stream: (kind, payload, argument).
op_strategy = st.one_of(
    st.tuples(st.just("line"), st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))),
    st.tuples(st.just("until"), st.binary(max_size=40).map(lambda b: b.replace(b"|", b""))),
    st.tuples(st.just("crlf"), st.binary(max_size=40).map(lambda b: b.replace(b"\r", b""))),
    st.tuples(st.just("exact"), st.binary(max_size=40)),
    st.tuples(st.just("frame"), st.binary(max_size=40)),
)


def encode_op(kind: str, payload: bytes) -> bytes:
    return {
        "line": payload + b"\n",
        "until": payload + b"|",
        "crlf": payload + b"\r\n",
        "exact": payload,
        "frame": encode_frame(payload),
    }[kind]


def run_op(conn: TcpConnection, kind: str, payload: bytes) -> bytes:
    if kind == "line":
        return conn.readline()
    if kind == "until":
        return conn.recv_until(b"|")
    if kind == "crlf":
        return conn.recv_until(b"\r\n")
    if kind == "exact":
        return conn.recv_exactly(len(payload))
    return conn.recv_frame()


def expected_result(kind: str, payload: bytes) -> bytes:
    return payload + b"\n" if kind == "line" else payload


@given(st.lists(op_strategy, max_size=8), st.lists(st.integers(0, 2000), max_size=20))
def test_every_read_method_at_every_split(ops: list[tuple[str, bytes]], points: list[int]) -> None:
    stream = b"".join(encode_op(k, p) for k, p in ops)
    with UnixConnection(ChunkSocket(cut(stream, points))) as conn:
        for kind, payload in ops:
            assert run_op(conn, kind, payload) == expected_result(kind, payload)
        assert conn.recv() == b""
        assert conn.readline() == b""
        assert conn.recv_all() == b""


@given(
    st.lists(op_strategy, min_size=1, max_size=6),
    st.lists(st.integers(0, 2000), max_size=10),
    st.integers(0, 10_000),
)
def test_eof_mid_operation_gives_partial(
    ops: list[tuple[str, bytes]], points: list[int], cut_at: int
) -> None:
    encoded = [encode_op(k, p) for k, p in ops]
    stream = b"".join(encoded)
    end = cut_at % (len(stream) + 1)
    with UnixConnection(ChunkSocket(cut(stream[:end], points))) as conn:
        start = 0
        for (kind, payload), piece in zip(ops, encoded, strict=True):
            if start + len(piece) <= end:
                assert run_op(conn, kind, payload) == expected_result(kind, payload)
                start += len(piece)
                continue
            # This operation is cut short by the EOF.
            if kind == "line" and start == end:
                assert conn.readline() == b""  # clean EOF between lines
            elif kind == "exact" and not payload:
                assert conn.recv_exactly(0) == b""
            else:
                with pytest.raises(ConnectionClosed) as info:
                    run_op(conn, kind, payload)
                assert info.value.partial == stream[start:end]
            break
        assert conn.recv() == b""


@settings(max_examples=25)
@given(st.lists(op_strategy, max_size=6), st.lists(st.integers(0, 500), max_size=8))
def test_read_methods_over_a_real_socket_at_split_points(
    ops: list[tuple[str, bytes]], points: list[int]
) -> None:
    # The same over a kernel socket: a writer sends each chunk only once the reader has
    # drained the previous one, so the reader sees exactly these split points.
    stream = b"".join(encode_op(k, p) for k, p in ops)
    a, b = socket.socketpair()
    conn = UnixConnection(a)
    writer = paced_writer(b, a, [c for c in cut(stream, points) if c])
    try:
        for kind, payload in ops:
            assert run_op(conn, kind, payload) == expected_result(kind, payload)
        assert conn.recv_all(timeout=10) == b""
    finally:
        writer.close()
        conn.close()
        b.close()


def test_recv_returns_buffered_bytes_first(pair: Pair) -> None:
    conn, peer = pair
    peer.sendall(b"line\nrest")
    assert conn.readline(timeout=5) == b"line\n"
    assert conn.buffered == 4
    assert conn.recv(2) == b"re"
    assert conn.recv(100) == b"st"
    peer.sendall(b"more")
    assert conn.recv(100, timeout=5) == b"more"


def test_recv_argument_checks(pair: Pair) -> None:
    conn, peer = pair
    peer.sendall(b"x\nyz")
    assert conn.recv_exactly(1, timeout=5) == b"x"
    # A bad timeout is refused even when the answer is already buffered.
    with pytest.raises(ValueError, match="timeout"):
        conn.readline(timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        conn.recv_exactly(1, timeout="soon")  # type: ignore[arg-type]
    assert conn.recv_exactly(3, timeout=5) == b"\nyz"
    with pytest.raises(ValueError, match="n must be"):
        conn.recv_exactly(-1)
    with pytest.raises(TypeError):
        conn.recv_exactly(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        conn.recv_until("\n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        conn.recv_until(b"")
    with pytest.raises(ValueError, match="max_bytes"):
        conn.readline(max_bytes=-1)
    for bad in (-1, math.nan):
        with pytest.raises(ValueError, match="timeout"):
            conn.recv(timeout=bad)
    with pytest.raises(TypeError):
        conn.recv(timeout="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TcpConnection("not a socket")  # type: ignore[arg-type]
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        pytest.raises(ValueError, match="stream"),
    ):
        TcpConnection(udp)


def test_iterating_yields_lines(pair: Pair) -> None:
    conn, peer = pair
    peer.sendall(b"a\nbb\n\nccc\n")
    peer.shutdown(socket.SHUT_WR)
    assert list(conn) == [b"a\n", b"bb\n", b"\n", b"ccc\n"]


# -- limits -----------------------------------------------------------------------------


def test_oversized_line_consumes_nothing(pair: Pair) -> None:
    conn, peer = pair
    peer.sendall(b"0123456789ABCDEF\nnext\n")
    with pytest.raises(FrameTooLarge) as info:
        conn.readline(max_bytes=10, timeout=5)
    assert info.value.limit == 10
    # The stream is where it was: the long line can still be read (or skipped).
    assert conn.readline(max_bytes=16, timeout=5) == b"0123456789ABCDEF\n"
    assert conn.readline(timeout=5) == b"next\n"


def test_oversized_line_detected_without_waiting_for_the_newline(
    pair: Pair,
) -> None:
    conn, peer = pair
    peer.sendall(b"x" * 100)  # no newline will ever come
    with pytest.raises(FrameTooLarge):
        conn.recv_until(b"\r\n", max_bytes=50, timeout=5)
    assert conn.recv_exactly(100, timeout=5) == b"x" * 100


def test_oversized_frame_refused_before_payload(pair: Pair) -> None:
    conn, peer = pair
    peer.sendall(struct.pack("!I", 1_000_000))  # the payload never arrives
    with pytest.raises(FrameTooLarge) as info:
        conn.recv_frame(max_size=1000, timeout=5)
    assert info.value.size == 1_000_000
    assert conn.buffered == 4  # the prefix is still there
    assert conn.recv_exactly(4) == struct.pack("!I", 1_000_000)


def test_recv_all_limit(pair: Pair) -> None:
    conn, peer = pair
    peer.sendall(b"y" * 5000)
    with pytest.raises(FrameTooLarge) as info:
        conn.recv_all(max_bytes=4000, timeout=5)
    assert info.value.limit == 4000
    assert conn.buffered == 4001  # never read more than one byte past the limit
    peer.shutdown(socket.SHUT_WR)
    assert conn.recv_all(max_bytes=5000, timeout=5) == b"y" * 5000


def test_recv_all_exact_limit_is_allowed(pair: Pair) -> None:
    conn, peer = pair
    peer.sendall(b"z" * 100)
    peer.shutdown(socket.SHUT_WR)
    assert conn.recv_all(max_bytes=100, timeout=5) == b"z" * 100


def test_send_frame_and_large_frames(tcp: tuple[TcpConnection, socket.socket]) -> None:
    conn, peer = tcp
    other = TcpConnection(peer)
    big = bytes(range(256)) * 4096  # 1 MiB: goes through the direct-read path
    received: list[bytes] = []

    def read() -> None:
        received.append(other.recv_frame(timeout=10))
        received.append(other.recv_frame(timeout=10))
        received.append(other.recv_frame(timeout=10))

    thread = threading.Thread(target=read)
    thread.start()
    conn.send_frame(b"small")
    conn.send_frame(big)
    conn.send_frame(memoryview(b""), timeout=5)
    thread.join(10)
    assert received == [b"small", big, b""]


def test_eof_in_large_frame_partial(pair: Pair) -> None:
    conn, peer = pair
    head = struct.pack("!I", 200_000) + b"p" * 70_000

    def send() -> None:
        peer.sendall(head)
        peer.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=send)
    thread.start()
    with pytest.raises(ConnectionClosed) as info:
        conn.recv_frame(timeout=10)
    thread.join(10)
    assert info.value.partial == head


def test_eof_in_large_recv_exactly_partial(pair: Pair) -> None:
    conn, peer = pair
    data = b"q" * 150_000
    sender = threading.Thread(target=lambda: (peer.sendall(data), peer.shutdown(socket.SHUT_WR)))
    sender.start()
    with pytest.raises(ConnectionClosed) as info:
        conn.recv_exactly(300_000, timeout=10)
    sender.join(10)
    assert info.value.partial == data
    assert conn.buffered == 0


# -- deadlines --------------------------------------------------------------------------


def test_slow_drip_cannot_stretch_the_deadline(tcp: tuple[TcpConnection, socket.socket]) -> None:
    conn, peer = tcp
    with dripper(peer, b"d" * 100, 0.1):
        start = time.monotonic()
        with pytest.raises(NetkitTimeout):
            conn.recv_exactly(1000, timeout=1)
        elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 1.9  # ~1.0 s; the rest is slack for a loaded machine
    assert 3 <= conn.buffered <= 15  # what arrived is kept for the retry


@pytest.mark.parametrize("method", ["readline", "recv_until", "recv_frame", "recv_all"])
def test_slow_drip_deadline_every_read_method(
    tcp: tuple[TcpConnection, socket.socket], method: str
) -> None:
    conn, peer = tcp
    data = struct.pack("!I", 500) if method == "recv_frame" else b""
    with dripper(peer, data + b"d" * 100, 0.05):
        start = time.monotonic()
        read = (
            (lambda: conn.recv_until(b"END", timeout=0.5))
            if method == "recv_until"
            else (lambda: getattr(conn, method)(timeout=0.5))
        )
        with pytest.raises(NetkitTimeout):
            read()
        elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 1.2


def test_timeout_then_retry_gets_everything(tcp: tuple[TcpConnection, socket.socket]) -> None:
    conn, peer = tcp
    message = bytes(range(256)) * 4
    peer.sendall(message[:300])
    with pytest.raises(NetkitTimeout):
        conn.recv_exactly(len(message), timeout=0.2)
    assert conn.buffered == 300
    peer.sendall(message[300:])
    assert conn.recv_exactly(len(message), timeout=5) == message


@pytest.mark.parametrize("size", [100_000, 3_000_000])
def test_large_read_timeout_keeps_bytes(
    tcp: tuple[TcpConnection, socket.socket], size: int
) -> None:
    # Big exact reads take the direct recv_into path; a timeout must not lose its bytes.
    conn, peer = tcp
    data = bytes(range(251)) * (size // 251 + 1)
    data = data[:size]
    half = size // 2
    sender = threading.Thread(target=peer.sendall, args=(data[:half],))
    sender.start()
    with pytest.raises(NetkitTimeout):
        conn.recv_exactly(size, timeout=0.5)
    sender.join(10)
    # Whatever the split between kernel and buffer, nothing was lost or reordered.
    sender = threading.Thread(target=peer.sendall, args=(data[half:],))
    sender.start()
    assert conn.recv_exactly(size, timeout=10) == data
    sender.join(10)


def test_timeout_then_retry_line(tcp: tuple[TcpConnection, socket.socket]) -> None:
    conn, peer = tcp
    peer.sendall(b"partial ")
    with pytest.raises(NetkitTimeout):
        conn.readline(timeout=0.1)
    peer.sendall(b"line\n")
    assert conn.readline(timeout=5) == b"partial line\n"


def test_zero_timeout_polls(pair: Pair) -> None:
    conn, peer = pair
    with pytest.raises(NetkitTimeout):
        conn.recv(timeout=0)
    peer.sendall(b"ready\n")
    # Data already in the kernel is returned even with no time to wait.
    deadline = time.monotonic() + 5
    while True:
        try:
            assert conn.readline(timeout=0) == b"ready\n"
            break
        except NetkitTimeout:
            assert time.monotonic() < deadline
            time.sleep(0.001)


def test_idle_timeout() -> None:
    a, b = tcp_pair()
    conn = TcpConnection(a, idle_timeout=0.3)
    try:
        assert conn.idle_timeout == 0.3
        start = time.monotonic()
        with pytest.raises(NetkitTimeout, match="idle"):
            conn.recv()
        assert 0.25 <= time.monotonic() - start < 1.0
        # Bytes every 50 ms keep an idle connection alive for longer than idle_timeout.
        with dripper(b, b"abcdefghijkl", 0.05):
            assert conn.recv_exactly(12, timeout=5) == b"abcdefghijkl"
        # A shorter deadline wins over the idle timeout, and says so.
        with pytest.raises(NetkitTimeout) as info:
            conn.readline(timeout=0.1)
        assert "idle" not in str(info.value)
        # Writes are not subject to it.
        conn.sendall(b"x")
        assert b.recv(1) == b"x"
    finally:
        conn.close()
        b.close()


def test_socket_timeout_becomes_the_default_deadline() -> None:
    a, b = socket.socketpair()
    a.settimeout(0.2)
    conn = UnixConnection(a)
    try:
        assert a.gettimeout() is None  # the socket itself is blocking now
        start = time.monotonic()
        with pytest.raises(NetkitTimeout):
            conn.recv_exactly(10)
        assert time.monotonic() - start < 1.0
        b.sendall(b"0123456789")
        assert conn.recv_exactly(10) == b"0123456789"
    finally:
        conn.close()
        b.close()


def test_sendall_deadline_against_a_peer_that_does_not_read(
    tcp: tuple[TcpConnection, socket.socket],
) -> None:
    conn, _peer = tcp
    start = time.monotonic()
    with pytest.raises(NetkitTimeout):
        conn.sendall(b"x" * 50_000_000, timeout=0.5)
    assert time.monotonic() - start < 2.0


def test_reader_with_deadline_and_writer_in_parallel(
    tcp: tuple[TcpConnection, socket.socket],
) -> None:
    # Plain connections never change the socket's mode, so these do not disturb each other.
    conn, peer = tcp
    echo = Peer(lambda stop: _echo_until_eof(peer))
    got: list[bytes] = []

    def reader() -> None:
        for _ in range(200):
            got.append(conn.recv_exactly(100, timeout=10))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(200):
        conn.sendall(bytes([i % 256]) * 100)
    thread.join(10)
    conn.shutdown_write()
    echo.close()
    assert got == [bytes([i % 256]) * 100 for i in range(200)]


def _echo_until_eof(sock: socket.socket) -> None:
    while data := sock.recv(65536):
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


# -- errors from the peer ---------------------------------------------------------------


def test_reset_is_connection_closed(tcp: tuple[TcpConnection, socket.socket]) -> None:
    conn, peer = tcp
    peer.sendall(b"half a li")
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.recv_until(b"li", timeout=5)  # the first bytes arrive before the reset
    peer.close()  # RST
    with pytest.raises(ConnectionClosed) as info:
        conn.readline(timeout=5)
    assert info.value.errno == errno.ECONNRESET
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert info.value.partial == b""
    assert isinstance(info.value, ConnectionError)


def test_write_to_closed_peer_is_connection_closed(
    tcp: tuple[TcpConnection, socket.socket],
) -> None:
    conn, peer = tcp
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()

    def write_until_error() -> None:
        for _ in range(100):
            conn.sendall(b"x" * 65536, timeout=5)

    with pytest.raises(ConnectionClosed):
        write_until_error()


# -- writing helpers and lifecycle ------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_sendfile(tcp: tuple[TcpConnection, socket.socket], tmp_path, timeout) -> None:  # type: ignore[no-untyped-def]
    conn, peer = tcp
    data = bytes(range(256)) * 1000
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    other = TcpConnection(peer)
    with path.open("rb") as f:
        assert conn.sendfile(f, timeout=timeout) == len(data)
    with path.open("rb") as f:
        assert conn.sendfile(f, 10, 100, timeout=timeout) == 100
    assert conn.sendfile(io.BytesIO(b"mem"), timeout=timeout) == 3
    conn.shutdown_write()
    assert other.recv_all(timeout=5) == data + data[10:110] + b"mem"


def test_shutdown_write_keeps_reading(tcp: tuple[TcpConnection, socket.socket]) -> None:
    conn, peer = tcp
    conn.sendall(b"request")
    conn.shutdown_write()
    assert TcpConnection(peer).recv_all(timeout=5) == b"request"
    peer.sendall(b"response")
    peer.close()
    assert conn.recv_all(timeout=5) == b"response"


def test_close_is_idempotent_and_keeps_addresses() -> None:
    a, b = tcp_pair()
    conn = TcpConnection(a)
    local, remote = conn.local_address, conn.remote_address
    assert isinstance(local, Endpoint)
    assert local == Endpoint("127.0.0.1", a.getsockname()[1])
    assert remote == Endpoint("127.0.0.1", b.getsockname()[1])
    assert "127.0.0.1" in repr(conn)
    with conn as same:
        assert same is conn
        assert conn.socket is a
        assert not conn.closed
    assert conn.closed
    assert a.fileno() == -1
    conn.close()
    assert conn.local_address == local
    assert conn.remote_address == remote
    assert "closed" in repr(conn)
    # The contract: ConnectionClosed on a closed connection, never a raw OSError(EBADF).
    for call in (conn.recv, lambda: conn.sendall(b"x"), lambda: conn.recv_exactly(2)):
        with pytest.raises(ConnectionClosed, match=r"^connection is closed$"):
            call()
    b.close()


def test_no_fd_leak_over_many_connections() -> None:
    baseline = open_fd_count()
    for _ in range(50):
        a, b = socket.socketpair()
        with UnixConnection(a) as conn:
            b.sendall(b"x\n")
            assert conn.readline(timeout=5) == b"x\n"
        b.close()
    assert open_fd_count() == baseline


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_echo_round_trip(host: str) -> None:
    if ":" in host and not has_ipv6():
        pytest.skip("no IPv6 loopback")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with EchoServer(host) as server:
        sock = socket.create_connection((host, server.port), timeout=5)
        with TcpConnection(sock) as conn:
            assert conn.remote_address == Endpoint(host, server.port)
            assert conn.local_address.family == family
            for i in range(20):
                line = b"line %d\n" % i
                conn.sendall(line)
                assert conn.readline(timeout=5) == line
            conn.send_frame(b"framed")
            assert conn.recv_frame(timeout=5) == b"framed"
            blob = bytes(range(256)) * 800
            sender = threading.Thread(target=conn.sendall, args=(blob,))
            sender.start()
            assert conn.recv_exactly(len(blob), timeout=10) == blob
            sender.join(10)


def test_recv_into(pair: Pair) -> None:
    conn, peer = pair
    buf = bytearray(8)
    peer.sendall(b"abc")
    assert conn.recv_into(buf) == 3
    assert buf[:3] == b"abc"
    peer.sendall(b"line\ntail")
    assert conn.readline(timeout=5) == b"line\n"
    view = memoryview(buf)
    assert conn.recv_into(view, 2, timeout=5) == 2  # served from the buffer first
    assert buf[:2] == b"ta"
    assert conn.recv_into(view[4:], timeout=5) == 2
    assert buf[4:6] == b"il"
    with pytest.raises(NetkitTimeout):
        conn.recv_into(buf, timeout=0.05)
    with pytest.raises(ValueError, match="nbytes"):
        conn.recv_into(buf, 9, timeout=1)
    peer.shutdown(socket.SHUT_WR)
    assert conn.recv_into(buf, timeout=5) == 0
    assert conn.recv_into(buf) == 0


def test_closed_connection_fails_fast_even_with_a_deadline() -> None:
    a, b = socket.socketpair()
    conn = UnixConnection(a)
    conn.close()
    start = time.monotonic()
    for call in (
        lambda: conn.recv(timeout=5),
        lambda: conn.readline(timeout=5),
        lambda: conn.sendall(b"x", timeout=5),
        lambda: conn.sendall(b"x"),
    ):
        with pytest.raises(ConnectionClosed, match=r"^connection is closed$") as info:
            call()
        assert info.value.errno == errno.EBADF
    assert time.monotonic() - start < 1.0
    b.close()
