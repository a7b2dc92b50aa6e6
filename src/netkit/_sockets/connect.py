"""The system calls of a connect: start an attempt, read how it ended, and resolve.

Starting and finishing an attempt never wait (the socket is non-blocking). Resolving
blocks in the resolver (``getaddrinfo``), so each face runs it off its own thread of
control (a helper thread under the deadline, the loop's executor). What to start, when,
and what an error means is decided by :mod:`netkit._core.connect`.
"""

from __future__ import annotations

import socket

from netkit._core.connect import DEFAULT_OPTIONS, Start, Target, attempt_error, target
from netkit.lookup import resolve

__all__ = ["finish_attempt", "resolve_targets", "start_attempt"]


def resolve_targets(host: str, port: int) -> list[Target]:
    """The addresses of *host* in the resolver's order (blocks in the resolver).

    The one resolver call of both faces' clients (the sync face runs it in a thread
    under a deadline, the asyncio face in the loop's executor). It asks
    :func:`netkit.lookup.resolve`, and so the resolver in force
    (:func:`netkit.lookup.set_resolver`): tests replace that, not this. Raises
    :class:`~netkit.LookupFailed` or ``AddressError`` as ``resolve`` does.
    """
    return [target(i.family, i.sockaddr) for i in resolve(host, port, type=socket.SOCK_STREAM)]


def start_attempt(start: Start) -> tuple[socket.socket, int]:
    """Create, configure, bind and start connecting the socket of *start*.

    Returns:
        The non-blocking socket and ``connect_ex``'s code (0: connected already; see
        :func:`netkit._core.connect.in_progress`).

    Raises:
        OSError: creating, configuring or binding the socket failed (it is closed).
    """
    sock = socket.socket(start.target.family, socket.SOCK_STREAM)
    try:
        if start.options is DEFAULT_OPTIONS:
            # The common case, without SocketOptions.apply's general checks.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            start.options.apply(sock)
        sock.setblocking(False)
        if start.bind is not None:
            sock.bind(start.bind)
        return sock, sock.connect_ex(start.target.sockaddr)
    except BaseException:
        sock.close()
        raise


def finish_attempt(sock: socket.socket) -> OSError | None:
    """How the attempt on *sock* ended once it is writable: None if it connected."""
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return None if code == 0 else attempt_error(code)
