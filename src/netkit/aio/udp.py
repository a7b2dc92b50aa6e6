"""asyncio :class:`UdpEndpoint`: the sync endpoint's rules, awaited instead of blocked.

Sizes, truncation, targets, senders and errors are :mod:`netkit._core.datagram`'s and
socket set-up and multicast requests :mod:`netkit._sockets.datagram`'s, exactly as for
:class:`netkit.UdpEndpoint`. Only the waiting differs: the socket stays non-blocking
and, when it is not ready, the coroutine waits on the event loop
(``loop.add_reader``/``add_writer``), which works on the default loop and on uvloop.
Resolving a name (to bind, connect or send to) runs in the loop's executor.
"""

from __future__ import annotations

import asyncio
import functools
import socket as _socket
from collections.abc import Callable
from typing import Any, TypeVar

from netkit._core import datagram as core
from netkit._core.checks import buffer_size, check_timeout
from netkit._core.datagram import DEFAULT_MAX_SIZE, RECV_EXTRA, RECV_FLAGS, Datagram, Target
from netkit._sockets import datagram as setup
from netkit.addr import Endpoint
from netkit.options import SocketOptions

__all__ = ["Datagram", "UdpEndpoint"]

_T = TypeVar("_T")


def _ready(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class UdpEndpoint(setup.DatagramOptions):
    """A UDP socket for asyncio: ``await recvfrom()``, ``await sendto(data, target)``.

    Build one with ``await UdpEndpoint.bind(...)`` or ``await UdpEndpoint.connect(...)``
    (same arguments as the sync class), or wrap a ``SOCK_DGRAM`` socket with
    ``UdpEndpoint(sock)`` (the endpoint takes ownership and makes it non-blocking).
    One coroutine may receive while others send. Cancelling a receive loses no
    datagram (none is read until the socket is readable).
    """

    __slots__ = (
        "_addr_cache",
        "_closed",
        "_default_timeout",
        "_family",
        "_fd",
        "_loop",
        "_max_payload",
        "_peer",
        "_readers",
        "_senders",
        "_sock",
        "_writers",
    )

    def __init__(self, sock: _socket.socket) -> None:
        default_timeout, peer = setup.adopt(sock, blocking=False)
        self._sock = sock
        self._fd = sock.fileno()
        self._family = int(sock.family)
        self._closed = False
        self._default_timeout = default_timeout
        self._peer = peer
        self._max_payload = core.socket_limit(self._family, peer)
        self._senders: dict[Any, Endpoint] = {}
        self._addr_cache: dict[Any, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers: list[asyncio.Future[bool]] = []
        self._writers: list[asyncio.Future[bool]] = []

    @classmethod
    async def bind(
        cls, host: str = "127.0.0.1", port: int = 0, *, options: SocketOptions | None = None
    ) -> UdpEndpoint:
        """Bind a new endpoint to *host*:*port* (port 0: an ephemeral one).

        Same arguments and rules as :meth:`netkit.UdpEndpoint.bind`; a hostname is
        resolved in the loop's executor.

        Raises:
            AddressError, TypeError: a bad host or port.
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

        Raises:
            AddressError, TypeError: a bad host, port or source.
            LookupFailed: the name does not resolve.
            ConnectFailed: no address of *host* could be connected to.
        """
        opened = functools.partial(setup.open_connected, host, port, options, source)
        return cls._adopt(*await _off_loop(host, opened))

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
    def socket(self) -> _socket.socket:
        """The underlying (non-blocking) socket."""
        return self._sock

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

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        return self._sock.fileno()

    def __repr__(self) -> str:
        if self._closed:
            return "<aio.UdpEndpoint closed>"
        try:
            local = str(self.address)
        except OSError:
            local = "?"
        peer = "" if self._peer is None else f" peer={self._peer}"
        return f"<aio.UdpEndpoint {local}{peer}>"

    # -- waiting -----------------------------------------------------------------------

    async def _wait(self, reading: bool, deadline: float | None) -> bool:
        """Wait until the socket is ready (True) or *deadline* passes (False)."""
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
            if not waiters and not self._closed:
                (loop.remove_reader if reading else loop.remove_writer)(self._fd)
        if self._closed:
            raise core.closed()
        return ready

    @staticmethod
    def _wake(waiters: list[asyncio.Future[bool]]) -> None:
        for waiter in waiters:
            _ready(waiter)

    async def _retry(self, call: Callable[[], _T], reading: bool, timeout: object) -> _T:
        """Run the non-blocking *call* until the socket is ready for it (or the deadline)."""
        seconds = check_timeout("timeout", timeout)  # even when no wait is needed
        if seconds is None and reading:  # sends have no default deadline (as in sync)
            seconds = self._default_timeout
        deadline: float | None = None
        first = True
        while True:
            try:
                return call()
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._error(exc) from exc
            loop = asyncio.get_running_loop()
            if first:  # the clock is read only when the call has to wait
                deadline = None if seconds is None else loop.time() + seconds
                first = False
            if not await self._wait(reading, deadline):
                raise core.timed_out(seconds, sending=not reading)

    # -- sending -----------------------------------------------------------------------

    async def sendto(
        self,
        data: bytes | bytearray | memoryview,
        endpoint: Target,
        *,
        timeout: float | None = None,
    ) -> None:
        """Send one datagram to *endpoint* (an Endpoint, ``(host, port)`` or text).

        Raises:
            FrameTooLarge: *data* is over the destination family's limit (nothing sent).
            AddressError, TypeError: a bad target or payload.
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

        Raises:
            FrameTooLarge: *data* is over the peer's limit (nothing sent).
            AddressError: the endpoint is not connected.
            ConnectionRefused: the peer refused an earlier datagram.
            NetkitTimeout: the send buffer stayed full for *timeout* seconds.
        """
        self._check_open()
        size = buffer_size(data)
        if size > self._max_payload:
            raise core.too_large_to_send(size, self._max_payload, self._peer or "the peer")
        await self._retry(functools.partial(self._sock.send, data), False, timeout)

    # -- receiving ---------------------------------------------------------------------

    async def recvfrom(
        self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> Datagram:
        """Receive one datagram and its sender.

        Raises:
            FrameTooLarge: the datagram is longer than *max_size* (its real size is
                reported; it is dropped and the next call gets the next one).
            NetkitTimeout: nothing arrived within *timeout* seconds.
            ConnectionRefused: the peer of a connected endpoint refused a datagram.
            ConnectionClosed: the endpoint is (or gets) closed.
        """
        self._check_open()
        size = core.check_max_size(max_size)
        call = functools.partial(self._sock.recvfrom, size + RECV_EXTRA, RECV_FLAGS)
        data, addr = await self._retry(call, True, timeout)
        senders = self._senders
        sender = senders.get(addr)
        if sender is None:
            sender = core.sender(senders, addr)
        if len(data) > size:
            raise core.truncated(len(data), size, sender)
        return core.new_datagram((data, sender))

    async def recv(
        self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> bytes:
        """Receive one datagram's payload (meant for a connected endpoint).

        Same limits, deadline and errors as :meth:`recvfrom`.
        """
        self._check_open()
        size = core.check_max_size(max_size)
        call = functools.partial(self._sock.recv, size + RECV_EXTRA, RECV_FLAGS)
        data: bytes = await self._retry(call, True, timeout)
        if len(data) > size:
            raise core.truncated(len(data), size, self._peer)
        return data

    # -- multicast (no waiting) --------------------------------------------------------

    # -- closing -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise core.closed()

    def close(self) -> None:
        """Close the endpoint; idempotent. Pending receives raise ``ConnectionClosed``."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if self._readers:
                loop.remove_reader(self._fd)
            if self._writers:
                loop.remove_writer(self._fd)
        self._sock.close()
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


_Opened = tuple[_socket.socket, float | None]


async def _off_loop(host: object, opened: Callable[[], _Opened]) -> _Opened:
    """Run *opened* here for an IP literal, in the executor if it may resolve a name."""
    if core.is_hostname(host):
        return await asyncio.get_running_loop().run_in_executor(None, opened)
    return opened()
