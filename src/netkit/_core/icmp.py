"""ICMP echo (ping) rules: arguments, packets, matching, the schedule, the report.

Both :func:`netkit.icmp.ping` and :func:`netkit.aio.ping` drive one
:class:`PingSession`, so the same input gives the same report, exception type and
message in both faces; they only wait (``poll``, or the event loop) and pass the clock
in. Nothing here makes a system call: opening the socket (datagram or raw) and the
sends and receives that never wait live in :mod:`netkit._sockets.icmp`.

What differs between the four kinds of ICMP socket is decided here too:

=================  ===============================  ==================================
socket             what a receive gives             identifier
=================  ===============================  ==================================
IPv4 ``SOCK_RAW``  the IPv4 header, then ICMP       ours (random); every ICMP packet
                                                    of the host arrives, ours included
IPv4 ``SOCK_DGRAM``  ICMP only                      the kernel's: the socket's port
IPv6 either        ICMPv6 only                      ours (raw), the port (datagram)
=================  ===============================  ==================================

On a datagram ICMP socket ("ping socket") the kernel rewrites the identifier of each
echo request to the socket's local port and delivers only the replies carrying it, so
the identifier to match is the port ``getsockname()`` reports after ``bind``.
"""

from __future__ import annotations

import errno
import math
import socket
from typing import Any, Final, NamedTuple

from netkit._core.checks import check_size
from netkit.addr import ip_version, is_ip, normalize_ip
from netkit.errors import AddressError, PingNotPermitted, describe

__all__ = [
    "DEFAULT_INTERVAL",
    "HEADER_SIZE",
    "MAX_COUNT",
    "MIN_INTERVAL",
    "SYSCTL",
    "PingArgs",
    "PingReply",
    "PingReport",
    "PingSession",
    "check_args",
    "check_size_for",
    "checksum",
    "echo_request",
    "is_lost_reply",
    "literal_family",
    "make_payload",
    "max_payload",
    "not_permitted",
    "parse_echo_reply",
    "receive_size",
    "send_failed",
    "target",
    "unsupported_family",
]

#: The sysctl that lets groups of unprivileged processes open ICMP datagram sockets.
SYSCTL: Final = "net.ipv4.ping_group_range"
#: The size of an ICMP (and ICMPv6) echo header: type, code, checksum, id, sequence.
HEADER_SIZE: Final = 8
#: Sequence numbers are 16 bits and every request of a call needs its own.
MAX_COUNT: Final = 65535
#: ping(8)'s default pause between requests, in seconds.
DEFAULT_INTERVAL: Final = 1.0
#: The shortest pause between requests: ping(8) keeps anything shorter for its
#: superuser flood mode; netkit refuses it for everyone (a library must not flood).
MIN_INTERVAL: Final = 0.002
#: Largest payload: 65535 less the IPv4 (20) and ICMP (8) headers; over IPv6 the
#: payload length does not count the 40-byte fixed header, so only ICMPv6's 8.
_MAX_PAYLOAD: dict[int, int] = {socket.AF_INET: 65507, socket.AF_INET6: 65527}
_MAX_IPV4_HEADER: Final = 60
_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_IPPROTO_ICMP: Final = 1
# Errors a datagram ICMP socket reports on a receive for an ICMP error that came back
# (destination or port unreachable, time exceeded...): a request that got no echo
# reply, so a lost one, not a failure of the call (ping(8) carries on too).
_LOST_ERRNOS = frozenset(
    {
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ECONNREFUSED,
        errno.EHOSTDOWN,
        errno.EPROTO,
        errno.EMSGSIZE,
        errno.ETIMEDOUT,
        errno.EACCES,
    }
)


class PingReply(NamedTuple):
    """One echo reply, as ``ping(8)`` prints it: ``SIZE bytes from ADDRESS:
    icmp_seq=SEQUENCE time=RTT``.

    Attributes:
        address: the address that answered (the one pinged).
        sequence: the request's sequence number (1 for the first request, as ping(8)
            counts).
        size: bytes of the ICMP message received: the 8-byte header plus the payload.
        rtt: round-trip time in seconds.
    """

    address: str
    sequence: int
    size: int
    rtt: float


