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
import ssl
from typing import Any

from netkit.cli import EXIT_OK, Failed, Misuse
from netkit.cli._common import (
    add_command,
    interruptible,
    nonzero_port,
    reason,
    seconds,
    server_name,
    unix_path,
    unix_text,
)
from netkit.cli._session import (
    TLS_LINGER,
    UDP_LINGER,
    Stdin,
    quiet_ragged_eof,
    tcp_session,
    tls_session,
    udp_session,
    wait_acknowledged,
)

_EXAMPLE = """
$ printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' | netkit connect localhost 8000
$ netkit connect 127.0.0.1 9000 < backup.tar   # every byte, or exit status 1
$ echo ping | netkit connect --udp 127.0.0.1 9999 --timeout 2
$ netkit connect --tls --cafile ca.pem localhost 8443
$ netkit connect --tls --pin 3B:9F:...:A0 127.0.0.1 8443   # as 'netkit listen --tls' said
$ netkit connect --unix /run/app.sock < request.json        # a Unix stream socket
"""


def register(subparsers: Any) -> None:
    """Add ``netkit connect`` to the command line."""
    parser = add_command(
        subparsers,
        "connect",
        summary="connect to HOST PORT (or a Unix socket) and pipe stdin/stdout (netcat)",
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
            f"{UDP_LINGER:g}). TLS cannot half-close: after stdin ends (and all of it "
            "is sent), a TLS session reads until the peer closes or is silent for "
            f"--timeout seconds (default {TLS_LINGER:g})."
            "\n\n"
            "--pin trusts exactly one certificate, by its SHA-256 fingerprint (as "
            "'netkit listen --tls' prints it for its throwaway certificate), instead of "
            "CAs and names: a self-signed certificate passes, and any other fails."
            "\n\n"
            "--unix PATH connects to a Unix stream socket instead of HOST PORT (a PATH "
            "starting with @ is a Linux abstract name), with the same half-close "
            "semantics and exit status."
        ),
        example=_EXAMPLE,
    )
    parser.add_argument("host", nargs="?", help="host name or IP address")
    parser.add_argument("port", nargs="?", type=nonzero_port, help="port number")
    parser.add_argument(
        "--unix",
        type=unix_path,
        metavar="PATH",
        help="connect to this Unix stream socket instead of HOST PORT (@name: abstract)",
    )
    parser.add_argument("--udp", "-u", action="store_true", help="use UDP instead of TCP")
    parser.add_argument(
        "--timeout", "-w", type=seconds, metavar="SECONDS", help="connect and idle limit"
    )
    parser.add_argument("--tls", action="store_true", help="use TLS (certificate verified)")
    parser.add_argument(
        "--cafile", metavar="FILE", help="trust the CA certificates in FILE (PEM) for --tls"
    )
    parser.add_argument(
        "--pin",
        type=sha256_fingerprint,
        metavar="SHA256",
        help="with --tls, trust only the certificate with this SHA-256 fingerprint",
    )
    parser.add_argument(
        "--server-name",
        type=server_name,
        metavar="NAME",
        help="name to verify in the certificate, with --tls (default: HOST)",
    )
    parser.add_argument("--listen", "-l", action=_ListenHint)
    parser.set_defaults(func=run)


class _ListenHint(argparse.Action):
    """ncat's ``-l``: one line pointing to ``netkit listen`` (exit status 2), instead of
    argparse's "the following arguments are required" about the HOST a listener lacks.

    Parsing runs an option's action when it meets the option, before it checks the
    positional arguments, so this line is the one the user sees.
    """

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help=argparse.SUPPRESS)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.error("to listen (ncat's -l), run 'netkit listen [HOST] PORT'")


