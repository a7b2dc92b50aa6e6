"""netkit.aio.TcpServer: serving, limits, idle, errors, graceful stop, no leaks."""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Callable
from typing import Any

import pytest

from _aio_util import assert_same_error, open_fds, run, wait_until
from netkit.aio import TcpClient, TcpConnection, TcpServer
from netkit.errors import ConnectFailed, NetkitTimeout

__all__ = ["run"]  # the fixture, imported for pytest

Run = Callable[..., Any]


async def echo_lines(conn: TcpConnection) -> None:
    async for line in conn:
        await conn.sendall(line)


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_echo_and_properties(run: Run) -> None:
    async def main() -> None:
        server = TcpServer(echo_lines)
        with pytest.raises(RuntimeError):
            server.address  # noqa: B018 - not started
        async with server:
            assert server.address.host == "127.0.0.1"
            assert server.address.port > 0
            async with await TcpClient.connect("127.0.0.1", server.address.port) as client:
                await client.sendall(b"ping\n")
                assert await client.readline(timeout=5) == b"ping\n"
                assert server.active_connections == 1
                assert client.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            await wait_until(lambda: server.active_connections == 0)

    run(main())


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
def test_dual_stack(run: Run) -> None:
    async def main() -> None:
        async with TcpServer(echo_lines, host="::") as server:
            port = server.address.port
            for host in ("127.0.0.1", "::1"):
                async with await TcpClient.connect(host, port, timeout=5) as client:
                    await client.sendall(host.encode() + b"\n")
                    assert await client.readline(timeout=5) == host.encode() + b"\n"

    run(main())


def test_max_connections_waits_in_backlog(run: Run) -> None:
    async def main() -> None:
        served = 0
        release = asyncio.Event()

        async def handler(conn: TcpConnection) -> None:
            nonlocal served
            served += 1
            await conn.sendall(b"hi\n")
            await release.wait()

        async with TcpServer(handler, max_connections=2) as server:
            port = server.address.port
            clients = [await TcpClient.connect("127.0.0.1", port) for _ in range(3)]
            try:
                assert await clients[0].readline(timeout=5) == b"hi\n"
                assert await clients[1].readline(timeout=5) == b"hi\n"
                # The third is connected (kernel backlog) but not accepted: no greeting,
                # and it was not accepted-then-dropped either.
                with pytest.raises(NetkitTimeout):
                    await clients[2].readline(timeout=0.3)
                assert served == 2
                assert server.active_connections == 2
                release.set()
                assert await clients[2].readline(timeout=5) == b"hi\n"
                assert served == 3
            finally:
                for client in clients:
                    await client.aclose()

    run(main())


def test_idle_timeout_closes_connection(run: Run) -> None:
    async def main() -> None:
        async with TcpServer(echo_lines, idle_timeout=0.2) as server:
            async with await TcpClient.connect("127.0.0.1", server.address.port) as client:
                await client.sendall(b"a\n")
                assert await client.readline(timeout=5) == b"a\n"
                assert await client.recv(timeout=5) == b""  # closed by the server
            await wait_until(lambda: server.active_connections == 0)

    run(main())


