"""TcpClient: resolve, race the addresses (Happy Eyeballs, RFC 8305), optionally TLS.

:meth:`TcpClient.connect` resolves the host (an IP literal skips resolution), orders
the addresses as RFC 8305 section 4 asks (:func:`interleave_addresses`: the families
alternate, starting with the family of the resolver's first answer), and starts one
non-blocking connection attempt every :data:`ATTEMPT_DELAY` seconds, or at once when
an attempt fails, until one succeeds. The first to connect wins; every other socket is
closed before ``connect`` returns. All of it runs in the calling thread on one
selector: no thread per attempt.

This module only waits: the schedule, the argument checks and every error come from
:mod:`netkit._core.connect`, which the asyncio client drives the same way.

Failures: every attempt failing raises :class:`~netkit.ConnectFailed` with one
``(Endpoint, exception)`` pair per address tried, in the order they were started. A
``timeout`` that passes first raises :class:`~netkit.NetkitTimeout`, whose
``__cause__`` is a ``ConnectFailed`` listing the attempts (those still running carry a
``NetkitTimeout``). A TLS handshake that fails (certificate not trusted, wrong host
name, protocol error) raises ``ConnectFailed`` with the :class:`ssl.SSLError` in
``attempts`` and as ``__cause__``; a failed name lookup raises
:class:`~netkit.LookupFailed` as :func:`netkit.lookup.resolve` does.
"""

from __future__ import annotations

import math
import selectors
import socket
import ssl
import threading
from time import monotonic
from typing import Any, TypeVar

from netkit._core.connect import (
    ATTEMPT_DELAY,
    ConnectArgs,
    HappyEyeballs,
    Start,
    Target,
    attempt_error,
    check_connect_args,
    in_progress,
    interleave_addresses,
    literal_targets,
    resolve_timeout,
)
from netkit._sockets import connect as _connect
from netkit.addr import Endpoint
from netkit.errors import NetkitTimeout
from netkit.options import SocketOptions
from netkit.tcp.connection import TcpConnection
from netkit.tls import handshake_error

__all__ = ["ATTEMPT_DELAY", "TcpClient", "interleave_addresses"]

_C = TypeVar("_C", bound="TcpClient")

_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.DefaultSelector
)


def _resolve_by(host: str, port: int, deadline: float | None) -> list[Target]:
    """Resolve, giving up at *deadline*.

    ``getaddrinfo`` cannot be interrupted, so with a deadline it runs in a helper
    thread that is abandoned on timeout; it ends by itself when the system resolver
    gives up (its own timeouts, e.g. ``options timeout`` in resolv.conf).
    """
    if deadline is None:
        return _connect.resolve_targets(host, port)
    done = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = _connect.resolve_targets(host, port)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="netkit-resolve", daemon=True).start()
    if not done.wait(max(deadline - monotonic(), 0.0)):
        raise resolve_timeout(host)
    if "error" in box:
        error: BaseException = box["error"]
        raise error
    result: list[Target] = box["result"]
    return result


def _race(plan: HappyEyeballs) -> socket.socket | None:
    """Run *plan*'s attempts on one selector; the winner's socket, or None if none won.

    Every other socket is closed before this returns, whatever happens.
    """
    selector = _Selector()
    running: dict[socket.socket, int] = {}  # socket -> attempt index
    winner: socket.socket | None = None
    try:
        while (step := plan.step(monotonic())) is not None:
            if isinstance(step, Start):
                try:
                    sock, code = _connect.start_attempt(step)
                except OSError as exc:
                    plan.failed(step.attempt, exc)
                    continue
                if code == 0:
                    winner = sock
                    plan.succeeded(step.attempt)
                elif in_progress(code):
                    running[sock] = step.attempt
                    selector.register(sock, selectors.EVENT_WRITE)
                else:
                    sock.close()
                    plan.failed(step.attempt, attempt_error(code))
                continue
            for key, _ in selector.select(step.timeout):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                selector.unregister(ready)
                index = running.pop(ready)
                error = _connect.finish_attempt(ready)
                if error is None:
                    winner = ready
                    plan.succeeded(index)
                    break
                ready.close()
                plan.failed(index, error)
    except BaseException:
        if winner is not None:  # e.g. KeyboardInterrupt right after the win
            winner.close()
        raise
    finally:
        for sock in running:
            sock.close()
        selector.close()
    return winner