class PingReport(NamedTuple):
    """The outcome of a ping: what was sent, what came back and how fast.

    A reply that came after its request's ``timeout``, a duplicate, or one that does
    not match a request (identifier, sequence, payload) is not counted.

    Attributes:
        address: the IP address pinged (a name is resolved first).
        sent: echo requests sent.
        received: distinct requests answered in time.
        rtts: the round-trip time (seconds) of each answered request, in sequence
            order.
    """

    address: str
    sent: int
    received: int
    rtts: tuple[float, ...]

    @property
    def loss(self) -> float:
        """Fraction of requests not answered, 0.0 to 1.0 (0.0 when none was sent)."""
        return 0.0 if not self.sent else (self.sent - self.received) / self.sent

    @property
    def rtt_min(self) -> float | None:
        """Fastest round trip in seconds, or ``None`` without replies."""
        return min(self.rtts) if self.rtts else None

    @property
    def rtt_avg(self) -> float | None:
        """Mean round trip in seconds, or ``None`` without replies."""
        return sum(self.rtts) / len(self.rtts) if self.rtts else None

    @property
    def rtt_max(self) -> float | None:
        """Slowest round trip in seconds, or ``None`` without replies."""
        return max(self.rtts) if self.rtts else None


PingReply.__module__ = "netkit.icmp"  # where users import them from (and docs point)
PingReport.__module__ = "netkit.icmp"


class PingArgs(NamedTuple):
    """The checked arguments of a ping."""

    requests: int
    timeout: float
    interval: float
    size: int
    family: int


