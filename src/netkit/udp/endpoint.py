"""The sync :class:`UdpEndpoint`: waits with blocking calls and ``poll``, decides nothing.

Sizes, truncation, targets, senders and errors are :mod:`netkit._core.datagram`'s;
socket set-up and multicast requests are :mod:`netkit._sockets.datagram`'s; the waiting
and the receive hot path (one ``recvfrom`` call plus a dict lookup that maps the
kernel's address tuple to an already-built :class:`~netkit.addr.Endpoint`) are the
message engine's (:mod:`netkit.udp._engine`), shared with Unix datagrams. What is here
is UDP's sending, with its own hot path, and ``recv_many``.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Iterable
from socket import AddressFamily
from typing import Any, Final

from netkit._core import datagram as core
from netkit._core.checks import buffer_size, check_timeout
from netkit._core.datagram import (
    DEFAULT_MAX_SIZE,
    MAX_PAYLOAD_IPV4,
    RECV_FLAGS,
    Datagram,
    Target,
    new_datagram,
)
from netkit._sockets import datagram as setup
from netkit.addr import Endpoint
from netkit.options import SocketOptions
from netkit.udp._engine import DatagramEngine

__all__ = ["UdpEndpoint"]

_AF6: Final = socket.AF_INET6
_POLLIN: Final = select.POLLIN
_POLLOUT: Final = select.POLLOUT


class UdpEndpoint(setup.DatagramOptions, DatagramEngine[Endpoint]):
    """A UDP socket: send and receive datagrams, optionally connected to one peer.

    Build one with :meth:`bind` or :meth:`connect`, or wrap an existing ``SOCK_DGRAM``
    socket with ``UdpEndpoint(sock)``. Use it as a context manager or call :meth:`close`.

    Several threads may use one endpoint (one receiving while another sends, say);
    :meth:`close` from another thread wakes a blocked receive, which then raises
    ``ConnectionClosed``.

    Args:
        sock: an ``AF_INET`` or ``AF_INET6`` ``SOCK_DGRAM`` socket; the endpoint takes
            ownership and manages its blocking mode from then on (a timeout it had
            becomes the default deadline).

    Raises:
        TypeError: *sock* is not a ``socket.socket``.
        ValueError: *sock* is not an ``AF_INET``/``AF_INET6`` ``SOCK_DGRAM`` socket.
    """

    __slots__ = (
        "_addr_cache",
        "_family",
        "_max_payload",
        "_peer",
        "_v6",
    )

    def __init__(self, sock: socket.socket) -> None:
        # A socket handed over with a timeout keeps it as the default deadline; the
        # socket itself goes back to blocking mode, which the fast path relies on.
        default_timeout, peer = setup.adopt(sock, blocking=True)
        super().__init__(sock, default_timeout)
        self._family: int = int(sock.family)
        self._v6 = self._family == _AF6
        self._addr_cache: dict[Any, Any] = {}
        self._peer = peer
        self._max_payload = core.socket_limit(self._family, peer)

    # ---------------------------------------------------------------------------------
    # Construction

    @classmethod
    def bind(
        cls, host: str = "127.0.0.1", port: int = 0, *, options: SocketOptions | None = None
    ) -> UdpEndpoint:
        """Bind a new endpoint to *host*:*port* (port 0: an ephemeral one, see ``address``).

        Args:
            host: an IP literal (``"0.0.0.0"`` for every IPv4 address, ``"::"`` for every
                IPv4 and IPv6 address: dual stack unless ``options.v6only``) or a hostname
                (its first address is used).
            port: the port, 0 for an ephemeral one.
            options: applied before binding; ``options.timeout`` becomes the default
                deadline of each call.

        Returns:
            The bound endpoint.

        Raises:
            TypeError: a *host*, *port* or *options* of the wrong type.
            AddressError: a malformed *host* or out-of-range *port*.
            LookupFailed: the name does not resolve.
            OSError: the address cannot be bound (in use, not local...).
        """
        return cls._adopt(*setup.open_bound(host, port, options))

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        options: SocketOptions | None = None,
        source: Target | None = None,
    ) -> UdpEndpoint:
        """A new endpoint connected to *host*:*port*: use :meth:`send` and :meth:`recv`.

        Connecting a UDP socket sends nothing; it fixes the peer, so only its
        datagrams are received and an ICMP port unreachable it causes is reported (as
        :class:`~netkit.errors.ConnectionRefused`) on the next call. A hostname is
        resolved and each address is tried in order.

        Args:
            host: an IP literal or a hostname.
            port: the peer's port, 1..65535.
            options: applied before connecting; ``options.timeout`` becomes the default
                deadline of each call.
            source: the local side to bind first (an Endpoint, ``(host, port)`` or text).

        Returns:
            The connected endpoint.

        Raises:
            TypeError: an argument of the wrong type.
            AddressError: a malformed *host* or *source*, or an out-of-range *port*.
            LookupFailed: the name does not resolve.
            ConnectFailed: no address of *host* could be connected to.
        """
        return cls._adopt(*setup.open_connected(host, port, options, source))

    @classmethod
    def _adopt(cls, sock: socket.socket, default_timeout: float | None) -> UdpEndpoint:
        try:
            result = cls(sock)
        except BaseException:
            sock.close()
            raise
        result._set_default_timeout(default_timeout)
        return result

    # ---------------------------------------------------------------------------------
    # Properties

    @property
    def family(self) -> AddressFamily:
        """``AF_INET`` or ``AF_INET6``."""
        return AddressFamily(self._family)

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
            return "<UdpEndpoint closed>"
        try:
            local = str(self.address)
        except OSError:
            local = "?"
        peer = "" if self._peer is None else f" peer={self._peer}"
        return f"<UdpEndpoint {local}{peer}>"

    # ---------------------------------------------------------------------------------
    # Sending

    def sendto(self, data: bytes | bytearray | memoryview, endpoint: Target) -> None:
        """Send one datagram to *endpoint* (an Endpoint, ``(host, port)`` or text).

        Args:
            data: the payload.
            endpoint: where to send it; a hostname is resolved on every call.

        Raises:
            FrameTooLarge: *data* is over the destination family's limit (checked before
                any system call; nothing sent).
            TypeError: *data* is not bytes-like, or *endpoint* is not a target.
            AddressError: a malformed *endpoint*, or one of the other address family.
            LookupFailed: a target name does not resolve.
            ConnectionClosed: the endpoint is closed.
        """
        if (
            endpoint.__class__ is Endpoint
            and data.__class__ is bytes
            and len(data) <= MAX_PAYLOAD_IPV4
            and (":" in endpoint.host if self._v6 else endpoint.host.rpartition(".")[2].isdigit())
        ):
            # The hot path: a small payload to an Endpoint (already validated) that
            # needs no IPv4-mapping: hand the pair to the kernel as it is. What the
            # kernel refuses (port 0, IPv6 on IPv4) takes the careful path. Only an IP
            # literal may take it: socket.sendto would resolve a name itself, past
            # netkit's resolver (an Endpoint's host with an all-digit last label is an
            # IPv4 address: such host names are refused).
            try:
                self._sock.sendto(data, (endpoint.host, endpoint.port))
            except OSError as exc:
                self._sendto_retry(exc, data, endpoint)
            return
        size = buffer_size(data)
        try:
            addr = self._addr_cache.get(endpoint)
        except TypeError:  # unhashable: certainly not a valid target
            addr = None
        if addr is None or size > MAX_PAYLOAD_IPV4:
            addr = self._sockaddr(endpoint)
            # The exact destination family decides the limit (IPv6 allows more).
            limit = core.payload_limit(self._family, addr[0])
            if size > limit:
                raise core.too_large_to_send(size, limit, endpoint)
        try:
            self._sock.sendto(data, addr)
        except OSError as exc:
            self._sendto_retry(exc, data, endpoint)

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send one datagram to the connected peer.

        Args:
            data: the payload.

        Raises:
            FrameTooLarge: *data* is over the peer's limit (checked before any system call;
                nothing sent).
            TypeError: *data* is not bytes-like.
            AddressError: the endpoint is not connected (use :meth:`sendto`).
            ConnectionRefused: the peer refused an earlier datagram.
            ConnectionClosed: the endpoint is closed.
        """
        size = len(data) if data.__class__ is bytes else buffer_size(data)
        if size > self._max_payload:
            raise core.too_large_to_send(size, self._max_payload, self._peer or "the peer")
        try:
            self._sock.send(data)
        except OSError as exc:
            self._send_retry(exc, data, None)

    def send_many(
        self,
        datagrams: Iterable[bytes | bytearray | memoryview | tuple[Any, Target]],
    ) -> int:
        """Send a batch of datagrams; a list of :class:`Datagram` echoes back.

        Every item is checked (size, target) before the first is sent, so a bad item
        sends nothing.

        Args:
            datagrams: payloads (to the connected peer) or ``(payload, target)`` pairs.

        Returns:
            The number of datagrams sent.

        Raises:
            FrameTooLarge: an item is over its destination's limit (nothing sent).
            TypeError: an item is not a payload or a ``(payload, target)`` pair.
            AddressError: a bad target, or a bare payload on an unconnected endpoint.
            LookupFailed: a target name does not resolve.
            ConnectionRefused: the peer refused an earlier datagram.
            ConnectionClosed: the endpoint is closed.
        """
        plan = setup.plan_batch(datagrams, self._family, self._addr_cache, self._peer)
        sock = self._sock
        for data, addr in plan:
            try:
                if addr is None:
                    sock.send(data)
                else:
                    sock.sendto(data, addr)
            except OSError as exc:
                self._send_retry(exc, data, addr)
        return len(plan)

    def _sockaddr(self, target: object) -> Any:
        """The sockaddr for *target* on this socket, validating it (the careful path).

        IP-literal results are cached; hostnames are resolved on every call (as the
        stdlib does) so that DNS changes are seen.
        """
        return setup.target_sockaddr(target, self._family, self._addr_cache)

    def _sendto_retry(self, exc: OSError, data: Any, endpoint: Target) -> None:
        """sendto failed on the fast path: resolve *endpoint* carefully and try again."""
        if self._closed:
            raise self._error(exc) from exc
        if isinstance(exc, socket.gaierror) or exc.errno in (errno.EINVAL, errno.EAFNOSUPPORT):
            # _sockaddr raises AddressError/LookupFailed for a bad target.
            addr = self._sockaddr(endpoint)
            size = buffer_size(data)
            limit = core.payload_limit(self._family, addr[0])
            if size > limit:
                raise core.too_large_to_send(size, limit, endpoint) from None
            try:
                self._sock.sendto(data, addr)
            except OSError as again:
                self._send_retry(again, data, addr)
            return
        if isinstance(exc, BlockingIOError):
            self._send_retry(exc, data, self._sockaddr(endpoint))
            return
        raise self._error(exc) from exc

    def _send_retry(self, exc: OSError, data: Any, addr: Any) -> None:
        """A send failed: wait out a full buffer (non-blocking mode), else translate."""
        while isinstance(exc, BlockingIOError) and not self._closed:
            self._wait(_POLLOUT, None)
            try:
                if addr is None:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
                return
            except OSError as again:
                exc = again
        raise self._error(exc) from exc

    # ---------------------------------------------------------------------------------
    # Receiving

    def recv_many(
        self,
        max_count: int,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        timeout: float | None = None,
    ) -> list[Datagram]:
        """Wait for one datagram, then take every datagram already queued, up to *max_count*.

        A server drains a burst in one call instead of one call (and one wake-up) per
        datagram. An oversized datagram (or a refusal) met after some were collected ends
        the batch; its error is raised by the next receive call, so order is kept.

        Args:
            max_count: the most datagrams to return, at least 1.
            max_size: the largest payload accepted.
            timeout: seconds to wait for the first datagram (``None``: the endpoint's
                default, usually no limit); the rest are taken without waiting.

        Returns:
            At least one datagram, in arrival order.

        Raises:
            NetkitTimeout: no datagram came within *timeout* seconds.
            FrameTooLarge: the first datagram is over *max_size* (it is consumed).
            ConnectionRefused: the peer of a connected endpoint refused a datagram.
            ConnectionClosed: the endpoint is (or gets) closed.
            TypeError: a *max_count*, *max_size* or *timeout* of the wrong type.
            ValueError: a *max_count*, *max_size* or *timeout* out of range.
        """
        if not isinstance(max_count, int) or isinstance(max_count, bool):
            raise TypeError(f"max_count must be an int, not {type(max_count).__name__}")
        if max_count < 1:
            raise ValueError(f"max_count must be >= 1, not {max_count}")
        max_size = self._before_receive(max_size)
        timeout = self._default_timeout if timeout is None else check_timeout("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        # Draining needs non-blocking mode; the first wait uses poll() so a server that
        # only calls recv_many never switches modes (one ioctl each way) per batch.
        if self._blocking:
            self._set_blocking(False)
        recvfrom = self._sock.recvfrom
        senders = self._senders
        bufsize = core.buffer_for(max_size)
        batch: list[Datagram] = []
        while True:
            try:
                data, addr = recvfrom(bufsize, RECV_FLAGS)
            except BlockingIOError:
                if batch:
                    return batch
                if deadline is None:
                    self._wait(_POLLIN, None)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise core.timed_out(timeout) from None
                self._wait(_POLLIN, remaining)
                continue
            except OSError as exc:
                error = self._error(exc)
                if not batch:
                    raise error from exc
                self._set_pending(error)
                return batch
            if addr is None or len(data) > max_size:
                error = (
                    core.closed()
                    if addr is None
                    else core.truncated(len(data), max_size, core.sender(self._senders, addr))
                )
                if not batch:
                    raise error
                self._set_pending(error)
                return batch
            sender = senders.get(addr)
            if sender is None:
                sender = core.sender(senders, addr)
            batch.append(new_datagram((data, sender)))
            if len(batch) >= max_count:
                return batch
