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
import functools
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from netkit._core.accept import AcceptErrors
from netkit._core.checks import check_timeout
from netkit._core.server import (
    check_server_args,
    connection_options,
    handler_error,
    logger,
    peer_text,
)
from netkit._core.sockaddr import endpoint
from netkit._sockets.listen import listen_address, listen_socket, needs_lookup
from netkit.addr import Endpoint
from netkit.aio.connection import TcpConnection
from netkit.options import SocketOptions

__all__ = ["Handler", "TcpServer"]

#: ``async def handler(conn: TcpConnection) -> None``
Handler = Callable[[TcpConnection], Awaitable[Any]]

# After stop() has closed what was left, handlers get this long to notice before they
# are cancelled (one blocked in recv wakes at once; one sleeping needs the cancel).
_CANCEL_GRACE = 0.5
# How long what a handler queued may take to flush after it returned, outside stop()
# (a peer that never reads must not hold a task and its buffer forever). During stop()
# the flush may take until stop()'s deadline instead.
_FLUSH_TIMEOUT = 5.0


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
        check_server_args(
            handler, host, port, backlog, max_connections, idle_timeout, options, tls,
            tls_handshake_timeout,
        )  # fmt: skip
        self._handler = handler
        self._host = host
        self._port = port
        self._backlog = backlog
        self._max_connections = max_connections
        self._idle_timeout = check_timeout("idle_timeout", idle_timeout)
        self._tls_handshake_timeout = float(tls_handshake_timeout)
        self._options = options or SocketOptions()
        self._conn_options = connection_options(self._options)
        self._tls = tls
        self._sock: socket.socket | None = None
        self._address: Endpoint | None = None
        self._accept_task: asyncio.Task[None] | None = None
        # one task per accepted connection, from accept() until it is closed
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0  # connections accepted and not yet closed
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
        """Connections accepted and not yet closed (TLS handshakes included)."""
        return self._active

    @property
    def serving(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._accept_task is not None and not self._stopping

    def __repr__(self) -> str:
        where = self._address if self._address is not None else f"{self._host}:{self._port}"
        return f"<aio.TcpServer {where} active={self._active}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> TcpServer:
        """Bind, listen and start accepting in the background; return the server."""
        if self._accept_task is not None or self._stopping:
            raise RuntimeError("server already started")
        sock = await self._bind()
        sock.setblocking(False)
        self._sock = sock
        self._address = endpoint(sock.getsockname())
        if self._max_connections is not None:
            self._slots = asyncio.Semaphore(self._max_connections)
        self._stopped = asyncio.Event()
        self._accept_task = asyncio.get_running_loop().create_task(self._accept_loop(sock))
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
        """Stop accepting now; let handlers finish for *timeout* seconds; cut the rest.

        A handler that returned has what it sent flushed before its connection closes
        (within what is left of *timeout*): nothing is lost. Connections of handlers
        still running at the deadline are aborted, which wakes their handlers (a pending
        read returns EOF); handlers that still do not return are cancelled. Returns when
        every handler has returned. Idempotent. A handler may call it: it then waits for
        the *other* handlers, and its own connection closes when it returns.
        """
        timeout = check_timeout("timeout", timeout)
        me = asyncio.current_task()
        if self._stopping or self._accept_task is None:
            # From a handler, waiting for the stop in progress could be waiting for itself.
            if self._stopped is not None and me not in self._tasks:
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

        def others() -> set[asyncio.Task[None]]:
            return {task for task in self._tasks if task is not me}

        try:
            # Handlers finish, and those that returned flush what they queued (_close).
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

    async def _bind(self) -> socket.socket:
        """The listening socket (tests override this to wrap it)."""
        find = functools.partial(listen_address, self._host, self._port)
        if needs_lookup(self._host):  # a name may block: resolve it in a thread
            family, sockaddr = await asyncio.get_running_loop().run_in_executor(None, find)
        else:
            family, sockaddr = find()
        return listen_socket(family, sockaddr, self._backlog, self._options)

    async def _accept_loop(self, lsock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        slots = self._slots
        errors = AcceptErrors(self._address)
        while True:
            if slots is not None:
                await slots.acquire()
            try:
                sock, peer = await loop.sock_accept(lsock)
            except BaseException as exc:
                if slots is not None:
                    slots.release()
                if not isinstance(exc, OSError) or self._stopping:
                    raise
                wait, line = errors.failed(exc, loop.time())
                if line is not None:
                    logger.warning("%s", line)
                if wait:
                    await asyncio.sleep(wait)
                continue
            if errors.failing:
                line = errors.recovered(loop.time())
                if line is not None:
                    logger.warning("%s", line)
            if self._stopping:  # accepted in the same turn as stop() began
                sock.close()
                if slots is not None:
                    slots.release()
                return
            self._active += 1
            task = loop.create_task(self._serve(sock, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _log(self, exc: BaseException, peer: object) -> None:
        level, message, trace = handler_error(exc, peer_text(peer), stopping=self._stopping)
        logger.log(level, "%s", message, exc_info=exc if trace else None)

    async def _serve(self, sock: socket.socket, peer: object) -> None:
        conn: TcpConnection | None = None
        task = asyncio.current_task()
        assert task is not None
        try:
            try:
                self._conn_options.apply(sock)
                conn = await TcpConnection.from_socket(
                    sock,
                    idle_timeout=self._idle_timeout,
                    tls=self._tls,
                    server_side=True,
                    timeout=self._tls_handshake_timeout,
                )
            except Exception as exc:  # the peer's fault (reset, bad TLS): not ours to raise
                sock.close()
                self._log(exc, peer)
                return
            self._connections[task] = conn
            try:
                await self._handler(conn)
            except Exception as exc:
                self._log(exc, peer)
        finally:
            try:
                if conn is not None:
                    await self._close(conn)
            finally:
                self._connections.pop(task, None)
                self._active -= 1
                if self._slots is not None:
                    self._slots.release()

    async def _close(self, conn: TcpConnection) -> None:
        """Close *conn* once what its handler queued is flushed (nothing sent is lost).

        While stop() runs, its deadline bounds the flush (stop() aborts what is left
        then); otherwise a peer that does not read gets ``_FLUSH_TIMEOUT`` seconds.
        """
        stopped = self._stopped
        during_stop = self._stopping and stopped is not None and not stopped.is_set()
        await conn.aclose(timeout=None if during_stop else _FLUSH_TIMEOUT)
