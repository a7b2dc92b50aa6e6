"""asyncio Unix stream connections: :class:`UnixConnection` and :class:`UnixClient`.

The twins of :mod:`netkit.unix.connection`: every stream method of
:class:`~netkit.aio.TcpConnection` (the same :class:`StreamConnection`), paths as
addresses, ``peer_credentials``, and file descriptors passed with the bytes, with the
sync face's rules and errors (both come from :mod:`netkit._core.unix`).

Passing descriptors under a transport. A transport reads whatever arrives (a plain
read makes the kernel close the descriptors attached to the bytes) and queues what we
write. So a Unix connection's transport reads only while a reader waits, as the sync
face does (:class:`~netkit.aio._protocol.OnDemandProtocol`), and is attached to the
loop only once a read has to wait (:class:`~netkit.aio._lazy.LazyTransport`; a write
that has to wait for room waits without it), because a new transport may read once on
its own: uvloop starts reading after ``connection_made`` whatever the protocol asked,
and asyncio 3.11 adds its reader even when the protocol paused it.
:meth:`UnixConnection.recv_fds` (once netkit's buffer is empty, so nothing is
reordered) waits for the socket to be readable through a duplicate of its descriptor
registered with ``loop.add_reader`` (the loop refuses a reader on a transport's own
descriptor) and calls ``recvmsg`` on that duplicate; :meth:`UnixConnection.send_fds`
waits until everything queued is handed to the kernel, then calls ``sendmsg`` on a
duplicate, so the descriptors travel with the right bytes. Only public asyncio APIs,
no thread; both work on uvloop.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import threading
import time
from typing import Any, TypeVar

from netkit._core.checks import buffer_size, check_timeout
from netkit._core.deadline import idle_error
from netkit._core.oserrors import closed, lost, stream_error, timed_out
from netkit._core.sockaddr import check_stream_socket
from netkit._core.unix import (
    PeerCredentials,
    check_fds,
    check_recv_fds,
    connect_failed,
    connect_timed_out,
    no_fds_on_empty,
    unix_text,
)
from netkit._core.unixpath import address as unix_address
from netkit._core.unixpath import check_path, sockaddr
from netkit._sockets import fresh
from netkit._sockets import unix as _unix
from netkit.aio._lazy import LazyTransport
from netkit.aio._protocol import (
    WRITE_HIGH_WATER,
    WRITE_LOW_WATER,
    OnDemandProtocol,
    StreamProtocol,
    expire,
)
from netkit.aio.connection import StreamConnection

__all__ = ["PeerCredentials", "UnixClient", "UnixConnection"]

_U = TypeVar("_U", bound="UnixConnection")
_C = TypeVar("_C", bound="UnixClient")

_MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
# A connect waiting for room in a full backlog runs in a thread, in kernel waits of at
# most this long, so that a cancelled connect frees its thread within this time.
_CONNECT_SLICE = 1.0


def _ready(waiter: asyncio.Future[bool | bytes]) -> None:
    if not waiter.done():
        waiter.set_result(True)


class UnixConnection(StreamConnection):
    """A connected Unix stream socket for asyncio; the twin of :class:`netkit.UnixConnection`.

    Make one with :meth:`UnixClient.connect`, :meth:`pair` or :meth:`from_socket`, or
    receive one in a :class:`netkit.aio.UnixServer` handler. Every stream method of
    :class:`netkit.aio.TcpConnection` with the same semantics; addresses are ``str``
    paths (``""`` when unnamed).
    """

    __slots__ = ("_credentials",)

    _convert = staticmethod(unix_address)

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
        """Not called directly: use :meth:`from_socket`, :meth:`pair` or a client's
        ``connect()``.

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
        super().__init__(
            transport,
            protocol,
            idle_timeout=idle_timeout,
            default_timeout=default_timeout,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
        )
        self._credentials: PeerCredentials | None = None

    @classmethod
    async def from_socket(
        cls: type[_U],
        sock: socket.socket,
        *,
        idle_timeout: float | None = None,
        send_timeout: float | None = None,
        message_timeout: float | None = None,
    ) -> _U:
        """Take ownership of a connected ``AF_UNIX`` stream socket.

        A timeout set on *sock* becomes the default deadline of each call, as in sync.
        *idle_timeout*, *send_timeout* and *message_timeout* are the sync
        :class:`netkit.UnixConnection`'s limits, with the same errors.

        Args:
            sock: a connected ``AF_UNIX`` ``SOCK_STREAM`` socket.
            idle_timeout: seconds a read may wait with nothing received, or None.
            send_timeout: seconds a send may wait with the peer taking nothing, or None.
            message_timeout: seconds a read of one message may take from its first byte, or
                None.

        Returns:
            The connection, attached to the running loop.

        Raises:
            TypeError: *sock* is not a socket, not ``AF_UNIX``, or an ``ssl.SSLSocket``.
            ValueError: *sock* is not a stream socket, or a timeout is negative.
        """
        if isinstance(sock, ssl.SSLSocket):
            raise TypeError("UnixConnection takes a plain AF_UNIX socket, not an ssl.SSLSocket")
        check_stream_socket(sock, cls.__name__, "UnixConnection")
        check_timeout("idle_timeout", idle_timeout)
        check_timeout("send_timeout", send_timeout)
        check_timeout("message_timeout", message_timeout)
        default_timeout = sock.gettimeout() or None  # 0.0 (non-blocking) is no timeout
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        protocol = OnDemandProtocol(loop)
        transport = LazyTransport(loop, sock, protocol)
        protocol.connection_made(transport)
        return cls(
            transport,
            protocol,
            idle_timeout=idle_timeout,
            default_timeout=default_timeout,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
        )

    @classmethod
    async def pair(cls: type[_U]) -> tuple[_U, _U]:
        """Two connected connections (``socket.socketpair()``), both ends unnamed.

        Returns:
            ``(a, b)``: what one sends, the other receives.
        """
        a, b = fresh.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            first = await cls.from_socket(a)
        except BaseException:
            b.close()
            raise
        try:
            return first, await cls.from_socket(b)
        except BaseException:
            first.abort()
            raise

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"<aio.{type(self).__name__} {unix_text(self._local)} -> "
            f"{unix_text(self._remote)} {state}>"
        )

    @property
    def local_address(self) -> str:
        """This end's path (``""`` when unnamed)."""
        address: str = self._local
        return address

    @property
    def remote_address(self) -> str:
        """The peer's path (``""`` when unnamed)."""
        address: str = self._remote
        return address

    @property
    def peer_credentials(self) -> PeerCredentials:
        """The peer's process id, user id and group id when it connected (``SO_PEERCRED``).

        Raises:
            ConnectionClosed: the connection was closed before they were read.
            NotImplementedError: the platform has no ``SO_PEERCRED`` (Linux has).
        """
        if self._credentials is None:
            self._check_open()
            sock = self._transport.get_extra_info("socket")
            try:
                self._credentials = _unix.peer_credentials(sock)
            except OSError as exc:
                raise _mapped(exc) from exc
        return self._credentials

    # -- file descriptors ---------------------------------------------------------------

    async def send_fds(
        self,
        data: bytes | bytearray | memoryview,
        fds: list[int] | tuple[int, ...],
        *,
        timeout: float | None = None,
    ) -> None:
        """Send all of *data* with the descriptors *fds* attached to its first bytes.

        Waits until what is queued before is handed to the kernel, so the descriptors
        go with these bytes. Arguments, result and errors: as
        :meth:`netkit.UnixConnection.send_fds`. One writer at a time.

        Args:
            data: at least one byte when *fds* is not empty (descriptors travel with bytes).
            fds: open file descriptors, at most 253.
            timeout: deadline for the whole call, in seconds.

        Raises:
            TypeError: *data* is not bytes-like, or *fds* not a list of ints.
            ValueError: *data* is empty while *fds* is not, an fd is negative or not
                open, or there are more than 253.
            NetkitTimeout: the deadline passed; a prefix of *data* (with the
                descriptors, if any byte went) may have been sent.
            ConnectionClosed: the connection was lost, or closed by this process.
        """
        size = buffer_size(data)
        wanted = check_fds(fds)
        deadline = self._deadline(timeout)
        if not wanted:
            await self.sendall(data, timeout=timeout)
            return
        if not size:
            raise no_fds_on_empty()
        _unix.check_open(wanted)
        self._check_writable()
        ancillary = _unix.rights(wanted)
        with memoryview(data) as raw, raw.cast("B") as view:
            dup = self._duplicate()
            try:
                while True:
                    await self._flush(deadline)
                    try:
                        sent: int = dup.sendmsg([view], ancillary, _MSG_DONTWAIT)
                        break
                    except BlockingIOError:
                        await self._wait_fd(dup.fileno(), True, deadline)
                    except OSError as exc:
                        if exc.errno == errno.EBADF:
                            _unix.check_open(wanted)  # an fd closed since the check
                        raise _mapped(exc, write=True) from exc
            finally:
                dup.close()
            if sent < size:
                # The descriptors went with the first part; the rest is plain bytes.
                left = None if deadline is None else max(0.0, deadline - self._loop.time())
                await self.sendall(bytes(view[sent:]), timeout=left)

    async def recv_fds(
        self, max_bytes: int, max_fds: int, *, timeout: float | None = None
    ) -> tuple[bytes, list[int]]:
        """Receive up to *max_bytes* bytes and the descriptors that came with them.

        Bytes already buffered come first, with no descriptors; otherwise the
        transport's reading is paused and one ``recvmsg`` reads the socket. Arguments,
        result and errors: as :meth:`netkit.UnixConnection.recv_fds`. A call that is
        cancelled or times out consumes nothing.

        Args:
            max_bytes: the most bytes to return (>= 1).
            max_fds: the most descriptors to accept (>= 1).
            timeout: deadline for the whole call, in seconds.

        Returns:
            ``(data, fds)``; ``(b"", [])`` at EOF; the descriptors are the caller's to close.

        Raises:
            FrameTooLarge: more than *max_fds* descriptors arrived: every one received
                is closed, and the bytes stay buffered for the next read.
            NetkitTimeout: the deadline passed first (nothing is lost).
            ConnectionClosed: the connection was lost, or closed by this process.
        """
        size, most = check_recv_fds(max_bytes, max_fds)
        deadline = self._deadline(timeout)
        self._check_open()
        protocol = self._protocol
        buffer = protocol.buffer
        if buffer:
            data = buffer.take(size)
            self._after_read()
            return data, []
        if protocol.eof:
            if protocol.error is not None:
                raise lost(protocol.error) from protocol.error
            return b"", []
        if protocol.read_waiter is not None:
            raise RuntimeError("another coroutine is already reading from this connection")
        room = _unix.ancillary_room(most)
        dup = self._duplicate()
        # Reading is paused between reads (on demand); make sure, since only we read now.
        protocol.pause()
        try:
            while True:
                try:
                    data, ancdata, flags, _ = dup.recvmsg(
                        size, room, _MSG_DONTWAIT | _unix.RECV_FLAGS
                    )
                    break
                except BlockingIOError:
                    await self._wait_fd(dup.fileno(), False, deadline)
                    if protocol.lost:  # the transport was aborted (a server's stop)
                        if protocol.error is not None:
                            raise lost(protocol.error) from protocol.error
                        return b"", []
                except OSError as exc:
                    raise _mapped(exc) from exc
        finally:
            dup.close()
        try:
            fds = _unix.take_fds(ancdata, flags, most)
        except BaseException:
            buffer.feed(data)  # the buffer was empty: the stream's order is kept
            raise
        return data, fds

    def _duplicate(self) -> socket.socket:
        """A socket object on a duplicate of the transport's descriptor (close it after).

        The duplicate shares the open file (and its O_NONBLOCK); never change its
        blocking mode, that would change the transport's socket too.
        """
        fd = self.fileno()
        if fd < 0:
            raise closed()
        dup = socket.socket(fileno=os.dup(fd))
        # Under socket.setdefaulttimeout() the new object would wait that long itself
        # (a timeout, not BlockingIOError); 0.0 keeps O_NONBLOCK, which the file has.
        dup.settimeout(0.0)
        return dup

    async def _flush(self, deadline: float | None) -> None:
        """Wait until the transport's write queue is empty (everything is in the kernel)."""
        transport = self._transport
        while transport.get_write_buffer_size():
            # With both marks at 0, the protocol is paused now and resumed once the
            # queue is empty: _drain then waits for exactly that.
            transport.set_write_buffer_limits(high=0, low=0)
            try:
                await self._drain(deadline)
            finally:
                transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
            self._check_writable()

    async def _wait_fd(self, fd: int, write: bool, deadline: float | None) -> None:
        """Wait until *fd* (our duplicate) is readable or writable, by *deadline*.

        Reads also end at the idle timeout, and :meth:`close` wakes either wait.
        """
        loop = self._loop
        protocol = self._protocol
        waiter: asyncio.Future[Any] = loop.create_future()
        when, idle = deadline, False
        stall = False
        if write:
            when, stall = self._send_limit(deadline)
        elif self._idle_timeout is not None:
            idle_at = loop.time() + self._idle_timeout
            if when is None or idle_at < when:
                when, idle = idle_at, True
        if write:
            protocol.drain_waiters.append(waiter)  # woken when the connection is lost
            loop.add_writer(fd, _ready, waiter)
        else:
            protocol.read_waiter = waiter  # close() wakes it; other readers are refused
            loop.add_reader(fd, _ready, waiter)
        timer = None if when is None else loop.call_at(when, expire, waiter)
        try:
            arrived = await waiter
        finally:
            if write:
                loop.remove_writer(fd)
                if waiter in protocol.drain_waiters:
                    protocol.drain_waiters.remove(waiter)
            else:
                loop.remove_reader(fd)
                protocol.read_waiter = None
            if timer is not None:
                timer.cancel()
        if self._closed:
            raise closed()
        if arrived is False:
            if idle:
                self._idle_expired = True
                assert self._idle_timeout is not None
                raise idle_error(self._idle_timeout)
            raise self._stalled() if stall else timed_out(write)
        if write:
            self._check_writable()


