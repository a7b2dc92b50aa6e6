"""Connection API shared by both faces: timeout property, fileno(), shutdown(how),
close() from another thread, and a socket timeout set by hand."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from _aio_util import run  # noqa: F401  (the fixture)
from netkit import ConnectionClosed, NetkitTimeout, TcpConnection
from netkit.aio import TcpConnection as AioConnection

Run = Callable[..., Any]


def _pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        server, _ = listener.accept()
    return client, server


def test_timeout_property_is_the_default_deadline() -> None:
    a, b = _pair()
    with TcpConnection(a) as conn, b:
        assert conn.timeout is None
        conn.timeout = 0.05
        assert conn.timeout == 0.05
        with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
            conn.recv()
        b.sendall(b"x")
        assert conn.recv() == b"x"  # the timeout left the connection usable
        conn.timeout = None
        with pytest.raises(ValueError, match="timeout must be >= 0"):
            conn.timeout = -1
        assert conn.timeout is None
    a2, b2 = _pair()
    a2.settimeout(3.0)  # a socket's timeout becomes the connection's default
    with TcpConnection(a2) as conn2, b2:
        assert conn2.timeout == 3.0
        assert a2.gettimeout() is None  # the socket itself stays blocking


def test_fileno_and_shutdown() -> None:
    a, b = _pair()
    conn = TcpConnection(a)
    with b:
        assert conn.fileno() == a.fileno() >= 0
        b.sendall(b"late")
        conn.shutdown(socket.SHUT_WR)
        assert b.recv(10) == b""  # the peer sees our EOF
        assert conn.recv_exactly(4, timeout=5) == b"late"  # reading still works
        with pytest.raises(ValueError, match="how must be"):
            conn.shutdown(7)
        conn.close()
        assert conn.fileno() == -1
        with pytest.raises(ConnectionClosed, match=r"^connection is closed$"):
            conn.shutdown(socket.SHUT_RDWR)


@pytest.mark.parametrize("method", ["recv", "readline", "recv_exactly", "recv_with_deadline"])
def test_close_from_another_thread_wakes_a_blocked_read(method: str) -> None:
    a, b = _pair()
    conn = TcpConnection(a)
    outcome: list[BaseException | bytes] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        try:
            if method == "recv_exactly":
                outcome.append(conn.recv_exactly(10))
            elif method == "recv_with_deadline":
                outcome.append(conn.recv(timeout=60))
            else:
                outcome.append(getattr(conn, method)())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(5)
    # The reader may not be inside recv yet: close() must work either way.
    conn.close()
    thread.join(10)
    b.close()
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConnectionClosed)
    assert str(outcome[0]) == "connection is closed"


def test_close_from_another_thread_wakes_a_blocked_send() -> None:
    a, b = _pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    conn = TcpConnection(a)
    outcome: list[BaseException] = []

    def writer() -> None:
        try:
            while True:  # the peer never reads: this blocks once the buffers are full
                conn.sendall(b"x" * 65536)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(0.3)  # not synchronisation: only lets the buffers fill; closing works anyway
    conn.close()
    thread.join(10)
    b.close()
    assert not thread.is_alive()
    assert isinstance(outcome[0], ConnectionClosed)


def test_a_socket_timeout_set_by_hand_is_a_timeout_not_a_lost_connection() -> None:
    a, b = _pair()
    with TcpConnection(a) as conn, b:
        conn.socket.settimeout(0.05)
        with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
            conn.recv()
        b.sendall(b"alive")
        assert conn.recv_exactly(5, timeout=5) == b"alive"


def test_aio_timeout_fileno_shutdown(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = _pair()
        conn = await AioConnection.from_socket(a)
        peer = await AioConnection.from_socket(b)
        assert conn.timeout is None
        conn.timeout = 0.05
        with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
            await conn.recv()
        conn.timeout = None
        assert conn.fileno() >= 0
        await peer.sendall(b"late")
        conn.shutdown(socket.SHUT_WR)
        assert await peer.recv_all(timeout=5) == b""
        assert await conn.recv_exactly(4, timeout=5) == b"late"
        with pytest.raises(ValueError, match="how must be"):
            conn.shutdown(7)

        waiting = asyncio.ensure_future(conn.recv())
        await asyncio.sleep(0)
        conn.close()
        with pytest.raises(ConnectionClosed, match=r"^connection is closed$"):
            await waiting
        await conn.aclose()
        assert conn.fileno() == -1
        await peer.aclose()

    run(main())


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


@pytest.mark.parametrize("method", ["recv_frame", "recv_exactly", "readline", "recv_all"])
def test_a_reset_mid_message_keeps_what_arrived_in_partial(method: str, run: Run) -> None:  # noqa: F811
    # Both faces: what was buffered before the reset comes back in .partial.
    calls: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
        "recv_frame": ((), {}),
        "recv_exactly": ((100,), {}),
        "readline": ((), {}),
        "recv_all": ((), {}),
    }
    args, kwargs = calls[method]
    prefix = b"\x00\x00\x00\x10ab"

    a, b = _pair()
    with TcpConnection(a) as conn:
        b.sendall(prefix)
        with pytest.raises(NetkitTimeout):
            getattr(conn, method)(*args, timeout=0.2, **kwargs)
        _reset(b)
        with pytest.raises(ConnectionClosed) as sync_info:
            getattr(conn, method)(*args, timeout=10, **kwargs)

    async def main() -> ConnectionClosed:
        a, b = _pair()
        conn = await AioConnection.from_socket(a)
        b.sendall(prefix)
        with pytest.raises(NetkitTimeout):
            await getattr(conn, method)(*args, timeout=0.2, **kwargs)
        _reset(b)
        with pytest.raises(ConnectionClosed) as info:
            await getattr(conn, method)(*args, timeout=10, **kwargs)
        await conn.aclose()
        return info.value

    aio_error = run(main())
    for error in (sync_info.value, aio_error):
        assert str(error) == "connection lost: Connection reset by peer"
        assert error.partial == prefix
        assert error.errno == errno.ECONNRESET


def test_close_with_linger_zero_still_resets_the_peer() -> None:
    # close() shuts the socket down to wake other threads; with SO_LINGER 0 it must not
    # send a FIN first, or the reset the caller asked for becomes a clean EOF.
    from netkit import SocketOptions

    c, d = _pair()
    conn2 = TcpConnection(c)
    SocketOptions(linger=0).apply(c)
    conn2.close()  # nothing unread: only linger 0 makes this a reset
    d.settimeout(10)
    with pytest.raises(ConnectionResetError):
        d.recv(100)
    d.close()


def test_shutdown_write_after_a_reset_is_the_same_error_in_both_faces(
    run: Run,  # noqa: F811
) -> None:
    def reset_pair() -> tuple[socket.socket, socket.socket]:
        a, b = _pair()
        _reset(b)
        return a, b

    a, _ = reset_pair()
    with TcpConnection(a) as conn:
        with pytest.raises(ConnectionClosed, match="reset"):
            conn.recv(timeout=10)  # the reset first
        with pytest.raises(ConnectionClosed) as sync_info:
            conn.shutdown_write()

    async def main() -> ConnectionClosed:
        a, _ = reset_pair()
        conn = await AioConnection.from_socket(a)
        with pytest.raises(ConnectionClosed, match="reset"):
            await conn.recv(timeout=10)
        with pytest.raises(ConnectionClosed) as info:
            conn.shutdown_write()
        await conn.aclose()
        return info.value

    aio_error = run(main())
    assert type(sync_info.value) is type(aio_error)
    assert str(sync_info.value) == str(aio_error)
