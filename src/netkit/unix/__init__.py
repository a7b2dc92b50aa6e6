"""Unix domain sockets (``AF_UNIX``): stream connections and clients
(:class:`UnixConnection`, :class:`UnixClient`), :class:`UnixServer`,
:class:`UnixListener`, :func:`inherited_listeners` (socket activation), datagrams
(:mod:`netkit.unix.datagram`) and SEQPACKET connections (:mod:`netkit.unix.seqpacket`).

Paths are ``str`` (or path-like) and a Linux abstract name is a ``str`` starting with
``"\\0"``, as in the :mod:`socket` module.
"""

from __future__ import annotations

from netkit.unix.connection import PeerCredentials, UnixClient, UnixConnection
from netkit.unix.listener import UnixListener, inherited_listeners
from netkit.unix.server import UnixServer

__all__ = [
    "PeerCredentials",
    "UnixClient",
    "UnixConnection",
    "UnixListener",
    "UnixServer",
    "inherited_listeners",
]