def test_handler_exception_is_logged_once_and_isolated(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(conn: TcpConnection) -> None:
        line = await conn.readline()
        if line == b"boom\n":
            raise RuntimeError("handler exploded")
        await conn.sendall(line)

    async def main() -> str:
        async with TcpServer(handler) as server:
            port = server.address.port
            async with await TcpClient.connect("127.0.0.1", port) as bad:
                await bad.sendall(b"boom\n")
                assert await bad.recv(timeout=5) == b""
                peer = str(bad.local_address)
            async with await TcpClient.connect("127.0.0.1", port) as good:
                await good.sendall(b"fine\n")
                assert await good.readline(timeout=5) == b"fine\n"
        return peer

    with caplog.at_level(logging.INFO, logger="netkit"):
        peer = run(main())
    failures = [r for r in caplog.records if r.exc_info and "exploded" in str(r.exc_info[1])]
    assert len(failures) == 1
    assert failures[0].name == "netkit"
    assert peer in failures[0].getMessage()


def test_graceful_stop_lets_handlers_finish_then_closes_the_rest(run: Run) -> None:
    async def main() -> None:
        finished: list[str] = []
        go = asyncio.Event()

        async def handler(conn: TcpConnection) -> None:
            kind = await conn.readline()
            if kind == b"quick\n":
                await go.wait()
                await conn.sendall(b"done\n")
                finished.append("quick")
            else:
                assert await conn.recv() == b""  # woken by stop() closing the connection
                finished.append("stuck")

        fds_before = open_fds()
        server = await TcpServer(handler).start()
        port = server.address.port
        quick = await TcpClient.connect("127.0.0.1", port)
        stuck = await TcpClient.connect("127.0.0.1", port)
        await quick.sendall(b"quick\n")
        await stuck.sendall(b"stuck\n")
        await wait_until(lambda: server.active_connections == 2)
        loop = asyncio.get_running_loop()
        stopping = asyncio.ensure_future(server.stop(timeout=0.5))
        await asyncio.sleep(0)
        # New connections are refused at once...
        with pytest.raises(ConnectFailed) as info:
            await TcpClient.connect("127.0.0.1", port, timeout=2)
        assert isinstance(info.value.attempts[0][1], ConnectionRefusedError)
        # ...while the running handler may still finish its reply.
        go.set()
        assert await quick.readline(timeout=5) == b"done\n"
        start = loop.time()
        await stopping
        assert loop.time() - start < 3
        assert sorted(finished) == ["quick", "stuck"]
        assert server.active_connections == 0
        assert await stuck.recv(timeout=5) == b""
        await quick.aclose()
        await stuck.aclose()
        await server.stop()  # idempotent
        assert open_fds() <= fds_before

    run(main())


def test_stop_cancels_handlers_that_ignore_eof(run: Run) -> None:
    async def main() -> None:
        cancelled = asyncio.Event()

        async def handler(conn: TcpConnection) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        async with TcpServer(handler) as server:
            client = await TcpClient.connect("127.0.0.1", server.address.port)
            await wait_until(lambda: server.active_connections == 1)
            await server.stop(timeout=0.05)
            assert cancelled.is_set()
            await client.aclose()

    run(main())


def test_serve_forever_until_stopped(run: Run) -> None:
    async def main() -> None:
        server = TcpServer(echo_lines)
        serving = asyncio.ensure_future(server.serve_forever())
        await wait_until(lambda: server.serving)
        async with await TcpClient.connect("127.0.0.1", server.address.port) as client:
            await client.sendall(b"x\n")
            assert await client.readline(timeout=5) == b"x\n"
        await server.stop()
        await asyncio.wait_for(serving, 5)

    run(main())


def test_cancelling_serve_forever_stops_the_server_gracefully(run: Run) -> None:
    """Ctrl-C in ``asyncio.run(server.serve_forever())`` cancels it: the server stops."""

    async def main() -> None:
        before = open_fds()
        finished = asyncio.Event()

        async def handler(conn: TcpConnection) -> None:
            await echo_lines(conn)
            finished.set()

        server = TcpServer(handler)
        serving = asyncio.ensure_future(server.serve_forever())
        await wait_until(lambda: server.serving)
        port = server.address.port
        client = await TcpClient.connect("127.0.0.1", port)
        await client.sendall(b"x\n")
        assert await client.readline(timeout=5) == b"x\n"
        serving.cancel()
        # The stop begins at once: no new connections, while the open one may finish.
        await wait_until(lambda: not server.serving)
        with pytest.raises(ConnectFailed):
            await TcpClient.connect("127.0.0.1", port, timeout=5)
        assert not serving.done()  # still draining
        assert not finished.is_set()
        await client.aclose()  # the in-flight handler sees EOF and returns
        with pytest.raises(asyncio.CancelledError):
            await serving
        assert finished.is_set()
        await wait_until(lambda: open_fds() <= before)

    run(main())


def test_thousand_concurrent_clients(run: Run) -> None:
    count = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * count + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    async def handler(conn: TcpConnection) -> None:
        async for line in conn:
            await conn.sendall(line)

    async def main() -> None:
        fds_before = open_fds()
        async with TcpServer(handler, backlog=1024) as server:
            port = server.address.port
            gate = asyncio.Semaphore(100)  # connect in waves: no SYN-queue overflow retries

            async def connect() -> TcpClient:
                async with gate:
                    return await TcpClient.connect("127.0.0.1", port, timeout=20)

            clients = await asyncio.gather(*(connect() for _ in range(count)))
            try:
                await wait_until(lambda: server.active_connections == count, timeout=20)

                async def talk(i: int, client: TcpClient) -> bytes:
                    await client.sendall(b"%d\n" % i)
                    return await client.readline(timeout=20)

                replies = await asyncio.gather(*(talk(i, c) for i, c in enumerate(clients)))
                assert replies == [b"%d\n" % i for i in range(count)]
            finally:
                await asyncio.gather(*(c.aclose() for c in clients))
        assert server.active_connections == 0
        assert open_fds() <= fds_before

    try:
        run(main(), timeout=50)
    finally:
        if soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        TcpServer("not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port"):
        TcpServer(echo_lines, port=70000)
    with pytest.raises(ValueError, match="max_connections"):
        TcpServer(echo_lines, max_connections=0)
    with pytest.raises(TypeError):
        TcpServer(echo_lines, tls="yes")  # type: ignore[arg-type]


def test_handler_may_stop_its_own_server(run: Run) -> None:
    async def main() -> None:
        server: TcpServer

        async def handler(conn: TcpConnection) -> None:
            if await conn.readline() == b"quit\n":
                await conn.sendall(b"bye\n")
                await server.stop(timeout=0.1)

        server = await TcpServer(handler).start()
        other = await TcpClient.connect("127.0.0.1", server.address.port)
        async with await TcpClient.connect("127.0.0.1", server.address.port) as client:
            await client.sendall(b"quit\n")
            assert await client.readline(timeout=5) == b"bye\n"
            assert await other.recv(timeout=5) == b""  # the other handler was closed
            await wait_until(lambda: not server.serving and server.active_connections == 0)
        await other.aclose()
        await server.stop()

    run(main())


BAD_SERVER_ARGUMENTS = [
    {"host": 5},
    {"port": -1},
    {"port": 70000},
    {"port": "1"},
    {"backlog": -1},
    {"backlog": "1"},
    {"max_connections": 0},
    {"max_connections": True},
    {"idle_timeout": -1},
    {"tls": "x"},
    {"options": {}},
    {"tls_handshake_timeout": -1},
]


@pytest.mark.parametrize("kwargs", BAD_SERVER_ARGUMENTS, ids=repr)
def test_bad_arguments_fail_like_the_sync_server(kwargs: dict[str, Any]) -> None:
    """Both servers check their arguments in the constructor, with the same errors."""
    import netkit

    async def handler(conn: TcpConnection) -> None:
        pass

    async def construct() -> None:
        TcpServer(handler, **kwargs)

    assert_same_error(lambda: netkit.TcpServer(lambda conn: None, **kwargs), construct)


@pytest.mark.parametrize("host", ["bad host", "999.1.1.1", "::1%", "nonexistent.invalid"])
def test_bad_host_fails_at_start_like_the_sync_server(host: str) -> None:
    """A host that cannot be listened on is a netkit error (not a raw gaierror), alike."""
    import netkit
    from netkit.errors import NetkitError

    async def handler(conn: TcpConnection) -> None:
        pass

    async def start() -> None:
        await TcpServer(handler, host=host).start()

    before = open_fds()
    assert_same_error(
        lambda: netkit.TcpServer(lambda conn: None, host=host).start(), start, NetkitError
    )
    assert open_fds() == before  # nothing was left open by the failed starts


def test_tls_connections_close_without_asyncio_warnings(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    # asyncio warned "returning true from eof_received() has no effect when using ssl"
    # on every normal TLS close: a log line per connection an attacker gets for free.
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def main() -> None:
        async def echo(conn: TcpConnection) -> None:
            await conn.sendall(await conn.readline())

        async with TcpServer(echo, tls=server_ctx) as server:
            for _ in range(3):
                async with await TcpClient.connect(
                    "127.0.0.1", server.address.port, tls=client_ctx, timeout=10
                ) as client:
                    await client.sendall(b"hi\n")
                    assert await client.readline(timeout=10) == b"hi\n"
                    assert await client.recv(timeout=10) == b""  # the server closed

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        run(main())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_accepted_socket_is_a_plain_stream_socket(run: Run, host: str) -> None:
    # The server makes accepted sockets itself (without socket.accept()'s enum
    # conversions): what a handler sees must be what socket.accept() would have given.
    if host == "::1" and not _has_ipv6():
        pytest.skip("no IPv6 loopback")
    seen: list[tuple[object, object, int, int]] = []

    async def handler(conn: TcpConnection) -> None:
        sock = conn.transport.get_extra_info("socket")
        nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        seen.append((sock.family, sock.type, sock.proto, nodelay))
        await conn.sendall(b"ok")

    async def main() -> None:
        async with TcpServer(handler, host, 0) as server:
            async with await TcpClient.connect(host, server.address.port) as client:
                assert await client.recv_exactly(2) == b"ok"

    run(main())
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    [(got_family, got_type, proto, nodelay)] = seen
    assert type(got_family) is socket.AddressFamily
    assert got_family == family
    assert type(got_type) is socket.SocketKind
    assert got_type == socket.SOCK_STREAM
    assert proto == 0
    assert nodelay != 0


def test_accepted_socket_class_reads_like_socket_socket() -> None:
    from netkit.aio._server import _accepted_class

    with socket.socket() as plain:
        made = _accepted_class(socket.AF_INET, socket.SOCK_STREAM)
        assert made is _accepted_class(socket.AF_INET, socket.SOCK_STREAM)  # one per kind
        sock = made(socket.AF_INET, socket.SOCK_STREAM, 0, plain.detach())
        with sock:
            assert isinstance(sock, socket.socket)
            assert sock.family is socket.AF_INET
            assert sock.type is socket.SOCK_STREAM
            assert repr(sock).startswith(f"<socket.socket fd={sock.fileno()}, family=")
            with sock.dup() as copy:
                assert copy.family is socket.AF_INET
                assert copy.fileno() != sock.fileno()
        assert sock.fileno() == -1
