"""One netcat session: stdin to a socket, the socket to stdout (private to :mod:`netkit.cli`).

Shared by ``netkit connect`` (which connects, then runs one session) and ``netkit
listen`` (which accepts, then runs one session per client). The two directions of a
TCP session end separately, as with ncat and socat: the peer's EOF ends only the
receiving side, stdin's EOF sends our FIN, and the session ends when both are done.
Every failure is raised as :class:`~netkit.cli.Failed` with one line naming what
failed; a failure of the peer (reset, timeout...) as :class:`PeerFailed`, so that a
listener serving clients one after another can report it and go on, while a failure
of stdin or stdout ends the command.
"""

from __future__ import annotations

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

from netkit.cli import Failed
from netkit.cli._common import reason

#: After stdin ends on a UDP or TLS session, wait this long for late data (no --timeout).
UDP_LINGER = 1.0
TLS_LINGER = 1.0

#: Bytes per read from stdin or from the socket.
CHUNK = 65536
#: With --timeout, stdin is sent in pieces of this size, each within the timeout: a
#: peer that takes no data for that long fails the session instead of hanging it.
_SEND_PIECE = 16384
#: How often the receiving side checks whether stdin has ended, to start the idle
#: limit (only with --timeout).
TICK = 0.2
#: Linux's tcp_info state for a closed socket (include/net/tcp_states.h).
_TCP_CLOSE = 7


class PeerFailed(Failed):
    """A session failed because of its peer (reset, refused, timeout, TLS error...).

    Reading stdin or writing stdout failing is a plain :class:`~netkit.cli.Failed`:
    no later session could do better.
    """


class Wakeup:
    """A flag that a thread blocked in ``select()`` on :meth:`fileno` notices at once.

    An Event alone cannot wake a thread waiting for stdin; a pipe can.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._read, self._write = os.pipe()

    def set(self) -> None:
        """Raise the flag and wake every ``select()`` on :meth:`fileno`."""
        if not self._event.is_set():
            self._event.set()
            os.write(self._write, b"x")

    def is_set(self) -> bool:
        """Whether :meth:`set` was called."""
        return self._event.is_set()

    def fileno(self) -> int:
        """The descriptor to ``select()`` on: readable once the flag is raised."""
        return self._read

    def close(self) -> None:
        """Release the pipe; only when no thread can still be waiting on it."""
        os.close(self._read)
        os.close(self._write)


class Stdin:
    """stdin, read in chunks as data arrives, handed to one session after another.

    A listener keeping its socket open (``-k``) serves clients in turn from one stdin:
    what a session did not read stays for the next one, and once stdin has ended every
    later session sees it ended at once.
    """

    def __init__(self) -> None:
        # Started with stdin closed: nothing to send.
        self.fd: int | None = None if sys.stdin is None else sys.stdin.fileno()
        self.ended = self.fd is None

    def chunks(self, stop: Wakeup | None = None) -> Iterator[bytes]:
        """Yield what stdin has as it arrives (os.read: no waiting for a full buffer).

        With *stop*, return as soon as it is set, without reading another byte: the
        rest of stdin belongs to the next session.

        Raises:
            Failed: reading stdin failed.
        """
        while not self.ended and self.fd is not None:
            if stop is not None:
                # Wait for stdin or the stop, whichever comes first; a stop wins a tie
                # so that no byte is read for a session that is over.
                select.select([self.fd, stop.fileno()], [], [])
                if stop.is_set():
                    return
            try:
                chunk = os.read(self.fd, CHUNK)
            except OSError as exc:
                raise Failed(f"reading stdin failed: {reason(exc)}") from exc
            if not chunk:
                self.ended = True
                return
            yield chunk


def _stdout_fd() -> int:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced or closed sys.stdout
        return 1


def write_out(data: bytes) -> None:
    """Write all of *data* to stdout, unbuffered.

    os.write, not sys.stdout: the receiving side runs in a daemon thread, and a daemon
    thread still holding the lock of sys.stdout's buffer when the process exits (after
    a failure elsewhere) makes the interpreter abort. A BrokenPipeError (the reader of
    stdout went away, ``| head``) is left to ``netkit.cli.main``, which exits quietly.

    Raises:
        Failed: writing failed (other than a broken pipe).
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
                raise Failed(f"writing to stdout failed: {reason(exc)}") from exc


# --- TCP -------------------------------------------------------------------------------


