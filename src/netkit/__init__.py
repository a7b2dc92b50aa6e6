"""netkit: typed, safe and fast TCP and UDP sockets.

Everything public is importable from here (``from netkit import TcpServer``). Names are
loaded on first use, so ``import netkit`` stays cheap for a command that only
validates addresses; type checkers see the real imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from netkit._version import __version__
from netkit.errors import (
    AddressError,
    ConnectFailed,
    ConnectionClosed,
    FrameTooLarge,
    LookupFailed,
    NetkitError,
    NetkitTimeout,
)

if TYPE_CHECKING:
    from netkit.addr import (
        Endpoint,
        ip_version,
        is_global,
        is_ip,
        is_ipv4,
        is_ipv6,
        is_loopback,
        is_private,
        normalize_ip,
        pack_ip,
        parse_endpoint,
        unpack_ip,
    )
    from netkit.byteorder import htonl, htonll, htons, ntohl, ntohll, ntohs
    from netkit.lookup import (
        AddrInfo,
        HostInfo,
        host_address,
        hostname,
        resolve,
        reverse,
        service_name,
        service_port,
    )
    from netkit.options import KeepAlive, SocketOptions
    from netkit.tcp import TcpClient, TcpConnection, TcpServer
    from netkit.udp import Datagram, UdpEndpoint

# name -> module that defines it; the single table behind lazy loading and __all__.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        [
            "Endpoint",
            "ip_version",
            "is_global",
            "is_ip",
            "is_ipv4",
            "is_ipv6",
            "is_loopback",
            "is_private",
            "normalize_ip",
            "pack_ip",
            "parse_endpoint",
            "unpack_ip",
        ],
        "netkit.addr",
    ),
    **dict.fromkeys(["htonl", "htonll", "htons", "ntohl", "ntohll", "ntohs"], "netkit.byteorder"),
    **dict.fromkeys(
        [
            "AddrInfo",
            "HostInfo",
            "host_address",
            "hostname",
            "resolve",
            "reverse",
            "service_name",
            "service_port",
        ],
        "netkit.lookup",
    ),
    **dict.fromkeys(["KeepAlive", "SocketOptions"], "netkit.options"),
    **dict.fromkeys(["TcpClient", "TcpConnection", "TcpServer"], "netkit.tcp"),
    **dict.fromkeys(["Datagram", "UdpEndpoint"], "netkit.udp"),
}

__all__ = [  # noqa: RUF022 - grouped by layer, as in CONTRACT.md
    "__version__",
    "NetkitError",
    "AddressError",
    "LookupFailed",
    "ConnectFailed",
    "ConnectionClosed",
    "NetkitTimeout",
    "FrameTooLarge",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
