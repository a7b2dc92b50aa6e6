"""UDP socket set-up shared by both faces: resolve, create, bind, connect, multicast.

Nothing here waits on the network: a UDP ``connect`` only fixes the peer. Resolving a
*name* does ask the resolver, so the asyncio face calls :func:`open_bound`,
:func:`open_connected` and :func:`target_sockaddr` in a thread when a name is involved
(:func:`netkit._core.datagram.is_hostname`). The rules and messages are
:mod:`netkit._core.datagram`'s.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
import struct
import sys
from collections.abc import Callable, Iterable
from typing import Any, Final

from netkit._core import datagram as core
from netkit._core.checks import buffer_size, check_timeout
from netkit._core.sockaddr import endpoint as sockaddr_endpoint
from netkit.addr import Endpoint, is_ipv4
from netkit.errors import FrameTooLarge, NetkitError
from netkit.lookup import _invalid_name_error, get_resolver
from netkit.options import SocketOptions

__all__ = [
    "adopt",
    "candidates",
    "get_multicast_loop",
    "get_multicast_ttl",
    "interface_index",
    "local_address",
    "membership",
    "new_socket",
    "open_bound",
    "open_connected",
    "plan_batch",
    "recvfrom_into",
    "resolve",
    "set_multicast_interface",
    "set_multicast_loop",
    "set_multicast_ttl",
    "shut",
    "target_sockaddr",
]

_AF4: Final = socket.AF_INET
_AF6: Final = socket.AF_INET6
_IP_MREQN: Final = struct.Struct("=4s4si")  # Linux struct ip_mreqn
_IPV6_MREQ: Final = struct.Struct("=16sI")  # struct ipv6_mreq


# -- receiving into a buffer -------------------------------------------------------------


def recvfrom_into(sock: socket.socket, view: memoryview) -> tuple[int, Any]:
    """One ``recvfrom_into`` of a whole datagram into *view*: ``(real size, address)``.

    With ``MSG_TRUNC`` (Linux) the kernel reports the datagram's real size even when it
    was longer than *view*, which the engines turn into ``FrameTooLarge``.
    """
    if core.RECV_EXTRA == 0:
        return sock.recvfrom_into(view, 0, core.RECV_FLAGS)
    # Elsewhere (pragma: no cover, netkit is tested on Linux) one byte more than the
    # buffer holds tells a longer datagram: its size is then a lower bound.
    data, addr = sock.recvfrom(len(view) + 1)  # pragma: no cover
    view[: min(len(data), len(view))] = data[: len(view)]  # pragma: no cover
    return len(data), addr  # pragma: no cover


# -- resolving ---------------------------------------------------------------------------


def resolve(host: str, port: int, family: int, flags: int) -> list[tuple[int, Any]]:
    """The name *host* for UDP as ``(family, sockaddr)`` pairs in the resolver's order.

    Asks the resolver in force (:func:`netkit.lookup.get_resolver`); callers pass names
    only (an IP literal is used as it is). A name under ``.invalid`` fails at once, as
    in :func:`netkit.lookup.resolve`.
    """
    never = _invalid_name_error(host)
    if never is not None:
        raise never
    try:
        infos = get_resolver().getaddrinfo(host, port, family, socket.SOCK_DGRAM, 0, flags)
    except NetkitError:
        raise
    except (OSError, UnicodeError) as exc:
        raise core.lookup_failed(host, exc) from exc
    seen: list[tuple[int, Any]] = []
    for fam, _type, _proto, _name, sockaddr in infos:
        item = (int(fam), sockaddr)
        if fam in (_AF4, _AF6) and item not in seen:
            seen.append(item)
    if not seen:
        raise core.no_address(host)
    return seen


def candidates(endpoint: Endpoint, *, passive: bool) -> list[tuple[int, Any]]:
    """``(family, sockaddr)`` candidates for an endpoint: itself if it is an IP literal."""
    family = endpoint.family
    if family is not None:
        return [(int(family), endpoint.to_sockaddr())]
    flags = socket.AI_PASSIVE if passive else 0
    return resolve(endpoint.host, endpoint.port, socket.AF_UNSPEC, flags)


def target_sockaddr(target: object, family: int, cache: dict[Any, Any]) -> Any:
    """The sockaddr for sending to *target* from a socket of *family*, validated.

    IP-literal results are stored in *cache* (keyed by *target*); names are resolved on
    every call, as the stdlib does, so that DNS changes are seen.
    """
    endpoint = core.as_endpoint(target)
    addr = core.literal_sockaddr(endpoint, family, target)
    if addr is None:
        return resolve(endpoint.host, endpoint.port, family, core.resolve_flags(family))[0][1]
    core.remember(cache, target, addr)
    return addr


def plan_batch(
    datagrams: Iterable[Any], family: int, cache: dict[Any, Any], peer: Endpoint | None
) -> list[tuple[Any, Any]]:
    """``send_many``'s items as ``(payload, sockaddr or None)`` pairs, every one checked.

    An item is a payload (to the connected *peer*: sockaddr ``None``) or a
    ``(payload, target)`` pair; a bad item raises before anything is sent.
    """
    plan: list[tuple[Any, Any]] = []
    v6 = family == _AF6
    max_payload = core.socket_limit(family, peer)
    for item in datagrams:
        if isinstance(item, tuple):
            if len(item) != 2:
                raise TypeError("send_many items are payloads or (payload, target) pairs")
            data, target = item
            size = len(data) if data.__class__ is bytes else buffer_size(data)
            if (
                target.__class__ is Endpoint
                and target.port
                and (":" in target.host if v6 else target.host.rpartition(".")[2].isdigit())
            ):
                # As sendto's fast path: IP literals only (sendto would resolve a name
                # itself, past netkit's resolver).
                addr: Any = (target.host, target.port)
            else:
                try:
                    addr = cache.get(target)
                except TypeError:  # unhashable: target_sockaddr says why it is wrong
                    addr = None
                if addr is None:
                    addr = target_sockaddr(target, family, cache)
            if size > core.MAX_PAYLOAD_IPV4:
                limit = core.payload_limit(family, addr[0])
                if size > limit:
                    raise core.too_large_to_send(size, limit, target)
            plan.append((data, addr))
        else:
            size = buffer_size(item)
            if size > max_payload:
                raise core.too_large_to_send(size, max_payload, peer or "the peer")
            plan.append((item, None))
    return plan


# -- creating ----------------------------------------------------------------------------


def new_socket(family: int, options: SocketOptions | None) -> tuple[socket.socket, float | None]:
    """A UDP socket with *options* applied; returns it and the default timeout.

    ``options.timeout`` is not applied to the socket: the endpoint owns the socket's
    blocking mode, so the timeout becomes the default deadline of its receive calls.
    """
    if options is not None and not isinstance(options, SocketOptions):
        raise TypeError(f"options must be SocketOptions or None, not {type(options).__name__}")
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        default_timeout = None
        if options is not None:
            if options.timeout is not None:
                default_timeout = check_timeout("timeout", options.timeout)
                options = dataclasses.replace(options, timeout=None)
            options.apply(sock)
        return sock, default_timeout
    except BaseException:
        sock.close()
        raise


def open_bound(
    host: object, port: object, options: SocketOptions | None
) -> tuple[socket.socket, float | None]:
    """A new UDP socket bound to *host*:*port* (a name: its first address) and its
    default timeout. ``"::"`` is dual stack unless ``options.v6only`` says otherwise."""
    endpoint = core.host_endpoint(host, port, allow_zero=True)
    family, sockaddr = candidates(endpoint, passive=True)[0]
    sock, default_timeout = new_socket(family, options)
    try:
        if (
            family == _AF6
            and endpoint.host == "::"
            and (options is None or options.v6only is None)
        ):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise core.bind_failed(endpoint, exc) from exc
    except BaseException:
        sock.close()
        raise
    return sock, default_timeout


def open_connected(
    host: object, port: object, options: SocketOptions | None, source: object
) -> tuple[socket.socket, float | None]:
    """A new UDP socket connected to *host*:*port* (each address of a name in turn),
    bound to *source* first if given, and its default timeout.

    Raises:
        ConnectFailed: no address could be connected to.
    """
    endpoint = core.host_endpoint(host, port, allow_zero=False)
    source_ep = None if source is None else core.as_endpoint(source)
    attempts: list[tuple[Endpoint, BaseException]] = []
    for family, sockaddr in candidates(endpoint, passive=False):
        sock, default_timeout = new_socket(family, options)
        try:
            if source_ep is not None:
                local = [a for f, a in candidates(source_ep, passive=True) if f == family]
                if not local:
                    raise core.no_source_address(source_ep, family)
                sock.bind(local[0])
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            attempts.append((sockaddr_endpoint(sockaddr), exc))
            continue
        except BaseException:
            sock.close()
            raise
        return sock, default_timeout
    raise core.connect_failed(endpoint, attempts)


def adopt(sock: socket.socket, *, blocking: bool) -> tuple[float | None, Endpoint | None]:
    """Take over a UDP socket: returns its default timeout and peer (``None``: not
    connected), leaving it in blocking or non-blocking mode.

    A timeout the socket was handed over with becomes the endpoint's default deadline;
    the socket itself is switched to the mode the face waits in.
    """
    core.check_socket(sock)
    default_timeout = check_timeout("timeout", sock.gettimeout())
    if sock.gettimeout() != (None if blocking else 0.0):
        sock.setblocking(blocking)
    try:
        peer: Endpoint | None = sockaddr_endpoint(sock.getpeername())
    except OSError:
        peer = None
    return default_timeout, peer


def local_address(sock: socket.socket) -> Endpoint:
    """The socket's local address (OSError once closed)."""
    return sockaddr_endpoint(sock.getsockname())


