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
``netkit``, with the peer) and closes only its connection; ``EMFILE``/``ENFILE`` and
other resource errors at ``accept()`` back off (up to 0.1 s) instead of spinning;
``max_connections`` stops *accepting* when full, so extra clients wait in the kernel's
backlog rather than being accepted and dropped.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from netkit._core.checks import check_size, check_timeout
from netkit.addr import Endpoint
from netkit.errors import NetkitTimeout
from netkit.lookup import resolve
from netkit.options import SocketOptions
from netkit.tcp.connection import TcpConnection

__all__ = ["TcpServer"]

logger = logging.getLogger("netkit")

Handler = Callable[[TcpConnection], None]

# Errors from accept() that mean "out of a resource for now": back off and retry.
_RESOURCE_ERRNOS = frozenset(
    code
    for code in (
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOBUFS,
        errno.ENOMEM,
        getattr(errno, "EPERM", None),  # Linux firewalls can refuse a connection this way
    )
    if code is not None
)
# Errors from accept() about one connection that died in the backlog: just go on.
_TRANSIENT_ERRNOS = frozenset(
    code
    for code in (
        errno.ECONNABORTED,
        errno.EINTR,
        errno.EAGAIN,
        errno.EPROTO,
        getattr(errno, "ENOPROTOOPT", None),
        getattr(errno, "EHOSTDOWN", None),
        getattr(errno, "ENONET", None),
        getattr(errno, "EHOSTUNREACH", None),
        getattr(errno, "EOPNOTSUPP", None),
        getattr(errno, "ENETUNREACH", None),
    )
    if code is not None
)
_BACKOFF_FIRST = 0.001
_BACKOFF_MAX = 0.1
# How long an idle pooled worker waits for a new connection before its thread exits.
_WORKER_IDLE = 10.0

# Options that belong to the listening socket, and to each accepted connection.
_LISTENER_FIELDS = ("reuse_addr", "reuse_port", "v6only", "recv_buffer", "send_buffer")
_CONNECTION_FIELDS = ("nodelay", "keepalive", "linger", "ttl")


def _listen_address(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    """The (family, sockaddr) a server on *host* listens on (both servers use it).

    ``""`` is every IPv4 address and ``"::"`` every address of both families; anything
    else is resolved, so a bad host raises netkit's AddressError or LookupFailed (a
    name may block: the aio server calls this in a thread).
    """
    if host in ("", "::"):
        family = socket.AF_INET6 if host == "::" else socket.AF_INET
        return family, (host or "0.0.0.0", port)
    info = resolve(host, port)[0]
    return info.family, tuple(info.sockaddr)


def _listen_socket(
    family: int, sockaddr: tuple[Any, ...], backlog: int, options: SocketOptions
) -> socket.socket:
    """A bound, listening stream socket with the listener options applied (blocking).

    SO_REUSEADDR is on unless the options say otherwise, and ``"::"`` is dual stack
    whatever ``net.ipv6.bindv6only`` says, unless ``v6only`` is set.
    """
    options = _pick(options, _LISTENER_FIELDS)
    if options.reuse_addr is None:
        options = dataclasses.replace(options, reuse_addr=True)
    if family == socket.AF_INET6 and options.v6only is None and sockaddr[0] == "::":
        options = dataclasses.replace(options, v6only=False)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        options.apply(sock)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _pick(options: SocketOptions, names: tuple[str, ...]) -> SocketOptions:
    values = {f.name: None for f in dataclasses.fields(options) if f.name not in names}
    return dataclasses.replace(options, **values)


def _endpoint(address: object) -> Endpoint | None:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0]).split("%", 1)[0] if address[0] else "0.0.0.0"
        try:
            return Endpoint(host, int(address[1]))
        except ValueError:
            return None
    return None


class _Worker:
    """A pooled thread that runs handlers, one connection at a time."""

    __slots__ = ("item", "thread", "wake")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()  # held until there is work: release() hands a connection over
        self.item: tuple[socket.socket, object] | None = None
        self.thread: threading.Thread | None = None


