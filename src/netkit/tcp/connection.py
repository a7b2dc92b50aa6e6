"""A connected TCP stream (plain or TLS) with whole-call deadlines and framed reads.

:class:`StreamConnection` holds every stream method; :class:`TcpConnection` (here) and
:class:`netkit.unix.UnixConnection` add their family's addresses and extras.
A connection owns one socket and one :class:`~netkit.framing.ReceiveBuffer`.
Every read method is "ask the buffer for a complete result; if there is none, receive
more and ask again", with the request, its limits and its errors from
:mod:`netkit._core.stream`, so mixing ``recv_until``, ``recv_exactly`` and
``recv_frame`` on one stream is always correct and the asyncio face raises the same
errors. The waiting itself (deadlines, poll or socket timeouts) is
:class:`netkit.tcp._socketstream.SocketStream`.

``timeout=`` is a deadline for the whole call, measured with :func:`time.monotonic`,
never a per-system-call timeout: a peer that drips one byte at a time cannot stretch
it. ``NetkitTimeout`` leaves every byte already received in the buffer, so the same
call can be retried. A reset, broken pipe, TLS EOF or keepalive timeout is raised as
:class:`~netkit.ConnectionClosed` (``errno`` set, the socket's error as
``__cause__``); an operation after :meth:`TcpConnection.close` raises
``ConnectionClosed("connection is closed")``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import stat
import struct
from collections.abc import Iterator
from functools import partial
from types import TracebackType
from typing import BinaryIO, Literal, TypeVar, overload

from netkit._core import stream
from netkit._core.checks import buffer_size, check_size, check_timeout
from netkit._core.oserrors import closed
from netkit._core.sockaddr import endpoint
from netkit.addr import Endpoint
from netkit.errors import ConnectionClosed
from netkit.framing import (
    DEFAULT_MAX_FRAME,
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_READ,
    encode_frame,
)
from netkit.tcp._file import StreamFile
from netkit.tcp._socketstream import _BY_STALL, _MSG_DONTWAIT, DIRECT_MIN, SocketStream
from netkit.tcp._socketstream import CHUNK as _CHUNK

__all__ = ["StreamConnection", "StreamFile", "TcpConnection"]

_LINGER = struct.Struct("ii")


def _resets_on_close(sock: socket.socket) -> bool:
    """True when *sock* has SO_LINGER on with a zero timeout (close() sends a reset)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER.size)
    except (AttributeError, OSError):  # a stand-in socket, or one already gone
        return False
    onoff, seconds = _LINGER.unpack(raw)
    return bool(onoff) and seconds == 0


_Self = TypeVar("_Self", bound="StreamConnection")
_TextMode = Literal["r", "w", "rw", "wr"]
_BinaryMode = Literal["rb", "wb", "rwb", "wrb", "br", "bw", "brw", "bwr", "rbw", "wbr"]

# Frames up to this size are sent as one buffer (one system call, one segment with
# TCP_NODELAY); larger ones send header and payload separately to avoid a copy.
_COALESCE_MAX = 65536
# The most one os.sendfile() is asked for (larger counts overflow on some systems).
_SENDFILE_BLOCK = 1 << 30
_FRAME_PREFIX = stream.FRAME_PREFIX


