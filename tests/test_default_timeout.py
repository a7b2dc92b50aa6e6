"""``socket.setdefaulttimeout()`` is never honoured by netkit (docs/coming-from-socket.md):
every socket netkit makes (connects, accepts, binds, pairs, listeners, servers, pings)
waits as long as its ``timeout=`` says, in both faces, however short the process-wide
default. A socket the caller made and hands in keeps its own timeout, as documented."""

from __future__ import annotations

import asyncio
import pathlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import netkit
import netkit.aio
from _unix_util import Face, face, sock_dir
from netkit import NetkitTimeout

__all__ = ["face", "sock_dir"]  # fixtures, imported for pytest

DEFAULT = 0.01  # the process-wide default under test
WAIT = 0.25  # how long a receive must keep waiting: 25 times the default


@pytest.fixture(autouse=True)
def short_default() -> Iterator[None]:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DEFAULT)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


class Pending:
    """A call left waiting in the background: a thread (sync) or a task (aio)."""

    def __init__(self, face: Face, call: Callable[[], Any]) -> None:
        self.face = face
        self.box: dict[str, Any] = {}
        if face.aio:
            assert face.loop is not None
            self.task = face.loop.create_task(call())
            return

        def run() -> None:
            try:
                self.box["value"] = call()
            except BaseException as exc:
                self.box["error"] = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def still_waiting(self) -> bool:
        if self.face.aio:
            assert self.face.loop is not None
            self.face.loop.run_until_complete(asyncio.wait({self.task}, timeout=WAIT))
            return not self.task.done()
        self.thread.join(WAIT)
        return self.thread.is_alive()

    def result(self) -> Any:
        if self.face.aio:
            return self.face.run(self.task)
        self.thread.join(30)
        assert not self.thread.is_alive()
        if "error" in self.box:
            raise self.box["error"]
        return self.box["value"]


def _api(face: Face) -> Any:
    return netkit.aio if face.aio else netkit


# Each kind builds its objects under the short default and returns: the receive to
# leave waiting, the send that completes it, what the receive returns, what to close.
Kind = tuple[Callable[[], Any], Callable[[], Any], Any, list[Any]]


def _stream(face: Face, folder: pathlib.Path, unix: bool, accepted: bool) -> Kind:
    api = _api(face)
    if unix:
        listener = face.run(api.UnixListener.bind(str(folder / "s")))
        client = face.run(api.UnixClient.connect(str(folder / "s")))
    else:
        listener = face.run(api.TcpListener.bind("127.0.0.1", 0))
        client = face.run(api.TcpClient.connect("127.0.0.1", listener.address.port))
    server = face.run(listener.accept())
    reader, writer = (server, client) if accepted else (client, server)
    assert reader.timeout is None
    return (
        lambda: reader.recv_exactly(2),
        lambda: writer.sendall(b"hi"),
        b"hi",
        [client, server, listener],
    )


def _unix_pair(face: Face, folder: pathlib.Path) -> Kind:
    a, b = face.run(_api(face).UnixConnection.pair())
    assert a.timeout is None
    return lambda: a.readline(), lambda: b.sendall(b"line\n"), b"line\n", [a, b]


def _udp(face: Face, folder: pathlib.Path, connected: bool) -> Kind:
    api = _api(face)
    bound = face.run(api.UdpEndpoint.bind("127.0.0.1", 0))
    peer = face.run(api.UdpEndpoint.connect("127.0.0.1", bound.address.port))
    if connected:
        return (
            lambda: peer.recv(),
            lambda: bound.sendto(b"d", peer.address),
            b"d",
            [bound, peer],
        )
    return lambda: bound.recv(), lambda: peer.send(b"d"), b"d", [bound, peer]


def _unix_dgram(face: Face, folder: pathlib.Path, pair: bool) -> Kind:
    api = _api(face)
    if pair:
        a, b = face.run(api.UnixDatagramEndpoint.pair())
    else:
        a = face.run(api.UnixDatagramEndpoint.bind(str(folder / "d")))
        b = face.run(api.UnixDatagramEndpoint.connect(str(folder / "d")))
    return lambda: a.recv(), lambda: b.send(b"d"), b"d", [a, b]


def _seqpacket(face: Face, folder: pathlib.Path, client: bool) -> Kind:
    api = _api(face)
    closers: list[Any] = []
    if client:
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listening.bind(str(folder / "q"))
        listening.listen()
        a = face.run(api.SeqpacketClient.connect(str(folder / "q")))
        raw, _ = listening.accept()
        b = api.SeqpacketConnection(raw)
        closers.append(listening)
    else:
        a, b = face.run(api.SeqpacketConnection.pair())
    assert a.timeout is None
    return lambda: a.recv_message(), lambda: b.send_message(b"m"), b"m", [a, b, *closers]


