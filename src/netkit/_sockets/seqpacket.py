"""SEQPACKET set-up shared by both faces: create, connect, pair, adopt, and the hooks
and properties of a connection (:class:`SeqpacketKind`).

Nothing here waits. A Unix ``connect`` either completes at once or, when the listener's
backlog is full, fails with ``EAGAIN`` on a non-blocking socket (there is no
``EINPROGRESS`` to wait on, and no readiness event when room comes), so a connect with
a deadline retries at growing intervals in each face (:func:`try_connect`).
"""

from __future__ import annotations

import dataclasses
import errno
import socket
from collections.abc import Callable
from typing import Any

from netkit._core import seqpacket as rules
from netkit._core.checks import buffer_size, check_timeout
from netkit._core.server import check_idle_timeout, check_send_timeout
from netkit._core.unix import PeerCredentials
from netkit._core.unixdatagram import connect_failed, send_limit
from netkit._core.unixpath import address
from netkit._sockets import fresh
from netkit._sockets.unix import peer_credentials as unix_credentials
from netkit.errors import FrameTooLarge
from netkit.options import SocketOptions

__all__ = [
    "SeqpacketKind",
    "SeqpacketState",
    "adopt",
    "new_socket",
    "open_pair",
    "try_connect",
]

_SHUT = (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR)


def _read_limit(sock: socket.socket) -> int:
    return send_limit(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))


class SeqpacketState:
    """What a SEQPACKET connection knows besides its socket: its addresses (kept for
    logs after close), its send limit, its idle timeout (a server's) and, once read,
    its peer's credentials, and its send timeout (a server's: how long a send may wait
    for room before the peer counts as no longer reading)."""

    __slots__ = ("credentials", "idle", "limit", "local", "remote", "send")

    def __init__(self, sock: socket.socket, local: str, remote: str) -> None:
        self.local = local
        self.remote = remote
        self.limit = _read_limit(sock)
        self.idle: float | None = None
        self.send: float | None = None
        self.credentials: PeerCredentials | None = None