def _seconds(name: str, value: object, low: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, not {describe(value)}")
    if math.isnan(value) or math.isinf(value) or value < low:
        raise ValueError(f"{name} must be a finite number of seconds >= {low:g}, not {value!r}")
    return float(value)


def check_args(
    count: object, timeout: object, interval: object, size: object, family: object
) -> PingArgs:
    """Check a ping's arguments (before any lookup); TypeError or ValueError."""
    number = check_size("count", count, 1)
    if number > MAX_COUNT:
        raise ValueError(f"count must be <= {MAX_COUNT} (16-bit sequence numbers), not {number}")
    seconds = _seconds("timeout", timeout, 0.0)
    if seconds == 0:
        raise ValueError("timeout must be > 0 seconds, not 0")
    pause = _seconds("interval", interval, MIN_INTERVAL)
    payload = check_size("size", size)
    if payload > _MAX_PAYLOAD[socket.AF_INET6]:
        raise ValueError(f"size must be <= {_MAX_PAYLOAD[socket.AF_INET6]} bytes, not {payload}")
    if family not in (socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6):
        raise ValueError(f"family must be AF_UNSPEC, AF_INET or AF_INET6, not {describe(family)}")
    return PingArgs(number, seconds, pause, payload, int(family))  # type: ignore[call-overload]


def max_payload(family: int) -> int:
    """The largest echo payload over *family*."""
    return _MAX_PAYLOAD[family]


def check_size_for(size: int, family: int, address: str) -> None:
    """Refuse a payload too large for the family the target turned out to have."""
    limit = _MAX_PAYLOAD[family]
    if size > limit:
        raise ValueError(f"size must be <= {limit} bytes to ping IPv4 {address}, not {size}")


def literal_family(host: str, family: int) -> int | None:
    """The family to ping the IP literal *host* with (None: *host* is a name).

    An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is pinged over IPv4, as ICMPv6
    cannot reach it. Raises AddressError when *family* excludes the literal's.
    """
    if not is_ip(host, allow_zone=True):
        return None
    found = socket.AF_INET if ip_version(host.split("%", 1)[0]) == 4 else socket.AF_INET6
    if found == socket.AF_INET6 and _mapped_v4(host) is not None:
        found = socket.AF_INET
    if family not in (socket.AF_UNSPEC, found):
        wanted = "IPv4" if family == socket.AF_INET else "IPv6"
        raise AddressError(
            f"cannot ping {describe(host)} over {wanted}: it is not an {wanted} address"
        )
    return found


def _mapped_v4(host: str) -> str | None:
    text = normalize_ip(host.split("%", 1)[0])
    if text.startswith("::ffff:") and "." in text:
        return text[7:]
    return None


def target(family: int, sockaddr: tuple[Any, ...]) -> tuple[int, tuple[Any, ...], str]:
    """``(family, sockaddr, address text)`` to send to; an IPv4-mapped IPv6 address
    becomes IPv4 (its echo goes over ICMP, not ICMPv6)."""
    host = str(sockaddr[0])
    if family == socket.AF_INET6:
        mapped = _mapped_v4(host)
        if mapped is not None:
            return socket.AF_INET, (mapped, 0), mapped
        return family, (host, 0, sockaddr[2], sockaddr[3]), host
    return family, (host, 0), host


# -- packets ---------------------------------------------------------------------------


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The Internet checksum (RFC 1071) of *data*: the ones' complement of the ones'
    complement sum of its 16-bit big-endian words (an odd last byte padded with 0)."""
    view = bytes(data)
    if len(view) % 2:
        view += b"\0"
    # 2**16 is 1 modulo 0xFFFF, so the ones' complement sum of the words is the whole
    # big-endian number modulo 0xFFFF (one C-speed operation, no loop over words), except
    # that a nonzero sum the modulo makes 0 is 0xFFFF in ones' complement ("-0").
    total = int.from_bytes(view, "big") % 0xFFFF
    if total == 0 and view.count(0) != len(view):
        total = 0xFFFF
    return ~total & 0xFFFF


def make_payload(size: int, token: bytes) -> bytes:
    """An echo payload of *size* bytes: *token* (a per-call random value, which makes a
    stray reply with the same identifier and sequence fail to match) then a counting
    pattern, as ping(8) fills its data."""
    head = token[:size]
    return head + bytes((0x10 + i) & 0xFF for i in range(size - len(head)))


def echo_request(family: int, identifier: int, sequence: int, payload: bytes) -> bytes:
    """An ICMP (or ICMPv6) echo request.

    The IPv4 checksum is computed here (a raw socket sends it as it is). ICMPv6's covers
    a pseudo-header with the source address, which only the kernel knows: it is left 0
    and Linux fills it in, on raw and datagram ICMPv6 sockets alike (RFC 3542, 3.1).
    """
    header = bytes((_REQUEST[family], 0, 0, 0)) + identifier.to_bytes(2, "big")
    packet = header + sequence.to_bytes(2, "big") + payload
    if family == socket.AF_INET:
        value = checksum(packet)
        packet = packet[:2] + value.to_bytes(2, "big") + packet[4:]
    return packet


def parse_echo_reply(packet: bytes, family: int, raw: bool) -> tuple[int, int, bytes] | None:
    """``(identifier, sequence, payload)`` of an echo reply, or None for anything else.

    A raw IPv4 socket receives the IPv4 header first (its length is in the header), and
    every ICMP packet of the host, so the checksum is verified here; the other kinds
    receive the ICMP message alone, checked by the kernel.
    """
    if family == socket.AF_INET and raw:
        if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != _IPPROTO_ICMP:
            return None
        length = (packet[0] & 0x0F) * 4
        if length < 20 or len(packet) < length + HEADER_SIZE:
            return None
        packet = packet[length:]
        if checksum(packet) != 0:  # a correct checksum sums to all ones
            return None
    if len(packet) < HEADER_SIZE or packet[0] != _REPLY[family] or packet[1] != 0:
        return None
    identifier = int.from_bytes(packet[4:6], "big")
    sequence = int.from_bytes(packet[6:8], "big")
    return identifier, sequence, packet[HEADER_SIZE:]


def receive_size(size: int) -> int:
    """The receive buffer for replies with a *size*-byte payload: room for the largest
    IPv4 header and one byte more, so that a longer packet shows (it cannot match)."""
    return _MAX_IPV4_HEADER + HEADER_SIZE + size + 1


# -- errors ----------------------------------------------------------------------------


def not_permitted(gid: int, group_range: str | None) -> PingNotPermitted:
    """Neither an ICMP datagram socket nor a raw socket may be opened."""
    now = f"it is {group_range!r}" if group_range else "it could not be read"
    error = PingNotPermitted(
        f"ping needs an ICMP socket and this process may open neither kind: an ICMP "
        f"datagram socket needs the process's group ({gid}) inside the sysctl {SYSCTL} "
        f"({now}), a raw socket needs CAP_NET_RAW. Allow the group with "
        f'\'sysctl -w {SYSCTL}="{gid} {gid}"\' ("0 2147483647" allows every group; '
        f"set it in /etc/sysctl.d to keep it), or run with CAP_NET_RAW"
    )
    error.errno = errno.EPERM
    return error


def unsupported_family(family: int, exc: OSError) -> OSError:
    """The host cannot open any ICMP socket of *family* (IPv6 disabled, say)."""
    name = "ICMPv6" if family == socket.AF_INET6 else "ICMP"
    return OSError(exc.errno, f"cannot open an {name} socket: {exc.strerror or exc}")


def send_failed(address: str, exc: OSError) -> OSError:
    """An echo request could not be sent (no route, say): the errno, naming *address*."""
    return OSError(exc.errno, f"cannot send an echo request to {address}: {exc.strerror or exc}")


def is_lost_reply(exc: OSError) -> bool:
    """Whether a receive error reports an ICMP error for a request (a lost reply)."""
    return exc.errno in _LOST_ERRNOS


# -- the session -----------------------------------------------------------------------


class PingSession:
    """One ping's state: when each request is due, which replies count, the report.

    Request *n* (1-based) is due ``(n - 1) * interval`` seconds after *start*, and is
    answered in time if its reply arrives within ``timeout`` seconds of its sending. The
    call is over once every request is sent and each is answered or past its
    ``timeout``: at most ``(count - 1) * interval + timeout`` seconds.
    """

    __slots__ = (
        "_answered",
        "_args",
        "_deadlines",
        "_next",
        "_payload",
        "_start",
        "address",
        "family",
        "identifier",
        "raw",
    )

    def __init__(
        self,
        args: PingArgs,
        *,
        family: int,
        address: str,
        raw: bool,
        identifier: int,
        token: bytes,
        start: float,
    ) -> None:
        self._args = args
        self.family = family
        self.address = address
        self.raw = raw
        self.identifier = identifier & 0xFFFF
        self._payload = make_payload(args.size, token)
        self._start = start
        self._next = 1
        # sequence -> (sent at, answer deadline); answered -> rtt.
        self._deadlines: dict[int, tuple[float, float]] = {}
        self._answered: dict[int, float] = {}

    @property
    def buffer_size(self) -> int:
        """The receive buffer a reply needs (see :func:`receive_size`)."""
        return receive_size(self._args.size)

    def due(self, now: float) -> int | None:
        """The sequence number to send now, or None if none is due."""
        if self._next > self._args.requests:
            return None
        if now < self._start + (self._next - 1) * self._args.interval:
            return None
        return self._next

    def request(self, sequence: int) -> bytes:
        """The echo request of *sequence*."""
        return echo_request(self.family, self.identifier, sequence, self._payload)

    def sent(self, sequence: int, now: float) -> None:
        """Record that *sequence* was sent (or dropped by a full send buffer) at *now*."""
        self._deadlines[sequence] = (now, now + self._args.timeout)
        self._next = sequence + 1

    def wake_at(self, now: float) -> float | None:
        """When to act next, if nothing arrives first; None once the call is over."""
        if self._next <= self._args.requests:
            return self._start + (self._next - 1) * self._args.interval
        waiting = [
            deadline
            for sequence, (_, deadline) in self._deadlines.items()
            if sequence not in self._answered and deadline > now
        ]
        return max(waiting) if waiting else None

    def received(self, packet: bytes, source: str, now: float) -> PingReply | None:
        """The reply *packet* from *source* stands for, or None if it does not count:
        not an echo reply, not ours, from elsewhere, late, or a duplicate."""
        parsed = parse_echo_reply(packet, self.family, self.raw)
        if parsed is None:
            return None
        identifier, sequence, payload = parsed
        if identifier != self.identifier or payload != self._payload:
            return None
        if source.split("%", 1)[0] != self.address.split("%", 1)[0]:
            return None
        times = self._deadlines.get(sequence)
        if times is None or sequence in self._answered or now > times[1]:
            return None
        rtt = max(now - times[0], 0.0)
        self._answered[sequence] = rtt
        return PingReply(self.address, sequence, HEADER_SIZE + len(payload), rtt)

    def report(self) -> PingReport:
        """The report of what was sent and answered so far."""
        rtts = tuple(self._answered[s] for s in sorted(self._answered))
        return PingReport(self.address, len(self._deadlines), len(rtts), rtts)
