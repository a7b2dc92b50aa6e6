"""The sync :class:`UdpEndpoint`: waits with blocking calls and ``poll``, decides nothing.

Sizes, truncation, targets, senders and errors are :mod:`netkit._core.datagram`'s;
socket set-up and multicast requests are :mod:`netkit._sockets.datagram`'s. What is
here is the waiting, and the hot path: with no timeout the socket stays in blocking
mode and a receive is one ``recvfrom`` call plus a dict lookup that maps the kernel's
address tuple to an already-built :class:`~netkit.addr.Endpoint`.
"""

from __future__ import annotations

import errno
import math
import select
import socket
import time
from collections.abc import Iterable
from socket import AddressFamily
from types import TracebackType
from typing import Any, Final

from netkit._core import datagram as core
from netkit._core.checks import buffer_size, check_timeout
from netkit._core.datagram import (
    DEFAULT_BUFFER,
    DEFAULT_MAX_SIZE,
    MAX_PAYLOAD_IPV4,
    RECV_EXTRA,
    RECV_FLAGS,
    Datagram,
    Target,
    new_datagram,
)
from netkit._sockets import datagram as setup
from netkit.addr import Endpoint
from netkit.options import SocketOptions

__all__ = ["UdpEndpoint"]

_AF6: Final = socket.AF_INET6
_POLLIN: Final = select.POLLIN
_POLLOUT: Final = select.POLLOUT


