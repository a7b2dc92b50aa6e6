"""``netkit listen``: the listening half of a netcat (ncat's ``-l``).

Listen on HOST PORT, accept the first client and pipe it to stdin/stdout with exactly
the semantics and exit status of ``netkit connect`` (the same session code, in
:mod:`netkit.cli._session`). ``-k`` serves clients one after another instead, ``-u``
takes the sender of the first datagram as the peer, ``--tls`` serves TLS with the
user's certificate or a throwaway one (:mod:`netkit.cli._throwaway`).

stdout carries only what clients send, so status lines (the address listened on, the
certificate's fingerprint, clients coming and going) go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import ssl
from typing import Any

from netkit.cli import EXIT_FAILED, EXIT_OK, Failed, Misuse
from netkit.cli._common import (
    STEP_TIMEOUT,
    add_command,
    cannot_listen,
    cannot_listen_unix,
    endpoint_text,
    interruptible,
    log,
    peer_label,
    port,
    reason,
    seconds,
    server_tls,
    sigterm_as_interrupt,
    tcp_listener,
    unix_path,
    unix_text,
)
from netkit.cli._session import (
    UDP_LINGER,
    PeerFailed,
    Stdin,
    quiet_ragged_eof,
    tcp_session,
    tls_session,
    udp_session,
    wait_acknowledged,
    write_out,
)

_EXAMPLE = """
$ netkit listen 9000 > upload.bin            # receive one upload on 127.0.0.1:9000
listening on 127.0.0.1:9000
$ netkit listen -k :: 9000 > log.txt          # every client in turn, until Ctrl-C
$ netkit listen -u 9999                       # UDP: the first sender is the peer
$ netkit listen --tls 8443                    # a throwaway certificate; pin it with
$ netkit connect --tls --pin 3B:9F:...:A0 127.0.0.1 8443
$ netkit listen --unix /tmp/in.sock > in.bin  # a Unix socket (@name: abstract)
"""

#: The biggest UDP payload (IPv6 without jumbograms), for the first datagram.
_MAX_DATAGRAM = 65535


def register(subparsers: Any) -> None:
    """Add ``netkit listen`` to the command line.

    Parameters:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.
    """
    parser = add_command(
        subparsers,
        "listen",
        summary="wait for a client on PORT and pipe stdin/stdout through it (ncat -l)",
        description=(
            "Listen on HOST PORT (default host 127.0.0.1; '::' for every address), accept "
            "the first client and pipe it to stdin/stdout as 'netkit connect' does: the "
            "two directions end separately (half-close), the session ends when both are "
            "done, and the exit status is 1, with one line naming what failed, if "
            "sending or receiving failed. Other clients are refused once the first is "
            "accepted. stdin is not read before a client is there. Status lines go to "
            "stderr, starting with 'listening on HOST:PORT' (the real port when PORT "
            "is 0): stdout carries only what the client sent."
            "\n\n"
            "With -k, clients are served one after another (the next waits in the "
            "backlog) until Ctrl-C or SIGTERM, which exit 0 (1 if a session failed): a "
            "client's EOF ends its session, and stdin is one stream shared in order, "
            "what one session did not send goes to the next. With -u, the sender of "
            "the first datagram becomes the peer: its datagrams go to stdout, each read "
            "from stdin is one datagram to it, and after stdin ends replies are awaited "
            f"for --timeout seconds (default {UDP_LINGER:g}); with -u -k, datagrams "
            "from every sender go to stdout and stdin goes to the latest sender, until "
            "Ctrl-C."
            "\n\n"
            "--tls serves TLS with --cert/--key, or without them a throwaway "
            "self-signed certificate made by the openssl command (or the cryptography "
            "package) whose SHA-256 fingerprint is printed on stderr for clients to "
            "pin: netkit connect --tls --pin FINGERPRINT."
            "\n\n"
            "--unix PATH listens on a Unix stream socket instead of HOST PORT (a PATH "
            "starting with @ is a Linux abstract name; 'listening on PATH'), with the "
            "same sessions, -k and exit status; the socket file is removed when the "
            "listener closes. A missing directory, a file that is not a socket or a "
            "path a live listener holds fail with one line naming the path."
        ),
        example=_EXAMPLE,
    )
    parser.add_argument(
        "host",
        nargs="?",
        help="address to listen on (default 127.0.0.1; '::' for every address)",
    )
    # Checked in run(): with one positional argument it is the PORT, and with --unix
    # there is none.
    parser.add_argument("port", nargs="?", help="port number (0: any free port)")
    parser.add_argument(
        "--unix",
        type=unix_path,
        metavar="PATH",
        help="listen on this Unix stream socket instead of HOST PORT (@name: abstract)",
    )
    parser.add_argument(
        "--keep-open", "-k", action="store_true", help="serve clients one after another"
    )
    parser.add_argument("--udp", "-u", action="store_true", help="use UDP instead of TCP")
    parser.add_argument(
        "--timeout",
        "-w",
        type=seconds,
        metavar="SECONDS",
        help="idle limit of a session, and of a TLS handshake",
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve TLS (a throwaway certificate without --cert)"
    )
    parser.add_argument(
        "--cert", "--tls-cert", metavar="FILE", help="certificate chain (PEM) for --tls"
    )
    parser.add_argument("--key", "--tls-key", metavar="FILE", help="private key (PEM) for --cert")
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="do not report clients on stderr"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve one client (or, with ``-k``, clients in turn until interrupted).

    Parameters:
        args: the parsed command line.

    Returns:
        0 when the session (every session, with ``-k``) ended normally, 1 otherwise.

    Raises:
        Misuse: options that do not go together, or a host that is not valid.
        Failed: listening failed, or (without ``-k``) the session failed.
    """
    if args.key is not None and args.cert is None:
        raise Misuse("--key needs --cert")
    tls_wanted = args.tls or args.cert is not None
    if args.unix is not None:
        if args.host is not None:
            raise Misuse("HOST and PORT cannot be used with --unix (the socket has a path)")
        if args.udp:
            raise Misuse("--udp cannot be used with --unix (netkit listens on Unix streams)")
        if tls_wanted:
            raise Misuse("--tls cannot be used with --unix (netkit serves TLS over TCP)")
        return _run_unix(args)
    _host_and_port(args)
    if args.udp and tls_wanted:
        raise Misuse("--tls cannot be used with --udp (netkit has no DTLS)")
    if args.udp:
        return _run_udp(args)
    # Bound first: a bad host or a busy port is reported before any certificate is
    # made, and the address is taken while it is.
    with tcp_listener(args.host, args.port) as listener:
        tls = quiet_ragged_eof(_tls_context(args)) if tls_wanted else None
        return _run_tcp(args, listener, tls)


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext:
    """The user's certificate, or a throwaway one (whose origin and fingerprint are told)."""
    if args.cert is not None:
        return server_tls(args.cert, args.key, cert_option="--cert", key_option="--key")
    from netkit.cli._throwaway import make, names_for

    made = make(names_for(args.host))
    log(f"TLS: a throwaway self-signed certificate for {', '.join(made.names)}")
    log(f"TLS: made by {made.origin}; its key exists only in this process")
    log(f"TLS: SHA-256 fingerprint {made.fingerprint}")
    return made.context


