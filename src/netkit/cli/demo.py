"""``netkit demo``: a guided tour of netkit on loopback, step by step, in a few seconds."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from netkit.cli import EXIT_FAILED, EXIT_OK
from netkit.cli._common import (
    STEP_TIMEOUT,
    ChatRoom,
    Style,
    add_command,
    safe_text,
    show_bytes,
    table,
)
from netkit.errors import NetkitError

if TYPE_CHECKING:
    from netkit.options import SocketOptions
    from netkit.tcp import TcpClient, TcpConnection

_EXAMPLE = """
$ netkit demo
$ netkit demo --step 2     # only the chat round
"""

#: Every wait in the demo is bounded by this (seconds); the whole demo takes well under.
T = STEP_TIMEOUT


class StepFailed(Exception):
    """A demo step did not see what it expected."""


def register(subparsers: Any) -> None:
    """Add ``netkit demo`` to the command line."""
    parser = add_command(
        subparsers,
        "demo",
        summary="a guided tour on loopback: TCP, framing, chat, UDP, options, addresses",
        description=(
            "Run a short tour of netkit on loopback (127.0.0.1) only: a TCP server and "
            "client exchanging a greeting and framed messages, a three-client chat "
            "round, a UDP echo, socket options set and read back from the kernel, and "
            "strict validation of tricky addresses. Needs no network and no "
            "configuration; exits 0 when every step worked, 1 otherwise."
        ),
        example=_EXAMPLE,
    )
    parser.add_argument(
        "--step",
        type=int,
        choices=range(1, len(_STEPS) + 1),
        metavar="N",
        help=f"run only step N (1..{len(_STEPS)})",
    )
    parser.set_defaults(func=run)


class _Out:
    """Prints the demo: numbered steps, indented detail lines, aligned tables."""

    def __init__(self) -> None:
        self.style = Style(sys.stdout)

    def line(self, text: str = "") -> None:
        print(("   " + text) if text else "", flush=True)

    def table(
        self, rows: list[list[str]], headers: list[str] | None = None, align: str = ""
    ) -> None:
        lines = table(rows, headers, align=align)
        if headers:
            # Headers and rule dimmed on a terminal; plain text otherwise.
            lines[0] = self.style.bold(lines[0])
            lines[1] = self.style.dim(lines[1])
        for text in lines:
            self.line(text)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


# --- step 1: a greeting over TCP ------------------------------------------------------


def _greeter(conn: TcpConnection) -> None:
    """Demo server: read a name line, greet, then send every frame back reversed."""
    # Errors end the connection quietly; the client side notices and reports them.
    with contextlib.suppress(OSError, NetkitError):
        name = conn.readline(max_bytes=100, timeout=T).decode("utf-8", "replace").strip()
        conn.sendall(f"hello, {name}!\n".encode(), timeout=T)
        while True:  # until ConnectionClosed: the client is done
            frame = conn.recv_frame(max_size=1 << 20, timeout=T)
            conn.send_frame(frame[::-1], timeout=T)


def _step_greeting(out: _Out) -> None:
    from netkit.tcp import TcpClient, TcpServer

    with TcpServer(_greeter) as server:
        out.line(f"server   listening on {server.address} (port 0: the kernel picked one)")
        with TcpClient.connect("127.0.0.1", server.address.port, timeout=T) as client:
            out.line(f"client   connected from {client.local_address}")
            client.sendall(b"ada\n", timeout=T)
            out.line(f"client   sent      {show_bytes(b'ada' + bytes([10]))}")
            reply = client.readline(max_bytes=100, timeout=T)
            out.line(f"client   received  {show_bytes(reply)}")
            _expect(reply == b"hello, ada!\n", f"unexpected greeting {reply!r}")
            _frames(out, client)


# --- step 1, continued: framed messages -----------------------------------------------


def _frames(out: _Out, client: TcpClient) -> None:
    """The second half of step 1, on the same connection."""
    out.line()
    out.line("framed messages on the same connection (4-byte big-endian length prefix);")
    out.line("the server sends each one back reversed:")
    payloads = [b"", b"netkit", b"x" * 100_000 + b"end"]
    rows = []
    for payload in payloads:
        client.send_frame(payload, timeout=T)
        back = client.recv_frame(max_size=1 << 20, timeout=T)
        _expect(back == payload[::-1], f"frame of {len(payload)} bytes came back wrong")
        rows.append([f"{len(payload):,} B", show_bytes(payload, 12), show_bytes(back, 12)])
    out.table(rows, ["size", "sent", "received"], align="rll")
    out.line("a 100 kB message arrives whole: recv_frame reads until the frame is complete")


# --- step 2: chat ---------------------------------------------------------------------


def _step_chat(out: _Out) -> None:
    from netkit.tcp import TcpClient, TcpServer

    room = ChatRoom()
    names = ["alice", "bob", "carol"]
    said = {"alice": "hi all", "bob": "hello alice", "carol": "hey, carol here"}
    with TcpServer(room) as server, contextlib.ExitStack() as stack:
        out.line(f"chat server listening on {server.address}; each line goes to the others")
        clients: dict[str, TcpClient] = {}
        for name in names:
            client = stack.enter_context(
                TcpClient.connect("127.0.0.1", server.address.port, timeout=T)
            )
            _expect(client.readline(timeout=T) == ChatRoom.GREETING, "no chat greeting")
            client.sendall(name.encode() + b"\n", timeout=T)
            welcome = client.readline(timeout=T)
            _expect(welcome.startswith(f"* hello {name}".encode()), f"bad welcome {welcome!r}")
            clients[name] = client
        received: dict[str, list[str]] = {name: [] for name in names}
        rows = []
        for speaker in names:
            clients[speaker].sendall(said[speaker].encode() + b"\n", timeout=T)
            expected = f"{speaker}: {said[speaker]}"
            for listener in names:
                if listener == speaker:
                    continue
                while True:  # skip "* bob joined" style notices
                    line = clients[listener].readline(timeout=T).decode().rstrip("\n")
                    _expect(line != "", f"{listener} was disconnected")
                    if not line.startswith("* "):
                        break
                _expect(line == expected, f"{listener} got {line!r}, expected {expected!r}")
                received[listener].append(speaker)
            others = [n for n in names if n != speaker]
            rows.append([speaker, f'"{said[speaker]}"', ", ".join(others)])
        out.table(rows, ["who", "says", "delivered to"])
        for name in names:
            _expect(name not in received[name], f"{name} got its own message")
        out.line(f"{len(names)} messages, {2 * len(names)} deliveries; nobody got their own")


# --- step 3: UDP ----------------------------------------------------------------------


def _step_udp(out: _Out) -> None:
    from netkit.errors import FrameTooLarge
    from netkit.udp import UdpEndpoint

    messages = [b"ping", b"datagrams keep their boundaries", b"x" * 1200]
    with UdpEndpoint.bind("127.0.0.1", 0) as server:
        out.line(f"UDP echo server bound to {server.address}")
        done = threading.Event()
        errors: list[BaseException] = []

        def echo() -> None:
            try:
                for _ in messages:
                    datagram = server.recvfrom(timeout=T)
                    server.sendto(datagram.data, datagram.sender)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=echo, name="netkit-demo-udp", daemon=True)
        thread.start()
        try:
            with UdpEndpoint.connect("127.0.0.1", server.address.port) as client:
                rows = []
                for message in messages:
                    client.send(message)
                    back = client.recv(timeout=T)
                    _expect(back == message, f"UDP echo returned {back!r}")
                    rows.append([f"{len(message)} B", show_bytes(message, 16), "echoed whole"])
                out.table(rows, ["size", "datagram", "result"], align="rll")
                try:
                    client.send(b"x" * 70_000)
                except FrameTooLarge as exc:
                    out.line(
                        "a 70,000-byte datagram raises FrameTooLarge before anything is sent:"
                    )
                    out.line(f"  {_short(exc, 72)}")
                else:
                    raise StepFailed("an oversized datagram was not refused")
        finally:
            thread.join(T)
        _expect(done.is_set() and not errors, f"UDP echo server failed: {errors[:1]}")


# --- step 4: socket options -----------------------------------------------------------


def _show_option(value: object) -> str:
    from netkit.options import KeepAlive

    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, KeepAlive):
        return f"on: idle {value.idle} s, every {value.interval} s, {value.count} probes"
    if isinstance(value, float):
        return "blocking" if value == float("inf") else f"{value:g} s"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _step_options(out: _Out) -> None:
    import socket

    from netkit.options import KeepAlive, SocketOptions

    asked = SocketOptions(
        reuse_addr=True,
        nodelay=True,
        keepalive=KeepAlive(idle=60, interval=10, count=5),
        recv_buffer=65536,
        send_buffer=65536,
        timeout=2.5,
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        asked.apply(sock)
        got = SocketOptions.read(sock)
    out.line("a TCP socket; options applied, then read back from the kernel:")
    fields = ["reuse_addr", "nodelay", "keepalive", "recv_buffer", "send_buffer", "timeout"]
    rows = [
        [field, _show_option(getattr(asked, field)), _show_option(getattr(got, field))]
        for field in fields
    ]
    out.table(rows, ["option", "asked", "kernel reports"])
    _check_options(asked, got)
    if got.recv_buffer == 2 * 65536:
        out.line("SO_RCVBUF reads back doubled: Linux reserves the extra half for its own")
        out.line("bookkeeping (man 7 socket). netkit reports what the kernel really holds.")
    else:
        out.line(f"SO_RCVBUF: the kernel holds {got.recv_buffer:,} bytes for 65,536 asked.")


def _check_options(asked: SocketOptions, got: SocketOptions) -> None:
    for field in ("reuse_addr", "nodelay", "keepalive", "timeout"):
        _expect(getattr(got, field) == getattr(asked, field), f"{field} did not stick")
    _expect(got.recv_buffer is not None and got.recv_buffer > 0, "no SO_RCVBUF read back")


# --- step 5: addresses ----------------------------------------------------------------


def _verdict(text: str) -> str:
    """What netkit makes of *text*, computed (never a canned answer)."""
    from netkit import addr
    from netkit.errors import AddressError

    if text.startswith("[") or (text.count(":") == 1 and not text.endswith("\n")):
        try:
            endpoint = addr.parse_endpoint(text)
        except AddressError:
            return "refused"
        return f"endpoint {endpoint.host} port {endpoint.port}"
    version = addr.ip_version(text, allow_zone=True)
    if version is None:
        return "refused"
    canonical = addr.normalize_ip(text)
    notes = [f"IPv{version}"]
    if canonical != text:
        notes.append(canonical)
    classify: Callable[[str], str] | None = getattr(addr, "classify", None)
    if classify is not None:
        notes.append(classify(text))
    elif addr.is_loopback(text):
        notes.append("loopback")
    elif not addr.is_global(text):
        notes.append("not global")
    return ", ".join(notes)


#: Inputs that fool naive validators: (input, what netkit must say, why it matters).
TRICKY = [
    ("127.0.0.1", "IPv4", "the plain case"),
    ("127.1", "refused", "inet_aton() says 127.0.0.1"),
    ("0127.0.0.1", "refused", "0127 is octal 87 to some"),
    ("fe80::1%eth0\n", "refused", "the stdlib ipaddress accepts it"),
    ("2001:DB8:0:0:0:0:0:1", "IPv6", "RFC 5952 canonical form"),
    ("::ffff:127.0.0.1", "IPv6", "loopback behind a v4 mapping"),
    ("fe80::1%eth0", "IPv6", "zone (RFC 4007) kept as given"),
    ("169.254.169.254", "IPv4", "cloud metadata: not for users"),
    ("[::1]:8080", "endpoint", "IPv6 endpoints need brackets"),
    ("0x7f000001:80", "refused", "resolvers read 127.0.0.1"),
]


def _short(exc: BaseException, limit: int) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _step_addresses(out: _Out) -> None:
    from netkit import addr

    rows = []
    for text, expected, why in TRICKY:
        verdict = _verdict(text)
        _expect(verdict.startswith(expected), f"{text!r}: expected {expected}, got {verdict}")
        rows.append([repr(text), verdict, why])
    out.table(rows, ["input", "netkit says", "why it matters"])
    _expect(addr.is_loopback("::ffff:127.0.0.1"), "mapped loopback not seen through")
    _expect(not addr.is_global("169.254.169.254"), "metadata address called global")


_STEPS: list[tuple[str, Callable[[_Out], None]]] = [
    ("TCP: a server and a client exchange a greeting and framed messages", _step_greeting),
    ("Chat: three clients, every message broadcast to the others", _step_chat),
    ("UDP: an echo round trip", _step_udp),
    ("Socket options: set, then read back from the kernel", _step_options),
    ("Addresses: strict validation of tricky input", _step_addresses),
]


@contextlib.contextmanager
def _timed() -> Iterator[list[float]]:
    box = [time.perf_counter()]
    yield box
    box[0] = time.perf_counter() - box[0]


def run(args: argparse.Namespace) -> int:
    """Run the tour; exit status 0 if every step did what it should."""
    out = _Out()
    style = out.style
    chosen = (
        list(enumerate(_STEPS, 1)) if args.step is None else [(args.step, _STEPS[args.step - 1])]
    )
    print(style.bold("netkit demo") + ": everything runs on loopback (127.0.0.1) and stops by")
    print("itself; every wait is bounded. Numbers below are what the kernel really did.")
    started = time.perf_counter()
    for number, (title, step) in chosen:
        print()
        print(style.bold(f"{number}. {title}"), flush=True)
        try:
            with _timed() as took:
                step(out)
        except Exception as exc:  # any failure ends the demo with one clear line
            out.line(style.red(f"FAILED: {type(exc).__name__}: {exc}"))
            print(f"netkit demo: step {number} failed: {safe_text(str(exc))}", file=sys.stderr)
            return EXIT_FAILED
        out.line(style.green("ok") + style.dim(f" ({took[0] * 1000:.0f} ms)"))
    total = time.perf_counter() - started
    print()
    passed = f"All {len(chosen)} steps passed" if len(chosen) > 1 else "Passed"
    print(f"{passed} in {total:.2f} s. Next: 'netkit serve --help',")
    print("'netkit connect --help', and the examples/ folder.")
    return EXIT_OK
