"""Helpers for the TcpConnection / TcpClient / TLS tests: small threaded peers.

Everything here binds to 127.0.0.1 or ::1 on port 0, and every thread is joined with a
deadline by the helper that started it.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

JOIN_TIMEOUT = 10.0


def open_fd_count() -> int:
    """How many file descriptors this process has open (Linux)."""
    return len(os.listdir("/proc/self/fd"))


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def tcp_pair(family: int = socket.AF_INET) -> tuple[socket.socket, socket.socket]:
    """A connected pair of real TCP sockets on loopback: (client, server side)."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.create_server((host, 0), family=family) as listener:
        client = socket.create_connection(listener.getsockname()[:2], timeout=5)
        client.settimeout(None)
        server, _ = listener.accept()
    return client, server


def pending_bytes(sock: socket.socket) -> int:
    """Bytes queued in *sock*'s receive queue (FIONREAD)."""
    import fcntl
    import struct
    import termios

    raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


class Peer:
    """Run ``target(stop_event)`` in a thread; ``close()`` sets the event and joins it."""

    def __init__(self, target: Callable[[threading.Event], None]) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None

        def run() -> None:
            try:
                target(self.stop)
            except BaseException as exc:  # reported by close()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self, *, check: bool = True) -> None:
        self.stop.set()
        self.thread.join(JOIN_TIMEOUT)
        assert not self.thread.is_alive(), "peer thread did not stop"
        if check and self.error is not None:
            raise self.error

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(check=exc[0] is None)


def paced_writer(sock: socket.socket, reader: socket.socket, chunks: list[bytes]) -> Peer:
    """Send *chunks* one at a time, each only once *reader* has drained the last one.

    So every receive on *reader* returns exactly one chunk: the chunk boundaries are
    the split points the reader sees. Closes the writing side at the end (EOF).
    """

    def run(stop: threading.Event) -> None:
        try:
            for chunk in chunks:
                while pending_bytes(reader) and not stop.is_set():
                    stop.wait(0.0005)  # polling a condition, not timing a race
                if stop.is_set():
                    return
                sock.sendall(chunk)
            while pending_bytes(reader) and not stop.is_set():
                stop.wait(0.0005)
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)

    return Peer(run)


def dripper(sock: socket.socket, data: bytes, interval: float) -> Peer:
    """Send *data* one byte every *interval* seconds until done or stopped."""

    def run(stop: threading.Event) -> None:
        for i in range(len(data)):
            if stop.wait(interval):
                return
            try:
                sock.sendall(data[i : i + 1])
            except OSError:
                return

    return Peer(run)


class EchoServer:
    """A threaded echo server on loopback (optionally TLS); one thread per connection."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        tls: ssl.SSLContext | None = None,
        handler: Callable[[socket.socket], None] | None = None,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, 0), family=family)
        self.address: tuple[Any, ...] = self.listener.getsockname()
        self.port: int = self.address[1]
        self.tls = tls
        self.handler = handler or self._echo
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        while data := conn.recv(65536):
            conn.sendall(data)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.listener], [], [], 0.05)
            if not ready:
                continue
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            conn.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        sock = conn
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._conns.append(sock)
            self.handler(sock)
        except (OSError, ValueError) as exc:
            if not self._stop.is_set():
                self.errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._accept_thread.join(JOIN_TIMEOUT)
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
            assert not thread.is_alive()
        for conn in conns:
            conn.close()
        self.listener.close()

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def blackhole(family: int = socket.AF_INET) -> Iterator[tuple[Any, ...]]:
    """A loopback address whose SYNs go unanswered: a listener with backlog 0 and a
    full accept queue. Yields its sockaddr; connects to it stay pending."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    listener = socket.socket(family, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((host, 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(8):
            s = socket.socket(family, socket.SOCK_STREAM)
            fillers.append(s)
            s.setblocking(False)
            s.connect_ex(address)
            _, writable, _ = select.select([], [s], [], 0.5)
            if not writable:
                break  # this one is stuck: the queue is full
        else:  # pragma: no cover - depends on the kernel
            raise RuntimeError("could not fill the accept queue")
        yield address
    finally:
        for s in fillers:
            s.close()
        listener.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll *predicate* until true or *timeout*; for conditions with no event to wait on."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()
