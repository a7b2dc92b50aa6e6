"""Any socket option by (level, name) on every netkit object that owns a socket, in both
faces: ``getsockopt``/``setsockopt`` as the socket module has them, with netkit's typed
errors (bad arguments, closed objects, kernel refusals naming the option)."""

from __future__ import annotations

import asyncio
import errno
import pathlib
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any

import pytest
import trustme

import netkit
import netkit.aio
from _unix_util import Face, face, sock_dir
from netkit._core.sockopt import option_text
from netkit.errors import ConnectionClosed

__all__ = ["face", "sock_dir"]  # fixtures, imported for pytest

Make = Callable[[Face, pathlib.Path], tuple[Any, list[Any]]]


def _space(face: Face) -> Any:
    return netkit.aio if face.aio else netkit


def _tcp(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    api = _space(face)
    listener = face.run(api.TcpListener.bind("127.0.0.1", 0))
    client = face.run(api.TcpClient.connect("127.0.0.1", listener.address.port))
    server = face.run(listener.accept(timeout=10))
    return client, [server, listener]


def _unix(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    a, b = face.run(_space(face).UnixConnection.pair())
    return a, [b]


def _unix_client(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    api = _space(face)
    listener = face.run(api.UnixListener.bind(str(folder / "s")))
    client = face.run(api.UnixClient.connect(str(folder / "s")))
    server = face.run(listener.accept(timeout=10))
    return client, [server, listener]


def _seqpacket(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    a, b = face.run(_space(face).SeqpacketConnection.pair())
    return a, [b]


def _udp(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    return face.run(_space(face).UdpEndpoint.bind("127.0.0.1", 0)), []


def _unix_dgram(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    return face.run(_space(face).UnixDatagramEndpoint.bind(str(folder / "d"))), []


def _tcp_listener(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    return face.run(_space(face).TcpListener.bind("127.0.0.1", 0)), []


def _unix_listener(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    return face.run(_space(face).UnixListener.bind(str(folder / "l"))), []


def _seqpacket_listener(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    return face.run(_space(face).SeqpacketListener.bind(str(folder / "q"))), []


def _server_listener(face: Face, folder: pathlib.Path) -> tuple[Any, list[Any]]:
    # A server's options are reached through the listener it serves on.
    api = _space(face)

    def handler(conn: Any) -> None:
        return None

    async def ahandler(conn: Any) -> None:
        return None

    server = api.TcpServer(ahandler if face.aio else handler)
    face.run(server.start())
    return server.listener, [_Stopper(face, server)]


class _Stopper:
    def __init__(self, face: Face, server: Any) -> None:
        self.face, self.server = face, server

    def close(self) -> None:
        self.face.run(self.server.stop(5))


KINDS: dict[str, tuple[Make, int]] = {
    "tcp": (_tcp, socket.SOCK_STREAM),
    "unix": (_unix, socket.SOCK_STREAM),
    "unix-client": (_unix_client, socket.SOCK_STREAM),
    "seqpacket": (_seqpacket, socket.SOCK_SEQPACKET),
    "udp": (_udp, socket.SOCK_DGRAM),
    "unix-datagram": (_unix_dgram, socket.SOCK_DGRAM),
    "tcp-listener": (_tcp_listener, socket.SOCK_STREAM),
    "unix-listener": (_unix_listener, socket.SOCK_STREAM),
    "seqpacket-listener": (_seqpacket_listener, socket.SOCK_SEQPACKET),
    "server-listener": (_server_listener, socket.SOCK_STREAM),
}


def _close(face: Face, objs: list[Any]) -> None:
    for obj in objs:
        face.run(obj.close())


def _outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        return ("returned", call())
    except Exception as exc:
        return (type(exc), str(exc), getattr(exc, "errno", None))


@pytest.mark.parametrize("kind", list(KINDS))
def test_get_and_set(face: Face, sock_dir: pathlib.Path, kind: str) -> None:
    make, sock_type = KINDS[kind]
    obj, others = make(face, sock_dir)
    try:
        assert obj.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == sock_type
        obj.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        # Linux doubles what was asked (see SocketOptions.read); never less than asked.
        assert obj.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 32768
        obj.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
        assert obj.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        raw = obj.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)
        assert isinstance(raw, bytes)
        assert len(raw) == 8
        obj.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 3))
        assert struct.unpack("ii", obj.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)) == (
            1,
            3,
        )
        assert obj.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 32768
    finally:
        _close(face, [obj, *others])


def _errors(face: Face, folder: pathlib.Path, kind: str) -> list[tuple[Any, ...]]:
    make, _ = KINDS[kind]
    obj, others = make(face, folder)
    sol = socket.SOL_SOCKET
    try:
        found = [
            _outcome(lambda: obj.getsockopt("1", socket.SO_TYPE)),
            _outcome(lambda: obj.getsockopt(sol, True)),
            _outcome(lambda: obj.getsockopt(sol, 2**40)),
            _outcome(lambda: obj.getsockopt(sol, socket.SO_TYPE, 0)),
            _outcome(lambda: obj.getsockopt(sol, socket.SO_TYPE, 4096)),
            _outcome(lambda: obj.getsockopt(sol, socket.SO_TYPE, 4.0)),
            _outcome(lambda: obj.setsockopt(sol, socket.SO_RCVBUF, "big")),
            _outcome(lambda: obj.setsockopt(sol, socket.SO_RCVBUF, None)),
            _outcome(lambda: obj.setsockopt(sol, socket.SO_RCVBUF, -(2**31) - 1)),
            # The kernel refuses: a level this socket does not have, a struct too short.
            _outcome(lambda: obj.getsockopt(sol, 0x7FFF)),
            _outcome(lambda: obj.setsockopt(sol, socket.SO_LINGER, b"\x01")),
        ]
    finally:
        _close(face, [obj, *others])
    found.append(_outcome(lambda: obj.getsockopt(sol, socket.SO_TYPE)))
    found.append(_outcome(lambda: obj.setsockopt(sol, socket.SO_RCVBUF, 4096)))
    return found


@pytest.mark.parametrize("kind", list(KINDS))
def test_errors(face: Face, sock_dir: pathlib.Path, kind: str) -> None:
    found = _errors(face, sock_dir, kind)
    assert found[0] == (TypeError, "level must be an int, not str", None)
    assert found[1] == (TypeError, "name must be an int, not bool", None)
    assert found[2][0] is ValueError
    assert "name must fit a C int" in found[2][1]
    assert found[3] == (ValueError, "buflen must be in 1..1024 or None, not 0", None)
    assert found[4] == (ValueError, "buflen must be in 1..1024 or None, not 4096", None)
    assert found[5] == (TypeError, "buflen must be an int or None, not float", None)
    assert found[6] == (TypeError, "value must be an int or bytes-like, not str", None)
    assert found[7] == (TypeError, "value must be an int or bytes-like, not NoneType", None)
    assert found[8][0] is ValueError
    assert "value must fit a C int" in found[8][1]
    kind_error, message, code = found[9]
    assert kind_error is OSError
    assert code == errno.ENOPROTOOPT
    assert message.startswith(f"[Errno {code}] cannot get socket option (level 1, name 32767): ")
    kind_error, message, code = found[10]
    assert kind_error is OSError
    assert code == errno.EINVAL
    assert "cannot set socket option SOL_SOCKET/SO_LINGER (level 1, name 13)" in message
    # After close: the object's own closed error, for reads and writes alike.
    assert found[11][0] is ConnectionClosed
    assert found[12] == found[11]


@pytest.mark.parametrize("kind", list(KINDS))
def test_faces_agree(sock_dir: pathlib.Path, kind: str) -> None:
    outcomes = [_errors(Face("sync", None), sock_dir, kind)]
    loop = asyncio.new_event_loop()
    try:
        outcomes.append(_errors(Face("asyncio", loop), sock_dir, kind))
    finally:
        loop.close()
    assert outcomes[0] == outcomes[1]


def test_closed_errors_are_each_kinds_own(sock_dir: pathlib.Path) -> None:
    face = Face("sync", None)
    texts = {kind: _errors(face, sock_dir, kind)[11][1] for kind in KINDS}
    assert texts["tcp"] == texts["unix"] == "connection is closed"
    assert texts["tcp-listener"] == texts["unix-listener"] == "listener is closed"
    assert texts["seqpacket-listener"] == "listener is closed"
    assert texts["udp"] == "UdpEndpoint is closed"


def test_kernel_error_keeps_its_type_and_cause() -> None:
    a, b = netkit.UnixConnection.pair()
    with a, b:
        with pytest.raises(OSError, match="IPPROTO_TCP/TCP_NODELAY") as info:
            a.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert info.value.errno == errno.EOPNOTSUPP
    assert "IPPROTO_TCP/TCP_NODELAY" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert not isinstance(info.value, netkit.NetkitError)


def test_permission_error_stays_a_permission_error() -> None:
    # SO_PRIORITY above 6 needs CAP_NET_ADMIN; as root it is simply set.
    option = getattr(socket, "SO_PRIORITY", None)
    if option is None:
        pytest.skip("no SO_PRIORITY")
    a, b = netkit.UnixConnection.pair()
    with a, b:
        error: PermissionError | None = None
        try:
            a.setsockopt(socket.SOL_SOCKET, option, 7)
        except PermissionError as exc:  # without CAP_NET_ADMIN
            error = exc
        if error is None:
            assert a.getsockopt(socket.SOL_SOCKET, option) == 7
        else:
            assert "cannot set socket option SOL_SOCKET/SO_PRIORITY" in str(error)


def test_memory_pairs_have_no_socket() -> None:
    from netkit.testing import memory_pair

    a, b = memory_pair()
    with a, b:
        with pytest.raises(OSError, match="MemoryConnection has no socket") as info:
            a.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
    assert info.value.errno == errno.ENOTSOCK
    assert "MemoryConnection has no socket" in str(info.value)

    async def aio() -> OSError:
        from netkit.aio.testing import memory_pair as aio_pair

        x, y = await aio_pair()
        try:
            x.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        except OSError as exc:
            return exc
        finally:
            x.close()
            y.close()
        raise AssertionError("no error")

    error = asyncio.run(aio())
    assert error.errno == errno.ENOTSOCK


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return client, server


def test_tls_connections(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    client_ctx, server_ctx = tls_contexts

    def handler(conn: netkit.TcpConnection) -> None:
        conn.recv_all()

    with netkit.TcpServer(handler, tls=server_ctx) as server:
        port = server.address.port
        with netkit.TcpClient.connect("127.0.0.1", port, tls=client_ctx) as conn:
            assert conn.is_tls
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1

    async def aio() -> int:
        async def ahandler(conn: netkit.aio.TcpConnection) -> None:
            await conn.recv_all()

        async with netkit.aio.TcpServer(ahandler, tls=server_ctx) as aserver:
            conn = await netkit.aio.TcpClient.connect(
                "127.0.0.1", aserver.address.port, tls=client_ctx
            )
            try:
                assert conn.is_tls
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
                return conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            finally:
                await conn.aclose()

    assert asyncio.run(aio()) == 0


def test_option_names() -> None:
    assert option_text(socket.SOL_SOCKET, socket.SO_RCVBUF) == (
        f"SOL_SOCKET/SO_RCVBUF (level {socket.SOL_SOCKET}, name {socket.SO_RCVBUF})"
    )
    assert option_text(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY).startswith(
        "IPPROTO_IPV6/IPV6_V6ONLY "
    )
    assert option_text(12345, 6789) == "(level 12345, name 6789)"
