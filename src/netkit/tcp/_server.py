"""The sync server engine: a threaded server calling ``handler(conn)`` once per connection.

:class:`StreamServer` is the whole lifecycle, limits and stop semantics of
:class:`netkit.TcpServer`, :class:`netkit.UnixServer` and
:class:`netkit.SeqpacketServer`, which only add how they listen (``_open_listener``)
and how an accepted socket becomes a connection (``_open``: TCP options and TLS, a Unix
connection, or a SEQPACKET one).

Engine (chosen by bench/bench_tcp.py; the numbers are in docs/performance.md):

* one accept thread blocks in ``accept()`` and hands each new socket to a worker;
* workers are pooled: a connection is given to an idle worker when there is one (a
  single lock release wakes it), and a new worker thread is started only when every
  worker is busy. So the pool grows to the number of concurrent connections, and a
  worker that stays idle for ``_WORKER_IDLE`` seconds exits. Connection churn then
  costs no thread start per connection;
* the handler runs in its worker with a blocking socket, so ``conn.recv()`` is one
  ``recv`` system call (the fastest path CPython has for a blocking handler).

Faults never stop the server: a handler's exception is logged once (logger
``netkit``, with the peer) and closes only its connection; errors at ``accept()``
follow :mod:`netkit._core.accept` (back off on ``EMFILE`` and co., at a bounded log
rate); ``max_connections`` stops *accepting* when full, so extra clients wait in the
kernel's backlog rather than being accepted and dropped. A connection whose send
timed out (``send_timeout``: the peer stopped reading) is closed with a reset, so the
kernel drops what it still held for that peer at once. The decisions (arguments,
options, defaults, log levels) live in :mod:`netkit._core.server` and
:mod:`netkit._core.limits`; this module only waits.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar

from netkit._core.accept import AcceptErrors
from netkit._core.checks import check_timeout
from netkit._core.proxyserve import HeaderIntake, ProxyPolicy, ProxyRefusals, adopt
from netkit._core.server import handler_error, logger, peer_text
from netkit._sockets import fresh
from netkit.errors import ProxyProtocolError
from netkit.proxy import ProxyHeader
from netkit.tcp.listener import Listener

__all__ = ["StreamServer"]


_S = TypeVar("_S", bound="StreamServer")

_MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)

# How long an idle pooled worker waits for a new connection before its thread exits.
_WORKER_IDLE = 10.0
# SO_LINGER on, 0 seconds: close() resets the connection and drops unsent data.
_RESET = struct.pack("ii", 1, 0)


class Served(Protocol):
    """What a server hands its handler: a connection it closes when the handler returns
    (a stream connection, or a SEQPACKET one)."""

    def close(self) -> None: ...


class _Worker:
    """A pooled thread that runs handlers, one connection at a time."""

    __slots__ = ("conn", "item", "thread", "wake")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()  # held until there is work: release() hands a connection over
        self.item: tuple[socket.socket, object] | None = None
        self.thread: threading.Thread | None = None
        self.conn: socket.socket | None = None  # the tracked socket of its connection


class StreamServer:
    """The engine of the sync servers; see :class:`netkit.TcpServer` for the behaviour.

    A subclass implements :meth:`_open_listener` (bind, when no ``listener=`` was
    given) and :meth:`_open` (an accepted socket to a connection), and ``__repr__``.
    """

    #: True for servers whose connections report paths (a PROXY header's Unix addresses).
    _UNIX = False

    def __init__(
        self,
        handler: Callable[[Any], object],
        *,
        max_connections: int | None,
        idle_timeout: float | None,
        listener: Listener | None,
        send_timeout: float | None = None,
        message_timeout: float | None = None,
        proxy: ProxyPolicy | None = None,
    ) -> None:
        self._handler = handler
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout
        self._send_timeout = send_timeout
        self._message_timeout = message_timeout
        self._proxy = proxy
        self._refusals: ProxyRefusals | None = None
        # sockets still waiting for their PROXY header: stop() drops them at once
        self._heading: set[socket.socket] = set()

        self._lock = threading.Lock()
        # notified when a connection ends (a slot frees) and when stopping starts
        self._changed = threading.Condition(self._lock)
        self._state = "new"  # new -> serving -> stopping -> stopped
        self._stopped = threading.Event()
        self._listener: Listener | None = listener
        self._address: Any = None if listener is None else listener.address
        self._accept_thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._idle: list[_Worker] = []  # LIFO: the most recently used worker is warmest
        self._workers: set[_Worker] = set()

    # ------------------------------------------------------------------ public API

    @property
    def listener(self) -> Any:
        """The listener the server accepts on (closed by :meth:`stop`).

        Raises:
            RuntimeError: the server is not started and was given no ``listener=``.
        """
        if self._listener is None:
            raise RuntimeError("the server is not started")
        return self._listener

    @property
    def active_connections(self) -> int:
        """Connections accepted and not yet closed (TLS handshakes included)."""
        return len(self._connections)

    @property
    def serving(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._state == "serving"

    def start(self: _S) -> _S:
        """Bind (unless given a listener), listen and serve in background threads.

        Returns:
            The server.
        """
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"cannot start a server that is {self._state}")
            listener = self._listener
            if listener is None:
                listener = self._listener = self._open_listener()
            sock = listener.socket
            sock.setblocking(True)  # the accept thread blocks in accept()
            self._address = listener.address
            self._refusals = ProxyRefusals(self._address)
            self._state = "serving"
            self._accept_thread = threading.Thread(
                target=self._accept_loop,
                args=(sock,),
                name=f"netkit-accept-{self._address}",
                daemon=True,
            )
            self._accept_thread.start()
        return self

    def serve_forever(self) -> None:
        """Start (unless started) and block until :meth:`stop` is called.

        Ctrl-C (KeyboardInterrupt) stops the server gracefully, then propagates (also
        when it comes while the server is starting).
        """
        try:
            if self._state == "new":
                self.start()
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop()
            raise

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop accepting now; give handlers *timeout* seconds, then cut the rest.

        A handler that returned has had all it sent handed to the kernel, which delivers
        it after the close: nothing is lost. Handlers still running at the deadline are
        woken (their connections are shut down). Returns when every handler has returned
        and every thread and socket of the server is gone. Calling it again, or before
        :meth:`start`, does nothing. A handler may call it: it then waits for the *other*
        handlers, and its own connection closes when it returns.

        Args:
            timeout: seconds running handlers get to finish; None to wait for them all.

        Raises:
            TypeError: *timeout* is not a number or None.
            ValueError: *timeout* is negative or NaN.
        """
        timeout = check_timeout("timeout", timeout)
        with self._lock:
            me = threading.current_thread()
            caller = next((w for w in self._workers if w.thread is me), None)
            if self._state == "new":
                self._state = "stopped"
                if self._listener is not None:
                    self._listener.close()  # given to us, never served: still ours
                self._stopped.set()
                return
            already = self._state != "serving"
            if not already:
                self._state = "stopping"
                self._changed.notify_all()  # an accept loop waiting for a slot gives up
        if already:
            if caller is None:  # from a handler, waiting could be waiting for itself
                self._stopped.wait()
            return
        self._close_listener()
        with self._lock:
            for sock in self._heading:  # no handler yet, nothing to finish: drop now
                _shut(sock)
        deadline = None if timeout is None else time.monotonic() + timeout
        mine = caller.conn if caller is not None else None
        with self._lock:

            def others() -> int:
                return len(self._connections) - (mine in self._connections)

            while others():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            # Time is up: wake whatever is left. shutdown() makes a blocked recv()
            # return b"" (or fail), so the handler finishes; its worker closes the socket.
            for sock in list(self._connections):
                if sock is not mine:
                    try:
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
                    except OSError:
                        pass
            while others():
                self._changed.wait()
            workers = [worker for worker in self._workers if worker is not caller]
            for worker in self._idle:
                worker.item = None
                worker.wake.release()  # an idle worker woken with no item exits
            self._idle.clear()
        for worker in workers:
            if worker.thread is not None:
                worker.thread.join()
        with self._lock:
            self._state = "stopped"
        self._stopped.set()

    def __enter__(self: _S) -> _S:
        if self._state == "new":
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ listening

    def _open_listener(self) -> Listener:
        """Bind and listen (subclasses); called by :meth:`start` without ``listener=``."""
        raise NotImplementedError

    def _open(self, sock: socket.socket, peer: object, worker: _Worker) -> Served | None:
        """The connection for an accepted *sock* (subclasses); None to drop it (stopping).

        Runs in the worker. A subclass that replaces the socket (TLS) tracks the new
        one with :meth:`_track`.
        """
        raise NotImplementedError

    def _track(self, worker: _Worker, sock: socket.socket) -> bool:
        """Track *sock* instead of the worker's socket (for stop()); False when stopping."""
        with self._lock:
            if worker.conn is not None:
                self._connections.discard(worker.conn)
            self._connections.add(sock)
            worker.conn = sock
            return self._state == "serving"

    def _close_listener(self) -> None:
        listener = self._listener
        if listener is None:
            return
        # shutdown() wakes a thread blocked in accept() on Linux; elsewhere a throwaway
        # connection to ourselves does it.
        try:
            listener.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        thread = self._accept_thread
        if thread is not None:
            thread.join(0.2)
            while thread.is_alive():
                listener._poke()
                thread.join(0.2)
        listener.close()  # a Unix listener also removes the file it created

    def _backoff_wait(self, seconds: float) -> None:
        """Sleep after a resource error at accept(); returns early when stopping."""
        with self._lock:
            if self._state == "serving":
                self._changed.wait(seconds)

    def _accept_loop(self, listener: socket.socket) -> None:
        errors = AcceptErrors(self._address)
        limit = self._max_connections
        while True:
            if limit is not None:
                with self._lock:
                    # Full: stop accepting; new clients wait in the kernel's backlog.
                    while self._state == "serving" and len(self._connections) >= limit:
                        self._changed.wait()
            if self._state != "serving":
                return
            try:
                sock, peer = fresh.accept(listener)
            except OSError as exc:
                if self._state != "serving":
                    return
                wait, line = errors.failed(exc, time.monotonic())
                if line is not None:
                    logger.warning("%s", line)
                if wait:
                    self._backoff_wait(wait)
                continue
            if errors.failing:
                line = errors.recovered(time.monotonic())
                if line is not None:
                    logger.warning("%s", line)
            self._dispatch(sock, peer)

    # ------------------------------------------------------------------ workers

    def _dispatch(self, sock: socket.socket, peer: object) -> None:
        with self._lock:
            if self._state != "serving":
                sock.close()
                return
            self._connections.add(sock)
            worker = self._idle.pop() if self._idle else None
            if worker is None:
                worker = _Worker()
                self._workers.add(worker)
                worker.item = (sock, peer)
                thread = threading.Thread(
                    target=self._worker_main, args=(worker,), name="netkit-worker", daemon=True
                )
                worker.thread = thread
                try:
                    thread.start()
                except RuntimeError:  # cannot start a thread: drop this connection
                    self._workers.discard(worker)
                    self._connections.discard(sock)
                    sock.close()
                    logger.error("netkit server %s: cannot start a worker thread", self._address)
                    return
                return
        worker.item = (sock, peer)
        worker.wake.release()

    def _worker_main(self, worker: _Worker) -> None:
        wake = worker.wake
        while True:
            item = worker.item
            if item is None:
                break
            worker.item = None
            tracked = self._serve(item[0], item[1], worker)
            worker.conn = None
            with self._lock:
                self._connections.discard(tracked)
                self._changed.notify_all()
                if self._state != "serving":
                    break
                self._idle.append(worker)
            if not wake.acquire(timeout=_WORKER_IDLE):
                with self._lock:
                    if worker in self._idle:  # nobody picked us: retire
                        self._idle.remove(worker)
                        break
                # a dispatcher picked us just as we timed out: its release is coming
                wake.acquire()
        with self._lock:
            self._workers.discard(worker)

    def _serve(self, sock: socket.socket, peer: object, worker: _Worker) -> socket.socket:
        """Run the handler for one accepted socket, close it, return the tracked socket.

        Never raises: every failure is logged and ends only this connection.
        """
        worker.conn = sock
        conn: Served | None = None
        try:
            header: ProxyHeader | None = None
            if self._proxy is not None and self._proxy.trusts(peer):
                header = self._proxy_header(sock, peer, self._proxy.header_timeout)
                if header is None:
                    return sock  # dropped (and logged); the finally closes it
            conn = self._open(sock, peer, worker)
            if conn is not None:
                adopt(conn, peer, header, unix=self._UNIX)
                self._handler(conn)
        except BaseException as exc:  # SystemExit and co. end the connection, not the worker
            level, message, trace = handler_error(
                exc, peer_text(peer), stopping=self._state != "serving"
            )
            logger.log(level, "%s", message, exc_info=exc if trace else None)
        finally:
            tracked = worker.conn
            assert tracked is not None
            try:
                if conn is not None:
                    # A torn stream, the peer not reading: reset. (getattr: a connection
                    # class without send_timeout may serve on this engine too.)
                    if getattr(conn, "_send_stalled", False):
                        _reset(tracked)
                    conn.close()
                tracked.close()
            except Exception:  # pragma: no cover - close() should not fail
                logger.exception("netkit server: closing %s failed", peer_text(peer))
        return tracked

    # ------------------------------------------------------------------ PROXY protocol

    def _proxy_header(
        self, sock: socket.socket, peer: object, seconds: float
    ) -> ProxyHeader | None:
        """The PROXY header read off *sock* within *seconds*, or None (logged: drop it).

        Only the header's bytes are taken off the socket: the stream after it stays in
        the kernel for the connection (or its TLS handshake).

        Raises:
            OSError: the connection failed.
        """
        with self._lock:
            if self._state != "serving":
                return None
            self._heading.add(sock)
        try:
            return self._read_proxy_header(sock, seconds)
        except ProxyProtocolError as exc:
            self._dropped(exc, peer)
            return None
        finally:
            with self._lock:
                self._heading.discard(sock)

    @staticmethod
    def _read_proxy_header(sock: socket.socket, seconds: float) -> ProxyHeader:
        intake = HeaderIntake()
        deadline = time.monotonic() + seconds
        header = None
        timed = False  # the socket has a timeout set (restored to blocking at the end)
        try:
            while header is None:
                data: bytes | None = None
                if not timed and _MSG_DONTWAIT:
                    # The proxy sends its header as soon as it connects: it is usually
                    # here already, and a peek that does not wait needs no timeout set.
                    try:
                        data = sock.recv(intake.want, socket.MSG_PEEK | _MSG_DONTWAIT)
                    except BlockingIOError:
                        pass
                if data is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise intake.timed_out(seconds)
                    sock.settimeout(left)
                    timed = True
                    try:
                        data = sock.recv(intake.want, socket.MSG_PEEK)
                    except TimeoutError as exc:
                        if exc.errno is not None:  # ETIMEDOUT from the kernel: a dead peer
                            raise
                        raise intake.timed_out(seconds) from None
                take = intake.peeked(data)
                while take:  # already received by the kernel: never waits
                    got = sock.recv(take)
                    if not got:  # pragma: no cover - the kernel had them
                        intake.peeked(b"")  # raises: closed
                    take -= len(got)
                header = intake.header
        finally:
            if timed:
                sock.settimeout(None)
        return header

    def _dropped(self, exc: ProxyProtocolError, peer: object) -> None:
        refusals = self._refusals
        assert refusals is not None
        with self._lock:
            found = refusals.dropped(
                exc, peer_text(peer), time.monotonic(), stopping=self._state != "serving"
            )
        if found is not None:
            logger.log(found[0], "%s", found[1])


def _shut(sock: socket.socket) -> None:
    """Wake a thread blocked on *sock*: its recv() returns b"" (or fails)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _reset(sock: socket.socket) -> None:
    """Make the next close() of *sock* a reset (unsent data dropped, no FIN wait)."""
    try:
        socket.socket.setsockopt(sock, socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    except OSError:
        pass
