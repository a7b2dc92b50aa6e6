"""Engine experiments for TcpServer, kept so the numbers in bench/NOTES.md can be
reproduced: ``python bench/bench_tcp.py --experiments --only "64 B x 100"``.

``leader/followers``: blocking-style handlers on threads, but one thread runs at a time.
A handler whose socket has no data parks its connection in a shared epoll set and
either hands the CPU to the next ready connection's thread (one lock release) or, when
none is ready and nobody is polling, polls itself. This removes the GIL convoy of
thread-per-connection (many threads woken by the kernel at once), at the price of
cooperative scheduling: a handler that blocks on anything but its own socket stalls
every other connection. Raw sockets, echo only: a measurement, not a library engine.

``netkit, switchinterval N ms``: netkit's TcpServer in a process whose GIL switch
interval was changed (process-wide, which is why the library never does it).

The production version of leader/followers (inside TcpServer: pooled workers, a
scheduler thread that polls and is a watchdog handing the baton on after 3 ms, deadlines
and idle timeouts while parked, TLS on the blocking path) was built, tested and measured,
and lost: 0.2x to 0.35x of thread per connection on 64 B x 100 and 0.45x on churn (see
bench/NOTES.md, "Baton scheduler"). Its patch no longer applied to the tree and was
removed; it is in the git history (commit 13bf57e, bench/_tcp_baton_scheduler.patch).
"""

from __future__ import annotations

import collections
import contextlib
import select
import socket
import threading
from collections.abc import Callable

CHUNK = 65536
_IN = select.EPOLLIN | select.EPOLLONESHOT


class _Parked:
    __slots__ = ("fd", "wake")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.wake = threading.Lock()
        self.wake.acquire()


class _Scheduler:
    def __init__(self) -> None:
        self.ep = select.epoll()
        self.lock = threading.Lock()
        self.ready: collections.deque[_Parked] = collections.deque()
        self.polling = False
        self.waiting: dict[int, _Parked] = {}
        self.registered: set[int] = set()

    def park(self, me: _Parked) -> None:
        """Return when ``me``'s socket is readable, running others meanwhile."""
        lock = self.lock
        lock.acquire()
        self.waiting[me.fd] = me
        if me.fd in self.registered:
            self.ep.modify(me.fd, _IN)
        else:
            self.ep.register(me.fd, _IN)
            self.registered.add(me.fd)
        while True:
            if self.ready:
                nxt = self.ready.popleft()
                lock.release()
                if nxt is me:
                    return
                nxt.wake.release()
                me.wake.acquire()
                return
            if self.polling:
                lock.release()
                me.wake.acquire()
                return
            self.polling = True
            lock.release()
            events = self.ep.poll()
            lock.acquire()
            self.polling = False
            for fd, _ in events:
                parked = self.waiting.pop(fd, None)
                if parked is not None:
                    self.ready.append(parked)

    def forget(self, fd: int) -> None:
        with self.lock:
            if fd in self.registered:
                self.registered.discard(fd)
                with contextlib.suppress(OSError):
                    self.ep.unregister(fd)


def serve_leader_followers(host: str, port: int) -> None:
    sched = _Scheduler()
    dontwait = socket.MSG_DONTWAIT

    def handle(sock: socket.socket) -> None:
        me = _Parked(sock.fileno())
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                try:
                    data = sock.recv(CHUNK, dontwait)
                except BlockingIOError:
                    sched.park(me)
                    continue
                if not data:
                    break
                sock.sendall(data)  # blocking fd: small replies never block here
        except OSError:
            pass
        finally:
            sched.forget(me.fd)
            sock.close()

    listener = socket.create_server((host, port), backlog=1024)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


def _netkit_with_switch_interval(seconds: float) -> Callable[[str, int], None]:
    def serve(host: str, port: int) -> None:
        import sys

        from netkit import TcpConnection, TcpServer

        # process-wide, so only ever in a benchmark process: never in the library
        sys.setswitchinterval(seconds)

        def echo(conn: TcpConnection) -> None:
            while data := conn.recv(CHUNK):
                conn.sendall(data)

        TcpServer(echo, host, port, backlog=1024).serve_forever()

    return serve


def _netkit_sched_batch(host: str, port: int) -> None:
    import os

    from netkit import TcpConnection, TcpServer

    def echo(conn: TcpConnection) -> None:
        # SCHED_BATCH: a thread woken by its socket does not preempt the running one
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        while data := conn.recv(CHUNK):
            conn.sendall(data)

    TcpServer(echo, host, port, backlog=1024).serve_forever()


def _socketserver_sched_batch(host: str, port: int) -> None:
    import os
    import socketserver

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
            sock = self.request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with contextlib.suppress(OSError):
                while data := sock.recv(CHUNK):
                    sock.sendall(data)

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 1024

    Server((host, port), Handler).serve_forever()


EXPERIMENTS: dict[str, Callable[[str, int], None]] = {
    "experiment: netkit, SCHED_BATCH": _netkit_sched_batch,
    "experiment: socketserver, SCHED_BATCH": _socketserver_sched_batch,
    "experiment: leader/followers": serve_leader_followers,
    "experiment: netkit, switchinterval 1 ms": _netkit_with_switch_interval(0.001),
    "experiment: netkit, switchinterval 50 ms": _netkit_with_switch_interval(0.05),
}
