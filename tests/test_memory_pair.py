"""netkit.testing.memory_pair: TcpConnections over memory, held to the TCP contract.

The conformance table runs over memory pairs with every knob combination that makes
sense, outcome for outcome equal to TCP's; then each knob (chunk_size, stall,
max_buffer, abort) and the socket stand-in on their own, and the reset and timeout
errors side by side with a real TCP connection's.
"""

from __future__ import annotations

import errno
import io
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

import netkit.testing as sync_testing
from _tcpconn_util import tcp_pair
from netkit import ConnectionClosed, Endpoint, NetkitTimeout, TcpConnection
from netkit._core.conformance import CASES
from netkit.testing import MemoryConnection, MemorySocket, memory_pair

pytestmark = pytest.mark.timeout(60)

T = 0.05  # a deadline that only has to pass
WAIT = 10.0  # a deadline that must not pass

# Knobs under which the single-threaded conformance table makes sense: max_buffer must
# hold what a case sends before the other side reads (at most 17 bytes), or a lone
# sendall would wait forever, as it would over TCP with buffers that small.
KNOBS = [
    {},
    {"chunk_size": 1},
    {"chunk_size": 2},
    {"chunk_size": 7},
    {"max_buffer": 17},
    {"max_buffer": 64},
    {"chunk_size": 1, "max_buffer": 17},
    {"chunk_size": 3, "max_buffer": 20},
]


def _ids(knobs: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in knobs.items()) or "defaults"


@pytest.fixture
def pair() -> Iterator[tuple[MemoryConnection, MemoryConnection]]:
    a, b = memory_pair()
    yield a, b
    a.close()
    b.close()


class Thread:
    """Run *fn* in a thread; ``result()`` joins (bounded) and returns or re-raises."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._box: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._box["value"] = fn()
        except BaseException as exc:  # handed to result()
            self._box["error"] = exc

    def result(self, timeout: float = WAIT) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "thread did not finish"
        if "error" in self._box:
            raise self._box["error"]
        return self._box.get("value")


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call gave, comparable across transports: value, or type/message/errno."""
    try:
        return ("ok", call())
    except ConnectionClosed as exc:
        return (type(exc), str(exc), exc.errno, exc.partial)
    except Exception as exc:
        return (type(exc), str(exc))


# -- the conformance table -----------------------------------------------------------------


@pytest.mark.parametrize("knobs", KNOBS, ids=_ids)
def test_memory_pairs_conform(knobs: dict[str, int]) -> None:
    sync_testing.check_connection_pair(partial(memory_pair, **knobs))


def test_memory_outcomes_equal_tcp_outcomes() -> None:
    # Not only "each matches the table": every step's outcome equals TCP's.
    for case in CASES:
        results = []
        for make in (lambda: tuple(map(TcpConnection, tcp_pair())), memory_pair):
            a, b = make()
            with a, b:
                results.append(sync_testing.run_case(case, a, b))
        assert results[0] == results[1], case.name


# -- what a memory connection is -----------------------------------------------------------


