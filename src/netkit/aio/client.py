"""asyncio :class:`TcpClient`: resolve, race the addresses (Happy Eyeballs), wrap.

The connect is planned by :mod:`netkit._core.connect`, exactly as in the sync client:
argument checks, address order (RFC 8305 section 4), socket options (TCP_NODELAY on
unless asked otherwise), ``source`` binding, when each attempt starts, and every error
and message. This module only waits, on the loop: the resolver runs in the loop's
executor, and each non-blocking attempt is watched with ``loop.add_writer`` (asyncio's
own ``happy_eyeballs_delay`` keeps only the last error). The first to connect wins and
every other socket is closed; when all fail, ``ConnectFailed.attempts`` holds each
address with its own error, in start order.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import TypeVar

from netkit._core.connect import (
    ATTEMPT_DELAY,
    HappyEyeballs,
    Start,
    attempt_error,
    check_connect_args,
    in_progress,
    literal_targets,
    resolve_timeout,
)
from netkit._sockets import connect as _connect
from netkit.addr import Endpoint
from netkit.aio.connection import TcpConnection, _wrap
from netkit.errors import NetkitTimeout
from netkit.options import SocketOptions
from netkit.tls import handshake_error

__all__ = ["ATTEMPT_DELAY", "TcpClient"]

_C = TypeVar("_C", bound="TcpClient")


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _race(plan: HappyEyeballs) -> socket.socket | None:
    """Run *plan*'s attempts on the loop; the winner's socket, or None if none won.

    Every other socket is closed before this returns, also when it is cancelled.
    """
    loop = asyncio.get_running_loop()
    running: dict[int, socket.socket] = {}  # attempt index -> its socket
    ready: list[int] = []  # attempts whose sockets became writable: ended, one way or other
    wake: asyncio.Future[None] | None = None
    winner: socket.socket | None = None

    def writable(index: int) -> None:
        sock = running.get(index)
        if sock is None:  # a callback already queued when the race ended: nothing to do
            return
        loop.remove_writer(sock.fileno())
        ready.append(index)
        if wake is not None:
            _wake(wake)

    try:
        while (step := plan.step(loop.time())) is not None:
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
                    running[step.attempt] = sock
                    loop.add_writer(sock.fileno(), writable, step.attempt)
                else:
                    sock.close()
                    plan.failed(step.attempt, attempt_error(code))
                continue
            if not ready:
                wake = loop.create_future()
                timer = (
                    None if step.timeout is None else loop.call_later(step.timeout, _wake, wake)
                )
                try:
                    await wake
                finally:
                    wake = None
                    if timer is not None:
                        timer.cancel()
            while ready and winner is None:
                index = ready.pop(0)
                sock = running.pop(index)
                error = _connect.finish_attempt(sock)
                if error is None:
                    winner = sock
                    plan.succeeded(index)
                else:
                    sock.close()
                    plan.failed(index, error)
    except BaseException:
        if winner is not None:
            winner.close()
        raise
    finally:
        for sock in running.values():
            loop.remove_writer(sock.fileno())  # before close: the number may be reused
            sock.close()
        running.clear()
    return winner


class TcpClient(TcpConnection):
    """A :class:`TcpConnection` made by :meth:`connect`."""

    __slots__ = ()

    @classmethod
    async def connect(
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

        Same arguments and errors as :meth:`netkit.tcp.TcpClient.connect`; addresses are
        tried with Happy Eyeballs (RFC 8305).

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
        loop = asyncio.get_running_loop()
        deadline = args.deadline(loop.time())
        targets = literal_targets(args.host, args.port)
        if targets is None:
            # getaddrinfo blocks: it runs in the loop's executor.
            resolving = loop.run_in_executor(None, _connect.resolve_targets, args.host, args.port)
            try:
                if deadline is None:
                    targets = await resolving
                else:
                    targets = await asyncio.wait_for(resolving, deadline - loop.time())
            except asyncio.TimeoutError:
                raise resolve_timeout(args.host) from None
        plan = HappyEyeballs.plan(args, targets, deadline)
        sock = await _race(plan)
        if sock is None:
            raise plan.error()
        assert plan.winner is not None
        left = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            transport, protocol = await _wrap(
                sock,
                tls=args.context,
                server_side=False,
                server_hostname=args.server_name,
                timeout=left,
            )
        except OSError as exc:  # timeout, ssl.SSLError, ConnectionResetError, EOF, ...
            error = handshake_error(plan.winner.endpoint, exc, args.limit)
            raise error from (None if isinstance(error, NetkitTimeout) else exc)
        default = None if args.options is None else args.options.timeout
        return cls(transport, protocol, default_timeout=default)
