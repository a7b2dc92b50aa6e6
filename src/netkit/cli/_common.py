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
from typing import TYPE_CHECKING, Any, TextIO

from netkit._core.checks import parse_port_text
from netkit.errors import AddressError, NetkitError, describe

if TYPE_CHECKING:
    from netkit.tcp import TcpConnection

#: How long a blocking step in the CLI may wait before it gives up, in seconds.
STEP_TIMEOUT = 5.0


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


def log(message: str) -> None:
    """One status line on stderr (stdout is for data and for the "listening on" line)."""
    print(message, file=sys.stderr, flush=True)


# --- handlers behind `netkit serve` ----------------------------------------------------


def echo_handler(conn: TcpConnection) -> None:
    """Send back every byte received until the peer closes."""
    with contextlib.suppress(OSError, NetkitError):
        while data := conn.recv(65536):
            conn.sendall(data)


def discard_handler(conn: TcpConnection) -> None:
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

    def __call__(self, conn: TcpConnection) -> None:
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
            name = first.decode("utf-8", "replace").strip() or str(conn.remote_address)
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
                    self.broadcast(name.encode() + b": " + text + b"\n", exclude=key)
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
    def _write_loop(conn: TcpConnection, outbox: queue.Queue[bytes | None]) -> None:
        with contextlib.suppress(OSError):
            while (line := outbox.get()) is not None:
                conn.sendall(line)