def test_they_are_tcp_connections(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, b = pair
    assert isinstance(a, TcpConnection)
    assert isinstance(b, MemoryConnection)
    assert repr(a) == "<MemoryConnection 127.0.0.1:1 -> 127.0.0.1:2>"
    assert a.fileno() == -1
    assert isinstance(a.socket, MemorySocket)
    assert not isinstance(a.socket, socket.socket)
    assert a.is_tls is False
    assert a.timeout is None
    assert a.buffered == 0


def test_default_addresses_are_loopback_ports_1_and_2(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    assert a.local_address == b.remote_address == Endpoint("127.0.0.1", 1)
    assert a.remote_address == b.local_address == Endpoint("127.0.0.1", 2)
    assert a.socket.getsockname() == ("127.0.0.1", 1)
    assert a.socket.getpeername() == ("127.0.0.1", 2)
    a.close()
    assert a.local_address == Endpoint("127.0.0.1", 1)  # kept after close, as over TCP
    assert repr(a) == "<MemoryConnection closed>"
    with pytest.raises(OSError, match="Bad file descriptor") as info:
        a.socket.getsockname()
    assert info.value.errno == errno.EBADF


def test_addresses_knob_ipv6_with_a_zone() -> None:
    ends = (Endpoint("fe80::1%7", 5000), Endpoint("2001:db8::2", 443))
    a, b = memory_pair(addresses=ends)
    with a, b:
        assert (a.local_address, a.remote_address) == ends
        assert (b.local_address, b.remote_address) == ends[::-1]
        assert a.socket.family == socket.AF_INET6
        assert a.socket.getsockname() == ("fe80::1", 5000, 0, 7)
        assert str(a.remote_address) == "[2001:db8::2]:443"


@pytest.mark.parametrize(
    ("knobs", "error", "message"),
    [
        ({"chunk_size": 0}, ValueError, "chunk_size must be >= 1, not 0"),
        ({"chunk_size": "1"}, TypeError, "chunk_size must be an int, not str"),
        ({"chunk_size": True}, TypeError, "chunk_size must be an int, not bool"),
        ({"max_buffer": -5}, ValueError, "max_buffer must be >= 1, not -5"),
        ({"max_buffer": 1.5}, TypeError, "max_buffer must be an int, not float"),
        ({"addresses": ("127.0.0.1", 1)}, TypeError, "addresses must be a tuple of two"),
        (
            {"addresses": (Endpoint("example.com", 1), Endpoint("127.0.0.1", 2))},
            ValueError,
            "addresses must be IP endpoints, not the hostname example.com:1",
        ),
    ],
)
def test_bad_knobs(knobs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        memory_pair(**knobs)
    assert str(info.value).startswith(message)


def test_only_memory_pair_builds_them() -> None:
    with pytest.raises(TypeError, match="memory_pair"):
        MemoryConnection(socket.socket())  # type: ignore[arg-type]
    a, b = memory_pair()
    with a, b, pytest.raises(TypeError, match=r"must be a socket\.socket, not MemorySocket"):
        TcpConnection(a.socket)  # the public constructor still wants a real socket


# -- chunk_size ------------------------------------------------------------------------------


def test_chunk_size_one_gives_one_byte_per_receive() -> None:
    a, b = memory_pair(chunk_size=1)
    with a, b:
        b.sendall(b"hello")
        assert [a.recv(100) for _ in range(5)] == [b"h", b"e", b"l", b"l", b"o"]
        buf = bytearray(10)
        b.sendall(b"xy")
        assert a.recv_into(buf) == 1
        assert a.recv_into(buf, timeout=WAIT) == 1
        assert buf[:1] == b"y"


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 13])
def test_every_read_method_reassembles_every_split(chunk: int) -> None:
    message = b"GET / HTTP/1.1\r\n" + struct.pack(">I", 11) + b"hello world" + b"tail;rest"
    a, b = memory_pair(chunk_size=chunk)
    with a, b:
        b.sendall(message)
        b.shutdown_write()
        assert a.recv_until(b"\r\n", timeout=WAIT) == b"GET / HTTP/1.1"
        assert a.recv_frame(timeout=WAIT) == b"hello world"
        assert a.recv_until(b";") == b"tail"
        assert a.recv_exactly(2) == b"re"
        assert a.recv_all() == b"st"


def test_a_big_transfer_in_small_chunks_both_ways_at_once() -> None:
    # Two threads per side (one reads, one writes), with small chunks and buffers.
    a, b = memory_pair(chunk_size=97, max_buffer=1000)
    data = bytes(range(256)) * 800
    with a, b:
        senders = [Thread(partial(conn.sendall, data)) for conn in (a, b)]
        readers = [Thread(partial(conn.recv_exactly, len(data))) for conn in (a, b)]
        for thread in senders:
            thread.result()
        assert [r.result() for r in readers] == [data, data]


# -- stall ---------------------------------------------------------------------------------


def test_stall_holds_bytes_until_unstall(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, b = pair
    b.sendall(b"before ")
    b.stall()
    assert b.stalled
    b.sendall(b"held")  # accepted: nothing bounds the buffer
    assert a.recv(timeout=WAIT) == b"before "  # sent before the stall: readable
    with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
        a.recv(timeout=T)
    with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
        a.recv_exactly(4, timeout=T)
    b.unstall()
    assert not b.stalled
    assert a.recv_exactly(4, timeout=WAIT) == b"held"


def test_stall_holds_eof_too(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, b = pair
    b.stall()
    b.sendall(b"last")
    b.shutdown_write()
    with pytest.raises(NetkitTimeout):
        a.recv_all(timeout=T)
    b.unstall()
    assert a.recv_all(timeout=WAIT) == b"last"


def test_stall_is_one_direction(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, b = pair
    b.stall()
    a.sendall(b"ping")
    assert b.recv_exactly(4, timeout=WAIT) == b"ping"


def test_unstall_wakes_a_reader_in_another_thread(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    b.stall()
    b.sendall(b"late")
    reader = Thread(partial(a.recv_exactly, 4))  # no deadline: only the release wakes it
    b.unstall()
    assert reader.result() == b"late"


# -- max_buffer ------------------------------------------------------------------------------


def test_max_buffer_makes_send_partial_and_sendall_wait() -> None:
    a, b = memory_pair(max_buffer=10)
    with a, b:
        assert a.socket.send(b"x" * 25) == 10
        a.socket.setblocking(False)
        with pytest.raises(BlockingIOError):
            a.socket.send(b"y")
        a.socket.setblocking(True)
        writer = Thread(partial(a.sendall, b"z" * 1000))  # waits for the reader
        assert b.recv_exactly(1010, timeout=WAIT) == b"x" * 10 + b"z" * 1000
        writer.result()


def test_sendall_with_a_deadline_on_a_full_buffer_times_out() -> None:
    a, b = memory_pair(max_buffer=10)
    with a, b:
        with pytest.raises(NetkitTimeout) as info:
            a.sendall(b"x" * 100, timeout=T)
        assert str(info.value) == "timed out sending"
        assert b.recv(100, timeout=WAIT) == b"x" * 10  # the prefix that fitted
        a.sendall(b"more", timeout=WAIT)  # still usable
        assert b.recv_exactly(4, timeout=WAIT) == b"more"


def test_tcp_gives_the_same_send_timeout() -> None:
    # The same call over TCP, once the kernel's buffers are full, fails the same way.
    a, b = map(TcpConnection, tcp_pair())
    with a, b:
        # Small kernel buffers (no autotuning), so that 8 MiB cannot fit.
        a.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        b.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with pytest.raises(NetkitTimeout) as tcp:
            a.sendall(b"x" * (8 << 20), timeout=0.2)
    m, n = memory_pair(max_buffer=10)
    with m, n, pytest.raises(NetkitTimeout) as memory:
        m.sendall(b"x" * 100, timeout=T)
    assert (type(memory.value), str(memory.value)) == (type(tcp.value), str(tcp.value))


def test_stall_with_max_buffer_blocks_the_writer() -> None:
    a, b = memory_pair(max_buffer=8)
    with a, b:
        b.stall()
        b.sendall(b"12345678")
        with pytest.raises(NetkitTimeout, match=r"^timed out sending$"):
            b.send_frame(b"x", timeout=T)
        b.unstall()
        assert a.recv_exactly(8, timeout=WAIT) == b"12345678"


def test_close_wakes_a_blocked_sendall() -> None:
    a, b = memory_pair(max_buffer=4)
    with a, b:
        writer = Thread(partial(a.sendall, b"x" * 100))
        a.close()
        with pytest.raises(ConnectionClosed, match=r"^connection is closed$"):
            writer.result()


# -- abort (reset) ---------------------------------------------------------------------------


def test_abort_resets_the_peer(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, b = pair
    b.sendall(b"hi")
    b.abort()
    assert b.closed
    assert a.recv(timeout=WAIT) == b"hi"  # what had arrived is still read first
    with pytest.raises(ConnectionClosed) as info:
        a.recv()
    assert str(info.value) == "connection lost: Connection reset by peer"
    assert info.value.errno == errno.ECONNRESET
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert a.recv() == b""  # reported once, as a socket does


def test_a_read_keeps_the_partial_bytes_on_reset(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    b.sendall(b"part")
    b.abort()
    with pytest.raises(ConnectionClosed) as info:
        a.recv_exactly(9, timeout=WAIT)
    assert info.value.partial == b"part"
    assert info.value.errno == errno.ECONNRESET


def test_recv_frame_keeps_the_partial_bytes_on_reset(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    b.sendall(b"\x00\x00\x00\x09part")
    b.abort()
    with pytest.raises(ConnectionClosed) as info:
        a.recv_frame(timeout=WAIT)
    assert info.value.partial == b"\x00\x00\x00\x09part"


def _reset_script(a: TcpConnection) -> list[tuple[Any, ...]]:
    return [
        outcome(partial(a.recv, 10, timeout=WAIT)),
        outcome(partial(a.recv, 10, timeout=WAIT)),
        outcome(partial(a.recv, 10, timeout=WAIT)),
        outcome(partial(a.sendall, b"x")),
        outcome(partial(a.shutdown, socket.SHUT_WR)),
    ]


def test_a_reset_looks_as_over_tcp() -> None:
    # TCP: the peer sends, then closes with SO_LINGER 0 (a reset).
    x, y = map(TcpConnection, tcp_pair())
    with x, y:
        y.sendall(b"data")
        x.recv_exactly(1, timeout=WAIT)  # "data" has arrived before the reset
        # The socket's own close: TcpConnection.close() would send a FIN first.
        y.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        y.socket.close()
        over_tcp = _reset_script(x)
    a, b = memory_pair()
    with a, b:
        b.sendall(b"data")
        a.recv_exactly(1, timeout=WAIT)
        b.abort()
        in_memory = _reset_script(a)
    assert in_memory == over_tcp
    assert in_memory[1][:3] == (
        ConnectionClosed,
        "connection lost: Connection reset by peer",
        errno.ECONNRESET,
    )


def test_a_send_sees_the_reset_first(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, b = pair
    b.abort()
    assert outcome(partial(a.sendall, b"x"))[:3] == (
        ConnectionClosed,
        "connection lost: Connection reset by peer",
        errno.ECONNRESET,
    )
    assert outcome(partial(a.sendall, b"x"))[:3] == (
        ConnectionClosed,
        "connection lost: Broken pipe",
        errno.EPIPE,
    )


def test_abort_drops_held_bytes_and_wakes_a_reader(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    b.stall()
    b.sendall(b"never")
    reader = Thread(a.recv)
    b.abort()
    with pytest.raises(ConnectionClosed, match="reset by peer"):
        reader.result()
    b.abort()  # again: nothing


# -- close and shutdown ----------------------------------------------------------------------


def test_close_sends_eof_behind_the_data(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, b = pair
    a.sendall(b"unread by b")  # a kernel would reset here; a memory pair never does
    b.sendall(b"bye")
    b.close()
    assert a.recv_all(timeout=WAIT) == b"bye"


def test_sending_to_a_closed_peer_fails_on_the_second_send(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    b.close()
    a.sendall(b"lost")  # accepted and dropped: over TCP the reset comes back later
    with pytest.raises(ConnectionClosed, match=r"^connection lost: Broken pipe$"):
        a.sendall(b"x")
    assert a.recv() == b""


def test_close_from_another_thread_wakes_a_reader(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, _ = pair
    reader = Thread(a.recv)
    a.close()
    with pytest.raises(ConnectionClosed, match=r"^connection is closed$"):
        reader.result()


def test_shutdown_read_wakes_a_reader(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, _ = pair
    reader = Thread(partial(a.recv_exactly, 3))
    a.shutdown(socket.SHUT_RD)
    with pytest.raises(ConnectionClosed, match=r"^connection closed by peer after 0 of 3"):
        reader.result()


def test_shutdown_once_both_sides_ended(pair: tuple[MemoryConnection, MemoryConnection]) -> None:
    a, b = pair
    a.shutdown_write()
    a.shutdown_write()  # twice is fine, as on a socket
    b.close()
    with pytest.raises(ConnectionClosed) as info:
        a.shutdown_write()
    assert str(info.value) == "connection lost: Transport endpoint is not connected"
    assert info.value.errno == errno.ENOTCONN


# -- deadlines and timeouts ------------------------------------------------------------------


def test_timeout_property_and_a_hand_set_socket_timeout(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    a.timeout = T
    with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
        a.readline()
    a.timeout = None
    a.socket.settimeout(T)  # by hand, under the connection: a timeout, not a loss
    assert a.socket.gettimeout() == T
    with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
        a.recv()
    b.sendall(b"still open\n")
    assert a.readline() == b"still open\n"


def test_a_deadline_in_one_thread_ignores_writes_in_another(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    # One thread reads with a deadline while another writes without one: the writes
    # must not lift the reader's deadline (the per-thread engine deadline).
    a, b = pair
    reader = Thread(partial(a.recv, timeout=0.2))
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            a.sendall(b"x")
            b.recv(65536)

    writer = Thread(write)
    try:
        with pytest.raises(NetkitTimeout):
            reader.result()
    finally:
        stop.set()
        writer.result()


def test_sendfile_with_and_without_a_deadline(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    data = bytes(range(256)) * 600
    assert a.sendfile(io.BytesIO(data)) == len(data)
    assert b.recv_exactly(len(data), timeout=WAIT) == data
    assert a.sendfile(io.BytesIO(data), 10, 100, timeout=WAIT) == 100
    assert b.recv_exactly(100, timeout=WAIT) == data[10:110]


# -- the socket stand-in on its own ----------------------------------------------------------


def test_the_socket_stand_in_behaves_as_a_socket(
    pair: tuple[MemoryConnection, MemoryConnection],
) -> None:
    a, b = pair
    sock, peer = a.socket, b.socket
    assert (sock.type, sock.proto, sock.family) == (socket.SOCK_STREAM, 0, socket.AF_INET)
    with pytest.raises(ValueError, match="negative buffersize in recv"):
        sock.recv(-1)
    with pytest.raises(TypeError):
        sock.recv("1")
    with pytest.raises(TypeError):
        sock.send("text")
    with pytest.raises(BlockingIOError):
        sock.recv(10, socket.MSG_DONTWAIT)
    assert sock.recv(0) == b""
    peer.sendall(b"peek")
    assert sock.recv(10, socket.MSG_PEEK) == b"peek"
    assert sock.recv(10) == b"peek"
    with pytest.raises(OSError, match="takes only MSG_DONTWAIT, MSG_PEEK") as info:
        sock.recv(10, socket.MSG_OOB)
    assert info.value.errno == errno.EOPNOTSUPP
    sock.settimeout(T)
    with pytest.raises(TimeoutError) as timeout:
        sock.recv(10)
    assert timeout.value.errno is None  # socket.timeout: "timed out"
    assert sock.getblocking()
    sock.setblocking(False)
    assert sock.gettimeout() == 0.0
    with pytest.raises(ValueError, match="buffer too small"):
        sock.recv_into(bytearray(2), 3)
    sock.close()
    sock.close()
    for call in (partial(sock.recv, 1), partial(sock.send, b"x"), sock.getpeername):
        with pytest.raises(OSError, match="Bad file descriptor") as closed:
            call()
        assert closed.value.errno == errno.EBADF
    assert a.fileno() == -1
