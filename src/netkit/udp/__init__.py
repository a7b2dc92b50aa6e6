"""UDP endpoints: unicast, connected, broadcast and multicast datagrams over IPv4/IPv6.

:class:`UdpEndpoint` wraps one ``SOCK_DGRAM`` socket. Its rules (the same in
:class:`netkit.aio.UdpEndpoint`):

- **Sizes.** A payload over what the family can carry (65507 bytes on IPv4, 65527 on
  IPv6, 65507 to an IPv4-mapped address) raises :class:`~netkit.errors.FrameTooLarge`
  before any system call. A received datagram over ``max_size`` raises ``FrameTooLarge``
  with its real size: it is never silently cut. The oversized datagram is consumed
  (dropped): leaving it queued would make every later read with the same limit fail on
  it, and the datagrams behind it stay queued for the next call.
- **Deadlines.** ``timeout=`` is a deadline for the whole call (``time.monotonic``):
  the call returns or raises :class:`~netkit.errors.NetkitTimeout` within it.
- **Connected endpoints** (:meth:`UdpEndpoint.connect`) report an ICMP port
  unreachable as :class:`~netkit.errors.ConnectionRefused` on the next call.
- **Errors** are netkit's: bad targets raise ``AddressError`` (``TypeError`` for wrong
  types), unresolvable names ``LookupFailed``, use after ``close()``
  ``ConnectionClosed``. Other kernel errors (``EACCES`` for a broadcast without
  ``SocketOptions(broadcast=True)``, ``ENETUNREACH``...) propagate as ``OSError``.
"""

from __future__ import annotations

from netkit._core.datagram import (
    DEFAULT_MAX_SIZE,
    MAX_PAYLOAD_IPV4,
    MAX_PAYLOAD_IPV6,
    SAFE_PAYLOAD,
    Datagram,
    Target,
)
from netkit.udp.endpoint import UdpEndpoint

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_PAYLOAD_IPV4",
    "MAX_PAYLOAD_IPV6",
    "SAFE_PAYLOAD",
    "Datagram",
    "Target",
    "UdpEndpoint",
]
