"""asyncio :class:`UdpEndpoint`: the sync endpoint's rules, awaited instead of blocked.

Sizes, truncation, targets, senders and errors are :mod:`netkit._core.datagram`'s and
socket set-up and multicast requests :mod:`netkit._sockets.datagram`'s, exactly as for
:class:`netkit.UdpEndpoint`. Only the waiting differs: the socket stays non-blocking
and, when it is not ready, the coroutine waits on the event loop (the message engine
of :mod:`netkit.aio._datagram`, shared with Unix datagrams and SEQPACKET).
Resolving a name (to bind, connect or send to) runs in the loop's executor.
"""

from __future__ import annotations

import asyncio
import functools
import socket as _socket
from collections.abc import Callable
from typing import Any

from netkit._core import datagram as core
from netkit._core.checks import buffer_size
from netkit._core.datagram import Datagram, Target
from netkit._sockets import datagram as setup
from netkit.addr import Endpoint
from netkit.aio._datagram import DatagramEngine
from netkit.options import SocketOptions

__all__ = ["Datagram", "UdpEndpoint"]


class UdpEndpoint(setup.DatagramOptions, DatagramEngine[Endpoint]):
    """A UDP socket for asyncio: ``await recvfrom()``, ``await sendto(data, target)``.

    Build one with ``await UdpEndpoint.bind(...)`` or ``await UdpEndpoint.connect(...)``
    (same arguments as the sync class), or wrap a ``SOCK_DGRAM`` socket with
    ``UdpEndpoint(sock)``. One coroutine may receive while others send. Cancelling a
    receive loses no datagram (none is read until the socket is readable).

    Args:
        sock: an ``AF_INET`` or ``AF_INET6`` ``SOCK_DGRAM`` socket; the endpoint takes
            ownership and makes it non-blocking (a timeout it had becomes the default
            deadline).

    Raises:
        TypeError: *sock* is not a ``socket.socket``.
        ValueError: *sock* is not an ``AF_INET``/``AF_INET6`` ``SOCK_DGRAM`` socket.
    """

    __slots__ = (
        "_addr_cache",
        "_family",
        "_max_payload",
        "_peer",
    )

    def __init__(self, sock: _socket.socket) -> None:
        default_timeout, peer = setup.adopt(sock, blocking=False)
        super().__init__(sock, default_timeout)
        self._family = int(sock.family)
        self._peer = peer
        self._max_payload = core.socket_limit(self._family, peer)
        self._addr_cache: dict[Any, Any] = {}

    @classmethod
    async def bind(
        cls, host: str = "127.0.0.1", port: int = 0, *, options: SocketOptions | None = None
    ) -> UdpEndpoint:
        """Bind a new endpoint to *host*:*port* (port 0: an ephemeral one).

        Same arguments and rules as :meth:`netkit.UdpEndpoint.bind`; a hostname is
        resolved in the loop's executor.

        Args:
            host: an IP literal (``"::"``: dual stack unless ``options.v6only``) or a
                hostname (its first address is used).
            port: the port, 0 for an ephemeral one.
            options: applied before binding.

        Returns:
            The bound endpoint.

        Raises:
            TypeError: a *host*, *port* or *options* of the wrong type.
            AddressError: a malformed *host* or out-of-range *port*.
            LookupFailed: the name does not resolve.
            OSError: the address cannot be bound (in use, not local...).
        """
        opened = functools.partial(setup.open_bound, host, port, options)
        return cls._adopt(*await _off_loop(host, opened))

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        options: SocketOptions | None = None,
        source: Target | None = None,
    ) -> UdpEndpoint:
        """A new endpoint connected to *host*:*port*: use :meth:`send` and :meth:`recv`.

        Same arguments and rules as :meth:`netkit.UdpEndpoint.connect`; a hostname is
        resolved in the loop's executor.

        Args:
            host: an IP literal or a hostname.
            port: the peer's port, 1..65535.
            options: applied before connecting.
            source: the local side to bind first (an Endpoint, ``(host, port)`` or text).

        Returns:
            The connected endpoint.

        Raises:
            TypeError: an argument of the wrong type.
            AddressError: a malformed *host* or *source*, or an out-of-range *port*.
            LookupFailed: the name does not resolve.
            ConnectFailed: no address of *host* could be connected to.
        """
        opened = functools.partial(setup.open_connected, host, port, options, source)
        return cls._adopt(*await _off_loop(host, opened, source))

    @classmethod
    def _adopt(cls, sock: _socket.socket, default_timeout: float | None) -> UdpEndpoint:
        try:
            result = cls(sock)
        except BaseException:
            sock.close()
            raise
        result._default_timeout = default_timeout
        return result

    # -- properties --------------------------------------------------------------------

    @property
    def family(self) -> _socket.AddressFamily:
        """``AF_INET`` or ``AF_INET6``."""
        return _socket.AddressFamily(self._family)

    @property
    def address(self) -> Endpoint:
        """The local address (the real port when 0 was asked)."""
        try:
            return setup.local_address(self._sock)
        except OSError as exc:
            raise self._error(exc) from exc

    @property
    def remote_address(self) -> Endpoint | None:
        """The peer of a connected endpoint, ``None`` for an unconnected one."""
        return self._peer

    def __repr__(self) -> str:
        if self._closed:
            return "<aio.UdpEndpoint closed>"
        try:
            local = str(self.address)
        except OSError:
            local = "?"
        peer = "" if self._peer is None else f" peer={self._peer}"
        return f"<aio.UdpEndpoint {local}{peer}>"

    # -- sending -----------------------------------------------------------------------

    async def sendto(
        self,
        data: bytes | bytearray | memoryview,
        endpoint: Target,
        *,
        timeout: float | None = None,
    ) -> None:
        """Send one datagram to *endpoint* (an Endpoint, ``(host, port)`` or text).

        Args:
            data: the payload.
            endpoint: where to send it; a hostname is resolved in the loop's executor.
            timeout: seconds to wait for room in a full send buffer (``None``: the
                endpoint's default).

        Raises:
            FrameTooLarge: *data* is over the destination family's limit (nothing sent).
            TypeError: *data* is not bytes-like, or *endpoint* is not a target.
            AddressError: a malformed *endpoint*, or one of the other address family.
            LookupFailed: a target name does not resolve.
            NetkitTimeout: the send buffer stayed full for *timeout* seconds.
            ConnectionClosed: the endpoint is closed.
        """
        self._check_open()
        size = buffer_size(data)
        try:
            addr = self._addr_cache.get(endpoint)
        except TypeError:  # unhashable: certainly not a valid target
            addr = None
        if addr is None:
            addr = await self._sockaddr(endpoint)
        limit = core.payload_limit(self._family, addr[0])
        if size > limit:
            raise core.too_large_to_send(size, limit, endpoint)
        await self._retry(functools.partial(self._sock.sendto, data, addr), False, timeout)

    async def _sockaddr(self, target: object) -> Any:
        # Validate (and cache) *target* as given, so errors quote what the caller passed,
        # exactly as the sync sendto does; only a name waits, and in a thread.
        if core.as_endpoint(target).family is None:
            loop = asyncio.get_running_loop()
            call = functools.partial(setup.target_sockaddr, target, self._family, self._addr_cache)
            return await loop.run_in_executor(None, call)
        return setup.target_sockaddr(target, self._family, self._addr_cache)

    async def send(
        self, data: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send one datagram to the connected peer.

        Args:
            data: the payload.
            timeout: seconds to wait for room in a full send buffer (``None``: the
                endpoint's default).

        Raises:
            FrameTooLarge: *data* is over the peer's limit (nothing sent).
            TypeError: *data* is not bytes-like.
            AddressError: the endpoint is not connected.
            ConnectionRefused: the peer refused an earlier datagram.
            NetkitTimeout: the send buffer stayed full for *timeout* seconds.
            ConnectionClosed: the endpoint is closed.
        """
        self._check_open()
        size = buffer_size(data)
        if size > self._max_payload:
            raise core.too_large_to_send(size, self._max_payload, self._peer or "the peer")
        await self._retry(functools.partial(self._sock.send, data), False, timeout)


_Opened = tuple[_socket.socket, float | None]


def _names_a_host(source: object) -> bool:
    """Whether a ``source=`` target holds a host name (to resolve) rather than an IP."""
    if source is None:
        return False
    try:
        return core.as_endpoint(source).family is None
    except (TypeError, ValueError):
        return False  # malformed: opening the endpoint raises the error, without a lookup


async def _off_loop(host: object, opened: Callable[[], _Opened], source: object = None) -> _Opened:
    """Run *opened* here for IP literals, in the executor if it may resolve a name (the
    host's or the source's): the resolver blocks."""
    if core.is_hostname(host) or _names_a_host(source):
        return await asyncio.get_running_loop().run_in_executor(None, opened)
    return opened()
