"""``netkit serve``: run an echo, discard or chat server (TCP or Unix) until Ctrl-C."""

from __future__ import annotations

import argparse
import threading
from typing import Any

from netkit._core.proxyserve import DEFAULT_HEADER_TIMEOUT, tcp_proxy_policy
from netkit.cli import EXIT_OK, Misuse
from netkit.cli._common import (
    ChatRoom,
    add_command,
    cannot_listen,
    cannot_listen_unix,
    discard_handler,
    echo_handler,
    interruptible,
    log,
    peer_label,
    port,
    positive_int,
    seconds,
    server_tls,
    sigterm_as_interrupt,
    unix_path,
    unix_text,
)

_EXAMPLE = """
$ netkit serve echo --port 7000
listening on 127.0.0.1:7000
(in another terminal)
$ echo hello | netkit connect 127.0.0.1 7000
hello

$ netkit serve chat --host :: --port 7001     # IPv4 and IPv6, every interface
$ netkit serve echo --unix /tmp/echo.sock      # a Unix socket (@name: abstract)
$ netkit serve echo --proxy-protocol 127.0.0.1/32   # behind a local HAProxy
"""


def register(subparsers: Any) -> None:
    """Add ``netkit serve`` to the command line."""
    parser = add_command(
        subparsers,
        "serve",
        summary="run an echo, discard or chat server (TCP, or a Unix socket)",
        description=(
            "Run a TCP server until Ctrl-C. 'echo' sends every byte back, 'discard' "
            "reads and drops everything, 'chat' is a line-based chat room (the first "
            "line a client sends is its name). The first line on stdout is "
            "'listening on HOST:PORT' with the real port, so --port 0 is useful in "
            "scripts. Connections are logged on stderr."
            "\n\n"
            "With --unix PATH the server listens on a Unix stream socket instead "
            "('listening on PATH'); a PATH starting with @ is a Linux abstract name. A "
            "stale socket file left by a process that died is replaced; a path a live "
            "server holds, a missing directory or a file that is not a socket fail "
            "with one line naming the path. The socket file is removed on exit."
            "\n\n"
            "Behind a load balancer, --proxy-protocol NETWORK makes clients from NETWORK "
            "open with a PROXY protocol header (v1 or v2, as HAProxy sends with "
            "send-proxy); the log then shows the addresses it carries, and a client "
            "from NETWORK that sends none is dropped with a warning."
        ),
        example=_EXAMPLE,
    )
    parser.add_argument(
        "mode",
        nargs="?",
        choices=("echo", "discard", "chat"),
        default="echo",
        help="what the server does (default: echo)",
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1; '::' for all)")
    parser.add_argument("--port", "-p", type=port, help="port to bind (default 0: any free port)")
    parser.add_argument(
        "--unix",
        type=unix_path,
        metavar="PATH",
        help="listen on this Unix socket path instead of TCP (@name: abstract)",
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="serve TLS with this certificate (PEM)")
    parser.add_argument("--tls-key", metavar="FILE", help="private key for --tls-cert (PEM)")
    parser.add_argument(
        "--max-connections",
        type=positive_int,
        metavar="N",
        help="serve at most N clients at once (more wait in the backlog; default 1000)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=seconds,
        metavar="SECONDS",
        help="close a connection that sends nothing for this long",
    )
    parser.add_argument(
        "--send-timeout",
        type=seconds,
        metavar="SECONDS",
        help="cut a client that takes nothing of what it is sent for this long (default 60)",
    )
    parser.add_argument(
        "--proxy-protocol",
        type=trusted_network,
        action="append",
        metavar="NETWORK",
        help=(
            "clients from NETWORK (e.g. 127.0.0.1/32; repeatable) open with a PROXY "
            "protocol header, whose addresses are logged; 'all' trusts every client (the "
            "only choice with --unix)"
        ),
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="do not log connections")
    parser.set_defaults(func=run)


