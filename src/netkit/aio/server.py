"""asyncio :class:`TcpServer`: our own accept loop, one task per connection.

The server runs its own accept loop (``loop.sock_accept`` on a non-blocking listening
socket) rather than ``loop.create_server``, because that is what makes
``max_connections`` honest: when the limit is reached the loop simply stops accepting,
so further clients wait in the kernel's backlog instead of being accepted and dropped.
The cost is one accept per loop turn, which only matters at connection rates far above
what a Python handler can serve.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from netkit._core.checks import check_timeout
from netkit.addr import Endpoint, is_ip
from netkit.aio.connection import TcpConnection, endpoint_of
from netkit.errors import NetkitTimeout
from netkit.options import SocketOptions
from netkit.tcp.server import (
    _CONNECTION_FIELDS,
    _check_server_args,
    _listen_address,
    _listen_socket,
    _pick,
)

__all__ = ["Handler", "TcpServer"]

logger = logging.getLogger("netkit")

#: ``async def handler(conn: TcpConnection) -> None``
Handler = Callable[[TcpConnection], Awaitable[Any]]

# After stop() has closed what was left, handlers get this long to notice before they
# are cancelled (one blocked in recv wakes at once; one sleeping needs the cancel).
_CANCEL_GRACE = 0.5
# Back-off after accept fails for lack of resources (EMFILE, ENOBUFS): retrying at once
# would spin the loop.
_ACCEPT_BACKOFF = 0.1
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class TcpServer:
    """An asyncio TCP server running ``async def handler(conn)`` per connection.

    ``async with TcpServer(handler) as server:`` starts it and stops it on exit;
    :meth:`start` binds and serves in the background; :meth:`serve_forever` waits until
    :meth:`stop`. Handlers receive a :class:`netkit.aio.TcpConnection` (closed for them
    when they return). A handler's exception is logged to the ``netkit`` logger with the
    peer's address and closes only its own connection.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backlog: int = 128,
        max_connections: int | None = None,
        idle_timeout: float | None = None,
        options: SocketOptions | None = None,
        tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be an async callable, not {type(handler).__name__}")
        _check_server_args(
            host, port, backlog, max_connections, idle_timeout, options, tls, tls_handshake_timeout
        )
        self._handler = handler
        self._host = host
        self._port = port
        self._backlog = backlog
        self._max_connections = max_connections
        self._idle_timeout = check_timeout("idle_timeout", idle_timeout)
        self._tls_handshake_timeout = float(tls_handshake_timeout)
        # As in the sync server: listener options go on the listening socket, the rest
        # on each accepted one, with TCP_NODELAY on unless asked otherwise (a server
        # answers requests; Nagle's algorithm would hold small answers back).
        self._options = options or SocketOptions()
        self._conn_options = _pick(self._options, _CONNECTION_FIELDS)
        if self._conn_options.nodelay is None:
            self._conn_options = dataclasses.replace(self._conn_options, nodelay=True)
        self._tls = tls
        self._sock: socket.socket | None = None
        self._address: Endpoint | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # handler task -> its connection, once the connection is up (TLS done)
        self._connections: dict[asyncio.Task[Any], TcpConnection] = {}
        self._slots: asyncio.Semaphore | None = None
        self._stopped: asyncio.Event | None = None
        self._stopping = False

    # -- properties --------------------------------------------------------------------

    @property
    def address(self) -> Endpoint:
        """The bound address (with the real port when port 0 was asked)."""
        if self._address is None:
            raise RuntimeError("server is not started")
        return self._address

    @property
    def active_connections(self) -> int:
        """Connections currently open (handed to a handler and not yet closed)."""
        return len(self._connections)

    @property
    def serving(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._accept_task is not None and not self._stopping

    def __repr__(self) -> str:
        where = self._address if self._address is not None else f"{self._host}:{self._port}"
        return f"<aio.TcpServer {where} active={len(self._connections)}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> TcpServer:
        """Bind, listen and start accepting in the background; return the server."""
        if self._accept_task is not None or self._stopping:
            raise RuntimeError("server already started")
        loop = asyncio.get_running_loop()
        host = self._host
        find = functools.partial(_listen_address, host, self._port)
        # A literal needs no resolver; a name may block, so it goes to a thread.
        if host in ("", "::") or is_ip(host, allow_zone=True):
            family, sockaddr = find()
        else:
            family, sockaddr = await loop.run_in_executor(None, find)
        sock = _listen_socket(family, sockaddr, self._backlog, self._options)
        sock.setblocking(False)
        self._sock = sock
        name = endpoint_of(self._sock.getsockname())
        assert name is not None
        self._address = name
        if self._max_connections is not None:
            self._slots = asyncio.Semaphore(self._max_connections)
        self._stopped = asyncio.Event()
        self._accept_task = loop.create_task(self._accept_loop(self._sock))
        return self

    async def serve_forever(self) -> None:
        """Serve until :meth:`stop` is called (starting first if needed).

        Cancelling this coroutine stops the server (with the default timeout).
        """
        if self._accept_task is None:
            await self.start()
        assert self._stopped is not None
        try:
            await self._stopped.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self.stop())
            raise

    async def stop(self, timeout: float | None = 5.0) -> None:
        """Stop accepting now; let handlers finish for *timeout* seconds; close the rest.

        Connections still open after *timeout* are closed at once, which wakes their
        handlers (a pending read returns EOF); handlers that still do not return are
        cancelled. Returns when every handler has returned. Idempotent.
        """
        timeout = check_timeout("timeout", timeout)
        if self._stopping or self._accept_task is None:
            if self._stopped is not None:
                await self._stopped.wait()
            return
        self._stopping = True
        if self._sock is not None:
            # Refuse new connections now (Linux: shutdown() on a listener makes the
            # kernel refuse SYNs), not after the accept task has noticed the cancel.
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        accept_task = self._accept_task
        accept_task.cancel()
        await asyncio.gather(accept_task, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
        # A handler may call stop() itself: never wait for (or cancel) the caller.
        me = asyncio.current_task()

        def others() -> set[asyncio.Task[None]]:
            return {task for task in self._tasks if task is not me}

        try:
            if others():
                await asyncio.wait(others(), timeout=timeout)
            if others():
                for task, conn in list(self._connections.items()):
                    if task is not me:
                        conn.transport.abort()  # the handler sees EOF, as in sync
                await asyncio.wait(others(), timeout=_CANCEL_GRACE)
            while others():
                for task in others():
                    task.cancel()
                await asyncio.wait(others())
        finally:
            assert self._stopped is not None
            self._stopped.set()

    async def __aenter__(self) -> TcpServer:
        if self._accept_task is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- engine ------------------------------------------------------------------------

    async def _accept_loop(self, lsock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        slots = self._slots
        while True:
            if slots is not None:
                await slots.acquire()
            try:
                sock, _ = await loop.sock_accept(lsock)
            except BaseException as exc:
                if slots is not None:
                    slots.release()
                if not isinstance(exc, OSError) or self._stopping:
                    raise
                if exc.errno in _RESOURCE_ERRNOS:
                    logger.error("accept on %s failed: %s; retrying", self._address, exc)
                    await asyncio.sleep(_ACCEPT_BACKOFF)
                # ECONNABORTED and friends: that client gave up; keep accepting.
                continue
            if self._stopping:  # accepted in the same turn as stop() began
                sock.close()
                if slots is not None:
                    slots.release()
                return
            task = loop.create_task(self._serve(sock))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket) -> None:
        conn: TcpConnection | None = None
        peer: object = None
        task = asyncio.current_task()
        assert task is not None
        try:
            try:
                peer = endpoint_of(sock.getpeername())
                self._conn_options.apply(sock)
            except OSError as exc:
                logger.info("netkit aio server: connection from %s failed: %s", peer, exc)
                sock.close()
                return
            try:
                conn = await TcpConnection.from_socket(
                    sock,
                    idle_timeout=self._idle_timeout,
                    tls=self._tls,
                    server_side=True,
                    timeout=self._tls_handshake_timeout,
                )
            except Exception as exc:  # the peer's fault (reset, bad TLS): not ours to raise
                logger.info("netkit aio server: connection from %s failed: %s", peer, exc)
                return
            self._connections[task] = conn
            try:
                await self._handler(conn)
            except NetkitTimeout as exc:
                logger.info("netkit aio server: closing %s: %s", peer, exc)
            except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
                logger.info("netkit aio server: connection from %s failed: %s", peer, exc)
            except Exception:
                logger.exception("netkit aio server: handler failed for %s", peer)
        finally:
            try:
                if conn is not None:
                    if self._stopping:
                        conn.transport.abort()  # the handler sees EOF, as in sync
                    else:
                        await conn.aclose()
            finally:
                if conn is not None:
                    self._connections.pop(task, None)
                if self._slots is not None:
                    self._slots.release()