def _mapped(exc: OSError, write: bool = False) -> BaseException:
    found = stream_error(exc, write=write)
    return exc if found is None else found


class UnixClient(UnixConnection):
    """A :class:`UnixConnection` made by :meth:`connect`."""

    __slots__ = ()

    @classmethod
    async def connect(cls: type[_C], path: str | Any, *, timeout: float | None = None) -> _C:
        """Connect to the Unix stream socket at *path* (or a Linux abstract ``"\\0name"``).

        Arguments and errors: as :meth:`netkit.UnixClient.connect`. A connect almost
        always completes at once; when the listener's backlog is full it waits for
        room in a thread of the loop's executor (a cancelled connect frees that thread
        within a second).

        Args:
            path: a ``str`` or path-like.
            timeout: seconds for the whole connect; None waits as long as it takes.

        Returns:
            The connection; its ``remote_address`` is the listener's path.

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable socket path.
            ConnectFailed: the connect failed (no such file, no listener, permission
                denied, not a socket...); its ``errno`` is the OS's.
            NetkitTimeout: the listener's backlog stayed full for *timeout* seconds.
        """
        where = check_path(path)
        limit = check_timeout("timeout", timeout)
        started = time.monotonic()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        waiting = _Waiting()
        try:
            sock.setblocking(False)
            try:
                sock.connect(sockaddr(where))
            except BlockingIOError:
                if limit == 0:
                    raise connect_timed_out(where, 0.0) from None
                deadline = None if limit is None else started + limit
                await _connect_in_thread(sock, where, deadline, limit, waiting)
            except OSError as exc:
                raise connect_failed(where, exc) from exc
            return await cls.from_socket(sock)
        except BaseException:
            if not waiting.handed_over:
                sock.close()
            raise


