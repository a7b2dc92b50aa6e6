"""Datagram rules: sizes, truncation, targets, senders, errors and their messages.

Both :class:`netkit.udp.UdpEndpoint` and :class:`netkit.aio.UdpEndpoint` call these, so
the same input gives the same result, exception type and message in both faces. Nothing
here makes a system call (resolving and socket set-up live in
:mod:`netkit._sockets.datagram`).
"""

from __future__ import annotations

import errno
import functools
import socket
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Generic, NamedTuple, TypeAlias

from netkit._core.checks import check_host, check_port, check_size
from netkit._core.sockaddr import endpoint as sockaddr_endpoint
from netkit.addr import Endpoint, is_ip, is_ipv4, is_ipv6, pack_ip, parse_endpoint
from netkit.errors import (
    AddressError,
    ConnectFailed,
    ConnectionClosed,
    ConnectionRefused,
    FrameTooLarge,
    LookupFailed,
    NetkitTimeout,
    describe,
)

__all__ = [
    "CACHE_MAX",
    "CLOSED_MESSAGE",
    "DEFAULT_BUFFER",
    "DEFAULT_MAX_SIZE",
    "MAX_PAYLOAD_IPV4",
    "MAX_PAYLOAD_IPV6",
    "RECV_EXTRA",
    "RECV_FLAGS",
    "SAFE_PAYLOAD",
    "SEND_RETRY_FIRST",
    "Datagram",
    "Target",
    "as_endpoint",
    "bind_failed",
    "buffer_for",
    "check_interface",
    "check_max_count",
    "check_max_size",
    "check_multicast_loop",
    "check_multicast_ttl",
    "check_socket",
    "closed",
    "connect_failed",
    "datagram_error",
    "host_endpoint",
    "is_hostname",
    "literal_sockaddr",
    "lookup_failed",
    "membership_failed",
    "multicast_group",
    "new_datagram",
    "next_send_retry",
    "no_address",
    "no_interface",
    "no_source_address",
    "payload_limit",
    "remember",
    "resolve_flags",
    "sender",
    "socket_limit",
    "timed_out",
    "too_large_to_send",
    "truncated",
    "truncated_into",
    "v6_group_on_v4",
    "writable_view",
]

#: Largest UDP payload over IPv4: 65535 minus the 20-byte IPv4 and 8-byte UDP headers.
MAX_PAYLOAD_IPV4: Final = 65507
#: Largest UDP payload over IPv6 without jumbograms: 65535 minus the 8-byte UDP header
#: (the IPv6 payload length does not count the 40-byte fixed header).
MAX_PAYLOAD_IPV6: Final = 65527
#: Largest payload that fits one Ethernet frame (MTU 1500) over IPv4 without
#: fragmentation: 1500 - 20 - 8. (IPv6: 1452, as its header is 40 bytes.)
SAFE_PAYLOAD: Final = 1472
#: Default ``max_size`` for receives: the largest datagram UDP can carry.
DEFAULT_MAX_SIZE: Final = 65535

#: Where a datagram goes: an Endpoint, a ``(host, port)`` tuple or ``"host:port"`` text.
Target: TypeAlias = Endpoint | tuple[str, int] | str

#: The message of every operation on an endpoint this process closed.
CLOSED_MESSAGE: Final = "UdpEndpoint is closed"

_AF4: Final = socket.AF_INET
_AF6: Final = socket.AF_INET6

# Linux's recv(..., MSG_TRUNC) returns the datagram's real length even when it was
# longer than the buffer (man 7 udp), so truncation is detected with no extra syscall.
# Elsewhere MSG_TRUNC is not an input flag: read one byte more than allowed instead, so
# an oversized datagram is still detected (its size is then a lower bound).
if sys.platform.startswith("linux"):
    RECV_FLAGS: Final = socket.MSG_TRUNC
    RECV_EXTRA: Final = 0
else:  # pragma: no cover - netkit is tested on Linux
    RECV_FLAGS: Final = 0
    RECV_EXTRA: Final = 1
