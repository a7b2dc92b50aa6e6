"""The one exception hierarchy of netkit, rooted at :class:`NetkitError`.

Every error netkit raises on purpose is a :class:`NetkitError`. Each class also
subclasses the builtin exception a plain-``socket`` program would catch, so code that
says ``except OSError`` or ``except ValueError`` keeps working.

This module is pure: it does no IO and, at run time, imports nothing from the rest of
netkit (:class:`~netkit.Endpoint` is imported for type checkers only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: at run time this module imports no netkit module
    from netkit.addr import Endpoint

__all__ = [
    "AddressError",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionRefused",
    "FrameTooLarge",
    "LookupFailed",
    "NetkitError",
    "NetkitTimeout",
    "PingNotPermitted",
    "ProxyProtocolError",
    "describe",
]

#: Longest repr of offending input quoted in a message; keeps megabyte inputs readable.
_MAX_REPR = 80


def describe(value: object, limit: int = _MAX_REPR) -> str:
    """Return ``repr(value)`` cut to about *limit* characters, for error messages.

    The repr of a huge input is never built in full: strings and bytes are sliced
    first, so describing a megabyte of text costs the same as describing a word.

    Args:
        value: anything.
        limit: the longest text to return, not counting the ``... (N chars)`` suffix.

    Returns:
        The (possibly shortened) repr.
    """
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        data = value if not isinstance(value, memoryview) else bytes(value[: limit + 1])
        head = data[: limit + 1]
        text = repr(head if not isinstance(head, bytearray) else bytes(head))
        if len(data) > limit:
            unit = "chars" if isinstance(value, str) else "bytes"
            return f"{text[:limit]}... ({len(data)} {unit})"
        return text
    if isinstance(value, int) and value.bit_length() > 256:
        # repr() of a huge int is slow and past 4300 digits raises ValueError.
        return f"<{value.bit_length()}-bit integer>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class NetkitError(Exception):
    """Root of every error netkit raises on purpose."""


class AddressError(NetkitError, ValueError):
    """A malformed IP address, endpoint, hostname or port.

    Raised by the parsers in :mod:`netkit.addr` and by any call that takes an address.
    """


class LookupFailed(NetkitError, OSError):
    """A name, service or reverse lookup found nothing (or the resolver failed)."""


class ConnectFailed(NetkitError, ConnectionError):
    """Every address tried for a connection failed.

    Args:
        message: the error message.
        attempts: ``(Endpoint, error)`` pairs, one per address tried.

    Attributes:
        attempts: ``(Endpoint, error)`` pairs, one per address tried, in the order the
            attempts were started.
    """

    def __init__(
        self, message: str, attempts: Sequence[tuple[Endpoint, BaseException]] = ()
    ) -> None:
        super().__init__(message)
        self.attempts: list[tuple[Endpoint, BaseException]] = list(attempts)


class ConnectionClosed(NetkitError, ConnectionError):
    """The peer closed the connection before the operation could complete.

    Args:
        message: the error message.
        partial: the bytes received for this operation before the end of the stream.

    Attributes:
        partial: the bytes that were received for this operation before the end of the
            stream (they are consumed: the stream is over).
    """

    def __init__(self, message: str = "connection closed by peer", partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial: bytes = partial


class NetkitTimeout(NetkitError, TimeoutError):
    """An operation's deadline passed before it completed.

    For stream reads, the bytes already received stay in the connection's buffer, so the
    same call can be retried without losing data.
    """


class FrameTooLarge(NetkitError, ValueError):
    """A message, line, frame or datagram is over its size limit.

    Args:
        message: the error message.
        limit: the limit that was exceeded, when known.
        size: the size seen, when known.

    Attributes:
        limit: the limit that was exceeded, or None when not known.
        size: the size seen (or the smallest size known to be exceeded), or None when
            not known.
    """

    def __init__(self, message: str, *, limit: int | None = None, size: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.size = size


class ConnectionRefused(NetkitError, ConnectionRefusedError):
    """The peer refused the datagram: an ICMP port-unreachable came back.

    Raised by a connected :class:`netkit.UdpEndpoint` on the call after the refused
    send (the kernel reports the ICMP error on the socket's next operation), instead of
    the error being silently lost.

    A :class:`netkit.UnixDatagramEndpoint` raises it when nothing receives at the path
    it sends to (``errno`` ``ENOENT``: no file; ``ECONNREFUSED``: a stale file), or when
    its connected peer is gone.
    """


class ProxyProtocolError(NetkitError, ValueError):
    """A PROXY protocol header (HAProxy's v1 or v2) is malformed, too long or missing.

    Raised by :class:`netkit.proxy.ProxyHeaderReader`; a server that expects the header
    closes the connection (the bytes are never handed to a handler).
    """


class PingNotPermitted(NetkitError, PermissionError):
    """This process may open neither kind of ICMP socket that ping needs.

    An ICMP datagram socket needs the process's group inside the range of the Linux
    sysctl ``net.ipv4.ping_group_range``; a raw socket needs ``CAP_NET_RAW`` (root).
    The message names the sysctl and the command that allows the group. ``errno`` is
    ``EPERM``.
    """