class StreamConnection(SocketStream):
    """Every method of a stream connection, whatever its family (TCP, Unix).

    The common base of :class:`TcpConnection` and :class:`netkit.unix.UnixConnection`,
    for code (and type hints) that works with either. It is not made directly: the
    subclasses check the socket's family and type its addresses.
    """

    __slots__ = ()

    # -- reading ------------------------------------------------------------------------

    def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Return up to *max_bytes* bytes as soon as any are available; ``b""`` at EOF.

        Args:
            max_bytes: the most bytes to return.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Returns:
            The bytes received (at least one), or ``b""`` once the peer has closed its side.

        Raises:
            NetkitTimeout: the deadline passed first (nothing is lost).
            ConnectionClosed: the connection was lost, or closed by this process.
            TypeError: *max_bytes* is not an ``int``.
            ValueError: *max_bytes* is negative.
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
        deadline = self._read_deadline(timeout)
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

        Args:
            buffer: a writable buffer; the bytes are written at its start.
            nbytes: the most bytes to receive; 0 for the buffer's size.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Returns:
            How many bytes were written, 0 once the peer has closed its side.

        Raises:
            ValueError: *nbytes* is negative or larger than *buffer*.
            NetkitTimeout: the deadline passed first (nothing is lost).
            ConnectionClosed: the connection was lost, or closed by this process.
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
            deadline = self._read_deadline(timeout)
            if self._buffer:
                data = self._buffer.take(size)
                view[: len(data)] = data
                return len(data)
            if self._closed:
                raise closed()
            return self._call(partial(self._sock.recv_into, view, size), deadline, False)

    def recv_exactly(self, n: int, *, timeout: float | None = None) -> bytes:
        """Return exactly *n* bytes.

        Args:
            n: how many bytes.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Returns:
            The *n* bytes.

        Raises:
            ConnectionClosed: EOF came first (``.partial`` holds what arrived).
            NetkitTimeout: the deadline passed first (what arrived stays buffered).
            TypeError: *n* is not an ``int``.
            ValueError: *n* is negative.
        """
        buffer = self._buffer
        if n.__class__ is int and timeout is None and 0 <= n <= len(buffer):
            return buffer.try_exactly(n)  # type: ignore[return-value]
        request = stream.exactly(n, timeout)
        result = request.attempt(buffer)
        if result is not None:
            return result
        deadline = self._read_deadline(timeout)
        if n - len(buffer) > DIRECT_MIN:
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

        Args:
            delimiter: the non-empty bytes that end the message.
            max_bytes: the longest message accepted, delimiter excluded.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Returns:
            The message, without its delimiter.

        Raises:
            FrameTooLarge: more than *max_bytes* bytes (delimiter excluded) arrived
                without a delimiter; nothing is consumed.
            ConnectionClosed: the stream ended first (``.partial`` holds what arrived).
            NetkitTimeout: the deadline passed first (what arrived stays buffered).
            TypeError: *delimiter* is not bytes, or *max_bytes* not an ``int``.
            ValueError: *delimiter* is empty, or *max_bytes* negative.
        """
        request = stream.until(delimiter, max_bytes, timeout)
        return self._read_delimited(request, self._read_deadline(timeout))

    def readline(
        self, *, max_bytes: int = DEFAULT_MAX_LINE, timeout: float | None = None
    ) -> bytes:
        """Return the next line including its ``\\n``; ``b""`` at a clean EOF.

        Args:
            max_bytes: the longest line accepted, ``\\n`` excluded.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Returns:
            The line, ending with ``\\n``; ``b""`` when the stream ended between lines.

        Raises:
            FrameTooLarge: the line (without its ``\\n``) is over *max_bytes*; nothing
                is consumed.
            ConnectionClosed: the stream ended mid-line (``.partial``: the partial line).
            NetkitTimeout: the deadline passed first (what arrived stays buffered).
        """
        request = stream.line(max_bytes, timeout)
        return self._read_delimited(request, self._read_deadline(timeout))

    def recv_all(
        self, *, max_bytes: int = DEFAULT_MAX_READ, timeout: float | None = None
    ) -> bytes:
        """Return everything until the peer closes its side (EOF).

        Args:
            max_bytes: the most bytes accepted.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Returns:
            Every byte up to the end of the stream.

        Raises:
            FrameTooLarge: more than *max_bytes* bytes arrived; they stay buffered.
            ConnectionClosed: the connection was lost (``.partial`` holds what arrived).
            NetkitTimeout: the deadline passed first (what arrived stays buffered).
        """
        request = stream.to_eof(max_bytes, timeout)
        buffer = self._buffer
        deadline = self._read_deadline(timeout)
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

        Args:
            max_size: the largest payload accepted.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Returns:
            The payload, without its prefix.

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
        return self._fill(request, self._read_deadline(timeout))

    def __iter__(self) -> Iterator[bytes]:
        """Yield lines (with their ``\\n``) until a clean EOF."""
        while line := self.readline():
            yield line

    def _file_read(self, request: stream.Read, timeout: float | None) -> bytes:
        """A read of a :class:`StreamFile`: through the receive buffer, by *timeout*."""
        if self._closed:
            raise closed()
        result = request.attempt(self._buffer)
        if result is not None:
            return result
        return self._fill(request, self._deadline(timeout))

    @overload
    def makefile(
        self,
        mode: _BinaryMode = "rb",
        buffering: int | None = None,
        *,
        encoding: None = None,
        errors: None = None,
        newline: None = None,
        timeout: float | None = None,
    ) -> StreamFile: ...
    @overload
    def makefile(
        self,
        mode: _TextMode,
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        timeout: float | None = None,
    ) -> io.TextIOWrapper: ...
    @overload
    def makefile(
        self,
        mode: str,
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        timeout: float | None = None,
    ) -> StreamFile | io.TextIOWrapper: ...
    def makefile(
        self,
        mode: str = "rb",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        timeout: float | None = None,
    ) -> StreamFile | io.TextIOWrapper:
        """A file object over this connection, as :meth:`socket.socket.makefile` returns.

        Binary modes (``"rb"``, the default; ``"wb"``; ``"rwb"``) give a
        :class:`StreamFile`, an :class:`io.BufferedIOBase` whose reads take from this
        connection's receive buffer first and whose writes are :meth:`sendall`, so
        file reads and the connection's own reads (``readline``, ``recv_until``...)
        can be mixed with no byte skipped, and what the file reads is gone from the
        connection. Text modes (``"r"``, ``"w"``, ``"rw"``) wrap that file in an
        :class:`io.TextIOWrapper`, which decodes ahead of what it returns (and holds
        written text until ``flush()``): do not mix its reads with the connection's.
        Unlike :meth:`socket.socket.makefile` the default mode is binary, and
        *buffering* is accepted for compatibility but changes nothing: the file
        keeps no bytes of its own (``0`` is refused with a text mode, as by
        :func:`open`). Closing the file leaves the connection open; closing the
        connection makes the file's calls raise :class:`~netkit.ConnectionClosed`.

        Args:
            mode: ``r`` and/or ``w``, plus ``b`` for a binary file.
            buffering: ignored (see above); an int or None.
            encoding: text modes only (default: :func:`locale.getpreferredencoding`).
            errors: text modes only, as for :func:`open`.
            newline: text modes only, as for :func:`open`.
            timeout: the deadline, in seconds, of each call made through the file;
                None: the connection's :attr:`timeout`.

        Returns:
            A :class:`StreamFile`, or an :class:`io.TextIOWrapper` for a text mode.

        Raises:
            TypeError: an argument of the wrong type.
            ValueError: a mode with other letters than ``r``, ``w``, ``b``; text
                arguments with a binary mode; a negative *timeout*.
            ConnectionClosed: the connection is closed.
        """
        reading, writing, text = stream.file_mode(mode, buffering, encoding, errors, newline)
        deadline = check_timeout("timeout", timeout)
        if self._closed:
            raise closed()
        binary = StreamFile(self, reading, writing, deadline)
        if not text:
            return binary
        wrapper = io.TextIOWrapper(binary, encoding, errors, newline)
        wrapper.mode = mode  # type: ignore[misc]
        return wrapper

    # -- writing ------------------------------------------------------------------------

    def sendall(
        self, data: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send all of *data*.

        Args:
            data: the bytes to send.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

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
        if timeout is None and self._stall_fast and type(data) is bytes:
            try:
                sent = self._sock.send(data, _MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise self._fail(exc, True) from exc
            if sent == len(data):
                return
            self._sendall(memoryview(data)[sent:], None)  # the rest, waiting as it must
            return
        buffer_size(data)
        self._sendall(data, self._deadline(timeout))

    def _sendall(self, data: bytes | bytearray | memoryview, deadline: float | None) -> None:
        sock = self._sock
        if deadline is None and self._send_timeout is None:
            self._call(lambda flags: sock.sendall(data), None, True)
            return
        # Piece by piece, so that a deadline (or send_timeout, which restarts whenever
        # a piece goes) is checked between pieces.
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

        Args:
            payload: the bytes to frame, at most 4 GiB - 1.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Raises:
            FrameTooLarge: the payload does not fit a 4-byte prefix.
            TypeError: *payload* is not bytes-like.
            NetkitTimeout: the deadline passed; an unknown prefix may have been sent.
            ConnectionClosed: the connection was lost, or closed by this process.
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
        ``os.sendfile`` on plain sockets, read-and-send on TLS), also with a
        ``send_timeout``. With one, the file is read in chunks and sent with the
        deadline applying to the whole transfer.

        Args:
            file: a file opened in binary mode.
            offset: where in the file to start.
            count: the most bytes to send; None for up to the end of the file.
            timeout: seconds for the whole transfer; None uses the connection's
                :attr:`timeout`.

        Returns:
            How many bytes were sent.

        Raises:
            NetkitTimeout: the deadline passed; an unknown part was sent.
            ConnectionClosed: the connection was lost, or closed by this process.
        """
        deadline = self._deadline(timeout)
        if deadline is None and self._send_timeout is None:
            sock = self._sock
            return self._call(lambda flags: sock.sendfile(file, offset, count), None, True)
        if deadline is None and self._poll_mode:
            sent = self._sendfile_stalling(file, offset, count)
            if sent is not None:
                return sent
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

    def _sendfile_stalling(self, file: BinaryIO, offset: int, count: int | None) -> int | None:
        """Zero-copy ``os.sendfile`` bounded by ``send_timeout``; None: not a regular file.

        The kernel enforces the stall (``SO_SNDTIMEO`` for the transfer): a blocking
        ``sendfile`` that makes no progress for that long fails with ``EAGAIN``, one that
        makes some returns what it sent and the next call starts a new wait. (CPython's
        ``socket.sendfile`` would wait for writability without limit on ``EAGAIN``.)
        """
        assert self._send_timeout is not None
        try:
            fileno = file.fileno()
            if not stat.S_ISREG(os.fstat(fileno).st_mode):
                return None
        except (AttributeError, OSError, ValueError):
            return None
        sock = self._sock
        seconds = self._send_timeout
        whole = int(seconds)
        micros = max(int((seconds - whole) * 1_000_000), 0 if whole else 1)
        total = 0
        try:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", whole, micros)
            )
            while count is None or total < count:
                block = _SENDFILE_BLOCK if count is None else min(_SENDFILE_BLOCK, count - total)
                try:
                    sent = os.sendfile(sock.fileno(), fileno, offset + total, block)
                except BlockingIOError:
                    raise self._timeout_error(_BY_STALL, True) from None
                except OSError as exc:
                    if total == 0 and exc.errno in (errno.EINVAL, errno.ENOSYS):
                        return None  # this file cannot be sent by sendfile(): read it
                    raise self._fail(exc, True) from exc
                if sent == 0:
                    break  # end of the file
                total += sent
        finally:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 0))
            if total:
                file.seek(offset + total)
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
        """Shut down one or both directions.

        Unlike :meth:`close`, the connection stays open: buffered bytes can still be
        read, and a call blocked in another thread is woken.

        Args:
            how: ``socket.SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``.

        Raises:
            ValueError: *how* is not one of the three constants.
            ConnectionClosed: the connection is gone or closed.
        """
        if how not in (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR):
            raise ValueError(f"how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how!r}")
        try:
            self._shutdown_socket(how)
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
        for peer in (False, True):
            try:
                self._address(peer)
            except (OSError, TypeError, ValueError):
                pass
        self._buffer.take_all()
        try:
            # Wakes a recv/send/poll blocked in another thread before the descriptor
            # goes away (close alone leaves it blocked). Data already queued is still
            # delivered before the FIN, as with close(). With SO_LINGER 0 the close is
            # meant to reset: then only the read side is shut, which sends nothing.
            how = socket.SHUT_RD if _resets_on_close(self._sock) else socket.SHUT_RDWR
            self._shutdown_socket(how)
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


