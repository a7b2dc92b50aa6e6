"""``netkit lookup``: host names, addresses and service ports from the command line."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from typing import Any

from netkit._core.checks import parse_port_text
from netkit.cli import EXIT_MISUSE, EXIT_OK, Misuse
from netkit.cli._common import interruptible, safe_text
from netkit.errors import AddressError
from netkit.lookup import (
    AddrInfo,
    host_address,
    hostname,
    resolve,
    reverse,
    service_name,
    service_port,
)

__all__ = ["register"]

_FORMATTER = argparse.RawDescriptionHelpFormatter
_FAMILY_NAMES = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}
_TYPE_NAMES = {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}


def register(subparsers: Any) -> None:
    """Add the ``lookup`` command and its actions to the ``netkit`` parser."""
    parser = subparsers.add_parser(
        "lookup",
        help="resolve names, reverse-resolve addresses, look up service ports",
        description="Ask the system resolver: host names, addresses, service ports.",
        epilog=(
            "examples:\n"
            "  netkit lookup resolve localhost https\n"
            "  netkit lookup reverse 127.0.0.1\n"
            "  netkit lookup service ssh\n"
            "Exit status: 0 found, 1 nothing found, 2 bad input."
        ),
        formatter_class=_FORMATTER,
    )
    parser.set_defaults(func=_no_action, lookup_parser=parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    p = actions.add_parser(
        "hostname",
        help="print this machine's host name",
        description="Print this machine's host name.",
        epilog="example:\n  netkit lookup hostname",
        formatter_class=_FORMATTER,
    )
    p.set_defaults(func=_hostname)

    p = actions.add_parser(
        "resolve",
        help="resolve a host name (and port) to addresses",
        description=(
            "Resolve HOST (and PORT, a number or a service name) to the addresses a "
            "client would try, in the resolver's order, one per line."
        ),
        epilog="examples:\n  netkit lookup resolve localhost 8080\n  netkit lookup resolve -6 ::1",
        formatter_class=_FORMATTER,
    )
    p.add_argument("host", help="host name or IP address")
    p.add_argument("port", nargs="?", help="port number or service name (default: 0)")
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=socket.AF_INET,
                        help="IPv4 addresses only")  # fmt: skip
    family.add_argument("-6", dest="family", action="store_const", const=socket.AF_INET6,
                        help="IPv6 addresses only")  # fmt: skip
    p.add_argument("--udp", action="store_true", help="resolve for UDP instead of TCP")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_resolve, family=socket.AF_UNSPEC)

    p = actions.add_parser(
        "address",
        help="print one IPv4 address of a host (gethostbyname)",
        description="Print one IPv4 address of NAME, as gethostbyname does.",
        epilog="example:\n  netkit lookup address localhost",
        formatter_class=_FORMATTER,
    )
    p.add_argument("name", help="host name")
    p.set_defaults(func=_address)

    p = actions.add_parser(
        "reverse",
        help="print the names of an IP address",
        description="Print the host name of IP, then its aliases and addresses.",
        epilog="example:\n  netkit lookup reverse 127.0.0.1",
        formatter_class=_FORMATTER,
    )
    p.add_argument("ip", help="IPv4 or IPv6 address, or a host name (resolved first)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=_reverse)

    p = actions.add_parser(
        "service",
        help="service name to port, or port to service name",
        description=(
            "Print the port of a service NAME, or the service name of a PORT number. "
            "Works without /etc/services through netkit's table of well-known ports."
        ),
        epilog="examples:\n  netkit lookup service https\n  netkit lookup service --udp 53",
        formatter_class=_FORMATTER,
    )
    p.add_argument("service", metavar="NAME_OR_PORT", help="service name or port number")
    p.add_argument("--udp", action="store_true", help="UDP services instead of TCP")
    p.set_defaults(func=_service)


def _no_action(args: argparse.Namespace) -> int:
    args.lookup_parser.print_help(sys.stderr)
    return EXIT_MISUSE


def _hostname(args: argparse.Namespace) -> int:
    print(hostname())
    return EXIT_OK


def _info_json(info: AddrInfo) -> dict[str, object]:
    endpoint = info.endpoint
    return {
        "family": _FAMILY_NAMES.get(info.family, info.family.name),
        "type": _TYPE_NAMES.get(info.type, info.type.name),
        "proto": info.proto,
        "canonname": info.canonname,
        "host": endpoint.host,
        "port": endpoint.port,
        "endpoint": str(endpoint),
    }


def _resolve(args: argparse.Namespace) -> int:
    kind = socket.SOCK_DGRAM if args.udp else socket.SOCK_STREAM
    try:
        infos = interruptible(resolve, args.host, args.port, family=args.family, type=kind)
    except ValueError as exc:  # AddressError included; LookupFailed is an OSError
        raise Misuse(str(exc)) from exc
    if args.json:
        print(json.dumps([_info_json(info) for info in infos], indent=2))
        return EXIT_OK
    for info in infos:
        family = _FAMILY_NAMES.get(info.family, info.family.name)
        print(f"{info.endpoint}\t{family}\t{_TYPE_NAMES.get(info.type, info.type.name)}")
    return EXIT_OK


def _address(args: argparse.Namespace) -> int:
    try:
        print(interruptible(host_address, args.name))
    except AddressError as exc:
        raise Misuse(str(exc)) from exc
    return EXIT_OK


def _reverse(args: argparse.Namespace) -> int:
    try:
        info = interruptible(reverse, args.ip)
    except AddressError as exc:
        raise Misuse(str(exc)) from exc
    if args.json:
        print(json.dumps(info._asdict(), indent=2))
        return EXIT_OK
    # Names from a PTR lookup are whatever the address's owner published.
    print(safe_text(info.name))
    if info.aliases:
        print("aliases:", safe_text(" ".join(info.aliases)))
    print("addresses:", " ".join(info.addresses))
    return EXIT_OK


def _service(args: argparse.Namespace) -> int:
    protocol = "udp" if args.udp else "tcp"
    text: str = args.service
    try:
        if text.isascii() and text.isdigit():
            port = parse_port_text(text, allow_zero=True)
            if isinstance(port, str):
                raise Misuse(port)
            print(service_name(port, protocol))
        else:
            print(service_port(text, protocol))
    except AddressError as exc:
        raise Misuse(str(exc)) from exc
    return EXIT_OK