def _host_and_port(args: argparse.Namespace) -> None:
    """``[HOST] PORT``: one positional argument is the port; the host defaults to 127.0.0.1.

    Raises:
        Misuse: no port, or one that is not 0..65535 in decimal digits (the message
            argparse would give).
    """
    text = args.port
    if text is None:
        if args.host is None:
            raise Misuse("the following arguments are required: port")
        args.host, text = None, args.host
    try:
        args.port = port(text)
    except argparse.ArgumentTypeError as exc:
        raise Misuse(f"argument port: {exc}") from None
    if args.host is None:
        args.host = "127.0.0.1"


# --- Unix ------------------------------------------------------------------------------


def _run_unix(args: argparse.Namespace) -> int:
    """The TCP loop's twin on a Unix stream listener (no TLS, nothing to acknowledge)."""
    from netkit.unix import UnixListener

    try:
        listener = UnixListener.bind(args.unix)
    except (OSError, ValueError) as exc:
        raise cannot_listen_unix(args.unix, exc) from exc
    keep_open: bool = args.keep_open
    stdin = Stdin()
    failed = False
    stopping = sigterm_as_interrupt() if keep_open else contextlib.nullcontext()
    with listener, stopping:
        address = unix_text(args.unix)
        try:
            log(f"listening on {address}")
            while True:
                try:
                    conn = listener.accept()  # Ctrl-C interrupts it
                except OSError as exc:
                    raise Failed(f"accepting on {address} failed: {reason(exc)}") from exc
                if not keep_open:
                    listener.close()  # one client; the file goes, the others are refused
                peer = peer_label(conn)
                with conn:
                    if not args.quiet:
                        log(f"+ {peer} connected")
                    try:
                        tcp_session(conn, peer, args.timeout, stdin, end_with_peer=keep_open)
                    except PeerFailed as exc:
                        if not keep_open:
                            raise
                        log(f"netkit listen: {exc}")
                        failed = True
                if not args.quiet:
                    log(f"- {peer} closed")
                if not keep_open:
                    return EXIT_OK
        except KeyboardInterrupt:
            if not keep_open:
                raise
            log("stopping")
    return EXIT_FAILED if failed else EXIT_OK


