"""The asyncio server engine: our own accept loop, one task per connection.

:class:`StreamServer` is the whole lifecycle, limits and stop semantics of
:class:`netkit.aio.TcpServer`, :class:`netkit.aio.UnixServer` and
:class:`netkit.aio.SeqpacketServer`, which only add how they listen
(``_open_listener``) and how an accepted socket becomes a connection (``_connect``:
TCP options and TLS, a Unix connection, or a SEQPACKET one; a SEQPACKET connection has
no transport, so it also says how to cut it, ``_abort``, and close it, ``_close``).

The server runs its own accept loop (a reader callback on the non-blocking listening
socket that accepts every waiting client) rather than ``loop.create_server``, because
that is what makes ``max_connections`` honest: when the limit is reached the server
stops watching the listener, so further clients wait in the kernel's backlog instead of
being accepted and dropped.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from netkit._core.accept import AcceptErrors
from netkit._core.checks import check_timeout
from netkit._core.proxyserve import HeaderIntake, ProxyPolicy, ProxyRefusals, adopt
from netkit._core.server import handler_error, logger, peer_text
from netkit._sockets import fresh
from netkit.aio.listener import Listener
from netkit.errors import ProxyProtocolError
from netkit.proxy import ProxyHeader

__all__ = ["StreamServer"]


_S = TypeVar("_S", bound="StreamServer")

# After stop() has closed what was left, handlers get this long to notice before they
# are cancelled (one blocked in recv wakes at once; one sleeping needs the cancel).
_CANCEL_GRACE = 0.5
# The most clients accepted in one loop callback, so a flood of connections cannot keep
# the loop from running the handlers (asyncio's own servers stop at the backlog).
_ACCEPT_BATCH = 64


_ACCEPTED_CLASSES: dict[tuple[int, int], type[socket.socket]] = {}


def _accepted_class(family: int, kind: int) -> type[socket.socket]:
    """A ``socket.socket`` subclass whose ``family`` and ``type`` are *family*, *kind*.

    ``socket.socket`` converts both to their enums on every read (about 0.6 µs each on
    3.11), and the loop reads them three times per accepted connection
    (``connect_accepted_socket``'s check, the transport's ``TCP_NODELAY`` test). Neither
    can change on a socket, so the accepted sockets of one listener carry them as
    class constants: the same values, read for nothing. The class keeps
    ``socket.socket``'s module and name, so its ``repr`` is the same too.
    """
    found = _ACCEPTED_CLASSES.get((family, kind))
    if found is None:
        found = _ACCEPTED_CLASSES[family, kind] = type(
            "socket",
            (socket.socket,),
            {
                "__slots__": (),
                "__module__": socket.__name__,
                "family": socket.AddressFamily(family),
                "type": socket.SocketKind(kind),
            },
        )
    return found


class StreamServer:
    """The engine of the asyncio servers; see :class:`netkit.aio.TcpServer` for the behaviour.

    A subclass implements :meth:`_open_listener` (bind, when no ``listener=`` was
    given), :meth:`_connect` (an accepted socket to a connection) and ``__repr__``.
    """

    #: True for servers whose connections report paths (a PROXY header's Unix addresses).
    _UNIX = False

    def __init__(
        self,
        handler: Callable[[Any], Awaitable[Any]],
        *,
        max_connections: int | None,
        idle_timeout: float | None,
        listener: Listener | None,
        send_timeout: float | None = None,
        message_timeout: float | None = None,
        proxy: ProxyPolicy | None = None,
    ) -> None:
        self._handler = handler
        self._proxy = proxy
        self._refusals: ProxyRefusals | None = None
        # tasks still waiting for their PROXY header: stop() cancels them at once
        self._heading: set[asyncio.Task[Any]] = set()
        self._max_connections = max_connections
        self._idle_timeout = check_timeout("idle_timeout", idle_timeout)
        self._send_timeout = send_timeout
        self._message_timeout = message_timeout
        self._listener: Listener | None = listener
        self._sock: socket.socket | None = None
        self._address: Any = None if listener is None else listener.address
        self._accept_task: asyncio.Task[None] | None = None
        # one task per accepted connection, from accept() until it is closed
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0  # connections accepted and not yet closed
        # handler task -> its connection, once the connection is up (TLS done)
        self._connections: dict[asyncio.Task[Any], Any] = {}
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # start()
        self._armed = False  # the listener is registered with the loop for reading
        self._retry: asyncio.TimerHandle | None = None  # re-arming after an accept error
        self._errors = AcceptErrors(self._address)
        # For a plain listening socket.socket: the class of the sockets _accept_ready
        # makes, and their family, type and proto.
        self._fast_accept: tuple[type[socket.socket], int, int, int] | None = None
        self._stopped: asyncio.Event | None = None
        self._stopping = False

    # -- properties --------------------------------------------------------------------

    @property
    def listener(self) -> Any:
        """The listener the server accepts on (closed by :meth:`stop`).

        Raises:
            RuntimeError: the server is not started and was given no ``listener=``.
        """
        if self._listener is None:
            raise RuntimeError("server is not started")
        return self._listener

    @property
    def active_connections(self) -> int:
        """Connections accepted and not yet closed (TLS handshakes included)."""
        return self._active

    @property
    def serving(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._accept_task is not None and not self._stopping

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self: _S) -> _S:
        """Bind (unless given a listener), listen and accept in the background.

        Returns:
            The server.
        """
        if self._accept_task is not None or self._stopping:
            raise RuntimeError("server already started")
        listener = self._listener
        if listener is None:
            listener = self._listener = await self._open_listener()
        sock = listener.socket
        sock.setblocking(False)
        self._sock = sock
        self._address = listener.address
        self._refusals = ProxyRefusals(self._address)
        self._stopped = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._accept_task = self._loop.create_task(self._accept_loop(sock))
        return self

    async def serve_forever(self) -> None:
        """Serve until :meth:`stop` is called (starting first if needed).

        Cancelling this coroutine stops the server (with the default timeout).
        """
        if self._accept_task is None:
            await self.start()
        assert self._stopped is not None
        try:
            await self._stopped.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self.stop())
            raise

    async def stop(self, timeout: float | None = 5.0) -> None:
        """Stop accepting now; let handlers finish for *timeout* seconds; cut the rest.

        A handler that returned has what it sent flushed before its connection closes
        (within what is left of *timeout*): nothing is lost. Connections of handlers
        still running at the deadline are aborted, which wakes their handlers (a pending
        read returns EOF); handlers that still do not return are cancelled. Returns when
        every handler has returned. Idempotent. A handler may call it: it then waits for
        the *other* handlers, and its own connection closes when it returns.

        Args:
            timeout: seconds running handlers get to finish; None to wait for them all.

        Raises:
            TypeError: *timeout* is not a number or None.
            ValueError: *timeout* is negative or NaN.
        """
        timeout = check_timeout("timeout", timeout)
        me = asyncio.current_task()
        if self._stopping or self._accept_task is None:
            if self._accept_task is None and self._listener is not None:
                self._listener.close()  # given to us, never served: still ours
            # From a handler, waiting for the stop in progress could be waiting for itself.
            if self._stopped is not None and me not in self._tasks:
                await self._stopped.wait()
            return
        self._stopping = True
        if self._sock is not None:
            # Refuse new connections now (Linux: shutdown() on a listener makes the
            # kernel refuse SYNs), not after the accept task has noticed the cancel.
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._disarm()
        accept_task = self._accept_task
        accept_task.cancel()
        await asyncio.gather(accept_task, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()  # a Unix listener also removes the file it created
        for task in self._heading:  # no handler yet, nothing to finish: drop now
            task.cancel()

        def others() -> set[asyncio.Task[None]]:
            # (A task cancelled before its first step never ran _serve's cleanup.)
            return {task for task in self._tasks if task is not me and not task.done()}

        try:
            # Handlers finish, and those that returned flush what they queued (_close).
            if others():
                await asyncio.wait(others(), timeout=timeout)
            if others():
                for task, conn in list(self._connections.items()):
                    if task is not me:
                        self._abort(conn)  # the handler sees EOF, as in sync
                await asyncio.wait(others(), timeout=_CANCEL_GRACE)
            while others():
                for task in others():
                    task.cancel()
                await asyncio.wait(others())
        finally:
            assert self._stopped is not None
            self._stopped.set()

    async def __aenter__(self: _S) -> _S:
        if self._accept_task is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- engine ------------------------------------------------------------------------

    async def _open_listener(self) -> Listener:
        """Bind and listen (subclasses); called by :meth:`start` without ``listener=``."""
        raise NotImplementedError

    def _connect(self, sock: socket.socket) -> Awaitable[Any]:
        """The connection for an accepted *sock*, awaited (subclasses; TLS handshakes here)."""
        raise NotImplementedError

    def _abort(self, conn: Any) -> None:
        """Cut *conn* at stop()'s deadline: a pending read returns EOF."""
        conn.transport.abort()

    async def _accept_loop(self, lsock: socket.socket) -> None:
        """Accept while the listener is readable, until cancelled (by stop()).

        The listener stays registered with the loop while there are free slots, and
        each time it is readable :meth:`_accept_ready` accepts every waiting client
        (up to ``_ACCEPT_BATCH``) from the loop's callback, with no coroutine, future
        or re-registration per connection (``loop.sock_accept`` costs a future and an
        add/remove of the reader, two ``epoll_ctl`` calls, per accept).
        """
        loop = self._loop
        self._errors = AcceptErrors(self._address)
        if type(lsock).accept is socket.socket.accept:
            family, kind = int(lsock.family), int(lsock.type)
            self._fast_accept = (_accepted_class(family, kind), family, kind, lsock.proto)
        self._arm()
        try:
            await loop.create_future()  # only stop()'s cancel ends this
        finally:
            self._disarm()
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None

    def _arm(self) -> None:
        """Watch the listener (again) for clients, unless stopping or full."""
        self._retry = None
        if self._armed or self._stopping or self._sock is None:
            return
        limit = self._max_connections
        if limit is not None and self._active >= limit:
            return  # _serve() re-arms when a connection closes
        self._armed = True
        self._loop.add_reader(self._sock, self._accept_ready)

    def _disarm(self) -> None:
        if self._armed:
            self._armed = False
            assert self._sock is not None
            self._loop.remove_reader(self._sock)

    def _accept_ready(self) -> None:
        """The listener is readable: accept the waiting clients, one task each."""
        lsock = self._sock
        assert lsock is not None
        loop = self._loop
        errors = self._errors
        limit = self._max_connections
        # (A process-wide default timeout would reach a socket made from the bare fd:
        # fresh.accept() takes it off, as netkit's rule says.)
        fast = self._fast_accept if socket.getdefaulttimeout() is None else None
        for _ in range(_ACCEPT_BATCH):
            if self._stopping:
                return
            if limit is not None and self._active >= limit:
                # Full: further clients wait in the kernel's backlog, not accepted and
                # dropped; the next connection to close re-arms.
                self._disarm()
                return
            try:
                if fast is None:
                    sock, peer = fresh.accept(lsock)
                else:
                    # socket.accept() without its per-call enum conversions of the
                    # listener's family and type (the same socket comes out).
                    fd, peer = lsock._accept()  # type: ignore[attr-defined]
                    sock = fast[0](fast[1], fast[2], fast[3], fd)
            except BlockingIOError:
                return
            except OSError as exc:
                wait, line = errors.failed(exc, loop.time())
                if line is not None:
                    logger.warning("%s", line)
                if wait:
                    self._disarm()
                    self._retry = loop.call_later(wait, self._arm)
                    return
                continue
            if errors.failing:
                line = errors.recovered(loop.time())
                if line is not None:
                    logger.warning("%s", line)
            self._active += 1
            task = loop.create_task(self._serve(sock, peer))
            # _serve() removes itself when it ends: no done callback (a loop turn's
            # handle) per connection.
            self._tasks.add(task)

    def _log(self, exc: BaseException, peer: object) -> None:
        level, message, trace = handler_error(exc, peer_text(peer), stopping=self._stopping)
        logger.log(level, "%s", message, exc_info=exc if trace else None)

    async def _serve(self, sock: socket.socket, peer: object) -> None:
        conn: Any = None
        task = asyncio.current_task(self._loop)
        assert task is not None
        try:
            try:
                header: ProxyHeader | None = None
                if self._proxy is not None and self._proxy.trusts(peer):
                    header = await self._proxy_header(sock, peer, self._proxy.header_timeout)
                    if header is None:
                        sock.close()  # dropped (and logged)
                        return
                conn = await self._connect(sock)
            except Exception as exc:  # the peer's fault (reset, bad TLS): not ours to raise
                sock.close()
                self._log(exc, peer)
                return
            except BaseException:  # cancelled by stop() while reading the header
                sock.close()
                raise
            adopt(conn, peer, header, unix=self._UNIX)
            self._connections[task] = conn
            try:
                await self._handler(conn)
            except Exception as exc:
                self._log(exc, peer)
        finally:
            try:
                if conn is not None:
                    await self._close(conn)
            finally:
                self._connections.pop(task, None)
                self._active -= 1
                if not self._armed and self._retry is None and self._accept_task is not None:
                    self._arm()  # a slot is free (max_connections)
                self._tasks.discard(task)

    async def _close(self, conn: Any) -> None:
        """Close *conn* once what its handler queued is flushed (nothing sent is lost).

        The flush lasts as long as the peer keeps reading; one that takes nothing for
        the connection's ``send_timeout`` is cut, as a stalled send is (a peer that
        never reads must not hold a task and its buffer forever). stop()'s deadline
        bounds it too (stop() aborts what is left then). A connection whose send timed
        out (the peer stopped reading; the stream is torn) is aborted at once, as the
        sync face resets it.
        """
        if conn._send_stalled:
            conn.abort()
            await conn.aclose()
            return
        if conn._close_unqueued():
            return  # nothing to flush: the handler's task need not wait another turn
        await conn._aclose_unless_stalled()

    # -- PROXY protocol ----------------------------------------------------------------

    async def _proxy_header(
        self, sock: socket.socket, peer: object, seconds: float
    ) -> ProxyHeader | None:
        """The PROXY header read off *sock* within *seconds*, or None (logged: drop it).

        Read on the raw socket before any transport exists: peek at what arrived, take
        only the header's bytes, and leave the stream after it in the kernel for the
        transport (or its TLS handshake).

        Raises:
            OSError: the connection failed.
        """
        task = asyncio.current_task()
        assert task is not None
        if self._stopping:
            return None
        self._heading.add(task)
        try:
            return await _read_proxy_header(sock, seconds)
        except ProxyProtocolError as exc:
            refusals = self._refusals
            assert refusals is not None
            found = refusals.dropped(
                exc, peer_text(peer), asyncio.get_running_loop().time(), stopping=self._stopping
            )
            if found is not None:
                logger.log(found[0], "%s", found[1])
            return None
        finally:
            self._heading.discard(task)