def shut(sock: socket.socket) -> None:
    """Close *sock*, first waking any thread blocked receiving on it."""
    try:
        # close() alone does not wake a thread blocked in recvfrom on Linux; shutdown()
        # does (it fails with ENOTCONN on an unconnected socket but still wakes it).
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# -- multicast ---------------------------------------------------------------------------


def interface_index(interface: object, *, ipv6: bool = False) -> int:
    """The index of an interface given by name or index (``None``: 0, any)."""
    if interface is None:
        return 0
    checked = core.check_interface(interface, ipv6=ipv6)
    if isinstance(checked, int):
        return checked
    try:
        return socket.if_nametoindex(checked)
    except OSError:
        raise core.no_interface(checked) from None


def _ipv4_request(packed_group: bytes, interface: object) -> bytes:
    """``struct ip_mreq`` (by local address) or ``ip_mreqn`` (by interface index)."""
    if interface is None:
        return packed_group + bytes(4)
    if isinstance(interface, str) and is_ipv4(interface):
        return packed_group + socket.inet_aton(interface)
    if not sys.platform.startswith("linux"):  # pragma: no cover
        raise NotImplementedError("joining an IPv4 group by interface name needs Linux")
    return _IP_MREQN.pack(packed_group, bytes(4), interface_index(interface))


