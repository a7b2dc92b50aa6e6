"""UnixServer and SeqpacketServer: threaded Unix servers, TcpServer's engine on a path.

The lifecycle, limits and stop semantics are :class:`netkit.TcpServer`'s (the same
:class:`netkit.tcp._server.StreamServer`); what is Unix's is the listener
(:class:`~netkit.unix.UnixListener` or :class:`~netkit.unix.listener.SeqpacketListener`:
``mode=``, stale files, removal on stop) and the connections handed to the handler
(:class:`~netkit.unix.UnixConnection`, :class:`~netkit.SeqpacketConnection`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from netkit._core.limits import SEND_TIMEOUT, SYNC_MAX_CONNECTIONS
from netkit._core.proxyserve import DEFAULT_HEADER_TIMEOUT, unix_proxy_policy
from netkit._core.server import (
    check_slow_client_args,
    check_unix_server_args,
    listener_conflict,
    listener_kind_error,
)
from netkit._core.unix import unix_text
from netkit._sockets.listen import default_backlog
from netkit.tcp._server import StreamServer, _Worker
from netkit.unix.connection import UnixConnection
from netkit.unix.listener import SeqpacketListener, UnixListener
from netkit.unix.seqpacket import SeqpacketConnection

__all__ = ["SeqpacketServer", "UnixServer"]

Handler = Callable[[UnixConnection], None]
SeqpacketHandler = Callable[[SeqpacketConnection], None]


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
        raise listener_kind_error(
            kind.__name__.replace("Listener", "Server"), kind.__name__, listener
        )

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
        return (
            f"<{type(self).__name__} {unix_text(self.address)} {self._state} "
            f"active={len(self._connections)}>"
        )

    def _open_listener(self) -> Any:
        assert self._path is not None
        backlog = default_backlog() if self._backlog is None else self._backlog
        return self._LISTENER.bind(self._path, mode=self._mode, backlog=backlog)


class UnixServer(_PathServer):
    """A Unix stream server calling ``handler(conn)`` for each connection, in a worker thread.

    Everything :class:`~netkit.TcpServer` does, the same way: ``start()``,
    ``serve_forever()``, ``stop(timeout)`` (stops accepting at once, lets handlers
    finish, then wakes the rest; nothing a returned handler sent is lost),
    ``with UnixServer(...) as server:``, ``max_connections`` (the rest wait in the
    backlog), ``idle_timeout``, ``send_timeout``, ``message_timeout``,
    ``active_connections``, ``serving``, handler errors logged once, and the same
    finite defaults, chosen by measurement (see :class:`~netkit.TcpServer` and
    ``docs/internet.md``). The handler gets a :class:`~netkit.UnixConnection`.

    Parameters:
        handler: called with each connection in a worker thread; the connection is
            closed when it returns.
        path: the socket file to create (or a Linux abstract ``"\\0name"``). A stale
            socket file is replaced; a live listener's raises ``EADDRINUSE``.
        mode: the file's permissions, e.g. ``0o600``, from the moment it exists.
        backlog: clients that may wait to be accepted; None (the default) for 4096,
            capped by the kernel's ``somaxconn``.
        max_connections: connections served at once (default 1000, below the
            thread-per-connection engine's collapse); None for no limit.
        idle_timeout: seconds a read may wait with nothing received (default None).
        send_timeout: seconds a send may wait with the peer taking nothing before it
            raises :class:`~netkit.NetkitTimeout` and the connection is reset
            (default 60); None for no limit.
        message_timeout: seconds a read of a message (a line, a frame...) may take
            from the moment it first had part of it (default None): the defence
            against clients that drip bytes.
        listener: instead of *path*, a :class:`~netkit.UnixListener` or a listening
            ``AF_UNIX`` ``socket.socket`` (one a supervisor passed in, say); the server
            owns it from then on.
        proxy_protocol: True when every peer opens with a PROXY protocol header (v1 or
            v2), as a load balancer such as HAProxy sends to a ``unix@`` server with
            ``send-proxy``: a Unix peer has no IP address, and the file's permissions
            decide who may connect, so every peer is trusted. A missing, bad or late
            header drops the connection without calling the handler. The handler's
            ``conn.proxy_header`` holds the header (the client's address is
            ``conn.proxy_header.source``); ``remote_address`` and ``local_address``
            stay paths, and take the header's only when it carries Unix paths.
        proxy_header_timeout: seconds a peer has to send its whole header.

    ``stop()`` closes the listener, which removes the socket file it created, only if
    the path still names that file.

    Raises:
        TypeError: a wrong argument type, neither *path* nor *listener* (or both), or a
            *listener* that is not Unix.
        ValueError: a bad value (a negative limit or timeout, *mode* that is not
            permission bits...).
        AddressError: *path* is not a usable socket path (too long for ``sun_path``...).
    """

    _UNIX = True

    def __init__(
        self,
        handler: Handler,
        path: str | os.PathLike[str] | None = None,
        *,
        mode: int | None = None,
        backlog: int | None = None,
        max_connections: int | None = SYNC_MAX_CONNECTIONS,
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
        """The :class:`~netkit.UnixListener` the server accepts on (closed by ``stop()``).

        Raises:
            RuntimeError: not started, and no ``listener=`` was given.
        """
        listener: UnixListener = super().listener
        return listener

    def _open(self, sock: socket.socket, peer: object, worker: _Worker) -> UnixConnection:
        return UnixConnection(
            sock,
            idle_timeout=self._idle_timeout,
            send_timeout=self._send_timeout,
            message_timeout=self._message_timeout,
        )


class SeqpacketServer(_PathServer):
    """A Unix SEQPACKET server calling ``handler(conn)`` for each connection, in a worker
    thread; :class:`UnixServer` for ``SOCK_SEQPACKET``.

    Everything :class:`UnixServer` does, the same way (it is the same engine): ``start()``,
    ``serve_forever()``, ``stop(timeout)``, ``with SeqpacketServer(...) as server:``,
    ``max_connections``, ``idle_timeout``, ``active_connections``, ``serving``, handler
    errors logged once; and the same path rules (``mode=`` from the first instant, a
    stale socket file replaced, a live listener's path refused with ``EADDRINUSE`` and
    left alone, the file removed on stop if it is still the one created, Linux abstract
    names). The handler gets a :class:`~netkit.SeqpacketConnection`: each
    ``recv_message()`` returns one whole message, ``b""`` once the client is gone::

        def echo(conn: SeqpacketConnection) -> None:
            while message := conn.recv_message():
                conn.send_message(message)

        with SeqpacketServer(echo, "/run/app.sock", mode=0o600) as server:
            server.serve_forever()

    ``stop()`` wakes a handler still blocked in ``recv_message()`` at its deadline by
    shutting its connection down: the receive returns ``b""``, as at the end.

    Parameters:
        handler: called with each connection in a worker thread; the connection is
            closed when it returns.
        path: the socket file to create (or a Linux abstract ``"\\0name"``).
        mode: the file's permissions, e.g. ``0o600``, from the moment it exists.
        backlog: clients that may wait to be accepted; None (the default) for 4096,
            capped by the kernel's ``somaxconn``.
        max_connections: connections served at once (default 1000, as
            :class:`UnixServer`); None for no limit.
        idle_timeout: seconds a ``recv_message`` may wait with nothing received (it
            then raises ``NetkitTimeout``, which ends the connection); None for none.
        send_timeout: seconds a ``send_message`` may wait for room before the peer
            counts as no longer reading (it then raises ``NetkitTimeout("send stalled:
            ...")``; nothing of that message is sent); default 60, None for no limit.
        listener: instead of *path*, a :class:`~netkit.SeqpacketListener` or a
            listening ``AF_UNIX`` ``SOCK_SEQPACKET`` ``socket.socket``; the server owns
            it from then on.

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
        max_connections: int | None = SYNC_MAX_CONNECTIONS,
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
        """The :class:`~netkit.SeqpacketListener` the server accepts on (closed by
        ``stop()``).

        Raises:
            RuntimeError: not started, and no ``listener=`` was given.
        """
        listener: SeqpacketListener = super().listener
        return listener

    def _open(self, sock: socket.socket, peer: object, worker: _Worker) -> SeqpacketConnection:
        return SeqpacketConnection(
            sock, idle_timeout=self._idle_timeout, send_timeout=self._send_timeout
        )
