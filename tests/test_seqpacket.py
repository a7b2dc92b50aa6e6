"""SeqpacketConnection and SeqpacketClient in both faces: message boundaries, limits,
the end of the connection, deadlines, close, connect, and no descriptor leaked."""

from __future__ import annotations

import asyncio
import errno
import math
import os
import pathlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netkit
import netkit.aio
from _unix_util import Face, face, open_sockets, sock_dir
from netkit.errors import (
    AddressError,
    ConnectFailed,
    ConnectionClosed,
    FrameTooLarge,
    NetkitTimeout,
)

__all__ = ["face", "sock_dir"]  # fixtures, imported for pytest

Dir = pathlib.Path


@pytest.fixture
def listener(sock_dir: Dir) -> Iterator[socket.socket]:
    """A plain listening SEQPACKET socket (backlog 1), as a server would hold."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.bind(str(sock_dir / "listen"))
    sock.listen(1)
    with sock:
        yield sock


def _limit(conn: Any) -> int:
    return int(conn.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) - 32


def test_messages_keep_their_boundaries(face: Face) -> None:
    run = face.run
    before = open_sockets()
    a, b = run(face.SeqpacketConnection.pair())
    with a, b:
        assert (a.local_address, a.remote_address) == ("", "")
        assert a.peer_credentials == (os.getpid(), os.getuid(), os.getgid())
        sizes = [1, 2, 100, 4096, 65535, 1, 70_000]
        for i, size in enumerate(sizes):
            run(a.send_message(bytes([i]) * size))
        run(a.send_message(bytearray(b"ba")))
        run(a.send_message(memoryview(b"mv")))
        for i, size in enumerate(sizes):
            assert run(b.recv_message(max_size=70_000, timeout=5)) == bytes([i]) * size
        assert run(b.recv_message(timeout=5)) == b"ba"
        assert run(b.recv_message(timeout=5)) == b"mv"
        run(b.send_message(b"back"))
        assert run(a.recv_message(timeout=5)) == b"back"
    assert open_sockets() <= before


def test_an_oversized_message_is_consumed_and_reported(face: Face) -> None:
    run = face.run
    a, b = run(face.SeqpacketConnection.pair())
    with a, b:
        run(a.send_message(b"x" * 100))
        run(a.send_message(b"after"))
        with pytest.raises(FrameTooLarge) as info:
            run(b.recv_message(max_size=10, timeout=5))
        assert (info.value.size, info.value.limit) == (100, 10)
        assert str(info.value) == "message of 100 bytes exceeds max_size=10 (it was dropped)"
        assert run(b.recv_message(max_size=10, timeout=5)) == b"after"


def test_send_limits(face: Face) -> None:
    run = face.run
    a, b = run(face.SeqpacketConnection.pair())
    with a, b:
        limit = _limit(a)
        with pytest.raises(FrameTooLarge) as info:
            run(a.send_message(b"x" * (limit + 1)))
        assert (info.value.size, info.value.limit) == (limit + 1, limit)
        run(a.send_message(b"y" * limit))
        assert len(run(b.recv_message(max_size=limit, timeout=5))) == limit
        with pytest.raises(ValueError, match="empty SEQPACKET message"):
            run(a.send_message(b""))
        with pytest.raises(TypeError, match="bytes-like"):
            run(a.send_message("text"))
        # A buffer shrunk by hand: the kernel's EMSGSIZE becomes the same error.
        a.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        with pytest.raises(FrameTooLarge) as info:
            run(a.send_message(b"z" * (_limit(a) + 1)))
        assert info.value.limit == _limit(a)
        with pytest.raises(NetkitTimeout):
            run(b.recv_message(timeout=0))  # nothing was sent


def test_the_end_of_the_connection(face: Face) -> None:
    run = face.run
    a, b = run(face.SeqpacketConnection.pair())
    with a, b:
        run(a.send_message(b"last"))
        a.shutdown(socket.SHUT_WR)
        assert run(b.recv_message(timeout=5)) == b"last"
        assert run(b.recv_message(timeout=5)) == b""
        assert run(b.recv_message(timeout=5)) == b""  # and it stays the end
        run(b.send_message(b"still open the other way"))
        assert run(a.recv_message(timeout=5)) == b"still open the other way"
        with pytest.raises(ValueError, match="SHUT_RD"):
            a.shutdown(7)
    c, d = run(face.SeqpacketConnection.pair())
    with c, d:
        c.close()
        assert run(d.recv_message(timeout=5)) == b""
        with pytest.raises(ConnectionClosed, match="connection lost") as info:
            run(d.send_message(b"anyone?"))
        assert info.value.errno == errno.EPIPE


def test_deadlines(face: Face) -> None:
    run = face.run
    a, b = run(face.SeqpacketConnection.pair())
    with a, b:
        with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
            run(b.recv_message(timeout=0.01))
        b.timeout = 0.01  # the default deadline of calls made without timeout=
        assert b.timeout == 0.01
        with pytest.raises(NetkitTimeout):
            run(b.recv_message())
        for bad in (-1, "1", math.nan):
            with pytest.raises((TypeError, ValueError), match="timeout"):
                b.timeout = bad
        b.timeout = None
        # Fill the send buffer: a send with a deadline times out, nothing is lost or
        # duplicated, and the messages come out in order once the peer reads.
        sent: list[bytes] = []

        def fill() -> None:
            while len(sent) < 100_000:
                message = b"%06d" % len(sent) * 100
                run(a.send_message(message, timeout=0.05))
                sent.append(message)

        with pytest.raises(NetkitTimeout, match=r"^timed out sending$"):
            fill()
        a.timeout = 0.01  # sends use the default deadline too, as on stream connections
        with pytest.raises(NetkitTimeout, match=r"^timed out sending$"):
            run(a.send_message(b"one more"))
        a.timeout = None
        got = [run(b.recv_message(timeout=5)) for _ in sent]
        assert got == sent
        with pytest.raises(NetkitTimeout):
            run(b.recv_message(timeout=0))


def test_after_close(face: Face) -> None:
    run = face.run
    a, b = run(face.SeqpacketConnection.pair())
    a.close()
    a.close()  # idempotent
    assert a.closed
    assert a.fileno() == -1
    assert (a.local_address, a.remote_address) == ("", "")  # kept for logs
    for call in (
        lambda: a.recv_message(),
        lambda: a.recv_message(max_size=5, timeout=1),
        lambda: a.send_message(b"x"),
        lambda: a.shutdown(socket.SHUT_WR),
        lambda: a.peer_credentials,
    ):
        with pytest.raises(ConnectionClosed, match=r"^connection is closed$"):
            run(call())
    assert repr(a).endswith("closed>")
    b.close()


def test_close_wakes_blocked_calls(face: Face) -> None:
    run = face.run
    a, b = run(face.SeqpacketConnection.pair())
    with b:
        if face.aio:

            async def main() -> None:
                pending = asyncio.ensure_future(a.recv_message())
                await asyncio.sleep(0)
                a.close()
                with pytest.raises(ConnectionClosed, match=r"^connection is closed$"):
                    await pending

            run(main())
            return
        errors: list[BaseException] = []

        def receive() -> None:
            try:
                a.recv_message()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=receive)
        thread.start()
        a.close()
        thread.join(10)
        assert not thread.is_alive()
        assert [type(e) for e in errors] == [ConnectionClosed]


def test_close_wakes_a_blocked_send() -> None:
    a, b = netkit.SeqpacketConnection.pair()
    with b:
        while True:  # fill the buffer: the next send blocks
            try:
                a.send_message(b"x" * 1000, timeout=0)
            except NetkitTimeout:
                break
        errors: list[BaseException] = []

        def send() -> None:
            try:
                a.send_message(b"y" * 1000)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=send)
        thread.start()
        a.close()
        thread.join(10)
        assert not thread.is_alive()
        assert [type(e) for e in errors] == [ConnectionClosed]


def test_client_and_a_server_side_connection(
    face: Face, listener: socket.socket, sock_dir: Dir
) -> None:
    run = face.run
    path = listener.getsockname()
    client = run(face.SeqpacketClient.connect(path, timeout=5))
    accepted, _ = listener.accept()
    server = face.SeqpacketConnection(accepted)  # what a server hands its handler
    with client, server:
        assert isinstance(client, face.SeqpacketConnection)
        assert (client.local_address, client.remote_address) == ("", path)
        assert (server.local_address, server.remote_address) == (path, "")
        assert server.peer_credentials.pid == os.getpid()
        run(client.send_message(b"request"))
        assert run(server.recv_message(timeout=5)) == b"request"
        run(server.send_message(b"response"))
        assert run(client.recv_message(timeout=5)) == b"response"
    opts = netkit.SocketOptions(timeout=0.01, send_buffer=65536)
    with run(face.SeqpacketClient.connect(path, options=opts)) as timed:
        assert timed.timeout == 0.01  # options.timeout: the connection's default
        with pytest.raises(NetkitTimeout):
            run(timed.recv_message())
    listener.accept()[0].close()


def test_connect_waits_for_a_full_backlog(
    face: Face, listener: socket.socket, sock_dir: Dir
) -> None:
    run = face.run
    path = listener.getsockname()
    first = run(face.SeqpacketClient.connect(path))
    second = run(face.SeqpacketClient.connect(path))  # backlog 1: now it is full
    before = open_sockets()
    with pytest.raises(NetkitTimeout, match=r"timed out after 0\.05 s"):
        run(face.SeqpacketClient.connect(path, timeout=0.05))
    assert open_sockets() <= before
    # Room comes while a connect waits: it completes.
    accepted: list[socket.socket] = []
    if face.aio:

        async def main() -> Any:
            waiting = asyncio.ensure_future(face.SeqpacketClient.connect(path, timeout=10))
            await asyncio.sleep(0)
            accepted.append(listener.accept()[0])
            return await waiting

        third = run(main())
    else:
        result: list[Any] = []
        thread = threading.Thread(
            target=lambda: result.append(face.SeqpacketClient.connect(path, timeout=10))
        )
        thread.start()
        accepted.append(listener.accept()[0])
        thread.join(15)
        assert not thread.is_alive()
        third = result[0]
    with first, second, third:
        assert third.remote_address == path
    for sock in accepted:
        sock.close()


def test_connect_failures_leak_nothing(face: Face, sock_dir: Dir) -> None:
    run = face.run
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(str(sock_dir / "stale"))
    stale.close()
    (sock_dir / "plain").write_text("not a socket")
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(sock_dir / "dgram"))
    bound = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    bound.bind(str(sock_dir / "notlistening"))
    before = open_sockets()
    expected = {
        "missing": errno.ENOENT,
        "stale": errno.ECONNREFUSED,
        "plain": errno.ECONNREFUSED,
        "notlistening": errno.ECONNREFUSED,
        "dgram": errno.EPROTOTYPE,
    }
    with dgram, bound:
        for name, code in expected.items():
            with pytest.raises(ConnectFailed) as info:
                run(face.SeqpacketClient.connect(str(sock_dir / name), timeout=1))
            assert info.value.errno == code
            assert repr(str(sock_dir / name)) in str(info.value)
        for path, error in (("", AddressError), (5, TypeError), ("a\0b", AddressError)):
            with pytest.raises(error):
                run(face.SeqpacketClient.connect(path))
        with pytest.raises(TypeError, match="options"):
            run(face.SeqpacketClient.connect(str(sock_dir / "x"), options="fast"))
        with pytest.raises(ValueError, match="timeout"):
            run(face.SeqpacketClient.connect(str(sock_dir / "x"), timeout=-1))
    assert open_sockets() <= before


def test_wrapping(face: Face) -> None:
    C = face.SeqpacketConnection
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    left.settimeout(2.5)
    right.setblocking(False)  # timeout 0: no default deadline, as for streams
    with C(left) as a, C(right) as b:
        assert a.timeout == 2.5
        assert b.timeout is None
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as lone:
        with pytest.raises(ValueError, match="connected"):
            C(lone)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        with pytest.raises(ValueError, match="SOCK_SEQPACKET"):
            C(stream)
    with pytest.raises(TypeError):
        C(3)


def test_under_load(face: Face) -> None:
    """Thousands of messages of varied sizes with a concurrent reader: all whole, in
    order (the send buffer fills and drains many times)."""
    run = face.run
    count = 3000
    messages = [bytes([i % 251]) * (1 + (i * 7919) % 6000) for i in range(count)]
    a, b = run(face.SeqpacketConnection.pair())
    with a, b:
        if face.aio:

            async def main() -> list[bytes]:
                async def reader() -> list[bytes]:
                    return [await b.recv_message(timeout=20) for _ in range(count)]

                task = asyncio.ensure_future(reader())
                for message in messages:
                    await a.send_message(message, timeout=20)
                return await task

            got = run(main(), timeout=60)
        else:
            got = []

            def reader() -> None:
                got.extend(b.recv_message(timeout=20) for _ in range(count))

            thread = threading.Thread(target=reader)
            thread.start()
            for message in messages:
                a.send_message(message, timeout=20)
            thread.join(60)
            assert not thread.is_alive()
        assert got == messages


def test_names() -> None:
    assert netkit.SeqpacketConnection is netkit.unix.seqpacket.SeqpacketConnection
    assert netkit.aio.SeqpacketClient.__module__ == "netkit.aio.seqpacket"
    assert issubclass(netkit.SeqpacketClient, netkit.SeqpacketConnection)


@given(messages=st.lists(st.binary(min_size=1, max_size=20_000), min_size=1, max_size=8))
@settings(max_examples=50)
def test_any_messages_keep_their_boundaries(messages: list[bytes]) -> None:
    a, b = netkit.SeqpacketConnection.pair()
    with a, b:
        for message in messages:
            a.send_message(message)
        assert [b.recv_message(max_size=20_000, timeout=5) for _ in messages] == messages
