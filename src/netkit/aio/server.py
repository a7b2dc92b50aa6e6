"""asyncio :class:`TcpServer` and :class:`UnixServer`: one engine, two families.

The accept loop, limits and stop semantics are :class:`netkit.aio._server.StreamServer`;
each server adds where it listens and how an accepted socket becomes a connection
(TCP options and TLS, or a Unix connection). Arguments, rules and errors are the sync
servers' (both check them with :mod:`netkit._core.server`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from netkit._core.server import (
    check_server_args,
    check_unix_server_args,
    connection_options,
    listener_conflict,
    listener_kind_error,
)
from netkit._core.unix import unix_text
from netkit._sockets.listen import listen_address, listen_socket, needs_lookup
from netkit.addr import Endpoint
from netkit.aio._server import StreamServer
from netkit.aio.connection import TcpConnection
from netkit.aio.listener import TcpListener, UnixListener
from netkit.aio.unix import UnixConnection
from netkit.options import SocketOptions

__all__ = ["Handler", "TcpServer", "UnixHandler", "UnixServer"]

#: ``async def handler(conn: TcpConnection) -> None``
Handler = Callable[[TcpConnection], Awaitable[Any]]
#: ``async def handler(conn: UnixConnection) -> None``
UnixHandler = Callable[[UnixConnection], Awaitable[Any]]

_DEFAULT_HOST = "127.0.0.1"
_DEFAULT_BACKLOG = 128


class TcpServer(StreamServer):
    """An asyncio TCP server running ``async def handler(conn)`` per connection.

    ``async with TcpServer(handler) as server:`` starts it and stops it on exit;
    :meth:`start` binds and serves in the background; :meth:`serve_forever` waits until
    :meth:`stop`. Handlers receive a :class:`netkit.aio.TcpConnection` (closed for them
    when they return). A handler's exception is logged to the ``netkit`` logger with the
    peer's address and closes only its own connection. Arguments as the sync
    :class:`netkit.TcpServer`, ``listener=`` (a :class:`netkit.aio.TcpListener` or a
    listening ``socket.socket``) included.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = _DEFAULT_HOST,
        port: int = 0,
        *,
        backlog: int = _DEFAULT_BACKLOG,
        max_connections: int | None = None,
        idle_timeout: float | None = None,
        options: SocketOptions | None = None,
        tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
        listener: TcpListener | socket.socket | None = None,
    ) -> None:
        check_server_args(
            handler, host, port, backlog, max_connections, idle_timeout, options, tls,
            tls_handshake_timeout,
        )  # fmt: skip
        taken: TcpListener | None = None
        if listener is not None:
            if host != _DEFAULT_HOST or port != 0 or backlog != _DEFAULT_BACKLOG:
                raise TypeError(listener_conflict("host, port and backlog"))
            taken = _tcp_listener(listener)
        super().__init__(
            handler, max_connections=max_connections, idle_timeout=idle_timeout, listener=taken
        )
        self._host = host
        self._port = port
        self._backlog = backlog
        self._tls_handshake_timeout = float(tls_handshake_timeout)
        self._options = options or SocketOptions()
        self._conn_options = connection_options(self._options)
        # The usual case, nodelay alone, costs one setsockopt instead of a full apply(),
        # as in the sync server.
        self._nodelay_only = self._conn_options == SocketOptions(nodelay=True)
        self._tls = tls

    @property
    def address(self) -> Endpoint:
        """The bound address (with the real port when port 0 was asked)."""
        if self._address is None:
            raise RuntimeError("server is not started")
        address: Endpoint = self._address
        return address

    @property
    def listener(self) -> TcpListener:
        """The :class:`netkit.aio.TcpListener` the server accepts on (closed by ``stop()``).

        Raises:
            RuntimeError: not started, and no ``listener=`` was given.
        """
        listener: TcpListener = super().listener
        return listener

    def __repr__(self) -> str:
        where = self._address if self._address is not None else f"{self._host}:{self._port}"
        return f"<aio.TcpServer {where} active={self._active}>"

    async def _bind(self) -> socket.socket:
        """The listening socket (tests override this to wrap it)."""
        find = functools.partial(listen_address, self._host, self._port)
        if needs_lookup(self._host):  # a name may block: resolve it in a thread
            family, sockaddr = await asyncio.get_running_loop().run_in_executor(None, find)
        else:
            family, sockaddr = find()
        return listen_socket(family, sockaddr, self._backlog, self._options)

    async def _open_listener(self) -> TcpListener:
        sock = await self._bind()
        try:
            return TcpListener(sock)
        except BaseException:  # pragma: no cover - _bind returns a listening socket
            sock.close()
            raise

    async def _connect(self, sock: socket.socket) -> TcpConnection:
        if self._nodelay_only:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self._conn_options.apply(sock)
        # Our own listener's socket: from_socket's checks of the socket would only
        # repeat what the listener was checked for.
        if self._tls is None:
            return await TcpConnection._accepted(sock, self._loop, self._idle_timeout)
        return await TcpConnection._take(
            sock,
            idle_timeout=self._idle_timeout,
            tls=self._tls,
            server_side=True,
            timeout=self._tls_handshake_timeout,
        )