class TcpConnection(StreamConnection):
    """A connected TCP stream (plain or :class:`ssl.SSLSocket`) with buffered reads.

    Takes ownership of *sock*: closing the connection closes the socket. Every
    blocking method takes ``timeout=`` (seconds for the whole call; ``None`` uses the
    connection's :attr:`timeout`, which starts as the timeout the socket had when it
    was wrapped, e.g. from ``SocketOptions(timeout=...)``, and usually means no limit;
    the process-wide :func:`socket.setdefaulttimeout` is ignored for every socket
    netkit makes itself, but a socket made by the caller took it when it was made).
    Three limits, set by servers, bound waits besides ``timeout=`` (each raises
    :class:`~netkit.NetkitTimeout` with its own message): *idle_timeout* ends a read
    that waits that many seconds without receiving a byte; *message_timeout* ends a
    read of a message (``readline``, ``recv_until``, ``recv_exactly``, ``recv_frame``,
    ``recv_all``; not ``recv``) still incomplete that many seconds after the read
    first had part of it, so a peer dripping bytes cannot hold it; *send_timeout*
    ends a send that waits that many seconds with the peer taking nothing (a peer
    that stopped reading). After a send timeout the stream is torn (an unknown
    prefix went), and servers close it with a reset.

    One thread may read while another writes on a plain connection, and
    :meth:`close` from another thread wakes a call blocked in this connection (it
    raises ``ConnectionClosed("connection is closed")``). TLS connections must not be
    read and written from two threads at the same time (OpenSSL's rule).
    """

    __slots__ = ()

    _KIND = "TcpConnection"
    _convert = staticmethod(endpoint)

    @property
    def local_address(self) -> Endpoint:
        """This end's address (still available after :meth:`close`)."""
        address: Endpoint = self._address(False)
        return address

    @property
    def remote_address(self) -> Endpoint:
        """The peer's address (still available after :meth:`close`)."""
        address: Endpoint = self._address(True)
        return address
