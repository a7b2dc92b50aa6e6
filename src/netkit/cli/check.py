"""``netkit check``: validate IP addresses (or endpoints) the strict netkit way.

Each input gets one line on stdout: its canonical form, version and class
(loopback, private, link-local, global, ...), or why it is invalid. The input is shown
ASCII-escaped, so a trailing newline, a NUL or a look-alike Unicode digit is visible.
Exit status: 0 when every input is valid (and global, with ``--global``), 1 otherwise,
2 on misuse.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from netkit import addr
from netkit.cli import EXIT_FAILED, EXIT_OK
from netkit.cli._common import port

__all__ = ["check_line", "register", "run"]

#: Longest stdin line read as one input; longer lines are reported, not buffered.
MAX_LINE = 64 * 1024
#: Longest escaped input shown on an output line.
_SHOW = 80

_EXAMPLE = """\
  $ netkit check ::1 127.0.0.1 not-an-ip
  '::1' is valid IPv6: ::1 (loopback)
  '127.0.0.1' is valid IPv4: 127.0.0.1 (loopback)
  'not-an-ip' is invalid: not an IPv4 or IPv6 address
  $ printf '8.8.8.8\\n169.254.169.254\\n' | netkit check --global
  '8.8.8.8' is valid IPv4: 8.8.8.8 (global)
  '169.254.169.254' is not global: 169.254.169.254 (link-local)
  $ netkit check --endpoint --default-port 443 '[2001:DB8::1]:80' example.com
  '[2001:DB8::1]:80' is a valid endpoint: [2001:db8::1]:80 (IPv6, documentation)
  'example.com' is a valid endpoint: example.com:443 (hostname, not resolved)

exit status: 0 all valid, 1 any invalid (or not global with --global), 2 misuse"""


def register(subparsers: Any) -> None:
    """Add the ``check`` command to the ``netkit`` parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="validate IP addresses or endpoints (strict), show canonical form and class",
        description=(
            "Validate IP addresses strictly (no leading zeros, shortforms, whitespace or "
            "non-ASCII digits) and print each one's canonical form and class, or why it "
            "is invalid. Reads one input per line from stdin when no ADDRESS is given "
            "or for '-'."
        ),
        epilog="examples:\n" + _EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "addresses",
        nargs="*",
        metavar="ADDRESS",
        help="address to check ('-' or none: read one per line from stdin)",
    )
    parser.add_argument(
        "--zone",
        action="store_true",
        help="accept IPv6 zones such as fe80::1%%eth0 (refused by default)",
    )
    parser.add_argument(
        "--endpoint",
        action="store_true",
        help="parse inputs as endpoints: host:port, [v6]:port, hostname",
    )
    parser.add_argument(
        "--default-port",
        type=port,
        metavar="PORT",
        help="port for endpoints given without one (with --endpoint)",
    )
    parser.add_argument(
        "--global",
        dest="require_global",
        action="store_true",
        help="also fail (exit 1) for addresses that are not globally reachable (SSRF gate)",
    )
    parser.set_defaults(func=run, check_parser=parser)


def _show(text: str) -> str:
    """The input ASCII-escaped (control characters and non-ASCII visible), bounded."""
    if len(text) > _SHOW:
        return f"{text[:_SHOW]!a}... ({len(text)} chars)"
    return ascii(text)


def _zone_hint(reason: str) -> str:
    return reason + " (use --zone)" if reason.startswith("zone ('%...') not allowed") else reason


def check_line(
    text: str,
    *,
    zone: bool = False,
    endpoint: bool = False,
    default_port: int | None = None,
    require_global: bool = False,
) -> tuple[bool, str]:
    """Check one input; return (passed, the output line)."""
    shown = _show(text)
    if endpoint:
        # The reason-returning parser behind addr.parse_endpoint (same package).
        result = addr._parse_endpoint(text, default_port)
        if isinstance(result, str):
            return False, f"{shown} is invalid: {result}"
        if "%" in result.host and not zone:
            return False, f"{shown} is invalid: " + _zone_hint("zone ('%...') not allowed here")
        if result.family is None:
            ok = not require_global
            verdict = "is a valid endpoint" if ok else "is not known to be global"
            return ok, f"{shown} {verdict}: {result} (hostname, not resolved)"
        category = addr.classify(result.host)
        version = "IPv6" if ":" in result.host else "IPv4"
        ok = category == "global" or not require_global
        verdict = "is a valid endpoint" if ok else "is not global"
        return ok, f"{shown} {verdict}: {result} ({version}, {category})"
    reason = addr.why_invalid(text, allow_zone=zone)
    if reason is not None:
        return False, f"{shown} is invalid: {_zone_hint(reason)}"
    canonical = addr.normalize_ip(text)
    category = addr.classify(text)
    ok = category == "global" or not require_global
    verdict = f"is valid IPv{addr.ip_version(text, allow_zone=zone)}" if ok else "is not global"
    return ok, f"{shown} {verdict}: {canonical} ({category})"


def _stdin_lines() -> Iterator[str]:
    """Lines of stdin without their terminator; undecodable bytes stay visible."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a StringIO in tests
        for line in sys.stdin:
            if line.strip("\r\n"):
                yield line.removesuffix("\n").removesuffix("\r")
        return
    while True:
        raw: bytes = buffer.readline(MAX_LINE + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while True:  # skip the rest of an over-long line without keeping it
                more: bytes = buffer.readline(MAX_LINE)
                if not more or more.endswith(b"\n"):
                    break
            yield raw[:MAX_LINE].decode("utf-8", "surrogateescape")  # reported invalid
            continue
        line = raw.decode("utf-8", "surrogateescape")
        line = line.removesuffix("\n").removesuffix("\r")
        if line:
            yield line


def _inputs(addresses: list[str]) -> Iterator[str]:
    if not addresses:
        yield from _stdin_lines()
        return
    for item in addresses:
        if item == "-":
            yield from _stdin_lines()
        else:
            yield item


def run(args: argparse.Namespace) -> int:
    """Check every input, print one line each; 0 if all passed, 1 otherwise."""
    if args.default_port is not None and not args.endpoint:
        args.check_parser.error("--default-port only applies with --endpoint")
    if (not args.addresses or "-" in args.addresses) and sys.stdin.isatty():
        print("reading addresses from stdin, one per line (Ctrl-D to end)", file=sys.stderr)
    status = EXIT_OK
    out = sys.stdout
    # A reader going away (`netkit check < list | head`) raises BrokenPipeError here;
    # netkit.cli.main turns that into a quiet exit, as for every command.
    for text in _inputs(list(args.addresses)):
        ok, line = check_line(
            text,
            zone=args.zone,
            endpoint=args.endpoint,
            default_port=args.default_port,
            require_global=args.require_global,
        )
        if not ok:
            status = EXIT_FAILED
        out.write(line + "\n")
        out.flush()  # one line per input as it arrives, also through a pipe
    return status