def run(args: argparse.Namespace) -> int:
    """Run one session; 0 when both directions ended normally, 1 on a failure."""
    # `is not None`: an empty value is a value the user typed, never "not given".
    if args.unix is not None:
        if args.host is not None:
            raise Misuse("HOST and PORT cannot be used with --unix (the socket has a path)")
        for option, given in (
            ("--udp", args.udp),
            ("--tls", args.tls),
            ("--cafile", args.cafile is not None),
            ("--pin", args.pin is not None),
            ("--server-name", args.server_name is not None),
        ):
            if given:
                raise Misuse(f"{option} cannot be used with --unix")
        return _run_unix(args)
    missing = [name for name in ("host", "port") if getattr(args, name) is None]
    if missing:
        raise Misuse(f"the following arguments are required: {', '.join(missing)}")
    if args.udp and (args.tls or args.cafile is not None or args.server_name is not None):
        raise Misuse("--tls cannot be used with --udp")
    if args.udp and args.pin is not None:
        raise Misuse("--tls cannot be used with --udp")
    options = (("--cafile", args.cafile), ("--server-name", args.server_name), ("--pin", args.pin))
    for option, value in options:
        if value is not None and not args.tls:
            raise Misuse(f"{option} needs --tls (without it there is no certificate to check)")
    if args.cafile == "":
        raise Misuse("--cafile needs a file name")
    if args.pin is not None and args.cafile is not None:
        raise Misuse("--pin and --cafile cannot be used together (a pin trusts one certificate)")
    if args.udp:
        return _run_udp(args)
    return _run_tcp(args)


# --- TCP and TLS -----------------------------------------------------------------------


def _run_tcp(args: argparse.Namespace) -> int:
    from netkit.errors import AddressError
    from netkit.tcp import TcpClient

    tls = None
    if args.tls:
        from netkit.tls import client_context

        try:
            tls = quiet_ragged_eof(client_context(cafile=args.cafile))
        except (OSError, ValueError) as exc:  # missing file, not PEM, no certificate
            raise Failed(f"cannot load --cafile {args.cafile!r}: {reason(exc)}") from exc
        if args.pin is not None:
            # The fingerprint is checked after the handshake, before a byte is sent:
            # chain and name checks would refuse the self-signed certificate it pins.
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
    try:
        conn = interruptible(
            TcpClient.connect,
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
            if args.pin is not None:
                _check_pin(sock, peer, args.pin)
            tls_session(sock, peer, args.timeout, Stdin())
        else:
            tcp_session(conn, peer, args.timeout, Stdin())
        # TLS cannot half-close: no FIN was sent there.
        wait_acknowledged(sock, peer, args.timeout, fin_sent=not isinstance(sock, ssl.SSLSocket))
    return EXIT_OK


def _run_unix(args: argparse.Namespace) -> int:
    from netkit.errors import AddressError
    from netkit.unix import UnixClient

    try:
        conn = interruptible(UnixClient.connect, args.unix, timeout=args.timeout)
    except (AddressError, ValueError, TypeError) as exc:  # not a valid path
        raise Misuse(str(exc)) from exc
    except OSError as exc:  # ConnectFailed: netkit's message names the path and why
        raise Failed(reason(exc)) from exc
    with conn:
        # A Unix socket has nothing to acknowledge: once sent, bytes are in the peer's
        # receive queue.
        tcp_session(conn, unix_text(args.unix), args.timeout, Stdin())
    return EXIT_OK


def sha256_fingerprint(text: str) -> str:
    """argparse type: a SHA-256 fingerprint, 64 hex digits, colons between pairs optional.

    Parameters:
        text: what the user typed (any case; ``AB:CD:...`` or ``abcd...``).

    Returns:
        The fingerprint as :func:`netkit.cli._throwaway.fingerprint` writes it.

    Raises:
        argparse.ArgumentTypeError: not 64 hex digits.
    """
    digits = text.replace(":", "").upper()
    if len(digits) != 64 or not all(c in "0123456789ABCDEF" for c in digits):
        raise argparse.ArgumentTypeError(
            f"expected a SHA-256 fingerprint (64 hex digits, colons allowed), not {text[:40]!r}"
        )
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


def _check_pin(sock: ssl.SSLSocket, peer: str, pin: str) -> None:
    from netkit.cli._throwaway import fingerprint

    der = sock.getpeercert(binary_form=True)
    actual = fingerprint(der) if der else "none (no certificate)"
    if actual != pin:
        raise Failed(f"TLS certificate of {peer} does not match --pin: its SHA-256 is {actual}")


# --- UDP -------------------------------------------------------------------------------


def _run_udp(args: argparse.Namespace) -> int:
    from netkit.errors import AddressError
    from netkit.udp import UdpEndpoint

    linger = args.timeout if args.timeout is not None else UDP_LINGER
    try:
        endpoint = interruptible(UdpEndpoint.connect, args.host, args.port)
    except AddressError as exc:  # HOST is not a valid address or name: a bad argument
        raise Misuse(str(exc)) from exc
    with endpoint:
        udp_session(endpoint, str(endpoint.remote_address), linger, Stdin())
    return EXIT_OK
