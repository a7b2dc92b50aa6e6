"""The waiting engine of a sync stream connection: one socket, one receive buffer, deadlines.

:class:`SocketStream` owns a connected stream socket and a
:class:`~netkit.framing.ReceiveBuffer`, the properties every stream connection has, and
the one place that waits: :meth:`SocketStream._call` runs a socket call once the socket is
ready, by a deadline. The read and write methods (:class:`netkit.tcp.TcpConnection`) are
written on top of it; every decision they need (read requests, messages, the OS error
table, deadlines) comes from :mod:`netkit._core`.

Two engines implement the wait:

* plain sockets (on systems with ``poll`` and ``MSG_DONTWAIT``) stay in blocking mode
  for their whole life; a call with a deadline polls the descriptor for the time left
  and then reads or writes with ``MSG_DONTWAIT``. The socket's own timeout is never
  touched, so one thread may read with a deadline while another writes.
* TLS sockets buffer decrypted bytes inside OpenSSL, so polling the descriptor would
  be wrong; a call with a deadline sets ``settimeout(time left)`` before each system
  call instead (and the next call without a deadline puts the socket back into
  blocking mode).

A socket-like object that is not a socket (the in-memory one under
:func:`netkit.testing.memory_pair`) comes in through :meth:`SocketStream._attach` and
runs on the second engine's shape, with the subclass deciding how a deadline reaches it.

A call without a deadline (and no ``idle_timeout``) is a plain blocking socket call
with no extra system call.
"""

from __future__ import annotations

import errno
import math
import select
import socket
import ssl
from collections.abc import Callable
from time import monotonic
from typing import Any, TypeVar

from netkit._core import stream
from netkit._core.checks import check_timeout
from netkit._core.deadline import deadline as _deadline_at
from netkit._core.deadline import idle_error, message_error, stalled_error
from netkit._core.oserrors import closed, stream_error, timed_out
from netkit._core.sockaddr import check_stream_socket, not_stream
from netkit._sockets.sockopt import RawOptions
from netkit.errors import ConnectionClosed, NetkitTimeout
from netkit.framing import ReceiveBuffer
from netkit.proxy import ProxyHeader

__all__ = ["CHUNK", "DIRECT_MIN", "SocketStream"]

_T = TypeVar("_T")

#: Bytes asked of the kernel per receive when filling the buffer.
CHUNK = 65536
#: An exact read (or frame) that still needs more than this is received piece by piece
#: and joined, instead of growing the receive buffer (fewer copies).
DIRECT_MIN = 65536
# The most one receive asks for in direct reads (the kernel fills what it has).
_BIG_READ = 1 << 20

_MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
_HAVE_POLL = hasattr(select, "poll")
_POLLIN: int = getattr(select, "POLLIN", 1)
_POLLOUT: int = getattr(select, "POLLOUT", 4)
_MAX_POLL_MS = 2**31 - 1  # poll() takes a C int

# Which limit ended a wait (see _timeout_error): the call's deadline, or one of the
# connection's limits.
_BY_DEADLINE = 0
_BY_IDLE = 1
_BY_MESSAGE = 2
_BY_STALL = 3


def _error(exc: BaseException, write: bool = False) -> BaseException:
    """What to raise for *exc* from a socket call: the core's table, or *exc* itself."""
    mapped = stream_error(exc, write=write)
    return exc if mapped is None else mapped