# --- TCP and TLS -----------------------------------------------------------------------


def _run_tcp(args: argparse.Namespace, listener: socket.socket, tls: ssl.SSLContext | None) -> int:
    keep_open: bool = args.keep_open
    stdin = Stdin()
    failed = False
    # With -k, netkit listen is a server: SIGTERM stops it as Ctrl-C does, status 0.
    # Without, it is one session, like connect: Ctrl-C interrupts it (status 130).
    stopping = sigterm_as_interrupt() if keep_open else contextlib.nullcontext()
    with stopping:
        address = endpoint_text(*listener.getsockname()[:2])
        try:
            # Inside the try: with -k, a Ctrl-C right after this line is a normal stop.
            log(f"listening on {address}")
            while True:
                try:
                    raw, sockaddr = listener.accept()  # blocking: Ctrl-C interrupts it
                except ConnectionAbortedError:
                    continue  # the client gave up before it was accepted: wait on
                except OSError as exc:  # out of file descriptors, say: no use going on
                    raise Failed(f"accepting on {address} failed: {reason(exc)}") from exc
                peer = endpoint_text(*sockaddr[:2])
                if not keep_open:
                    listener.close()  # as ncat: one client, the others are refused
                try:
                    _serve(raw, peer, tls, args.timeout, stdin, keep_open, args.quiet)
                except PeerFailed as exc:
                    if not keep_open:
                        raise
                    log(f"netkit listen: {exc}")  # this client failed; serve the next
                    failed = True
                if not keep_open:
                    return EXIT_OK
        except KeyboardInterrupt:
            if not keep_open:
                raise
            log("stopping")
    return EXIT_FAILED if failed else EXIT_OK


