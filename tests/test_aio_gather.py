"""netkit.aio: small writes gathered while a connection streams, and the server's fast paths.

A ``recv()`` that fills its *max_bytes* marks the connection as streaming; the
``sendall()`` calls that follow are held back and written together when the task next
waits for bytes, or on the loop's next turn. Nothing may be reordered, delayed for
good or lost by it: every path that writes, closes or half-closes hands them over first.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from _aio_util import connection_pair, run, wait_until
from netkit.aio import TcpClient, TcpConnection, TcpServer

__all__ = ["run"]  # the fixture, imported for pytest

Run = Callable[..., Any]
T = 10.0  # generous: only a bound, never a measurement


async def _read_exactly(conn: TcpConnection, n: int) -> bytes:
    return await conn.recv_exactly(n, timeout=T)


async def _streaming(a: TcpConnection, b: TcpConnection) -> bytes:
    """Make *b* streaming: a sends 8 bytes, b takes 4 of them (its max_bytes) and echoes."""
    await a.sendall(b"abcdefgh")
    await wait_until(lambda: b.buffered == 8)
    piece = await b.recv(4, timeout=T)
    assert piece == b"abcd"
    await b.sendall(piece)
    return piece


def test_streaming_writes_are_gathered_then_sent_in_order(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            await a.sendall(b"abcdefgh")
            await wait_until(lambda: b.buffered == 8)
            assert await b.recv(4) == b"abcd"  # filled max_bytes: streaming
            await b.sendall(b"1")
            await b.sendall(bytearray(b"2"))  # a mutable buffer is copied when held
            assert b._protocol.gathered  # held back, not yet written
            assert await b.recv(4) == b"efgh"
            await b.sendall(b"3")
            reader = asyncio.ensure_future(b.recv(4))  # about to wait: they go now
            assert await _read_exactly(a, 3) == b"123"
            await a.sendall(b"z")
            assert await reader == b"z"  # short of max_bytes: no longer streaming
            await b.sendall(b"4")
            assert not b._protocol.gathered  # written at once
            assert await _read_exactly(a, 1) == b"4"

    run(main())


def test_gathered_writes_go_out_without_a_read(run: Run) -> None:
    """A handler that streams, then waits for something other than bytes: the loop's
    next turn hands the gathered writes over all the same."""

    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            await _streaming(a, b)
            assert b._protocol.gathered
            assert await _read_exactly(a, 4) == b"abcd"  # b never read again

    run(main())


def test_gathered_writes_come_before_what_follows(run: Run) -> None:
    """The escape hatch, shutdown_write and close hand gathered writes over first."""

    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            await _streaming(a, b)
            b.transport.write(b"!")
            assert await _read_exactly(a, 5) == b"abcd!"

            await b.recv(4, timeout=T)  # efgh: streaming again
            await b.sendall(b"tail")
            assert b._protocol.gathered
            b.shutdown_write()
            assert await a.recv_all(timeout=T) == b"tail"

        a, b = await connection_pair()
        async with a:
            await _streaming(a, b)
            await b.aclose()
            assert await a.recv_all(timeout=T) == b"abcd"

    run(main())


def test_abort_drops_gathered_writes(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a:
            await _streaming(a, b)
            b.abort()
            assert not b._protocol.gathered
            assert b.closed

    run(main())


def test_streaming_echo_server_keeps_every_byte_in_order(run: Run) -> None:
    """A server echoing in 1 KiB pieces (every recv fills): 1 MiB comes back intact."""

    async def echo(conn: TcpConnection) -> None:
        while data := await conn.recv(1024):
            await conn.sendall(data)

    async def main() -> None:
        payload = bytes(range(256)) * 4096
        async with TcpServer(echo) as server:
            async with await TcpConnection.from_socket(
                socket.create_connection(("127.0.0.1", server.address.port), timeout=T)
            ) as client:
                sender = asyncio.ensure_future(client.sendall(payload, timeout=T))
                got = await client.recv_exactly(len(payload), timeout=T)
                await sender
                assert got == payload

    run(main())


def test_server_connections_have_nodelay_and_addresses(run: Run) -> None:
    """The accept fast path still turns TCP_NODELAY on and reports both addresses."""
    seen: list[tuple[int, str, str]] = []

    async def handler(conn: TcpConnection) -> None:
        sock = conn.socket
        assert sock is not None
        nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        seen.append((nodelay, str(conn.local_address), str(conn.remote_address)))
        await conn.sendall(b"ok")

    async def main() -> None:
        async with TcpServer(handler) as server:
            async with await TcpClient.connect("127.0.0.1", server.address.port) as client:
                assert await client.recv_exactly(2, timeout=T) == b"ok"
                mine = client.local_address
            await wait_until(lambda: server.active_connections == 0)
        assert seen == [(1, str(server.address), str(mine))]

    run(main())
