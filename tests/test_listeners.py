"""TcpListener and UnixListener in both faces, and servers given ``listener=``.

accept(timeout=) returns a connection, times out, is woken by close(); wrapping a
listening socket checks it; every server takes a listener (or a listening socket) and
exposes it as ``server.listener``. Same outcomes in both faces.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import netkit
import netkit.aio as aio
from _aio_util import run  # noqa: F401  (the fixture)
from _unixstream_util import aio_outcome, no_fd_leak, outcome
from netkit import ConnectionClosed, Endpoint, NetkitTimeout
from netkit._core.conformance import Outcome

pytestmark = pytest.mark.timeout(60)
Run = Callable[..., Any]
WAIT = 10.0

CLOSED = Outcome(error=ConnectionClosed, message="listener is closed", partial=b"")
TIMEOUT = Outcome(error=NetkitTimeout, message="timed out waiting for a connection")


def test_tcp_listener_accepts_and_times_out(run: Run) -> None:  # noqa: F811
    with netkit.TcpListener.bind("127.0.0.1", 0) as listener:
        assert isinstance(listener.address, Endpoint)
        assert listener.fileno() == listener.socket.fileno() >= 0
        assert listener.name is None
        assert repr(listener) == f"<TcpListener {listener.address} listening>"
        with socket.create_connection(listener.address.to_sockaddr(), timeout=WAIT) as client:
            with listener.accept(timeout=WAIT) as conn:
                assert isinstance(conn, netkit.TcpConnection)
                assert conn.remote_address.port == client.getsockname()[1]
                assert conn.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                client.sendall(b"x")
                assert conn.recv(timeout=WAIT) == b"x"
        mine = [outcome(lambda: listener.accept(timeout=0.05))]
    mine.append(outcome(lambda: listener.accept(timeout=WAIT)))
    assert listener.closed
    assert listener.fileno() == -1

    async def main() -> list[Outcome]:
        async with await aio.TcpListener.bind("127.0.0.1", 0) as listener:
            assert isinstance(listener.address, Endpoint)
            assert repr(listener) == f"<aio.TcpListener {listener.address} listening>"
            client = socket.create_connection(listener.address.to_sockaddr(), timeout=WAIT)
            conn = await listener.accept(timeout=WAIT)
            assert isinstance(conn, aio.TcpConnection)
            assert conn.remote_address.port == client.getsockname()[1]
            client.sendall(b"x")
            assert await conn.recv(timeout=WAIT) == b"x"
            await conn.aclose()
            client.close()
            theirs = [await aio_outcome(lambda: listener.accept(timeout=0.05))]
        theirs.append(await aio_outcome(lambda: listener.accept(timeout=WAIT)))
        return theirs

    assert mine == [TIMEOUT, CLOSED]
    assert run(main()) == mine


def test_unix_listener_accepts(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "l.sock")
    with netkit.UnixListener.bind(path) as listener:
        assert listener.address == path
        assert repr(listener) == f"<UnixListener unix:{path} listening>"
        with netkit.UnixClient.connect(path, timeout=WAIT) as client:
            with listener.accept(timeout=WAIT) as conn:
                assert isinstance(conn, netkit.UnixConnection)
                assert (conn.local_address, conn.remote_address) == (path, "")
                client.sendall(b"x")
                assert conn.recv(timeout=WAIT) == b"x"
        assert outcome(lambda: listener.accept(timeout=0.05)) == TIMEOUT
    assert not os.path.exists(path)  # close() removed the file it created

    async def main() -> None:
        async with await aio.UnixListener.bind(path, mode=0o600) as listener:
            assert repr(listener) == f"<aio.UnixListener unix:{path} listening>"
            client = await aio.UnixClient.connect(path, timeout=WAIT)
            conn = await listener.accept(timeout=WAIT)
            assert (conn.local_address, conn.remote_address) == (path, "")
            await client.sendall(b"x")
            assert await conn.recv(timeout=WAIT) == b"x"
            await asyncio.gather(conn.aclose(), client.aclose())
            assert await aio_outcome(lambda: listener.accept(timeout=0.05)) == TIMEOUT
        assert not os.path.exists(path)

    run(main())


def test_close_wakes_a_waiting_accept(tmp_path: Path, run: Run) -> None:  # noqa: F811
    for listener in (
        netkit.TcpListener.bind(),
        netkit.UnixListener.bind(str(tmp_path / "w.sock")),
    ):
        box: list[Outcome] = []
        waiter = threading.Thread(target=lambda: box.append(outcome(listener.accept)))  # noqa: B023
        waiter.start()
        waiter.join(0.05)  # most likely waiting by now; close() must win either way
        listener.close()
        waiter.join(WAIT)
        assert box == [CLOSED]

    async def main() -> None:
        for listener in (
            await aio.TcpListener.bind(),
            await aio.UnixListener.bind(str(tmp_path / "aw.sock")),
        ):
            waiting = asyncio.ensure_future(aio_outcome(listener.accept))
            for _ in range(3):
                await asyncio.sleep(0)
            assert not waiting.done()
            listener.close()
            assert await waiting == CLOSED

    run(main())


def test_one_accept_at_a_time_in_aio(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        async with await aio.TcpListener.bind() as listener:
            first = asyncio.ensure_future(listener.accept(timeout=WAIT))
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="already accepting"):
                await listener.accept()
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            # the cancelled accept left nothing registered: the next one works
            client = socket.create_connection(listener.address.to_sockaddr(), timeout=WAIT)
            conn = await listener.accept(timeout=WAIT)
            await conn.aclose()
            client.close()

    run(main())


def _wrap_cases(tmp_path: Path) -> list[tuple[str, Callable[[], socket.socket]]]:
    def unix_listening() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(tmp_path / f"w{id(sock)}.sock"))
        sock.listen()
        return sock

    return [
        ("TcpListener", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
        ("TcpListener", unix_listening),
        ("UnixListener", lambda: socket.create_server(("127.0.0.1", 0))),
        ("UnixListener", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)),
        ("UnixListener", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
    ]


def test_wrapping_checks_the_socket_alike(tmp_path: Path) -> None:
    messages = []
    for kind, make in _wrap_cases(tmp_path):
        with make() as sock:
            mine = outcome(lambda: getattr(netkit, kind)(sock))  # noqa: B023
            theirs = outcome(lambda: getattr(aio, kind)(sock))  # noqa: B023
        assert mine == theirs
        assert mine.error in (TypeError, ValueError)
        messages.append(mine.message)
    assert messages == [
        "TcpListener needs a listening socket: call listen() on it first",
        "TcpListener needs an AF_INET or AF_INET6 socket, not AF_UNIX; use UnixListener",
        "UnixListener needs an AF_UNIX socket, not AF_INET; use TcpListener",
        "UnixListener needs a stream socket, not <SocketKind.SOCK_DGRAM: 2>",
        "UnixListener needs a listening socket: call listen() on it first",
    ]


def test_a_wrapped_listening_socket_keeps_its_file(tmp_path: Path) -> None:
    path = str(tmp_path / "theirs.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen()
    with netkit.UnixListener(sock, name="given") as listener:
        assert (listener.address, listener.name) == (path, "given")
        assert repr(listener) == f"<UnixListener 'given' unix:{path} listening>"
    assert os.path.exists(path)  # not ours: only a file bind() made is removed


# -- servers given a listener ------------------------------------------------------------


def _echo(conn: Any) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


async def _aio_echo(conn: Any) -> None:
    while data := await conn.recv(65536):
        await conn.sendall(data)


def _round_trip_tcp(address: Endpoint) -> bytes:
    with socket.create_connection(address.to_sockaddr(), timeout=WAIT) as sock:
        sock.sendall(b"ping")
        return sock.recv(4)


def _round_trip_unix(path: str) -> bytes:
    with netkit.UnixClient.connect(path, timeout=WAIT) as conn:
        conn.sendall(b"ping")
        return conn.recv_exactly(4, timeout=WAIT)


def test_servers_take_a_listener(tmp_path: Path) -> None:
    listener = netkit.TcpListener.bind()
    server = netkit.TcpServer(_echo, listener=listener)
    assert server.listener is listener
    assert server.address == listener.address  # known before start
    with server:
        assert _round_trip_tcp(server.address) == b"ping"
    assert listener.closed  # the server owns it: stop() closed it
    raw = socket.create_server(("127.0.0.1", 0))
    with netkit.TcpServer(_echo, listener=raw) as server:
        assert server.listener.socket is raw
        assert _round_trip_tcp(server.address) == b"ping"
    assert raw.fileno() == -1
    path = str(tmp_path / "s.sock")
    unix = netkit.UnixListener.bind(path, mode=0o600)
    with netkit.UnixServer(_echo, listener=unix) as server:
        assert server.listener is unix
        assert server.address == path
        assert _round_trip_unix(path) == b"ping"
    assert not os.path.exists(path)
    # a server stopped before it started still closes the listener it was given
    never = netkit.TcpListener.bind()
    netkit.TcpServer(_echo, listener=never).stop()
    assert never.closed
    with pytest.raises(RuntimeError, match="not started"):
        _ = netkit.TcpServer(_echo).listener


def test_aio_servers_take_a_listener(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "s.sock")

    async def main() -> None:
        listener = await aio.TcpListener.bind()
        async with aio.TcpServer(_aio_echo, listener=listener) as server:
            assert server.listener is listener
            assert await asyncio.to_thread(_round_trip_tcp, server.address) == b"ping"
        assert listener.closed
        raw = socket.create_server(("127.0.0.1", 0))
        async with aio.TcpServer(_aio_echo, listener=raw) as server:
            assert await asyncio.to_thread(_round_trip_tcp, server.address) == b"ping"
        unix = await aio.UnixListener.bind(path)
        async with aio.UnixServer(_aio_echo, listener=unix) as server:
            assert server.listener is unix
            assert await asyncio.to_thread(_round_trip_unix, path) == b"ping"
        assert not os.path.exists(path)
        never = await aio.TcpListener.bind()
        await aio.TcpServer(_aio_echo, listener=never).stop()
        assert never.closed

    run(main())


def test_listener_argument_errors_are_the_same(tmp_path: Path) -> None:
    path = str(tmp_path / "x.sock")
    with netkit.TcpListener.bind() as tcp, netkit.UnixListener.bind(path) as unix:
        calls = [
            (lambda m, ul: m.TcpServer(_echo, "::1", listener=tcp), "host, port and backlog"),
            (lambda m, ul: m.TcpServer(_echo, backlog=5, listener=tcp), "host, port and backlog"),
            (lambda m, ul: m.UnixServer(_echo, path, listener=ul), "path and mode apply"),
            (lambda m, ul: m.UnixServer(_echo, mode=0o600, listener=ul), "path and mode apply"),
            (lambda m, ul: m.UnixServer(_echo), "UnixServer needs a path or a listener="),
            (lambda m, ul: m.TcpServer(_echo, listener="x"), "not str"),
            (lambda m, ul: m.TcpServer(_echo, listener=ul), "not UnixListener; use UnixServer"),
        ]
        with no_fd_leak():
            for call, text in calls:
                mine = outcome(lambda: call(netkit, unix))  # noqa: B023
                aio_unix = aio.UnixListener(socket.socket(fileno=os.dup(unix.fileno())))
                theirs = outcome(lambda: call(aio, aio_unix))  # noqa: B023
                aio_unix.close()
                assert mine.error is TypeError, (text, mine)
                assert text in str(mine.message)
                assert theirs == mine
