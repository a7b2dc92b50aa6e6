"""The sync :class:`SeqpacketConnection` and :class:`SeqpacketClient`: connected Unix
sockets that keep message boundaries (``AF_UNIX``, ``SOCK_SEQPACKET``).

Set-up, limits and errors are :mod:`netkit._sockets.seqpacket`'s (the rules in
:mod:`netkit._core.seqpacket`); the waiting is the message engine's
(:mod:`netkit.udp._engine`): one ``recv`` with ``MSG_TRUNC`` per message, deadlines
with ``poll``, ``close`` from another thread waking a blocked call.
"""

from __future__ import annotations

import socket
import time
from typing import TypeVar

from netkit._core import datagram as dgram
from netkit._core import seqpacket as rules
from netkit._core.checks import check_timeout
from netkit._core.datagram import DEFAULT_MAX_SIZE
from netkit._core.deadline import stalled_error
from netkit._core.unixpath import check_path, sockaddr
from netkit._sockets import seqpacket as setup
from netkit.errors import NetkitTimeout
from netkit.options import SocketOptions
from netkit.udp._engine import MessageEngine

__all__ = ["SeqpacketClient", "SeqpacketConnection"]

_C = TypeVar("_C", bound="SeqpacketConnection")
_Data = bytes | bytearray | memoryview


class SeqpacketConnection(setup.SeqpacketKind, MessageEngine[str]):
    """A connected SEQPACKET socket: reliable, ordered, and each message arrives whole,
    as it was sent (no framing needed).

    Wrap a connected ``AF_UNIX`` ``SOCK_SEQPACKET`` socket (from ``accept``,
    ``socketpair`` or ``connect``; a server hands its handler one made this way), use
    :meth:`pair`, or :meth:`SeqpacketClient.connect`. The connection owns the socket.

    - **Messages.** :meth:`send_message` sends one message (at most the socket's
      ``SO_SNDBUF`` less 32 bytes: 212960 by default; more raises ``FrameTooLarge``
      before anything is sent; an empty message is refused, as the peer would read it
      as the end). :meth:`recv_message` returns the next message whole, ``b""`` once
      the peer has closed or shut down its sending side, and raises ``FrameTooLarge``
      for a message over ``max_size``: the kernel has then consumed that message (a
      receive takes a message whole or drops its tail), so the next call returns the
      one after it.
    - **Deadlines.** ``timeout=`` is a deadline for the whole call; ``None`` uses the
      :attr:`timeout` property (sends too, as for stream connections), which starts as
      the timeout the socket had when wrapped.
    - **Errors** are the stream connections': ``ConnectionClosed`` when the peer resets
      the connection or after :meth:`close` (``"connection is closed"``),
      ``NetkitTimeout`` on a deadline. :meth:`close` from another thread wakes a
      blocked call.
    """

    __slots__ = ("_seq",)

    _SEND_DEFAULT = True

    def __init__(
        self,
        sock: socket.socket,
        *,
        idle_timeout: float | None = None,
        send_timeout: float | None = None,
    ) -> None:
        """Wrap a connected socket, taking ownership of it.

        Args:
            sock: a connected ``AF_UNIX`` ``SOCK_SEQPACKET`` socket.
            idle_timeout: used by servers: a receive that waits this many seconds with
                nothing received raises ``NetkitTimeout("idle: ...")``, whatever its
                ``timeout=``; None for no limit.
            send_timeout: used by servers: a send without a deadline that waits this
                many seconds for room (the peer stopped reading) raises
                ``NetkitTimeout("send stalled: ...")``, nothing sent; None for no limit.

        Raises:
            TypeError: *sock* is not a socket, or a timeout not a number.
            ValueError: *sock* is not a connected ``AF_UNIX`` SEQPACKET socket, or a
                timeout is negative.
        """
        # A socket handed over with a timeout keeps it as the default deadline; the
        # socket itself goes to blocking mode, which the fast path relies on.
        default_timeout, state = setup.adopt(
            sock, blocking=True, idle_timeout=idle_timeout, send_timeout=send_timeout
        )
        super().__init__(sock, default_timeout)
        self._seq = state

    @classmethod
    def pair(cls: type[_C]) -> tuple[_C, _C]:
        """Two connections joined to each other (``socketpair``).

        Returns:
            The two connections; their addresses are ``""``.
        """
        first, second = setup.open_pair()
        try:
            return cls(first), cls(second)
        except BaseException:
            first.close()
            second.close()
            raise

    # -- messages -----------------------------------------------------------------------

    def send_message(self, data: _Data, *, timeout: float | None = None) -> None:
        """Send *data* as one message.

        Parameters:
            data: the message (bytes-like, at least one byte).
            timeout: seconds to wait for room in the send buffer (``None``: the
                :attr:`timeout` property).

        Raises:
            FrameTooLarge: *data* is over the socket's limit (nothing sent).
            ValueError: *data* is empty.
            TypeError: *data* is not bytes-like.
            NetkitTimeout: no room came in time (nothing sent).
            ConnectionClosed: the peer is gone (``"connection lost: ..."``) or the
                connection is closed.
        """
        self._check_open()
        size = self._message_size(data)
        sock = self._sock
        stall = self._seq.send
        if stall is None or timeout is not None or self._default_timeout is not None:
            self._send_call(lambda flags: sock.send(data, flags), timeout, None, size)
            return
        try:
            self._send_call(lambda flags: sock.send(data, flags), stall, None, size)
        except NetkitTimeout:
            raise stalled_error(stall) from None

    def recv_message(
        self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> bytes:
        """Receive the next message whole; ``b""`` at the end of the connection.

        Parameters:
            max_size: the largest message accepted, in bytes (65535 by default).
            timeout: seconds for the whole call (``None``: the :attr:`timeout`
                property).

        Returns:
            The message, or ``b""`` once the peer closed (or shut down writing).

        Raises:
            FrameTooLarge: the message is over *max_size*; its real size is reported,
                and it is consumed (the next call returns the next message).
            NetkitTimeout: no message came in time.
            ConnectionClosed: the connection was reset, or is closed.
            TypeError: a *max_size* or *timeout* of the wrong type.
            ValueError: a *max_size* or *timeout* out of range.
        """
        if self._seq.idle is None:
            return self._recv_message(max_size, timeout)
        seconds, idle = self._receive_timeout(timeout)
        try:
            return self._recv_message(max_size, seconds)
        except NetkitTimeout:
            if idle:
                raise rules.idle_error(self._seq.idle) from None
            raise

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._seq.local!r} -> {self._seq.remote!r}"
        return f"<{type(self).__name__} {state}>"