def _serve(
    raw: socket.socket,
    peer: str,
    tls: ssl.SSLContext | None,
    timeout: float | None,
    stdin: Stdin,
    keep_open: bool,
    quiet: bool,
) -> None:
    """One client: the TLS handshake if any, the session, then wait for the ACKs."""
    from netkit.tcp import TcpConnection

    sock: socket.socket = raw
    if tls is not None:
        # Bounded: a client that connects and says nothing must not hold the listener.
        raw.settimeout(timeout if timeout is not None else STEP_TIMEOUT)
        try:
            sock = tls.wrap_socket(raw, server_side=True)
        except (OSError, ValueError) as exc:  # ssl.SSLError and TimeoutError included
            raw.close()
            raise PeerFailed(f"TLS handshake with {peer} failed: {reason(exc)}") from exc
        sock.settimeout(None)
    with TcpConnection(sock) as conn:
        if not quiet:
            log(f"+ {peer} connected")
        if isinstance(sock, ssl.SSLSocket):
            tls_session(sock, peer, timeout, stdin, end_with_peer=keep_open)
            wait_acknowledged(sock, peer, timeout, fin_sent=False)
            # close_notify tells the client nothing was cut off (the socket is
            # non-blocking now: the client's own close_notify is not waited for).
            with contextlib.suppress(OSError, ValueError):
                sock.unwrap()
        else:
            tcp_session(conn, peer, timeout, stdin, end_with_peer=keep_open)
            wait_acknowledged(sock, peer, timeout, fin_sent=True)
    if not quiet:
        log(f"- {peer} closed")


# --- UDP -------------------------------------------------------------------------------


def _run_udp(args: argparse.Namespace) -> int:
    from netkit.udp import UdpEndpoint

    try:
        bound = interruptible(UdpEndpoint.bind, args.host, args.port)
    except (OSError, ValueError) as exc:
        raise cannot_listen(args.host, args.port, exc) from exc
    stopping = sigterm_as_interrupt() if args.keep_open else contextlib.nullcontext()
    with bound, stopping:
        if args.keep_open:
            try:
                log(f"listening on {bound.address}")  # a Ctrl-C from here on stops it
                _udp_keep_open(bound, args.quiet)
            except KeyboardInterrupt:
                log("stopping")
            return EXIT_OK
        log(f"listening on {bound.address}")
        # The first datagram picks the peer. Received on the socket itself: its raw
        # address is what connect() takes (IPv4-mapped on a dual-stack socket).
        sock = bound.socket
        data, sockaddr = sock.recvfrom(_MAX_DATAGRAM)
        # Connected: the kernel now takes datagrams from the peer only and reports an
        # ICMP "port unreachable" it causes; the endpoint's send() and recv() work on
        # the connected socket as on one it connected itself.
        sock.connect(sockaddr)
        peer = endpoint_text(*sockaddr[:2])
        if not args.quiet:
            log(f"+ {peer} is the peer")
        write_out(data)
        linger = args.timeout if args.timeout is not None else UDP_LINGER
        udp_session(bound, peer, linger, Stdin())
    return EXIT_OK


def _udp_keep_open(endpoint: Any, quiet: bool) -> None:
    """Every sender's datagrams to stdout; stdin to the latest sender, until Ctrl-C."""
    import threading

    from netkit.addr import Endpoint

    latest: list[Endpoint] = []  # [the sender of the latest datagram], once there is one
    has_peer = threading.Event()
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            has_peer.wait()  # stdin is not read before there is someone to send it to
            for chunk in Stdin().chunks():
                target = latest[-1]
                try:
                    endpoint.sendto(chunk, target)
                except (OSError, ValueError) as exc:  # too large, unreachable...
                    log(f"netkit listen: sending to {target} failed: {reason(exc)}")
        except BaseException as exc:  # stdin failed: reported by the main thread
            failure.append(exc)

    threading.Thread(target=pump, name="netkit-listen-send", daemon=True).start()
    while not failure:
        try:
            # Bounded, to notice a failure of stdin; Ctrl-C interrupts it at once.
            data, sender = endpoint.recvfrom(max_size=_MAX_DATAGRAM, timeout=0.5)
        except OSError as exc:
            from netkit.errors import NetkitTimeout

            if isinstance(exc, NetkitTimeout):
                continue
            log(f"netkit listen: receiving failed: {reason(exc)}")  # one sender's ICMP
            continue
        if not quiet and latest[:1] != [sender]:
            log(f"+ {sender} is the peer")
        latest[:] = [sender]
        has_peer.set()
        write_out(data)
    raise failure[0]
