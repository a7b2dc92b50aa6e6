"""The asyncio waiting engine of every message socket: UDP, Unix datagrams, SEQPACKET.

The twin of :mod:`netkit.udp._engine`, with the same hooks (supplied by a mixin of
:mod:`netkit._sockets`, calling the :mod:`netkit._core` rules), so that both faces
raise the same errors. Only the waiting differs: the socket stays non-blocking and,
when it is not ready, the coroutine waits on the event loop (``loop.add_reader`` /
``add_writer`` futures, no transport: asyncio's transports do not keep message
boundaries on stream-like sockets, and this works on the default loop and on uvloop).
"""

from __future__ import annotations

import asyncio
import functools
import select
import socket as _socket
from collections.abc import Callable
from typing import Any, TypeVar

from netkit._core import datagram as core
from netkit._core.checks import check_timeout
from netkit._core.datagram import DEFAULT_MAX_SIZE, RECV_FLAGS, Datagram
from netkit._sockets.datagram import recvfrom_into
from netkit._sockets.hooks import MessageHooks

__all__ = ["DatagramEngine", "MessageEngine"]

_T = TypeVar("_T")
_S = TypeVar("_S")
_Self = TypeVar("_Self", bound="MessageEngine[Any]")


def _ready(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class MessageEngine(MessageHooks[_S]):
    """A message socket's waiting on the event loop: deadlines, sends, close.

    The hooks below are supplied by the kind's mixin, placed before this class in the
    bases; *_S* is the type of a sender (an Endpoint, or a path as ``str``).
    One coroutine may receive while others send. Cancelling a receive loses no message
    (none is read until the socket is readable).
    """

    __slots__ = (
        "_closed",
        "_default_timeout",
        "_fd",
        "_loop",
        "_readers",
        "_senders",
        "_sock",
        "_writers",
    )

    #: Whether a send with ``timeout=None`` waits at most the default timeout (a
    #: connection's rule) or without limit (an endpoint's: the default is for receives).
    _SEND_DEFAULT: bool = False

    def __init__(self, sock: _socket.socket, default_timeout: float | None) -> None:
        # *sock* must already be non-blocking (the kind's adopt() does it).
        self._sock = sock
        self._fd = sock.fileno()
        self._closed = False
        self._default_timeout = default_timeout
        self._senders: dict[Any, _S] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers: list[asyncio.Future[bool]] = []
        self._writers: list[asyncio.Future[bool]] = []

    # -- hooks (the kind's mixin) -------------------------------------------------------

    # The hooks (errors, senders, limits) are declared once, in
    # netkit._sockets.hooks.MessageHooks, and supplied by the kind's mixin.

    def _set_default_timeout(self, timeout: float | None) -> None:
        self._default_timeout = timeout

    # -- properties ---------------------------------------------------------------------

    @property
    def socket(self) -> _socket.socket:
        """The underlying (non-blocking) socket."""
        return self._sock

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed).

        Returns:
            The descriptor, or -1.
        """
        return self._sock.fileno()

    # -- waiting ------------------------------------------------------------------------

    async def _wait(self, reading: bool, deadline: float | None) -> bool:
        """Wait until the socket is ready (True) or *deadline* passes (False)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        waiters = self._readers if reading else self._writers
        waiter: asyncio.Future[bool] = loop.create_future()
        first = not waiters
        waiters.append(waiter)
        if first:
            add: Callable[..., None] = loop.add_reader if reading else loop.add_writer
            add(self._fd, self._wake, waiters)
        timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
        try:
            ready = await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters and not self._closed:
                (loop.remove_reader if reading else loop.remove_writer)(self._fd)
        if self._closed:
            raise self._closed_error()
        return ready

    @staticmethod
    def _wake(waiters: list[asyncio.Future[bool]]) -> None:
        for waiter in waiters:
            _ready(waiter)

    async def _retry(
        self,
        call: Callable[[], _T],
        reading: bool,
        timeout: object,
        target: Any = None,
        size: int = 0,
    ) -> _T:
        """Run the non-blocking *call* until the socket is ready for it (or the deadline).

        A send the kernel refuses while the socket polls writable (an unconnected Unix
        datagram socket facing a full receiver queue, which no readiness event reports)
        is retried after growing pauses, as the sync engine does. *target* and *size*
        are for the error of a failed send (:meth:`_send_error`).
        """
        seconds = check_timeout("timeout", timeout)  # even when no wait is needed
        if seconds is None and (reading or self._SEND_DEFAULT):
            seconds = self._default_timeout
        deadline: float | None = None
        first = True
        pause = core.SEND_RETRY_FIRST
        while True:
            try:
                return call()
            except BlockingIOError:
                pass
            except OSError as exc:
                if reading:
                    raise self._error(exc) from exc
                raise self._send_error(exc, target, size) from exc
            loop = asyncio.get_running_loop()
            if first:  # the clock is read only when the call has to wait
                deadline = None if seconds is None else loop.time() + seconds
                first = False
            if not reading and self._writable():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise self._timeout_error(seconds, sending=True)
                await asyncio.sleep(pause if remaining is None else min(pause, remaining))
                pause = core.next_send_retry(pause)
                if self._closed:
                    raise self._closed_error()
                continue
            if not await self._wait(reading, deadline):
                raise self._timeout_error(seconds, sending=not reading)
            pause = core.SEND_RETRY_FIRST

    def _writable(self) -> bool:
        """Whether ``poll`` says the socket is writable right now."""
        poller = select.poll()
        poller.register(self._fd, select.POLLOUT)
        return bool(poller.poll(0))

    # -- receiving ----------------------------------------------------------------------

    async def _recv_message(self, max_size: object, timeout: object) -> bytes:
        """One message's payload (``b""`` is an empty message, or the end on a
        connection); FrameTooLarge if it was over *max_size*."""
        self._check_open()
        size = self._check_max_size(max_size)
        call = functools.partial(self._sock.recv, core.buffer_for(size), RECV_FLAGS)
        data: bytes = await self._retry(call, True, timeout)
        if len(data) > size:
            raise self._truncated(len(data), size, None)
        return data

    # -- closing ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def close(self) -> None:
        """Close the socket; idempotent. Pending calls raise ``ConnectionClosed``."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if self._readers:
                loop.remove_reader(self._fd)
            if self._writers:
                loop.remove_writer(self._fd)
        self._sock.close()
        for waiter in self._readers + self._writers:
            _ready(waiter)

    async def aclose(self) -> None:
        """Close (the awaitable spelling, for symmetry with the stream connections)."""
        self.close()

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class DatagramEngine(MessageEngine[_S]):
    """:class:`MessageEngine` with the public receives of a datagram endpoint."""

    __slots__ = ()

    async def recvfrom(
        self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> Datagram[_S]:
        """Receive one datagram and its sender.

        Parameters:
            max_size: the largest payload accepted, in bytes.
            timeout: seconds for the whole call (``None``: the endpoint's default,
                usually no limit).

        Returns:
            ``Datagram(data, sender)``.

        Raises:
            FrameTooLarge: the datagram is longer than *max_size* (its real size is
                reported; it is dropped and the next call gets the next one).
            NetkitTimeout: nothing arrived within *timeout* seconds.
            ConnectionRefused: the peer of a connected endpoint refused a datagram.
            ConnectionClosed: the endpoint is (or gets) closed.
        """
        self._check_open()
        size = self._check_max_size(max_size)
        call = functools.partial(self._sock.recvfrom, core.buffer_for(size), RECV_FLAGS)
        data, addr = await self._retry(call, True, timeout)
        senders = self._senders
        sender = senders.get(addr)
        if sender is None:
            sender = self._sender_of(addr)
        if len(data) > size:
            raise self._truncated(len(data), size, sender)
        return core.new_datagram((data, sender))

    async def recvfrom_into(
        self, buffer: bytearray | memoryview, *, timeout: float | None = None
    ) -> tuple[int, _S]:
        """Receive one datagram into *buffer* and return its size and sender.

        The buffer's size is the largest datagram accepted: a longer one is never cut
        silently (as ``socket.recvfrom_into`` does) but raises ``FrameTooLarge`` with
        its real size; it is consumed, and what *buffer* then holds is unspecified.
        Keep *buffer* alive and unresized until the call returns.

        Parameters:
            buffer: a writable bytes-like object (``bytearray``, ``memoryview``,
                ``array``); the payload is written at its start.
            timeout: seconds for the whole call (``None``: the endpoint's default,
                usually no limit).

        Returns:
            ``(nbytes, sender)``: the payload's size and who sent it.

        Raises:
            FrameTooLarge: the datagram is longer than *buffer* (its real size is
                reported; the next call gets the next datagram).
            NetkitTimeout: nothing arrived within *timeout* seconds.
            ConnectionRefused: the peer of a connected endpoint refused a datagram.
            ConnectionClosed: the endpoint is (or gets) closed.
            TypeError: *buffer* is not a writable contiguous buffer, or *timeout* is not
                a number.
            ValueError: *timeout* is negative or NaN.
        """
        self._check_open()
        with core.writable_view(buffer) as view:
            capacity = len(view)
            call = functools.partial(recvfrom_into, self._sock, view)
            nbytes, addr = await self._retry(call, True, timeout)
        sender = self._senders.get(addr)
        if sender is None:
            sender = self._sender_of(addr)
        if nbytes > capacity:
            raise self._truncated_into(nbytes, capacity, sender)
        return nbytes, sender

    async def recv(
        self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> bytes:
        """Receive one datagram's payload (meant for a connected endpoint).

        Parameters:
            max_size: the largest payload accepted, in bytes.
            timeout: seconds for the whole call (``None``: the endpoint's default,
                usually no limit).

        Returns:
            The payload (``b""`` for an empty datagram).

        Raises:
            FrameTooLarge: the datagram is longer than *max_size* (it is dropped).
            NetkitTimeout: nothing arrived within *timeout* seconds.
            ConnectionRefused: the peer of a connected endpoint refused a datagram.
            ConnectionClosed: the endpoint is (or gets) closed.
            TypeError: a *max_size* or *timeout* of the wrong type.
            ValueError: a *max_size* or *timeout* out of range.
        """
        return await self._recv_message(max_size, timeout)
