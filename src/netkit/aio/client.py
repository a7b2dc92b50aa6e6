"""asyncio :class:`TcpClient`: resolve, race the addresses (Happy Eyeballs), wrap.

asyncio's own ``happy_eyeballs_delay`` keeps only the last error, so the race is run
here with one task per address doing ``loop.sock_connect`` on a non-blocking socket.
Everything else is the sync client's: argument checks, address order
(:func:`netkit.tcp.client.interleave_addresses`, RFC 8305 section 4), socket options
(TCP_NODELAY on unless asked otherwise), ``source`` binding and error messages.
Attempts start :data:`ATTEMPT_DELAY` apart, or at once when the previous one fails; the
first to connect wins and every loser is cancelled and its socket closed. When all
fail, ``ConnectFailed.attempts`` holds each address with its own error, in start order.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from typing import Any, TypeVar

from netkit.addr import Endpoint, is_ip
from netkit.aio.connection import TcpConnection, _wrap
from netkit.errors import AddressError, ConnectFailed, NetkitTimeout
from netkit.options import SocketOptions
from netkit.tcp import client as _sync
from netkit.tcp.client import ATTEMPT_DELAY, interleave_addresses
from netkit.tls import handshake_error

__all__ = ["ATTEMPT_DELAY", "TcpClient"]

_C = TypeVar("_C", bound="TcpClient")


def _open_attempt(
    target: _sync._Target, options: SocketOptions | None, source: tuple[str, int] | None
) -> socket.socket:
    """A configured non-blocking socket for *target*, bound to *source* if given."""
    sock = socket.socket(target.family, socket.SOCK_STREAM)
    try:
        _sync._socket_options(options, target.family).apply(sock)
        sock.setblocking(False)
        if source is not None:
            bind_to = _sync._source_sockaddr(source, target.family)
            if bind_to is None:  # filtered out before; kept as a guard
                raise AddressError(f"source {source!r} does not fit {target.endpoint}")
            sock.bind(bind_to)
    except BaseException:
        sock.close()
        raise
    return sock


async def _race(
    targets: Sequence[_sync._Target],
    deadline: float | None,
    options: SocketOptions | None,
    source: tuple[str, int] | None,
    delay: float,
) -> tuple[tuple[socket.socket, Endpoint] | None, list[tuple[Endpoint, BaseException]], bool]:
    """Happy Eyeballs: ((socket, endpoint) of the winner or None, the failed attempts
    in start order, whether the deadline passed). Losers are cancelled and closed."""
    loop = asyncio.get_running_loop()
    errors: dict[int, BaseException] = {}
    pending: dict[asyncio.Future[None], tuple[int, socket.socket]] = {}
    winner: tuple[socket.socket, Endpoint] | None = None
    started = 0
    timed_out = False
    try:
        while winner is None:
            if started < len(targets):
                index = started
                started += 1
                try:
                    sock = _open_attempt(targets[index], options, source)
                except OSError as exc:
                    errors[index] = exc
                    continue  # start the next address at once
                attempt = asyncio.ensure_future(loop.sock_connect(sock, targets[index].sockaddr))
                pending[attempt] = (index, sock)
            if not pending:
                break  # every address tried and failed
            wait: float | None = delay if started < len(targets) else None
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    timed_out = True
                    break
                wait = left if wait is None else min(wait, left)
            done, _ = await asyncio.wait(
                pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
            # Either an attempt ended (a failure starts the next one at once, RFC 8305)
            # or the delay passed (start the next one alongside): loop round either way.
            for finished in done:
                index, sock = pending.pop(finished)
                error = finished.exception()
                if error is None and winner is None:
                    winner = (sock, targets[index].endpoint)
                else:
                    errors[index] = error if error is not None else ConnectionAbortedError()
                    sock.close()
            if not done and started >= len(targets) and deadline is not None:
                timed_out = loop.time() >= deadline
                if timed_out:
                    break
    finally:
        for loser, (index, sock) in pending.items():
            loser.cancel()
            errors.setdefault(index, NetkitTimeout("no answer before the deadline"))
            sock.close()
        if pending:
            # Let the cancelled attempts unregister their file descriptors.
            await asyncio.wait(pending)
            for loser in pending:
                if not loser.cancelled():
                    loser.exception()  # retrieved, so asyncio does not log it
    attempts = [(targets[i].endpoint, errors[i]) for i in sorted(errors)]
    return winner, attempts, timed_out


async def _targets(host: str, port: int) -> list[_sync._Target]:
    if is_ip(host, allow_zone=True):
        return [_sync._literal_target(host, port)]
    loop = asyncio.get_running_loop()
    # getaddrinfo blocks: run the sync client's resolver in the loop's thread pool.
    infos = await loop.run_in_executor(None, _sync._resolve, host, port)
    return interleave_addresses(infos)


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

        Same arguments and errors as :meth:`netkit.tcp.TcpClient.connect`: *timeout*
        bounds the whole call (resolution, every attempt, the TLS handshake) and raises
        ``NetkitTimeout``; when every address fails, ``ConnectFailed.attempts`` has the
        per-address errors. *tls* is an :class:`ssl.SSLContext` or True for
        :func:`netkit.tls.client_context`; *server_hostname* defaults to *host*.
        ``options.timeout`` becomes the default deadline of each later call.
        """
        host, port, limit, context, bind = _sync._check_connect_args(
            host, port, timeout, options, tls, server_hostname, source
        )
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit
        where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"

        try:
            if deadline is None:
                targets = await _targets(host, port)
            else:
                targets = await asyncio.wait_for(_targets(host, port), deadline - loop.time())
        except asyncio.TimeoutError:
            raise NetkitTimeout(f"resolving {host!r} took longer than the timeout") from None
        if bind is not None:
            targets = [t for t in targets if _sync._source_sockaddr(bind, t.family) is not None]
            if not targets:
                raise ConnectFailed(
                    f"cannot connect to {where}: no address of the source's family"
                )

        won, attempts, timed_out = await _race(targets, deadline, options, bind, ATTEMPT_DELAY)
        if won is None:
            if timed_out:
                failed = ConnectFailed(f"cannot connect to {where}: timed out", attempts)
                raise NetkitTimeout(f"connect to {where} timed out after {limit} s") from failed
            raise ConnectFailed(f"cannot connect to {where}: {_sync._summary(attempts)}", attempts)
        sock, endpoint = won
        name: Any = None
        if context is not None:
            name = server_hostname if server_hostname is not None else host.split("%")[0]
        left = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            transport, protocol = await _wrap(
                sock, tls=context, server_side=False, server_hostname=name, timeout=left
            )
        except OSError as exc:  # timeout, ssl.SSLError, ConnectionResetError, EOF, ...
            error = handshake_error(endpoint, exc, limit)
            raise error from (None if isinstance(error, NetkitTimeout) else exc)
        default = None if options is None else options.timeout
        return cls(transport, protocol, default_timeout=default)
