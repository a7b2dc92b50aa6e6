"""asyncio listeners: ``await listener.accept(timeout=)`` returns a connection.

The twins of :class:`netkit.TcpListener`, :class:`netkit.UnixListener`,
:class:`netkit.SeqpacketListener` and :func:`netkit.inherited_listeners`, with the
same arguments, rules and errors (the socket set-up is :mod:`netkit._sockets.listen`'s,
the errors :mod:`netkit._core`'s).
``await TcpListener.bind(...)``, ``await UnixListener.bind(...)``, ``async with``.
A listener is used from its event loop's thread; one coroutine accepts at a time.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from typing import Any, TypeVar

from netkit._core.accept import accept_timeout, client_gone, listener_closed
from netkit._core.checks import check_size
from netkit._core.deadline import deadline as _deadline_at
from netkit._core.server import check_listen_args, check_options, connection_options
from netkit._core.sockaddr import endpoint
from netkit._core.unix import check_mode, unix_text
from netkit._core.unixpath import address as unix_address
from netkit._core.unixpath import check_path
from netkit._sockets import fresh
from netkit._sockets.activation import inherited_sockets
from netkit._sockets.listen import (
    FileId,
    ListenerState,
    default_backlog,
    listen_address,
    listen_socket,
    needs_lookup,
    remove_socket_file,
    unix_listen_socket,
)
from netkit.addr import Endpoint
from netkit.aio._protocol import expire
from netkit.aio.connection import TcpConnection
from netkit.aio.seqpacket import SeqpacketConnection
from netkit.aio.unix import UnixConnection
from netkit.options import SocketOptions

__all__ = ["Listener", "SeqpacketListener", "TcpListener", "UnixListener", "inherited_listeners"]

_L = TypeVar("_L", bound="Listener")
_P = TypeVar("_P", bound="_PathListener")
_Socket = socket.socket  # the class: `socket` is a property name in Listener's body


def _ready(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)


class Listener(ListenerState):
    """A listening stream socket for asyncio; see :class:`TcpListener`, :class:`UnixListener`.

    Takes ownership of the socket: :meth:`close` closes it.
    """

    __slots__ = ("_loop", "_waiter")

    def __init__(self, sock: socket.socket, *, name: str | None = None) -> None:
        super().__init__(sock, name=name)
        self._waiter: asyncio.Future[bool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def _text(address: Any) -> str:
        return str(address)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "listening"
        label = "" if self._name is None else f" {self._name!r}"
        try:
            where = self._text(self.address)
        except OSError:
            where = "?"
        return f"<aio.{type(self).__name__}{label} {where} {state}>"

    async def _accept_socket(self, timeout: float | None) -> _Socket:
        """The next accepted socket, by *timeout* seconds (the sync twin's rules)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else _deadline_at(loop.time(), timeout, None)
        if self._waiter is not None:
            raise RuntimeError("another coroutine is already accepting on this listener")
        while True:
            if self._closed:
                raise listener_closed()
            try:
                sock, _ = fresh.accept(self._sock)
            except BlockingIOError:
                await self._wait(loop, deadline)
                continue
            except OSError as exc:
                if self._closed:
                    raise listener_closed() from exc
                if client_gone(exc):
                    continue  # that client died in the backlog: the next one
                raise
            return sock

    async def _wait(self, loop: asyncio.AbstractEventLoop, deadline: float | None) -> None:
        if deadline is not None and deadline <= loop.time():
            raise accept_timeout()
        fd = self._sock.fileno()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter, self._loop = waiter, loop
        loop.add_reader(fd, _ready, waiter)
        timer = None if deadline is None else loop.call_at(deadline, expire, waiter)
        try:
            ready = await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
            if not self._closed:  # close() took the reader off already
                loop.remove_reader(fd)
        if self._closed:
            raise listener_closed()
        if ready is False:
            raise accept_timeout()

    def close(self) -> None:
        """Stop listening and close the socket (from the loop's thread). Idempotent.

        An :meth:`accept` waiting meanwhile raises ``ConnectionClosed("listener is
        closed")``; clients still in the backlog are refused.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._bound()
        except OSError:
            pass
        waiter = self._waiter
        if waiter is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())  # before the number is freed
            if not waiter.done():
                waiter.set_result(True)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    async def __aenter__(self: _L) -> _L:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class TcpListener(Listener):
    """A listening TCP socket: ``await accept(timeout=)`` returns a :class:`TcpConnection`.

    The twin of :class:`netkit.TcpListener`: ``await TcpListener.bind(host, port)``,
    or ``TcpListener(sock)`` to wrap a listening socket; same arguments and errors.

    Args:
        sock: a listening ``AF_INET`` or ``AF_INET6`` stream socket (taken over).
        name: a name for it (:func:`inherited_listeners` sets the supervisor's).
        options: the :class:`~netkit.SocketOptions` for each accepted connection.

    Raises:
        TypeError: *sock* is not a socket, or not ``AF_INET``/``AF_INET6``.
        ValueError: *sock* is not a listening stream socket.
    """

    __slots__ = ("_conn_options",)

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

    @classmethod
    async def bind(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backlog: int | None = None,
        options: SocketOptions | None = None,
    ) -> TcpListener:
        """Bind *host*:*port* and listen; see :meth:`netkit.TcpListener.bind`.

        A host name is resolved in the loop's executor.

        Args:
            host: an IP literal or a host name to bind; ``"::"`` is dual stack.
            port: the port; 0 for one the system picks (see :attr:`address`).
            backlog: how many clients may wait to be accepted.
            options: the listener's and each accepted connection's options.

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
        find = functools.partial(listen_address, host, port)
        if needs_lookup(host):
            family, sockaddr = await asyncio.get_running_loop().run_in_executor(None, find)
        else:
            family, sockaddr = find()
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

    async def accept(self, *, timeout: float | None = None) -> TcpConnection:
        """Wait for the next client, by *timeout* seconds, and return its connection.

        Args:
            timeout: seconds to wait; None for no limit.

        Returns:
            The client's connection, with the listener's connection options applied.

        Raises:
            NetkitTimeout: no client came in time.
            ConnectionClosed: the listener is closed (also while waiting).
            OSError: ``accept()`` failed for another reason (out of descriptors...).
            RuntimeError: another coroutine is accepting on this listener.
        """
        sock = await self._accept_socket(timeout)
        try:
            self._conn_options.apply(sock)
        except BaseException:
            sock.close()
            raise
        return await TcpConnection.from_socket(sock)


class _PathListener(Listener):
    """A listening Unix socket on a path (stream or SEQPACKET, by ``_TYPE``); the
    twin of the sync face's: ``mode=``, the path as address, the file removed on close."""

    __slots__ = ("_created", "_path")

    _convert = staticmethod(unix_address)
    _text = staticmethod(unix_text)

    def __init__(self, sock: socket.socket, *, name: str | None = None) -> None:
        super().__init__(sock, name=name)
        self._path: str | None = None
        self._created: FileId | None = None

    @classmethod
    def _bind(
        cls: type[_P], path: str | os.PathLike[str], mode: int | None, backlog: int | None
    ) -> _P:
        where = check_path(path)
        bits = check_mode(mode)
        if backlog is None:
            backlog = default_backlog()
        check_size("backlog", backlog)
        sock, created = unix_listen_socket(where, bits, backlog, cls._TYPE)
        listener = cls(sock)
        listener._path = where
        listener._created = created
        return listener

    @property
    def address(self) -> str:
        """The path (``"\\0name"`` for an abstract name)."""
        if self._path is not None:
            return self._path
        address: str = self._bound()
        return address

    def close(self) -> None:
        """Stop listening, close the socket and remove the socket file :meth:`bind` made."""
        if self._closed:
            return
        super().close()
        if self._path is not None and self._created is not None:
            remove_socket_file(self._path, self._created)


class UnixListener(_PathListener):
    """A listening Unix stream socket: ``await accept()`` returns a :class:`UnixConnection`.

    The twin of :class:`netkit.UnixListener`: ``await UnixListener.bind(path, mode=...)``
    (the socket file is removed on close, if still the one it created), or
    ``UnixListener(sock)``; same arguments and errors.

    Args:
        sock: a listening ``AF_UNIX`` stream socket (taken over; its file is then not
            removed on close).
        name: a name for it (:func:`inherited_listeners` sets the supervisor's).

    Raises:
        TypeError: *sock* is not a socket, or not ``AF_UNIX``.
        ValueError: *sock* is not a listening stream socket.
    """

    __slots__ = ()

    _KIND = "UnixListener"

    @classmethod
    async def bind(
        cls, path: str | os.PathLike[str], *, mode: int | None = None, backlog: int | None = None
    ) -> UnixListener:
        """Bind *path* and listen; see :meth:`netkit.UnixListener.bind`.

        Args:
            path: where the socket file goes (or a Linux abstract ``"\\0name"``); its
                directory must exist.
            mode: the file's permissions from the moment it exists; None leaves them to the
                umask.
            backlog: how many clients may wait to be accepted.

        Returns:
            The listener; :meth:`close` removes the file it created.

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable socket path.
            ValueError: *mode* is not permission bits, or *backlog* is negative.
            OSError: the path is taken by a live listener or a file that is not a socket,
                or its directory is missing or not writable.
        """
        return cls._bind(path, mode, backlog)

    async def accept(self, *, timeout: float | None = None) -> UnixConnection:
        """Wait for the next client, by *timeout* seconds, and return its connection.

        Args:
            timeout: seconds to wait; None for no limit.

        Returns:
            The client's connection.

        Raises:
            NetkitTimeout: no client came in time.
            ConnectionClosed: the listener is closed (also while waiting).
            OSError: ``accept()`` failed for another reason (out of descriptors...).
            RuntimeError: another coroutine is accepting on this listener.
        """
        return await UnixConnection.from_socket(await self._accept_socket(timeout))


class SeqpacketListener(_PathListener):
    """A listening Unix SEQPACKET socket: ``await accept()`` returns a
    :class:`~netkit.aio.SeqpacketConnection`.

    The twin of :class:`netkit.SeqpacketListener`: ``await SeqpacketListener.bind(path,
    mode=...)`` (the socket file is removed on close, if still the one it created), or
    ``SeqpacketListener(sock)``; same arguments and errors.

    Args:
        sock: a listening ``AF_UNIX`` ``SOCK_SEQPACKET`` socket (taken over).
        name: a name for it (:func:`inherited_listeners` sets the supervisor's).

    Raises:
        TypeError: *sock* is not a socket, or not ``AF_UNIX``.
        ValueError: *sock* is not a listening ``SOCK_SEQPACKET`` socket.
    """

    __slots__ = ()

    _KIND = "SeqpacketListener"
    _TYPE = socket.SOCK_SEQPACKET

    @classmethod
    async def bind(
        cls, path: str | os.PathLike[str], *, mode: int | None = None, backlog: int | None = None
    ) -> SeqpacketListener:
        """Bind *path* and listen; see :meth:`netkit.SeqpacketListener.bind`.

        Args:
            path: where the socket file goes (or a Linux abstract ``"\\0name"``); its
                directory must exist.
            mode: the file's permissions from the moment it exists; None leaves them to the
                umask.
            backlog: how many clients may wait to be accepted.

        Returns:
            The listener; :meth:`close` removes the file it created.

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable socket path.
            ValueError: *mode* is not permission bits, or *backlog* is negative.
            OSError: the path is taken by a live listener or a file that is not a socket,
                or its directory is missing or not writable.
        """
        return cls._bind(path, mode, backlog)

    async def accept(self, *, timeout: float | None = None) -> SeqpacketConnection:
        """Wait for the next client, by *timeout* seconds, and return its connection.

        Args:
            timeout: seconds to wait; None for no limit.

        Returns:
            The client's connection.

        Raises:
            NetkitTimeout: no client came in time.
            ConnectionClosed: the listener is closed (also while waiting).
            OSError: ``accept()`` failed for another reason (out of descriptors...).
            RuntimeError: another coroutine is accepting on this listener.
        """
        sock = await self._accept_socket(timeout)
        try:
            return SeqpacketConnection(sock)
        except BaseException:  # pragma: no cover - an accepted socket is valid
            sock.close()
            raise


def inherited_listeners() -> list[TcpListener | UnixListener | SeqpacketListener]:
    """The listening sockets a supervisor passed to this process, as asyncio listeners.

    The twin of :func:`netkit.inherited_listeners` (the same rules: each descriptor is
    handed out once, whichever face asks; a Unix SEQPACKET socket is a
    :class:`SeqpacketListener`).

    Returns:
        A :class:`TcpListener`, :class:`UnixListener` or :class:`SeqpacketListener`
        per descriptor, in order.

    Raises:
        ValueError: the variables are malformed, or a descriptor is not a listening TCP,
            Unix stream or Unix SEQPACKET socket (every inherited descriptor is closed).
        OSError: a descriptor is not open.
    """
    found: list[tuple[socket.socket, str]] = inherited_sockets()
    listeners: list[TcpListener | UnixListener | SeqpacketListener] = []
    for sock, name in found:
        kind: Any = TcpListener
        if sock.family == socket.AF_UNIX:
            kind = SeqpacketListener if sock.type == socket.SOCK_SEQPACKET else UnixListener
        listeners.append(kind(sock, name=name))
    return listeners