def _check_server_args(
    host: object,
    port: object,
    backlog: object,
    max_connections: object,
    idle_timeout: object,
    options: object,
    tls: object,
    tls_handshake_timeout: object,
) -> None:
    """Validate TcpServer's arguments (shared with :class:`netkit.aio.TcpServer`)."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not 0 <= check_size("port", port) <= 65535:
        raise ValueError(f"port must be in 0..65535, not {port!r}")
    check_size("backlog", backlog)
    if max_connections is not None:
        check_size("max_connections", max_connections, low=1)
    for name, seconds in (
        ("idle_timeout", idle_timeout),
        ("tls_handshake_timeout", tls_handshake_timeout),
    ):
        if seconds is None and name == "idle_timeout":
            continue
        if check_timeout(name, seconds) == 0 or seconds is None:
            raise ValueError(f"{name} must be > 0, not {seconds!r}")
    if options is not None and not isinstance(options, SocketOptions):
        raise TypeError(f"options must be SocketOptions or None, not {type(options).__name__}")
    if tls is not None and not isinstance(tls, ssl.SSLContext):
        raise TypeError(f"tls must be an ssl.SSLContext or None, not {type(tls).__name__}")


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
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        _check_server_args(
            host, port, backlog, max_connections, idle_timeout, options, tls, tls_handshake_timeout
        )

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
        self._conn_options = _pick(self._options, _CONNECTION_FIELDS)
        if self._conn_options.nodelay is None:
            self._conn_options = dataclasses.replace(self._conn_options, nodelay=True)
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
        """How many connections are open right now (handshaking or in a handler)."""
        return len(self._connections)

    def start(self) -> TcpServer:
        """Bind, listen and serve in background threads; return the server."""
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"cannot start a server that is {self._state}")
            listener = self._bind()
            self._listener = listener
            self._address = _endpoint(listener.getsockname())
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

        Ctrl-C (KeyboardInterrupt) stops the server gracefully, then propagates.
        """
        if self._state == "new":
            self.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop()
            raise

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop accepting now; give handlers *timeout* seconds, then close the rest.

        Returns when every handler has returned and every thread and socket of the server
        is gone. Calling it again, or before :meth:`start`, does nothing. Calling it from
        a handler is a ``RuntimeError`` (it would wait for itself): use another thread.
        """
        with self._lock:
            me = threading.current_thread()
            if any(worker.thread is me for worker in self._workers):
                raise RuntimeError("stop() called from a handler would wait for itself")
            if self._state == "new":
                self._state = "stopped"
                self._stopped.set()
                return
            if self._state != "serving":
                already = True
            else:
                already = False
                self._state = "stopping"
                self._changed.notify_all()  # an accept loop waiting for a slot gives up
        if already:
            self._stopped.wait()
            return
        self._close_listener()
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self._lock:
            while self._connections:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            # Time is up: wake whatever is left. shutdown() makes a blocked recv()
            # return b"" (or fail), so the handler finishes; its worker closes the socket.
            for sock in list(self._connections):
                try:
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass
            while self._connections:
                self._changed.wait()
            workers = list(self._workers)
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
        family, sockaddr = _listen_address(self._host, self._port)
        return _listen_socket(family, sockaddr, self._backlog, self._options)

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
        backoff = _BACKOFF_FIRST
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
                if exc.errno in _RESOURCE_ERRNOS:
                    logger.warning(
                        "netkit server %s: accept failed (%s); retrying in %.3f s",
                        self._address,
                        exc.strerror or exc,
                        backoff,
                    )
                    self._backoff_wait(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX)
                    continue
                if exc.errno in _TRANSIENT_ERRNOS:
                    continue
                if isinstance(exc, (ConnectionError, TimeoutError)):
                    continue
                logger.exception("netkit server %s: accept failed; retrying", self._address)
                self._backoff_wait(_BACKOFF_MAX)
                continue
            backoff = _BACKOFF_FIRST
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
            tracked = self._serve(item[0], item[1])
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

    def _serve(self, sock: socket.socket, peer: object) -> socket.socket:
        """Run the handler for one accepted socket, close it, return the tracked socket.

        Never raises: every failure is logged and ends only this connection.
        """
        tracked = sock
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
                    tracked = tls_sock
                    if self._state != "serving":
                        return tracked
                # bounded, so a client that never speaks cannot hold this slot for long
                tls_sock.settimeout(self._tls_handshake_timeout)
                tls_sock.do_handshake()
                tls_sock.settimeout(None)
                sock = tls_sock
            conn = TcpConnection(sock, idle_timeout=self._idle_timeout)
            self._handler(conn)
        except NetkitTimeout as exc:
            logger.info("netkit server: closing %s: %s", _peer_text(peer), exc)
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            logger.info("netkit server: connection from %s failed: %s", _peer_text(peer), exc)
        except OSError as exc:
            if self._state == "serving":
                logger.info("netkit server: connection from %s failed: %s", _peer_text(peer), exc)
        except BaseException:  # SystemExit and co. end the connection, never the worker
            logger.exception("netkit server: handler failed for %s", _peer_text(peer))
        finally:
            try:
                if conn is not None:
                    conn.close()
                tracked.close()
            except Exception:  # pragma: no cover - close() should not fail
                logger.exception("netkit server: closing %s failed", _peer_text(peer))
        return tracked


def _peer_text(peer: object) -> str:
    endpoint = _endpoint(peer)
    return str(endpoint) if endpoint is not None else repr(peer)
