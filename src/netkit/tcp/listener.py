"""Listeners: a listening socket with ``accept(timeout=)`` returning a connection.

:class:`Listener` is the sync face's listening socket (the base of :class:`TcpListener`
here and :class:`netkit.unix.UnixListener`): for a one-shot server, a test, or a socket
handed in by a supervisor (:func:`netkit.inherited_listeners`). Every server takes one
as ``listener=``.

The socket stays non-blocking; :meth:`Listener.accept` polls it until a client comes
or the deadline passes, so :meth:`Listener.close` from another thread wakes it (the
close shuts the socket down first). A client that gave up while waiting in the
backlog is skipped (the errors of :mod:`netkit._core.accept`); anything else, such
as running out of descriptors, is raised.
"""

from __future__ import annotations

import math
import select
import socket
from time import monotonic
from types import TracebackType
from typing import TypeVar

from netkit._core.accept import accept_timeout, client_gone, listener_closed
from netkit._core.deadline import deadline as _deadline_at
from netkit._core.server import check_listen_args, check_options, connection_options
from netkit._core.sockaddr import endpoint
from netkit._sockets import fresh
from netkit._sockets.listen import ListenerState, default_backlog, listen_address, listen_socket
from netkit.addr import Endpoint
from netkit.options import SocketOptions
from netkit.tcp.connection import TcpConnection

__all__ = ["Listener", "TcpListener"]

_L = TypeVar("_L", bound="Listener")
_Socket = socket.socket  # the class: `socket` is a property name in Listener's body
_MAX_POLL_MS = 2**31 - 1


class Listener(ListenerState):
    """A listening socket; ``accept()`` returns connections. See :class:`TcpListener`.

    Takes ownership of the socket: :meth:`close` closes it.
    """

    __slots__ = ()

    # -- properties ---------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._closed else "listening"
        label = "" if self._name is None else f" {self._name!r}"
        try:
            where = str(self._bound())
        except OSError:
            where = "?"
        return f"<{type(self).__name__}{label} {where} {state}>"

    # -- accepting ----------------------------------------------------------------------

    def _accept_socket(self, timeout: float | None) -> _Socket:
        """The next accepted socket (blocking mode), by *timeout* seconds."""
        deadline = None if timeout is None else _deadline_at(monotonic(), timeout, None)
        sock = self._sock
        while True:
            if self._closed:
                raise listener_closed()
            try:
                conn, _ = fresh.accept(sock)
            except BlockingIOError:
                self._wait(deadline)
                continue
            except OSError as exc:
                if self._closed:
                    raise listener_closed() from exc
                if client_gone(exc):
                    continue  # that client died in the backlog: the next one
                raise
            conn.setblocking(True)
            return conn

    def _wait(self, deadline: float | None) -> None:
        fd = self._sock.fileno()
        if fd < 0:
            raise listener_closed()
        ms = -1
        if deadline is not None:
            left = deadline - monotonic()
            if left <= 0:
                raise accept_timeout()
            ms = min(math.ceil(left * 1000), _MAX_POLL_MS)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(ms)  # readable, shut down by close(), or time up: the loop decides

    def accept(self, *, timeout: float | None = None) -> object:
        """Wait for the next client and return its connection (see the subclasses).

        Args:
            timeout: seconds to wait; None for no limit.

        Returns:
            The accepted connection.
        """
        raise NotImplementedError

    # -- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening and close the socket. Idempotent.

        An :meth:`accept` waiting in another thread wakes and raises
        ``ConnectionClosed("listener is closed")``; clients still in the backlog are
        refused.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._bound()  # kept for repr and logs after the close
        except OSError:
            pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a poll in another thread
        except OSError:
            pass
        self._sock.close()

    def __enter__(self: _L) -> _L:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _poke(self) -> None:
        """Wake a thread blocked in ``accept()`` where shutdown() does not (not Linux)."""


class TcpListener(Listener):
    """A listening TCP socket: ``accept(timeout=)`` returns a :class:`TcpConnection`.

    Make one with :meth:`bind`, or wrap a listening socket you have (``TcpListener(sock)``,
    taking ownership). Pass it to :class:`~netkit.TcpServer` as ``listener=``, or
    accept connections yourself::

        with TcpListener.bind("127.0.0.1", 0) as listener:
            with listener.accept(timeout=10) as conn:
                conn.sendall(b"hello\\n")

    Parameters:
        sock: a listening ``AF_INET`` or ``AF_INET6`` stream socket.
        name: a name for it (:func:`netkit.inherited_listeners` sets the supervisor's).
        options: the :class:`~netkit.SocketOptions` for each accepted connection
            (TCP_NODELAY on unless ``nodelay=False``, as in :class:`~netkit.TcpServer`).

    Raises:
        TypeError: *sock* is not a socket, or not ``AF_INET``/``AF_INET6``.
        ValueError: *sock* is not a listening stream socket.
    """

    __slots__ = ("_conn_options", "_nodelay_only")

    _KIND = "TcpListener"
    _convert = staticmethod(endpoint)

    def __init__(
        self,
        sock: socket.socket,
        *,
        name: str | None = None,
        options: SocketOptions | None = None,
    ) -> None:
        check_options(options)
        super().__init__(sock, name=name)
        self._conn_options = connection_options(options or SocketOptions())
        self._nodelay_only = self._conn_options == SocketOptions(nodelay=True)

    @classmethod
    def bind(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backlog: int | None = None,
        options: SocketOptions | None = None,
    ) -> TcpListener:
        """Bind *host*:*port* and listen, as :class:`~netkit.TcpServer` does.

        Args:
            host: an IP literal or a host name to bind; ``"::"`` is dual stack.
            port: the port; 0 for one the system picks (see :attr:`address`).
            backlog: how many clients may wait to be accepted; None (the default) is
                the servers' default: 4096, capped by the kernel's ``somaxconn``.
            options: SO_REUSEADDR is on unless ``options.reuse_addr`` is False; the
                listener options go on this socket and the connection options on each
                accepted one.

        Returns:
            The listening listener.

        Raises:
            TypeError: an argument of the wrong type.
            ValueError: a negative *backlog*.
            AddressError: *host* is malformed or *port* out of range.
            LookupFailed: *host* does not resolve.
            OSError: the address is in use (``EADDRINUSE``) or not ours.
        """
        check_listen_args(host, port, backlog, options)
        family, sockaddr = listen_address(host, port)
        if backlog is None:
            backlog = default_backlog()
        sock = listen_socket(family, sockaddr, backlog, options or SocketOptions())
        try:
            return cls(sock, options=options)
        except BaseException:  # pragma: no cover - a fresh listening socket is valid
            sock.close()
            raise

    @property
    def address(self) -> Endpoint:
        """The bound address (with the real port when port 0 was asked)."""
        address: Endpoint = self._bound()
        return address

    def accept(self, *, timeout: float | None = None) -> TcpConnection:
        """Wait for the next client, by *timeout* seconds, and return its connection.

        Args:
            timeout: seconds to wait; None for no limit.

        Returns:
            The client's connection, with the listener's connection options applied.

        Raises:
            NetkitTimeout: no client came in time.
            ConnectionClosed: the listener is closed (also by another thread meanwhile).
            OSError: ``accept()`` failed for another reason (out of descriptors...).
        """
        sock = self._accept_socket(timeout)
        try:
            if self._nodelay_only:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                self._conn_options.apply(sock)
            return TcpConnection(sock)
        except BaseException:
            sock.close()
            raise

    def _poke(self) -> None:
        address = self.address
        host = address.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        try:
            with socket.create_connection((host, address.port), timeout=0.2):
                pass
        except OSError:
            pass