class _Waiting:
    """Who closes the socket of a connect whose waiting thread may outlive the caller.

    A cancelled caller cannot close the socket under the thread still blocked in
    ``connect``: the last of the two to let go closes it.
    """

    __slots__ = ("done", "handed_over", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False  # the thread has returned
        self.handed_over = False  # the caller was cancelled and let go

    def thread_done(self, sock: socket.socket) -> None:
        with self.lock:
            self.done = True
            close = self.handed_over
        if close:
            sock.close()

    def let_go(self, sock: socket.socket) -> None:
        with self.lock:
            self.handed_over = True
            close = self.done
        if close:
            sock.close()


async def _connect_in_thread(
    sock: socket.socket,
    path: str,
    deadline: float | None,
    limit: float | None,
    waiting: _Waiting,
) -> None:
    """Connect *sock* in the loop's executor, waiting for room in a full backlog.

    The kernel does the waiting (``SO_SNDTIMEO`` bounds a blocking Unix connect), in
    slices of :data:`_CONNECT_SLICE` so that a cancelled call frees its thread soon.
    """

    def work() -> None:
        try:
            _unix.connect_waiting(
                sock,
                sockaddr(path),
                deadline,
                stop=lambda: waiting.handed_over,
                slice_=_CONNECT_SLICE,
            )
            sock.setblocking(False)
        finally:
            waiting.thread_done(sock)

    future = asyncio.get_running_loop().run_in_executor(None, work)
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        waiting.let_go(sock)
        raise
    except BlockingIOError:
        raise connect_timed_out(path, limit or 0.0) from None
    except OSError as exc:
        raise connect_failed(path, exc) from exc
