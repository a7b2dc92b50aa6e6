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
    ConnectionRefused,
    FrameTooLarge,
    LookupFailed,
    NetkitError,
    NetkitTimeout,
    PingNotPermitted,
    ProxyProtocolError,
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
    from netkit.icmp import PingReply, PingReport, ping
    from netkit.lookup import (
        AddrInfo,
        HostInfo,
        host_address,
        hostname,
        protocol_name,
        protocol_number,
        resolve,
        reverse,
        service_name,
        service_port,
    )
    from netkit.options import KeepAlive, SocketOptions
    from netkit.tcp import TcpClient, TcpConnection, TcpListener, TcpServer
    from netkit.udp import Datagram, UdpEndpoint
    from netkit.unix import (
        PeerCredentials,
        UnixClient,
        UnixConnection,
        UnixListener,
        UnixServer,
        inherited_listeners,
    )
    from netkit.unix.datagram import UnixDatagramEndpoint
    from netkit.unix.listener import SeqpacketListener
    from netkit.unix.seqpacket import SeqpacketClient, SeqpacketConnection
    from netkit.unix.server import SeqpacketServer

# module -> the public names it defines; the table behind lazy loading.
_MODULES: dict[str, tuple[str, ...]] = {
    "netkit.addr": (
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
    ),
    "netkit.byteorder": ("htonl", "htonll", "htons", "ntohl", "ntohll", "ntohs"),
    "netkit.icmp": ("PingReply", "PingReport", "ping"),
    "netkit.lookup": (
        "AddrInfo",
        "HostInfo",
        "host_address",
        "hostname",
        "protocol_name",
        "protocol_number",
        "resolve",
        "reverse",
        "service_name",
        "service_port",
    ),
    "netkit.options": ("KeepAlive", "SocketOptions"),
    "netkit.tcp": ("TcpClient", "TcpConnection", "TcpListener", "TcpServer"),
    "netkit.udp": ("Datagram", "UdpEndpoint"),
    "netkit.unix": (
        "PeerCredentials",
        "UnixClient",
        "UnixConnection",
        "UnixListener",
        "UnixServer",
        "inherited_listeners",
    ),
    "netkit.unix.datagram": ("UnixDatagramEndpoint",),
    "netkit.unix.listener": ("SeqpacketListener",),
    "netkit.unix.seqpacket": ("SeqpacketClient", "SeqpacketConnection"),
    "netkit.unix.server": ("SeqpacketServer",),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

# Spelled out so that tools see it; tests/test_package.py checks it matches the table.
__all__ = [
    "AddrInfo",
    "AddressError",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionRefused",
    "Datagram",
    "Endpoint",
    "FrameTooLarge",
    "HostInfo",
    "KeepAlive",
    "LookupFailed",
    "NetkitError",
    "NetkitTimeout",
    "PeerCredentials",
    "PingNotPermitted",
    "PingReply",
    "PingReport",
    "ProxyProtocolError",
    "SeqpacketClient",
    "SeqpacketConnection",
    "SeqpacketListener",
    "SeqpacketServer",
    "SocketOptions",
    "TcpClient",
    "TcpConnection",
    "TcpListener",
    "TcpServer",
    "UdpEndpoint",
    "UnixClient",
    "UnixConnection",
    "UnixDatagramEndpoint",
    "UnixListener",
    "UnixServer",
    "__version__",
    "host_address",
    "hostname",
    "htonl",
    "htonll",
    "htons",
    "inherited_listeners",
    "ip_version",
    "is_global",
    "is_ip",
    "is_ipv4",
    "is_ipv6",
    "is_loopback",
    "is_private",
    "normalize_ip",
    "ntohl",
    "ntohll",
    "ntohs",
    "pack_ip",
    "parse_endpoint",
    "ping",
    "protocol_name",
    "protocol_number",
    "resolve",
    "reverse",
    "service_name",
    "service_port",
    "unpack_ip",
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
