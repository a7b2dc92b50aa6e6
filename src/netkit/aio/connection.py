"""asyncio :class:`TcpConnection`: a transport, a protocol and the core's stream reader.

:class:`StreamConnection` holds every stream method; :class:`TcpConnection` (here) and
:class:`netkit.aio.UnixConnection` add their family's addresses and extras.

The engine is :class:`netkit.aio._protocol.StreamProtocol`, which feeds received chunks
into a :class:`netkit.framing.ReceiveBuffer` and wakes one waiting reader. Every read
method runs a read request of :mod:`netkit._core.stream` ("ask the buffer; if it says
``None``, wait for more bytes"), exactly as the sync :class:`netkit.tcp.TcpConnection`
does, so both faces raise the same errors with the same messages.

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
import errno
import os
import socket
import ssl
from typing import Any, BinaryIO, TypeVar

from netkit._core import stream
from netkit._core.checks import buffer_size, check_size, check_timeout
from netkit._core.oserrors import closed, lost, stream_error
from netkit._core.sockaddr import check_stream_socket, endpoint_or_none
from netkit.addr import Endpoint
from netkit.aio._protocol import (
    READ_HIGH_WATER,
    WRITE_CHUNK,
    WRITE_HIGH_WATER,
    StreamProtocol,
)
from netkit.aio._stream import AioStream
from netkit.errors import ConnectionClosed
from netkit.framing import DEFAULT_MAX_FRAME, DEFAULT_MAX_LINE, DEFAULT_MAX_READ, encode_frame
from netkit.tls import handshake_timeout

__all__ = ["READ_HIGH_WATER", "WRITE_HIGH_WATER", "StreamConnection", "TcpConnection"]

_S = TypeVar("_S", bound="StreamConnection")


class StreamConnection(AioStream):
    """Every method of an asyncio stream connection, whatever its family (TCP, Unix).

    The common base of :class:`TcpConnection` and :class:`netkit.aio.UnixConnection`,
    for code (and type hints) that works with either; the twin of the sync
    :class:`netkit.tcp.connection.StreamConnection`. It is not made directly.
    """

    __slots__ = ()

    async def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
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
        if self._closed:
            self._check_open()
        protocol = self._protocol
        pending = protocol.pending  # the buffer's bytearray: a C-level emptiness test
        if not pending:
            if (type(max_bytes) is not int or max_bytes < 1) and check_size(
                "max_bytes", max_bytes
            ) == 0:
                return b""
            if protocol.eof:
                if timeout is not None:
                    check_timeout("timeout", timeout)
                if protocol.error is not None:
                    raise lost(protocol.error) from protocol.error
                return b""
            if (
                timeout is None
                and self._untimed
                and protocol.read_waiter is None
                and not protocol.reading_paused
            ):
                # _wait() inlined for the commonest call (no deadline, so no timer):
                # one coroutine less per message, which a request/response server feels.
                if protocol.gathered:
                    protocol.flush()  # about to wait: what was gathered goes now
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
                    if len(arrived) == max_bytes:
                        protocol.streaming = True
                    elif protocol.streaming:
                        protocol.stop_streaming()
                    return arrived
                if self._closed:
                    raise closed()
            else:
                chunk = await self._wait(1, self._deadline(timeout), max_bytes)
                if chunk is not None:
                    if len(chunk) == max_bytes:
                        protocol.streaming = True
                    elif protocol.streaming:
                        protocol.stop_streaming()
                    return chunk
            if not pending:
                if protocol.error is not None:
                    raise lost(protocol.error) from protocol.error
                return b""
        else:
            if type(max_bytes) is not int or max_bytes < 0:
                check_size("max_bytes", max_bytes)
            if timeout is not None:
                check_timeout("timeout", timeout)  # as when the call has to wait
        data = protocol.buffer.take(max_bytes)
        if len(data) == max_bytes:
            protocol.streaming = True
        elif protocol.streaming:
            protocol.stop_streaming()
        if protocol.reading_paused:
            self._after_read()
        return data

    async def recv_into(
        self, buffer: bytearray | memoryview, nbytes: int = 0, *, timeout: float | None = None
    ) -> int:
        """Receive up to *nbytes* (default: the buffer's size) into *buffer*; 0 at EOF.

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
        with memoryview(buffer) as raw, raw.cast("B") as view:
            if nbytes < 0 or nbytes > len(view):
                raise ValueError(f"nbytes must be in 0..{len(view)}, not {nbytes}")
            data = await self.recv(nbytes or len(view), timeout=timeout)
            view[: len(data)] = data
            return len(data)

    async def recv_exactly(self, n: int, *, timeout: float | None = None) -> bytes:
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
        self._check_open()
        return await self._read(stream.exactly(n, timeout), timeout)

    async def recv_until(
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
        self._check_open()
        return await self._read(stream.until(delimiter, max_bytes, timeout), timeout)

    async def readline(
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
        self._check_open()
        return await self._read(stream.line(max_bytes, timeout), timeout)

    async def recv_all(
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
        self._check_open()
        return await self._read(stream.to_eof(max_bytes, timeout), timeout)

    async def recv_frame(
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
        self._check_open()
        return await self._read(stream.frame(max_size, timeout), timeout)

    def __aiter__(self: _S) -> _S:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    async def sendall(
        self, data: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send all of *data*, waiting while the peer is slower than we are.

        Returns once everything is handed to the transport and its buffer is below the
        high-water mark (so memory stays bounded however slow the reader). While the
        connection streams (the last :meth:`recv` filled its *max_bytes*), small writes
        are gathered and handed over together when this task next waits for bytes, or
        on the loop's next turn: one system call for the pieces of one receive.

        Args:
            data: the bytes to send.
            timeout: seconds for the whole call; None uses the connection's :attr:`timeout`.

        Raises:
            TypeError: *data* is not bytes-like.
            NetkitTimeout: the deadline passed; an unknown prefix may have been sent.
            ConnectionClosed: the connection was lost, or closed by this process.
        """
        if self._closed or self._protocol.lost or self._eof_sent:
            self._check_writable()
        if timeout is not None:
            check_timeout("timeout", timeout)  # even when no wait turns out to be needed
        transport = self._transport
        protocol = self._protocol
        size = len(data) if type(data) is bytes else buffer_size(data)
        if protocol.streaming:
            if protocol.may_gather and protocol.gathered_size + size <= WRITE_HIGH_WATER:
                # The caller copies a stream (see StreamProtocol.gather): hold the piece
                # back, bounded by the write high-water mark, for one send of them all.
                protocol.gather(data if type(data) is bytes else bytes(data), size)
                return
            protocol.flush()
        if size <= WRITE_CHUNK:
            transport.write(data)
            if protocol.write_paused:
                await self._drain(self._deadline(timeout))
            return
        deadline = self._deadline(timeout)
        view = memoryview(data).cast("B")
        copy = type(data) is not bytes  # the caller may reuse a mutable buffer
        for start in range(0, size, WRITE_CHUNK):
            chunk = view[start : start + WRITE_CHUNK]
            self._check_writable()
            transport.write(bytes(chunk) if copy else chunk)
            if protocol.write_paused:
                await self._drain(deadline)

    async def send_frame(
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
        loop = self._loop
        if offset:
            file.seek(offset)
        total = 0
        while count is None or total < count:
            want = WRITE_CHUNK if count is None else min(WRITE_CHUNK, count - total)
            chunk = file.read(want)
            if not chunk:
                break
            left = None if deadline is None else max(0.0, deadline - loop.time())
            await self.sendall(chunk, timeout=left)
            total += len(chunk)
        return total

    def shutdown_write(self) -> None:
        """Send EOF after what is queued (half-close); reading still works.

        Raises:
            NotImplementedError: on TLS (asyncio's TLS transport cannot half-close).
            ConnectionClosed: the connection is closed.
        """
        self._check_open()
        self._protocol.flush()  # gathered writes go before the EOF
        transport = self._transport
        if not transport.can_write_eof():
            raise NotImplementedError(
                "shutdown_write is not supported on TLS connections; use close()"
            )
        if self._protocol.lost:
            # The socket is gone: what shutdown(SHUT_WR) says on an ended connection.
            raise lost(OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN)))
        if not transport.is_closing() and not self._eof_sent:
            self._eof_sent = True
            try:
                transport.write_eof()
            except OSError as exc:  # the connection ended already: the sync face's error
                mapped = stream_error(exc)
                if mapped is None:
                    raise
                raise mapped from exc

    def shutdown(self, how: int) -> None:
        """Shut down one or both directions.

        ``SHUT_WR`` sends EOF after what is queued; ``SHUT_RD`` makes a waiting read see
        the end of the stream. The connection stays open until :meth:`close`.

        Args:
            how: ``socket.SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``.

        Raises:
            ValueError: *how* is not one of the three constants.
            NotImplementedError: ``SHUT_WR``/``SHUT_RDWR`` on TLS.
            ConnectionClosed: the connection is closed.
        """
        if how not in (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR):
            raise ValueError(f"how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how!r}")
        self._check_open()
        if how != socket.SHUT_RD:
            self.shutdown_write()
        if how != socket.SHUT_WR:
            sock = self._transport.get_extra_info("socket")
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RD)
            except OSError as exc:
                mapped = stream_error(exc)
                if mapped is not None:
                    raise mapped from exc
                raise
            # The loop may not report EOF for a read-side shutdown: tell the reader.
            self._protocol.eof_received()

    async def __aenter__(self: _S) -> _S:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class TcpConnection(StreamConnection):
    """A connected TCP stream (plain or TLS) for asyncio; the twin of the sync class.

    Build one with :meth:`netkit.aio.TcpClient.connect`, receive one in a
    :class:`netkit.aio.TcpServer` handler, or wrap a connected socket with
    :meth:`from_socket`. Every method that waits takes ``timeout=``, a deadline in
    seconds for the whole call (``NetkitTimeout`` when it passes; ``None`` uses the
    connection's :attr:`timeout`). A read that is cancelled or times out consumes
    nothing: the bytes received so far stay buffered for the next read. Only one
    coroutine may read at a time. Errors and their messages are the sync face's
    (both come from :mod:`netkit._core`).
    """

    __slots__ = ()

    _convert = staticmethod(endpoint_or_none)

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
        send_timeout: float | None = None,
        message_timeout: float | None = None,
    ) -> TcpConnection:
        """Take ownership of a connected stream socket (TLS handshake with *tls*).

        A timeout set on *sock* becomes the default deadline of each call, as in sync.
        *idle_timeout*, *send_timeout* and *message_timeout* are the sync
        :class:`netkit.TcpConnection`'s limits, with the same errors.

        Args:
            sock: a connected ``AF_INET`` or ``AF_INET6`` ``SOCK_STREAM`` socket.
            idle_timeout: seconds a read may wait with nothing received, or None.
            tls: an ``ssl.SSLContext`` to run a TLS handshake with, or None.
            server_side: make the TLS handshake the server's.
            server_hostname: the name for SNI and the certificate check (client side).
            timeout: seconds for the TLS handshake; None for no limit.
            send_timeout: seconds a send may wait with the peer taking nothing, or None.
            message_timeout: seconds a read of one message may take from its first byte,
                or None.

        Returns:
            The connection, attached to the running loop.

        Raises:
            TypeError: *sock* is not a socket or is ``AF_UNIX`` (use
                :class:`netkit.aio.UnixConnection`), or *tls* is not an
                ``ssl.SSLContext``.
            ValueError: *sock* is not a stream socket, or a timeout is negative.
            NetkitTimeout: the TLS handshake took longer than *timeout*.
            ssl.SSLError: the TLS handshake failed (the socket is closed).
        """
        check_stream_socket(sock, cls.__name__, "TcpConnection")
        check_timeout("idle_timeout", idle_timeout)
        check_timeout("send_timeout", send_timeout)
        check_timeout("message_timeout", message_timeout)
        return await cls._take(
            sock, idle_timeout=idle_timeout, tls=tls, server_side=server_side,
            server_hostname=server_hostname, timeout=timeout, send_timeout=send_timeout,
            message_timeout=message_timeout,
        )  # fmt: skip

    @classmethod
    async def _take(
        cls,
        sock: socket.socket,
        *,
        idle_timeout: float | None = None,
        tls: ssl.SSLContext | None = None,
        server_side: bool = False,
        server_hostname: str | None = None,
        timeout: float | None = None,
        send_timeout: float | None = None,
        message_timeout: float | None = None,
    ) -> TcpConnection:
        """:meth:`from_socket` for a socket already known to be a TCP stream socket."""
        # A non-blocking socket reports 0.0: that means "no timeout" here, not "now".
        default_timeout = sock.gettimeout() or None
        transport, protocol = await _wrap(
            sock, tls=tls, server_side=server_side, server_hostname=server_hostname,
            timeout=timeout,
        )  # fmt: skip
        return cls(
            transport,
            protocol,
            idle_timeout=idle_timeout,
            default_timeout=default_timeout,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
        )

    @classmethod
    async def _accepted(
        cls,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop,
        idle_timeout: float | None,
        send_timeout: float | None,
        message_timeout: float | None,
    ) -> TcpConnection:
        """A server's accepted socket, without TLS: the shortest way to a connection.

        (The loop makes the socket non-blocking itself; the peer's address is only
        needed for a TLS handshake's error.)
        """
        default_timeout = sock.gettimeout() or None
        protocol = StreamProtocol(loop)
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock)
        except BaseException:
            sock.close()
            raise
        return cls(
            transport,
            protocol,
            idle_timeout=idle_timeout,
            default_timeout=default_timeout,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
        )

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<aio.TcpConnection {self._local} -> {self._remote} {state}>"

    @property
    def local_address(self) -> Endpoint:
        """Our end of the connection."""
        if self._local is None:
            raise ConnectionClosed("connection has no local address")
        address: Endpoint = self._local
        return address

    @property
    def remote_address(self) -> Endpoint:
        """The peer's end of the connection."""
        if self._remote is None:
            raise ConnectionClosed("connection has no remote address")
        address: Endpoint = self._remote
        return address


async def _wrap(
    sock: socket.socket,
    *,
    tls: ssl.SSLContext | None,
    server_side: bool,
    server_hostname: str | None,
    timeout: float | None,
) -> tuple[asyncio.Transport, StreamProtocol]:
    """Attach a connected socket to the running loop through a :class:`StreamProtocol`."""
    if tls is not None and not isinstance(tls, ssl.SSLContext):
        raise TypeError(f"tls must be an ssl.SSLContext or None, not {type(tls).__name__}")
    loop = asyncio.get_running_loop()
    peer = None
    if tls is not None:  # only a handshake's timeout message names the peer
        try:
            peer = sock.getpeername()
        except OSError:
            pass  # gone already: the handshake will say so
    sock.setblocking(False)
    protocol = StreamProtocol(loop)
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
        raise handshake_timeout(endpoint_or_none(peer) or "the peer", timeout) from None
    except BaseException:
        sock.close()
        raise
    return transport, protocol