def membership(
    sock: socket.socket, family: int, group: object, interface: object, *, join: bool
) -> None:
    """Join (or leave) multicast *group* on *interface*; OSError names the group."""
    packed = core.multicast_group(group)
    if len(packed) == 4:
        level = socket.IPPROTO_IP
        option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
        value = _ipv4_request(packed, interface)
    else:
        if family != _AF6:
            raise core.v6_group_on_v4(group)
        level = socket.IPPROTO_IPV6
        option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
        value = _IPV6_MREQ.pack(packed, interface_index(interface, ipv6=True))
    try:
        sock.setsockopt(level, option, value)
    except OSError as exc:
        if exc.errno == errno.EBADF:  # closed: the face reports ConnectionClosed
            raise
        raise core.membership_failed(group, exc, join=join) from exc


def set_multicast_interface(sock: socket.socket, family: int, interface: object) -> None:
    """Send multicast through *interface* (name, index, IPv4 local address or None)."""
    if family == _AF4:
        if interface is None:
            value = socket.inet_aton("0.0.0.0")
        elif isinstance(interface, str) and is_ipv4(interface):
            value = socket.inet_aton(interface)
        else:
            value = _IP_MREQN.pack(bytes(4), bytes(4), interface_index(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, value)
    else:
        index = interface_index(interface, ipv6=True)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)


def get_multicast_ttl(sock: socket.socket, family: int) -> int:
    """IP_MULTICAST_TTL (IPv4) or IPV6_MULTICAST_HOPS."""
    if family == _AF4:
        return sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)
    return sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS)


def set_multicast_ttl(sock: socket.socket, family: int, ttl: object) -> None:
    """Set the hop limit of sent multicast (0..255)."""
    value = core.check_multicast_ttl(ttl)
    if family == _AF4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, value)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, value)


def get_multicast_loop(sock: socket.socket, family: int) -> bool:
    """Whether sent multicast is also delivered to this host."""
    if family == _AF4:
        return bool(sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP))
    return bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP))


