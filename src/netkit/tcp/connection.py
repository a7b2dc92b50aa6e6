"""A connected TCP stream (plain or TLS) with whole-call deadlines and framed reads.

:class:`TcpConnection` owns one socket and one :class:`~netkit.framing.ReceiveBuffer`.
Every read method is "ask the buffer for a complete result; if there is none, receive
more and ask again", so the parsing lives in :mod:`netkit.framing` only and mixing
``recv_until``, ``recv_exactly`` and ``recv_frame`` on one stream is always correct.

Deadlines. ``timeout=`` is a deadline for the whole call, measured with
:func:`time.monotonic`, never a per-system-call timeout: a peer that drips one byte at a
time cannot stretch it. Two engines implement the wait:

* plain sockets (on systems with ``poll`` and ``MSG_DONTWAIT``) stay in blocking mode
  for their whole life; a call with a deadline polls the descriptor for the time left
  and then reads or writes with ``MSG_DONTWAIT``. The socket's own timeout is never
  touched, so one thread may read with a deadline while another writes.
* TLS sockets buffer decrypted bytes inside OpenSSL, so polling the descriptor would
  be wrong; a call with a deadline sets ``settimeout(time left)`` before each system
  call instead (and the next call without a deadline puts the socket back into
  blocking mode).

A call without a deadline (and no ``idle_timeout``) is a plain blocking socket call
with no extra system call; ``recv()`` with an empty buffer is one ``sock.recv``.

Errors. ``NetkitTimeout`` leaves every byte already received in the buffer, so the
same call can be retried. A connection reset, broken pipe, ``ssl.SSLEOFError`` or a
keepalive timeout is raised as :class:`~netkit.ConnectionClosed`
(with ``errno`` set and the socket's error as ``__cause__``), so ``except
ConnectionClosed`` sees every way a peer can go away; it is still a
``ConnectionError``/``OSError`` for code written against plain sockets.
"""

from __future__ import annotations

import errno
import math
import select
import socket
import ssl
from collections.abc import Callable, Iterator
from functools import partial
from time import monotonic
from types import TracebackType
from typing import BinaryIO, TypeVar

from netkit._core import stream
from netkit._core.checks import buffer_size, check_size, check_timeout
from netkit._core.deadline import deadline as _deadline_at
from netkit._core.deadline import idle_error
from netkit._core.oserrors import closed, stream_error, timed_out
from netkit._core.sockaddr import endpoint
from netkit.addr import Endpoint
from netkit.errors import ConnectionClosed, NetkitTimeout
from netkit.framing import (
    DEFAULT_MAX_FRAME,
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_READ,
    ReceiveBuffer,
    encode_frame,
)

__all__ = ["TcpConnection"]

_T = TypeVar("_T")
_Self = TypeVar("_Self", bound="TcpConnection")

#: Bytes asked of the kernel per receive when filling the buffer.
_CHUNK = 65536
# An exact read (or frame) that still needs more than this is received piece by piece
# and joined, instead of growing the receive buffer (fewer copies).
_DIRECT_MIN = 65536
# The most one receive asks for in those direct reads (the kernel fills what it has).
_BIG_READ = 1 << 20
# Frames up to this size are sent as one buffer (one system call, one segment with
# TCP_NODELAY); larger ones send header and payload separately to avoid a copy.
_COALESCE_MAX = 65536
_FRAME_PREFIX = stream.FRAME_PREFIX

_MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
_HAVE_POLL = hasattr(select, "poll")
_POLLIN: int = getattr(select, "POLLIN", 1)
_POLLOUT: int = getattr(select, "POLLOUT", 4)
_MAX_POLL_MS = 2**31 - 1  # poll() takes a C int


def _error(exc: BaseException, write: bool = False) -> BaseException:
    """What to raise for *exc* from a socket call: the core's table, or *exc* itself."""
    mapped = stream_error(exc, write=write)
    return exc if mapped is None else mapped