class SocketStream(RawOptions):
    """A connected stream socket with a receive buffer and the deadline engine.

    The base of every sync stream connection; see :class:`netkit.tcp.TcpConnection`
    for the parameters. A subclass names the family it takes in ``_KIND`` (for
    :func:`netkit._core.sockaddr.check_stream_socket`) and converts addresses with
    ``_convert`` (an ``Endpoint``, a Unix path).
    """

    #: Which sockets this class wraps: "TcpConnection" or "UnixConnection" (None: any).
    _KIND: str | None = None

    __slots__ = (
        "__weakref__",
        "_buffer",
        "_closed",
        "_default_timeout",
        "_idle_timeout",
        "_local",
        "_message_since",
        "_message_timeout",
        "_pending",
        "_poll_mode",
        "_proxy_header",
        "_read_fast",
        "_remote",
        "_send_stalled",
        "_send_timeout",
        "_sock",
        "_stall_fast",
        "_timeout_set",
        "_tls",
        "_write_fast",
    )

    def __init__(
        self,
        sock: socket.socket,
        *,
        idle_timeout: float | None = None,
        send_timeout: float | None = None,
        message_timeout: float | None = None,
    ) -> None:
        """Wrap a connected stream socket, taking ownership of it.

        Args:
            sock: a connected ``SOCK_STREAM`` socket of the class's family
                (``AF_INET`` or ``AF_INET6`` for a :class:`~netkit.TcpConnection`),
                plain or an ``ssl.SSLSocket``.
            idle_timeout: seconds a read may wait with nothing received before it
                raises :class:`~netkit.NetkitTimeout`, or None; writes ignore it.
            send_timeout: seconds a send may wait with the peer taking nothing before it
                raises :class:`~netkit.NetkitTimeout` (the stream is then torn: an
                unknown prefix went), or None.
            message_timeout: seconds a read of one message (a line, a frame,
                ``recv_exactly``...) may take from its first byte, or None.

        Raises:
            TypeError: *sock* is not a socket, or of the wrong family (an ``AF_UNIX``
                socket: use :class:`netkit.unix.UnixConnection`, whose addresses are
                paths), or a timeout is not a number.
            ValueError: *sock* is not a stream socket, or a timeout is negative.
        """
        check_stream_socket(sock, type(self).__name__, self._KIND)
        self._attach(
            sock,
            idle_timeout,
            pollable=True,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
        )

    def _attach(
        self,
        sock: socket.socket,
        idle_timeout: float | None,
        *,
        pollable: bool,
        send_timeout: float | None = None,
        message_timeout: float | None = None,
    ) -> None:
        """Take ownership of *sock*: everything ``__init__`` does after its type check.

        The one way in for a socket-like object that is not a ``socket.socket`` (the
        in-memory socket of :func:`netkit.testing.memory_pair`): it comes with
        ``pollable=False``, since it has no descriptor to poll, so calls with a deadline
        go through :meth:`_timeout_call`. It must implement the socket calls this engine
        and :class:`~netkit.tcp.TcpConnection` make and raise what a socket raises; the
        subclass overrides :meth:`_shutdown_socket` (and may override ``_timeout_call``).
        """
        if sock.type != socket.SOCK_STREAM:
            raise not_stream(type(self).__name__, sock.type)
        self._idle_timeout = check_timeout("idle_timeout", idle_timeout)
        self._send_timeout = check_timeout("send_timeout", send_timeout)
        self._message_timeout = check_timeout("message_timeout", message_timeout)
        # When the read in progress first had part of its message (message_timeout).
        self._message_since: float | None = None
        self._send_stalled = False  # a send failed on send_timeout: the stream is torn
        current = sock.gettimeout()
        # A socket timeout set before wrapping becomes the default deadline per call;
        # the socket itself goes to blocking mode, which the fast paths rely on.
        self._default_timeout = current if current else None
        if current is not None:
            sock.settimeout(None)
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._poll_mode = pollable and bool(_MSG_DONTWAIT) and _HAVE_POLL and not self._tls
        self._buffer = ReceiveBuffer()
        # The buffer's bytearray itself (ReceiveBuffer only ever changes it in place):
        # `not self._pending` is a C-level emptiness test for the fast paths, where
        # `not self._buffer` would be a Python-level __bool__ call.
        self._pending: bytearray = self._buffer._buf
        self._closed = False
        self._timeout_set = False
        # Addresses, converted by _convert on first use and kept for after the close.
        self._local: Any = None
        self._remote: Any = None
        self._proxy_header: ProxyHeader | None = None
        self._read_fast = False
        self._write_fast = False
        self._stall_fast = False
        self._update_fast_flags()

    def _update_fast_flags(self) -> None:
        # "Fast" = a call without timeout= can go straight to the blocking socket call.
        blocking = not self._timeout_set and self._default_timeout is None
        self._write_fast = blocking and self._send_timeout is None
        # With send_timeout alone (servers), a send that fits the socket buffer is one
        # MSG_DONTWAIT send; only one that would block goes to the waiting engine.
        self._stall_fast = blocking and self._send_timeout is not None and self._poll_mode
        self._read_fast = blocking and self._idle_timeout is None and self._message_timeout is None

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
        (TypeError, ValueError) and never touches the socket's own mode. It starts as
        the timeout of a socket handed in; :func:`socket.setdefaulttimeout` never
        reaches the sockets netkit makes itself (they start with None).
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
    def send_timeout(self) -> float | None:
        """Seconds a send may wait with the peer taking nothing, or None."""
        return self._send_timeout

    @property
    def message_timeout(self) -> float | None:
        """Seconds a read may take from the first byte of its message, or None."""
        return self._message_timeout

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
    def buffered(self) -> int:
        """Bytes received from the socket and not yet returned by a read method."""
        return len(self._buffer)

    @staticmethod
    def _convert(sockaddr: Any, /) -> Any:
        """A socket address from the kernel as the class reports it (subclasses)."""
        return sockaddr

    def _adopt_peer(self, peer: Any) -> None:
        # accept()'s address for the peer (a server's connection): kept, so a peer that
        # reset at once still has one where getpeername() would fail with ENOTCONN.
        if self._remote is None:
            self._remote = self._convert(peer)

    def _address(self, peer: bool) -> Any:
        """This end's (or with *peer* the peer's) address, converted once and kept."""
        if peer:
            if self._remote is None:
                self._remote = self._convert(self._sock.getpeername())
            return self._remote
        if self._local is None:
            self._local = self._convert(self._sock.getsockname())
        return self._local

    @staticmethod
    def _text(address: Any) -> str:
        """An address for ``repr`` (subclasses)."""
        return str(address)

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed).

        Returns:
            The descriptor, or -1.
        """
        return self._sock.fileno()

    def _option_socket(self) -> Any:
        if self._closed:
            raise closed()
        return self._sock

    def _option_closed(self) -> BaseException:
        return closed()

    def _shutdown_socket(self, how: int) -> None:
        # socket.socket's own shutdown, also for an SSLSocket, whose override would
        # drop the TLS state that buffered reads still need.
        socket.socket.shutdown(self._sock, how)

    def __repr__(self) -> str:
        kind = "TLS " if self._tls else ""
        if self._closed:
            return f"<{type(self).__name__} {kind}closed>"
        try:
            where = f"{self._text(self._address(False))} -> {self._text(self._address(True))}"
        except (OSError, TypeError, ValueError):
            where = f"fd={self._sock.fileno()}"
        return f"<{type(self).__name__} {kind}{where}>"

    # -- the waiting engine -------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> float | None:
        if timeout is None and self._default_timeout is None:
            return None
        return _deadline_at(monotonic(), timeout, self._default_timeout)

    def _read_deadline(self, timeout: float | None) -> float | None:
        """:meth:`_deadline` for a read: the ``message_timeout`` clock of the previous
        read is dropped (a read of a message starts its own at its first byte)."""
        self._message_since = None
        return self._deadline(timeout)

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
        when the deadline (or a limit of the connection: for reads the idle and message
        timeouts, for sends the send timeout) passes first, and the core's error for
        anything that means the connection is gone or closed.
        """
        limit, by = deadline, _BY_DEADLINE
        try:
            if write:
                if self._send_timeout is not None:
                    stall = monotonic() + self._send_timeout  # restarts on every send
                    if limit is None or stall < limit:
                        limit, by = stall, _BY_STALL
            else:
                if self._idle_timeout is not None:
                    idle = monotonic() + self._idle_timeout
                    if limit is None or idle < limit:
                        limit, by = idle, _BY_IDLE
                if self._message_timeout is not None:
                    since = self._message_since
                    if since is None and self._pending:  # part of the message is here
                        since = self._message_since = monotonic()
                    if since is not None:
                        whole = since + self._message_timeout
                        if limit is None or whole < limit:
                            limit, by = whole, _BY_MESSAGE
            if limit is None:
                if self._timeout_set:
                    self._restore_blocking()
                return call(0)
            if self._poll_mode:
                return self._poll_call(call, limit, by, write)
            return self._timeout_call(call, limit, by, write)
        except NetkitTimeout:
            raise  # a TimeoutError too, but ours: not a lost connection
        except OSError as exc:
            raise self._fail(exc, write) from exc

    def _timeout_call(self, call: Callable[[int], _T], limit: float, by: int, write: bool) -> _T:
        """The engine without poll: ``call(0)`` with the socket's timeout as the deadline.

        For TLS (or where poll/MSG_DONTWAIT are missing). A deadline already passed
        still gets one non-blocking try.
        """
        self._sock.settimeout(max(limit - monotonic(), 0.0))
        if not self._timeout_set:
            self._timeout_set = True
            self._update_fast_flags()
        try:
            return call(0)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise
            raise self._timeout_error(by, write) from None
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise self._timeout_error(by, write) from None

    def _poll_call(self, call: Callable[[int], _T], limit: float, by: int, write: bool) -> _T:
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
                    raise self._timeout_error(by, write) from None

    def _timeout_error(self, by: int, write: bool) -> NetkitTimeout:
        if by == _BY_IDLE:
            assert self._idle_timeout is not None
            return idle_error(self._idle_timeout)
        if by == _BY_MESSAGE:
            assert self._message_timeout is not None
            return message_error(self._message_timeout)
        if by == _BY_STALL:
            assert self._send_timeout is not None
            self._send_stalled = True
            return stalled_error(self._send_timeout)
        return timed_out(write)

    def _recv_chunk(self, size: int, deadline: float | None) -> bytes:
        sock = self._sock
        data = self._call(lambda flags: sock.recv(size, flags), deadline, False)
        if not data and self._closed:
            raise closed()  # woken by close() from another thread, not by the peer
        return data

    def _fill(self, request: stream.Read, deadline: float | None) -> bytes:
        """Receive until *request* completes; the end of the stream is its ``at_eof``.

        A frame whose payload is still large once its prefix is known is read directly
        (:meth:`_read_direct`) instead of through the buffer.
        """
        buffer = self._buffer
        frame = isinstance(request, stream.Frame)
        try:
            while True:
                if frame and len(buffer) >= stream.FRAME_PREFIX:
                    need = buffer.frame_bytes_needed()
                    if need > DIRECT_MIN:
                        parts = self._read_direct(len(buffer) + need, request, deadline)
                        parts[0] = parts[0][stream.FRAME_PREFIX :]
                        return b"".join(parts)
                data = self._recv_chunk(CHUNK, deadline)
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
            data = self._recv_chunk(CHUNK, deadline)
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
                if got and self._message_since is None and self._message_timeout is not None:
                    self._message_since = monotonic()  # the buffer is empty: say it here
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
