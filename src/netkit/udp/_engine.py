"""The sync waiting engine of every message socket: UDP, Unix datagrams, SEQPACKET.

A message socket keeps each send whole and each receive one message, so a receive is
one system call into a buffer of ``max_size`` (+ :data:`~netkit._core.datagram.RECV_EXTRA`)
bytes with ``MSG_TRUNC``, which tells the real size of a message too long for it. What
differs between the kinds (how a kernel address becomes a sender, which errors mean
what, the messages) comes from hooks that a mixin of :mod:`netkit._sockets` supplies,
each calling its :mod:`netkit._core` rules; the asyncio face's engine
(:mod:`netkit.aio._datagram`) calls the same hooks, so both faces agree.

:class:`MessageEngine` holds the waiting: blocking mode with no deadline (a receive is
then the bare system call), non-blocking mode and ``poll`` for a deadline, sends that
wait for room, and a ``close`` that wakes a receive blocked in another thread.
:class:`DatagramEngine` adds the public ``recvfrom``/``recv`` of datagram endpoints,
whose fast paths are UDP's hot path.
"""

from __future__ import annotations

import math
import select
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, TypeVar

from netkit._core import datagram as core
from netkit._core.checks import check_timeout
from netkit._core.datagram import (
    DEFAULT_BUFFER,
    DEFAULT_MAX_SIZE,
    RECV_EXTRA,
    RECV_FLAGS,
    Datagram,
    new_datagram,
)
from netkit._sockets import datagram as setup
from netkit._sockets.hooks import MessageHooks

__all__ = ["DatagramEngine", "MessageEngine"]

_S = TypeVar("_S")
_Self = TypeVar("_Self", bound="MessageEngine[Any]")

_POLLIN: Final = select.POLLIN
_POLLOUT: Final = select.POLLOUT
_MSG_DONTWAIT: Final = socket.MSG_DONTWAIT