def tcp_session(
    conn: Any,
    peer: str,
    timeout: float | None,
    stdin: Stdin,
    *,
    end_with_peer: bool = False,
) -> None:
    """Plain TCP: one thread per direction; this one waits for both (or a failure).

    Two threads never deadlock on a peer that echoes more than the socket buffers
    hold, and a plain socket may be read and written by two threads at once (netkit's
    deadlines poll the descriptor and never change the socket's own timeout). Both
    threads are daemons: after a failure the process exits without waiting for a
    thread blocked on stdin or on the socket.

    With *end_with_peer* (a listener serving clients in turn), the peer's EOF ends the
    whole session: the chunk being sent is finished, our FIN follows, and the rest of
    stdin stays for the next session. When the session ends (even by a failure),
    nothing is left reading stdin.

    Raises:
        PeerFailed: sending to or receiving from *peer* failed, or timed out.
        Failed: reading stdin or writing stdout failed.
        BrokenPipeError: the reader of stdout went away.
    """
    from netkit.errors import NetkitTimeout

    # Each side puts (side, None) when it is done, or (side, error) when it failed.
    done: queue.Queue[tuple[str, BaseException | None]] = queue.Queue()
    stdin_done = threading.Event()
    stop = Wakeup() if end_with_peer else None

    def send_side() -> None:
        try:
            for chunk in stdin.chunks(stop):
                send(conn, chunk, peer, timeout)
            try:
                conn.shutdown_write()  # our FIN: the peer sees EOF, we keep reading
            except OSError as exc:
                raise PeerFailed(f"sending to {peer} failed: {reason(exc)}") from exc
        finally:
            stdin_done.set()  # starts the idle limit of the receiving side

    def receive_side() -> None:
        while True:
            try:
                if timeout is None:
                    data = conn.recv(CHUNK)
                else:
                    idle = stdin_done.is_set()
                    try:
                        # Until stdin ends there is no idle limit (an interactive
                        # session may wait for its user); wake up now and then to
                        # notice when it does.
                        data = conn.recv(CHUNK, timeout=timeout if idle else TICK)
                    except NetkitTimeout:
                        if not idle:
                            continue
                        raise PeerFailed(
                            f"no data from the peer ({peer}) for {timeout:g} s after stdin ended"
                        ) from None
            except OSError as exc:
                raise PeerFailed(f"receiving from {peer} failed: {reason(exc)}") from exc
            if not data:
                if stop is not None:
                    stop.set()  # a listener's client that is done ends its session
                return  # otherwise the peer's EOF ends this direction only
            write_out(data)

    def run_side(side: str, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # handed to the main thread, which raises it
            done.put((side, exc))
        else:
            done.put((side, None))

    sender = threading.Thread(
        target=run_side, args=("send", send_side), name="netkit-session-send", daemon=True
    )
    sender.start()
    threading.Thread(
        target=run_side, args=("receive", receive_side), name="netkit-session-receive", daemon=True
    ).start()
    try:
        pending = {"send", "receive"}
        while pending:
            # Queue.get() is interruptible by Ctrl-C on POSIX: KeyboardInterrupt
            # reaches main.
            side, error = done.get()
            if error is not None:
                raise error  # the first failure ends the session (Failed, BrokenPipe...)
            pending.discard(side)
    except Exception:
        if stop is not None:
            # The next session must be the only reader of stdin: stop the sending
            # side (a select() on stdin wakes at once, a send blocked on this peer
            # is woken by the close) before handing stdin on.
            stop.set()
            conn.close()
            sender.join()
        raise
    finally:
        if stop is not None and not sender.is_alive():
            stop.close()


def send(conn: Any, data: bytes, peer: str, timeout: float | None) -> None:
    """Send all of *data*; a failure names the peer. With *timeout*, piece by piece.

    Raises:
        PeerFailed: the peer reset the connection, or took no data for *timeout*.
    """
    from netkit.errors import NetkitTimeout

    try:
        if timeout is None:
            conn.sendall(data)
            return
        with memoryview(data) as view:
            for start in range(0, len(view), _SEND_PIECE):
                conn.sendall(view[start : start + _SEND_PIECE], timeout=timeout)
    except NetkitTimeout:
        raise PeerFailed(
            f"sending to {peer} failed: the peer took no data for {timeout:g} s"
        ) from None
    except OSError as exc:
        raise PeerFailed(f"sending to {peer} failed: {reason(exc)}") from exc


def wait_acknowledged(
    sock: socket.socket, peer: str, timeout: float | None, *, fin_sent: bool
) -> None:
    """Return once the peer's TCP has acknowledged every byte sent, or raise.

    When sendall() returns, the bytes are in the kernel's send buffer, not at the peer.
    If the peer ended its side first (``ncat --recv-only``), nothing else would tell
    whether the tail arrived: a reset now would go unnoticed and the session would end
    with status 0. On Linux the kernel says how much is still unacknowledged
    (``SIOCOUTQ``); elsewhere the kernel delivers the rest after exit, as ncat leaves
    it. With *timeout*, no progress for that long is a failure; without, the kernel's
    retransmission limit ends the wait with an error if the peer vanished.

    Raises:
        PeerFailed: the peer reset the connection with bytes unacknowledged, or took
            none for *timeout* seconds.
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
            raise PeerFailed(f"sending to {peer} failed: {os.strerror(code)}")
        if state == _TCP_CLOSE:
            raise PeerFailed(
                f"sending to {peer} failed: connection closed with {queued} bytes not acknowledged"
            )
        now = time.monotonic()
        if queued != last:
            last, stalled_since = queued, now
        elif timeout is not None and now - stalled_since > timeout:
            raise PeerFailed(f"sending to {peer} failed: the peer took no data for {timeout:g} s")
        # Polling with a short, growing sleep: no event says "all acknowledged", and
        # poll() reports POLLHUP without a pause once both sides have sent their FIN.
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


# --- TLS -------------------------------------------------------------------------------


def quiet_ragged_eof(context: ssl.SSLContext) -> ssl.SSLContext:
    """Make a peer that closes TCP without a TLS close_notify an ordinary EOF.

    Python already reports that as EOF (``suppress_ragged_eofs``), but OpenSSL 3 also
    answers it with a fatal alert, written to a peer that is gone: those bytes are
    never acknowledged, so :func:`wait_acknowledged` would fail a session that lost
    nothing. Many servers close that way. The option (OpenSSL 3) keeps OpenSSL quiet,
    and changes nothing else: the ragged close still ends the receiving side.

    Parameters:
        context: a context not yet used for a connection (options are copied into
            each connection when it is made).

    Returns:
        *context*, changed.
    """
    context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return context


def tls_session(
    sock: ssl.SSLSocket,
    peer: str,
    timeout: float | None,
    stdin: Stdin,
    *,
    end_with_peer: bool = False,
) -> None:
    """TLS: one thread, non-blocking, multiplexing stdin and the socket with select().

    An OpenSSL connection must not be read and written by two threads at once, so the
    two-thread design of plain TCP is not an option. TLS cannot half-close either (the
    ssl module can only tear the whole layer down), so once all of stdin is sent the
    session reads until the peer closes or stays silent for *timeout* seconds, which
    ends it normally. As for TCP, the peer's EOF ends only the receiving side: stdin
    is still sent to the end; with *end_with_peer* it ends the session instead, once
    the chunk being sent is out (the rest of stdin stays for the next session).

    Raises:
        PeerFailed: sending to or receiving from *peer* failed, or timed out.
        Failed: reading stdin or writing stdout failed.
        BrokenPipeError: the reader of stdout went away.
    """
    idle = timeout if timeout is not None else TLS_LINGER
    stdin_fd = None if stdin.ended else stdin.fd
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
                    raise PeerFailed(
                        f"sending to {peer} failed: the peer took no data for {timeout:g} s"
                    )
                return  # all of stdin sent and the peer silent for `idle` seconds
        if receiving and sock in readable:
            try:
                data = sock.recv(CHUNK)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                data = None  # a partial TLS record: wait for the rest
            except OSError as exc:  # ssl.SSLError included
                raise PeerFailed(f"receiving from {peer} failed: {reason(exc)}") from exc
            if data == b"":
                receiving = False  # the peer's EOF ends only this direction...
                if end_with_peer:
                    stdin_fd = None  # ...or, for a listener's client, the session
            elif data:
                write_out(data)
        if stdin_fd is not None and stdin_fd in readable:
            try:
                outgoing = os.read(stdin_fd, CHUNK)
            except OSError as exc:
                raise Failed(f"reading stdin failed: {reason(exc)}") from exc
            if not outgoing:
                stdin_fd = None
                stdin.ended = True
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
                raise PeerFailed(f"sending to {peer} failed: {reason(exc)}") from exc
            if sent:
                outgoing = outgoing[sent:]
                last_progress = time.monotonic()


# --- UDP -------------------------------------------------------------------------------


def udp_session(endpoint: Any, peer: str, linger: float, stdin: Stdin) -> None:
    """A connected UDP endpoint: each read from stdin is one datagram to the peer, and
    every datagram received is written to stdout; after stdin ends, replies are
    awaited until the peer is silent for *linger* seconds.

    Raises:
        PeerFailed: sending failed (refused, too large) or the peer refused a datagram.
        Failed: reading stdin or writing stdout failed.
        BrokenPipeError: the reader of stdout went away.
    """
    from netkit.errors import NetkitTimeout

    stdin_done = threading.Event()
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            for chunk in stdin.chunks():
                try:
                    endpoint.send(chunk)
                except (OSError, ValueError) as exc:  # refused, too large, ...
                    raise PeerFailed(f"sending to {peer} failed: {reason(exc)}") from exc
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            stdin_done.set()

    threading.Thread(target=pump, name="netkit-session-send", daemon=True).start()
    while not failure:
        wait = linger if stdin_done.is_set() else TICK
        try:
            data = endpoint.recv(max_size=65535, timeout=wait)
        except NetkitTimeout:
            if stdin_done.is_set():
                break
            continue
        except OSError as exc:  # an ICMP "port unreachable" shows up here
            raise PeerFailed(f"receiving from {peer} failed: {reason(exc)}") from exc
        write_out(data)
    if failure:
        raise failure[0]
