"""ICMP socket set-up and the echo sends and receives that never wait, for both faces.

:func:`netkit.icmp.ping` and :func:`netkit.aio.ping` resolve with :func:`resolve_target`,
open with :func:`open_socket`, then loop: :func:`send_due` when the session says a
request is due, wait until the socket is readable or the session's next instant
(``poll`` or the event loop: the only part that differs), and :func:`drain`. The
decisions (packets, matching, errors) are :mod:`netkit._core.icmp`'s.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import time
from typing import Any, NamedTuple

from netkit._core import icmp as core
from netkit._core.datagram import RECV_FLAGS
from netkit.lookup import resolve

__all__ = ["Opened", "Target", "drain", "open_socket", "resolve_target", "send_due"]

_PROTOCOL: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}
_ANY: dict[int, tuple[str, int]] = {socket.AF_INET: ("0.0.0.0", 0), socket.AF_INET6: ("::", 0)}
_GROUP_RANGE_FILE = "/proc/sys/net/ipv4/ping_group_range"
# Unrelated ICMP traffic (on a raw socket, every ICMP packet of the host) must not keep
# a drain going forever: after this many packets in one go, wait again.
_DRAIN_MAX = 256


class Target(NamedTuple):
    """Where to ping: the family, the sockaddr to send to, the address as text."""

    family: int
    sockaddr: tuple[Any, ...]
    address: str


class Opened(NamedTuple):
    """An open, non-blocking ICMP socket, whether it is raw, and its identifier."""

    sock: socket.socket
    raw: bool
    identifier: int


def resolve_target(host: str, family: int) -> Target:
    """The address to ping for *host*: an IP literal as it is, a name through the
    resolver hook (:func:`netkit.lookup.resolve`), the first answer of *family*.

    Raises:
        LookupFailed: the name does not resolve.
        AddressError: *host* cannot be a host, or is a literal of the other family.
        TypeError: *host* is not a str.
    """
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if core.literal_family(host, family) is not None:
        # Checked against *family* already; parsed as it is (an IPv4-mapped IPv6
        # literal becomes IPv4 in core.target, which getaddrinfo(AF_INET) would refuse).
        family = socket.AF_UNSPEC
    answers = resolve(host, family=family, type=socket.SOCK_DGRAM)
    first = answers[0]
    return Target(*core.target(first.family, first.sockaddr))


def _group_range() -> str | None:
    try:
        with open(_GROUP_RANGE_FILE, encoding="ascii") as file:
            return " ".join(file.read().split())
    except (OSError, ValueError):
        return None


def _open(family: int, kind: int) -> socket.socket:
    sock = socket.socket(family, kind, _PROTOCOL[family])
    try:
        sock.setblocking(False)
        if kind == socket.SOCK_DGRAM:
            # Binding gives the socket its port now: the identifier the kernel writes
            # into every request and matches replies by.
            sock.bind(_ANY[family])
    except BaseException:
        sock.close()
        raise
    return sock


def open_socket(family: int) -> Opened:
    """Open an ICMP socket of *family*: a datagram ("ping") socket where the sysctl
    ``net.ipv4.ping_group_range`` allows the process's group, else a raw one (which
    needs ``CAP_NET_RAW``).

    Raises:
        PingNotPermitted: neither kind may be opened.
        OSError: the host has no ICMP socket of *family* (IPv6 disabled, say).
    """
    try:
        sock = _open(family, socket.SOCK_DGRAM)
    except OSError as exc:
        # EACCES: the group is outside the sysctl's range; EPROTONOSUPPORT: a kernel
        # without ping sockets. A raw socket may still be allowed.
        first: OSError = exc
    else:
        return Opened(sock, False, sock.getsockname()[1])
    try:
        sock = _open(family, socket.SOCK_RAW)
    except PermissionError:
        getgid = getattr(os, "getgid", None)
        raise core.not_permitted(getgid() if getgid else 0, _group_range()) from first
    except OSError as exc:
        raise core.unsupported_family(family, exc) from exc
    # A raw socket's identifier is ours to choose: random, so that concurrent pings (in
    # this process or another) are told apart; payloads carry a random token too.
    return Opened(sock, True, random.getrandbits(16))


def new_session(args: core.PingArgs, target: Target, opened: Opened) -> core.PingSession:
    """The session of a ping to *target* over *opened*, starting now."""
    return core.PingSession(
        args,
        family=target.family,
        address=target.address,
        raw=opened.raw,
        identifier=opened.identifier,
        token=random.getrandbits(64).to_bytes(8, "big"),
        start=time.monotonic(),
    )


def send_due(sock: socket.socket, session: core.PingSession, target: Target) -> bool:
    """Send the request that is due, if one is; return whether one was.

    A request the kernel refuses for want of buffer space counts as sent (and lost),
    as it would be on the wire; any other failure raises.
    """
    sequence = session.due(time.monotonic())
    if sequence is None:
        return False
    packet = session.request(sequence)
    try:
        sock.sendto(packet, target.sockaddr)
    except (BlockingIOError, InterruptedError):
        pass
    except OSError as exc:
        if exc.errno != errno.ENOBUFS:
            raise core.send_failed(target.address, exc) from exc
    session.sent(sequence, time.monotonic())
    return True


def drain(sock: socket.socket, session: core.PingSession) -> list[core.PingReply]:
    """Read every packet waiting on *sock* (never waits); return the replies that count."""
    replies: list[core.PingReply] = []
    size = session.buffer_size
    for _ in range(_DRAIN_MAX):
        try:
            packet, addr = sock.recvfrom(size, RECV_FLAGS)
        except (BlockingIOError, InterruptedError):
            break
        except OSError as exc:
            if core.is_lost_reply(exc):
                continue  # an ICMP error for one of our requests: that one is lost
            raise
        reply = session.received(packet, str(addr[0]), time.monotonic())
        if reply is not None:
            replies.append(reply)
    return replies
