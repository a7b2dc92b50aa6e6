"""``netkit ping HOST``: ICMP echo requests, with ``ping(8)``'s output and exit status."""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from netkit._core.icmp import MAX_COUNT, MIN_INTERVAL, PingReply, PingReport, check_size_for
from netkit._sockets.icmp import resolve_target
from netkit.cli import EXIT_FAILED, EXIT_OK, Failed, Misuse
from netkit.cli._common import add_command, seconds, sigterm_as_interrupt
from netkit.errors import AddressError
from netkit.icmp import ping

__all__ = ["register"]

_EXAMPLE = """
$ netkit ping -c 2 127.0.0.1
PING 127.0.0.1 (127.0.0.1): 56 data bytes
64 bytes from 127.0.0.1: icmp_seq=1 time=0.045 ms
64 bytes from 127.0.0.1: icmp_seq=2 time=0.061 ms

--- 127.0.0.1 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss
rtt min/avg/max = 0.045/0.053/0.061 ms
"""


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"count must be 1..{MAX_COUNT}, not {text[:20]!r}")
    return int(text)


def _size(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65527:
        raise argparse.ArgumentTypeError(f"size must be 0..65527 bytes, not {text[:20]!r}")
    return int(text)


def _interval(text: str) -> float:
    value = seconds(text)
    if value < MIN_INTERVAL:
        raise argparse.ArgumentTypeError(f"interval must be >= {MIN_INTERVAL:g} s, not {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add ``netkit ping`` to the command line."""
    parser = add_command(
        subparsers,
        "ping",
        summary="send ICMP echo requests to a host (as ping(8))",
        description=(
            "Send ICMP echo requests to HOST and print each reply and a summary, as "
            "ping(8) does. Uses an unprivileged ICMP datagram socket where the sysctl "
            "net.ipv4.ping_group_range allows the user's group, else a raw socket (root "
            "or CAP_NET_RAW). Exit status 0 if any reply came, 1 if none."
        ),
        example=_EXAMPLE,
    )
    parser.add_argument("host", help="host name or IP address")
    parser.add_argument("-c", dest="count", type=_count, default=4,
                        help="requests to send (default: 4)")  # fmt: skip
    parser.add_argument("-W", dest="timeout", type=seconds, default=1.0,
                        help="seconds to wait for each reply (default: 1)")  # fmt: skip
    parser.add_argument("-i", dest="interval", type=_interval, default=1.0,
                        help="seconds between requests (default: 1)")  # fmt: skip
    parser.add_argument("-s", dest="size", type=_size, default=56,
                        help="payload bytes per request (default: 56)")  # fmt: skip
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=socket.AF_INET,
                        help="IPv4 only")  # fmt: skip
    family.add_argument("-6", dest="family", action="store_const", const=socket.AF_INET6,
                        help="IPv6 only")  # fmt: skip
    parser.set_defaults(func=_run, family=socket.AF_UNSPEC)


def _ms(seconds_: float) -> str:
    return f"{seconds_ * 1000:.3f}"


def _print_reply(reply: PingReply) -> None:
    where = f"{reply.size} bytes from {reply.address}"
    print(f"{where}: icmp_seq={reply.sequence} time={_ms(reply.rtt)} ms")
    sys.stdout.flush()  # one line per reply as it comes, also into a pipe


def _summary(host: str, report: PingReport) -> None:
    print()
    print(f"--- {host} ping statistics ---")
    print(
        f"{report.sent} packets transmitted, {report.received} received, "
        f"{report.loss * 100:.0f}% packet loss"
    )
    if report.rtts:
        low, high = min(report.rtts), max(report.rtts)
        mean = sum(report.rtts) / len(report.rtts)
        print(f"rtt min/avg/max = {_ms(low)}/{_ms(mean)}/{_ms(high)} ms")


def _run(args: argparse.Namespace) -> int:
    try:
        # Resolved here (as ping() would: the resolver hook) to print the address first.
        target = resolve_target(args.host, args.family)
        check_size_for(args.size, target.family, target.address)
        print(f"PING {args.host} ({target.address}): {args.size} data bytes")
        sys.stdout.flush()
        with sigterm_as_interrupt():
            report = ping(
                target.address,
                count=args.count,
                timeout=args.timeout,
                interval=args.interval,
                size=args.size,
                family=args.family,
                on_reply=_print_reply,
            )
    except (AddressError, ValueError) as exc:
        raise Misuse(str(exc)) from exc
    except PermissionError as exc:  # PingNotPermitted: its message says what to change
        raise Failed(str(exc)) from exc
    _summary(args.host, report)
    return EXIT_OK if report.received else EXIT_FAILED
