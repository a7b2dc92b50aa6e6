"""``netkit connect``: a small netcat. stdin goes to the socket, the socket to stdout.

The two directions of a TCP session end separately, as with ncat and socat: the
peer's EOF ends only the receiving side (nothing more is written to stdout, stdin is
still sent), and stdin's EOF sends our FIN (``shutdown_write``) while reading goes on
until the peer's EOF. The session ends when both directions are done, and its exit
status is 1 when anything failed on the way (reset, broken pipe, timeout), with one
line on stderr naming what failed.
"""

from __future__ import annotations

import argparse
import os
import queue
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from netkit.cli import EXIT_OK, Failed, Misuse
from netkit.cli._common import add_command, nonzero_port, seconds, server_name

_EXAMPLE = """
$ printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' | netkit connect localhost 8000
$ netkit connect 127.0.0.1 9000 < backup.tar   # every byte, or exit status 1
$ echo ping | netkit connect --udp 127.0.0.1 9999 --timeout 2
$ netkit connect --tls --cafile ca.pem localhost 8443
"""

#: After stdin ends on a UDP or TLS session, wait this long for late data (no --timeout).
_UDP_LINGER = 1.0
_TLS_LINGER = 1.0

#: Bytes per read from stdin or from the socket.
_CHUNK = 65536
#: With --timeout, stdin is sent in pieces of this size, each within the timeout: a
#: peer that takes no data for that long fails the session instead of hanging it.
_SEND_PIECE = 16384
#: How often the receiving side checks whether stdin has ended, to start the idle
#: limit (only with --timeout).
_TICK = 0.2
#: Linux's tcp_info state for a closed socket (include/net/tcp_states.h).
_TCP_CLOSE = 7


