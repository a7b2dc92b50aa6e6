"""The stream conformance table over both faces and every stream transport.

The same situations (every read method at EOF, mid-message, over its limit, after close,
on timeout; bad arguments; sends and half-close) run over sync and asyncio connections,
plain and TLS; each outcome must be the table's, so the faces are identical.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

import netkit.aio.testing as aio_testing
import netkit.testing as sync_testing
from _aio_util import run  # noqa: F401  (the fixture)
from netkit import TcpConnection
from netkit._core.conformance import CASES, Case, Outcome, Step
from netkit.aio import TcpConnection as AioConnection
from netkit.aio import UnixConnection as AioUnixConnection
from netkit.errors import ConnectionClosed
from netkit.unix import UnixConnection

pytestmark = pytest.mark.timeout(120)
Run = Callable[..., Any]


def _socket_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        server, _ = listener.accept()
    return client, server


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return client, server


def _sync_tcp() -> tuple[TcpConnection, TcpConnection]:
    a, b = _socket_pair()
    return TcpConnection(a), TcpConnection(b)


def _sync_tls(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> tuple[Any, Any]:
    client_ctx, server_ctx = contexts
    a, b = _socket_pair()
    box: dict[str, Any] = {}

    def serve() -> None:
        try:
            box["b"] = server_ctx.wrap_socket(b, server_side=True)
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    tls_a = client_ctx.wrap_socket(a, server_hostname="127.0.0.1")
    thread.join(10)
    assert "error" not in box
    assert "b" in box
    return TcpConnection(tls_a), TcpConnection(box["b"])


async def _aio_tcp() -> tuple[AioConnection, AioConnection]:
    a, b = _socket_pair()
    return await AioConnection.from_socket(a), await AioConnection.from_socket(b)


def test_sync_tcp_conforms() -> None:
    sync_testing.check_connection_pair(_sync_tcp)


def test_sync_tls_conforms(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    sync_testing.check_connection_pair(lambda: _sync_tls(tls_contexts), half_close=False)


def test_aio_tcp_conforms(run: Run) -> None:  # noqa: F811
    run(aio_testing.check_connection_pair(_aio_tcp))


def test_aio_tls_conforms(
    run: Run,  # noqa: F811
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    client_ctx, server_ctx = tls_contexts

    async def make() -> tuple[AioConnection, AioConnection]:
        a, b = _socket_pair()
        return await asyncio.gather(
            AioConnection.from_socket(a, tls=client_ctx, server_hostname="127.0.0.1"),
            AioConnection.from_socket(b, tls=server_ctx, server_side=True),
        )

    run(aio_testing.check_connection_pair(make, half_close=False))


def test_sync_unix_pair_conforms() -> None:
    sync_testing.check_connection_pair(UnixConnection.pair)


def test_aio_unix_pair_conforms(run: Run) -> None:  # noqa: F811
    run(aio_testing.check_connection_pair(AioUnixConnection.pair))


def test_sync_unix_server_connections_conform(tmp_path: Path) -> None:
    # The connection a UnixServer hands its handler, against a UnixClient.
    import queue

    from netkit.unix import UnixClient, UnixServer

    path = str(tmp_path / "conform.sock")
    handed: queue.Queue[Any] = queue.Queue()
    release = threading.Event()

    def handler(conn: UnixConnection) -> None:
        handed.put(conn)
        release.wait(120)  # the connection stays ours until the checks are done

    def make() -> tuple[UnixConnection, UnixConnection]:
        client = UnixClient.connect(path, timeout=10)
        return handed.get(timeout=10), client

    with UnixServer(handler, path):
        try:
            sync_testing.check_connection_pair(make)
        finally:
            release.set()


def test_aio_unix_server_connections_conform(run: Run, tmp_path: Path) -> None:  # noqa: F811
    from netkit.aio import UnixClient, UnixServer

    path = str(tmp_path / "conform.sock")

    async def main() -> None:
        handed: asyncio.Queue[Any] = asyncio.Queue()
        release = asyncio.Event()

        async def handler(conn: AioUnixConnection) -> None:
            await handed.put(conn)
            await release.wait()

        async def make() -> tuple[AioUnixConnection, AioUnixConnection]:
            client = await UnixClient.connect(path, timeout=10)
            return await asyncio.wait_for(handed.get(), 10), client

        async with UnixServer(handler, path):
            try:
                await aio_testing.check_connection_pair(make)
            finally:
                release.set()

    run(main())


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_both_faces_give_identical_outcomes(run: Run, kind: str) -> None:  # noqa: F811
    # Not only "each matches the table": the recorded outcomes are equal case by case.
    sync_pair = _sync_tcp if kind == "tcp" else UnixConnection.pair
    aio_pair = _aio_tcp if kind == "tcp" else AioUnixConnection.pair
    sync_results = []
    for case in CASES:
        a, b = sync_pair()
        with a, b:
            sync_results.append(sync_testing.run_case(case, a, b))

    async def aio_side() -> list[list[tuple[int, Outcome]]]:
        out = []
        for case in CASES:
            a, b = await aio_pair()
            try:
                out.append(await aio_testing.run_case(case, a, b))
            finally:
                await a.aclose()
                await b.aclose()
        return out

    aio_results = run(aio_side())
    for case, mine, theirs in zip(CASES, sync_results, aio_results, strict=True):
        assert mine == theirs, case.name
    assert len(sync_results) == len(CASES) > 40


def test_a_deviation_is_named() -> None:
    # The checker itself: a wrapper that gets one message wrong is caught and named.
    class Sloppy(TcpConnection):
        def recv_exactly(self, n: int, *, timeout: float | None = None) -> bytes:
            try:
                return super().recv_exactly(n, timeout=timeout)
            except ConnectionClosed as exc:
                raise ConnectionClosed("closed early", exc.partial) from None

    def make() -> tuple[TcpConnection, TcpConnection]:
        a, b = _socket_pair()
        return Sloppy(a), TcpConnection(b)

    with pytest.raises(AssertionError, match=r"recv_exactly at EOF.*'closed early'"):
        sync_testing.check_connection_pair(make)
    # and a case that passes on a correct pair reports nothing
    only = [Case("one", (Step("b", "sendall", (b"x",)), Step("a", "recv", (), {}, Outcome(b"x"))))]
    sync_testing.check_connection_pair(_sync_tcp, cases=only)
