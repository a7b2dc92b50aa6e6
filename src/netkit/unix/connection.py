"""Unix stream connections: :class:`UnixConnection` and :class:`UnixClient`.

A :class:`UnixConnection` is a :class:`~netkit.tcp.connection.StreamConnection` (every
stream method, deadline and error of :class:`~netkit.TcpConnection`, from the same
engine) over an ``AF_UNIX`` stream socket, with what only Unix sockets have: paths as
addresses, the peer's credentials, and file descriptors passed along with the bytes.

Passing descriptors (``SCM_RIGHTS``) on a stream: they travel attached to the bytes
they were sent with, and the kernel hands them to the receive call that reads those
bytes. So the rule is: receive them with :meth:`UnixConnection.recv_fds` while
netkit's receive buffer is empty. ``recv_fds`` first returns what is already buffered
(those bytes were read without their descriptors, which the kernel then closed: none
leaks, but they are gone), and only reads the socket once the buffer is empty. A read
method that reads ahead (``recv_exactly``, ``readline``, ...) may swallow bytes that
carry descriptors in the same way; a protocol that passes descriptors sends them in
messages the receiver reads with ``recv_fds``.
"""

from __future__ import annotations

import socket
import ssl
from time import monotonic
from typing import Any, TypeVar

from netkit._core.checks import buffer_size, check_timeout
from netkit._core.oserrors import closed
from netkit._core.unix import (
    PeerCredentials,
    check_fds,
    check_recv_fds,
    connect_failed,
    connect_timed_out,
    no_fds_on_empty,
    unix_text,
)
from netkit._core.unixpath import address as unix_address
from netkit._core.unixpath import check_path, sockaddr
from netkit._sockets import fresh
from netkit._sockets import unix as _unix
from netkit.errors import ConnectionClosed
from netkit.tcp.connection import StreamConnection

__all__ = ["PeerCredentials", "UnixClient", "UnixConnection"]

_U = TypeVar("_U", bound="UnixConnection")
_C = TypeVar("_C", bound="UnixClient")