def trusted_network(text: str) -> str:
    """argparse type: a network whose clients send PROXY headers, or 'all'."""
    if text == "all":
        return text
    try:
        tcp_proxy_policy([text], DEFAULT_HEADER_TIMEOUT)  # the server's rule for a network
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("proxy_protocol: ")) from None
    return text


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit status 0 after a clean Ctrl-C or SIGTERM."""
    if args.tls_key is not None and args.tls_cert is None:
        raise Misuse("--tls-key needs --tls-cert")
    if args.unix is not None:
        for option, value in (("--host", args.host), ("--port", args.port)):
            if value is not None:
                raise Misuse(f"{option} cannot be used with --unix (a Unix socket has a path)")
        if args.tls_cert is not None:
            raise Misuse("--tls-cert cannot be used with --unix (netkit serves TLS over TCP)")
        if args.proxy_protocol is not None and set(args.proxy_protocol) != {"all"}:
            raise Misuse(
                "--proxy-protocol with --unix takes 'all' (a Unix client has no address; "
                "the socket file's permissions decide who connects)"
            )
    host: str = "127.0.0.1" if args.host is None else args.host
    port_number: int = 0 if args.port is None else args.port
    tls = None
    if args.tls_cert is not None:
        tls = server_tls(
            args.tls_cert, args.tls_key, cert_option="--tls-cert", key_option="--tls-key"
        )

    quiet: bool = args.quiet
    if args.mode == "chat":
        if args.idle_timeout is not None:
            raise Misuse("--idle-timeout is not supported with chat (members may lurk)")
        inner: Any = ChatRoom(on_event=None if quiet else (lambda text: log(f"chat: {text}")))
    else:
        inner = echo_handler if args.mode == "echo" else discard_handler

    def handler(conn: Any) -> None:
        peer = peer_label(conn)
        if not quiet:
            log(f"+ {peer} connected")
        try:
            inner(conn)
        finally:
            if not quiet:
                log(f"- {peer} closed")

    # Options not given keep the server's finite defaults, never "no limit".
    limits: dict[str, Any] = {}
    if args.max_connections is not None:
        limits["max_connections"] = args.max_connections
    if args.send_timeout is not None:
        limits["send_timeout"] = args.send_timeout
    if args.proxy_protocol is not None:
        if args.unix is not None:
            limits["proxy_protocol"] = True  # (only 'all' got here: checked above)
        elif "all" in args.proxy_protocol:
            limits["proxy_protocol"] = ["0.0.0.0/0", "::/0"]
        else:
            limits["proxy_protocol"] = args.proxy_protocol
    stopped = threading.Event()
    with sigterm_as_interrupt():
        server: Any
        if args.unix is not None:
            from netkit.unix import UnixServer

            try:
                server = UnixServer(
                    handler,
                    args.unix,
                    **limits,
                    idle_timeout=args.idle_timeout,
                )
                server.start()
            except (OSError, ValueError) as exc:  # in use, no directory, a bad path...
                raise cannot_listen_unix(args.unix, exc) from exc
            where = unix_text(args.unix)
        else:
            from netkit.tcp import TcpServer

            try:
                server = TcpServer(
                    handler,
                    host=host,
                    port=port_number,
                    **limits,
                    idle_timeout=args.idle_timeout,
                    tls=tls,
                )
                interruptible(server.start)  # resolves a host name: may block in C
            except (OSError, ValueError) as exc:  # a busy port, a bad host (AddressError)...
                raise cannot_listen(host, port_number, exc) from exc
            where = str(server.address)
        try:
            print(f"listening on {where}", flush=True)
            if not quiet:
                log(f"netkit serve: {args.mode} server{' (TLS)' if tls else ''}; Ctrl-C to stop")
            # Event.wait() with no timeout is interruptible by SIGINT on POSIX.
            stopped.wait()
        except KeyboardInterrupt:
            if not quiet:
                log("stopping")
        finally:
            # Echo, discard and chat handlers only end when their peer leaves: a short
            # grace, then TcpServer wakes and closes them.
            server.stop(timeout=0.5)
    return EXIT_OK
