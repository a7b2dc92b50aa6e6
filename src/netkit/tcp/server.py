"""TcpServer: a threaded TCP server that calls ``handler(conn)`` once per connection.

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
kernel's backlog rather than being accepted and dropped. The decisions (arguments,
options, log levels) live in :mod:`netkit._core.server`; this module only waits.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType

from netkit._core.accept import AcceptErrors
from netkit._core.checks import check_timeout
from netkit._core.server import (
    check_server_args,
    connection_options,
    handler_error,
    logger,
    peer_text,
)
from netkit._core.sockaddr import endpoint
from netkit._sockets.listen import listen_address, listen_socket
from netkit.addr import Endpoint
from netkit.options import SocketOptions
from netkit.tcp.connection import TcpConnection
from netkit.tls import handshake_timeout

__all__ = ["TcpServer"]

Handler = Callable[[TcpConnection], None]

# How long an idle pooled worker waits for a new connection before its thread exits.
_WORKER_IDLE = 10.0


class _Worker:
    """A pooled thread that runs handlers, one connection at a time."""

    __slots__ = ("conn", "item", "thread", "wake")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()  # held until there is work: release() hands a connection over
        self.item: tuple[socket.socket, object] | None = None
        self.thread: threading.Thread | None = None
        self.conn: socket.socket | None = None  # the tracked socket of its connection


class TcpServer:
    """A TCP server calling ``handler(conn)`` for each connection, in a worker thread.

    ``start()`` binds and serves in the background; ``serve_forever()`` blocks;
    ``stop(timeout)`` stops accepting at once, lets running handlers finish until the
    timeout, then shuts down what is left (waking handlers blocked in ``recv``) and
    returns when every handler has returned and every thread and socket of the server is
    gone. ``with TcpServer(...) as server:`` starts and stops.

    ``host="::"`` serves IPv6 and IPv4 (IPV6_V6ONLY off unless ``options.v6only``).
    SO_REUSEADDR is on for the listener unless ``options.reuse_addr`` is ``False``;
    ``options.reuse_port=True`` lets several servers share one port. TCP_NODELAY is on
    for accepted connections unless ``options.nodelay`` is ``False``: a server answers
    requests, and Nagle's algorithm would hold back small answers. ``max_connections``
    bounds concurrent connections (the rest wait in the listen backlog);
    ``idle_timeout`` closes a connection that sends nothing for that many seconds.
    ``tls`` is a server :class:`ssl.SSLContext`: the handshake runs in the worker thread,
    bounded by ``tls_handshake_timeout`` seconds, so a silent client cannot hold the
    accept loop or a slot for long.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backlog: int = 128,
        max_connections: int | None = None,
        idle_timeout: float | None = None,
        options: SocketOptions | None = None,
        tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
    ) -> None:
        check_server_args(
            handler, host, port, backlog, max_connections, idle_timeout, options, tls,
            tls_handshake_timeout,
        )  # fmt: skip

        self._handler = handler
        self._host = host
        self._port = port
        self._backlog = backlog
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout
        self._options = options or SocketOptions()
        self._tls = tls
        self._tls_handshake_timeout = float(tls_handshake_timeout)

        self._lock = threading.Lock()
        # notified when a connection ends (a slot frees) and when stopping starts
        self._changed = threading.Condition(self._lock)
        self._state = "new"  # new -> serving -> stopping -> stopped
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._address: Endpoint | None = None
        self._accept_thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._idle: list[_Worker] = []  # LIFO: the most recently used worker is warmest
        self._workers: set[_Worker] = set()
        self._conn_options = connection_options(self._options)
        # The usual case, nodelay alone, costs one setsockopt instead of a full apply()
        # (10 us, measurable in connection churn).
        self._nodelay_only = self._conn_options == SocketOptions(nodelay=True)

    # ------------------------------------------------------------------ public API

    @property
    def address(self) -> Endpoint:
        """The bound address (with the real port when port 0 was asked)."""
        if self._address is None:
            raise RuntimeError("the server is not started")
        return self._address

    @property
    def active_connections(self) -> int:
        """Connections accepted and not yet closed (TLS handshakes included)."""
        return len(self._connections)

    @property
    def serving(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._state == "serving"

    def start(self) -> TcpServer:
        """Bind, listen and serve in background threads; return the server."""
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"cannot start a server that is {self._state}")
            listener = self._bind()
            self._listener = listener
            self._address = endpoint(listener.getsockname())
            self._state = "serving"
            self._accept_thread = threading.Thread(
                target=self._accept_loop,
                args=(listener,),
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
        """
        timeout = check_timeout("timeout", timeout)
        with self._lock:
            me = threading.current_thread()
            caller = next((w for w in self._workers if w.thread is me), None)
            if self._state == "new":
                self._state = "stopped"
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

    def __enter__(self) -> TcpServer:
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

    def __repr__(self) -> str:
        where = self._address if self._address is not None else f"{self._host}:{self._port}"
        return f"<TcpServer {where} {self._state} active={len(self._connections)}>"

    # ------------------------------------------------------------------ listening

    def _bind(self) -> socket.socket:
        """The listening socket (tests override this to wrap it)."""
        family, sockaddr = listen_address(self._host, self._port)
        return listen_socket(family, sockaddr, self._backlog, self._options)

    def _close_listener(self) -> None:
        listener = self._listener
        if listener is None:
            return
        # shutdown() wakes a thread blocked in accept() on Linux; elsewhere a throwaway
        # connection to ourselves does it.
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        thread = self._accept_thread
        if thread is not None:
            thread.join(0.2)
            while thread.is_alive():
                self._poke_listener()
                thread.join(0.2)
        listener.close()
        self._listener = None

    def _poke_listener(self) -> None:
        address = self._address
        if address is None:
            return
        host = address.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        try:
            with socket.create_connection((host, address.port), timeout=0.2):
                pass
        except OSError:
            pass

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
                sock, peer = listener.accept()
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
        tracked = worker.conn = sock
        conn: TcpConnection | None = None
        try:
            if self._nodelay_only:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                self._conn_options.apply(sock)
            if self._tls is not None:
                tls_sock = self._tls.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
                # wrap_socket() detached the plain socket: stop() must see the TLS one
                with self._lock:
                    self._connections.discard(tracked)
                    self._connections.add(tls_sock)
                    tracked = worker.conn = tls_sock
                    if self._state != "serving":
                        return tracked
                # bounded, so a client that never speaks cannot hold this slot for long
                tls_sock.settimeout(self._tls_handshake_timeout)
                try:
                    tls_sock.do_handshake()
                except TimeoutError as exc:
                    if exc.errno is not None:
                        raise
                    raise handshake_timeout(peer_text(peer), self._tls_handshake_timeout) from None
                tls_sock.settimeout(None)
                sock = tls_sock
            conn = TcpConnection(sock, idle_timeout=self._idle_timeout)
            self._handler(conn)
        except BaseException as exc:  # SystemExit and co. end the connection, not the worker
            level, message, trace = handler_error(
                exc, peer_text(peer), stopping=self._state != "serving"
            )
            logger.log(level, "%s", message, exc_info=exc if trace else None)
        finally:
            try:
                if conn is not None:
                    conn.close()
                tracked.close()
            except Exception:  # pragma: no cover - close() should not fail
                logger.exception("netkit server: closing %s failed", peer_text(peer))
        return tracked