def new_socket(options: SocketOptions | None) -> tuple[socket.socket, float | None]:
    """A SEQPACKET socket with *options* applied; returns it and the default timeout
    (``options.timeout`` is the connection's default deadline, not the socket's)."""
    if options is not None and not isinstance(options, SocketOptions):
        raise TypeError(f"options must be SocketOptions or None, not {type(options).__name__}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        default_timeout = None
        if options is not None:
            if options.timeout is not None:
                default_timeout = check_timeout("timeout", options.timeout)
                options = dataclasses.replace(options, timeout=None)
            options.apply(sock)
        return sock, default_timeout
    except BaseException:
        sock.close()
        raise


def try_connect(sock: socket.socket, addr: bytes, path: str) -> bool:
    """Connect *sock* to *addr*: True once connected, False if the listener's backlog
    is full and *sock* is non-blocking (try again later).

    Raises:
        ConnectFailed: nothing listens at *path* (``errno`` ``ENOENT``,
            ``ECONNREFUSED``), or a socket of another type does.
    """
    try:
        sock.connect(addr)
    except BlockingIOError:
        return False
    except OSError as exc:
        raise connect_failed(path, exc) from exc
    return True


def open_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected, unnamed SEQPACKET sockets (``socketpair``)."""
    return fresh.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def adopt(
    sock: socket.socket,
    *,
    blocking: bool,
    idle_timeout: object = None,
    send_timeout: object = None,
) -> tuple[float | None, SeqpacketState]:
    """Take over a connected SEQPACKET socket (made by ``connect``, ``accept`` or
    ``socketpair``): returns its default timeout and state, leaving it in blocking or
    non-blocking mode.

    A timeout the socket had becomes the default deadline of the connection's calls; 0
    (a non-blocking socket, as asyncio code holds them) means none, as for the stream
    connections.

    *idle_timeout*: how long a receive may wait with nothing received (see
    :func:`netkit._core.seqpacket.receive_timeout`), or None. *send_timeout*: how long
    a send called without a deadline may wait for room (a message goes whole or not
    at all, so this is the stall of a peer that stopped reading), or None.

    Raises:
        TypeError, ValueError: *sock* is not a connected ``AF_UNIX`` SEQPACKET socket,
            or *idle_timeout* is not a number of seconds > 0.
    """
    idle = check_idle_timeout(idle_timeout)
    stall = check_send_timeout(send_timeout)
    rules.check_socket(sock)
    try:
        remote = address(sock.getpeername())
    except OSError:
        raise rules.not_connected() from None
    current = sock.gettimeout()
    default_timeout = check_timeout("timeout", current) if current else None
    if current != (None if blocking else 0.0):
        sock.setblocking(blocking)
    state = SeqpacketState(sock, address(sock.getsockname()), remote)
    state.idle = idle
    state.send = stall
    return default_timeout, state


class SeqpacketKind:
    """The hooks of the message engines for a SEQPACKET connection, and its
    properties: for both faces (none of this waits).

    A subclass provides the slot ``_seq`` (a :class:`SeqpacketState`) and the
    engine's ``_sock``, ``_closed``, ``_default_timeout`` and
    ``_set_default_timeout``.
    """

    __slots__ = ()

    _sock: socket.socket
    _closed: bool
    _default_timeout: float | None
    _seq: SeqpacketState
    _set_default_timeout: Callable[[float | None], None]  # the engine's method

    # -- hooks --------------------------------------------------------------------------

    def _error(self, exc: OSError) -> BaseException:
        return rules.message_error(exc, is_closed=self._closed)

    def _send_error(self, exc: OSError, target: Any, size: int) -> BaseException:
        if exc.errno == errno.EMSGSIZE and not self._closed:
            # The buffer changed since the check (by hand, on .socket): the same error.
            self._seq.limit = _read_limit(self._sock)
            return rules.too_large_to_send(size, self._seq.limit)
        return rules.message_error(exc, is_closed=self._closed)

    def _closed_error(self) -> BaseException:
        return rules.closed()

    def _timeout_error(self, timeout: float | None, *, sending: bool) -> BaseException:
        return rules.timeout_error(sending)

    def _sender_of(self, addr: Any) -> str:
        return self._seq.remote

    def _truncated(self, size: int, max_size: int, sender: Any) -> FrameTooLarge:
        return rules.truncated(size, max_size)

    def _check_max_size(self, value: object) -> int:
        return rules.check_max_size(value)

    def _receive_timeout(self, timeout: object) -> tuple[float | None, bool]:
        """A receive's timeout with the idle timeout applied, and whether it is the idle
        one (:func:`netkit._core.seqpacket.receive_timeout`)."""
        return rules.receive_timeout(timeout, self._default_timeout, self._seq.idle)

    def _message_size(self, data: object) -> int:
        """*data*'s size, checked (not empty, within the limit) before anything is sent."""
        size = buffer_size(data)
        if size == 0:
            raise rules.empty_message()
        state = self._seq
        if size > state.limit:
            state.limit = _read_limit(self._sock)  # raised by hand since? (one syscall)
            if size > state.limit:
                raise rules.too_large_to_send(size, state.limit)
        return size

    # -- properties ---------------------------------------------------------------------

    @property
    def timeout(self) -> float | None:
        """The default deadline, in seconds, of each call made with ``timeout=None``
        (receives and sends); ``None`` means no limit.

        Setting it checks the value as ``timeout=`` does (TypeError, ValueError).
        """
        return self._default_timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._set_default_timeout(check_timeout("timeout", value))

    @property
    def local_address(self) -> str:
        """This end's path (``""`` when unnamed, as a client's usually is); still
        available after close."""
        return self._seq.local

    @property
    def remote_address(self) -> str:
        """The peer's path (a client sees the listener's; a server's accepted
        connection sees ``""`` for an unnamed client); still available after close."""
        return self._seq.remote

    @property
    def peer_credentials(self) -> PeerCredentials:
        """The peer process's pid, uid and gid when the connection was made
        (``SO_PEERCRED``; for a pair, this process's).

        Raises:
            NotImplementedError: the platform has no ``SO_PEERCRED`` (Linux has).
            ConnectionClosed: read for the first time after close.
        """
        state = self._seq
        if state.credentials is None:
            try:
                state.credentials = unix_credentials(self._sock)
            except OSError as exc:
                raise self._error(exc) from exc
        return state.credentials

    def shutdown(self, how: int) -> None:
        """Shut down one or both directions.

        After ``SHUT_WR`` the peer reads ``b""`` (the end) once it has every message
        sent before; the connection stays open until :meth:`close`.

        Args:
            how: ``socket.SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``.

        Raises:
            ValueError: *how* is not one of the three constants.
            ConnectionClosed: the connection is closed.
        """
        if how not in _SHUT:
            raise ValueError(f"how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how!r}")
        try:
            self._sock.shutdown(how)
        except OSError as exc:
            raise self._error(exc) from exc