#: The receive buffer size for the default ``max_size``.
DEFAULT_BUFFER: Final = DEFAULT_MAX_SIZE + RECV_EXTRA


def buffer_for(max_size: int) -> int:
    """The receive buffer for *max_size*: :data:`RECV_EXTRA` more, and never 0.

    ``sock.recv(0)`` returns ``b""`` without reading (CPython skips the system call):
    the datagram would stay queued and look empty, while a 1-byte buffer with
    ``MSG_TRUNC`` reports it as too large. (The fast paths inline ``... or 1``.)
    """
    return max_size + RECV_EXTRA or 1


#: Size of the per-endpoint caches (kernel address -> Endpoint, target -> sockaddr). A
#: full cache is cleared: lookups stay O(1) and memory bounded under a flood of senders.
CACHE_MAX: Final = 4096
_MAX_INTERFACE_NAME: Final = 15  # IFNAMSIZ - 1 on Linux

#: The first pause of a send that the kernel refuses (EAGAIN) although the socket polls
#: writable. That happens to an unconnected Unix datagram socket whose receiver's queue
#: is full (``net.unix.max_dgram_qlen``): Linux wakes a *blocked* sender when room
#: comes, but tells a poller nothing, so a send with a deadline (and every asyncio send)
#: retries at growing intervals (:func:`next_send_retry`) instead of spinning.
SEND_RETRY_FIRST: Final = 0.001
_SEND_RETRY_MAX: Final = 0.05


def next_send_retry(pause: float) -> float:
    """The pause after *pause* when a send is refused again: doubled, up to 50 ms."""
    return min(pause * 2, _SEND_RETRY_MAX)


if TYPE_CHECKING:
    # Generic for type checkers only (a generic NamedTuple needs Python 3.11 at run
    # time): ``Datagram[str]`` from a Unix endpoint, and a bare ``Datagram`` still means
    # ``Datagram[Endpoint]``, so code written for UDP keeps its precise types.
    from typing_extensions import TypeVar

    _Sender = TypeVar("_Sender", default=Endpoint)

    class Datagram(NamedTuple, Generic[_Sender]):
        """One received datagram: its payload and who sent it.

        A tuple, so ``data, sender = endpoint.recvfrom()`` works, and a list of
        datagrams can be given straight back to :meth:`netkit.UdpEndpoint.send_many`
        to echo it. Annotate ``Datagram[str]`` for a Unix datagram endpoint's (a bare
        ``Datagram`` is ``Datagram[Endpoint]``).

        Attributes:
            data: the payload.
            sender: an :class:`~netkit.Endpoint` for UDP; the sender's path (``str``,
                ``""`` when unnamed) for a Unix datagram endpoint.
        """

        data: bytes
        sender: _Sender

else:

    class Datagram(NamedTuple):
        """One received datagram: its payload and who sent it.

        A tuple, so ``data, sender = endpoint.recvfrom()`` works, and a list of
        datagrams can be given straight back to :meth:`netkit.UdpEndpoint.send_many`
        to echo it. Annotate ``Datagram[str]`` for a Unix datagram endpoint's (a bare
        ``Datagram`` is ``Datagram[Endpoint]``).

        Attributes:
            data: the payload.
            sender: an :class:`~netkit.Endpoint` for UDP; the sender's path (``str``,
                ``""`` when unnamed) for a Unix datagram endpoint.
        """

        data: bytes
        sender: Endpoint | str

        # ``Datagram[str]`` in an annotation evaluated at run time.
        __class_getitem__ = classmethod(types.GenericAlias)


Datagram.__module__ = "netkit.udp"  # where users import it from (and docs point)

#: ``Datagram((data, sender))`` without NamedTuple's Python-level ``__new__``: per
#: datagram that is the largest cost of a receive, and a C-level partial halves it.
new_datagram: Callable[[tuple[bytes, Any]], Datagram[Any]] = functools.partial(
    tuple.__new__, Datagram
)


# -- errors ------------------------------------------------------------------------------


def closed() -> ConnectionClosed:
    """The error for any operation on an endpoint after our own ``close()``."""
    return ConnectionClosed(CLOSED_MESSAGE)


