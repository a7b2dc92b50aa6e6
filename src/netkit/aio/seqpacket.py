"""asyncio :class:`SeqpacketConnection` and :class:`SeqpacketClient`: the sync classes'
rules, awaited.

asyncio's transports treat a SEQPACKET socket as a byte stream and would merge
messages, so there is no transport here: the socket stays non-blocking and each call
waits on the event loop (``add_reader``/``add_writer`` futures) through the message
engine of :mod:`netkit.aio._datagram`. Set-up, limits and errors are
:mod:`netkit._sockets.seqpacket`'s, exactly as for :class:`netkit.SeqpacketConnection`.
"""

from __future__ import annotations

import asyncio
import functools
import socket as _socket
from typing import TypeVar

from netkit._core import datagram as dgram
from netkit._core import seqpacket as rules
from netkit._core.checks import check_timeout
from netkit._core.datagram import DEFAULT_MAX_SIZE
from netkit._core.deadline import stalled_error
from netkit._core.unixpath import check_path, sockaddr
from netkit._sockets import seqpacket as setup
from netkit.aio._datagram import MessageEngine
from netkit.errors import NetkitTimeout
from netkit.options import SocketOptions

__all__ = ["SeqpacketClient", "SeqpacketConnection"]

_C = TypeVar("_C", bound="SeqpacketConnection")
_Data = bytes | bytearray | memoryview


class SeqpacketConnection(setup.SeqpacketKind, MessageEngine[str]):
    """A connected SEQPACKET socket for asyncio: ``await send_message(m)``,
    ``await recv_message()``.

    Same rules as :class:`netkit.SeqpacketConnection`. Wrap a connected ``AF_UNIX``
    ``SOCK_SEQPACKET`` socket (the connection takes ownership and makes it
    non-blocking), or use ``await SeqpacketConnection.pair()`` or
    ``await SeqpacketClient.connect(path)``. Cancelling a receive loses no message.
    """

    __slots__ = ("_seq",)

    _SEND_DEFAULT = True

    def __init__(
        self,
        sock: _socket.socket,
        *,
        idle_timeout: float | None = None,
        send_timeout: float | None = None,
    ) -> None:
        """Wrap a connected socket, taking ownership of it.

        Args:
            sock: a connected ``AF_UNIX`` ``SOCK_SEQPACKET`` socket.
            idle_timeout: used by servers: a receive that waits this many seconds with
                nothing received raises ``NetkitTimeout("idle: ...")``; None for no limit.
            send_timeout: used by servers: a send without a deadline that waits this
                many seconds for room (the peer stopped reading) raises
                ``NetkitTimeout("send stalled: ...")``, nothing sent; None for no limit.

        Raises:
            TypeError: *sock* is not a socket, or a timeout not a number.
            ValueError: *sock* is not a connected ``AF_UNIX`` SEQPACKET socket, or a
                timeout is negative.
        """
        default_timeout, state = setup.adopt(
            sock, blocking=False, idle_timeout=idle_timeout, send_timeout=send_timeout
        )
        super().__init__(sock, default_timeout)
        self._seq = state

    @classmethod
    async def pair(cls: type[_C]) -> tuple[_C, _C]:
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

    async def send_message(self, data: _Data, *, timeout: float | None = None) -> None:
        """Send *data* as one message; see :meth:`netkit.SeqpacketConnection.send_message`.

        Parameters:
            data: the message (bytes-like, at least one byte).
            timeout: seconds to wait for room (``None``: the :attr:`timeout` property).

        Raises:
            FrameTooLarge: *data* is over the socket's limit (nothing sent).
            ValueError: *data* is empty.
            TypeError: *data* is not bytes-like.
            NetkitTimeout: no room came in time (nothing sent).
            ConnectionClosed: the peer is gone, or the connection is closed.
        """
        self._check_open()
        size = self._message_size(data)
        send = functools.partial(self._sock.send, data)
        stall = self._seq.send
        if stall is None or timeout is not None or self._default_timeout is not None:
            await self._retry(send, False, timeout, None, size)
            return
        try:
            await self._retry(send, False, stall, None, size)
        except NetkitTimeout:
            raise stalled_error(stall) from None

    async def recv_message(
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
            FrameTooLarge: the message is over *max_size* (it is consumed).
            NetkitTimeout: no message came in time.
            ConnectionClosed: the connection was reset, or is closed.
            TypeError: a *max_size* or *timeout* of the wrong type.
            ValueError: a *max_size* or *timeout* out of range.
        """
        if self._seq.idle is None:
            return await self._recv_message(max_size, timeout)
        seconds, idle = self._receive_timeout(timeout)
        try:
            return await self._recv_message(max_size, seconds)
        except NetkitTimeout:
            if idle:
                raise rules.idle_error(self._seq.idle) from None
            raise

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._seq.local!r} -> {self._seq.remote!r}"
        return f"<aio.{type(self).__name__} {state}>"


class SeqpacketClient(SeqpacketConnection):
    """A :class:`SeqpacketConnection` made by :meth:`connect`."""

    __slots__ = ()

    @classmethod
    async def connect(
        cls,
        path: str,
        *,
        timeout: float | None = None,
        options: SocketOptions | None = None,
    ) -> SeqpacketClient:
        """Connect to the SEQPACKET listener at *path*; see
        :meth:`netkit.SeqpacketClient.connect`.

        Parameters:
            path: the listener's path, or a Linux abstract name.
            timeout: seconds to wait while the listener's backlog is full (``None``:
                no limit).
            options: socket options (``timeout`` there is the connection's default).

        Returns:
            The connection.

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable socket path.
            ConnectFailed: nothing listens at *path*, or a socket of another type does.
            NetkitTimeout: the backlog stayed full for *timeout* seconds.
        """
        target = check_path(path)
        seconds = check_timeout("timeout", timeout)
        sock, default_timeout = setup.new_socket(options)
        try:
            addr = sockaddr(target)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            deadline = None if seconds is None else loop.time() + seconds
            pause = dgram.SEND_RETRY_FIRST
            # No event says when a full backlog has room: retry at growing intervals.
            while not setup.try_connect(sock, addr, target):
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    assert seconds is not None
                    raise rules.connect_timed_out(target, seconds)
                await asyncio.sleep(pause if remaining is None else min(pause, remaining))
                pause = dgram.next_send_retry(pause)
            conn = cls(sock)
        except BaseException:
            sock.close()
            raise
        conn._set_default_timeout(default_timeout)
        return conn