def register(subparsers: Any) -> None:
    """Add ``netkit connect`` to the command line."""
    parser = add_command(
        subparsers,
        "connect",
        summary="connect to HOST PORT and pipe stdin/stdout through it (netcat)",
        description=(
            "Connect to HOST PORT over TCP (or UDP with --udp). Bytes read from stdin are "
            "sent; bytes received are written to stdout. The two directions end "
            "separately (TCP half-close, as ncat and socat do): when the peer stops "
            "sending, nothing more is written to stdout but stdin is still sent; when "
            "stdin ends, the sending side is shut down and netkit keeps reading until "
            "the peer's EOF. The session ends when both directions are done. Exit status "
            "1 (one line on stderr naming what failed) if connecting, sending or "
            "receiving failed, so a 0 means every byte of stdin was sent and, on Linux, "
            "acknowledged by the peer."
            "\n\n"
            "With --timeout, connecting is bounded, a peer that takes no data for that "
            "long fails the session, and so does a peer silent for that long after "
            "stdin ended. With --udp, each read from stdin is one datagram, and after "
            "stdin ends replies are awaited for --timeout seconds (default "
            f"{_UDP_LINGER:g}). TLS cannot half-close: after stdin ends (and all of it "
            "is sent), a TLS session reads until the peer closes or is silent for "
            f"--timeout seconds (default {_TLS_LINGER:g})."
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
        "--server-name",
        type=server_name,
        metavar="NAME",
        help="name to verify in the certificate, with --tls (default: HOST)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run one session; 0 when both directions ended normally, 1 on a failure."""
    # `is not None`: an empty value is a value the user typed, never "not given".
    if args.udp and (args.tls or args.cafile is not None or args.server_name is not None):
        raise Misuse("--tls cannot be used with --udp")
    for option, value in (("--cafile", args.cafile), ("--server-name", args.server_name)):
        if value is not None and not args.tls:
            raise Misuse(f"{option} needs --tls (without it there is no certificate to check)")
    if args.cafile == "":
        raise Misuse("--cafile needs a file name")
    if args.udp:
        return _run_udp(args)
    return _run_tcp(args)


# --- stdin, stdout and error text ------------------------------------------------------


def _stdin_chunks() -> Iterator[bytes]:
    """Yield what stdin has as it arrives (os.read: no waiting for a full buffer)."""
    if sys.stdin is None:  # started with stdin closed: nothing to send
        return
    fd = sys.stdin.fileno()
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except OSError as exc:
            raise Failed(f"reading stdin failed: {_reason(exc)}") from exc
        if not chunk:
            return
        yield chunk


def _stdout_fd() -> int:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced or closed sys.stdout
        return 1


def _write_out(data: bytes) -> None:
    """Write all of *data* to stdout, unbuffered.

    os.write, not sys.stdout: the receiving side runs in a daemon thread, and a daemon
    thread still holding the lock of sys.stdout's buffer when the process exits (after
    a failure elsewhere) makes the interpreter abort. A BrokenPipeError (the reader of
    stdout went away, ``| head``) is left to ``netkit.cli.main``, which exits quietly.
    """
    fd = _stdout_fd()
    with memoryview(data) as view:
        done = 0
        while done < len(view):
            try:
                done += os.write(fd, view[done:])
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise Failed(f"writing to stdout failed: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The short text of an error, without the ``[Errno N]`` prefix of an OSError."""
    text = getattr(exc, "strerror", None) if isinstance(exc, OSError) else None
    return str(text or exc) or type(exc).__name__


# --- TCP and TLS -----------------------------------------------------------------------


def _run_tcp(args: argparse.Namespace) -> int:
    from netkit.errors import AddressError
    from netkit.tcp import TcpClient

    tls = None
    if args.tls:
        from netkit.tls import client_context

        try:
            tls = client_context(cafile=args.cafile)
        except (OSError, ValueError) as exc:  # missing file, not PEM, no certificate
            raise Failed(f"cannot load --cafile {args.cafile!r}: {_reason(exc)}") from exc
    try:
        conn = TcpClient.connect(
            args.host,
            args.port,
            timeout=args.timeout,
            tls=tls,
            server_hostname=args.server_name,
        )
    except AddressError as exc:  # HOST is not a valid address or name: a bad argument
        raise Misuse(str(exc)) from exc
    with conn:
        peer = str(conn.remote_address)
        sock = conn.socket
        if isinstance(sock, ssl.SSLSocket):
            _tls_session(sock, peer, args.timeout)
        else:
            _tcp_session(conn, peer, args.timeout)
        # TLS cannot half-close: no FIN was sent there.
        _wait_acknowledged(sock, peer, args.timeout, fin_sent=not isinstance(sock, ssl.SSLSocket))
    return EXIT_OK


def _tcp_session(conn: Any, peer: str, timeout: float | None) -> None:
    """Plain TCP: one thread per direction; this one waits for both (or a failure).

    Two threads never deadlock on a peer that echoes more than the socket buffers
    hold, and a plain socket may be read and written by two threads at once (netkit's
    deadlines poll the descriptor and never change the socket's own timeout). Both
    threads are daemons: after a failure the process exits without waiting for a
    thread blocked on stdin or on the socket.
    """
    from netkit.errors import NetkitTimeout

    # Each side puts (side, None) when it is done, or (side, error) when it failed.
    done: queue.Queue[tuple[str, BaseException | None]] = queue.Queue()
    stdin_done = threading.Event()

    def send_side() -> None:
        try:
            for chunk in _stdin_chunks():
                _send(conn, chunk, peer, timeout)
            try:
                conn.shutdown_write()  # our FIN: the peer sees EOF, we keep reading
            except OSError as exc:
                raise Failed(f"sending to {peer} failed: {_reason(exc)}") from exc
        finally:
            stdin_done.set()  # starts the idle limit of the receiving side

    def receive_side() -> None:
        while True:
            try:
                if timeout is None:
                    data = conn.recv(_CHUNK)
                else:
                    idle = stdin_done.is_set()
                    try:
                        # Until stdin ends there is no idle limit (an interactive
                        # session may wait for its user); wake up now and then to
                        # notice when it does.
                        data = conn.recv(_CHUNK, timeout=timeout if idle else _TICK)
                    except NetkitTimeout:
                        if not idle:
                            continue
                        raise Failed(
                            f"no data from the peer ({peer}) for {timeout:g} s after stdin ended"
                        ) from None
            except OSError as exc:
                raise Failed(f"receiving from {peer} failed: {_reason(exc)}") from exc
            if not data:
                return  # the peer's EOF ends this direction only
            _write_out(data)

    def run_side(side: str, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # handed to the main thread, which raises it
            done.put((side, exc))
        else:
            done.put((side, None))

    for side, work in (("send", send_side), ("receive", receive_side)):
        threading.Thread(
            target=run_side, args=(side, work), name=f"netkit-connect-{side}", daemon=True
        ).start()
    pending = {"send", "receive"}
    while pending:
        # Queue.get() is interruptible by Ctrl-C on POSIX: KeyboardInterrupt reaches main.
        side, error = done.get()
        if error is not None:
            raise error  # the first failure ends the session (Failed, BrokenPipeError...)
        pending.discard(side)


def _send(conn: Any, data: bytes, peer: str, timeout: float | None) -> None:
    """Send all of *data*; a failure names the peer. With *timeout*, piece by piece."""
    from netkit.errors import NetkitTimeout

    try:
        if timeout is None:
            conn.sendall(data)
            return
        with memoryview(data) as view:
            for start in range(0, len(view), _SEND_PIECE):
                conn.sendall(view[start : start + _SEND_PIECE], timeout=timeout)
    except NetkitTimeout:
        raise Failed(
            f"sending to {peer} failed: the peer took no data for {timeout:g} s"
        ) from None
    except OSError as exc:
        raise Failed(f"sending to {peer} failed: {_reason(exc)}") from exc


def _tls_session(sock: ssl.SSLSocket, peer: str, timeout: float | None) -> None:
    """TLS: one thread, non-blocking, multiplexing stdin and the socket with select().

    An OpenSSL connection must not be read and written by two threads at once, so the
    two-thread design of plain TCP is not an option. TLS cannot half-close either (the
    ssl module can only tear the whole layer down), so once all of stdin is sent the
    session reads until the peer closes or stays silent for *timeout* seconds, which
    ends it normally. As for TCP, the peer's EOF ends only the receiving side: stdin
    is still sent to the end.
    """
    idle = timeout if timeout is not None else _TLS_LINGER
    stdin_fd = sys.stdin.fileno() if sys.stdin is not None else None
    receiving = True
    outgoing = b""
    send_wants_read = False  # the last send needs TLS records from the peer first
    last_progress = time.monotonic()  # of the sending side, for --timeout
    sock.setblocking(False)
    while receiving or stdin_fd is not None or outgoing:
        if receiving and sock.pending():
            readable: list[Any] = [sock]
            writable: list[Any] = []
        else:
            want_read: list[Any] = [sock] if receiving or send_wants_read else []
            want_write: list[Any] = [sock] if outgoing and not send_wants_read else []
            if stdin_fd is not None and not outgoing:
                want_read.append(stdin_fd)
            wait: float | None = None
            if outgoing and timeout is not None:
                wait = max(0.0, last_progress + timeout - time.monotonic())
            elif stdin_fd is None and not outgoing:
                wait = idle  # only receiving is left
            readable, writable, _ = select.select(want_read, want_write, [], wait)
            if not readable and not writable:
                if outgoing:
                    raise Failed(
                        f"sending to {peer} failed: the peer took no data for {timeout:g} s"
                    )
                return  # all of stdin sent and the peer silent for `idle` seconds
        if receiving and sock in readable:
            try:
                data = sock.recv(_CHUNK)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                data = None  # a partial TLS record: wait for the rest
            except OSError as exc:  # ssl.SSLError included
                raise Failed(f"receiving from {peer} failed: {_reason(exc)}") from exc
            if data == b"":
                receiving = False  # the peer's EOF ends only this direction
            elif data:
                _write_out(data)
        if stdin_fd is not None and stdin_fd in readable:
            try:
                outgoing = os.read(stdin_fd, _CHUNK)
            except OSError as exc:
                raise Failed(f"reading stdin failed: {_reason(exc)}") from exc
            if not outgoing:
                stdin_fd = None
            last_progress = time.monotonic()
        if outgoing and (sock in writable or (send_wants_read and sock in readable)):
            send_wants_read = False
            try:
                # The ssl module sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, so retrying
                # with the (same) remaining bytes after a WantWrite is allowed.
                sent = sock.send(outgoing)
            except ssl.SSLWantWriteError:
                sent = 0
            except ssl.SSLWantReadError:
                sent, send_wants_read = 0, True
            except OSError as exc:
                raise Failed(f"sending to {peer} failed: {_reason(exc)}") from exc
            if sent:
                outgoing = outgoing[sent:]
                last_progress = time.monotonic()


def _wait_acknowledged(
    sock: socket.socket, peer: str, timeout: float | None, *, fin_sent: bool
) -> None:
    """Return once the peer's TCP has acknowledged every byte sent, or raise Failed.

    When sendall() returns, the bytes are in the kernel's send buffer, not at the peer.
    If the peer ended its side first (``ncat --recv-only``), nothing else would tell
    whether the tail arrived: a reset now would go unnoticed and the session would end
    with status 0. On Linux the kernel says how much is still unacknowledged
    (``SIOCOUTQ``); elsewhere the kernel delivers the rest after exit, as ncat leaves
    it. With *timeout*, no progress for that long is a failure; without, the kernel's
    retransmission limit ends the wait with an error if the peer vanished.
    """
    if not sys.platform.startswith("linux"):
        return
    import fcntl
    import termios

    # Our FIN takes one sequence number and is counted until acknowledged. A peer long
    # gone may answer it with a reset; that loses no data, so it is not a failure.
    allowance = 1 if fin_sent else 0
    delay = 0.001
    last = -1
    stalled_since = time.monotonic()
    while True:
        try:
            # The state first: the kernel counts the last acknowledgement before it
            # closes the socket, so "closed" with bytes still queued means a reset.
            state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            # SIOCOUTQ (the same number as TIOCOUTQ): bytes not yet acknowledged.
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        except OSError:
            return  # the kernel cannot tell: leave it to the kernel, as ncat does
        queued: int = struct.unpack("i", raw)[0] - allowance
        if queued <= 0:
            return
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise Failed(f"sending to {peer} failed: {os.strerror(code)}")
        if state == _TCP_CLOSE:
            raise Failed(
                f"sending to {peer} failed: connection closed with {queued} bytes not acknowledged"
            )
        now = time.monotonic()
        if queued != last:
            last, stalled_since = queued, now
        elif timeout is not None and now - stalled_since > timeout:
            raise Failed(f"sending to {peer} failed: the peer took no data for {timeout:g} s")
        # Polling with a short, growing sleep: no event says "all acknowledged", and
        # poll() reports POLLHUP without a pause once both sides have sent their FIN.
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


# --- UDP -------------------------------------------------------------------------------


def _run_udp(args: argparse.Namespace) -> int:
    from netkit.errors import AddressError, NetkitTimeout
    from netkit.udp import UdpEndpoint

    linger = args.timeout if args.timeout is not None else _UDP_LINGER
    try:
        endpoint = UdpEndpoint.connect(args.host, args.port)
    except AddressError as exc:  # HOST is not a valid address or name: a bad argument
        raise Misuse(str(exc)) from exc
    peer = str(endpoint.remote_address)
    stdin_done = threading.Event()
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            for chunk in _stdin_chunks():
                try:
                    endpoint.send(chunk)
                except (OSError, ValueError) as exc:  # refused, too large, ...
                    raise Failed(f"sending to {peer} failed: {_reason(exc)}") from exc
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            stdin_done.set()

    threading.Thread(target=pump, name="netkit-connect-send-side", daemon=True).start()
    with endpoint:
        while not failure:
            wait = linger if stdin_done.is_set() else _TICK
            try:
                data = endpoint.recv(max_size=65535, timeout=wait)
            except NetkitTimeout:
                if stdin_done.is_set():
                    break
                continue
            except OSError as exc:  # an ICMP "port unreachable" shows up here
                raise Failed(f"receiving from {peer} failed: {_reason(exc)}") from exc
            _write_out(data)
    if failure:
        raise failure[0]
    return EXIT_OK
