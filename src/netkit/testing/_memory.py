"""Sync memory pairs: two connected :class:`netkit.TcpConnection` objects, no socket.

:func:`memory_pair` builds two :class:`MemoryConnection` objects over one
:class:`netkit._core.memory.Link`. Each owns a :class:`MemorySocket`, a stand-in that
implements the socket calls the connection makes (``recv``, ``recv_into``, ``send``,
``sendall``, ``sendfile``, ``shutdown``, ``close``, timeouts, addresses) by asking the
link, and waits on a condition (shared by the pair) while the link says "would block".
Everything above the socket is :class:`netkit.TcpConnection`'s own code, so the read
methods, frames, deadlines, errors and messages are the ones a TCP connection has.
"""

from __future__ import annotations

import errno
import operator
import os
import socket
import threading
from collections.abc import Callable
from functools import partial
from time import monotonic
from typing import BinaryIO, TypeVar, cast

from netkit._core.checks import check_timeout
from netkit._core.memory import Link, check_knobs
from netkit.addr import Endpoint
from netkit.tcp import TcpConnection

__all__ = ["MemoryConnection", "MemorySocket", "memory_pair"]

_T = TypeVar("_T")

_MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
_MSG_PEEK: int = socket.MSG_PEEK
_SUPPORTED_FLAGS = _MSG_DONTWAIT | _MSG_PEEK
_SENDFILE_BLOCK = 65536


class _Deadline(threading.local):
    # The deadline of the engine call running in this thread (see
    # MemoryConnection._timeout_call), or None: the socket's own timeout applies.
    at: float | None = None


