"""Sockets that netkit makes itself start with no timeout, whatever the process default.

:func:`socket.setdefaulttimeout` gives every socket Python makes (``socket()``,
``socketpair()``, ``accept()``, ``socket(fileno=...)``) that timeout. netkit's rule is
that it never honours it: deadlines come only from ``timeout=`` arguments, the
``timeout`` properties and ``SocketOptions(timeout=...)``. So every socket netkit makes
goes through here (or has its blocking mode set at once) before anything reads its
timeout. A socket the caller makes and hands in keeps its own timeout as the default
deadline (documented on each wrapping constructor).
"""

from __future__ import annotations

import socket

__all__ = ["accept", "socketpair"]


def socketpair(family: int, kind: int) -> tuple[socket.socket, socket.socket]:
    """``socket.socketpair(family, kind)``, both ends blocking with no timeout."""
    a, b = socket.socketpair(family, kind)
    a.settimeout(None)
    b.settimeout(None)
    return a, b


def accept(listener: socket.socket) -> tuple[socket.socket, object]:
    """``listener.accept()``, the new socket blocking with no timeout.

    Raises what :meth:`socket.socket.accept` raises (``BlockingIOError`` on a
    non-blocking listener with nobody waiting).
    """
    sock, peer = listener.accept()
    sock.settimeout(None)
    return sock, peer