def timed_out(timeout: float | None, *, sending: bool = False) -> NetkitTimeout:
    """The error for a receive (or, with *sending*, a send) whose *timeout* passed."""
    verb = "sent" if sending else "received"
    within = "in time" if timeout is None else f"within {timeout:g} s"
    return NetkitTimeout(f"no datagram {verb} {within}")


def datagram_error(exc: OSError, *, is_closed: bool, peer: Endpoint | None) -> BaseException:
    """What a failed socket call on a UDP endpoint raises instead (or *exc* itself).

    * after ``close()``, or ``EBADF``: ``ConnectionClosed`` (:data:`CLOSED_MESSAGE`);
    * ``ECONNREFUSED`` (an ICMP port unreachable on a connected endpoint):
      ``ConnectionRefused`` naming the peer, with *exc* as its cause;
    * ``EDESTADDRREQ`` (``send`` on an unconnected endpoint): ``AddressError``;
    * anything else (``EACCES`` for a broadcast, ``ENETUNREACH``...): *exc*.
    """
    if is_closed or exc.errno == errno.EBADF:
        return closed()
    if isinstance(exc, ConnectionRefusedError) and not isinstance(exc, ConnectionRefused):
        who = peer if peer is not None else "the peer"
        error = ConnectionRefused(exc.errno, f"{who} refused a datagram (ICMP port unreachable)")
        error.__cause__ = exc
        return error
    if exc.errno == errno.EDESTADDRREQ:
        error2 = AddressError("send() needs a connected endpoint; use sendto()")
        error2.__cause__ = exc
        return error2
    return exc


def lookup_failed(host: str, exc: BaseException) -> LookupFailed:
    """The error for a target or local name the resolver could not resolve."""
    return LookupFailed(f"cannot resolve {describe(host)}: {exc}")


def no_address(host: str) -> LookupFailed:
    """The error for a name that resolved to neither IPv4 nor IPv6 addresses."""
    return LookupFailed(f"no IPv4 or IPv6 address for {describe(host)}")


def bind_failed(endpoint: Endpoint, exc: OSError) -> OSError:
    """``bind`` failed: the same OSError (errno kept), naming the address."""
    return OSError(exc.errno, f"cannot bind UDP to {endpoint}: {exc.strerror}")


def connect_failed(
    endpoint: Endpoint, attempts: list[tuple[Endpoint, BaseException]]
) -> ConnectFailed:
    """Every address of *endpoint* failed to connect: one error listing each attempt."""
    tried = "; ".join(f"{addr}: {exc}" for addr, exc in attempts)
    return ConnectFailed(f"cannot connect UDP to {endpoint}: {tried}", attempts)


def no_source_address(source: Endpoint, family: int) -> AddressError:
    """*source* has no address of the family the peer needs."""
    return AddressError(f"source {source} has no {socket.AddressFamily(family).name} address")


# -- sizes -------------------------------------------------------------------------------


def check_max_size(value: object) -> int:
    """A receive's ``max_size``: an int >= 0, clamped to :data:`DEFAULT_MAX_SIZE`."""
    size = check_size("max_size", value)
    # No UDP datagram is bigger than 65535 bytes: a larger limit would only make every
    # receive allocate a bigger buffer.
    return min(size, DEFAULT_MAX_SIZE)


def check_max_count(value: object) -> int:
    """``recv_many``'s ``max_count``: an int >= 1."""
    return check_size("max_count", value, 1)


def payload_limit(family: int, host: str) -> int:
    """The largest payload a socket of *family* can send to the numeric *host*."""
    if family == _AF4 or (host.startswith("::ffff:") and "." in host):
        return MAX_PAYLOAD_IPV4
    return MAX_PAYLOAD_IPV6


def socket_limit(family: int, peer: Endpoint | None) -> int:
    """The largest payload ``send`` takes: to the peer, or the family's own limit."""
    if peer is not None:
        return payload_limit(family, peer.host)
    return MAX_PAYLOAD_IPV4 if family == _AF4 else MAX_PAYLOAD_IPV6