def _listener(face: Face, folder: pathlib.Path, unix: bool) -> Kind:
    api = _api(face)
    made: list[Any] = []
    if unix:
        listener = face.run(api.UnixListener.bind(str(folder / "l")))

        def connect() -> Any:
            return api.UnixClient.connect(str(folder / "l"))

    else:
        listener = face.run(api.TcpListener.bind("127.0.0.1", 0))

        def connect() -> Any:
            return api.TcpClient.connect("127.0.0.1", listener.address.port)

    if face.aio:

        async def accept() -> bool:
            conn = await listener.accept()
            made.append(conn)
            return conn.timeout is None

    else:

        def accept() -> bool:  # type: ignore[misc]
            conn = listener.accept()
            made.append(conn)
            return conn.timeout is None

    def send() -> Any:
        if face.aio:

            async def go() -> None:
                made.append(await connect())

            return go()
        made.append(connect())
        return None

    return accept, send, True, [listener, _Later(made)]


class _Later:
    """Closes what a kind made while the test ran."""

    def __init__(self, made: list[Any]) -> None:
        self.made = made

    def close(self) -> None:
        for obj in self.made:
            obj.close()


KINDS: dict[str, Callable[[Face, pathlib.Path], Kind]] = {
    "tcp-client": lambda f, d: _stream(f, d, unix=False, accepted=False),
    "tcp-accepted": lambda f, d: _stream(f, d, unix=False, accepted=True),
    "unix-client": lambda f, d: _stream(f, d, unix=True, accepted=False),
    "unix-accepted": lambda f, d: _stream(f, d, unix=True, accepted=True),
    "unix-pair": _unix_pair,
    "udp-bound": lambda f, d: _udp(f, d, connected=False),
    "udp-connected": lambda f, d: _udp(f, d, connected=True),
    "unix-datagram-bound": lambda f, d: _unix_dgram(f, d, pair=False),
    "unix-datagram-pair": lambda f, d: _unix_dgram(f, d, pair=True),
    "seqpacket-pair": lambda f, d: _seqpacket(f, d, client=False),
    "seqpacket-client": lambda f, d: _seqpacket(f, d, client=True),
    "tcp-listener": lambda f, d: _listener(f, d, unix=False),
    "unix-listener": lambda f, d: _listener(f, d, unix=True),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_default_timeout_is_ignored(face: Face, sock_dir: pathlib.Path, kind: str) -> None:
    receive, send, expected, closers = KINDS[kind](face, sock_dir)
    try:
        pending = Pending(face, receive)
        assert pending.still_waiting(), "the receive ended: the process default was used"
        face.run(send())
        assert pending.result() == expected
    finally:
        for obj in closers:
            face.run(obj.close())


@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
def test_servers_connections_ignore_it(face: Face, sock_dir: pathlib.Path, unix: bool) -> None:
    api = _api(face)
    path = str(sock_dir / "srv")
    if face.aio:

        async def handler(conn: Any) -> None:
            assert conn.timeout is None
            await conn.sendall(await conn.recv_exactly(1))

    else:

        def handler(conn: Any) -> None:  # type: ignore[misc]
            assert conn.timeout is None
            conn.sendall(conn.recv_exactly(1))

    server = api.UnixServer(handler, path) if unix else api.TcpServer(handler)
    face.run(server.start())
    try:
        if unix:
            client = face.run(api.UnixClient.connect(path))
        else:
            client = face.run(api.TcpClient.connect("127.0.0.1", server.address.port))
        try:
            # Had the handler's read used the default, the server would have closed the
            # connection by now: this read would see the end (b""), not its deadline.
            with pytest.raises(NetkitTimeout):
                face.run(client.recv(1, timeout=WAIT))
            face.run(client.sendall(b"x"))
            assert face.run(client.recv_exactly(1, timeout=30)) == b"x"
        finally:
            face.run(client.close())
    finally:
        face.run(server.stop(5))


def test_a_socket_handed_in_keeps_its_own_timeout() -> None:
    # The caller's socket() took the default when it was made; netkit takes the socket's
    # timeout as the connection's default deadline (the documented wrapping rule).
    a, b = socket.socketpair()
    assert a.gettimeout() == DEFAULT
    conn = netkit.UnixConnection(a)
    with conn, b:
        assert conn.timeout == DEFAULT
        assert conn.socket.gettimeout() is None  # the socket itself blocks
        conn.timeout = None
        assert conn.timeout is None

    async def aio() -> float | None:
        x, y = socket.socketpair()
        aconn = await netkit.aio.UnixConnection.from_socket(x)
        try:
            return aconn.timeout
        finally:
            aconn.close()
            y.close()

    assert asyncio.run(aio()) == DEFAULT


def test_passing_fds_ignores_it(face: Face) -> None:
    # The aio face works on a duplicate descriptor here, a socket object it makes.
    api = _api(face)
    a, b = face.run(api.UnixConnection.pair())
    r, w = socket.socketpair()
    try:
        pending = Pending(face, lambda: b.recv_fds(10, 2))
        assert pending.still_waiting()
        face.run(a.send_fds(b"fd", [r.fileno()]))
        data, fds = pending.result()
        assert data == b"fd"
        assert len(fds) == 1
        for fd in fds:
            socket.socket(fileno=fd).close()
    finally:
        r.close()
        w.close()
        face.run(a.close())
        face.run(b.close())


def test_ping_ignores_it(face: Face) -> None:
    try:
        report = face.run(_api(face).ping("127.0.0.1", count=2, interval=0.05, timeout=5.0))
    except netkit.PingNotPermitted:
        pytest.skip("no ICMP socket allowed here")
    assert report.received == 2