async def _read_proxy_header(sock: socket.socket, seconds: float) -> ProxyHeader:
    loop = asyncio.get_running_loop()
    sock.setblocking(False)  # a peek must never block the loop
    intake = HeaderIntake()
    deadline = loop.time() + seconds
    header = None
    while header is None:
        try:
            data = sock.recv(intake.want, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            left = deadline - loop.time()
            if left <= 0 or not await _readable(loop, sock, left):
                raise intake.timed_out(seconds) from None
            continue
        take = intake.peeked(data)
        while take:  # already received by the kernel: never blocks
            got = sock.recv(take)
            if not got:  # pragma: no cover - the kernel had them
                intake.peeked(b"")  # raises: closed
            take -= len(got)
        header = intake.header
    return header


async def _readable(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, seconds: float | None = None
) -> bool:
    """Wait until *sock* is readable (bytes, EOF, a pending connection): True, or False
    after *seconds*."""
    ready: asyncio.Future[bool] = loop.create_future()

    def settle(value: bool) -> None:
        if not ready.done():
            ready.set_result(value)

    fd = sock.fileno()
    loop.add_reader(fd, settle, True)
    timer = None if seconds is None else loop.call_later(seconds, settle, False)
    try:
        return await ready
    finally:
        if timer is not None:
            timer.cancel()
        loop.remove_reader(fd)