class TcpClient(TcpConnection):
    """A :class:`TcpConnection` made by :meth:`connect`."""

    __slots__ = ()

    @classmethod
    def connect(
        cls: type[_C],
        host: str,
        port: int,
        *,
        timeout: float | None = None,
        options: SocketOptions | None = None,
        tls: ssl.SSLContext | bool | None = None,
        server_hostname: str | None = None,
        source: Endpoint | tuple[str, int] | None = None,
    ) -> _C:
        """Connect to *host* (a name or an IP literal) on *port* and return the client.

        Addresses are tried with Happy Eyeballs (RFC 8305).

        Args:
            host: a host name or an IP literal.
            port: the port, 1..65535.
            timeout: seconds for the whole call (resolution, every attempt, the TLS
                handshake); None for no limit.
            options: applied to each socket before it connects; TCP_NODELAY is on unless
                ``options.nodelay`` is False, and ``options.timeout`` becomes the
                connection's default deadline per call.
            tls: an :class:`ssl.SSLContext`, or True for :func:`netkit.tls.client_context`.
            server_hostname: the name for SNI and the certificate check (with *tls* only);
                defaults to *host*.
            source: an Endpoint or ``(ip, port)`` to bind before connecting (``""`` for any
                address); only addresses of its family are tried.

        Returns:
            The connected client.

        Raises:
            TypeError: an argument of the wrong type.
            ValueError: *server_hostname* without *tls*, or a bad *timeout*.
            AddressError: a malformed *host*, *source* or out-of-range *port*.
            LookupFailed: *host* does not resolve.
            ConnectFailed: every address failed (``attempts`` has the per-address errors),
                or the TLS handshake failed.
            NetkitTimeout: *timeout* passed.
        """
        args = check_connect_args(host, port, timeout, options, tls, server_hostname, source)
        deadline = args.deadline(monotonic())
        targets = literal_targets(args.host, args.port)
        if targets is None:
            targets = _resolve_by(args.host, args.port, deadline)
        plan = HappyEyeballs.plan(args, targets, deadline)
        sock = _race(plan)
        if sock is None:
            raise plan.error()
        assert plan.winner is not None
        try:
            sock.setblocking(True)
            if args.context is not None:
                sock = _handshake(sock, args, plan.winner.endpoint, deadline)
            opts = args.options
            if opts is not None and opts.timeout is not None:
                sock.settimeout(None if math.isinf(opts.timeout) else opts.timeout)
            return cls(sock)
        except BaseException:
            sock.close()
            raise


def _handshake(
    sock: socket.socket, args: ConnectArgs, endpoint: Endpoint, deadline: float | None
) -> ssl.SSLSocket:
    """Wrap *sock* in TLS and complete the handshake by *deadline* (closes on failure)."""
    assert args.context is not None
    assert args.server_name is not None
    tls_sock = args.context.wrap_socket(
        sock, server_hostname=args.server_name, do_handshake_on_connect=False
    )
    try:
        if deadline is not None:
            remaining = deadline - monotonic()
            if remaining <= 0:  # as the asyncio face reports a handshake with no time left
                raise handshake_error(endpoint, TimeoutError(), args.limit)
            tls_sock.settimeout(remaining)
        try:
            tls_sock.do_handshake()
        except OSError as exc:  # timeout, ssl.SSLError, ConnectionResetError, EOF, ...
            error = handshake_error(endpoint, exc, args.limit)
            raise error from (None if isinstance(error, NetkitTimeout) else exc)
        tls_sock.settimeout(None)
        return tls_sock
    except BaseException:
        tls_sock.close()
        raise
