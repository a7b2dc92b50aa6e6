"""Helpers shared by the ``netkit`` subcommands (private to :mod:`netkit.cli`).

Argument types that turn bad input into a one-line usage error (exit status 2), a tiny
text styler that only emits colour codes on a terminal, aligned tables, the handlers
behind ``netkit serve`` (echo, discard and a line-based chat room, the chat room also
used by ``netkit demo``), and SIGTERM handling so that ``kill`` stops a server as
cleanly as Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import socket
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TextIO, TypeVar

from netkit._core.checks import parse_port_text
from netkit.errors import AddressError, NetkitError, describe

if TYPE_CHECKING:
    import ssl

    from netkit.tcp.connection import StreamConnection

#: How long a blocking step in the CLI may wait before it gives up, in seconds.
STEP_TIMEOUT = 5.0

_P = ParamSpec("_P")
_T = TypeVar("_T")


def add_command(
    subparsers: Any, name: str, *, summary: str, description: str, example: str
) -> argparse.ArgumentParser:
    """Add a subcommand parser whose ``--help`` ends with a verbatim example."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=summary,
        # RawDescriptionHelpFormatter keeps the example verbatim but does not wrap the
        # description either: wrap it here, paragraph by paragraph.
        description="\n\n".join(textwrap.fill(p, 79) for p in description.split("\n\n")),
        epilog="example:\n"
        + _indent(example.strip("\n"))
        + "\n\nexit status: 0 success, 1 failed operation, 2 misuse",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())


def port(text: str) -> int:
    """argparse type: a port number 0..65535 written in ASCII decimal digits."""
    value = parse_port_text(text, allow_zero=True)
    if isinstance(value, str):
        raise argparse.ArgumentTypeError(value)
    return value


def nonzero_port(text: str) -> int:
    """argparse type: a port number 1..65535 (a destination cannot be port 0)."""
    value = parse_port_text(text, allow_zero=False)
    if isinstance(value, str):
        raise argparse.ArgumentTypeError(value)
    return value


def seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text[:40]!r}") from None
    if not (0 < value < 1e9):
        raise argparse.ArgumentTypeError(f"seconds must be > 0, not {text[:40]!r}")
    return value


def server_name(text: str) -> str:
    """argparse type: a name to check a TLS certificate against (host name or IP).

    Checked here because the ssl module refuses an empty or malformed name only at
    handshake time, with a traceback-worthy ValueError or UnicodeError.
    """
    from netkit.addr import Endpoint, is_ip

    if "%" in text and is_ip(text, allow_zone=True):
        raise argparse.ArgumentTypeError(
            f"{describe(text)} has a zone (%...), which no certificate names"
        )
    try:
        Endpoint(text, 443)  # the port is irrelevant: Endpoint checks the name
    except AddressError as exc:  # argparse puts "argument --server-name: " before it
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text[:40]!r}")
    return int(text)


class Style:
    """Bold/green/red/dim text on a terminal; plain text otherwise (or with NO_COLOR)."""

    def __init__(self, stream: TextIO) -> None:
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(
            isatty is not None
            and isatty()
            and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb"
        )

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)