class SeqpacketClient(SeqpacketConnection):
    """A :class:`SeqpacketConnection` made by :meth:`connect`."""

    __slots__ = ()

    @classmethod
    def connect(
        cls,
        path: str,
        *,
        timeout: float | None = None,
        options: SocketOptions | None = None,
    ) -> SeqpacketClient:
        """Connect to the SEQPACKET listener at *path*.

        Parameters:
            path: the listener's path, or a Linux abstract name (``"\\0name"``).
            timeout: seconds to wait while the listener's backlog is full (``None``:
                no limit). It does not become the connection's :attr:`timeout`.
            options: socket options (``timeout`` there is the connection's default
                deadline).

        Returns:
            The connection.

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable socket path.
            ConnectFailed: nothing listens at *path* (``errno`` ``ENOENT`` or
                ``ECONNREFUSED``), or a socket of another type does.
            NetkitTimeout: the backlog stayed full for *timeout* seconds.
        """
        target = check_path(path)
        seconds = check_timeout("timeout", timeout)
        sock, default_timeout = setup.new_socket(options)
        try:
            addr = sockaddr(target)
            if seconds is None:  # blocking: the kernel waits for room in the backlog
                setup.try_connect(sock, addr, target)
            else:
                # No event says when the backlog has room: retry at growing intervals.
                sock.setblocking(False)
                deadline = time.monotonic() + seconds
                pause = dgram.SEND_RETRY_FIRST
                while not setup.try_connect(sock, addr, target):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise rules.connect_timed_out(target, seconds)
                    time.sleep(min(pause, remaining))
                    pause = dgram.next_send_retry(pause)
            conn = cls(sock)
        except BaseException:
            sock.close()
            raise
        conn._set_default_timeout(default_timeout)
        return conn
