"""asyncio :class:`UnixDatagramEndpoint`: the sync endpoint's rules, awaited.

Set-up, sizes, senders and errors are :mod:`netkit._sockets.unixdatagram`'s, exactly
as for :class:`netkit.UnixDatagramEndpoint`; the waiting is the message engine's
(:mod:`netkit.aio._datagram`), the same as :class:`netkit.aio.UdpEndpoint`'s. Binding
and connecting a Unix datagram socket never wait, so the constructors run inline.
"""

from __future__ import annotations

import functools
import socket as _socket
from typing import Any

from netkit._sockets import unixdatagram as setup
from netkit._sockets.unixpath import BoundFile, forget_path
from netkit.aio._datagram import DatagramEngine
from netkit.options import SocketOptions

__all__ = ["UnixDatagramEndpoint"]

_Data = bytes | bytearray | memoryview


class UnixDatagramEndpoint(setup.UnixDatagramKind, DatagramEngine[str]):
    """A Unix datagram socket for asyncio: ``await recvfrom()``, ``await sendto(data,
    path)``.

    Build one with ``await UnixDatagramEndpoint.bind(path)``, ``.connect(path)`` or
    ``.pair()`` (same arguments and rules as :class:`netkit.UnixDatagramEndpoint`), or
    wrap an ``AF_UNIX`` ``SOCK_DGRAM`` socket with ``UnixDatagramEndpoint(sock)`` (the
    endpoint takes ownership and makes it non-blocking). One coroutine may receive
    while others send; cancelling a receive loses no datagram.

    Parameters:
        sock: an ``AF_UNIX`` ``SOCK_DGRAM`` socket, bound, connected or neither.

    Raises:
        TypeError: *sock* is not a socket of the right family and type.
        ValueError: *sock* is not in a usable state.
    """

    __slots__ = ("_unix",)

    def __init__(self, sock: _socket.socket) -> None:
        default_timeout, peer = setup.adopt(sock, blocking=False)
        super().__init__(sock, default_timeout)
        self._unix = setup.UnixState(sock, peer, None)

    # -- construction -------------------------------------------------------------------

    @classmethod
    async def bind(
        cls, path: str, *, options: SocketOptions | None = None
    ) -> UnixDatagramEndpoint:
        """A new endpoint bound to *path*; see :meth:`netkit.UnixDatagramEndpoint.bind`.

        Parameters:
            path: a filesystem path (up to 107 bytes) or a Linux abstract name.
            options: socket options applied before binding.

        Returns:
            The bound endpoint.

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable address.
            OSError: the path is held by a live socket or a file that is not a socket
                (``EADDRINUSE``), its directory does not exist...
        """
        sock, default_timeout, bound = setup.open_bound(path, options)
        return cls._adopt(sock, default_timeout, bound)

    @classmethod
    async def connect(
        cls,
        path: str,
        *,
        options: SocketOptions | None = None,
        source: str | None = None,
    ) -> UnixDatagramEndpoint:
        """A new endpoint connected to *path*; see
        :meth:`netkit.UnixDatagramEndpoint.connect`.

        Parameters:
            path: where the peer is bound.
            options: socket options applied first.
            source: a path to bind to first (so that the peer can answer), or None.

        Returns:
            The connected endpoint.

        Raises:
            TypeError: a *path* or *source* of the wrong type.
            AddressError: a *path* or *source* that is not a usable address.
            ConnectFailed: nothing is bound at *path*, or it is not a datagram socket.
            OSError: *source* cannot be bound.
        """
        sock, default_timeout, bound = setup.open_connected(path, options, source)
        return cls._adopt(sock, default_timeout, bound)

    @classmethod
    async def pair(cls) -> tuple[UnixDatagramEndpoint, UnixDatagramEndpoint]:
        """Two unnamed endpoints connected to each other (``socketpair``).

        Returns:
            The two endpoints; each one's ``remote_address`` is ``""``.
        """
        first, second = setup.open_pair()
        try:
            one = cls(first)
        except BaseException:
            first.close()
            second.close()
            raise
        return one, cls._adopt(second, None, None, also=one)

    @classmethod
    def _adopt(
        cls,
        sock: _socket.socket,
        default_timeout: float | None,
        bound: BoundFile | None,
        *,
        also: Any = None,
    ) -> UnixDatagramEndpoint:
        try:
            result = cls(sock)
        except BaseException:
            forget_path(bound)
            sock.close()
            if also is not None:
                also.close()
            raise
        result._unix.bound = bound
        result._default_timeout = default_timeout
        return result

    # -- sending ------------------------------------------------------------------------

    async def sendto(self, data: _Data, path: str, *, timeout: float | None = None) -> None:
        """Send one datagram to the socket bound at *path*.

        Parameters:
            data: the payload (bytes-like).
            path: the receiver's path or abstract name.
            timeout: seconds to wait for room in a full receiver queue (``None``: no
                limit).

        Raises:
            FrameTooLarge: *data* is over this socket's limit (nothing sent).
            TypeError: *data* is not bytes-like, or *path* not a path.
            AddressError: *path* is not a usable address.
            ConnectionRefused: nothing is bound at *path*.
            NetkitTimeout: the receiver's queue stayed full for *timeout* seconds.
            ConnectionClosed: the endpoint is closed.
        """
        self._check_open()
        addr = self._target(path)
        size = self._send_size(data, path)
        call = functools.partial(self._sock.sendto, data, addr)
        await self._retry(call, False, timeout, path, size)

    async def send(self, data: _Data, *, timeout: float | None = None) -> None:
        """Send one datagram to the connected peer.

        Parameters:
            data: the payload (bytes-like).
            timeout: seconds to wait for room (``None``: no limit).

        Raises:
            FrameTooLarge: *data* is over this socket's limit (nothing sent).
            AddressError: the endpoint is not connected (use :meth:`sendto`).
            ConnectionRefused: the peer is gone (it closed).
            NetkitTimeout: no room came within *timeout* seconds.
            ConnectionClosed: the endpoint is closed.
        """
        self._check_open()
        self._check_connected()
        size = self._send_size(data, None)
        await self._retry(functools.partial(self._sock.send, data), False, timeout, None, size)

    # -- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the endpoint and remove the socket file its bind made (if it is still
        that file); idempotent. Pending calls raise ``ConnectionClosed``."""
        if self._closed:
            return
        self._forget()
        super().close()

    def __repr__(self) -> str:
        if self._closed:
            return "<aio.UnixDatagramEndpoint closed>"
        try:
            local = repr(self.address)
        except OSError:
            local = "?"
        peer = self._unix.peer
        extra = "" if peer is None else f" peer={peer!r}"
        return f"<aio.UnixDatagramEndpoint {local}{extra}>"
