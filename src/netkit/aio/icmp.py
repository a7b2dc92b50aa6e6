"""asyncio twin of :mod:`netkit.icmp`: ``await ping(host)`` returns a ``PingReport``.

The same session (:mod:`netkit._core.icmp`) and socket set-up
(:mod:`netkit._sockets.icmp`) as the sync face, so the same arguments give the same
report and errors; only the waiting is the event loop's (``loop.add_reader``, which
works on the default loop and on uvloop). A name is resolved in the loop's executor.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from netkit._core import icmp as core
from netkit._core.icmp import DEFAULT_INTERVAL, PingReply, PingReport
from netkit._sockets import icmp as setup
from netkit.addr import is_ip

__all__ = ["PingReply", "PingReport", "ping"]


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _readable(sock: socket.socket, delay: float) -> None:
    """Return when *sock* is readable or *delay* seconds have passed."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()
    loop.add_reader(fd, _wake, waiter)
    timer = loop.call_later(delay, _wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()
        loop.remove_reader(fd)


async def ping(
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

    The twin of :func:`netkit.icmp.ping`: same arguments, report and errors.
    Cancelling the call closes its socket.

    Parameters:
        host: an IPv4 or IPv6 address, or a name (asked of the resolver hook in the
            loop's executor; the first address is pinged).
        count: echo requests to send, 1 to 65535.
        timeout: seconds to wait for each reply (> 0).
        interval: seconds between requests; 1.0 as in ``ping(8)``; at least 0.002.
        size: payload bytes per request; 56 gives 64-byte ICMP messages.
        family: ``AF_UNSPEC`` (any), ``AF_INET`` or ``AF_INET6``.
        on_reply: called with each :class:`PingReply` as it arrives.

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
    if isinstance(host, str) and host and not is_ip(host, allow_zone=True):
        loop = asyncio.get_running_loop()
        target = await loop.run_in_executor(None, setup.resolve_target, host, args.family)
    else:
        target = setup.resolve_target(host, args.family)  # parsed, never looked up
    core.check_size_for(args.size, target.family, target.address)
    opened = setup.open_socket(target.family)
    with opened.sock as sock:
        session = setup.new_session(args, target, opened)
        while True:
            if setup.send_due(sock, session, target):
                continue
            wake = session.wake_at(time.monotonic())
            if wake is None:
                return session.report()
            remaining = wake - time.monotonic()
            if remaining > 0:
                await _readable(sock, remaining)
            for reply in setup.drain(sock, session):
                if on_reply is not None:
                    on_reply(reply)
