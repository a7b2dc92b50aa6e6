"""Unix sockets: stream connections and clients (:class:`UnixConnection`,
:class:`UnixClient`), servers and listeners.

Paths are ``str`` (or path-like) and a Linux abstract name is a ``str`` starting with
``"\\0"``, as in the :mod:`socket` module.
"""

from __future__ import annotations

from netkit.unix.connection import PeerCredentials, UnixClient, UnixConnection

__all__ = [
    "PeerCredentials",
    "UnixClient",
    "UnixConnection",
]
