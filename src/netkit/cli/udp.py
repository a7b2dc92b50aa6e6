"""``netkit udp listen|send``: receive, echo and send UDP datagrams."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from netkit.cli import EXIT_FAILED, EXIT_OK, Misuse
from netkit.cli._common import (
    add_command,
    cannot_listen,
    interruptible,
    log,
    nonzero_port,
    port,
    positive_int,
    seconds,
    show_bytes,
    sigterm_as_interrupt,
)

_EXAMPLE = """
$ netkit udp listen --port 9999 --echo
listening on 127.0.0.1:9999
from 127.0.0.1:51234 (5 bytes): b'hello'
(in another terminal)
$ netkit udp send 127.0.0.1 9999 hello --reply
hello
"""

_LISTEN_EXAMPLE = """
$ netkit udp listen --port 9999 --echo --count 3
"""

_SEND_EXAMPLE = """
$ netkit udp send 127.0.0.1 9999 hello --reply --timeout 2
$ printf 'from stdin' | netkit udp send ::1 9999 -
"""


def register(subparsers: Any) -> None:
    """Add ``netkit udp`` (with ``listen`` and ``send``) to the command line."""
    parser = add_command(
        subparsers,
        "udp",
        summary="receive (listen) or send UDP datagrams",
        description="Receive, echo or send UDP datagrams. See 'netkit udp listen --help' "
        "and 'netkit udp send --help'.",
        example=_EXAMPLE,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listen = add_command(
        actions,
        "listen",
        summary="print the datagrams received (and optionally echo them)",
        description=(
            "Bind a UDP socket and print one line per datagram received: the sender, "
            "the size and the payload. The first line on stdout is 'listening on "
            "HOST:PORT' with the real port. Runs until Ctrl-C or --count datagrams."
        ),
        example=_LISTEN_EXAMPLE,
    )
    listen.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    listen.add_argument("--port", "-p", type=port, default=0, help="port (default 0: any free)")
    listen.add_argument("--echo", action="store_true", help="send every datagram back")
    listen.add_argument(
        "--count", "-c", type=positive_int, metavar="N", help="stop after N datagrams"
    )
    listen.add_argument(
        "--raw", action="store_true", help="write payloads only, as received, to stdout"
    )
    listen.set_defaults(func=run_listen)

    send = add_command(
        actions,
        "send",
        summary="send one datagram (and optionally wait for a reply)",
        description=(
            "Send MESSAGE (the words joined by spaces; '-' reads stdin) as one datagram to "
            "HOST PORT. With --reply, wait for one datagram back and print it; no reply "
            "within --timeout is a failure (exit status 1)."
        ),
        example=_SEND_EXAMPLE,
    )
    send.add_argument("host", help="host name or IP address")
    send.add_argument("port", type=nonzero_port, help="port number")
    send.add_argument("message", nargs="+", help="the payload ('-' for stdin)")
    send.add_argument("--reply", "-r", action="store_true", help="wait for and print a reply")
    send.add_argument(
        "--timeout", "-w", type=seconds, default=2.0, metavar="SECONDS", help="reply wait (2)"
    )
    send.set_defaults(func=run_send)


def run_listen(args: argparse.Namespace) -> int:
    """Print (and echo) datagrams until Ctrl-C or ``--count``."""
    from netkit.errors import FrameTooLarge
    from netkit.udp import UdpEndpoint

    try:
        bound = interruptible(UdpEndpoint.bind, args.host, args.port)
    except (OSError, ValueError) as exc:  # a busy port, a bad host (AddressError)...
        raise cannot_listen(args.host, args.port, exc) from exc
    with sigterm_as_interrupt(), bound as endpoint:
        received = 0
        try:
            # Inside the try: a Ctrl-C right after this line is a normal stop too.
            print(f"listening on {endpoint.address}", flush=True)
            while args.count is None or received < args.count:
                try:
                    data, sender = endpoint.recvfrom()
                except FrameTooLarge as exc:  # cannot happen at the maximum size; be safe
                    log(f"netkit udp: {exc}")
                    continue
                received += 1
                if args.raw:
                    sys.stdout.buffer.write(data)
                    sys.stdout.buffer.flush()
                else:
                    print(f"from {sender} ({len(data)} bytes): {show_bytes(data)}", flush=True)
                if args.echo:
                    endpoint.sendto(data, sender)
        except KeyboardInterrupt:
            log("stopping")
    return EXIT_OK


def run_send(args: argparse.Namespace) -> int:
    """Send one datagram; with ``--reply`` print the answer."""
    from netkit.errors import NetkitTimeout
    from netkit.udp import UdpEndpoint

    if args.message == ["-"]:
        payload = sys.stdin.buffer.read()
    elif "-" in args.message:
        raise Misuse("'-' (stdin) must be the only MESSAGE")
    else:
        payload = " ".join(args.message).encode()
    with interruptible(UdpEndpoint.connect, args.host, args.port) as endpoint:
        endpoint.send(payload)
        log(f"sent {len(payload)} bytes to {endpoint.remote_address}")
        if not args.reply:
            return EXIT_OK
        try:
            reply = endpoint.recv(timeout=args.timeout)
        except NetkitTimeout:
            log(f"netkit udp: no reply within {args.timeout:g} s")
            return EXIT_FAILED
    sys.stdout.buffer.write(reply + (b"" if reply.endswith(b"\n") else b"\n"))
    sys.stdout.buffer.flush()
    return EXIT_OK
