"""ICMP echo, as ``ping(8)`` does it: :func:`ping` returns a :class:`PingReport`.

netkit opens the socket the kernel allows: an unprivileged ICMP datagram socket where
the sysctl ``net.ipv4.ping_group_range`` includes the process's group, else a raw
socket (``SOCK_RAW``, which needs ``CAP_NET_RAW``); where neither is allowed,
:class:`~netkit.errors.PingNotPermitted` (a ``PermissionError``) names the sysctl.
The asyncio twin is :func:`netkit.aio.ping`, with the same arguments and errors.
"""

from __future__ import annotations

import math
import select
import socket
import time
from collections.abc import Callable

from netkit._core import icmp as core
from netkit._core.icmp import DEFAULT_INTERVAL, PingReply, PingReport
from netkit._sockets import icmp as setup

__all__ = ["PingReply", "PingReport", "ping"]


def ping(
    host: str,
    *,
    count: int = 1,
    timeout: float = 1.0,
    interval: float = DEFAULT_INTERVAL,
    size: int = 56,
    family: int = socket.AF_UNSPEC,
    on_reply: Callable[[PingReply], object] | None = None,
) -> PingReport:
    """Send *count* ICMP echo requests to *host* and report the replies.

    Request *n* is sent ``(n - 1) * interval`` seconds after the first and counts as
    answered if its reply arrives within *timeout* seconds of it, so the call takes at
    most ``(count - 1) * interval + timeout`` seconds, and returns as soon as every
    request is answered. A reply that does not match a request (identifier, sequence
    number and payload), a duplicate or a late one is not counted.

    Parameters:
        host: an IPv4 or IPv6 address, or a name (asked of the resolver hook,
            :func:`netkit.lookup.get_resolver`; the first address is pinged).
        count: echo requests to send, 1 to 65535.
        timeout: seconds to wait for each reply (> 0).
        interval: seconds between requests; 1.0 as in ``ping(8)``; at least 0.002.
        size: payload bytes per request (``ping -s``); 56 gives 64-byte ICMP messages.
        family: ``AF_UNSPEC`` (any), ``AF_INET`` or ``AF_INET6`` (``ping -4``/``-6``).
        on_reply: called with each :class:`PingReply` as it arrives (for printing).

    Returns:
        ``PingReport(address, sent, received, rtts)``; ``rtts`` in seconds.

    Raises:
        PingNotPermitted: this process may open neither an ICMP datagram socket nor a
            raw one (a ``PermissionError``; the message names the sysctl to change).
        LookupFailed: *host* is a name that does not resolve.
        AddressError: *host* is not a host at all, or is a literal of the other *family*.
        OSError: the request could not be sent (no route to *host*, say).
        TypeError: an argument of the wrong type (checked before any lookup).
        ValueError: an argument out of range (checked before any lookup).
    """
    args = core.check_args(count, timeout, interval, size, family)
    target = setup.resolve_target(host, args.family)
    core.check_size_for(args.size, target.family, target.address)
    opened = setup.open_socket(target.family)
    with opened.sock as sock:
        session = setup.new_session(args, target, opened)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        while True:
            if setup.send_due(sock, session, target):
                continue
            wake = session.wake_at(time.monotonic())
            if wake is None:
                return session.report()
            remaining = wake - time.monotonic()
            # poll() takes whole milliseconds: round up, never wake just before the
            # instant and spin.
            if remaining > 0 and not poller.poll(math.ceil(remaining * 1000)):
                continue
            for reply in setup.drain(sock, session):
                if on_reply is not None:
                    on_reply(reply)
