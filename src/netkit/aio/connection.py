"""asyncio :class:`TcpConnection`: a transport, a protocol and the shared ReceiveBuffer.

The engine is a small :class:`asyncio.BufferedProtocol` that feeds every received chunk
into a :class:`netkit.framing.ReceiveBuffer` and wakes one waiting reader through a
future (a ``recv()`` waiting on an empty buffer gets the chunk handed over directly).
The engine was chosen by ``bench/bench_aio.py``: a protocol with a waiter future costs
less per message than asyncio streams, and lets reading pause above a high-water mark.
Every read method is "ask the buffer (``try_*``); if it says ``None``, wait for more
bytes", exactly as in the sync :class:`netkit.tcp.TcpConnection`: the framing and parsing
live in :mod:`netkit.framing` only.

Flow control works in both directions. Reading: when nobody is reading and more than
:data:`READ_HIGH_WATER` bytes are buffered, the protocol pauses the transport, so a fast
sender cannot make us buffer without bound; a reader that needs more bytes resumes it.
Writing: :meth:`TcpConnection.sendall` writes in chunks and waits for the transport's
buffer to drain below its low-water mark, so a slow reader blocks the writer.

Cancellation: a read only consumes bytes from the buffer when it completes, so a read
that is cancelled (or times out) leaves everything received so far in the buffer for the
next read. A cancelled or timed-out ``sendall`` may have sent a prefix of its data.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any, BinaryIO, cast

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

__all__ = ["READ_HIGH_WATER", "WRITE_HIGH_WATER", "TcpConnection"]

#: Buffered-but-unread bytes above which reading from the socket is paused.
READ_HIGH_WATER = 1024 * 1024
#: Reading resumes once a read leaves no more than this many bytes buffered.
READ_LOW_WATER = 256 * 1024
#: Transport write-buffer limits: ``sendall`` waits while more than the high mark is queued.
WRITE_HIGH_WATER = 256 * 1024
WRITE_LOW_WATER = 64 * 1024
# Size of the per-thread receive scratch area (asyncio's own read size).
_SCRATCH_SIZE = 256 * 1024
# Larger writes are cut into pieces of this size, each one waiting for the drain, so a
# single huge sendall never copies its whole payload into the transport's buffer.
_WRITE_CHUNK = 256 * 1024


def _expire(fut: asyncio.Future[bool] | asyncio.Future[bool | bytes]) -> None:
    if not fut.done():
        fut.set_result(False)


def deadline_of(loop: asyncio.AbstractEventLoop, timeout: float | None) -> float | None:
    """The ``loop.time()`` at which an operation started now with *timeout* expires."""
    timeout = check_timeout("timeout", timeout)
    return None if timeout is None else loop.time() + timeout


def endpoint_of(address: Any) -> Endpoint | None:
    """Turn a socket address tuple into an :class:`Endpoint` (None if there is none)."""
    if isinstance(address, tuple) and len(address) in (2, 4):
        return Endpoint.from_sockaddr(address)
    return None


_scratch = threading.local()


def _scratch_view() -> memoryview:
    """This thread's receive scratch area (one per thread, so one per event loop)."""
    view: memoryview | None = getattr(_scratch, "view", None)
    if view is None:
        view = _scratch.view = memoryview(bytearray(_SCRATCH_SIZE))
    return view