def table(
    rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None, *, align: str = ""
) -> list[str]:
    """Lay *rows* out in columns; returns the lines (no trailing spaces).

    *align* has one letter per column, ``l`` or ``r`` (default ``l``): numbers read
    best right-aligned.
    """
    all_rows = [list(headers)] if headers else []
    all_rows += [list(row) for row in rows]
    if not all_rows:
        return []
    widths = [
        max(len(row[i]) for row in all_rows if i < len(row)) for i in range(len(all_rows[0]))
    ]
    lines = []
    for index, row in enumerate(all_rows):
        cells = [
            cell.rjust(widths[i]) if align[i : i + 1] == "r" else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if headers and index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def safe_text(text: str) -> str:
    """*text* with every character that could drive the operator's terminal made visible.

    Untrusted text (a chat member's name, a peer's message, an error that quotes what a
    peer sent, a name from DNS) goes through this before it is printed: control
    characters (C0 such as ESC, CR and backspace, DEL, C1 such as CSI), bidirectional
    and other format characters (U+202E RIGHT-TO-LEFT OVERRIDE, U+2066...), line and
    paragraph separators, and anything else :meth:`str.isprintable` refuses become
    Python-style escapes (``\x1b``, ``\u202e``), so an escape sequence is shown, never
    obeyed, and one line stays one line. Printable text, non-ASCII letters included,
    is unchanged. Peer *data* that ``netkit connect`` and ``netkit listen`` pass
    through (they are pipes) is not text to show and does not go through here.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def show_bytes(data: bytes, limit: int = 60) -> str:
    """A short, printable rendering of *data* for status lines."""
    text = repr(data[:limit])
    return text + (f"... ({len(data)} bytes)" if len(data) > limit else "")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt, so `kill` stops cleanly too."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def reason(exc: BaseException) -> str:
    """The short text of an error, without the ``[Errno N]`` prefix of an OSError.

    The file name of an OSError that has one is kept (``No such file or directory:
    'cert.pem'``), as Python's own message has it.
    """
    text = (getattr(exc, "strerror", None) if isinstance(exc, OSError) else None) or str(exc)
    filename = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
    if filename is not None and isinstance(exc, OSError) and exc.strerror:
        text = f"{text}: {os.fsdecode(filename)!r}"
    return text or type(exc).__name__


def endpoint_text(host: str, port: int) -> str:
    """``host:port`` as netkit writes endpoints (``[::1]:80``), for messages.

    Parameters:
        host: an IP address or host name ("" means every IPv4 address).
        port: the port number.

    Returns:
        The endpoint's text; for a host that is not valid, the two joined by a colon.
    """
    from netkit.addr import Endpoint

    try:
        return str(Endpoint(host or "0.0.0.0", port))
    except AddressError:
        return f"{host}:{port}"


def cannot_listen(host: str, port: int, exc: BaseException) -> Exception:
    """The error to raise when binding or listening on *host*:*port* failed with *exc*.

    Parameters:
        host: the host given on the command line.
        port: the port given on the command line.
        exc: what the socket layer raised.

    Returns:
        :class:`~netkit.cli.Misuse` for a host that is not an address or a name (exit
        status 2), else :class:`~netkit.cli.Failed` naming the address and the reason
        without its ``[Errno N]`` prefix: ``cannot listen on 127.0.0.1:8080: Address
        already in use`` (exit status 1).
    """
    from netkit.cli import Failed, Misuse

    if isinstance(exc, AddressError):
        return Misuse(str(exc))
    if isinstance(exc, NetkitError):
        text = str(exc)  # netkit's own message already says what (a lookup, say)
    elif isinstance(exc, OSError) and exc.errno is not None and exc.errno > 0:
        # The bare system reason: some socket layers put the address in strerror too.
        text = os.strerror(exc.errno)
    else:
        text = reason(exc)
    return Failed(f"cannot listen on {endpoint_text(host, port)}: {text}")


def tcp_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to *host*:*port* and listening, as ``netkit serve`` binds.

    ``""`` is every IPv4 address, ``::`` every address of both families (dual stack);
    a name is resolved and its first address used.

    Parameters:
        host: an IP address, a host name, ``""`` or ``::``.
        port: the port, 0 for any free one.

    Returns:
        The listening socket (blocking); its ``getsockname()`` has the real port.

    Raises:
        Misuse: *host* is not an IP address or a host name.
        Failed: the name did not resolve, or binding failed (the address is named).
    """
    from netkit.lookup import resolve

    try:
        if host in ("", "::"):
            family = socket.AF_INET6 if host == "::" else socket.AF_INET
            sockaddr: tuple[Any, ...] = (host or "0.0.0.0", port)
        else:
            info = interruptible(resolve, host, port, type=socket.SOCK_STREAM)[0]
            family, sockaddr = info.family, tuple(info.sockaddr)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # A listener started again right after a session must not wait for the
            # last connection's TIME_WAIT to end (SO_REUSEADDR never shares a port
            # with a live listener on Linux).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if host == "::":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
            sock.listen()
        except BaseException:
            sock.close()
            raise
    except (OSError, ValueError) as exc:  # AddressError is a ValueError
        raise cannot_listen(host, port, exc) from exc
    return sock


def unix_path(text: str) -> str:
    """argparse type: a Unix socket path; ``@name`` is a Linux abstract name (``"\\0name"``).

    The ``@`` spelling is the one ``ss`` and systemd print. The path's own rules
    (length, NUL) are checked by netkit when it is used, naming the path.
    """
    return "\0" + text[1:] if text.startswith("@") else text


def unix_text(path: str) -> str:
    """A Unix socket address for status lines: ``@name`` for an abstract name."""
    return "@" + path[1:] if path.startswith("\0") else path


def peer_label(conn: StreamConnection) -> str:
    """Who is at the other end, for status lines.

    An IP peer's ``HOST:PORT``; a Unix peer's path, or (usually unnamed) its process
    id from the kernel's credentials: ``pid 1234``.
    """
    remote: object = getattr(conn, "remote_address", None)  # on TcpConnection, UnixConnection
    if isinstance(remote, str):
        if remote:
            return unix_text(remote)
        try:
            return f"pid {conn.peer_credentials.pid}"  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            return "an unnamed Unix peer"
    return str(remote)


def cannot_listen_unix(path: str, exc: BaseException) -> Exception:
    """The error to raise when listening on the Unix socket *path* failed with *exc*.

    Returns:
        :class:`~netkit.cli.Misuse` for a path netkit refuses as such (too long, NUL,
        empty: exit status 2); else :class:`~netkit.cli.Failed` with netkit's message,
        which names the path and why (no such directory, not a socket, in use).
    """
    from netkit.cli import Failed, Misuse

    if isinstance(exc, (AddressError, ValueError, TypeError)):
        return Misuse(str(exc))
    text = reason(exc)
    if repr(path) not in text:
        text = f"cannot listen on {unix_text(path)!r}: {text}"
    return Failed(text)


def server_tls(
    certfile: str, keyfile: str | None, *, cert_option: str, key_option: str
) -> ssl.SSLContext:
    """A server TLS context from PEM files, every problem told in one line naming the file.

    The ssl module reports a missing file as ``[Errno 2] No such file or directory``
    and a file that is not PEM as ``[SSL] PEM lib (_ssl.c:3900)``, naming neither the
    file nor the option: each file is checked first, so the message can.

    Parameters:
        certfile: the certificate chain (PEM), with the key too when *keyfile* is None.
        keyfile: the private key (PEM), or None.
        cert_option: the option that gave *certfile*, for messages (``--cert``).
        key_option: the option that gave *keyfile*, for messages (``--key``).

    Returns:
        A context from :func:`netkit.tls.server_context`.

    Raises:
        Misuse: an empty file name.
        Failed: a file is missing, unreadable, not PEM, or the key does not match.
    """
    import ssl

    from netkit.cli import Failed, Misuse
    from netkit.tls import server_context

    wanted = [(cert_option, certfile, b"-----BEGIN CERTIFICATE-----", "a PEM certificate")]
    key_marker = b"PRIVATE KEY-----"
    if keyfile is None:
        wanted.append((cert_option, certfile, key_marker, f"a private key (give {key_option})"))
    else:
        wanted.append((key_option, keyfile, key_marker, "a PEM private key"))
    for option, path, marker, what in wanted:
        if not path:
            raise Misuse(f"{option} needs a file name")
        try:
            with open(path, "rb") as file:
                head = file.read(1 << 20)  # a PEM file is a few kB; never read a device
        except OSError as exc:
            raise Failed(f"cannot read {option} {path!r}: {exc.strerror or exc}") from exc
        if marker not in head:
            raise Failed(f"{option} {path!r} does not hold {what}")
    try:
        return server_context(certfile, keyfile)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            key = keyfile if keyfile is not None else certfile
            raise Failed(
                f"the private key in {key!r} does not match the certificate in {certfile!r}"
            ) from exc
        files = repr(certfile) if keyfile is None else f"{certfile!r} and {keyfile!r}"
        raise Failed(f"cannot load {files}: {exc.reason or reason(exc)}") from exc
    except OSError as exc:  # the file changed under us
        raise Failed(f"cannot load {certfile!r}: {reason(exc)}") from exc


def interruptible(call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run *call* in a worker thread so that Ctrl-C stops the command at once.

    For calls that may block in C on the system resolver (``getaddrinfo``, reverse
    lookups): Python runs its SIGINT handler only between bytecodes, so a slow resolver
    would hold Ctrl-C for its whole timeout (seconds per server and attempt). The
    main thread waits on an Event instead, which a signal interrupts; the worker is a
    daemon, left behind when the command ends.

    Parameters:
        call: the blocking function.
        *args: its positional arguments.
        **kwargs: its keyword arguments.

    Returns:
        What *call* returned.

    Raises:
        KeyboardInterrupt: Ctrl-C while waiting.
        BaseException: whatever *call* raised, as it raised it.
    """
    done = threading.Event()
    box: list[tuple[bool, Any]] = []

    def work() -> None:
        try:
            box.append((True, call(*args, **kwargs)))
        except BaseException as exc:  # handed to the caller below
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=work, name="netkit-cli-blocking", daemon=True).start()
    done.wait()  # interruptible by SIGINT on POSIX (a lock acquire without timeout)
    ok, value = box[0]
    if not ok:
        raise value
    result: _T = value
    return result


def log(message: str) -> None:
    """One status line on stderr (stdout is for data and for the "listening on" line).

    The line goes through :func:`safe_text`: status lines quote peers (names, errors).
    """
    print(safe_text(message), file=sys.stderr, flush=True)


# --- handlers behind `netkit serve` ----------------------------------------------------


def echo_handler(conn: StreamConnection) -> None:
    """Send back every byte received until the peer closes."""
    with contextlib.suppress(OSError, NetkitError):
        while data := conn.recv(65536):
            conn.sendall(data)


def discard_handler(conn: StreamConnection) -> None:
    """Read and drop everything until the peer closes."""
    with contextlib.suppress(OSError, NetkitError):
        while conn.recv(65536):
            pass


class ChatRoom:
    """A line-based chat room: the handler for ``netkit serve chat`` and the demo.

    The first line a client sends is its name; every later line is sent to every other
    member as ``name: text``; joins and leaves are announced as lines starting with
    ``* ``. Each member has its own writer thread fed by a bounded queue, so one slow
    reader never stalls the others (lines for a member whose queue is full are dropped).
    """

    GREETING = b"* welcome to netkit chat; send your name on the first line\n"

    def __init__(self, *, queue_size: int = 256, on_event: Callable[[str], None] | None = None):
        self._lock = threading.Lock()
        self._members: dict[int, tuple[str, queue.Queue[bytes | None]]] = {}
        self._queue_size = queue_size
        self._on_event = on_event

    @property
    def names(self) -> list[str]:
        """The names of the members now in the room."""
        with self._lock:
            return [name for name, _ in self._members.values()]

    def _event(self, text: str) -> None:
        if self._on_event is not None:
            self._on_event(text)

    def broadcast(self, line: bytes, *, exclude: int | None = None) -> None:
        """Queue *line* for every member except *exclude*; drop members that lag."""
        with self._lock:
            targets = [(key, q) for key, (_, q) in self._members.items() if key != exclude]
        for _key, q in targets:
            with contextlib.suppress(queue.Full):
                q.put_nowait(line)

    def __call__(self, conn: StreamConnection) -> None:
        """Serve one member (a TcpServer handler)."""
        outbox: queue.Queue[bytes | None] = queue.Queue(self._queue_size)
        writer = threading.Thread(
            target=self._write_loop, args=(conn, outbox), name="netkit-chat-writer", daemon=True
        )
        key = id(conn)
        joined = False
        try:
            conn.sendall(self.GREETING, timeout=STEP_TIMEOUT)
            first = conn.readline(max_bytes=256)
            # Names reach every member's terminal and the operator's log: no escapes.
            name = safe_text(first.decode("utf-8", "replace").strip()) or peer_label(conn)
            with self._lock:
                self._members[key] = (name, outbox)
                joined = True
                count = len(self._members)
            writer.start()
            outbox.put_nowait(f"* hello {name}, {count} online\n".encode())
            self.broadcast(f"* {name} joined\n".encode(), exclude=key)
            self._event(f"{name} joined")
            for raw in conn:
                text = raw.rstrip(b"\r\n")
                if text:
                    # A chat line is text for people's terminals: escapes made visible.
                    shown = safe_text(text.decode("utf-8", "replace")).encode()
                    self.broadcast(name.encode() + b": " + shown + b"\n", exclude=key)
            self._event(f"{name} left")
        except (OSError, NetkitError):
            pass  # the member went away, timed out or sent a line over the limit: it leaves
        finally:
            if joined:
                with self._lock:
                    left_name, _ = self._members.pop(key)
                self.broadcast(f"* {left_name} left\n".encode())
                # Let queued lines go out, then wake a writer stuck on a peer that never
                # reads by shutting the socket down.
                with contextlib.suppress(queue.Full):
                    outbox.put(None, timeout=1.0)
                writer.join(1.0)
                if writer.is_alive():
                    with contextlib.suppress(OSError):
                        conn.socket.shutdown(socket.SHUT_RDWR)
                    writer.join(STEP_TIMEOUT)

    @staticmethod
    def _write_loop(conn: StreamConnection, outbox: queue.Queue[bytes | None]) -> None:
        with contextlib.suppress(OSError):
            while (line := outbox.get()) is not None:
                conn.sendall(line)
