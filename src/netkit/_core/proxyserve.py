"""The PROXY protocol in servers: who must send a header, how it is read, what it changes.

Both faces' servers call in here for everything about ``proxy_protocol=``; they only
wait for bytes and for the deadline:

* :func:`tcp_proxy_policy` / :func:`unix_proxy_policy`: the constructors' argument
  checks and their messages, giving a :class:`ProxyPolicy` (or None when off);
* :meth:`ProxyPolicy.trusts`: whether an accepted peer must open with a header. Only
  those peers are parsed; any other peer's bytes are data. An IPv4-mapped IPv6 peer
  (a dual-stack ``"::"`` listener) matches the IPv4 networks;
* :class:`HeaderIntake`: one connection's header, read without consuming a byte of
  the stream after it. The face *peeks* (``MSG_PEEK``) at what has arrived and the
  intake says how many of those bytes to take off the socket: all of them while the
  header is incomplete (they can only be header bytes), and at the end exactly up to
  the header's last byte. The stream after the header stays in the kernel, so TLS can
  start on the same socket;
* :func:`proxied_addresses`: the local and remote addresses a header gives;
* :class:`ProxyRefusals`: how dropped connections are logged, at a bounded rate.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any, Final

from netkit._core.accept import LOG_INTERVAL
from netkit._core.checks import check_timeout
from netkit.addr import Endpoint
from netkit.errors import ProxyProtocolError, describe
from netkit.proxy import DEFAULT_MAX_SIZE, ProxyHeader, ProxyHeaderReader

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "HeaderIntake",
    "ProxyPolicy",
    "ProxyRefusals",
    "proxied_addresses",
    "tcp_proxy_policy",
    "unix_proxy_policy",
]

#: Seconds a trusted peer has to send its whole header (``proxy_header_timeout=``). A
#: proxy sends it as soon as it has connected, so it arrives within a round trip; the
#: bound is what a peer that never sends one can hold a connection slot for.
DEFAULT_HEADER_TIMEOUT: Final = 5.0

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED: Final = b"\0" * 10 + b"\xff\xff"  # the first 12 bytes of ::ffff:a.b.c.d


class _ClosedEarly(ProxyProtocolError):
    """The peer closed before sending a byte: a port probe or a TCP health check."""


class ProxyPolicy:
    """The checked ``proxy_protocol=`` of one server: which peers must send a header.

    *networks* are the trusted networks (TCP); *every_peer* trusts every connection
    (Unix sockets, whose peers have no IP address).
    """

    __slots__ = ("_masks4", "_masks6", "every_peer", "header_timeout", "v4", "v6")

    def __init__(
        self, networks: Iterable[_Network], *, every_peer: bool, header_timeout: float
    ) -> None:
        nets = tuple(networks)
        self.v4: tuple[ipaddress.IPv4Network, ...] = tuple(
            n for n in nets if isinstance(n, ipaddress.IPv4Network)
        )
        self.v6: tuple[ipaddress.IPv6Network, ...] = tuple(
            n for n in nets if isinstance(n, ipaddress.IPv6Network)
        )
        # (network, mask) as integers: matching a peer costs one inet_pton and a few
        # integer operations per network (ipaddress objects cost several microseconds)
        self._masks4: tuple[tuple[int, int], ...] = tuple(
            (int(n.network_address), int(n.netmask)) for n in self.v4
        )
        self._masks6: tuple[tuple[int, int], ...] = tuple(
            (int(n.network_address), int(n.netmask)) for n in self.v6
        )
        self.every_peer: bool = every_peer
        self.header_timeout: float = header_timeout

    def __repr__(self) -> str:
        if self.every_peer:
            return "<ProxyPolicy every peer>"
        return f"<ProxyPolicy {', '.join(str(n) for n in self.v4 + self.v6)}>"

    def trusts(self, peer: object) -> bool:
        """True when *peer* (a socket address from ``accept()``) must send a header."""
        if self.every_peer:
            return True
        if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
            return False
        host = peer[0].partition("%")[0]
        try:
            if ":" not in host:
                value = int.from_bytes(socket.inet_pton(socket.AF_INET, host), "big")
                return any(value & mask == net for net, mask in self._masks4)
            raw = socket.inet_pton(socket.AF_INET6, host)
        except (OSError, ValueError):
            return False
        value = int.from_bytes(raw, "big")
        if any(value & mask == net for net, mask in self._masks6):
            return True
        if raw[:12] != _MAPPED:
            return False
        value = int.from_bytes(raw[12:], "big")
        return any(value & mask == net for net, mask in self._masks4)


def _check_header_timeout(value: object) -> float:
    seconds = check_timeout("proxy_header_timeout", value)
    if seconds is None or seconds == 0:
        raise ValueError(f"proxy_header_timeout must be > 0 seconds, not {value!r}")
    return seconds


def tcp_proxy_policy(proxy_protocol: object, header_timeout: object) -> ProxyPolicy | None:
    """A TcpServer's ``proxy_protocol=`` and ``proxy_header_timeout=``, checked.

    *proxy_protocol* is None (off) or an iterable of trusted networks, each a ``str``
    (``"10.0.0.0/8"``, or an address for one host) or an ``ipaddress`` network. An
    empty iterable trusts no one: every connection is served as it is.

    Raises:
        TypeError: not an iterable of networks (a single ``str``, ``True``, a number).
        ValueError: a string that is not a network (host bits set, say), or a
            *header_timeout* that is not > 0.
    """
    seconds = _check_header_timeout(header_timeout)
    if proxy_protocol is None:
        return None
    if isinstance(proxy_protocol, bool):
        raise TypeError(
            f"proxy_protocol must be a list of trusted networks, not {proxy_protocol!r} "
            "(to trust every peer, give ['0.0.0.0/0', '::/0'])"
        )
    if isinstance(proxy_protocol, (str, bytes, bytearray)):
        raise TypeError(
            f"proxy_protocol must be a list of trusted networks, not a single "
            f"{type(proxy_protocol).__name__} (write [{describe(proxy_protocol)}])"
        )
    if not isinstance(proxy_protocol, Iterable):
        raise TypeError(
            "proxy_protocol must be a list of trusted networks or None, "
            f"not {type(proxy_protocol).__name__}"
        )
    networks: list[_Network] = []
    for item in proxy_protocol:
        if isinstance(item, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            networks.append(item)
            continue
        if not isinstance(item, str):
            raise TypeError(
                "proxy_protocol networks must be str or ipaddress networks, "
                f"not {type(item).__name__}"
            )
        try:
            networks.append(ipaddress.ip_network(item.strip()))
        except ValueError as exc:
            raise ValueError(f"proxy_protocol: {describe(item)} is not a network: {exc}") from None
    return ProxyPolicy(networks, every_peer=False, header_timeout=seconds)


def unix_proxy_policy(proxy_protocol: object, header_timeout: object) -> ProxyPolicy | None:
    """A UnixServer's ``proxy_protocol=`` (``True`` or ``False``), checked.

    A Unix peer has no IP address to match against networks; who may connect is decided
    by the socket file's permissions (``mode=``), so ``True`` trusts every peer: each
    must open with a header.

    Raises:
        TypeError: not a bool.
        ValueError: a *header_timeout* that is not > 0.
    """
    seconds = _check_header_timeout(header_timeout)
    if not isinstance(proxy_protocol, bool):
        raise TypeError(
            "a UnixServer's proxy_protocol is True or False (every peer of a Unix socket "
            "is trusted: the file's permissions decide who connects), "
            f"not {type(proxy_protocol).__name__}"
        )
    if not proxy_protocol:
        return None
    return ProxyPolicy((), every_peer=True, header_timeout=seconds)


class HeaderIntake:
    """The PROXY header of one connection, read by peeking: no stream byte is consumed.

    The face loops: peek at most :attr:`want` bytes (waiting for some to arrive, until
    the deadline), pass them to :meth:`peeked`, and receive the number of bytes it
    returns off the socket, until :attr:`header` is set. Those bytes are in the
    kernel already, so taking them never waits.
    """

    __slots__ = ("_reader", "_received", "header")

    def __init__(self) -> None:
        self._reader = ProxyHeaderReader()
        self._received = 0  # header bytes taken off the socket so far
        self.header: ProxyHeader | None = None

    @property
    def want(self) -> int:
        """How many bytes to peek at: no more than a header can still need."""
        return max(1, DEFAULT_MAX_SIZE - self._received)

    def peeked(self, data: bytes) -> int:
        """Bytes the peek returned (``b""``: the peer closed); how many to take now.

        Raises:
            ProxyProtocolError: the bytes cannot be a header, or the peer closed first.
        """
        if not data:
            if self._received == 0:
                raise _ClosedEarly("closed before sending a PROXY header")
            raise ProxyProtocolError(
                f"closed in the middle of its PROXY header ({self._received} bytes received)"
            )
        header = self._reader.feed(data)
        if header is None:
            self._received += len(data)
            return len(data)
        take = header.size - self._received
        self._received = header.size
        self.header = header
        return take

    def timed_out(self, seconds: float) -> ProxyProtocolError:
        """The error when the header is still not whole after *seconds*."""
        if self._received == 0:
            return ProxyProtocolError(f"no PROXY header within {seconds:g} s")
        return ProxyProtocolError(
            f"PROXY header incomplete after {seconds:g} s ({self._received} bytes received)"
        )


def proxied_addresses(
    header: ProxyHeader, *, unix: bool
) -> tuple[Endpoint, Endpoint] | tuple[str, str] | None:
    """The (local, remote) addresses a connection reports after *header*, or None.

    The header's destination and source replace the socket's own addresses when they
    are of the kind the connection reports: IP endpoints for TCP, paths for Unix. A
    ``LOCAL`` command (the proxy's own health check), ``UNKNOWN``/``UNSPEC``, or
    addresses of the other kind leave the socket's addresses; the connection's
    ``proxy_header`` has the whole header either way.
    """
    source, destination = header.source, header.destination
    if unix:
        if isinstance(source, str) and isinstance(destination, str):
            return destination, source
        return None
    if isinstance(source, Endpoint) and isinstance(destination, Endpoint):
        return destination, source
    return None


def adopt(conn: Any, peer: object, header: ProxyHeader | None, *, unix: bool) -> None:
    """Give a just-accepted *conn* the addresses its server knows for it.

    ``accept()`` already said who the peer is: a connection that keeps a converted peer
    address and has none yet (sync looks it up lazily, aio's transport found none because
    the peer had gone) takes that one, so a peer that resets at once, as a load
    balancer's health check does, still has a ``remote_address``. With a PROXY *header*,
    the connection gets the header, and its addresses win (:func:`proxied_addresses`).
    """
    take_peer = getattr(conn, "_adopt_peer", None)  # stream connections of both faces
    if take_peer is not None:
        take_peer(peer)
    if header is None:
        return
    conn._proxy_header = header
    addresses = proxied_addresses(header, unix=unix)
    if addresses is not None:
        conn._local, conn._remote = addresses


class ProxyRefusals:
    """How a server logs the connections it dropped for their header, at a bounded rate.

    A dropped connection is the proxy's (or the network's) fault, never the handler's:
    the first is logged at WARNING at once; more within :data:`LOG_INTERVAL` seconds are
    counted and collapse into the next line after the interval. A peer that closes
    without sending a byte (a health check, a port probe) and anything dropped while the
    server stops are logged at DEBUG and never counted. IO-free: the caller passes the
    time and does the logging.
    """

    __slots__ = ("_interval", "_last", "_logged_at", "_since", "_unlogged", "_where")

    def __init__(self, where: object, *, interval: float = LOG_INTERVAL) -> None:
        self._where = where
        self._interval = interval
        self._logged_at = -interval
        self._unlogged = 0
        self._since = 0.0
        self._last = ""

    def dropped(
        self, exc: ProxyProtocolError, peer: str, now: float, *, stopping: bool
    ) -> tuple[int, str] | None:
        """The level and line to log for a connection dropped with *exc*, if any."""
        line = f"netkit server {self._where}: dropped {peer}: {exc}"
        if stopping or isinstance(exc, _ClosedEarly):
            return logging.DEBUG, line
        if not self._unlogged:
            self._since = now
        self._unlogged += 1
        self._last = f"{peer}: {exc}"
        if now - self._logged_at < self._interval:
            return None
        if self._unlogged > 1:
            line = (
                f"netkit server {self._where}: dropped {self._unlogged} connections for their "
                f"PROXY header in {now - self._since:.1f} s, last {self._last}"
            )
        self._logged_at = now
        self._unlogged = 0
        return logging.WARNING, line
