"""asyncio :class:`TcpServer`, :class:`UnixServer` and :class:`SeqpacketServer`: one
engine, three kinds.

The accept loop, limits and stop semantics are :class:`netkit.aio._server.StreamServer`;
each server adds where it listens and how an accepted socket becomes a connection
(TCP options and TLS, a Unix connection, or a SEQPACKET one). Arguments, rules and
errors are the sync servers' (both check them with :mod:`netkit._core.server`).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from netkit._core.limits import AIO_MAX_CONNECTIONS, SEND_TIMEOUT
from netkit._core.proxyserve import (
    DEFAULT_HEADER_TIMEOUT,
    tcp_proxy_policy,
    unix_proxy_policy,
)
from netkit._core.server import (
    check_server_args,
    check_slow_client_args,
    check_unix_server_args,
    connection_options,
    listener_conflict,
    listener_kind_error,
)
from netkit._core.unix import unix_text
from netkit._sockets.listen import default_backlog, listen_address, listen_socket, needs_lookup
from netkit.addr import Endpoint
from netkit.aio._server import StreamServer
from netkit.aio.connection import TcpConnection
from netkit.aio.listener import SeqpacketListener, TcpListener, UnixListener
from netkit.aio.seqpacket import SeqpacketConnection
from netkit.aio.unix import UnixConnection
from netkit.options import SocketOptions

__all__ = [
    "Handler",
    "SeqpacketHandler",
    "SeqpacketServer",
    "TcpServer",
    "UnixHandler",
    "UnixServer",
]

#: ``async def handler(conn: TcpConnection) -> None``
Handler = Callable[[TcpConnection], Awaitable[Any]]
#: ``async def handler(conn: UnixConnection) -> None``
UnixHandler = Callable[[UnixConnection], Awaitable[Any]]
#: ``async def handler(conn: SeqpacketConnection) -> None``
SeqpacketHandler = Callable[[SeqpacketConnection], Awaitable[Any]]

_DEFAULT_HOST = "127.0.0.1"


class TcpServer(StreamServer):
    """An asyncio TCP server running ``async def handler(conn)`` per connection.

    ``async with TcpServer(handler) as server:`` starts it and stops it on exit;
    :meth:`start` binds and serves in the background; :meth:`serve_forever` waits until
    :meth:`stop`. Handlers receive a :class:`netkit.aio.TcpConnection` (closed for them
    when they return). A handler's exception is logged to the ``netkit`` logger with the
    peer's address and closes only its own connection. Arguments as the sync
    :class:`netkit.TcpServer`, ``listener=`` (a :class:`netkit.aio.TcpListener` or a
    listening ``socket.socket``) included.

    ``proxy_protocol`` (trusted networks) and ``proxy_header_timeout`` work as in the
    sync :class:`netkit.TcpServer`: a peer in a trusted network must open with a PROXY
    protocol v1 or v2 header, read on the raw socket before the connection (and its TLS
    handshake) starts; the handler's connection reports the addresses it carries. Other
    peers are served as they are.

    The finite defaults are the sync server's but one:

    * ``max_connections=2000``: the event loop does not collapse as threads do (one
      echo round over 2000 busy connections took 80 ms on a 2-core machine, over 8000
      0.25 s), so this cap is set by worst-case memory (2000 frames of the 1 MiB
      default limit) rather than by latency. ``None`` lifts it.
    * ``backlog=None`` (4096, capped by ``somaxconn``), ``send_timeout=60.0``,
      ``idle_timeout=None`` and ``message_timeout=None``, as in sync; a send or read
      that hits one raises the same :class:`~netkit.NetkitTimeout` with the same message.

    Args:
        handler: ``async def handler(conn)``, run in a task for each connection; the
            connection is closed when it returns.
        host: the address to listen on (``"::"``: IPv6 and IPv4), or a host name.
        port: the port; 0 for one the system picks (see :attr:`address`).
        backlog: the listen backlog; None: 4096, capped by the kernel's ``somaxconn``.
        max_connections: connections served at once (the rest wait in the backlog); None: no
            cap.
        idle_timeout: seconds a read may wait with nothing received; None: no limit.
        options: socket options for the listener and each accepted connection.
        tls: a server ``ssl.SSLContext``: each connection's handshake runs in its task.
        tls_handshake_timeout: seconds a client has to finish the TLS handshake.
        listener: a :class:`~netkit.aio.TcpListener` or listening socket to serve instead of
            binding (replaces *host*, *port* and *backlog*; the server owns it).
        send_timeout: seconds a send may wait with the peer taking nothing; None: no limit.
        message_timeout: seconds a read of one message may take once it has part of it;
            None: no limit.
        proxy_protocol: trusted networks whose peers must open with a PROXY protocol header;
            None: no PROXY protocol.
        proxy_header_timeout: seconds a trusted peer has to send its whole PROXY header.

    Raises:
        TypeError: a wrong argument type, a *listener* that is not TCP, or *host*,
            *port* or *backlog* given with *listener*.
        ValueError: a bad argument value (a negative limit or timeout, a string in
            *proxy_protocol* that is not a network...).
        AddressError: an out-of-range *port*.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = _DEFAULT_HOST,
        port: int = 0,
        *,
        backlog: int | None = None,
        max_connections: int | None = AIO_MAX_CONNECTIONS,
        idle_timeout: float | None = None,
        options: SocketOptions | None = None,
        tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
        listener: TcpListener | socket.socket | None = None,
        send_timeout: float | None = SEND_TIMEOUT,
        message_timeout: float | None = None,
        proxy_protocol: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network]
        | None = None,
        proxy_header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    ) -> None:
        check_server_args(
            handler, host, port, backlog, max_connections, idle_timeout, options, tls,
            tls_handshake_timeout,
        )  # fmt: skip
        check_slow_client_args(send_timeout, message_timeout)
        proxy = tcp_proxy_policy(proxy_protocol, proxy_header_timeout)
        taken: TcpListener | None = None
        if listener is not None:
            if host != _DEFAULT_HOST or port != 0 or backlog is not None:
                raise TypeError(listener_conflict("host, port and backlog"))
            taken = _tcp_listener(listener)
        super().__init__(
            handler,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            listener=taken,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
            proxy=proxy,
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
        backlog = default_backlog() if self._backlog is None else self._backlog
        return listen_socket(family, sockaddr, backlog, self._options)

    async def _open_listener(self) -> TcpListener:
        sock = await self._bind()
        try:
            return TcpListener(sock)
        except BaseException:  # pragma: no cover - _bind returns a listening socket
            sock.close()
            raise

    def _connect(self, sock: socket.socket) -> Awaitable[TcpConnection]:
        # (Not a coroutine itself: it hands back the one that builds the connection,
        # which saves the server a coroutine per connection.)
        if self._nodelay_only:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self._conn_options.apply(sock)
        # Our own listener's socket: from_socket's checks of the socket would only
        # repeat what the listener was checked for.
        if self._tls is None:
            return TcpConnection._accepted(
                sock, self._loop, self._idle_timeout, self._send_timeout, self._message_timeout
            )
        return TcpConnection._take(
            sock,
            idle_timeout=self._idle_timeout,
            tls=self._tls,
            server_side=True,
            timeout=self._tls_handshake_timeout,
            send_timeout=self._send_timeout,
            message_timeout=self._message_timeout,
        )


class _PathServer(StreamServer):
    """What :class:`UnixServer` and :class:`SeqpacketServer` share on the engine: a
    socket path (or a given listener of :attr:`_LISTENER`'s kind), and binding it."""

    #: The listener this server binds, or takes as ``listener=``.
    _LISTENER: Any = UnixListener

    _path: str | None
    _mode: int | None
    _backlog: int | None

    @classmethod
    def _given(cls, listener: Any, backlog: int | None) -> Any:
        """``listener=`` as a listener of this server's kind (None when not given).

        Raises:
            TypeError: *backlog* given too, or *listener* of another kind.
        """
        if listener is None:
            return None
        if backlog is not None:
            raise TypeError(listener_conflict("backlog"))
        kind = cls._LISTENER
        if isinstance(listener, kind):
            return listener
        if isinstance(listener, socket.socket):
            return kind(listener)
        server = kind.__name__.replace("Listener", "Server")
        raise listener_kind_error(server, kind.__name__, listener)

    def _keep(self, path: str | None, mode: int | None, backlog: int | None) -> None:
        self._path = path
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

    def __repr__(self) -> str:
        return f"<aio.{type(self).__name__} {unix_text(self.address)} active={self._active}>"

    async def _open_listener(self) -> Any:
        assert self._path is not None
        backlog = default_backlog() if self._backlog is None else self._backlog
        return await self._LISTENER.bind(self._path, mode=self._mode, backlog=backlog)


class UnixServer(_PathServer):
    """An asyncio Unix stream server running ``async def handler(conn)`` per connection.

    The twin of :class:`netkit.UnixServer` (same arguments, rules and errors) on the
    engine of :class:`TcpServer` (same lifecycle, limits and stop). Handlers receive a
    :class:`netkit.aio.UnixConnection`. ``stop()`` closes the listener, which removes
    the socket file it created if the path still names that file. Defaults as
    :class:`TcpServer`'s: ``max_connections=2000`` (the rest wait in the backlog),
    ``backlog=None`` (4096, capped by ``somaxconn``), ``send_timeout=60.0`` (a send
    that waits that long with the peer taking nothing raises
    :class:`~netkit.NetkitTimeout` and the connection is reset), ``idle_timeout=None``
    and ``message_timeout=None`` (a read of a message still incomplete that many
    seconds after it first had part of it raises: the defence against drip-feeding).
    ``proxy_protocol=True`` makes every peer open with a PROXY protocol header, as in
    the sync :class:`netkit.UnixServer` (``conn.proxy_header`` holds it).

    Args:
        handler: ``async def handler(conn)``, run in a task for each connection; the
            connection is closed when it returns.
        path: the socket file to create (or a Linux abstract ``"\\0name"``); a stale socket
            file is replaced.
        mode: the socket file's permissions from the moment it exists; None leaves them to
            the umask.
        backlog: the listen backlog; None: 4096, capped by the kernel's ``somaxconn``.
        max_connections: connections served at once (the rest wait in the backlog); None: no
            cap.
        idle_timeout: seconds a read may wait with nothing received; None: no limit.
        listener: instead of *path*, a :class:`~netkit.aio.UnixListener` or a listening
            ``AF_UNIX`` socket; the server owns it.
        send_timeout: seconds a send may wait with the peer taking nothing; None: no limit.
        message_timeout: seconds a read of one message may take once it has part of it;
            None: no limit.
        proxy_protocol: True when every peer opens with a PROXY protocol header (v1 or v2).
        proxy_header_timeout: seconds a trusted peer has to send its whole PROXY header.

    Raises:
        TypeError: a wrong argument type, neither *path* nor *listener* (or both), or a
            *listener* of another kind.
        ValueError: a bad value (a negative limit or timeout, *mode* that is not
            permission bits...).
        AddressError: *path* is not a usable socket path (too long for ``sun_path``...).
    """

    _UNIX = True

    def __init__(
        self,
        handler: UnixHandler,
        path: str | os.PathLike[str] | None = None,
        *,
        mode: int | None = None,
        backlog: int | None = None,
        max_connections: int | None = AIO_MAX_CONNECTIONS,
        idle_timeout: float | None = None,
        listener: UnixListener | socket.socket | None = None,
        send_timeout: float | None = SEND_TIMEOUT,
        message_timeout: float | None = None,
        proxy_protocol: bool = False,
        proxy_header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    ) -> None:
        where = check_unix_server_args(
            handler, path, mode, backlog, max_connections, idle_timeout, listener is not None
        )
        check_slow_client_args(send_timeout, message_timeout)
        proxy = unix_proxy_policy(proxy_protocol, proxy_header_timeout)
        taken: UnixListener | None = self._given(listener, backlog)
        super().__init__(
            handler,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            listener=taken,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
            proxy=proxy,
        )
        self._keep(where, mode, backlog)

    @property
    def listener(self) -> UnixListener:
        """The :class:`netkit.aio.UnixListener` the server accepts on (closed by ``stop()``).

        Raises:
            RuntimeError: not started, and no ``listener=`` was given.
        """
        listener: UnixListener = super().listener
        return listener

    async def _connect(self, sock: socket.socket) -> UnixConnection:
        return await UnixConnection.from_socket(
            sock,
            idle_timeout=self._idle_timeout,
            send_timeout=self._send_timeout,
            message_timeout=self._message_timeout,
        )


class SeqpacketServer(_PathServer):
    """An asyncio Unix SEQPACKET server running ``async def handler(conn)`` per connection.

    The twin of :class:`netkit.SeqpacketServer` (same arguments, rules and errors) on
    the engine of :class:`TcpServer` (same lifecycle, limits and stop). Handlers receive
    a :class:`netkit.aio.SeqpacketConnection`. ``stop()`` wakes a handler still waiting
    in ``recv_message()`` at its deadline by shutting its connection down (the receive
    returns ``b""``), and closes the listener, which removes the socket file it created
    if the path still names that file. Defaults as :class:`UnixServer`'s
    (``max_connections=2000``, ``backlog=None``: 4096 capped by ``somaxconn``,
    ``send_timeout=60.0``: a ``send_message`` that waits that long for room raises
    ``NetkitTimeout("send stalled: ...")``).

    Args:
        handler: ``async def handler(conn)``, run in a task for each connection; the
            connection is closed when it returns.
        path: the socket file to create (or a Linux abstract ``"\\0name"``); a stale socket
            file is replaced.
        mode: the socket file's permissions from the moment it exists; None leaves them to
            the umask.
        backlog: the listen backlog; None: 4096, capped by the kernel's ``somaxconn``.
        max_connections: connections served at once (the rest wait in the backlog); None: no
            cap.
        idle_timeout: seconds a read may wait with nothing received; None: no limit.
        listener: instead of *path*, a :class:`~netkit.aio.SeqpacketListener` or a listening
            ``AF_UNIX`` ``SOCK_SEQPACKET`` socket; the server owns it.
        send_timeout: seconds a send may wait with the peer taking nothing; None: no limit.

    Raises:
        TypeError: a wrong argument type, neither *path* nor *listener* (or both), or a
            *listener* of another kind.
        ValueError: a bad value (a negative limit or timeout, *mode* that is not
            permission bits...).
        AddressError: *path* is not a usable socket path (too long for ``sun_path``...).
    """

    _LISTENER = SeqpacketListener

    def __init__(
        self,
        handler: SeqpacketHandler,
        path: str | os.PathLike[str] | None = None,
        *,
        mode: int | None = None,
        backlog: int | None = None,
        max_connections: int | None = AIO_MAX_CONNECTIONS,
        idle_timeout: float | None = None,
        listener: SeqpacketListener | socket.socket | None = None,
        send_timeout: float | None = SEND_TIMEOUT,
    ) -> None:
        where = check_unix_server_args(
            handler,
            path,
            mode,
            backlog,
            max_connections,
            idle_timeout,
            listener is not None,
            "SeqpacketServer",
        )
        check_slow_client_args(send_timeout, None)
        taken: SeqpacketListener | None = self._given(listener, backlog)
        super().__init__(
            handler,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            listener=taken,
            send_timeout=send_timeout,
        )
        self._keep(where, mode, backlog)

    @property
    def listener(self) -> SeqpacketListener:
        """The :class:`netkit.aio.SeqpacketListener` the server accepts on (closed by
        ``stop()``).

        Raises:
            RuntimeError: not started, and no ``listener=`` was given.
        """
        listener: SeqpacketListener = super().listener
        return listener

    async def _connect(self, sock: socket.socket) -> SeqpacketConnection:
        return SeqpacketConnection(
            sock, idle_timeout=self._idle_timeout, send_timeout=self._send_timeout
        )

    def _abort(self, conn: SeqpacketConnection) -> None:
        # No transport: a shutdown wakes a waiting receive, which then reads b"".
        try:
            conn.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    async def _close(self, conn: SeqpacketConnection) -> None:
        # Nothing is queued in user space: a message is in the kernel once sent.
        conn.close()


def _tcp_listener(listener: Any) -> TcpListener:
    if isinstance(listener, TcpListener):
        return listener
    if isinstance(listener, socket.socket):
        return TcpListener(listener)
    raise listener_kind_error("TcpServer", "TcpListener", listener)
