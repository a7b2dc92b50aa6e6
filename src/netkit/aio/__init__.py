"""asyncio twins of :mod:`netkit.tcp` and :mod:`netkit.udp`: same names, same errors.

``await TcpClient.connect(host, port)``, ``async with TcpServer(handler) as server``,
``await UdpEndpoint.bind(host, port)``; every read goes through the same sans-IO
:class:`netkit.framing.ReceiveBuffer` as the sync classes. Works on the default event
loop and on uvloop (the ``fast`` extra: ``pip install ".[fast]"`` from a clone).
"""

from __future__ import annotations

from netkit.aio._stream import TransportSocketLike
from netkit.aio.client import TcpClient
from netkit.aio.connection import TcpConnection
from netkit.aio.icmp import PingReply, PingReport, ping
from netkit.aio.listener import SeqpacketListener, TcpListener, UnixListener, inherited_listeners
from netkit.aio.seqpacket import SeqpacketClient, SeqpacketConnection
from netkit.aio.server import SeqpacketServer, TcpServer, UnixServer
from netkit.aio.udp import Datagram, UdpEndpoint
from netkit.aio.unix import PeerCredentials, UnixClient, UnixConnection
from netkit.aio.unix_datagram import UnixDatagramEndpoint

__all__ = [
    "Datagram",
    "PeerCredentials",
    "PingReply",
    "PingReport",
    "SeqpacketClient",
    "SeqpacketConnection",
    "SeqpacketListener",
    "SeqpacketServer",
    "TcpClient",
    "TcpConnection",
    "TcpListener",
    "TcpServer",
    "TransportSocketLike",
    "UdpEndpoint",
    "UnixClient",
    "UnixConnection",
    "UnixDatagramEndpoint",
    "UnixListener",
    "UnixServer",
    "inherited_listeners",
    "ping",
]