def too_large_to_send(size: int, limit: int, where: object) -> FrameTooLarge:
    """The error for a payload over *limit*, raised before anything is sent."""
    return FrameTooLarge(
        f"datagram of {size} bytes to {where} exceeds the {limit}-byte UDP limit",
        limit=limit,
        size=size,
    )


def truncated(size: int, max_size: int, sender: object) -> FrameTooLarge:
    """The error for a received datagram over *max_size* (the kernel dropped it)."""
    # Linux reports the real size; elsewhere only that it is over the limit.
    shown = f"{size}" if RECV_EXTRA == 0 else f"more than {max_size}"
    return FrameTooLarge(
        f"datagram of {shown} bytes from {sender} exceeds max_size={max_size} (it was dropped)",
        limit=max_size,
        size=size,
    )


def truncated_into(size: int, capacity: int, sender: object) -> FrameTooLarge:
    """The error of ``recvfrom_into`` for a datagram over the buffer's *capacity*."""
    shown = f"{size}" if RECV_EXTRA == 0 else f"more than {capacity}"
    return FrameTooLarge(
        f"datagram of {shown} bytes from {sender} exceeds the {capacity}-byte buffer"
        " (it was dropped)",
        limit=capacity,
        size=size,
    )


def writable_view(buffer: object) -> memoryview:
    """A flat byte view of the writable *buffer* of ``recvfrom_into`` (the caller
    releases it); TypeError for anything else, the same in both faces."""
    try:
        view = memoryview(buffer)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            "buffer must be a writable bytes-like object (a bytearray or memoryview),"
            f" not {type(buffer).__name__}"
        ) from None
    with view:
        if view.readonly:
            raise TypeError(f"buffer must be writable; a {type(buffer).__name__} is read-only")
        if not view.c_contiguous:
            raise TypeError("buffer must be contiguous")
        return view.cast("B")


# -- addresses ---------------------------------------------------------------------------


def host_endpoint(host: object, port: object, *, allow_zero: bool) -> Endpoint:
    """The Endpoint of a ``bind``/``connect`` host and port (checked, not resolved)."""
    host = check_host(host)
    return Endpoint(host, check_port(port, allow_zero=allow_zero))


def is_hostname(host: object) -> bool:
    """True if *host* is text that needs the resolver (not an IP literal)."""
    return isinstance(host, str) and not is_ip(host, allow_zone=True)


def as_endpoint(target: object) -> Endpoint:
    """An Endpoint from an Endpoint, a ``(host, port)`` tuple or ``"host:port"`` text."""
    if isinstance(target, Endpoint):
        return target
    if isinstance(target, str):
        return parse_endpoint(target)
    if isinstance(target, tuple):
        if len(target) != 2:
            raise TypeError(f"expected a (host, port) tuple, got {describe(target)}")
        return host_endpoint(target[0], target[1], allow_zero=True)
    raise TypeError(
        f"expected an Endpoint, a (host, port) tuple or 'host:port' text, not {describe(target)}"
    )


def literal_sockaddr(endpoint: Endpoint, family: int, target: object) -> Any:
    """The sockaddr to send to *endpoint* from a socket of *family*.

    ``None`` when the host is a name: resolve it (with :func:`resolve_flags`). An IPv4
    target from an IPv6 socket becomes IPv4-mapped. *target* (what the caller passed)
    is quoted in errors.

    Raises:
        AddressError: port 0, or an IPv6 target from an IPv4 socket.
    """
    if endpoint.port == 0:
        raise AddressError(f"cannot send to port 0 ({describe(target)})")
    kind = endpoint.family
    if kind is None:
        return None
    if kind == _AF4:
        if family == _AF6:
            return ("::ffff:" + endpoint.host, endpoint.port, 0, 0)
        return endpoint.to_sockaddr()
    if family == _AF4:
        raise AddressError(f"cannot send to IPv6 {endpoint} from an IPv4 endpoint")
    return endpoint.to_sockaddr()


def resolve_flags(family: int) -> int:
    """``getaddrinfo`` flags for a target name: IPv4 answers mapped on an IPv6 socket."""
    return socket.AI_V4MAPPED if family == _AF6 else 0


