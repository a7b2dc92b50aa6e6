"""Listening sockets for both servers: where to listen, and the bound, listening socket."""

from __future__ import annotations

import socket
from typing import Any

from netkit._core.server import listener_options
from netkit.addr import is_ip
from netkit.lookup import resolve
from netkit.options import SocketOptions

__all__ = ["listen_address", "listen_socket", "needs_lookup"]


def needs_lookup(host: str) -> bool:
    """Whether :func:`listen_address` must ask the resolver (and so may block) for *host*."""
    return not (host in ("", "::") or is_ip(host, allow_zone=True))


def listen_address(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    """The (family, sockaddr) a server on *host* listens on.

    ``""`` is every IPv4 address and ``"::"`` every address of both families; anything
    else is resolved, so a bad host raises AddressError or LookupFailed (a name may
    block: see :func:`needs_lookup`).
    """
    if host in ("", "::"):
        family = socket.AF_INET6 if host == "::" else socket.AF_INET
        return family, (host or "0.0.0.0", port)
    info = resolve(host, port)[0]
    return info.family, tuple(info.sockaddr)


def listen_socket(
    family: int, sockaddr: tuple[Any, ...], backlog: int, options: SocketOptions
) -> socket.socket:
    """A bound, listening stream socket with the listener options applied (blocking)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener_options(options, family, sockaddr[0]).apply(sock)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock
