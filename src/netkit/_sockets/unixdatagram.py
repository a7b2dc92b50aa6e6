"""Unix datagram set-up shared by both faces: create, bind, connect, pair, adopt, and
the hooks the message engines need (:class:`UnixDatagramKind`).

Nothing here waits: binding and connecting a Unix datagram socket are immediate. The
rules and messages are :mod:`netkit._core.unixdatagram`'s and
:mod:`netkit._core.unixpath`'s.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from netkit._core import datagram as dgram
from netkit._core import unixdatagram as rules
from netkit._core.checks import buffer_size, check_timeout
from netkit._core.unixpath import address, check_path, sockaddr
from netkit._sockets import fresh
from netkit._sockets.datagram import new_socket
from netkit._sockets.unixpath import BoundFile, bind_path, forget_path
from netkit.errors import FrameTooLarge
from netkit.options import SocketOptions

__all__ = [
    "UnixDatagramKind",
    "UnixState",
    "adopt",
    "check_socket",
    "open_bound",
    "open_connected",
    "open_pair",
]

_Opened = tuple[socket.socket, float | None, BoundFile | None]


def check_socket(sock: object) -> None:
    """Refuse anything but an ``AF_UNIX`` ``SOCK_DGRAM`` socket."""
    if not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_DGRAM:
        raise ValueError("UnixDatagramEndpoint needs an AF_UNIX SOCK_DGRAM socket")


def open_bound(path: object, options: SocketOptions | None) -> _Opened:
    """A new Unix datagram socket bound to *path* (a stale socket file replaced), its
    default timeout and the file it made."""
    check_path(path)  # before a socket exists: a bad path leaks nothing
    sock, default_timeout = new_socket(socket.AF_UNIX, options)
    try:
        bound = bind_path(sock, path)
    except BaseException:
        sock.close()
        raise
    return sock, default_timeout, bound


def open_connected(path: object, options: SocketOptions | None, source: object) -> _Opened:
    """A new Unix datagram socket connected to *path* (bound to *source* first, if
    given, so that the peer can answer), its default timeout and the file it made.

    Raises:
        ConnectFailed: nothing receives at *path* (its ``errno`` says why).
    """
    target = check_path(path)
    if source is not None:
        check_path(source, name="source")
    sock, default_timeout = new_socket(socket.AF_UNIX, options)
    bound = None
    try:
        if source is not None:
            bound = bind_path(sock, source, name="source")
        try:
            sock.connect(sockaddr(target))
        except OSError as exc:
            raise rules.connect_failed(target, exc) from exc
    except BaseException:
        forget_path(bound)
        sock.close()
        raise
    return sock, default_timeout, bound


def open_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected, unnamed Unix datagram sockets (``socketpair``)."""
    return fresh.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)


def adopt(sock: socket.socket, *, blocking: bool) -> tuple[float | None, str | None]:
    """Take over a Unix datagram socket: returns its default timeout and its peer
    (``None``: not connected; ``""``: connected to an unnamed socket, as a pair is),
    leaving it in blocking or non-blocking mode."""
    check_socket(sock)
    default_timeout = check_timeout("timeout", sock.gettimeout())
    if sock.gettimeout() != (None if blocking else 0.0):
        sock.setblocking(blocking)
    try:
        peer: str | None = address(sock.getpeername())
    except OSError:
        peer = None
    return default_timeout, peer


class UnixState:
    """What a Unix datagram endpoint knows besides its socket: its peer, its send
    limit, its checked targets and the socket file its bind made."""

    __slots__ = ("bound", "limit", "peer", "targets")

    def __init__(self, sock: socket.socket, peer: str | None, bound: BoundFile | None) -> None:
        self.peer = peer
        self.bound = bound
        self.targets: dict[Any, bytes] = {}
        self.limit = read_limit(sock)


def read_limit(sock: socket.socket) -> int:
    """The largest message *sock* can send now (from its ``SO_SNDBUF``)."""
    return rules.send_limit(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))


class UnixDatagramKind:
    """The hooks of the message engines for a Unix datagram endpoint, its addresses and
    its send checks: for both faces (none of this waits).

    A subclass provides the slot ``_unix`` (a :class:`UnixState`) and the engine's
    ``_sock``, ``_closed`` and ``_senders``.
    """

    __slots__ = ()

    _sock: socket.socket
    _closed: bool
    _senders: dict[Any, str]
    _unix: UnixState

    # -- hooks --------------------------------------------------------------------------

    def _error(self, exc: OSError) -> BaseException:
        return rules.datagram_error(exc, is_closed=self._closed, target=None, peer=self._unix.peer)

    def _send_error(self, exc: OSError, target: str | None, size: int) -> BaseException:
        state = self._unix
        if exc.errno == errno.EMSGSIZE and not self._closed:
            # The buffer changed since the check (by hand, on .socket): the same error.
            state.limit = read_limit(self._sock)
            return rules.too_large_to_send(size, state.limit, self._where(target))
        return rules.datagram_error(exc, is_closed=self._closed, target=target, peer=state.peer)

    def _closed_error(self) -> BaseException:
        return rules.closed()

    def _timeout_error(self, timeout: float | None, *, sending: bool) -> BaseException:
        return dgram.timed_out(timeout, sending=sending)

    def _sender_of(self, addr: Any) -> str:
        return rules.sender(self._senders, addr, is_closed=self._closed)

    def _truncated(self, size: int, max_size: int, sender: Any) -> FrameTooLarge:
        return rules.truncated(size, max_size, self._unix.peer if sender is None else sender)

    def _truncated_into(self, size: int, capacity: int, sender: Any) -> FrameTooLarge:
        return rules.truncated_into(size, capacity, sender)

    def _check_max_size(self, value: object) -> int:
        return rules.check_max_size(value)

    # -- addresses and sends ------------------------------------------------------------

    def _where(self, target: str | None) -> str:
        if target is not None:
            return target
        return self._unix.peer or ""

    def _target(self, path: object) -> bytes:
        """The kernel address of a ``sendto`` target, checked (and cached)."""
        targets = self._unix.targets
        try:
            found = targets.get(path)
        except TypeError:  # unhashable: check_path says why it is wrong
            found = None
        if found is None:
            if path == "":
                raise rules.unnamed_target()
            found = sockaddr(check_path(path))
            dgram.remember(targets, path, found)
        return found

    def _send_size(self, data: object, target: str | None) -> int:
        """*data*'s size, checked against the socket's limit before anything is sent."""
        size = buffer_size(data)
        state = self._unix
        if size > state.limit:
            state.limit = read_limit(self._sock)  # raised by hand since? (one syscall)
            if size > state.limit:
                raise rules.too_large_to_send(size, state.limit, self._where(target))
        return size

    def _check_connected(self) -> None:
        """``send`` needs a peer: refused before any system call when there is none."""
        if self._unix.peer is None and not self._closed:
            raise rules.not_connected()

    def _forget(self) -> None:
        """Remove the socket file this endpoint's bind made (if it still is that file)."""
        state = self._unix
        bound, state.bound = state.bound, None
        forget_path(bound)

    @property
    def address(self) -> str:
        """The local path (``""`` when unnamed; an abstract name starts with ``"\\0"``)."""
        try:
            return address(self._sock.getsockname())
        except OSError as exc:
            raise self._error(exc) from exc

    @property
    def remote_address(self) -> str | None:
        """The peer's path (``""`` for an unnamed peer, as in a pair), ``None`` when not
        connected."""
        return self._unix.peer