def remember(cache: dict[Any, Any], key: object, value: object) -> None:
    """Store in a bounded cache (cleared when full); unhashable keys are skipped."""
    if len(cache) >= CACHE_MAX:
        cache.clear()
    try:
        cache[key] = value
    except TypeError:
        pass


def sender(senders: dict[Any, Endpoint], addr: Any) -> Endpoint:
    """The Endpoint of a sender's kernel address, built once and cached in *senders*.

    Raises:
        ConnectionClosed: *addr* is ``None`` (a receive woken by ``close()``).
    """
    if addr is None:
        raise closed()
    found = sockaddr_endpoint(addr)
    remember(senders, addr, found)
    return found


# -- sockets and options -----------------------------------------------------------------


def check_socket(sock: object) -> None:
    """Refuse anything but an ``AF_INET``/``AF_INET6`` ``SOCK_DGRAM`` socket."""
    if not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
    if sock.family not in (_AF4, _AF6) or sock.type != socket.SOCK_DGRAM:
        raise ValueError("UdpEndpoint needs an AF_INET or AF_INET6 SOCK_DGRAM socket")


def check_multicast_ttl(ttl: object) -> int:
    """A multicast hop limit: an int in 0..255."""
    if not isinstance(ttl, int) or isinstance(ttl, bool):
        raise TypeError(f"multicast_ttl must be an int, not {type(ttl).__name__}")
    if not 0 <= ttl <= 255:
        raise ValueError(f"multicast_ttl must be in 0..255, not {ttl}")
    return ttl


def check_multicast_loop(loop: object) -> bool:
    """``multicast_loop`` must be a bool."""
    if not isinstance(loop, bool):
        raise TypeError(f"multicast_loop must be a bool, not {type(loop).__name__}")
    return loop


# -- multicast ---------------------------------------------------------------------------


def multicast_group(group: object) -> bytes:
    """The packed address of a multicast group given as text."""
    if not isinstance(group, str):
        raise TypeError(f"group must be a str, not {type(group).__name__}")
    if not (is_ipv4(group) or is_ipv6(group)):
        raise AddressError(f"multicast group must be an IP address, not {describe(group)}")
    packed = pack_ip(group)
    if (len(packed) == 4 and packed[0] >> 4 != 0xE) or (len(packed) == 16 and packed[0] != 0xFF):
        raise AddressError(f"{group} is not a multicast address (224.0.0.0/4 or ff00::/8)")
    return packed


def v6_group_on_v4(group: object) -> AddressError:
    """An IPv6 group cannot be joined on an IPv4 endpoint."""
    return AddressError(f"cannot join IPv6 group {group} on an IPv4 endpoint")


def check_interface(interface: object, *, ipv6: bool = False) -> int | str:
    """An interface index (checked) or name (syntax checked; the kernel maps it).

    With *ipv6*, refuses an IPv6 address: IPv6 multicast needs a name or index.
    """
    if isinstance(interface, bool) or not isinstance(interface, (int, str)):
        raise TypeError(
            f"interface must be a name, an index or None, not {type(interface).__name__}"
        )
    if isinstance(interface, int):
        if not 1 <= interface <= 2**32 - 1:
            raise AddressError(f"interface index {interface} out of range")
        return interface
    if ipv6 and is_ipv6(interface):
        raise AddressError(
            f"IPv6 multicast needs an interface name or index, not the address {interface}"
        )
    if not interface or len(interface) > _MAX_INTERFACE_NAME or not interface.isprintable():
        raise AddressError(f"invalid interface name {describe(interface)}")
    return interface


def no_interface(name: str) -> AddressError:
    """No network interface has this name."""
    return AddressError(f"no network interface named {describe(name)}")


def membership_failed(group: object, exc: OSError, *, join: bool) -> OSError:
    """The kernel refused to join (or leave) *group*: the same errno, naming it."""
    action = "join" if join else "leave"
    return OSError(exc.errno, f"cannot {action} multicast group {group}: {exc.strerror}")
