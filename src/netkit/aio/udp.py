"""asyncio :class:`UdpEndpoint`: the sync endpoint's rules, awaited instead of blocked.

An aio endpoint owns a sync :class:`netkit.udp.UdpEndpoint` whose socket is kept in
non-blocking mode: validation, size limits, target coercion, sender caching, multicast
and error translation are the sync module's, so both worlds behave the same. Only the
waiting differs: when the socket is not ready the coroutine waits on the event loop
(``loop.add_reader``/``add_writer``), which works on the default loop and on uvloop.
Receives use ``MSG_TRUNC`` (Linux) so a datagram over ``max_size`` raises
``FrameTooLarge`` with its real size and is never silently cut.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket as _socket
from collections.abc import Callable
from typing import Any, TypeVar

from netkit import udp as _sync
from netkit._core.checks import buffer_size, check_timeout
from netkit.addr import Endpoint, is_ip
from netkit.aio.connection import deadline_of
from netkit.errors import AddressError, ConnectionClosed, NetkitTimeout
from netkit.options import SocketOptions
from netkit.udp import DEFAULT_MAX_SIZE, Datagram, Target

__all__ = ["Datagram", "UdpEndpoint"]

_T = TypeVar("_T")


def _ready(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class UdpEndpoint:
    """A UDP socket for asyncio: ``await recvfrom()``, ``await sendto(data, target)``.

    Build one with ``await UdpEndpoint.bind(...)`` or ``await UdpEndpoint.connect(...)``
    (same arguments as the sync class), or wrap a ``SOCK_DGRAM`` socket with
    ``UdpEndpoint(sock)``. One coroutine may receive while others send. Cancelling a
    receive loses no datagram (none is read until the socket is readable).
    """

    __slots__ = ("_endpoint", "_fd", "_loop", "_readers", "_writers")

    def __init__(self, sock: _socket.socket | _sync.UdpEndpoint) -> None:
        endpoint = sock if isinstance(sock, _sync.UdpEndpoint) else _sync.UdpEndpoint(sock)
        endpoint.socket.setblocking(False)
        endpoint._blocking = False  # tell the sync object its socket is non-blocking
        self._endpoint = endpoint
        self._fd = endpoint.socket.fileno()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers: list[asyncio.Future[bool]] = []
        self._writers: list[asyncio.Future[bool]] = []

    @classmethod
    async def bind(
        cls, host: str = "127.0.0.1", port: int = 0, *, options: SocketOptions | None = None
    ) -> UdpEndpoint:
        """Bind a new endpoint (see :meth:`netkit.udp.UdpEndpoint.bind`)."""
        make = functools.partial(_sync.UdpEndpoint.bind, host, port, options=options)
        return cls(await _off_loop(host, make))

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        options: SocketOptions | None = None,
        source: Target | None = None,
    ) -> UdpEndpoint:
        """A new endpoint connected to *host*:*port* (see the sync ``connect``)."""
        make = functools.partial(
            _sync.UdpEndpoint.connect, host, port, options=options, source=source
        )
        return cls(await _off_loop(host, make))

    # -- properties --------------------------------------------------------------------

    @property
    def sync(self) -> _sync.UdpEndpoint:
        """The sync endpoint behind this one (multicast options, ``send_many``...)."""
        return self._endpoint

    @property
    def socket(self) -> _socket.socket:
        """The underlying (non-blocking) socket."""
        return self._endpoint.socket

    @property
    def family(self) -> _socket.AddressFamily:
        """``AF_INET`` or ``AF_INET6``."""
        return self._endpoint.family

    @property
    def address(self) -> Endpoint:
        """The local address (the real port when 0 was asked)."""
        return self._endpoint.address

    @property
    def remote_address(self) -> Endpoint | None:
        """The peer of a connected endpoint, ``None`` for an unconnected one."""
        return self._endpoint.remote_address

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._endpoint.closed

    def __repr__(self) -> str:
        return "<aio." + repr(self._endpoint)[1:]

    # -- waiting -----------------------------------------------------------------------

    async def _wait(self, reading: bool, deadline: float | None, what: str) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        waiters = self._readers if reading else self._writers
        waiter: asyncio.Future[bool] = loop.create_future()
        first = not waiters
        waiters.append(waiter)
        if first:
            add: Callable[..., None] = loop.add_reader if reading else loop.add_writer
            add(self._fd, self._wake, waiters)
        timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
        try:
            ready = await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters and not self._endpoint.closed:
                (loop.remove_reader if reading else loop.remove_writer)(self._fd)
        if self._endpoint.closed:
            raise ConnectionClosed("UdpEndpoint is closed")
        if not ready:
            raise NetkitTimeout(f"no datagram {what} in time")

    @staticmethod
    def _wake(waiters: list[asyncio.Future[bool]]) -> None:
        for waiter in waiters:
            _ready(waiter)

    # -- sending -----------------------------------------------------------------------

    async def _sockaddr(self, target: object) -> Any:
        # The sync endpoint validates (and caches) *target* as given, so errors quote
        # what the caller passed, exactly as the sync sendto does.
        if _sync._as_endpoint(target).family is None:  # a hostname: resolve off the loop
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self._endpoint._sockaddr, target)
        return self._endpoint._sockaddr(target)

    async def sendto(
        self,
        data: bytes | bytearray | memoryview,
        endpoint: Target,
        *,
        timeout: float | None = None,
    ) -> None:
        """Send one datagram to *endpoint*; ``FrameTooLarge`` before sending if too big."""
        self._check_open()
        size = buffer_size(data)
        addr = await self._sockaddr(endpoint)
        limit = _sync._payload_limit(int(self._endpoint.family), addr[0])
        if size > limit:
            raise _sync._too_large_to_send(size, limit, endpoint)
        await self._send(data, addr, timeout)

    async def send(
        self, data: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send one datagram to the connected peer."""
        self._check_open()
        size = buffer_size(data)
        limit = self._endpoint._max_payload
        if size > limit:
            raise _sync._too_large_to_send(size, limit, self.remote_address or "the peer")
        await self._send(data, None, timeout)

    async def _send(self, data: Any, addr: Any, timeout: float | None) -> None:
        sock = self._endpoint.socket
        if addr is None:
            await self._retry(functools.partial(sock.send, data), False, timeout)
        else:
            await self._retry(functools.partial(sock.sendto, data, addr), False, timeout)

    async def _retry(self, call: Callable[[], _T], reading: bool, timeout: float | None) -> _T:
        """Run the non-blocking *call* until the socket is ready for it (or the deadline)."""
        timeout = check_timeout("timeout", timeout)  # even when no wait is needed
        deadline: float | None = None
        first = True
        while True:
            try:
                return call()
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._error(exc) from exc
            if first:  # the clock is read only when the call has to wait
                deadline = deadline_of(asyncio.get_running_loop(), timeout)
                first = False
            await self._wait(reading, deadline, "received" if reading else "sent")

    def _error(self, exc: OSError) -> BaseException:
        error = self._endpoint._error(exc)
        if error is exc and exc.errno == errno.EDESTADDRREQ:
            return AddressError("send() needs a connected endpoint; use sendto()")
        return error

    # -- receiving ---------------------------------------------------------------------

    async def recvfrom(
        self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> Datagram:
        """Receive one datagram and its sender.

        ``FrameTooLarge`` (real size) if it is longer than *max_size*: that datagram is
        dropped and the next call gets the next one. ``NetkitTimeout`` after *timeout*.
        """
        data, addr = await self._recv(True, max_size, timeout)
        endpoint = self._endpoint
        sender = endpoint._senders.get(addr)
        if sender is None:
            sender = endpoint._new_sender(addr)
        return Datagram(data, sender)

    async def recv(
        self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> bytes:
        """Receive one datagram's payload (meant for a connected endpoint)."""
        data: bytes = (await self._recv(False, max_size, timeout))[0]
        return data

    async def _recv(self, with_address: bool, max_size: int, timeout: float | None) -> Any:
        self._check_open()
        max_size = _sync._check_max_size(max_size)
        if timeout is None:
            timeout = self._endpoint._default_timeout
        sock = self._endpoint.socket
        bufsize = max_size + _sync._EXTRA
        if with_address:
            data, addr = await self._retry(
                functools.partial(sock.recvfrom, bufsize, _sync._TRUNC), True, timeout
            )
        else:
            data = await self._retry(
                functools.partial(sock.recv, bufsize, _sync._TRUNC), True, timeout
            )
            addr = None
        if len(data) > max_size:
            sender = self.remote_address if addr is None else _sync._endpoint_from_kernel(addr)
            raise self._endpoint._too_large(len(data), max_size, sender)
        return data, addr

    # -- multicast (no waiting: delegated to the sync endpoint) -------------------------

    def join_multicast(self, group: str, interface: str | int | None = None) -> None:
        """Join multicast *group* (see :meth:`netkit.udp.UdpEndpoint.join_multicast`)."""
        self._endpoint.join_multicast(group, interface)

    def leave_multicast(self, group: str, interface: str | int | None = None) -> None:
        """Leave a group joined with :meth:`join_multicast`."""
        self._endpoint.leave_multicast(group, interface)

    def set_multicast_interface(self, interface: str | int | None) -> None:
        """Send multicast through *interface* (see the sync method)."""
        self._endpoint.set_multicast_interface(interface)

    @property
    def multicast_ttl(self) -> int:
        """Hop limit of sent multicast, 0..255."""
        return self._endpoint.multicast_ttl

    @multicast_ttl.setter
    def multicast_ttl(self, ttl: int) -> None:
        self._endpoint.multicast_ttl = ttl

    @property
    def multicast_loop(self) -> bool:
        """Whether multicast this endpoint sends is also delivered to this host."""
        return self._endpoint.multicast_loop

    @multicast_loop.setter
    def multicast_loop(self, loop: bool) -> None:
        self._endpoint.multicast_loop = loop

    # -- closing -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._endpoint.closed:
            raise ConnectionClosed("UdpEndpoint is closed")

    def close(self) -> None:
        """Close the endpoint; idempotent. Pending receives raise ``ConnectionClosed``."""
        if self._endpoint.closed:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if self._readers:
                loop.remove_reader(self._fd)
            if self._writers:
                loop.remove_writer(self._fd)
        self._endpoint.close()
        for waiter in self._readers + self._writers:
            _ready(waiter)

    async def aclose(self) -> None:
        """Close the endpoint (the awaitable spelling, for symmetry with TCP)."""
        self.close()

    async def __aenter__(self) -> UdpEndpoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __enter__(self) -> UdpEndpoint:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _off_loop(host: object, make: Callable[[], _sync.UdpEndpoint]) -> _sync.UdpEndpoint:
    """Run *make* here for an IP literal, in a thread if it may resolve a hostname."""
    if isinstance(host, str) and not is_ip(host, allow_zone=True):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, make)
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    return make()