class UnixServer(StreamServer):
    """An asyncio Unix stream server running ``async def handler(conn)`` per connection.

    The twin of :class:`netkit.UnixServer` (same arguments, rules and errors) on the
    engine of :class:`TcpServer` (same lifecycle, limits and stop). Handlers receive a
    :class:`netkit.aio.UnixConnection`. ``stop()`` closes the listener, which removes
    the socket file it created if the path still names that file.
    """

    def __init__(
        self,
        handler: UnixHandler,
        path: str | os.PathLike[str] | None = None,
        *,
        mode: int | None = None,
        backlog: int = _DEFAULT_BACKLOG,
        max_connections: int | None = None,
        idle_timeout: float | None = None,
        listener: UnixListener | socket.socket | None = None,
    ) -> None:
        where = check_unix_server_args(
            handler, path, mode, backlog, max_connections, idle_timeout, listener is not None
        )
        taken: UnixListener | None = None
        if listener is not None:
            if backlog != _DEFAULT_BACKLOG:
                raise TypeError(listener_conflict("backlog"))
            taken = _unix_listener(listener)
        super().__init__(
            handler, max_connections=max_connections, idle_timeout=idle_timeout, listener=taken
        )
        self._path = where
        self._mode = mode
        self._backlog = backlog

    @property
    def address(self) -> str:
        """The socket's path (known before :meth:`start` too)."""
        if self._address is not None:
            address: str = self._address
            return address
        assert self._path is not None
        return self._path

    @property
    def listener(self) -> UnixListener:
        """The :class:`netkit.aio.UnixListener` the server accepts on (closed by ``stop()``).

        Raises:
            RuntimeError: not started, and no ``listener=`` was given.
        """
        listener: UnixListener = super().listener
        return listener

    def __repr__(self) -> str:
        return f"<aio.UnixServer {unix_text(self.address)} active={self._active}>"

    async def _open_listener(self) -> UnixListener:
        assert self._path is not None
        return await UnixListener.bind(self._path, mode=self._mode, backlog=self._backlog)

    async def _connect(self, sock: socket.socket) -> UnixConnection:
        return await UnixConnection.from_socket(sock, idle_timeout=self._idle_timeout)


def _tcp_listener(listener: Any) -> TcpListener:
    if isinstance(listener, TcpListener):
        return listener
    if isinstance(listener, socket.socket):
        return TcpListener(listener)
    raise listener_kind_error("TcpServer", "TcpListener", listener)


def _unix_listener(listener: Any) -> UnixListener:
    if isinstance(listener, UnixListener):
        return listener
    if isinstance(listener, socket.socket):
        return UnixListener(listener)
    raise listener_kind_error("UnixServer", "UnixListener", listener)
