"""netkit.aio.TcpConnection.socket: the event loop's socket view, typed as TransportSocketLike."""

from __future__ import annotations

import pathlib
import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest
import trustme

from _aio_util import connection_pair, run
from netkit import tls
from netkit.aio import TcpClient, TcpConnection, TcpServer, TransportSocketLike

__all__ = ["run"]  # the fixture, imported for pytest

Run = Callable[..., Any]

# Every member the protocol promises (its methods and properties, not Protocol's own).
MEMBERS = sorted(
    name
    for name, value in vars(TransportSocketLike).items()
    if not name.startswith("_") and (callable(value) or isinstance(value, property))
)


def test_the_protocol_lists_the_read_only_socket_api() -> None:
    assert MEMBERS == [
        "dup",
        "family",
        "fileno",
        "get_inheritable",
        "getpeername",
        "getsockname",
        "getsockopt",
        "gettimeout",
        "proto",
        "setsockopt",
        "type",
    ]


def test_socket_has_every_member_and_is_the_connection_socket(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            sock = a.socket
            assert sock is not None
            for name in MEMBERS:
                assert hasattr(sock, name), (type(sock), name)
            assert not isinstance(sock, socket.socket)  # a view, not the socket itself
            assert sock.fileno() == a.fileno()
            assert sock.family == socket.AF_INET
            assert sock.type == socket.SOCK_STREAM
            assert sock.getsockname()[1] == a.local_address.port
            assert sock.getpeername()[1] == a.remote_address.port
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert not sock.gettimeout()  # the loop's sockets are non-blocking
            await a.sendall(b"still works")
            assert await b.recv_exactly(11, timeout=5) == b"still works"

    run(main())


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    where: pathlib.Path = tmp_path_factory.mktemp("aio-socket")
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    cert.private_key_pem.write_to_path(str(where / "key.pem"))
    with open(where / "chain.pem", "wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    return (
        tls.server_context(where / "chain.pem", where / "key.pem"),
        tls.client_context(where / "ca.pem"),
    )


def test_tls_socket_then_none_once_closed(
    run: Run, certs: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = certs

    async def handler(conn: TcpConnection) -> None:
        await conn.recv()

    async def main() -> None:
        async with TcpServer(handler, tls=server_ctx) as server:
            client = await TcpClient.connect(
                "127.0.0.1", server.address.port, tls=client_ctx, server_hostname="localhost"
            )
            async with client:
                sock = client.socket
                assert sock is not None
                assert sock.fileno() == client.fileno() >= 0
            assert client.socket is None  # the TLS transport let go of it

    run(main())


def test_socket_type_checks_as_the_protocol(tmp_path: pathlib.Path) -> None:
    api = pytest.importorskip("mypy.api")
    code = tmp_path / "user.py"
    code.write_text(
        "import asyncio.trsock, socket\n"
        "from netkit.aio import TcpConnection, TransportSocketLike\n"
        "def nodelay(conn: TcpConnection) -> int:\n"
        "    sock = conn.socket\n"
        "    assert sock is not None\n"
        "    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)\n"
        "def views(t: asyncio.trsock.TransportSocket, s: socket.socket) -> None:\n"
        "    a: TransportSocketLike = t\n"
        "    b: TransportSocketLike = s\n"
        "def no_io(sock: TransportSocketLike) -> None:\n"
        "    sock.send(b'x')\n"
    )
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", str(code)]
    )
    # Only the last function is wrong: the view has no send().
    assert status == 1, out + err
    assert out.count("error:") == 1, out
    assert 'user.py:11: error: "TransportSocketLike" has no attribute "send"' in out, out
