"""TCP: :class:`TcpConnection` (a connected stream), :class:`TcpClient` (connects, with
Happy Eyeballs and optional TLS) and :class:`TcpServer`."""

from __future__ import annotations

from netkit.tcp.client import TcpClient
from netkit.tcp.connection import TcpConnection
from netkit.tcp.listener import TcpListener
from netkit.tcp.server import TcpServer

__all__ = ["TcpClient", "TcpConnection", "TcpListener", "TcpServer"]