class UdpEndpoint(setup.DatagramOptions):
    """A UDP socket: send and receive datagrams, optionally connected to one peer.

    Build one with :meth:`bind` or :meth:`connect`, or wrap an existing ``SOCK_DGRAM``
    socket with ``UdpEndpoint(sock)`` (the endpoint takes ownership and manages its
    blocking mode from then on). Use it as a context manager or call :meth:`close`.

    Several threads may use one endpoint (one receiving while another sends, say);
    :meth:`close` from another thread wakes a blocked receive, which then raises
    ``ConnectionClosed``.
    """

    __slots__ = (
        "_addr_cache",
        "_blocking",
        "_closed",
        "_default_timeout",
        "_family",
        "_fast",
        "_fast_size",
        "_fileno",
        "_max_payload",
        "_peer",
        "_pending",
        "_poll_in",
        "_poll_out",
        "_senders",
        "_sock",
        "_v6",
    )

    def __init__(self, sock: socket.socket) -> None:
        # A socket handed over with a timeout keeps it as the default deadline; the
        # socket itself goes back to blocking mode, which the fast path relies on.
        default_timeout, peer = setup.adopt(sock, blocking=True)
        self._sock = sock
        self._family: int = int(sock.family)
        self._v6 = self._family == _AF6
        self._closed = False
        self._pending: BaseException | None = None
        self._senders: dict[Any, Endpoint] = {}
        self._addr_cache: dict[Any, Any] = {}
        self._poll_in: Any = None
        self._poll_out: Any = None
        self._fileno = sock.fileno()
        self._default_timeout = default_timeout
        self._blocking = True
        self._fast = default_timeout is None
        self._fast_size: int | None = DEFAULT_MAX_SIZE if self._fast else None
        self._peer = peer
        self._max_payload = core.socket_limit(self._family, peer)

    # ---------------------------------------------------------------------------------
    # Construction

    @classmethod
    def bind(
        cls, host: str = "127.0.0.1", port: int = 0, *, options: SocketOptions | None = None
    ) -> UdpEndpoint:
        """Bind a new endpoint to *host*:*port* (port 0: an ephemeral one, see ``address``).

        *host* is an IP literal (``"0.0.0.0"`` for every IPv4 address, ``"::"`` for
        every IPv4 and IPv6 address: dual stack unless ``options.v6only``) or a
        hostname (its first address is used). *options* are applied before binding.
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
        resolved and each address is tried in order; ``ConnectFailed`` if none works.
        *source* binds the local side first (an Endpoint, ``(host, port)`` or text).
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
    def socket(self) -> socket.socket:
        """The underlying socket (escape hatch; the endpoint owns its blocking mode)."""
        return self._sock

    @property
    def family(self) -> AddressFamily:
        """``AF_INET`` or ``AF_INET6``."""
        return AddressFamily(self._family)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

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

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        return self._sock.fileno()

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

        ``FrameTooLarge`` before any system call if *data* is over the family's limit.
        """
        if (
            endpoint.__class__ is Endpoint
            and data.__class__ is bytes
            and len(data) <= MAX_PAYLOAD_IPV4
            and (not self._v6 or ":" in endpoint.host)
        ):
            # The hot path: a small payload to an Endpoint (already validated) that
            # needs no IPv4-mapping: hand the pair to the kernel as it is. What the
            # kernel refuses (port 0, IPv6 on IPv4) takes the careful path.
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

        ``FrameTooLarge`` before any system call if *data* is over the peer's limit;
        ``ConnectionRefused`` if an earlier datagram was refused by the peer.
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
        """Send a batch: each item is a payload (to the connected peer) or a
        ``(payload, target)`` pair, so a list of :class:`Datagram` echoes back.

        Every item is checked (size, target) before the first is sent, so a bad item
        sends nothing. Returns the number of datagrams sent.
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

    def recvfrom(
        self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> Datagram:
        """Receive one datagram and its sender.

        ``FrameTooLarge`` (with the real size) if it is longer than *max_size*; that
        datagram is dropped and the next call gets the next one. ``NetkitTimeout`` if
        nothing arrives within *timeout* seconds.
        """
        # _fast: blocking mode, no default deadline, no error pending from recv_many;
        # _fast_size is then the default max_size object itself, so the commonest call
        # (no arguments) is recognised with a single identity test.
        if timeout is None and max_size is self._fast_size:
            try:
                data, addr = self._sock.recvfrom(DEFAULT_BUFFER, RECV_FLAGS)
            except OSError as exc:
                data, addr = self._recv_slow(True, max_size, None, exc)
        elif (
            timeout is None
            and self._fast
            and max_size.__class__ is int
            and 0 <= max_size <= DEFAULT_MAX_SIZE
        ):
            try:
                data, addr = self._sock.recvfrom(max_size + RECV_EXTRA, RECV_FLAGS)
            except OSError as exc:
                data, addr = self._recv_slow(True, max_size, None, exc)
        else:
            max_size = self._before_receive(max_size)
            data, addr = self._recv_slow(True, max_size, timeout, None)
        if len(data) > max_size:
            raise core.truncated(len(data), max_size, core.sender(self._senders, addr))
        try:
            sender = self._senders[addr]
        except KeyError:
            sender = core.sender(self._senders, addr)
        return new_datagram((data, sender))

    def recv(self, *, max_size: int = DEFAULT_MAX_SIZE, timeout: float | None = None) -> bytes:
        """Receive one datagram's payload (meant for a connected endpoint).

        Same limits and deadline as :meth:`recvfrom`; ``ConnectionRefused`` if the
        peer refused an earlier datagram.
        """
        if (
            timeout is None
            and self._fast
            and max_size.__class__ is int
            and 0 <= max_size <= DEFAULT_MAX_SIZE
        ):
            try:
                data: bytes = self._sock.recv(max_size + RECV_EXTRA, RECV_FLAGS)
            except OSError as exc:
                data = self._recv_slow(False, max_size, None, exc)[0]
        else:
            max_size = self._before_receive(max_size)
            data = self._recv_slow(False, max_size, timeout, None)[0]
        if len(data) > max_size:
            raise core.truncated(len(data), max_size, self._peer)
        if not data and self._closed:  # woken by close(), not an empty datagram
            raise core.closed()
        return data

    def recv_many(
        self,
        max_count: int,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        timeout: float | None = None,
    ) -> list[Datagram]:
        """Wait for one datagram (up to *timeout*), then take every datagram already
        queued, up to *max_count*, without waiting again.

        A server drains a burst in one call instead of one call (and one wake-up) per
        datagram. Returns at least one datagram; ``NetkitTimeout`` if none came in time.
        An oversized datagram (or a refusal) met after some were collected ends the
        batch; its error is raised by the next receive call, so order is kept.
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
        bufsize = max_size + RECV_EXTRA
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

    def _before_receive(self, max_size: object) -> int:
        """Raise an error left pending by recv_many; return the validated max_size."""
        error = self._pending
        if error is not None:
            self._pending = None
            self._set_fast(self._blocking and self._default_timeout is None)
            raise error
        return core.check_max_size(max_size)

    def _set_pending(self, error: BaseException) -> None:
        self._pending = error
        self._set_fast(False)

    def _set_default_timeout(self, timeout: float | None) -> None:
        self._default_timeout = timeout
        self._set_fast(self._blocking and timeout is None and self._pending is None)

    def _recv_slow(
        self, with_address: bool, max_size: int, timeout: float | None, failed: OSError | None
    ) -> tuple[bytes, Any]:
        """Receive in the general case: a deadline, non-blocking mode, or after an error.

        *failed* is the error the fast path got, if it ran: a BlockingIOError there
        means another thread switched the socket to non-blocking mode meanwhile.
        """
        if failed is not None and not isinstance(failed, BlockingIOError):
            raise self._error(failed) from failed
        timeout = self._default_timeout if timeout is None else check_timeout("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        if deadline is None and failed is None and not self._blocking:
            self._set_blocking(True)
        elif deadline is not None and self._blocking:
            self._set_blocking(False)
        sock = self._sock
        bufsize = max_size + RECV_EXTRA
        while True:
            try:
                if with_address:
                    return sock.recvfrom(bufsize, RECV_FLAGS)
                return sock.recv(bufsize, RECV_FLAGS), None
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._error(exc) from exc
            if self._closed:
                raise core.closed()
            if deadline is None:
                self._wait(_POLLIN, None)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise core.timed_out(timeout)
            self._wait(_POLLIN, remaining)

    def _wait(self, events: int, timeout: float | None) -> None:
        """Wait until the socket is ready for *events* (or *timeout* seconds pass)."""
        if events == _POLLIN:
            poller = self._poll_in
            if poller is None:
                poller = self._poll_in = select.poll()
                poller.register(self._fileno, _POLLIN)
        else:
            poller = self._poll_out
            if poller is None:
                poller = self._poll_out = select.poll()
                poller.register(self._fileno, _POLLOUT)
        # poll() takes whole milliseconds: round up so we never wake just before the
        # deadline and spin.
        poller.poll(None if timeout is None else math.ceil(timeout * 1000))

    def _set_blocking(self, blocking: bool) -> None:
        try:
            self._sock.setblocking(blocking)
        except OSError as exc:
            raise self._error(exc) from exc
        self._blocking = blocking
        self._set_fast(blocking and self._default_timeout is None and self._pending is None)

    def _set_fast(self, fast: bool) -> None:
        self._fast = fast
        self._fast_size = DEFAULT_MAX_SIZE if fast else None

    # ---------------------------------------------------------------------------------
    # Closing

    def close(self) -> None:
        """Close the endpoint; idempotent. A receive blocked in another thread wakes
        and raises ``ConnectionClosed``."""
        if self._closed:
            return
        self._closed = True
        setup.shut(self._sock)

    def __enter__(self) -> UdpEndpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