class TcpConnection:
    """A connected stream socket (plain or :class:`ssl.SSLSocket`) with buffered reads.

    Takes ownership of *sock*: closing the connection closes the socket. Every
    blocking method takes ``timeout=`` (seconds for the whole call; ``None`` uses the
    connection's :attr:`timeout`, which starts as the timeout the socket had when it
    was wrapped, e.g. from ``SocketOptions(timeout=...)``, and usually means no limit).
    *idle_timeout*, used by servers, makes any read that waits that many seconds
    without receiving a byte raise :class:`~netkit.NetkitTimeout`; writes ignore it.

    One thread may read while another writes on a plain connection, and
    :meth:`close` from another thread wakes a call blocked in this connection (it
    raises ``ConnectionClosed("connection is closed")``). TLS connections must not be
    read and written from two threads at the same time (OpenSSL's rule).

    Parameters:
        sock: a connected ``SOCK_STREAM`` socket.
        idle_timeout: seconds a read may wait with nothing received, or None.

    Raises:
        TypeError: *sock* is not a socket, or *idle_timeout* not a number.
        ValueError: *sock* is not a stream socket, or *idle_timeout* is negative.
    """

    __slots__ = (
        "__weakref__",
        "_buffer",
        "_closed",
        "_default_timeout",
        "_idle_timeout",
        "_local",
        "_pending",
        "_poll_mode",
        "_read_fast",
        "_remote",
        "_sock",
        "_timeout_set",
        "_tls",
        "_write_fast",
    )

    def __init__(self, sock: socket.socket, *, idle_timeout: float | None = None) -> None:
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"TcpConnection needs a stream socket, not {sock.type!r}")
        self._idle_timeout = check_timeout("idle_timeout", idle_timeout)
        current = sock.gettimeout()
        # A socket timeout set before wrapping becomes the default deadline per call;
        # the socket itself goes to blocking mode, which the fast paths rely on.
        self._default_timeout = current if current else None
        if current is not None:
            sock.settimeout(None)
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._poll_mode = bool(_MSG_DONTWAIT) and _HAVE_POLL and not self._tls
        self._buffer = ReceiveBuffer()
        # The buffer's bytearray itself (ReceiveBuffer only ever changes it in place):
        # `not self._pending` is a C-level emptiness test for the fast paths, where
        # `not self._buffer` would be a Python-level __bool__ call.
        self._pending: bytearray = self._buffer._buf
        self._closed = False
        self._timeout_set = False
        self._local: Endpoint | None = None
        self._remote: Endpoint | None = None
        self._read_fast = False
        self._write_fast = False
        self._update_fast_flags()

    def _update_fast_flags(self) -> None:
        # "Fast" = a call without timeout= can go straight to the blocking socket call.
        blocking = not self._timeout_set and self._default_timeout is None
        self._write_fast = blocking
        self._read_fast = blocking and self._idle_timeout is None

    # -- properties ---------------------------------------------------------------------

    @property
    def socket(self) -> socket.socket:
        """The underlying socket (an escape hatch: reading from it bypasses the buffer)."""
        return self._sock

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    @property
    def is_tls(self) -> bool:
        """True if the socket is an :class:`ssl.SSLSocket`."""
        return self._tls

    @property
    def timeout(self) -> float | None:
        """The default deadline, in seconds, of each blocking call made with ``timeout=None``.

        ``None`` means no limit. Setting it checks the value as ``timeout=`` does
        (TypeError, ValueError) and never touches the socket's own mode.
        """
        return self._default_timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._default_timeout = check_timeout("timeout", value)
        self._update_fast_flags()

    @property
    def idle_timeout(self) -> float | None:
        """Seconds a read may wait with nothing received, or None."""
        return self._idle_timeout

    @property
    def buffered(self) -> int:
        """Bytes received from the socket and not yet returned by a read method."""
        return len(self._buffer)

    @property
    def local_address(self) -> Endpoint:
        """This end's address (still available after :meth:`close`)."""
        if self._local is None:
            self._local = endpoint(self._sock.getsockname())
        return self._local

    @property
    def remote_address(self) -> Endpoint:
        """The peer's address (still available after :meth:`close`)."""
        if self._remote is None:
            self._remote = endpoint(self._sock.getpeername())
        return self._remote

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        return self._sock.fileno()

    def __repr__(self) -> str:
        kind = "TLS " if self._tls else ""
        if self._closed:
            return f"<{type(self).__name__} {kind}closed>"
        try:
            where = f"{self.local_address} -> {self.remote_address}"
        except (OSError, TypeError, ValueError):
            where = f"fd={self._sock.fileno()}"
        return f"<{type(self).__name__} {kind}{where}>"

    # -- the waiting engine -------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> float | None:
        if timeout is None and self._default_timeout is None:
            return None
        return _deadline_at(monotonic(), timeout, self._default_timeout)

    def _restore_blocking(self) -> None:
        self._sock.settimeout(None)
        self._timeout_set = False
        self._update_fast_flags()

    def _fail(self, exc: BaseException, write: bool = False) -> BaseException:
        """The error to raise for *exc* from a socket call (``closed()`` after close)."""
        if self._closed:
            return closed()
        return _error(exc, write)

    def _call(self, call: Callable[[int], _T], deadline: float | None, write: bool) -> _T:
        """Run ``call(flags)`` once the socket is ready, by *deadline* (and idle timeout).

        ``flags`` is ``MSG_DONTWAIT`` in poll mode and 0 otherwise. Raises NetkitTimeout
        when the deadline (or, for reads, the idle timeout) passes first, and the core's
        error for anything that means the connection is gone or closed.
        """
        idle = None if write else self._idle_timeout
        try:
            if deadline is None and idle is None:
                if self._timeout_set:
                    self._restore_blocking()
                return call(0)
            if idle is not None:
                idle_deadline = monotonic() + idle
                by_idle = deadline is None or idle_deadline < deadline
                limit = idle_deadline if by_idle else deadline
            else:
                by_idle = False
                limit = deadline
            assert limit is not None
            if self._poll_mode:
                return self._poll_call(call, limit, by_idle, write)
            # TLS (or no poll/MSG_DONTWAIT): let the socket time out by itself; a
            # deadline already passed still gets one non-blocking try.
            self._sock.settimeout(max(limit - monotonic(), 0.0))
            if not self._timeout_set:
                self._timeout_set = True
                self._update_fast_flags()
            try:
                return call(0)
            except TimeoutError as exc:
                if exc.errno is not None:
                    raise
                raise self._timeout_error(by_idle, write) from None
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise self._timeout_error(by_idle, write) from None
        except NetkitTimeout:
            raise  # a TimeoutError too, but ours: not a lost connection
        except OSError as exc:
            raise self._fail(exc, write) from exc

    def _poll_call(
        self, call: Callable[[int], _T], limit: float, by_idle: bool, write: bool
    ) -> _T:
        if write:
            # A send almost always finds room in the socket buffer: try it before
            # paying for a poll (CPython's own timeout sockets poll first).
            try:
                return call(_MSG_DONTWAIT)
            except BlockingIOError:
                pass
        fd = self._sock.fileno()
        if fd < 0:  # closed: never poll a descriptor number that may have been reused
            raise OSError(errno.EBADF, "connection is closed")
        events = _POLLOUT if write else _POLLIN
        while True:
            wait = limit - monotonic()
            if wait > 0:
                poller = select.poll()
                poller.register(fd, events)
                if not poller.poll(min(math.ceil(wait * 1000), _MAX_POLL_MS)):
                    continue  # nothing yet: re-check the time (a last try once it is up)
            try:
                return call(_MSG_DONTWAIT)
            except BlockingIOError:
                if wait <= 0:
                    raise self._timeout_error(by_idle, write) from None

    def _timeout_error(self, by_idle: bool, write: bool) -> NetkitTimeout:
        if by_idle:
            assert self._idle_timeout is not None
            return idle_error(self._idle_timeout)
        return timed_out(write)

    def _recv_chunk(self, size: int, deadline: float | None) -> bytes:
        sock = self._sock
        data = self._call(lambda flags: sock.recv(size, flags), deadline, False)
        if not data and self._closed:
            raise closed()  # woken by close() from another thread, not by the peer
        return data

    def _fill(self, request: stream.Read, deadline: float | None) -> bytes:
        """Receive until *request* completes; the end of the stream is its ``at_eof``."""
        buffer = self._buffer
        try:
            while True:
                data = self._recv_chunk(_CHUNK, deadline)
                if not data:
                    return request.at_eof(buffer)
                buffer.feed(data)
                result = request.attempt(buffer)
                if result is not None:
                    return result
        except ConnectionClosed as exc:
            if not exc.partial and buffer:
                exc.partial = buffer.take_all()
            raise

    def _read_delimited(self, request: stream.Read, deadline: float | None) -> bytes:
        """A delimited read (``recv_until``/``readline``): one receive often holds it whole."""
        assert isinstance(request, stream.Until)
        buffer = self._buffer
        result = request.attempt(buffer)
        if result is not None:
            return result
        if not buffer:
            # One receive that holds exactly one whole message (the usual request and
            # response) is handed back as it came, without a trip through the buffer.
            data = self._recv_chunk(_CHUNK, deadline)
            if not data:
                return request.at_eof(buffer)
            delimiter = request.delimiter
            end = data.find(delimiter)
            if end + len(delimiter) == len(data) and 0 <= end <= request.max_bytes:
                return data if request.keep else data[:end]
            buffer.feed(data)
            result = request.attempt(buffer)
            if result is not None:
                return result
        return self._fill(request, deadline)

    def _read_direct(self, n: int, request: stream.Read, deadline: float | None) -> list[bytes]:
        """Read the next *n* bytes of the stream as a list of pieces (buffered ones first).

        Each receive asks for what is still missing (up to :data:`_BIG_READ`), so the
        kernel copies straight into the bytes object returned: a large message costs
        one copy, or two when it arrives in several pieces (the join), never the
        zero-fill, receive and copy of a ``bytearray`` plus ``recv_into``.
        On a timeout (or any other interruption) the pieces go back into the receive
        buffer, which this method emptied first, so nothing is lost; at EOF *request*
        decides the error (its message and ``.partial``).
        """
        buffer = self._buffer
        parts: list[bytes] = [buffer.take_all()] if buffer else []
        got = len(parts[0]) if parts else 0
        try:
            while got < n:
                data = self._recv_chunk(min(n - got, _BIG_READ), deadline)
                if not data:
                    buffer.feed(b"".join(parts))
                    parts = []
                    request.at_eof(buffer)
                    raise AssertionError("at_eof of a sized read always raises")
                parts.append(data)
                got += len(data)
        except BaseException:
            if parts:
                buffer.feed(b"".join(parts))
            raise
        return parts

    # -- reading ------------------------------------------------------------------------

    def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Return up to *max_bytes* bytes as soon as any are available; ``b""`` at EOF.

        Raises:
            NetkitTimeout: the deadline passed first (nothing is lost).
            ConnectionClosed: the connection was lost, or closed by this process.
        """
        if timeout is None and self._read_fast and not self._pending:
            try:
                data = self._sock.recv(max_bytes)
            except OSError as exc:
                raise self._fail(exc) from exc
            except (TypeError, ValueError):
                check_size("max_bytes", max_bytes)  # netkit's message for a bad size
                raise
            if not data and self._closed:
                raise closed()  # woken by close() from another thread
            return data
        check_size("max_bytes", max_bytes)
        deadline = self._deadline(timeout)
        if self._buffer:
            return self._buffer.take(max_bytes)
        if self._closed:
            raise closed()
        return self._recv_chunk(max_bytes, deadline)

    def recv_into(
        self, buffer: bytearray | memoryview, nbytes: int = 0, *, timeout: float | None = None
    ) -> int:
        """Receive up to *nbytes* (default: the buffer's size) into *buffer*; 0 at EOF.

        For bulk transfers into a preallocated buffer: no allocation per call.

        Raises:
            ValueError: *nbytes* is negative or larger than *buffer*.
            NetkitTimeout, ConnectionClosed: as :meth:`recv`.
        """
        if timeout is None and self._read_fast and not self._pending:
            try:
                return self._sock.recv_into(buffer, nbytes)
            except OSError as exc:
                raise self._fail(exc) from exc
        with memoryview(buffer) as raw, raw.cast("B") as view:
            if nbytes < 0 or nbytes > len(view):
                raise ValueError(f"nbytes must be in 0..{len(view)}, not {nbytes}")
            size = nbytes or len(view)
            deadline = self._deadline(timeout)
            if self._buffer:
                data = self._buffer.take(size)
                view[: len(data)] = data
                return len(data)
            if self._closed:
                raise closed()
            return self._call(partial(self._sock.recv_into, view, size), deadline, False)

    def recv_exactly(self, n: int, *, timeout: float | None = None) -> bytes:
        """Return exactly *n* bytes.

        Raises:
            ConnectionClosed: EOF came first (``.partial`` holds what arrived).
            NetkitTimeout: the deadline passed first (what arrived stays buffered).
        """
        buffer = self._buffer
        if n.__class__ is int and timeout is None and 0 <= n <= len(buffer):
            return buffer.try_exactly(n)  # type: ignore[return-value]
        request = stream.exactly(n, timeout)
        result = request.attempt(buffer)
        if result is not None:
            return result
        deadline = self._deadline(timeout)
        if n - len(buffer) > _DIRECT_MIN:
            parts = self._read_direct(n, request, deadline)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if not buffer:
            # Common case (request/response): one receive often brings exactly n bytes,
            # which then need not pass through the buffer at all.
            data = self._recv_chunk(max(n, _CHUNK), deadline)
            if len(data) == n:
                return data
            if not data:
                return request.at_eof(buffer)
            buffer.feed(data)
            result = request.attempt(buffer)
            if result is not None:
                return result
        return self._fill(request, deadline)

    def recv_until(
        self,
        delimiter: bytes,
        *,
        max_bytes: int = DEFAULT_MAX_LINE,
        timeout: float | None = None,
    ) -> bytes:
        """Return the bytes before the next *delimiter* (which is consumed, not returned).

        Raises:
            FrameTooLarge: more than *max_bytes* bytes (delimiter excluded) arrived
                without a delimiter; nothing is consumed.
            ConnectionClosed: the stream ended first (``.partial`` holds what arrived).
            NetkitTimeout: the deadline passed first (what arrived stays buffered).
        """
        request = stream.until(delimiter, max_bytes, timeout)
        return self._read_delimited(request, self._deadline(timeout))

    def readline(
        self, *, max_bytes: int = DEFAULT_MAX_LINE, timeout: float | None = None
    ) -> bytes:
        """Return the next line including its ``\\n``; ``b""`` at a clean EOF.

        Raises:
            FrameTooLarge: the line (without its ``\\n``) is over *max_bytes*; nothing
                is consumed.
            ConnectionClosed: the stream ended mid-line (``.partial``: the partial line).
            NetkitTimeout: the deadline passed first (what arrived stays buffered).
        """
        request = stream.line(max_bytes, timeout)
        return self._read_delimited(request, self._deadline(timeout))

    def recv_all(
        self, *, max_bytes: int = DEFAULT_MAX_READ, timeout: float | None = None
    ) -> bytes:
        """Return everything until the peer closes its side (EOF).

        Raises:
            FrameTooLarge: more than *max_bytes* bytes arrived; they stay buffered.
            ConnectionClosed, NetkitTimeout: as :meth:`recv_exactly`.
        """
        request = stream.to_eof(max_bytes, timeout)
        buffer = self._buffer
        deadline = self._deadline(timeout)
        limit = request.want(buffer)  # max_bytes + 1: never ask for more than that
        try:
            while True:
                request.attempt(buffer)  # raises FrameTooLarge past the limit
                data = self._recv_chunk(min(_CHUNK, limit - len(buffer)), deadline)
                if not data:
                    return request.at_eof(buffer)
                buffer.feed(data)
        except ConnectionClosed as exc:
            exc.partial = buffer.take_all()
            raise

    def recv_frame(
        self, *, max_size: int = DEFAULT_MAX_FRAME, timeout: float | None = None
    ) -> bytes:
        """Return the payload of the next frame (4-byte big-endian length prefix).

        Raises:
            FrameTooLarge: the prefix announces more than *max_size*; raised before any
                payload is waited for, and nothing is consumed.
            ConnectionClosed: the stream ended first, including at a frame boundary
                (``.partial``: prefix and payload so far).
            NetkitTimeout: the deadline passed first (what arrived stays buffered).
        """
        request = stream.frame(max_size, timeout)
        buffer = self._buffer
        frame = request.attempt(buffer)
        if frame is not None:
            return frame
        deadline = self._deadline(timeout)
        if len(buffer) >= _FRAME_PREFIX:
            need = buffer.frame_bytes_needed()
            if need > _DIRECT_MIN:
                parts = self._read_direct(len(buffer) + need, request, deadline)
                parts[0] = parts[0][_FRAME_PREFIX:]
                return b"".join(parts)
        while True:
            data = self._recv_chunk(_CHUNK, deadline)
            if not data:
                return request.at_eof(buffer)
            buffer.feed(data)
            frame = request.attempt(buffer)
            if frame is not None:
                return frame
            if len(buffer) >= _FRAME_PREFIX and buffer.frame_bytes_needed() > _DIRECT_MIN:
                parts = self._read_direct(
                    len(buffer) + buffer.frame_bytes_needed(), request, deadline
                )
                parts[0] = parts[0][_FRAME_PREFIX:]
                return b"".join(parts)

    def __iter__(self) -> Iterator[bytes]:
        """Yield lines (with their ``\\n``) until a clean EOF."""
        while line := self.readline():
            yield line

    # -- writing ------------------------------------------------------------------------

    def sendall(
        self, data: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send all of *data*.

        Raises:
            TypeError: *data* is not bytes-like.
            NetkitTimeout: the deadline passed; an unknown prefix may have been sent.
            ConnectionClosed: the connection was lost, or closed by this process.
        """
        if timeout is None and self._write_fast:
            try:
                self._sock.sendall(data)
            except OSError as exc:
                raise self._fail(exc, True) from exc
            except TypeError:
                buffer_size(data)  # netkit's message for what is not bytes-like
                raise
            return
        buffer_size(data)
        self._sendall(data, self._deadline(timeout))

    def _sendall(self, data: bytes | bytearray | memoryview, deadline: float | None) -> None:
        sock = self._sock
        if deadline is None:
            self._call(lambda flags: sock.sendall(data), None, True)
            return
        with memoryview(data) as raw, raw.cast("B") as view:
            sent = 0
            total = len(view)
            while sent < total:
                part = view[sent:]
                sent += self._call(partial(sock.send, part), deadline, True)

    def send_frame(
        self, payload: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send *payload* with a 4-byte big-endian length prefix.

        Raises:
            FrameTooLarge: the payload does not fit a 4-byte prefix.
            TypeError, NetkitTimeout, ConnectionClosed: as :meth:`sendall`.
        """
        size = memoryview(payload).nbytes
        if size <= _COALESCE_MAX:
            self.sendall(encode_frame(payload), timeout=timeout)
            return
        if size > stream.MAX_FRAME_PAYLOAD:
            raise stream.frame_too_large_to_send(size)
        header = size.to_bytes(_FRAME_PREFIX, "big")
        deadline = self._deadline(timeout)
        self._sendall(header, deadline)
        self._sendall(payload, deadline)

    def sendfile(
        self,
        file: BinaryIO,
        offset: int = 0,
        count: int | None = None,
        *,
        timeout: float | None = None,
    ) -> int:
        """Send a file opened in binary mode; return the number of bytes sent.

        Without a deadline this is :meth:`socket.socket.sendfile` (zero-copy
        ``os.sendfile`` on plain sockets, read-and-send on TLS). With one, the file is
        read in chunks and sent with the deadline applying to the whole transfer.
        """
        deadline = self._deadline(timeout)
        if deadline is None:
            sock = self._sock
            return self._call(lambda flags: sock.sendfile(file, offset, count), None, True)
        if offset:
            file.seek(offset)
        total = 0
        while count is None or total < count:
            want = _CHUNK if count is None else min(_CHUNK, count - total)
            chunk = file.read(want)
            if not chunk:
                break
            self._sendall(chunk, deadline)
            total += len(chunk)
        return total

    # -- ending -------------------------------------------------------------------------

    def shutdown_write(self) -> None:
        """Send EOF to the peer (``SHUT_WR``) while still reading what it sends.

        Raises:
            NotImplementedError: on TLS (the :mod:`ssl` module cannot half-close).
            ConnectionClosed: the connection is gone or closed.
        """
        if self._tls:
            raise NotImplementedError(
                "shutdown_write is not supported on TLS connections; use close()"
            )
        self.shutdown(socket.SHUT_WR)

    def shutdown(self, how: int) -> None:
        """Shut down one or both directions (``socket.SHUT_RD``, ``SHUT_WR``, ``SHUT_RDWR``).

        Unlike :meth:`close`, the connection stays open: buffered bytes can still be
        read, and a call blocked in another thread is woken.

        Raises:
            ValueError: *how* is not one of the three constants.
            ConnectionClosed: the connection is gone or closed.
        """
        if how not in (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR):
            raise ValueError(f"how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how!r}")
        try:
            socket.socket.shutdown(self._sock, how)
        except OSError as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        """Close the socket and drop buffered bytes. Calling it again does nothing.

        A call blocked in this connection in another thread is woken and raises
        ``ConnectionClosed``.
        """
        if self._closed:
            return
        self._closed = True
        # Keep the addresses for logs written after the close.
        for prop in ("local_address", "remote_address"):
            try:
                getattr(self, prop)
            except (OSError, TypeError, ValueError):
                pass
        self._buffer.take_all()
        try:
            # Wakes a recv/send/poll blocked in another thread before the descriptor
            # goes away (close alone leaves it blocked). Data already queued is still
            # delivered before the FIN, as with close().
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