class MessageEngine(MessageHooks[_S]):
    """A message socket's waiting: deadlines, blocking mode, sends that wait, close.

    The hooks below are supplied by the kind's mixin, placed before this class in the
    bases; *_S* is the type of a sender (an Endpoint, or a path as ``str``).
    """

    __slots__ = (
        "_blocking",
        "_closed",
        "_default_timeout",
        "_fast",
        "_fast_size",
        "_fileno",
        "_pending",
        "_poll_in",
        "_poll_out",
        "_senders",
        "_sock",
    )

    #: Whether a send with ``timeout=None`` waits at most the default timeout (a
    #: connection's rule) or without limit (an endpoint's: the default is for receives).
    _SEND_DEFAULT: bool = False

    def __init__(self, sock: socket.socket, default_timeout: float | None) -> None:
        # *sock* must already be in blocking mode (the kind's adopt() does it).
        self._sock = sock
        self._closed = False
        self._pending: BaseException | None = None
        self._senders: dict[Any, _S] = {}
        self._poll_in: Any = None
        self._poll_out: Any = None
        self._fileno = sock.fileno()
        self._default_timeout = default_timeout
        self._blocking = True
        self._fast = default_timeout is None
        self._fast_size: int | None = DEFAULT_MAX_SIZE if self._fast else None

    # -- hooks (the kind's mixin) -------------------------------------------------------

    # The hooks (errors, senders, limits) are declared once, in
    # netkit._sockets.hooks.MessageHooks, and supplied by the kind's mixin.

    # -- properties ---------------------------------------------------------------------

    @property
    def socket(self) -> socket.socket:
        """The underlying socket (escape hatch; the object owns its blocking mode)."""
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

    # -- receiving ----------------------------------------------------------------------

    def _before_receive(self, max_size: object) -> int:
        """Raise the error of a closed endpoint, or one left pending by recv_many;
        return the validated max_size (the order the asyncio engine checks in)."""
        if self._closed:
            raise self._closed_error()
        error = self._pending
        if error is not None:
            self._pending = None
            self._set_fast(self._blocking and self._default_timeout is None)
            raise error
        return self._check_max_size(max_size)

    def _set_pending(self, error: BaseException) -> None:
        self._pending = error
        self._set_fast(False)

    def _set_default_timeout(self, timeout: float | None) -> None:
        self._default_timeout = timeout
        self._set_fast(self._blocking and timeout is None and self._pending is None)

    def _recv_slow(
        self,
        with_address: bool,
        max_size: int,
        timeout: float | None,
        failed: OSError | None,
        into: memoryview | None = None,
    ) -> tuple[Any, Any]:
        """Receive in the general case: a deadline, non-blocking mode, or after an error.

        *failed* is the error the fast path got, if it ran: a BlockingIOError there
        means another thread switched the socket to non-blocking mode meanwhile. With
        *into*, receive into that buffer: ``(real size, address)``.
        """
        if failed is not None and not isinstance(failed, BlockingIOError):
            raise self._error(failed) from failed
        timeout = self._default_timeout if timeout is None else check_timeout("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        if deadline is None and failed is None and not self._blocking:
            self._set_blocking(True)
        elif deadline is not None and self._blocking:
            self._set_blocking(False)
        sock = self._sock
        bufsize = core.buffer_for(max_size)
        while True:
            try:
                if into is not None:
                    return setup.recvfrom_into(sock, into)
                if with_address:
                    return sock.recvfrom(bufsize, RECV_FLAGS)
                return sock.recv(bufsize, RECV_FLAGS), None
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._error(exc) from exc
            if self._closed:
                raise self._closed_error()
            if deadline is None:
                self._wait(_POLLIN, None)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout_error(timeout, sending=False)
            self._wait(_POLLIN, remaining)

    def _recv_message(self, max_size: object, timeout: float | None) -> bytes:
        """One message's payload, the general way (no fast path): for connections."""
        size = self._before_receive(max_size)
        data: bytes = self._recv_slow(False, size, timeout, None)[0]
        if len(data) > size:
            raise self._truncated(len(data), size, None)
        if not data and self._closed:  # woken by close(), not an empty message
            raise self._closed_error()
        return data

    # -- sending ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def _send_call(
        self, call: Callable[[int], object], timeout: object, target: Any = None, size: int = 0
    ) -> None:
        """Run the send ``call(flags)``, waiting for room up to *timeout* seconds.

        The send is always tried with ``MSG_DONTWAIT``, never left to block in the
        kernel: a Unix datagram send blocked on a full receiver queue waits on the
        *receiver*, where ``close()`` from another thread could not wake it. A refusal
        waits with ``poll`` while the socket is not writable (``close`` wakes that), and,
        if it is writable yet the kernel still refuses (a full queue of an unconnected
        receiver, which ``poll`` cannot see), pauses at growing intervals
        (:func:`~netkit._core.datagram.next_send_retry`, at most 50 ms, after which a
        ``close`` is noticed). *target* and *size* are for the error of a failed send
        (:meth:`_send_error`).
        """
        seconds = check_timeout("timeout", timeout)
        if seconds is None and self._SEND_DEFAULT:
            seconds = self._default_timeout
        if self._closed:
            raise self._closed_error()
        deadline: float | None = None
        first = True
        pause = core.SEND_RETRY_FIRST
        while True:
            try:
                call(_MSG_DONTWAIT)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._send_error(exc, target, size) from exc
            if self._closed:
                raise self._closed_error()
            if first:  # the clock is read only when the send has to wait
                deadline = None if seconds is None else time.monotonic() + seconds
                first = False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._timeout_error(seconds, sending=True)
            if self._writable():
                time.sleep(pause if remaining is None else min(pause, remaining))
                pause = core.next_send_retry(pause)
            else:
                self._wait(_POLLOUT, remaining)
                pause = core.SEND_RETRY_FIRST

    def _writable(self) -> bool:
        """Whether ``poll`` says the socket is writable right now."""
        poller = select.poll()
        poller.register(self._fileno, _POLLOUT)
        return bool(poller.poll(0))

    # -- waiting ------------------------------------------------------------------------

    def _wait(self, events: int, timeout: float | None) -> None:
        """Wait until the socket is ready for *events* (or *timeout* seconds pass)."""
        if events == _POLLIN:
            poller = self._poll_in
            if poller is None:
                poller = self._poll_in = select.poll()
                poller.register(self._fileno, _POLLIN)
        else:
            poller = self._poll_out
            if poller is None:
                poller = self._poll_out = select.poll()
                poller.register(self._fileno, _POLLOUT)
        # poll() takes whole milliseconds: round up so we never wake just before the
        # deadline and spin.
        poller.poll(None if timeout is None else math.ceil(timeout * 1000))

    def _set_blocking(self, blocking: bool) -> None:
        try:
            self._sock.setblocking(blocking)
        except OSError as exc:
            raise self._error(exc) from exc
        self._blocking = blocking
        self._set_fast(blocking and self._default_timeout is None and self._pending is None)

    def _set_fast(self, fast: bool) -> None:
        self._fast = fast
        self._fast_size = DEFAULT_MAX_SIZE if fast else None

    # -- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket; idempotent. A receive blocked in another thread wakes
        and raises ``ConnectionClosed``."""
        if self._closed:
            return
        self._closed = True
        setup.shut(self._sock)

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DatagramEngine(MessageEngine[_S]):
    """:class:`MessageEngine` with the public receives of a datagram endpoint.

    With no timeout the socket stays in blocking mode and a receive is one
    ``recvfrom`` call plus a dict lookup that maps the kernel's address to an
    already-built sender.
    """

    __slots__ = ()

    def recvfrom(
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
            FrameTooLarge: the datagram is longer than *max_size* (the real size is
                reported; the datagram is dropped and the next call gets the next one).
            NetkitTimeout: nothing arrived within *timeout* seconds.
            ConnectionClosed: the endpoint is (or gets) closed.
            TypeError: a *max_size* or *timeout* of the wrong type.
            ValueError: a *max_size* or *timeout* out of range.
        """
        # _fast: blocking mode, no default deadline, no error pending from recv_many;
        # _fast_size is then the default max_size object itself, so the commonest call
        # (no arguments) is recognised with a single identity test.
        if timeout is None and max_size is self._fast_size:
            try:
                data, addr = self._sock.recvfrom(DEFAULT_BUFFER, RECV_FLAGS)
            except OSError as exc:
                data, addr = self._recv_slow(True, max_size, None, exc)
        elif (
            timeout is None
            and self._fast
            and max_size.__class__ is int
            and 0 <= max_size <= DEFAULT_MAX_SIZE
        ):
            try:  # `or 1`: never a 0-byte buffer (see core.buffer_for)
                data, addr = self._sock.recvfrom(max_size + RECV_EXTRA or 1, RECV_FLAGS)
            except OSError as exc:
                data, addr = self._recv_slow(True, max_size, None, exc)
        else:
            max_size = self._before_receive(max_size)
            data, addr = self._recv_slow(True, max_size, timeout, None)
        if len(data) > max_size:
            raise self._truncated(len(data), max_size, self._sender_of(addr))
        try:
            sender = self._senders[addr]
        except KeyError:
            sender = self._sender_of(addr)
        return new_datagram((data, sender))

    def recvfrom_into(
        self, buffer: bytearray | memoryview, *, timeout: float | None = None
    ) -> tuple[int, _S]:
        """Receive one datagram into *buffer* and return its size and sender.

        The buffer's size is the largest datagram accepted: a longer one is never cut
        silently (as ``socket.recvfrom_into`` does) but raises ``FrameTooLarge`` with
        its real size; it is consumed, and what *buffer* then holds is unspecified.

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
        self._before_receive(0)  # closed, or an error pending from recv_many
        with core.writable_view(buffer) as view:
            capacity = len(view)
            if timeout is None and self._fast:
                try:
                    nbytes, addr = setup.recvfrom_into(self._sock, view)
                except OSError as exc:
                    nbytes, addr = self._recv_slow(True, capacity, None, exc, view)
            else:
                nbytes, addr = self._recv_slow(True, capacity, timeout, None, view)
        sender = self._senders.get(addr)
        if sender is None:
            sender = self._sender_of(addr)  # raises for a receive woken by close()
        if nbytes > capacity:
            raise self._truncated_into(nbytes, capacity, sender)
        return nbytes, sender

    def recv(self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None) -> bytes:
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
        if (
            timeout is None
            and self._fast
            and max_size.__class__ is int
            and 0 <= max_size <= DEFAULT_MAX_SIZE
        ):
            try:  # `or 1`: never a 0-byte buffer (see core.buffer_for)
                data: bytes = self._sock.recv(max_size + RECV_EXTRA or 1, RECV_FLAGS)
            except OSError as exc:
                data = self._recv_slow(False, max_size, None, exc)[0]
        else:
            max_size = self._before_receive(max_size)
            data = self._recv_slow(False, max_size, timeout, None)[0]
        if len(data) > max_size:
            raise self._truncated(len(data), max_size, None)
        if not data and self._closed:  # woken by close(), not an empty datagram
            raise self._closed_error()
        return data
