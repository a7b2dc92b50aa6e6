"""The waiting half of an asyncio stream connection: transport, protocol, deadlines.

:class:`AioStream` holds what every asyncio stream connection has (the transport, the
:class:`~netkit.aio._protocol.StreamProtocol` and its receive buffer, the properties,
closing) and the one place that waits: ``_wait`` for bytes, ``_drain`` for the
transport's buffer, and ``_read``, the loop that runs a read request of
:mod:`netkit._core.stream`. :class:`netkit.aio.TcpConnection` builds its API on it.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, overload

from netkit._core import stream
from netkit._core.checks import check_timeout
from netkit._core.deadline import deadline, idle_error, message_error, stalled_error
from netkit._core.oserrors import closed, lost, timed_out
from netkit._core.stream import failed
from netkit._sockets.sockopt import RawOptions
from netkit.aio._protocol import READ_LOW_WATER, StreamProtocol, expire
from netkit.proxy import ProxyHeader

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["AioStream", "TransportSocketLike"]


class TransportSocketLike(Protocol):
    """What a stream connection's ``socket`` returns: the socket an event loop lends out.

    Not a :class:`socket.socket`: asyncio gives an ``asyncio.trsock.TransportSocket`` and
    uvloop a ``uvloop.loop.PseudoSocket``, both views of the transport's socket that
    allow what cannot disturb the transport (its addresses, its descriptor, socket
    options) and refuse I/O and blocking mode changes. This protocol lists the part
    both have; a :class:`socket.socket` has it too. Send and receive through the
    connection, never through this object.
    """

    @property
    def family(self) -> int:
        """The address family (``AF_INET``, ``AF_INET6`` or ``AF_UNIX``)."""
        ...

    @property
    def type(self) -> int:
        """The socket type (``SOCK_STREAM``)."""
        ...

    @property
    def proto(self) -> int:
        """The protocol number."""
        ...

    def fileno(self) -> int:
        """The file descriptor (-1 once asyncio has closed the socket).

        Returns:
            The descriptor, or -1.
        """
        ...

    def dup(self) -> socket.socket:
        """A new, independent :class:`socket.socket` on a duplicate of the descriptor.

        Returns:
            The new socket, which the caller closes.
        """
        ...

    def get_inheritable(self) -> bool:
        """Whether child processes inherit the descriptor.

        Returns:
            True if they do.
        """
        ...

    def getsockname(self) -> Any:
        """The local address, as :meth:`socket.socket.getsockname` gives it.

        Returns:
            The address in the family's own form.
        """
        ...

    def getpeername(self) -> Any:
        """The remote address, as :meth:`socket.socket.getpeername` gives it.

        Returns:
            The address in the family's own form.
        """
        ...

    @overload
    def getsockopt(self, level: int, optname: int) -> int: ...
    @overload
    def getsockopt(self, level: int, optname: int, buflen: int) -> bytes: ...
    def getsockopt(self, level: int, optname: int, buflen: int = ...) -> int | bytes:
        """A socket option's value, as :meth:`socket.socket.getsockopt` gives it.

        Args:
            level: the protocol level (``SOL_SOCKET``, ``IPPROTO_TCP``, ...).
            optname: the option (``SO_RCVBUF``, ...).
            buflen: read the value as up to *buflen* bytes instead of an int.

        Returns:
            The value, as an int or (with *buflen*) bytes.
        """
        ...

    @overload
    def setsockopt(self, level: int, optname: int, value: int | ReadableBuffer) -> None: ...
    @overload
    def setsockopt(self, level: int, optname: int, value: None, optlen: int) -> None: ...
    def setsockopt(
        self, level: int, optname: int, value: int | ReadableBuffer | None, optlen: int = ...
    ) -> None:
        """Set a socket option, as :meth:`socket.socket.setsockopt` does.

        Args:
            level: the protocol level (``SOL_SOCKET``, ``IPPROTO_TCP``, ...).
            optname: the option.
            value: an int or a bytes-like value; None with *optlen*.
            optlen: the length of a NULL option value (with ``value=None``).
        """
        ...

    def gettimeout(self) -> float | None:
        """The socket's timeout (0.0: event loop sockets are non-blocking).

        Returns:
            The timeout in seconds.
        """
        ...


class AioStream(RawOptions):
    """An asyncio stream connection's state and waiting; see :class:`netkit.aio.TcpConnection`.

    A subclass converts the transport's ``sockname``/``peername`` with ``_convert``
    (an ``Endpoint``, a Unix path) and types the address properties.
    """

    #: The socket address of the transport's extra info, as the class reports it.
    _convert: ClassVar[Any] = staticmethod(lambda sockaddr: sockaddr)

    __slots__ = (
        "_closed",
        "_default_timeout",
        "_eof_sent",
        "_idle_expired",
        "_idle_timeout",
        "_local_address",
        "_loop",
        "_message_timeout",
        "_protocol",
        "_proxy_header",
        "_remote_address",
        "_send_stalled",
        "_send_timeout",
        "_sockaddrs",
        "_transport",
        "_untimed",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: StreamProtocol,
        *,
        idle_timeout: float | None = None,
        default_timeout: float | None = None,
        send_timeout: float | None = None,
        message_timeout: float | None = None,
    ) -> None:
        """Not called directly: use ``from_socket()`` or a client's ``connect()``.

        Args:
            transport: the connection's transport.
            protocol: netkit's stream protocol on it.
            idle_timeout: seconds a read may wait with nothing received before it
                raises :class:`~netkit.NetkitTimeout`, or None; writes ignore it.
            default_timeout: the deadline of a call made with ``timeout=None``.
            send_timeout: seconds a send may wait with the peer taking nothing before it
                raises :class:`~netkit.NetkitTimeout` (the stream is then torn: an
                unknown prefix went), or None.
            message_timeout: seconds a read of one message (a line, a frame,
                ``recv_exactly``...) may take from its first byte, or None.

        Raises:
            TypeError: *protocol* is not netkit's, or a timeout is not a number.
            ValueError: a timeout is negative.
        """
        if not isinstance(protocol, StreamProtocol):
            raise TypeError(f"use {type(self).__name__}.from_socket() or a client's connect()")
        # Used by calls made with timeout=None (from SocketOptions.timeout, as in sync).
        # (None, the usual value, needs no check: one call less per connection.)
        if default_timeout is not None:
            default_timeout = check_timeout("default_timeout", default_timeout)
        self._default_timeout = default_timeout
        self._transport = transport
        self._protocol = protocol
        self._loop = protocol.loop
        # (None, the usual value, needs no check: calls saved per connection.)
        if idle_timeout is not None:
            idle_timeout = check_timeout("idle_timeout", idle_timeout)
        if send_timeout is not None:
            send_timeout = check_timeout("send_timeout", send_timeout)
        if message_timeout is not None:
            message_timeout = check_timeout("message_timeout", message_timeout)
        self._idle_timeout = idle_timeout
        self._send_timeout = send_timeout
        self._message_timeout = message_timeout
        self._send_stalled = False  # a send failed on send_timeout: the stream is torn
        self._update_untimed()
        self._closed = False
        self._idle_expired = False
        self._eof_sent = False  # shutdown_write() was called: sends fail as in sync
        self._proxy_header: ProxyHeader | None = None
        # Kept as the loop gives them; converted on first use (the same values, but a
        # connection whose addresses are never asked for does not pay for it).
        # (A server may add accept()'s peer address as a third item: see _adopt_peer.)
        self._sockaddrs: tuple[Any, ...] | None = (
            transport.get_extra_info("sockname"),
            transport.get_extra_info("peername"),
        )
        self._local_address: Any = None
        self._remote_address: Any = None

    def _addresses(self) -> None:
        sockaddrs = self._sockaddrs
        if sockaddrs is not None:
            self._sockaddrs = None
            self._local_address = self._convert(sockaddrs[0])
            remote = self._convert(sockaddrs[1])
            if remote is None and len(sockaddrs) > 2:
                remote = self._convert(sockaddrs[2])
            self._remote_address = remote

    def _adopt_peer(self, peer: Any) -> None:
        # accept()'s address for the peer, used when the transport found none (the
        # peer had gone): kept raw and converted with the others on first use, so a
        # connection whose addresses are never asked for still pays nothing.
        sockaddrs = self._sockaddrs
        if sockaddrs is not None:
            self._sockaddrs = (sockaddrs[0], sockaddrs[1], peer)
        elif self._remote_address is None:
            self._remote_address = self._convert(peer)

    @property
    def _local(self) -> Any:
        """Our address as the class reports it (an ``Endpoint``, a path, or None)."""
        if self._sockaddrs is not None:
            self._addresses()
        return self._local_address

    @_local.setter
    def _local(self, value: Any) -> None:
        self._addresses()
        self._local_address = value

    @property
    def _remote(self) -> Any:
        """The peer's address as the class reports it."""
        if self._sockaddrs is not None:
            self._addresses()
        return self._remote_address

    @_remote.setter
    def _remote(self, value: Any) -> None:
        self._addresses()
        self._remote_address = value

    def _update_untimed(self) -> None:
        # No default deadline and no idle limit: a read without timeout= needs no timer.
        self._untimed = self._default_timeout is None and self._idle_timeout is None

    @property
    def closed(self) -> bool:
        """True once :meth:`close`/:meth:`aclose` was called or the transport went away."""
        return self._closed or self._protocol.lost

    @property
    def proxy_header(self) -> ProxyHeader | None:
        """The PROXY protocol header this connection opened with, or None.

        Set by a server with ``proxy_protocol=`` for a peer in a trusted network (its
        TLVs, the proxy's TLS details...); the addresses are also in
        :attr:`remote_address` and :attr:`local_address` when they are of this
        connection's kind.
        """
        return self._proxy_header

    @property
    def socket(self) -> TransportSocketLike | None:
        """The underlying socket as the event loop lends it out (escape hatch).

        A :class:`TransportSocketLike`, not a :class:`socket.socket`: addresses, the
        descriptor and socket options, but no I/O and no blocking mode changes. None
        when the transport has no socket: a memory pair's, or a TLS connection's once
        closed.
        """
        sock: TransportSocketLike | None = self._transport.get_extra_info("socket")
        return sock

    @property
    def transport(self) -> asyncio.Transport:
        """The asyncio transport (escape hatch)."""
        self._protocol.flush()  # what sendall() gathered goes before anything written here
        return self._transport

    @property
    def timeout(self) -> float | None:
        """The default deadline, in seconds, of each call made with ``timeout=None``.

        ``None`` means no limit. Setting it checks the value as ``timeout=`` does. It
        starts as the timeout of a socket handed in; :func:`socket.setdefaulttimeout`
        never reaches the sockets netkit makes itself (they start with None).
        """
        return self._default_timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._default_timeout = check_timeout("timeout", value)
        self._update_untimed()

    @property
    def idle_timeout(self) -> float | None:
        """Seconds a read may wait with no byte arriving (None: no limit)."""
        return self._idle_timeout

    @property
    def send_timeout(self) -> float | None:
        """Seconds a send may wait with the peer taking nothing (None: no limit)."""
        return self._send_timeout

    @property
    def message_timeout(self) -> float | None:
        """Seconds a read may take from the first byte of its message (None: no limit)."""
        return self._message_timeout

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

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed).

        Returns:
            The descriptor, or -1.
        """
        sock = self._transport.get_extra_info("socket")
        if sock is None or self.closed:
            return -1
        fd: int = sock.fileno()
        return fd

    def _option_socket(self) -> Any:
        if self.closed:
            raise closed()
        return self._transport.get_extra_info("socket")

    def _option_closed(self) -> BaseException:
        return closed()

    def _deadline(self, timeout: float | None) -> float | None:
        if timeout is None and self._default_timeout is None:
            return None
        return deadline(self._loop.time(), timeout, self._default_timeout)

    def _check_open(self) -> None:
        if self._closed:
            raise closed()

    async def _wait(
        self,
        want: int,
        deadline: float | None,
        direct: int = 0,
        message_at: float | None = None,
    ) -> bytes | None:
        """Wait until *want* bytes are buffered, EOF, or the deadline/idle limit passes.

        With *direct* (from recv), a chunk of up to that many bytes arriving while the
        buffer is empty is returned as is instead of being buffered. *message_at* is
        when the message being read must be complete (``message_timeout``).
        """
        protocol = self._protocol
        if protocol.read_waiter is not None:
            raise RuntimeError("another coroutine is already reading from this connection")
        loop = self._loop
        when = deadline
        idle = message = False
        if self._idle_timeout is not None:
            want = len(protocol.buffer) + 1  # any byte counts as activity
            idle_at = loop.time() + self._idle_timeout
            if when is None or idle_at < when:
                when, idle = idle_at, True
        if message_at is not None and (when is None or message_at < when):
            when, idle, message = message_at, False, True
        if protocol.reading_paused:
            protocol.resume()
        if protocol.gathered:
            protocol.flush()  # about to wait: what was gathered goes now
        waiter: asyncio.Future[bool | bytes] = loop.create_future()
        protocol.read_waiter = waiter
        protocol.want = want
        protocol.direct = direct
        timer = None if when is None else loop.call_at(when, expire, waiter)
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
                assert self._idle_timeout is not None
                raise idle_error(self._idle_timeout)
            if message:
                assert self._message_timeout is not None
                raise message_error(self._message_timeout)
            raise timed_out(False)
        if self._closed:
            raise closed()  # woken by our own close(), not by the peer
        return arrived if type(arrived) is bytes else None

    def _after_read(self) -> None:
        protocol = self._protocol
        # (An on-demand protocol stays paused: the next read that waits resumes it.)
        if (
            protocol.reading_paused
            and len(protocol.buffer) <= READ_LOW_WATER
            and not protocol.on_demand
        ):
            protocol.resume()

    async def _read(self, request: stream.Read, timeout: float | None) -> bytes:
        """Wait until *request* finds a whole message in the buffer, and return it.

        The one read loop behind every framed read (the sync face runs the same
        requests from :mod:`netkit._core.stream`); at the end of the stream the
        request decides (``at_eof``), after a lost connection the core's ``failed``.
        """
        protocol = self._protocol
        buffer = protocol.buffer
        deadline = self._deadline(timeout)
        message_at: float | None = None  # message_timeout's clock: from the first byte
        while True:
            data = request.attempt(buffer)
            if data is not None:
                self._after_read()
                return data
            if protocol.eof:
                if protocol.error is not None:
                    raise failed(protocol.error, buffer) from protocol.error
                return request.at_eof(buffer)
            want = request.want(buffer)
            if self._message_timeout is not None:
                if message_at is None and buffer:
                    message_at = self._loop.time() + self._message_timeout
                if message_at is None:
                    want = 1  # wake at the first byte, which starts the clock
            await self._wait(want, deadline, message_at=message_at)

    def _check_writable(self) -> None:
        self._check_open()
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing() or self._eof_sent:
            error = protocol.error or BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
            raise lost(error) from protocol.error

    def _send_limit(self, deadline: float | None) -> tuple[float | None, bool]:
        """When a send that waits now must give up, and whether that is ``send_timeout``."""
        if self._send_timeout is None:
            return deadline, False
        stall = self._loop.time() + self._send_timeout  # restarts whenever the peer reads
        if deadline is None or stall < deadline:
            return stall, True
        return deadline, False

    def _stalled(self) -> BaseException:
        """The error of a send that waited ``send_timeout``; the stream is torn."""
        assert self._send_timeout is not None
        self._send_stalled = True
        return stalled_error(self._send_timeout)

    async def _drain(self, deadline: float | None) -> None:
        protocol = self._protocol
        loop = self._loop
        while protocol.write_paused:
            if protocol.lost:
                self._check_writable()
            waiter: asyncio.Future[bool] = loop.create_future()
            protocol.drain_waiters.append(waiter)
            when, stall = self._send_limit(deadline)
            timer = None if when is None else loop.call_at(when, expire, waiter)
            try:
                drained = await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                if waiter in protocol.drain_waiters:
                    protocol.drain_waiters.remove(waiter)
            if not drained:
                raise self._stalled() if stall else timed_out(True)
        if protocol.lost and protocol.error is not None:
            self._check_writable()

    def close(self) -> None:
        """Start closing (queued data is still sent); idempotent. See :meth:`aclose`.

        A read waiting in another task is woken and raises ``ConnectionClosed``.
        """
        self._closed = True
        protocol = self._protocol
        if protocol.gathered:
            protocol.flush()
        self._transport.close()
        protocol.wake_reader()

    def abort(self) -> None:
        """Close at once, dropping queued data (the peer may see a reset)."""
        self._closed = True
        self._protocol.gathered.clear()  # dropped, as what the transport still holds
        self._protocol.gathered_size = 0
        self._transport.abort()
        self._protocol.wake_reader()

    def _close_unqueued(self) -> bool:
        # For a server closing a connection its handler returned from: with nothing
        # queued and no TLS shutdown due, close() leaves nothing to flush, so there is
        # nothing to wait for (the loop's next turn releases the socket): True then.
        protocol = self._protocol
        if protocol.gathered or protocol.tls or self._transport.get_write_buffer_size():
            return False
        self.close()
        return True

    async def _aclose_unless_stalled(self) -> None:
        """Close, flushing for as long as the peer keeps taking data; wait for the
        transport to go.

        The ``send_timeout`` rule applied to what a server's handler left queued when it
        returned: a slow reader gets all of it however long that takes (as a sync
        handler's ``sendall`` would have delivered it), and a peer that takes nothing
        for ``send_timeout`` seconds is cut (aborted) as a stalled send is. With
        ``send_timeout=None`` the flush has no limit, as such a send has none.
        """
        self.close()
        if self._protocol.lost:
            return
        stall = self._send_timeout
        await self._until_lost(
            None if stall is None else _FlushStall(self._loop, self._transport, stall)
        )

    async def _until_lost(self, limit: asyncio.TimerHandle | _FlushStall | None) -> None:
        """Wait until the closing transport is gone (aborting it if cancelled); then
        cancel *limit*, what would have aborted it had the flush taken too long."""
        protocol = self._protocol
        # A waiter of our own: cancelling it must not disturb other aclose() calls.
        waiter: asyncio.Future[None] = self._loop.create_future()
        protocol.close_waiters.append(waiter)
        try:
            await waiter  # connection_lost; after an abort by the limit too
        except BaseException:
            self._transport.abort()
            if waiter in protocol.close_waiters:
                protocol.close_waiters.remove(waiter)
            raise
        finally:
            if limit is not None:
                limit.cancel()

    async def aclose(self, *, timeout: float | None = 5.0) -> None:
        """Close, flushing queued data, and wait until the transport is gone.

        If the queued data cannot be flushed within *timeout* seconds (the peer does not
        read), or this coroutine is cancelled, the connection is aborted instead, so
        ``aclose`` always leaves no transport behind. Idempotent.

        Args:
            timeout: seconds to wait for the flush before aborting; None for no limit.

        Raises:
            TypeError: *timeout* is not a number or None.
            ValueError: *timeout* is negative or NaN.
        """
        protocol = self._protocol
        if protocol.gathered:
            protocol.flush()
        transport = self._transport
        # Nothing queued and no TLS shutdown to wait for: the transport goes at once, so
        # no timer is needed to bound the flush.
        flushed = not protocol.tls and not transport.get_write_buffer_size()
        self.close()
        if protocol.lost:
            return
        timeout = check_timeout("timeout", timeout)
        if flushed:
            timeout = None
        # A plain timer that aborts: what wait_for(shield(...)) did, for a fraction of
        # its cost.
        await self._until_lost(
            None if timeout is None else self._loop.call_later(timeout, transport.abort)
        )


class _FlushStall:
    """Aborts a closing transport once its write buffer stopped shrinking for
    *seconds*: the ``send_timeout`` rule (the peer took nothing), for a flush.

    An empty buffer with the transport still there is TLS closing: everything went
    down to the TLS layer's own transport, which still sends it and waits for the
    peer's close_notify; that gets one more period (a TLS transport's buffer size does
    not show that last part, so progress there cannot be seen), then is aborted.
    """

    __slots__ = ("_check_at", "_loop", "_queued", "_seconds", "_transport")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, seconds: float
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._seconds = seconds
        self._queued = transport.get_write_buffer_size()
        self._check_at = loop.call_later(seconds, self._check)

    def _check(self) -> None:
        left = self._transport.get_write_buffer_size()
        if 0 < left < self._queued:  # the peer took some: another period
            self._queued = left
            self._check_at = self._loop.call_later(self._seconds, self._check)
        else:
            self._transport.abort()

    def cancel(self) -> None:
        self._check_at.cancel()