def set_multicast_loop(sock: socket.socket, family: int, loop: object) -> None:
    """Deliver (or not) sent multicast to this host too."""
    value = int(core.check_multicast_loop(loop))
    if family == _AF4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, value)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, value)


class DatagramOptions:
    """Multicast membership and options, and UDP's hooks of the message engines
    (errors, senders, limits), for both UDP faces.

    None of these calls waits, so the sync and asyncio ``UdpEndpoint`` share them.
    A subclass provides ``_sock``, ``_family``, ``_closed``, ``_peer`` and
    ``_senders``.
    """

    __slots__ = ()

    _sock: socket.socket
    _family: int
    _closed: bool
    _peer: Endpoint | None
    _senders: dict[Any, Endpoint]

    def _error(self, exc: OSError) -> BaseException:
        """The netkit error for a failed socket call (or *exc* itself)."""
        return core.datagram_error(exc, is_closed=self._closed, peer=self._peer)

    def _closed_error(self) -> BaseException:
        return core.closed()

    def _timeout_error(self, timeout: float | None, *, sending: bool) -> BaseException:
        return core.timed_out(timeout, sending=sending)

    def _sender_of(self, addr: Any) -> Endpoint:
        return core.sender(self._senders, addr)

    def _truncated(self, size: int, max_size: int, sender: Any) -> FrameTooLarge:
        return core.truncated(size, max_size, self._peer if sender is None else sender)

    def _truncated_into(self, size: int, capacity: int, sender: Any) -> FrameTooLarge:
        return core.truncated_into(size, capacity, sender)

    def _check_max_size(self, value: object) -> int:
        return core.check_max_size(value)

    def join_multicast(self, group: str, interface: str | int | None = None) -> None:
        """Join multicast *group* (``224.0.0.0/4`` or ``ff00::/8``) to receive its traffic.

        Bind to the group's port on ``"0.0.0.0"``/``"::"`` (or the group address) to
        receive. IPv4 groups may be joined on a dual-stack IPv6 endpoint (Linux).

        Args:
            group: the multicast address.
            interface: ``None`` lets the kernel choose (by route), an interface name
                (``"eth0"``) or index, or for IPv4 also a local address (``"127.0.0.1"``).

        Raises:
            TypeError: *group* or *interface* of the wrong type.
            AddressError: *group* is not a multicast address (or an IPv6 group on an IPv4
                endpoint), or no interface has that name.
            NotImplementedError: an IPv4 group by interface name off Linux.
            OSError: the kernel refused; the message names the group.
        """
        self._option(membership, group, interface, join=True)

    def leave_multicast(self, group: str, interface: str | int | None = None) -> None:
        """Leave a group joined with :meth:`join_multicast` (same arguments).

        Args:
            group: the multicast address.
            interface: as given to :meth:`join_multicast`.

        Raises:
            TypeError: *group* or *interface* of the wrong type.
            AddressError: *group* is not a multicast address, or no interface has that
                name.
            NotImplementedError: an IPv4 group by interface name off Linux.
            OSError: the kernel refused (the group was not joined...).
        """
        self._option(membership, group, interface, join=False)

    def set_multicast_interface(self, interface: str | int | None) -> None:
        """Send multicast through *interface*.

        Args:
            interface: an interface name or index, or an IPv4 local address; ``None``: the
                kernel's choice by route.

        Raises:
            TypeError: *interface* of the wrong type.
            AddressError: no interface has that name.
            OSError: the kernel refused.
        """
        self._option(set_multicast_interface, interface)

    @property
    def multicast_ttl(self) -> int:
        """Hop limit of sent multicast (IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS), 0..255.

        The system default is 1 (stay on the local network); 0 keeps it on this host.
        """
        ttl: int = self._option(get_multicast_ttl)
        return ttl

    @multicast_ttl.setter
    def multicast_ttl(self, ttl: int) -> None:
        self._option(set_multicast_ttl, ttl)

    @property
    def multicast_loop(self) -> bool:
        """Whether multicast this endpoint sends is also delivered to this host."""
        loop: bool = self._option(get_multicast_loop)
        return loop

    @multicast_loop.setter
    def multicast_loop(self, loop: bool) -> None:
        self._option(set_multicast_loop, loop)

    def _option(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a :mod:`netkit._sockets.datagram` call on this socket, errors translated."""
        try:
            return call(self._sock, self._family, *args, **kwargs)
        except OSError as exc:
            error = self._error(exc)
            if error is exc:
                raise
            raise error from exc