class UnixConnection(StreamConnection):
    """A connected Unix stream socket with buffered reads, deadlines and fd passing.

    Takes ownership of *sock* (closing the connection closes it). Every method of
    :class:`~netkit.TcpConnection` is here with the same semantics and errors:
    ``recv``, ``recv_into``, ``recv_exactly``, ``recv_until``, ``readline``,
    ``recv_all``, ``send_frame``/``recv_frame``, ``sendall``, ``sendfile``,
    ``shutdown_write``, ``shutdown``, ``close``, ``timeout=`` deadlines, ``timeout``,
    ``fileno()``. Addresses are ``str`` paths (``""`` for an unnamed socket, as a
    client's own end and both ends of :meth:`pair` are; ``"\\0name"`` for a Linux
    abstract name).
    """

    __slots__ = ("_credentials",)

    _KIND = "UnixConnection"
    _convert = staticmethod(unix_address)
    _text = staticmethod(unix_text)

    def __init__(
        self,
        sock: socket.socket,
        *,
        idle_timeout: float | None = None,
        send_timeout: float | None = None,
        message_timeout: float | None = None,
    ) -> None:
        """Wrap a connected socket, taking ownership of it.

        Args:
            sock: a connected ``AF_UNIX`` ``SOCK_STREAM`` socket (from ``accept()``,
                ``socket.socketpair()``, ``socket.fromfd()``, a supervisor...).
            idle_timeout: seconds a read may wait with nothing received, or None.
            send_timeout: seconds a send may wait with the peer taking nothing before it
                raises :class:`~netkit.NetkitTimeout` (the stream is then torn: an
                unknown prefix went), or None.
            message_timeout: seconds a read of one message (a line, a frame,
                ``recv_exactly``...) may take from its first byte, or None.

        Raises:
            TypeError: *sock* is not a socket, not ``AF_UNIX`` (use
                :class:`~netkit.TcpConnection` for TCP), or an ``ssl.SSLSocket``.
            ValueError: *sock* is not a stream socket, or a timeout is negative.
        """
        if isinstance(sock, ssl.SSLSocket):
            raise TypeError("UnixConnection takes a plain AF_UNIX socket, not an ssl.SSLSocket")
        super().__init__(
            sock,
            idle_timeout=idle_timeout,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
        )
        self._credentials: PeerCredentials | None = None

    @classmethod
    def pair(cls: type[_U]) -> tuple[_U, _U]:
        """Two connected connections (``socket.socketpair()``), both ends unnamed.

        Returns:
            ``(a, b)``: what one sends, the other receives.
        """
        a, b = fresh.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            return cls(a), cls(b)
        except BaseException:  # pragma: no cover - nothing to fail on a fresh pair
            a.close()
            b.close()
            raise

    @property
    def local_address(self) -> str:
        """This end's path (``""`` when unnamed); still available after :meth:`close`."""
        address: str = self._address(False)
        return address

    @property
    def remote_address(self) -> str:
        """The peer's path (``""`` when unnamed); still available after :meth:`close`."""
        address: str = self._address(True)
        return address

    @property
    def peer_credentials(self) -> PeerCredentials:
        """The peer's process id, user id and group id when it connected (``SO_PEERCRED``).

        For a :meth:`pair`, the process that made the pair. Read once and kept.

        Raises:
            ConnectionClosed: the connection was closed before they were read.
            NotImplementedError: the platform has no ``SO_PEERCRED`` (Linux has).
        """
        if self._credentials is None:
            if self._closed:
                raise closed()
            try:
                self._credentials = _unix.peer_credentials(self._sock)
            except OSError as exc:
                raise self._fail(exc) from exc
        return self._credentials

    # -- file descriptors ---------------------------------------------------------------

    def send_fds(
        self,
        data: bytes | bytearray | memoryview,
        fds: list[int] | tuple[int, ...],
        *,
        timeout: float | None = None,
    ) -> None:
        """Send all of *data* with the descriptors *fds* attached to its first bytes.

        The descriptors are duplicated into the receiving process (the caller's stay
        open: close them when you no longer need them). With no *fds* this is
        :meth:`sendall`.

        Parameters:
            data: at least one byte when *fds* is not empty (descriptors travel with
                bytes).
            fds: open file descriptors, at most 253.
            timeout: deadline for the whole call, in seconds.

        Raises:
            TypeError: *data* is not bytes-like, or *fds* not a list of ints.
            ValueError: *data* is empty while *fds* is not, an fd is negative or not
                open, or there are more than 253.
            NetkitTimeout: the deadline passed; a prefix of *data* (with the
                descriptors, if any byte went) may have been sent.
            ConnectionClosed: the connection was lost, or closed by this process.
        """
        size = buffer_size(data)
        wanted = check_fds(fds)
        deadline = self._deadline(timeout)
        if not wanted:
            self._sendall(data, deadline)
            return
        if not size:
            raise no_fds_on_empty()
        _unix.check_open(wanted)
        if self._closed:
            raise closed()
        ancillary = _unix.rights(wanted)
        sock = self._sock
        with memoryview(data) as raw, raw.cast("B") as view:
            try:
                sent: int = self._call(
                    lambda flags: sock.sendmsg([view], ancillary, flags), deadline, True
                )
            except ConnectionClosed:
                if not self._closed:
                    _unix.check_open(wanted)  # EBADF for an fd closed since the check
                raise
            if sent < size:
                # The descriptors went with the first part; the rest is plain bytes.
                self._sendall(view[sent:], deadline)

    def recv_fds(
        self, max_bytes: int, max_fds: int, *, timeout: float | None = None
    ) -> tuple[bytes, list[int]]:
        """Receive up to *max_bytes* bytes and the descriptors that came with them.

        Bytes already in netkit's receive buffer come first, with no descriptors
        (see the module's rule); otherwise this is one ``recvmsg``. The descriptors
        returned are new, close-on-exec, and the caller's to close. The kernel stops a
        read after the bytes a set of descriptors came with, so one call never mixes
        two senders' sets.

        Parameters:
            max_bytes: the most bytes to return (>= 1).
            max_fds: the most descriptors to accept (>= 1).
            timeout: deadline for the whole call, in seconds.

        Returns:
            ``(data, fds)``; ``(b"", [])`` at EOF.

        Raises:
            FrameTooLarge: more than *max_fds* descriptors arrived: every one received
                is closed, and the bytes stay buffered for the next read.
            NetkitTimeout: the deadline passed first (nothing is lost).
            ConnectionClosed: the connection was lost, or closed by this process.
        """
        size, most = check_recv_fds(max_bytes, max_fds)
        deadline = self._read_deadline(timeout)
        buffer = self._buffer
        if buffer:
            return buffer.take(size), []
        if self._closed:
            raise closed()
        sock = self._sock
        room = _unix.ancillary_room(most)
        flags_in = _unix.RECV_FLAGS
        data, ancdata, flags, _ = self._call(
            lambda flags: sock.recvmsg(size, room, flags | flags_in), deadline, False
        )
        try:
            fds = _unix.take_fds(ancdata, flags, most)
        except BaseException:
            buffer.feed(data)  # the buffer was empty: the stream's order is kept
            raise
        if not data and not fds and self._closed:
            raise closed()  # woken by close() from another thread
        return data, fds


class UnixClient(UnixConnection):
    """A :class:`UnixConnection` made by :meth:`connect`."""

    __slots__ = ()

    @classmethod
    def connect(cls: type[_C], path: str | Any, *, timeout: float | None = None) -> _C:
        """Connect to the Unix stream socket at *path* (or a Linux abstract ``"\\0name"``).

        A connect to a listener whose backlog is full waits for room (the kernel's
        own wait), up to *timeout*.

        Parameters:
            path: a ``str`` or path-like.
            timeout: seconds for the whole connect; None waits as long as it takes.

        Returns:
            The connection; its ``remote_address`` is the listener's path.

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable socket path.
            ConnectFailed: the connect failed (no such file, no listener, permission
                denied, not a socket...); its ``errno`` is the OS's.
            NetkitTimeout: the listener's backlog stayed full for *timeout* seconds.
        """
        where = check_path(path)
        limit = check_timeout("timeout", timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _connect(sock, where, limit)
            return cls(sock)
        except BaseException:
            sock.close()
            raise


def _connect(sock: socket.socket, path: str, limit: float | None) -> None:
    """Connect *sock* to *path*, giving up after *limit* seconds of full backlog."""
    try:
        if limit == 0:
            # A deadline already passed still gets one try that does not wait.
            sock.setblocking(False)
            try:
                sock.connect(sockaddr(path))
            finally:
                sock.setblocking(True)
        else:
            deadline = None if limit is None else monotonic() + limit
            _unix.connect_waiting(sock, sockaddr(path), deadline)
    except BlockingIOError:
        raise connect_timed_out(path, limit or 0.0) from None
    except OSError as exc:
        raise connect_failed(path, exc) from exc
