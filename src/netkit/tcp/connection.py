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

from netkit._core.checks import buffer_size, check_delimiter, check_size, check_timeout
from netkit.addr import Endpoint
from netkit.errors import ConnectionClosed, FrameTooLarge, NetkitTimeout, describe
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
_FRAME_PREFIX = 4
_MAX_FRAME_PAYLOAD = 0xFFFFFFFF

_MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
_HAVE_POLL = hasattr(select, "poll")
_POLLIN: int = getattr(select, "POLLIN", 1)
_POLLOUT: int = getattr(select, "POLLOUT", 4)
_MAX_POLL_MS = 2**31 - 1  # poll() takes a C int

# Errors that mean "the peer (or the network) ended the connection". TimeoutError is
# here for ETIMEDOUT (keepalive or retransmissions gave up); a socket.timeout from a
# deadline has errno None and is told apart before this tuple is consulted.
_LOST: tuple[type[BaseException], ...] = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    TimeoutError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def _lost(exc: BaseException, partial: bytes = b"") -> ConnectionClosed:
    """A ConnectionClosed for a socket error that means the connection is gone."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        code = exc.errno
    else:
        reason, code = str(exc) or type(exc).__name__, None
    err = ConnectionClosed(f"connection lost: {reason}", partial)
    if code is not None:
        err.errno = code
    return err


def _endpoint(sockaddr: object) -> Endpoint:
    if not isinstance(sockaddr, tuple):
        raise TypeError(f"not an IP socket address: {describe(sockaddr)}")
    return Endpoint.from_sockaddr(sockaddr)


class TcpConnection:
    """A connected stream socket (plain or :class:`ssl.SSLSocket`) with buffered reads.

    Takes ownership of *sock*: closing the connection closes the socket. Every
    blocking method takes ``timeout=`` (seconds for the whole call; ``None`` uses the
    connection's default, which is the timeout the socket had when it was wrapped,
    e.g. from ``SocketOptions(timeout=...)``, and usually means no limit).
    *idle_timeout*, used by servers, makes any read that waits that many seconds
    without receiving a byte raise :class:`~netkit.NetkitTimeout`; writes ignore it.

    One thread may read while another writes on a plain connection. TLS connections
    must not be read and written from two threads at the same time (OpenSSL's rule).
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
            self._local = _endpoint(self._sock.getsockname())
        return self._local

    @property
    def remote_address(self) -> Endpoint:
        """The peer's address (still available after :meth:`close`)."""
        if self._remote is None:
            self._remote = _endpoint(self._sock.getpeername())
        return self._remote

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
        if timeout is None:
            timeout = self._default_timeout
            if timeout is None:
                return None
        else:
            timeout = check_timeout("timeout", timeout)
            if timeout is None:
                return None
        return monotonic() + timeout

    def _restore_blocking(self) -> None:
        self._sock.settimeout(None)
        self._timeout_set = False
        self._update_fast_flags()

    def _call(self, call: Callable[[int], _T], deadline: float | None, write: bool) -> _T:
        """Run ``call(flags)`` once the socket is ready, by *deadline* (and idle timeout).

        ``flags`` is ``MSG_DONTWAIT`` in poll mode and 0 otherwise. Raises NetkitTimeout
        when the deadline (or, for reads, the idle timeout) passes first, and
        ConnectionClosed for errors that mean the connection is gone.
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
        except _LOST as exc:
            raise _lost(exc) from exc

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
            return NetkitTimeout(f"idle: nothing received for {self._idle_timeout:g} s")
        return NetkitTimeout("timed out " + ("sending" if write else "waiting for data"))

    def _recv_chunk(self, size: int, deadline: float | None) -> bytes:
        sock = self._sock
        return self._call(lambda flags: sock.recv(size, flags), deadline, False)

    def _fill_until(
        self, attempt: Callable[[], bytes | None], deadline: float | None
    ) -> bytes | None:
        """Receive until ``attempt()`` gives a result; ``None`` at EOF (buffer intact)."""
        buffer = self._buffer
        try:
            while True:
                data = self._recv_chunk(_CHUNK, deadline)
                if not data:
                    return None
                buffer.feed(data)
                result = attempt()
                if result is not None:
                    return result
        except ConnectionClosed as exc:
            exc.partial = buffer.take_all()
            raise

    def _read_delimited(
        self, delimiter: bytes, max_bytes: int, keep: bool, timeout: float | None
    ) -> bytes | None:
        """The next message ended by *delimiter*; ``None`` at EOF (the buffer intact)."""
        buffer = self._buffer
        result = buffer.try_until(delimiter, max_bytes=max_bytes, keep_delimiter=keep)
        if result is not None:
            return result
        deadline = self._deadline(timeout)
        if not buffer:
            # One receive that holds exactly one whole message (the usual request and
            # response) is handed back as it came, without a trip through the buffer.
            data = self._recv_chunk(_CHUNK, deadline)
            if not data:
                return None
            end = data.find(delimiter)
            if end + len(delimiter) == len(data) and 0 <= end <= max_bytes:
                return data if keep else data[:end]
            buffer.feed(data)
            result = buffer.try_until(delimiter, max_bytes=max_bytes, keep_delimiter=keep)
            if result is not None:
                return result
        return self._fill_until(
            lambda: buffer.try_until(delimiter, max_bytes=max_bytes, keep_delimiter=keep),
            deadline,
        )

    def _closed_error(self, what: str) -> ConnectionClosed:
        partial = self._buffer.take_all()
        return ConnectionClosed(f"connection closed by peer {what}", partial)

    def _read_direct(self, n: int, deadline: float | None) -> list[bytes]:
        """Read the next *n* bytes of the stream as a list of pieces (buffered ones first).

        Each receive asks for what is still missing (up to :data:`_BIG_READ`), so the
        kernel copies straight into the bytes object returned: a large message costs
        one copy, or two when it arrives in several pieces (the join), never the
        zero-fill, receive and copy of a ``bytearray`` plus ``recv_into``.
        On a timeout (or any other interruption) the pieces go back into the receive
        buffer, which this method emptied first, so nothing is lost.
        """
        buffer = self._buffer
        parts: list[bytes] = [buffer.take_all()] if buffer else []
        got = len(parts[0]) if parts else 0
        sock = self._sock
        try:
            while got < n:
                size = min(n - got, _BIG_READ)
                data = self._call(partial(sock.recv, size), deadline, False)
                if not data:
                    raise ConnectionClosed(
                        f"connection closed by peer after {got} of {n} bytes", b"".join(parts)
                    )
                parts.append(data)
                got += len(data)
        except ConnectionClosed as exc:
            if not exc.partial:
                exc.partial = b"".join(parts)
            raise
        except BaseException:
            buffer.feed(b"".join(parts))
            raise
        return parts

    # -- reading ------------------------------------------------------------------------

    def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Return up to *max_bytes* bytes as soon as any are available; ``b""`` at EOF."""
        if timeout is None and self._read_fast and not self._pending:
            try:
                return self._sock.recv(max_bytes)
            except _LOST as exc:
                raise _lost(exc) from exc
            except (TypeError, ValueError):
                check_size("max_bytes", max_bytes)  # netkit's message for a bad size
                raise
        check_size("max_bytes", max_bytes)
        deadline = self._deadline(timeout)
        if self._buffer:
            return self._buffer.take(max_bytes)
        sock = self._sock
        return self._call(lambda flags: sock.recv(max_bytes, flags), deadline, False)

    def recv_into(
        self, buffer: bytearray | memoryview, nbytes: int = 0, *, timeout: float | None = None
    ) -> int:
        """Receive up to *nbytes* (default: the buffer's size) into *buffer*; 0 at EOF.

        For bulk transfers into a preallocated buffer: no allocation per call.
        """
        if timeout is None and self._read_fast and not self._pending:
            try:
                return self._sock.recv_into(buffer, nbytes)
            except _LOST as exc:
                raise _lost(exc) from exc
        with memoryview(buffer) as raw, raw.cast("B") as view:
            if nbytes < 0 or nbytes > len(view):
                raise ValueError(f"nbytes must be in 0..{len(view)}, not {nbytes}")
            size = nbytes or len(view)
            deadline = self._deadline(timeout)
            if self._buffer:
                data = self._buffer.take(size)
                view[: len(data)] = data
                return len(data)
            return self._call(partial(self._sock.recv_into, view, size), deadline, False)

    def recv_exactly(self, n: int, *, timeout: float | None = None) -> bytes:
        """Return exactly *n* bytes; ConnectionClosed (with ``.partial``) if EOF comes first."""
        if n.__class__ is not int or n < 0:  # bool too: check_size refuses it
            check_size("n", n)
        if timeout is not None:
            check_timeout("timeout", timeout)  # before anything is consumed
        buffer = self._buffer
        result = buffer.try_exactly(n)
        if result is not None:
            return result
        deadline = self._deadline(timeout)
        if n - len(buffer) > _DIRECT_MIN:
            parts = self._read_direct(n, deadline)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if not buffer:
            # Common case (request/response): one receive often brings exactly n bytes,
            # which then need not pass through the buffer at all.
            data = self._recv_chunk(max(n, _CHUNK), deadline)
            if len(data) == n:
                return data
            if not data:
                raise self._closed_error(f"after 0 of {n} bytes")
            buffer.feed(data)
            result = buffer.try_exactly(n)
            if result is not None:
                return result
        result = self._fill_until(lambda: buffer.try_exactly(n), deadline)
        if result is None:
            raise self._closed_error(f"after {len(buffer)} of {n} bytes")
        return result

    def recv_until(
        self,
        delimiter: bytes,
        *,
        max_bytes: int = DEFAULT_MAX_LINE,
        timeout: float | None = None,
    ) -> bytes:
        """Return the bytes before the next *delimiter* (which is consumed, not returned).

        Raises FrameTooLarge once more than *max_bytes* bytes (delimiter excluded) have
        arrived without a delimiter; nothing is consumed then, so the stream still
        starts with the oversized message. ConnectionClosed (with ``.partial``) if the
        stream ends first.
        """
        delimiter = check_delimiter(delimiter)
        check_size("max_bytes", max_bytes)
        if timeout is not None:
            check_timeout("timeout", timeout)
        result = self._read_delimited(delimiter, max_bytes, False, timeout)
        if result is None:
            raise self._closed_error(f"before {describe(delimiter)}")
        return result

    def readline(
        self, *, max_bytes: int = DEFAULT_MAX_LINE, timeout: float | None = None
    ) -> bytes:
        """Return the next line including its ``\\n``; ``b""`` at a clean EOF.

        *max_bytes* limits the line without its ``\\n`` (FrameTooLarge, nothing consumed).
        ConnectionClosed (with ``.partial``) if the stream ends mid-line.
        """
        check_size("max_bytes", max_bytes)
        if timeout is not None:
            check_timeout("timeout", timeout)
        result = self._read_delimited(b"\n", max_bytes, True, timeout)
        if result is None:
            if not self._buffer:
                return b""
            raise self._closed_error("mid-line")
        return result

    def recv_all(
        self, *, max_bytes: int = DEFAULT_MAX_READ, timeout: float | None = None
    ) -> bytes:
        """Return everything until the peer closes its side (EOF).

        Raises FrameTooLarge as soon as more than *max_bytes* bytes have arrived;
        those bytes stay buffered (nothing is consumed).
        """
        check_size("max_bytes", max_bytes)
        buffer = self._buffer
        deadline = self._deadline(timeout)
        try:
            while True:
                if len(buffer) > max_bytes:
                    raise FrameTooLarge(
                        f"stream longer than the limit of {max_bytes} bytes",
                        limit=max_bytes,
                        size=len(buffer),
                    )
                # Never ask for more than one byte past the limit.
                data = self._recv_chunk(min(_CHUNK, max_bytes + 1 - len(buffer)), deadline)
                if not data:
                    return buffer.take_all()
                buffer.feed(data)
        except ConnectionClosed as exc:
            exc.partial = buffer.take_all()
            raise

    def recv_frame(
        self, *, max_size: int = DEFAULT_MAX_FRAME, timeout: float | None = None
    ) -> bytes:
        """Return the payload of the next frame (4-byte big-endian length prefix).

        A prefix announcing more than *max_size* raises FrameTooLarge before any of the
        payload is waited for; nothing is consumed (the stream still starts with that
        frame's prefix). ConnectionClosed (with ``.partial``: prefix and payload so
        far) if the stream ends first, including at a frame boundary.
        """
        check_size("max_size", max_size)
        if timeout is not None:
            check_timeout("timeout", timeout)
        buffer = self._buffer
        frame = buffer.try_frame(max_size=max_size)
        if frame is not None:
            return frame
        deadline = self._deadline(timeout)
        try:
            while True:
                if len(buffer) >= _FRAME_PREFIX:
                    need = buffer.frame_bytes_needed()
                    if need > _DIRECT_MIN:
                        parts = self._read_direct(len(buffer) + need, deadline)
                        parts[0] = parts[0][_FRAME_PREFIX:]
                        return b"".join(parts)
                data = self._recv_chunk(_CHUNK, deadline)
                if not data:
                    raise self._closed_error("mid-frame" if buffer else "before the next frame")
                buffer.feed(data)
                frame = buffer.try_frame(max_size=max_size)
                if frame is not None:
                    return frame
        except ConnectionClosed as exc:
            if buffer:
                exc.partial = buffer.take_all()
            raise

    def __iter__(self) -> Iterator[bytes]:
        """Yield lines (with their ``\\n``) until a clean EOF."""
        while line := self.readline():
            yield line

    # -- writing ------------------------------------------------------------------------

    def sendall(
        self, data: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send all of *data*. After a timeout an unknown prefix of it may have been sent."""
        if timeout is None and self._write_fast:
            try:
                self._sock.sendall(data)
            except _LOST as exc:
                raise _lost(exc) from exc
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
        """Send *payload* with a 4-byte big-endian length prefix."""
        size = memoryview(payload).nbytes
        if size <= _COALESCE_MAX:
            self.sendall(encode_frame(payload), timeout=timeout)
            return
        if size > _MAX_FRAME_PAYLOAD:
            raise FrameTooLarge(
                f"payload of {size} bytes does not fit a 4-byte length prefix",
                limit=_MAX_FRAME_PAYLOAD,
                size=size,
            )
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

        TLS connections cannot half-close through the :mod:`ssl` module (it can only
        tear the TLS layer down), so they raise NotImplementedError; use :meth:`close`.
        """
        if self._tls:
            raise NotImplementedError(
                "shutdown_write is not supported on TLS connections; use close()"
            )
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno == errno.ENOTCONN or isinstance(exc, _LOST):
                raise _lost(exc) from exc
            raise

    def close(self) -> None:
        """Close the socket and drop buffered bytes. Calling it again does nothing."""
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
