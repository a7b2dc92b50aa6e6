"""Socket addresses to :class:`~netkit.Endpoint`: the one place that converts them.

Both faces, every transport, the servers and the clients call :func:`endpoint` on
what ``getsockname``/``getpeername``/``accept``/``recvfrom`` (or an event loop's
``get_extra_info``) return.
"""

from __future__ import annotations

from typing import Any

from netkit.addr import Endpoint
from netkit.errors import describe

__all__ = ["endpoint", "endpoint_or_none"]


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
