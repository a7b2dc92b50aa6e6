"""``netkit connect``: a small netcat. stdin goes to the socket, the socket to stdout."""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import ssl
import sys
import threading
from typing import Any

from netkit.cli import EXIT_FAILED, EXIT_OK, Misuse
from netkit.cli._common import add_command, log, nonzero_port, seconds

_EXAMPLE = """
$ printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' | netkit connect localhost 8000
$ echo ping | netkit connect --udp 127.0.0.1 9999 --timeout 2
$ netkit connect --tls --cafile ca.pem localhost 8443
"""

#: After stdin ends on a UDP or TLS session, wait this long for late data (no --timeout).
_UDP_LINGER = 1.0
_TLS_LINGER = 1.0


def register(subparsers: Any) -> None:
    """Add ``netkit connect`` to the command line."""
    parser = add_command(
        subparsers,
        "connect",
        summary="connect to HOST PORT and pipe stdin/stdout through it (netcat)",
        description=(
            "Connect to HOST PORT over TCP (or UDP with --udp). Bytes read from stdin are "
            "sent; bytes received are written to stdout. When stdin ends, the sending "
            "side is shut down (TCP half-close) and netkit keeps reading until the peer "
            "closes. With --timeout, connecting is bounded, and so is waiting for the "
            "peer after stdin ended (no data for that long is a failure, exit status 1). "
            "With --udp, each read from stdin is one datagram, and after stdin ends "
            f"replies are awaited for --timeout seconds (default {_UDP_LINGER:g}). TLS "
            "cannot half-close: after stdin ends, a TLS session reads until the peer "
            f"closes or is silent for --timeout seconds (default {_TLS_LINGER:g})."
        ),
        example=_EXAMPLE,
    )
    parser.add_argument("host", help="host name or IP address")
    parser.add_argument("port", type=nonzero_port, help="port number")
    parser.add_argument("--udp", "-u", action="store_true", help="use UDP instead of TCP")
    parser.add_argument(
        "--timeout", "-w", type=seconds, metavar="SECONDS", help="connect and idle limit"
    )
    parser.add_argument("--tls", action="store_true", help="use TLS (certificate verified)")
    parser.add_argument(
        "--cafile", metavar="FILE", help="trust the CA certificates in FILE (PEM) for --tls"
    )
    parser.add_argument(
        "--server-name", metavar="NAME", help="name to verify in the certificate (default: HOST)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run one session; 0 when the peer closed normally, 1 on a failure."""
    if args.udp and (args.tls or args.cafile):
        raise Misuse("--tls cannot be used with --udp")
    if (args.cafile or args.server_name) and not args.tls:
        raise Misuse("--cafile and --server-name need --tls")
    if args.udp:
        return _run_udp(args)
    return _run_tcp(args)


def _stdin_chunks() -> Any:
    """Yield what stdin has as it arrives (os.read: no waiting for a full buffer)."""
    if sys.stdin is None:  # started with stdin closed: nothing to send
        return
    fd = sys.stdin.fileno()
    while chunk := os.read(fd, 65536):
        yield chunk


def _write_out(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _run_tcp(args: argparse.Namespace) -> int:
    from netkit.tcp import TcpClient

    tls = None
    if args.tls:
        from netkit.tls import client_context

        tls = client_context(cafile=args.cafile) if args.cafile else client_context()
    conn = TcpClient.connect(
        args.host,
        args.port,
        timeout=args.timeout,
        tls=tls,
        server_hostname=args.server_name,
    )
    with conn:
        if isinstance(conn.socket, ssl.SSLSocket):
            return _tls_session(conn.socket, args.timeout)
        return _tcp_session(conn, args.timeout)


def _tcp_session(conn: Any, timeout: float | None) -> int:
    """Plain TCP: a thread copies stdin to the socket while this one copies it back.

    Two threads never deadlock on a peer that echoes more than the socket buffers
    hold, and a plain socket may be read and written by two threads at once (netkit's
    deadlines poll the descriptor and never change the socket's own timeout).
    """
    from netkit.errors import NetkitTimeout

    stdin_done = threading.Event()

    def pump() -> None:
        try:
            for chunk in _stdin_chunks():
                conn.sendall(chunk)
            conn.shutdown_write()
        except OSError:
            pass  # the peer went away first: the reading side sees that and decides
        finally:
            stdin_done.set()

    # A daemon thread: if the peer closes first, we exit without waiting for stdin.
    threading.Thread(target=pump, name="netkit-connect-stdin", daemon=True).start()
    sock = conn.socket
    while True:
        if timeout is not None:
            if stdin_done.is_set():
                # select(), not a socket timeout: the sending thread shares the socket.
                if not select.select([sock], [], [], timeout)[0]:
                    raise NetkitTimeout(f"no data from the peer for {timeout:g} s")
            elif not select.select([sock], [], [], 0.2)[0]:
                continue  # wake up now and then to start the idle limit after stdin
        data = conn.recv(65536)
        if not data:
            return EXIT_OK
        _write_out(data)


def _tls_session(sock: ssl.SSLSocket, timeout: float | None) -> int:
    """TLS: one thread, non-blocking, multiplexing stdin and the socket with select().

    An OpenSSL connection must not be read and written by two threads at once, so the
    two-thread design of plain TCP is not an option. TLS cannot half-close either (the
    ssl module can only tear the whole layer down), so once stdin has ended the session
    reads until the peer closes or stays silent for *timeout* seconds, which ends it
    normally.
    """
    idle = timeout if timeout is not None else _TLS_LINGER
    stdin_fd = sys.stdin.fileno() if sys.stdin is not None else None
    outgoing = b""
    sock.setblocking(False)
    while True:
        if sock.pending():
            readable: list[Any] = [sock]
            writable: list[Any] = []
        else:
            want_read: list[Any] = [sock]
            if stdin_fd is not None and not outgoing:
                want_read.append(stdin_fd)
            wait = idle if stdin_fd is None and not outgoing else None
            readable, writable, _ = select.select(want_read, [sock] if outgoing else [], [], wait)
            if not readable and not writable:
                return EXIT_OK  # stdin done and the peer silent for `idle` seconds
        if sock in readable:
            try:
                data = sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                data = None  # a partial TLS record: wait for the rest
            if data == b"":
                return EXIT_OK
            if data:
                _write_out(data)
        if stdin_fd is not None and stdin_fd in readable:
            outgoing = os.read(stdin_fd, 65536)
            if not outgoing:
                stdin_fd = None
        if outgoing:
            try:
                # The ssl module sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, so retrying
                # with the (same) remaining bytes after a WantWrite is allowed.
                sent = sock.send(outgoing)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                sent = 0
            outgoing = outgoing[sent:]


def _run_udp(args: argparse.Namespace) -> int:
    from netkit.errors import NetkitTimeout
    from netkit.udp import UdpEndpoint

    linger = args.timeout if args.timeout is not None else _UDP_LINGER
    endpoint = UdpEndpoint.connect(args.host, args.port)
    stdin_done = threading.Event()
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            for chunk in _stdin_chunks():
                endpoint.send(chunk)
        except Exception as exc:  # too large, refused, ...: reported by the main thread
            failure.append(exc)
        finally:
            stdin_done.set()

    threading.Thread(target=pump, name="netkit-connect-stdin", daemon=True).start()
    with endpoint:
        while not failure:
            wait = linger if stdin_done.is_set() else 0.2
            try:
                data = endpoint.recv(max_size=65535, timeout=wait)
            except NetkitTimeout:
                if stdin_done.is_set():
                    break
                continue
            _write_out(data)
    if failure:
        exc = failure[0]
        with contextlib.suppress(Exception):
            log(f"netkit connect: {exc}")
        return EXIT_FAILED
    return EXIT_OK
