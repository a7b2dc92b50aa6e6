"""Socket addresses to :class:`~netkit.Endpoint`: the one place that converts them.

Both faces, every transport, the servers and the clients call :func:`endpoint` on
what ``getsockname``/``getpeername``/``accept``/``recvfrom`` (or an event loop's
``get_extra_info``) return.
"""

from __future__ import annotations

import socket
from typing import Any

from netkit.addr import Endpoint
from netkit.errors import describe

__all__ = [
    "IP_FAMILIES",
    "check_stream_socket",
    "endpoint",
    "endpoint_or_none",
    "family_error",
]

#: The address families of TCP (and UDP) sockets.
IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def endpoint(sockaddr: object) -> Endpoint:
    """The :class:`Endpoint` of an IP socket address from the kernel.

    Takes ``(host, port)`` or ``(host, port, flowinfo, scope_id)``; a non-zero scope id
    becomes a numeric zone. An unbound socket's ``("", 0)`` or ``("0.0.0.0", 0)`` is
    reported as ``0.0.0.0:0``.

    Raises:
        TypeError: *sockaddr* is not an IP socket address (a Unix path, say).
    """
    if sockaddr.__class__ is tuple and len(sockaddr) == 2:
        host, port = sockaddr
        return Endpoint(host or "0.0.0.0", port)
    if not isinstance(sockaddr, tuple) or len(sockaddr) not in (2, 4):
        raise TypeError(f"not an IP socket address: {describe(sockaddr)}")
    if not sockaddr[0]:
        sockaddr = ("::", *sockaddr[1:]) if len(sockaddr) == 4 else ("0.0.0.0", sockaddr[1])
    return Endpoint.from_sockaddr(sockaddr)


def endpoint_or_none(sockaddr: Any) -> Endpoint | None:
    """:func:`endpoint`, or ``None`` for anything that is not an IP socket address."""
    try:
        return endpoint(sockaddr)
    except (TypeError, ValueError):
        return None


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return f"address family {family}"


def family_error(kind: str, family: int) -> TypeError | None:
    """Why the class *kind* cannot take a socket of *family*, or None.

    *kind* names a TCP class (``"TcpConnection"``, ``"TcpListener"``, ``"TcpServer"``:
    AF_INET, AF_INET6) or its Unix twin (``"UnixConnection"``...: AF_UNIX); the
    message names the twin that does take the socket. One class per family keeps the
    addresses typed: a TCP class's are :class:`Endpoint` s, a Unix class's ``str`` paths.
    """
    unix = family == getattr(socket, "AF_UNIX", None)
    if kind.startswith("Unix"):
        if unix:
            return None
        wanted = "an AF_UNIX"
        other = "Tcp" + kind[4:] if family in IP_FAMILIES else None
    else:
        if family in IP_FAMILIES:
            return None
        wanted = "an AF_INET or AF_INET6"
        other = "Unix" + kind[3:] if unix else None
    hint = f"; use {other}" if other else ""
    return TypeError(f"{kind} needs {wanted} socket, not {_family_name(family)}{hint}")


def not_stream(name: str, sock_type: int) -> ValueError:
    """The error for a connection class called *name* given a socket of *sock_type*."""
    hint = ""
    if sock_type == getattr(socket, "SOCK_SEQPACKET", None) and name.startswith("Unix"):
        hint = f"; use Seqpacket{name[4:]}"
    return ValueError(f"{name} needs a stream socket, not {sock_type!r}{hint}")


def check_stream_socket(sock: object, name: str, kind: str | None) -> None:
    """Check that a connection class called *name* can wrap *sock*.

    Raises:
        TypeError: *sock* is not a ``socket.socket``, or of the wrong family for
            *kind* (:func:`family_error`).
        ValueError: *sock* is not a ``SOCK_STREAM`` socket.
    """
    if not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
    if sock.type != socket.SOCK_STREAM:
        raise not_stream(name, sock.type)
    if kind is not None:
        wrong = family_error(kind, sock.family)
        if wrong is not None:
            raise wrong
