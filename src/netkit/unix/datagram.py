"""The sync :class:`UnixDatagramEndpoint`: Unix datagrams over the UDP message engine.

Set-up, sizes, senders and errors are :mod:`netkit._sockets.unixdatagram`'s and the
:mod:`netkit._core` rules behind it; the waiting and the receive hot path are the
message engine's (:mod:`netkit.udp._engine`), the same as :class:`netkit.UdpEndpoint`'s.
"""

from __future__ import annotations

import socket
from typing import Any

from netkit._sockets import unixdatagram as setup
from netkit._sockets.unixpath import BoundFile, forget_path
from netkit.options import SocketOptions
from netkit.udp._engine import DatagramEngine

__all__ = ["UnixDatagramEndpoint"]

_Data = bytes | bytearray | memoryview


class UnixDatagramEndpoint(setup.UnixDatagramKind, DatagramEngine[str]):
    """A Unix datagram socket (``AF_UNIX``, ``SOCK_DGRAM``): whole datagrams between
    processes of one host, addressed by path.

    Build one with :meth:`bind`, :meth:`connect` or :meth:`pair`, or wrap an existing
    ``AF_UNIX`` ``SOCK_DGRAM`` socket with ``UnixDatagramEndpoint(sock)`` (the endpoint
    takes ownership and manages its blocking mode). Addresses are ``str`` paths: ``""``
    for an unnamed socket, and a Linux abstract name starts with ``"\\0"``. The
    receive methods (``recvfrom``, ``recv``) are :class:`netkit.UdpEndpoint`'s, with the
    sender as a path: ``Datagram[str]``.

    Rules (the same in :class:`netkit.aio.UnixDatagramEndpoint`):

    - **Sizes.** Linux refuses a datagram longer than the sending socket's
      ``SO_SNDBUF`` less 32 bytes (212960 bytes by default; ``SocketOptions(
      send_buffer=...)`` raises it): such a send raises ``FrameTooLarge`` before any
      system call. A received datagram over ``max_size`` (65535 by default, as for
      UDP; any size may be asked) raises ``FrameTooLarge`` with its real size; it is
      consumed, never silently cut.
    - **Sends wait for room.** A receiver's queue holds few datagrams
      (``net.unix.max_dgram_qlen``); a send to a full one waits (up to its
      ``timeout=``) instead of dropping, unlike UDP. An unconnected sender gets no
      wake-up from the kernel when room comes, so it retries after pauses growing
      from 1 ms to 50 ms.
    - **A missing peer is an error**: ``sendto`` a path where nothing is bound raises
      ``ConnectionRefused`` (``errno`` ``ENOENT`` or ``ECONNREFUSED``); a connected
      endpoint whose peer closed raises it on its next send.
    - **The socket file** made by :meth:`bind` is removed by :meth:`close` if it is
      still that file; a stale file (a socket nobody is bound to) is replaced at bind.

    Several threads may use one endpoint; :meth:`close` from another thread wakes a
    blocked receive or send, which then raises ``ConnectionClosed``.

    Parameters:
        sock: an ``AF_UNIX`` ``SOCK_DGRAM`` socket, bound, connected or neither.

    Raises:
        TypeError: *sock* is not a socket of the right family and type.
        ValueError: *sock* is not in a usable state.
    """

    __slots__ = ("_unix",)

    def __init__(self, sock: socket.socket) -> None:
        # A socket handed over with a timeout keeps it as the default deadline; the
        # socket itself goes back to blocking mode, which the fast path relies on.
        default_timeout, peer = setup.adopt(sock, blocking=True)
        super().__init__(sock, default_timeout)
        self._unix = setup.UnixState(sock, peer, None)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def bind(cls, path: str, *, options: SocketOptions | None = None) -> UnixDatagramEndpoint:
        """A new endpoint bound to *path*, receiving the datagrams sent there.

        A stale socket file at *path* (nothing bound to it) is replaced; :meth:`close`
        removes the file again if it is still the one made here.

        Parameters:
            path: a filesystem path (up to 107 bytes) or a Linux abstract name
                (``"\\0name"``, no file).
            options: socket options applied before binding (``timeout`` becomes the
                default deadline of receives).

        Returns:
            The bound endpoint.

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable address (empty, too long,
                a NUL inside, abstract off Linux).
            OSError: ``EADDRINUSE`` (a live socket, or a file that is not a socket,
                holds the path), ``FileNotFoundError`` (its directory does not
                exist), ``PermissionError``...; the message names the path.
        """
        sock, default_timeout, bound = setup.open_bound(path, options)
        return cls._adopt(sock, default_timeout, bound)

    @classmethod
    def connect(
        cls,
        path: str,
        *,
        options: SocketOptions | None = None,
        source: str | None = None,
    ) -> UnixDatagramEndpoint:
        """A new endpoint connected to the socket bound at *path*: use :meth:`send`
        and :meth:`recv`.

        Only that socket's datagrams are received. Without *source* this endpoint is
        unnamed, so the peer cannot answer it; with *source* it is bound there first
        (as :meth:`bind` does, the file removed by :meth:`close`).

        Parameters:
            path: where the peer is bound.
            options: socket options applied first.
            source: a path (or abstract name) to bind to first, or None.

        Returns:
            The connected endpoint.

        Raises:
            TypeError: a *path* or *source* of the wrong type.
            AddressError: a *path* or *source* that is not a usable address.
            ConnectFailed: nothing is bound at *path* (``errno`` ``ENOENT`` or
                ``ECONNREFUSED``), or it is not a datagram socket.
            OSError: *source* cannot be bound (as :meth:`bind`).
        """
        sock, default_timeout, bound = setup.open_connected(path, options, source)
        return cls._adopt(sock, default_timeout, bound)

    @classmethod
    def pair(cls) -> tuple[UnixDatagramEndpoint, UnixDatagramEndpoint]:
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
        sock: socket.socket,
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
        result._set_default_timeout(default_timeout)
        return result

    # -- sending ------------------------------------------------------------------------

    def sendto(self, data: _Data, path: str, *, timeout: float | None = None) -> None:
        """Send one datagram to the socket bound at *path*.

        Parameters:
            data: the payload (bytes-like).
            path: the receiver's path or abstract name (a :class:`Datagram`'s sender
                answers it).
            timeout: seconds to wait for room in a full receiver queue (``None``: no
                limit).

        Raises:
            FrameTooLarge: *data* is over this socket's limit (nothing sent).
            TypeError: *data* is not bytes-like, or *path* not a path.
            AddressError: *path* is not a usable address (``""``: an unnamed
                sender cannot be answered).
            ConnectionRefused: nothing is bound at *path* (``errno`` ``ENOENT``: no
                file; ``ECONNREFUSED``: a stale file).
            NetkitTimeout: the receiver's queue stayed full for *timeout* seconds.
            ConnectionClosed: the endpoint is closed.
        """
        self._check_open()
        addr = self._target(path)
        size = self._send_size(data, path)
        sock = self._sock
        self._send_call(lambda flags: sock.sendto(data, flags, addr), timeout, path, size)

    def send(self, data: _Data, *, timeout: float | None = None) -> None:
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
        sock = self._sock
        self._send_call(lambda flags: sock.send(data, flags), timeout, None, size)

    # -- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the endpoint and remove the socket file its bind made (if it is still
        that file); idempotent. A receive blocked in another thread wakes and raises
        ``ConnectionClosed``."""
        if self._closed:
            return
        self._forget()  # first: nobody finds the path of a socket about to close
        super().close()

    def __repr__(self) -> str:
        if self._closed:
            return "<UnixDatagramEndpoint closed>"
        try:
            local = repr(self.address)
        except OSError:
            local = "?"
        peer = self._unix.peer
        return f"<UnixDatagramEndpoint {local}{'' if peer is None else f' peer={peer!r}'}>"