class _StreamProtocol(asyncio.BufferedProtocol):
    """Feeds a ReceiveBuffer and wakes the (single) waiting reader and the writers.

    A buffered protocol: the transport receives straight into a scratch area shared
    by every connection of the thread (``get_buffer``, ``recv_into``, ``buffer_updated``
    run back to back, so sharing is safe). The plain ``Protocol`` interface makes the
    loop allocate a fresh 256 KiB ``bytes`` per receive and shrink it, which glibc
    serves with mmap/mremap/munmap system calls once the object outlives the callback,
    as it does whenever a coroutine, not the callback, consumes the data.
    """

    __slots__ = (
        "buffer",
        "closed",
        "direct",
        "drain_waiters",
        "eof",
        "error",
        "loop",
        "lost",
        "read_waiter",
        "reading_paused",
        "scratch",
        "transport",
        "want",
        "write_paused",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buffer = ReceiveBuffer()
        self.transport: asyncio.Transport | None = None
        self.eof = False  # no more bytes will arrive
        self.lost = False  # connection_lost was called
        self.error: BaseException | None = None  # why the connection was lost, if not cleanly
        self.read_waiter: asyncio.Future[bool | bytes] | None = None
        self.want = 1  # wake the reader once this many bytes are buffered
        # While a recv() waits on an empty buffer: it takes a chunk of up to this many
        # bytes as is. Any chunk that arrives while it waits completes its waiter, so
        # the buffer is still empty whenever this is non-zero and the waiter pending.
        self.direct = 0
        self.reading_paused = False
        self.write_paused = False
        self.drain_waiters: list[asyncio.Future[bool]] = []
        self.closed: asyncio.Future[None] = loop.create_future()
        self.scratch = _scratch_view()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.scratch

    def buffer_updated(self, nbytes: int) -> None:
        waiter = self.read_waiter
        if waiter is not None and 0 < nbytes <= self.direct and not waiter.done():
            # The hot path of a request/response server: a recv() is waiting (so the
            # buffer is empty, see `direct`) and the chunk fits: hand it over as is.
            waiter.set_result(bytes(self.scratch[:nbytes]))
            return
        self.data_received(self.scratch[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        buffer = self.buffer
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            if 0 < len(data) <= self.direct:
                # A recv() is waiting (and `direct` is only set while the buffer is
                # empty): hand the chunk over directly, one copy instead of two.
                waiter.set_result(bytes(data))
                return
            buffer.feed(data)
            if len(buffer) >= self.want:
                waiter.set_result(True)
            return
        buffer.feed(data)
        if waiter is None and len(buffer) > READ_HIGH_WATER and not self.reading_paused:
            self.pause()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return True  # keep our side open: the peer only half-closed

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.lost = True
        self.error = exc
        self._wake_reader()
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(True)
        self.drain_waiters.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(True)
        self.drain_waiters.clear()

    def put_back(self, waiter: asyncio.Future[bool | bytes]) -> None:
        """The reader was cancelled: keep a chunk handed to *waiter* it never took."""
        if waiter.done() and not waiter.cancelled():
            chunk = waiter.result()
            if type(chunk) is bytes:
                # Handed over but the reader never ran: put it back in front of anything
                # that arrived since, so nothing is lost.
                rest = self.buffer.take_all()
                self.buffer.feed(chunk)
                self.buffer.feed(rest)

    def _wake_reader(self) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def pause(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.reading_paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        self.reading_paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


class TcpConnection:
    """A connected TCP stream (plain or TLS) for asyncio; the twin of the sync class.

    Build one with :meth:`netkit.aio.TcpClient.connect`, receive one in a
    :class:`netkit.aio.TcpServer` handler, or wrap a connected socket with
    :meth:`from_socket`. Every method that waits takes ``timeout=``, a deadline in
    seconds for the whole call (``NetkitTimeout`` when it passes). A read that is
    cancelled or times out consumes nothing: the bytes received so far stay buffered
    for the next read. Only one coroutine may read at a time.
    """

    __slots__ = (
        "_closed",
        "_default_timeout",
        "_idle_expired",
        "_idle_timeout",
        "_local",
        "_loop",
        "_protocol",
        "_remote",
        "_transport",
        "_untimed",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _StreamProtocol,
        *,
        idle_timeout: float | None = None,
        default_timeout: float | None = None,
    ) -> None:
        if not isinstance(protocol, _StreamProtocol):
            raise TypeError("use TcpConnection.from_socket() or TcpClient.connect()")
        # Used by calls made with timeout=None (from SocketOptions.timeout, as in sync).
        self._default_timeout = check_timeout("default_timeout", default_timeout)
        self._transport = transport
        self._protocol = protocol
        self._loop = protocol.loop
        self._idle_timeout = check_timeout("idle_timeout", idle_timeout)
        # No default deadline and no idle limit: a read without timeout= needs no timer.
        self._untimed = self._default_timeout is None and self._idle_timeout is None
        self._closed = False
        self._idle_expired = False
        self._local = endpoint_of(transport.get_extra_info("sockname"))
        self._remote = endpoint_of(transport.get_extra_info("peername"))

    @classmethod
    async def from_socket(
        cls,
        sock: socket.socket,
        *,
        idle_timeout: float | None = None,
        tls: ssl.SSLContext | None = None,
        server_side: bool = False,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> TcpConnection:
        """Take ownership of a connected stream socket (TLS handshake with *tls*).

        ``server_side=True`` makes the TLS handshake the server's; *timeout* bounds it.
        A timeout set on *sock* becomes the default deadline of each call, as in sync.
        """
        # A non-blocking socket reports 0.0: that means "no timeout" here, not "now".
        default_timeout = (sock.gettimeout() or None) if isinstance(sock, socket.socket) else None
        transport, protocol = await _wrap(
            sock, tls=tls, server_side=server_side, server_hostname=server_hostname,
            timeout=timeout,
        )  # fmt: skip
        return cls(transport, protocol, idle_timeout=idle_timeout, default_timeout=default_timeout)

    # -- properties --------------------------------------------------------------------

    @property
    def local_address(self) -> Endpoint:
        """Our end of the connection."""
        if self._local is None:
            raise ConnectionClosed("connection has no local address")
        return self._local

    @property
    def remote_address(self) -> Endpoint:
        """The peer's end of the connection."""
        if self._remote is None:
            raise ConnectionClosed("connection has no remote address")
        return self._remote

    @property
    def closed(self) -> bool:
        """True once :meth:`close`/:meth:`aclose` was called or the transport went away."""
        return self._closed or self._protocol.closed.done()

    @property
    def socket(self) -> Any:
        """The underlying socket as the event loop exposes it (escape hatch)."""
        return self._transport.get_extra_info("socket")

    @property
    def transport(self) -> asyncio.Transport:
        """The asyncio transport (escape hatch)."""
        return self._transport

    @property
    def idle_timeout(self) -> float | None:
        """Seconds a read may wait with no byte arriving (None: no limit)."""
        return self._idle_timeout

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned by a read."""
        return len(self._protocol.buffer)

    @property
    def is_tls(self) -> bool:
        """True for a TLS connection."""
        return self._transport.get_extra_info("sslcontext") is not None

    @property
    def idle_expired(self) -> bool:
        """True once a read failed because of ``idle_timeout``."""
        return self._idle_expired

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<aio.TcpConnection {self._local} -> {self._remote} {state}>"

    # -- waiting -----------------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> float | None:
        if timeout is None:
            timeout = self._default_timeout
            if timeout is None:
                return None
        return deadline_of(self._loop, timeout)

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionClosed("connection is closed")

    def _lost(self, message: str, partial: bytes = b"") -> ConnectionClosed:
        error = self._protocol.error
        if error is not None:
            message = f"{message} (connection lost: {error})"
        exc = ConnectionClosed(message, partial=partial)
        exc.__cause__ = error
        return exc

    async def _wait(self, want: int, deadline: float | None, direct: int = 0) -> bytes | None:
        """Wait until *want* bytes are buffered, EOF, or the deadline/idle limit passes.

        With *direct* (from recv), a chunk of up to that many bytes arriving while the
        buffer is empty is returned as is instead of being buffered.
        """
        protocol = self._protocol
        if protocol.read_waiter is not None:
            raise RuntimeError("another coroutine is already reading from this connection")
        loop = self._loop
        when = deadline
        idle = False
        if self._idle_timeout is not None:
            want = len(protocol.buffer) + 1  # any byte counts as activity
            idle_at = loop.time() + self._idle_timeout
            if when is None or idle_at < when:
                when, idle = idle_at, True
        if protocol.reading_paused:
            protocol.resume()
        waiter: asyncio.Future[bool | bytes] = loop.create_future()
        protocol.read_waiter = waiter
        protocol.want = want
        protocol.direct = direct
        timer = None if when is None else loop.call_at(when, _expire, waiter)
        try:
            arrived = await waiter
        except asyncio.CancelledError:
            protocol.put_back(waiter)
            raise
        finally:
            protocol.read_waiter = None
            protocol.direct = 0
            if timer is not None:
                timer.cancel()
        if arrived is False:
            if idle:
                self._idle_expired = True
                raise NetkitTimeout(f"idle for {self._idle_timeout} s with nothing received")
            raise NetkitTimeout("read timed out (received bytes stay buffered)")
        return arrived if type(arrived) is bytes else None

    def _after_read(self) -> None:
        protocol = self._protocol
        if protocol.reading_paused and len(protocol.buffer) <= READ_LOW_WATER:
            protocol.resume()

    # -- reading -----------------------------------------------------------------------

    async def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Return up to *max_bytes* bytes as soon as any are available; ``b""`` at EOF."""
        if self._closed:
            self._check_open()
        protocol = self._protocol
        buffer = protocol.buffer
        if not buffer:
            if (type(max_bytes) is not int or max_bytes < 1) and check_size(
                "max_bytes", max_bytes
            ) == 0:
                return b""
            if protocol.eof:
                if protocol.error is not None:
                    raise self._lost("recv failed")
                return b""
            if (
                timeout is None
                and self._untimed
                and protocol.read_waiter is None
                and not protocol.reading_paused
            ):
                # _wait() inlined for the commonest call (no deadline, so no timer):
                # one coroutine less per message, which a request/response server feels.
                waiter: asyncio.Future[bool | bytes] = self._loop.create_future()
                protocol.read_waiter = waiter
                protocol.want = 1
                protocol.direct = max_bytes
                try:
                    arrived = await waiter
                except asyncio.CancelledError:
                    protocol.put_back(waiter)
                    raise
                finally:
                    protocol.read_waiter = None
                    protocol.direct = 0
                if type(arrived) is bytes:
                    return arrived
            else:
                chunk = await self._wait(1, self._deadline(timeout), max_bytes)
                if chunk is not None:
                    return chunk
            if not buffer:
                if protocol.error is not None:
                    raise self._lost("recv failed")
                return b""
        else:
            if type(max_bytes) is not int or max_bytes < 0:
                check_size("max_bytes", max_bytes)
            if timeout is not None:
                check_timeout("timeout", timeout)  # as when the call has to wait
        data = buffer.take(max_bytes)
        if protocol.reading_paused:
            self._after_read()
        return data

    async def recv_exactly(self, n: int, *, timeout: float | None = None) -> bytes:
        """Return exactly *n* bytes; ``ConnectionClosed`` (with ``.partial``) at early EOF."""
        self._check_open()
        check_size("n", n)
        return await self._read(
            lambda buffer: buffer.try_exactly(n),
            lambda buffer: n,
            f"connection closed after {{got}} of {n} bytes",
            timeout,
        )

    async def recv_until(
        self,
        delimiter: bytes,
        *,
        max_bytes: int = DEFAULT_MAX_LINE,
        timeout: float | None = None,
    ) -> bytes:
        """Return the bytes before *delimiter* (which is consumed, not returned).

        ``FrameTooLarge`` once *max_bytes* bytes arrived with no delimiter (nothing is
        consumed); ``ConnectionClosed`` with ``.partial`` at EOF before the delimiter.
        """
        self._check_open()
        delimiter = check_delimiter(delimiter)
        check_size("max_bytes", max_bytes)
        return await self._until(delimiter, max_bytes, False, timeout)

    async def readline(
        self, *, max_bytes: int = DEFAULT_MAX_LINE, timeout: float | None = None
    ) -> bytes:
        """Return one line with its ``\\n``; ``b""`` at a clean EOF.

        EOF in the middle of a line raises ``ConnectionClosed`` with the partial line.
        """
        self._check_open()
        check_size("max_bytes", max_bytes)
        protocol = self._protocol
        if protocol.eof and not protocol.buffer and protocol.error is None:
            return b""
        return await self._until(b"\n", max_bytes, True, timeout)

    async def _until(
        self, delimiter: bytes, max_bytes: int, keep: bool, timeout: float | None
    ) -> bytes:
        return await self._read(
            lambda buffer: buffer.try_until(delimiter, max_bytes=max_bytes, keep_delimiter=keep),
            lambda buffer: len(buffer) + 1,
            f"connection closed before {describe(delimiter)}",
            timeout,
            clean_eof_ok=keep,  # readline returns b"" at a clean EOF
        )

    async def _read(
        self,
        attempt: Callable[[ReceiveBuffer], bytes | None],
        want: Callable[[ReceiveBuffer], int],
        closed: str,
        timeout: float | None,
        *,
        clean_eof_ok: bool = False,
    ) -> bytes:
        """Wait until *attempt* finds a whole message in the buffer, and return it.

        The one read loop behind every framed read (the sync twin is
        ``TcpConnection._fill_until``). *want* says how many buffered bytes are worth
        waking up for; at EOF, ConnectionClosed carries what was buffered, its message
        *closed* with ``{got}`` replaced by the number of those bytes.
        """
        protocol = self._protocol
        buffer = protocol.buffer
        deadline = self._deadline(timeout)
        while True:
            data = attempt(buffer)
            if data is not None:
                self._after_read()
                return data
            if protocol.eof:
                if clean_eof_ok and not buffer and protocol.error is None:
                    return b""
                message = closed.replace("{got}", str(len(buffer)))
                raise self._lost(message, partial=buffer.take_all())
            await self._wait(want(buffer), deadline)

    async def recv_all(
        self, *, max_bytes: int = DEFAULT_MAX_READ, timeout: float | None = None
    ) -> bytes:
        """Read to EOF and return everything; ``FrameTooLarge`` past *max_bytes*."""
        self._check_open()
        check_size("max_bytes", max_bytes)
        protocol = self._protocol
        buffer = protocol.buffer
        deadline = self._deadline(timeout)
        while True:
            if len(buffer) > max_bytes:
                raise FrameTooLarge(
                    f"stream is longer than the limit of {max_bytes} bytes",
                    limit=max_bytes,
                    size=len(buffer),
                )
            if protocol.eof:
                if protocol.error is not None:
                    raise self._lost("recv_all failed", partial=buffer.take_all())
                return buffer.take_all()
            await self._wait(max_bytes + 1, deadline)

    async def recv_frame(
        self, *, max_size: int = DEFAULT_MAX_FRAME, timeout: float | None = None
    ) -> bytes:
        """Return one frame's payload (4-byte big-endian length prefix).

        A prefix announcing more than *max_size* raises ``FrameTooLarge`` before the
        payload is waited for.
        """
        self._check_open()
        check_size("max_size", max_size)
        return await self._read(
            lambda buffer: buffer.try_frame(max_size=max_size),
            lambda buffer: len(buffer) + buffer.frame_bytes_needed(),
            "connection closed in a frame after {got} bytes",
            timeout,
        )

    def __aiter__(self) -> TcpConnection:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    # -- writing -----------------------------------------------------------------------

    def _check_writable(self) -> None:
        self._check_open()
        protocol = self._protocol
        if protocol.closed.done() or self._transport.is_closing():
            raise self._lost("cannot send: connection is closed")

    async def sendall(
        self, data: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send all of *data*, waiting while the peer is slower than we are.

        Returns once everything is handed to the transport and its buffer is below the
        high-water mark (so memory stays bounded however slow the reader).
        """
        if self._closed or self._protocol.lost:
            self._check_writable()
        if timeout is not None:
            check_timeout("timeout", timeout)  # even when no wait turns out to be needed
        transport = self._transport
        protocol = self._protocol
        size = len(data) if type(data) is bytes else buffer_size(data)
        if size <= _WRITE_CHUNK:
            transport.write(data)
            if protocol.write_paused:
                await self._drain(self._deadline(timeout), size, size)
            return
        deadline = self._deadline(timeout)
        view = memoryview(data).cast("B")
        copy = type(data) is not bytes  # the caller may reuse a mutable buffer
        for start in range(0, size, _WRITE_CHUNK):
            chunk = view[start : start + _WRITE_CHUNK]
            self._check_writable()
            transport.write(bytes(chunk) if copy else chunk)
            if protocol.write_paused:
                await self._drain(deadline, start + len(chunk), size)

    async def _drain(self, deadline: float | None, written: int, size: int) -> None:
        protocol = self._protocol
        loop = self._loop
        while protocol.write_paused:
            if protocol.closed.done():
                raise self._lost("connection lost while sending")
            waiter: asyncio.Future[bool] = loop.create_future()
            protocol.drain_waiters.append(waiter)
            timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
            try:
                drained = await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                if waiter in protocol.drain_waiters:
                    protocol.drain_waiters.remove(waiter)
            if not drained:
                raise NetkitTimeout(
                    f"sendall timed out: peer is not reading ({written} of {size} bytes queued)"
                )
        if protocol.closed.done() and protocol.error is not None:
            raise self._lost("connection lost while sending")

    async def send_frame(
        self, payload: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send *payload* with a 4-byte big-endian length prefix."""
        await self.sendall(encode_frame(payload), timeout=timeout)

    async def sendfile(
        self,
        file: BinaryIO,
        offset: int = 0,
        count: int | None = None,
        *,
        timeout: float | None = None,
    ) -> int:
        """Send a file opened in binary mode; return the number of bytes sent.

        Read in 256 KiB pieces and sent with :meth:`sendall` (same backpressure and
        deadline for the whole transfer); works on every loop and on TLS.
        """
        deadline = self._deadline(timeout)
        loop = self._loop
        if offset:
            file.seek(offset)
        total = 0
        while count is None or total < count:
            want = _WRITE_CHUNK if count is None else min(_WRITE_CHUNK, count - total)
            chunk = file.read(want)
            if not chunk:
                break
            left = None if deadline is None else max(0.0, deadline - loop.time())
            await self.sendall(chunk, timeout=left)
            total += len(chunk)
        return total

    def shutdown_write(self) -> None:
        """Send EOF after what is queued (half-close); reading still works.

        asyncio's TLS transport cannot half-close: that raises ``NotImplementedError``.
        """
        self._check_open()
        transport = self._transport
        if not transport.can_write_eof():
            raise NotImplementedError("shutdown_write is not supported on this transport (TLS)")
        if not transport.is_closing():
            transport.write_eof()

    # -- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Start closing (queued data is still sent); idempotent. See :meth:`aclose`."""
        self._closed = True
        self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping queued data (the peer may see a reset)."""
        self._closed = True
        self._transport.abort()

    async def aclose(self, *, timeout: float | None = 5.0) -> None:
        """Close, flushing queued data, and wait until the transport is gone.

        If the queued data cannot be flushed within *timeout* seconds (the peer does not
        read), or this coroutine is cancelled, the connection is aborted instead, so
        ``aclose`` always leaves no transport behind. Idempotent.
        """
        self.close()
        closed = self._protocol.closed
        if closed.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(closed), check_timeout("timeout", timeout))
        except asyncio.TimeoutError:
            self._transport.abort()
            await asyncio.shield(closed)
        except BaseException:
            self._transport.abort()
            raise

    async def __aenter__(self) -> TcpConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _wrap(
    sock: socket.socket,
    *,
    tls: ssl.SSLContext | None,
    server_side: bool,
    server_hostname: str | None,
    timeout: float | None,
) -> tuple[asyncio.Transport, _StreamProtocol]:
    """Attach a connected socket to the running loop through a :class:`_StreamProtocol`."""
    if tls is not None and not isinstance(tls, ssl.SSLContext):
        raise TypeError(f"tls must be an ssl.SSLContext or None, not {type(tls).__name__}")
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    protocol = _StreamProtocol(loop)
    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs["ssl"] = tls
        timeout = check_timeout("timeout", timeout)
        if timeout is not None:
            # The loop's own handshake limit fires a little after ours, which wins.
            kwargs["ssl_handshake_timeout"] = max(timeout, 0.001) + 1.0
        if not server_side:
            kwargs["server_hostname"] = server_hostname
    if server_side:
        coro = loop.connect_accepted_socket(lambda: protocol, sock, **kwargs)
    else:
        coro = loop.create_connection(lambda: protocol, sock=sock, **kwargs)
    try:
        if tls is None:
            transport, _ = await coro
        else:
            transport, _ = await asyncio.wait_for(coro, check_timeout("timeout", timeout))
    except asyncio.TimeoutError:
        sock.close()
        raise NetkitTimeout(f"TLS handshake timed out after {timeout} s") from None
    except BaseException:
        sock.close()
        raise
    return transport, protocol