class MemorySocket:
    """The socket-like end of a memory pair (what ``MemoryConnection.socket`` returns).

    Implements the subset of :class:`socket.socket` a connection uses, with a socket's
    arguments, blocking and timeouts; each method is documented by its namesake there.
    It is *not* a ``socket.socket``: it has no descriptor (:meth:`fileno` is -1) and no
    options. Built by :func:`memory_pair`.

    Raises (from any call, as a Linux TCP socket would):
        TimeoutError: ``socket.timeout`` (no errno) once a timeout set here passes.
        BlockingIOError: non-blocking (timeout 0 or ``MSG_DONTWAIT``) and it would wait.
        ConnectionResetError: the first call after the peer's ``abort()`` that finds
            nothing left to read (a send: at once).
        BrokenPipeError: a send after ``shutdown(SHUT_WR)``, after a reset, or the
            second send after the peer closed.
        OSError: ``EBADF`` after :meth:`close`; ``ENOTCONN`` from :meth:`shutdown` once
            the connection is over; ``EOPNOTSUPP`` for flags other than
            ``MSG_DONTWAIT`` and ``MSG_PEEK``.
    """

    __slots__ = (
        "__weakref__",
        "_cond",
        "_deadline",
        "_link",
        "_reset_on_close",
        "_side",
        "_timeout",
    )

    type = socket.SOCK_STREAM
    proto = 0

    def __init__(self, link: Link, side: int, cond: threading.Condition) -> None:
        """Built by :func:`memory_pair`, not by hand.

        Args:
            link: the pair's shared state.
            side: 0 or 1, which end this is.
            cond: the condition both ends wait on.
        """
        self._link = link
        self._side = side
        self._cond = cond
        self._timeout: float | None = None
        self._deadline = _Deadline()
        self._reset_on_close = False

    def __repr__(self) -> str:
        state = " closed" if self._link.closed(self._side) else ""
        local, peer = self._link.addresses[self._side], self._link.addresses[1 - self._side]
        return f"<MemorySocket {local} -> {peer}{state}>"

    @property
    def family(self) -> socket.AddressFamily:
        """``AF_INET`` or ``AF_INET6``, after the pair's addresses."""
        return self._link.addresses[self._side].family or socket.AF_INET

    # -- timeouts -------------------------------------------------------------------------

    def settimeout(self, value: float | None) -> None:
        """As :meth:`socket.socket.settimeout`: None blocks, 0.0 never waits.

        Args:
            value: seconds, 0.0 or None.

        Raises:
            TypeError: *value* is not a number or None.
            ValueError: *value* is negative or NaN.
        """
        timeout = check_timeout("timeout", value)
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        """As :meth:`socket.socket.gettimeout`.

        Returns:
            The timeout in seconds, or None when blocking.
        """
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        """As :meth:`socket.socket.setblocking`.

        Args:
            flag: True to block (timeout None), False never to wait (timeout 0.0).
        """
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        """As :meth:`socket.socket.getblocking`.

        Returns:
            False only when the timeout is 0.0.
        """
        return self._timeout != 0.0

    def _wait(self, attempt: Callable[[], _T | None], flags: int, deadline: float | None) -> _T:
        """``attempt()`` under the lock until it is not None (then wake the other side).

        *deadline* (a ``monotonic`` instant) overrides the timeout: the engine's per-call
        deadline, or sendall's, which covers the whole call.
        """
        if flags & ~_SUPPORTED_FLAGS:
            raise OSError(errno.EOPNOTSUPP, "a memory socket takes only MSG_DONTWAIT, MSG_PEEK")
        cond = self._cond
        with cond:
            result = attempt()
            if result is None:
                if deadline is None:
                    deadline = self._deadline.at
                if deadline is None:
                    timeout = 0.0 if flags & _MSG_DONTWAIT else self._timeout
                    if timeout == 0.0:
                        raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
                    if timeout is not None:
                        deadline = monotonic() + timeout
                elif flags & _MSG_DONTWAIT:
                    raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
                while result is None:
                    if deadline is None:
                        cond.wait()
                    else:
                        left = deadline - monotonic()
                        if left <= 0:
                            raise TimeoutError("timed out")  # socket.timeout: no errno
                        cond.wait(left)
                    result = attempt()
            # Bytes moved or the state changed: whoever waits on the other side re-checks.
            cond.notify_all()
            return result

    # -- data -------------------------------------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """As :meth:`socket.socket.recv` (at most the pair's ``chunk_size`` bytes).

        Args:
            bufsize: the most bytes to return.
            flags: 0, ``MSG_DONTWAIT`` and/or ``MSG_PEEK``.

        Returns:
            The bytes received; ``b""`` at the end of the stream.

        Raises:
            ValueError: *bufsize* is negative.
        """
        size = operator.index(bufsize)
        if size < 0:
            raise ValueError("negative buffersize in recv")
        link, side, peek = self._link, self._side, bool(flags & _MSG_PEEK)
        return self._wait(lambda: link.recv(side, size, peek=peek), flags, None)

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0, flags: int = 0) -> int:
        """As :meth:`socket.socket.recv_into`.

        Args:
            buffer: a writable buffer.
            nbytes: the most bytes to receive; 0 for the buffer's size.
            flags: 0, ``MSG_DONTWAIT`` and/or ``MSG_PEEK``.

        Returns:
            How many bytes were written at the start of *buffer*.

        Raises:
            ValueError: *nbytes* is negative or larger than *buffer*.
        """
        with memoryview(buffer) as raw, raw.cast("B") as view:
            if nbytes < 0:
                raise ValueError("negative buffersize in recv_into")
            if nbytes > len(view):
                raise ValueError("buffer too small for requested bytes")
            data = self.recv(nbytes or len(view), flags)
            view[: len(data)] = data
            return len(data)

    def send(self, data: bytes | bytearray | memoryview, flags: int = 0) -> int:
        """As :meth:`socket.socket.send`: accepts what fits in ``max_buffer``.

        Args:
            data: the bytes to send.
            flags: 0 or ``MSG_DONTWAIT``.

        Returns:
            How many bytes were accepted.
        """
        with memoryview(data) as raw, raw.cast("B") as view:
            link, side = self._link, self._side
            return self._wait(lambda: link.send(side, view), flags, None)

    def sendall(self, data: bytes | bytearray | memoryview, flags: int = 0) -> None:
        """As :meth:`socket.socket.sendall`: the timeout covers the whole call.

        Args:
            data: the bytes to send.
            flags: 0 or ``MSG_DONTWAIT``.
        """
        with memoryview(data) as raw, raw.cast("B") as view:
            link, side = self._link, self._side
            deadline = self._deadline.at
            if deadline is None and self._timeout:
                deadline = monotonic() + self._timeout
            sent = 0
            while True:  # at least once: an empty send still reports a closed socket
                sent += self._wait(partial(link.send, side, view[sent:]), flags, deadline)
                if sent >= len(view):
                    return

    def sendfile(self, file: BinaryIO, offset: int = 0, count: int | None = None) -> int:
        """As :meth:`socket.socket.sendfile` (its read-and-send fallback).

        Args:
            file: a file open in binary mode.
            offset: where to start reading.
            count: the most bytes to send; None for up to the end of the file.

        Returns:
            How many bytes were sent.

        Raises:
            ValueError: the socket is non-blocking.
        """
        if self._timeout == 0.0:
            raise ValueError("non-blocking sockets are not supported")
        if offset:
            file.seek(offset)
        total = 0
        while count is None or total < count:
            want = _SENDFILE_BLOCK if count is None else min(_SENDFILE_BLOCK, count - total)
            block = file.read(want)
            if not block:
                break
            self.sendall(block)
            total += len(block)
        if total:
            file.seek(offset + total)
        return total

    # -- ending -----------------------------------------------------------------------------

    def shutdown(self, how: int) -> None:
        """As :meth:`socket.socket.shutdown`; wakes calls blocked on this socket.

        Args:
            how: ``SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``.
        """
        with self._cond:
            try:
                self._link.shutdown(self._side, how)
            finally:
                self._cond.notify_all()

    def close(self) -> None:
        """As :meth:`socket.socket.close` (idempotent); the peer sees EOF, or a reset."""
        with self._cond:
            self._link.close(self._side, reset=self._reset_on_close)
            self._cond.notify_all()

    def fileno(self) -> int:
        """Always -1: there is no descriptor (as a closed socket's).

        Returns:
            -1.
        """
        return -1

    def getsockname(self) -> tuple[str, int] | tuple[str, int, int, int]:
        """This end's address, as a socket gives it (``EBADF`` once closed).

        Returns:
            ``(host, port)``, or a 4-tuple for IPv6.
        """
        return self._address(self._side)

    def getpeername(self) -> tuple[str, int] | tuple[str, int, int, int]:
        """The peer's address; stable until closed (``EBADF`` then).

        Returns:
            ``(host, port)``, or a 4-tuple for IPv6.
        """
        return self._address(1 - self._side)

    def _address(self, side: int) -> tuple[str, int] | tuple[str, int, int, int]:
        if self._link.closed(self._side):
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return self._link.addresses[side].to_sockaddr()

    # -- for MemoryConnection -------------------------------------------------------------

    def _stall(self, stalled: bool) -> None:
        with self._cond:
            self._link.stall(self._side, stalled)
            self._cond.notify_all()


class MemoryConnection(TcpConnection):
    """A :class:`netkit.TcpConnection` over memory: one end of :func:`memory_pair`.

    Every stream method is ``TcpConnection``'s own, so it behaves, fails and words its
    errors as over TCP; only the transport is different. A subclass, so that a
    function typed ``conn: TcpConnection`` takes it. Differences, all on purpose:

    * ``socket`` is the :class:`MemorySocket` stand-in, not a ``socket.socket``, and
      ``fileno()`` is -1; ``is_tls`` is False;
    * ``local_address``/``remote_address`` are the pair's addresses (127.0.0.1:1 and
      127.0.0.1:2 unless ``memory_pair(addresses=...)`` says otherwise), stable for
      the connection's life;
    * :meth:`close` sends EOF even with unread bytes (a kernel would send a reset):
      use :meth:`abort` for a reset.

    It adds three controls for tests: :meth:`stall`, :meth:`unstall`, :meth:`abort`.
    """

    __slots__ = ()

    def __init__(self, sock: MemorySocket) -> None:
        """Built by :func:`memory_pair`, not by hand.

        Args:
            sock: one end's :class:`MemorySocket`.

        Raises:
            TypeError: *sock* is not a :class:`MemorySocket`.
        """
        if not isinstance(sock, MemorySocket):
            raise TypeError("build memory connections with netkit.testing.memory_pair()")
        # The engine takes the stand-in as a socket; it only makes socket calls on it.
        self._attach(cast(socket.socket, sock), None, pollable=False)
        link, side = sock._link, sock._side
        # The addresses as given (the socket's to_sockaddr() form would turn a zone
        # name such as %eth0 into its index).
        self._local = link.addresses[side]
        self._remote = link.addresses[1 - side]

    @property
    def _memory_socket(self) -> MemorySocket:
        return cast(MemorySocket, self._sock)

    def _shutdown_socket(self, how: int) -> None:
        self._memory_socket.shutdown(how)

    def _timeout_call(self, call: Callable[[int], _T], limit: float, by: int, write: bool) -> _T:
        # The deadline goes to the memory socket per thread and per call, never through
        # settimeout(): a read with a deadline in one thread and a write in another (fine
        # on a plain TCP connection) cannot change each other's wait, and a timeout set
        # on conn.socket by hand is left alone, as the poll engine leaves it.
        state = self._memory_socket._deadline
        state.at = limit
        try:
            return call(0)
        except BlockingIOError:
            raise self._timeout_error(by, write) from None
        except TimeoutError as exc:
            if exc.errno is not None:
                raise
            raise self._timeout_error(by, write) from None
        finally:
            state.at = None

    @property
    def stalled(self) -> bool:
        """True while what this end sends is held back (see :meth:`stall`)."""
        return self._memory_socket._link.stalled(self._memory_socket._side)

    def stall(self) -> None:
        """Hold back everything this end sends from now on, as a stuck network would.

        The peer receives nothing more (not even EOF) until :meth:`unstall`, so its
        reads time out; sends here still succeed until ``max_buffer`` bytes are in
        flight, then block (or time out). Bytes sent before the call stay readable.
        """
        self._memory_socket._stall(True)

    def unstall(self) -> None:
        """Release what :meth:`stall` held, in order (and EOF, if it was sent)."""
        self._memory_socket._stall(False)

    def abort(self) -> None:
        """Close at once with a reset, as ``close()`` with ``SO_LINGER`` 0 does over TCP.

        The peer reads what had already arrived, then its next call raises
        ``ConnectionClosed("connection lost: Connection reset by peer")`` (``errno``
        ``ECONNRESET``); bytes held by :meth:`stall` are dropped. Calling it on a
        closed connection does nothing.
        """
        if self._closed:
            return
        self._memory_socket._reset_on_close = True
        self.close()


def memory_pair(
    *,
    chunk_size: int | None = None,
    max_buffer: int | None = None,
    addresses: tuple[Endpoint, Endpoint] | None = None,
) -> tuple[MemoryConnection, MemoryConnection]:
    """Two connected connections over memory: what one sends, the other receives.

    Each is a :class:`MemoryConnection`, a :class:`netkit.TcpConnection` with the whole
    stream API and its errors and messages, with no socket and no descriptor; they may
    be used from different threads, as TCP connections can. Close both when done.

    Parameters:
        chunk_size: the most bytes one receive returns (in both directions), so that
            ``chunk_size=1`` makes a reader meet every split point of a message.
            None: whatever has arrived.
        max_buffer: the most bytes in flight per direction (sent, not yet received by
            the peer connection), like a socket's buffers: ``sendall`` blocks while the
            peer does not read, and with ``timeout=`` raises
            ``NetkitTimeout("timed out sending")``. None: no limit.
        addresses: ``(a's address, b's address)`` as IP ``Endpoint`` s, for code that
            looks at ``local_address``/``remote_address``; default 127.0.0.1 ports 1
            and 2.

    Returns:
        ``(a, b)``: ``a.remote_address == b.local_address`` and the other way round.

    Raises:
        TypeError: a knob of the wrong type.
        ValueError: *chunk_size* or *max_buffer* below 1, or an address that is a
            hostname.
    """
    chunk, limit, ends = check_knobs(chunk_size, max_buffer, addresses)
    link = Link(chunk_size=chunk, max_buffer=limit, addresses=ends)
    cond = threading.Condition()
    return (
        MemoryConnection(MemorySocket(link, 0, cond)),
        MemoryConnection(MemorySocket(link, 1, cond)),
    )
