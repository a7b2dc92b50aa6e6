"""UDP endpoints: unicast, connected, broadcast and multicast datagrams over IPv4/IPv6.

:class:`UdpEndpoint` wraps one ``SOCK_DGRAM`` socket. Its rules:

- **Sizes.** A payload over what the family can carry (65507 bytes on IPv4, 65527 on
  IPv6, 65507 to an IPv4-mapped address) raises :class:`~netkit.errors.FrameTooLarge`
  before any system call. A received datagram over ``max_size`` raises ``FrameTooLarge``
  with its real size: it is never silently cut. The oversized datagram is consumed
  (dropped): leaving it queued would make every later read with the same limit fail on
  it, and the datagrams behind it stay queued for the next call.
- **Deadlines.** ``timeout=`` is a deadline for the whole call (``time.monotonic``):
  the call returns or raises :class:`~netkit.errors.NetkitTimeout` within it.
- **Connected endpoints** (:meth:`UdpEndpoint.connect`) report an ICMP port
  unreachable as :class:`~netkit.errors.ConnectionRefused` on the next call.
- **Errors** are netkit's: bad targets raise ``AddressError`` (``TypeError`` for wrong
  types), unresolvable names ``LookupFailed``, use after ``close()``
  ``ConnectionClosed``. Other kernel errors (``EACCES`` for a broadcast without
  ``SocketOptions(broadcast=True)``, ``ENETUNREACH``...) propagate as ``OSError``.

The hot path is kept lean: with no timeout the socket stays in blocking mode and a
receive is one ``recvfrom`` call plus a dict lookup that maps the kernel's address tuple
to an already-built :class:`~netkit.addr.Endpoint` (building and validating one costs
more than the system call).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import math
import select
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable
from socket import AddressFamily
from types import TracebackType
from typing import Any, Final, NamedTuple, TypeAlias

from netkit._core.checks import buffer_size, check_port, check_size, check_timeout
from netkit.addr import Endpoint, is_ipv4, is_ipv6, pack_ip, parse_endpoint
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
from netkit.options import SocketOptions

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_PAYLOAD_IPV4",
    "MAX_PAYLOAD_IPV6",
    "SAFE_PAYLOAD",
    "Datagram",
    "Target",
    "UdpEndpoint",
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

_AF4: Final = socket.AF_INET
_AF6: Final = socket.AF_INET6

# Linux's recvfrom(..., MSG_TRUNC) returns the datagram's real length even when it was
# longer than the buffer (man 7 udp), so truncation is detected with no extra syscall.
# Elsewhere MSG_TRUNC is not an input flag: read one byte more than allowed instead, so
# an oversized datagram is still detected (its size is then a lower bound).
if sys.platform.startswith("linux"):
    _TRUNC: Final = socket.MSG_TRUNC
    _EXTRA: Final = 0
else:  # pragma: no cover - netkit is tested on Linux
    _TRUNC: Final = 0
    _EXTRA: Final = 1
# recvfrom's buffer for the default max_size.
_DEFAULT_BUFFER: Final = DEFAULT_MAX_SIZE + _EXTRA

# Bounded caches: kernel address tuple -> Endpoint, target -> sockaddr. Cleared when
# full, which keeps lookups O(1) and memory bounded under a flood of distinct senders.
_CACHE_MAX: Final = 4096
_MAX_INTERFACE_NAME: Final = 15  # IFNAMSIZ - 1 on Linux
_IP_MREQN: Final = struct.Struct("=4s4si")  # Linux struct ip_mreqn
_IPV6_MREQ: Final = struct.Struct("=16sI")  # struct ipv6_mreq
_POLLIN: Final = select.POLLIN
_POLLOUT: Final = select.POLLOUT


class Datagram(NamedTuple):
    """One received datagram: its payload and who sent it.

    A tuple, so ``data, sender = endpoint.recvfrom()`` works, and a list of datagrams
    can be given straight back to :meth:`UdpEndpoint.send_many` to echo it.
    """

    data: bytes
    sender: Endpoint


# Datagram((data, sender)) without NamedTuple's Python-level __new__: per datagram this
# is the single largest cost of the wrapper, and a C-level partial halves it.
_new_datagram: Callable[[tuple[bytes, Endpoint]], Datagram] = functools.partial(
    tuple.__new__, Datagram
)


def _trusted_endpoint(host: str, port: int) -> Endpoint:
    """Build an Endpoint from an address the kernel gave, skipping validation.

    Endpoint's own constructor parses and canonicalises the host (microseconds, more
    than the recvfrom itself); the kernel's ``inet_ntop`` text is already canonical, so
    per datagram we only set the two fields. Covered by a test that compares the result
    with ``Endpoint(host, port)``.
    """
    endpoint: Endpoint = object.__new__(Endpoint)
    object.__setattr__(endpoint, "host", host)
    object.__setattr__(endpoint, "port", port)
    return endpoint


def _endpoint_from_kernel(addr: tuple[Any, ...]) -> Endpoint:
    host: str = addr[0]
    port: int = addr[1]
    if len(addr) == 4 and addr[3] and "%" not in host:
        host = f"{host}%{addr[3]}"  # link-local: keep the scope as a numeric zone
    # inet_ntop prints an IPv4-compatible IPv6 address (deprecated) as "::1.2.3.4",
    # which is not netkit's canonical text; let the validating constructor fix it.
    if ":" in host and "." in host and not host.startswith("::ffff:"):
        return Endpoint(host, port)
    return _trusted_endpoint(host, port)


def _check_max_size(value: object) -> int:
    value = check_size("max_size", value)
    # No UDP datagram is bigger than 65535 bytes: a larger limit would only make every
    # receive allocate a bigger buffer, so it is clamped.
    return min(int(value), DEFAULT_MAX_SIZE)


def _payload_limit(family: int, host: str) -> int:
    """The largest payload a socket of *family* can send to *host*."""
    if family == _AF4 or (host.startswith("::ffff:") and "." in host):
        return MAX_PAYLOAD_IPV4
    return MAX_PAYLOAD_IPV6


def _too_large_to_send(size: int, limit: int, where: object) -> FrameTooLarge:
    return FrameTooLarge(
        f"datagram of {size} bytes to {where} exceeds the {limit}-byte UDP limit",
        limit=limit,
        size=size,
    )


def _resolve(host: str, port: int, family: int, flags: int) -> list[tuple[int, Any]]:
    """``getaddrinfo`` for UDP as ``(family, sockaddr)`` pairs in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM, 0, flags)
    except (socket.gaierror, UnicodeError) as exc:
        raise LookupFailed(f"cannot resolve {describe(host)}: {exc}") from exc
    seen: list[tuple[int, Any]] = []
    for fam, _type, _proto, _name, sockaddr in infos:
        item = (int(fam), sockaddr)
        if fam in (_AF4, _AF6) and item not in seen:
            seen.append(item)
    if not seen:
        raise LookupFailed(f"no IPv4 or IPv6 address for {describe(host)}")
    return seen


def _host_endpoint(host: object, port: object, *, allow_zero: bool) -> Endpoint:
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    return Endpoint(host, check_port(port, allow_zero=allow_zero))


def _local_candidates(endpoint: Endpoint, *, passive: bool) -> list[tuple[int, Any]]:
    """``(family, sockaddr)`` candidates for an endpoint: itself if it is an IP literal."""
    family = endpoint.family
    if family is not None:
        return [(int(family), endpoint.to_sockaddr())]
    flags = socket.AI_PASSIVE if passive else 0
    return _resolve(endpoint.host, endpoint.port, socket.AF_UNSPEC, flags)


def _new_socket(family: int, options: SocketOptions | None) -> tuple[socket.socket, float | None]:
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


class UdpEndpoint:
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
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
        if sock.family not in (_AF4, _AF6) or sock.type != socket.SOCK_DGRAM:
            raise ValueError("UdpEndpoint needs an AF_INET or AF_INET6 SOCK_DGRAM socket")
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
        # A socket handed over with a timeout keeps it as the default deadline; the
        # socket itself goes back to blocking mode, which the fast path relies on.
        self._default_timeout = check_timeout("timeout", sock.gettimeout())
        if sock.gettimeout() is not None:
            sock.settimeout(None)
        self._blocking = True
        self._fast = self._default_timeout is None
        self._fast_size: int | None = DEFAULT_MAX_SIZE if self._fast else None
        try:
            peer = sock.getpeername()
        except OSError:
            peer = None
        self._peer: Endpoint | None = None if peer is None else _endpoint_from_kernel(peer)
        self._max_payload = (
            _payload_limit(self._family, self._peer.host)
            if self._peer is not None
            else (MAX_PAYLOAD_IPV4 if self._family == _AF4 else MAX_PAYLOAD_IPV6)
        )

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
        endpoint = _host_endpoint(host, port, allow_zero=True)
        family, sockaddr = _local_candidates(endpoint, passive=True)[0]
        sock, default_timeout = _new_socket(family, options)
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
                raise OSError(exc.errno, f"cannot bind UDP to {endpoint}: {exc.strerror}") from exc
            result = cls(sock)
        except BaseException:
            sock.close()
            raise
        result._set_default_timeout(default_timeout)
        return result

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
        endpoint = _host_endpoint(host, port, allow_zero=False)
        source_ep = None if source is None else _as_endpoint(source)
        candidates = _local_candidates(endpoint, passive=False)
        attempts: list[tuple[object, BaseException]] = []
        for family, sockaddr in candidates:
            sock, default_timeout = _new_socket(family, options)
            try:
                if source_ep is not None:
                    src = _local_candidates(source_ep, passive=True)
                    matching = [addr for fam, addr in src if fam == family]
                    if not matching:
                        raise AddressError(f"source {source_ep} has no {family!r} address")
                    sock.bind(matching[0])
                sock.connect(sockaddr)
                result = cls(sock)
            except OSError as exc:
                sock.close()
                attempts.append((sockaddr, exc))
                continue
            except BaseException:
                sock.close()
                raise
            result._set_default_timeout(default_timeout)
            return result
        raise ConnectFailed(
            f"cannot connect UDP to {endpoint}: "
            + "; ".join(f"{addr!r}: {exc}" for addr, exc in attempts),
            attempts,
        )

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
            return _endpoint_from_kernel(self._sock.getsockname())
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
            limit = _payload_limit(self._family, addr[0])
            if size > limit:
                raise _too_large_to_send(size, limit, endpoint)
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
            raise _too_large_to_send(size, self._max_payload, self._peer or "the peer")
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
        plan: list[tuple[Any, Any]] = []
        cache = self._addr_cache
        v6 = self._v6
        for item in datagrams:
            if isinstance(item, tuple):
                if len(item) != 2:
                    raise TypeError("send_many items are payloads or (payload, target) pairs")
                data, target = item
                size = len(data) if data.__class__ is bytes else buffer_size(data)
                if target.__class__ is Endpoint and target.port and (":" in target.host) is v6:
                    addr: Any = (target.host, target.port)  # as in sendto
                else:
                    try:
                        addr = cache.get(target)
                    except TypeError:  # unhashable: _sockaddr says why it is wrong
                        addr = None
                    if addr is None:
                        addr = self._sockaddr(target)
                if size > MAX_PAYLOAD_IPV4:
                    limit = _payload_limit(self._family, addr[0])
                    if size > limit:
                        raise _too_large_to_send(size, limit, target)
                plan.append((data, addr))
            else:
                size = buffer_size(item)
                if size > self._max_payload:
                    raise _too_large_to_send(size, self._max_payload, self._peer or "the peer")
                plan.append((item, None))
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
        endpoint = _as_endpoint(target)
        if endpoint.port == 0:
            raise AddressError(f"cannot send to port 0 ({describe(target)})")
        family = endpoint.family
        if family is None:
            flags = socket.AI_V4MAPPED if self._family == _AF6 else 0
            return _resolve(endpoint.host, endpoint.port, self._family, flags)[0][1]
        if family == _AF4:
            addr: Any = endpoint.to_sockaddr()
            if self._family == _AF6:
                addr = ("::ffff:" + endpoint.host, endpoint.port, 0, 0)
        elif self._family == _AF4:
            raise AddressError(f"cannot send to IPv6 {endpoint} from an IPv4 endpoint")
        else:
            addr = endpoint.to_sockaddr()
        cache = self._addr_cache
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        try:
            cache[target] = addr
        except TypeError:
            pass
        return addr

    def _sendto_retry(self, exc: OSError, data: Any, endpoint: Target) -> None:
        """sendto failed on the fast path: resolve *endpoint* carefully and try again."""
        if self._closed:
            raise self._error(exc) from exc
        if isinstance(exc, socket.gaierror) or exc.errno in (errno.EINVAL, errno.EAFNOSUPPORT):
            # _sockaddr raises AddressError/LookupFailed for a bad target.
            addr = self._sockaddr(endpoint)
            size = buffer_size(data)
            limit = _payload_limit(self._family, addr[0])
            if size > limit:
                raise _too_large_to_send(size, limit, endpoint) from None
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
        if exc.errno == errno.EDESTADDRREQ and not self._closed:
            raise AddressError("send() needs a connected endpoint; use sendto()") from exc
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
                data, addr = self._sock.recvfrom(_DEFAULT_BUFFER, _TRUNC)
            except OSError as exc:
                data, addr = self._recv_slow(True, max_size, None, exc)
        elif (
            timeout is None
            and self._fast
            and max_size.__class__ is int
            and 0 <= max_size <= DEFAULT_MAX_SIZE
        ):
            try:
                data, addr = self._sock.recvfrom(max_size + _EXTRA, _TRUNC)
            except OSError as exc:
                data, addr = self._recv_slow(True, max_size, None, exc)
        else:
            max_size = self._before_receive(max_size)
            data, addr = self._recv_slow(True, max_size, timeout, None)
        if len(data) > max_size:
            raise self._too_large(len(data), max_size, _endpoint_from_kernel(addr))
        try:
            sender = self._senders[addr]
        except KeyError:
            sender = self._new_sender(addr)
        return _new_datagram((data, sender))

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
                data: bytes = self._sock.recv(max_size + _EXTRA, _TRUNC)
            except OSError as exc:
                data = self._recv_slow(False, max_size, None, exc)[0]
        else:
            max_size = self._before_receive(max_size)
            data = self._recv_slow(False, max_size, timeout, None)[0]
        if len(data) > max_size:
            raise self._too_large(len(data), max_size, self._peer)
        if not data and self._closed:  # woken by close(), not an empty datagram
            raise ConnectionClosed("UdpEndpoint is closed")
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
        bufsize = max_size + _EXTRA
        batch: list[Datagram] = []
        while True:
            try:
                data, addr = recvfrom(bufsize, _TRUNC)
            except BlockingIOError:
                if batch:
                    return batch
                if deadline is None:
                    self._wait(_POLLIN, None)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise NetkitTimeout(f"no datagram received within {timeout} s") from None
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
                    ConnectionClosed("UdpEndpoint is closed")
                    if addr is None
                    else self._too_large(len(data), max_size, _endpoint_from_kernel(addr))
                )
                if not batch:
                    raise error
                self._set_pending(error)
                return batch
            sender = senders.get(addr)
            if sender is None:
                sender = self._new_sender(addr)
            batch.append(_new_datagram((data, sender)))
            if len(batch) >= max_count:
                return batch

    def _before_receive(self, max_size: object) -> int:
        """Raise an error left pending by recv_many; return the validated max_size."""
        error = self._pending
        if error is not None:
            self._pending = None
            self._set_fast(self._blocking and self._default_timeout is None)
            raise error
        return _check_max_size(max_size)

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
        bufsize = max_size + _EXTRA
        while True:
            try:
                if with_address:
                    return sock.recvfrom(bufsize, _TRUNC)
                return sock.recv(bufsize, _TRUNC), None
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._error(exc) from exc
            if self._closed:
                raise ConnectionClosed("UdpEndpoint is closed")
            if deadline is None:
                self._wait(_POLLIN, None)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NetkitTimeout(f"no datagram received within {timeout} s")
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

    def _new_sender(self, addr: Any) -> Endpoint:
        if addr is None:  # recvfrom woken by shutdown() in close()
            raise ConnectionClosed("UdpEndpoint is closed")
        sender = _endpoint_from_kernel(addr)
        senders = self._senders
        if len(senders) >= _CACHE_MAX:
            senders.clear()
        senders[addr] = sender
        return sender

    def _too_large(self, size: int, max_size: int, sender: object) -> FrameTooLarge:
        # Linux reports the real size; elsewhere only that it is over the limit.
        shown = f"{size}" if _EXTRA == 0 else f"more than {max_size}"
        return FrameTooLarge(
            f"datagram of {shown} bytes from {sender} exceeds max_size={max_size}"
            " (it was dropped)",
            limit=max_size,
            size=size,
        )

    def _error(self, exc: OSError) -> BaseException:
        """The netkit error for a failed socket call (or *exc* itself)."""
        if self._closed:
            return ConnectionClosed("UdpEndpoint is closed")
        if isinstance(exc, ConnectionRefusedError) and not isinstance(exc, ConnectionRefused):
            peer = self._peer if self._peer is not None else "the peer"
            error = ConnectionRefused(
                exc.errno, f"{peer} refused a datagram (ICMP port unreachable)"
            )
            error.__cause__ = exc
            return error
        return exc

    # ---------------------------------------------------------------------------------
    # Multicast

    def join_multicast(self, group: str, interface: str | int | None = None) -> None:
        """Join multicast *group* (``224.0.0.0/4`` or ``ff00::/8``) to receive its traffic.

        *interface*: ``None`` lets the kernel choose (by route), an interface name
        (``"eth0"``) or index, or for IPv4 also a local address (``"127.0.0.1"``).
        Bind to the group's port on ``"0.0.0.0"``/``"::"`` (or the group address) to
        receive. IPv4 groups may be joined on a dual-stack IPv6 endpoint (Linux).
        """
        self._membership(group, interface, join=True)

    def leave_multicast(self, group: str, interface: str | int | None = None) -> None:
        """Leave a group joined with :meth:`join_multicast` (same arguments)."""
        self._membership(group, interface, join=False)

    def _membership(self, group: object, interface: object, *, join: bool) -> None:
        packed = _multicast_group(group)
        if len(packed) == 4:
            level = socket.IPPROTO_IP
            option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
            value = _ipv4_interface_request(packed, interface)
        else:
            if self._family != _AF6:
                raise AddressError(f"cannot join IPv6 group {group} on an IPv4 endpoint")
            level = socket.IPPROTO_IPV6
            option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
            value = _IPV6_MREQ.pack(packed, _ipv6_interface_index(interface))
        try:
            self._sock.setsockopt(level, option, value)
        except OSError as exc:
            if self._closed:
                raise self._error(exc) from exc
            action = "join" if join else "leave"
            raise OSError(
                exc.errno, f"cannot {action} multicast group {group}: {exc.strerror}"
            ) from exc

    def set_multicast_interface(self, interface: str | int | None) -> None:
        """Send multicast through *interface* (name, index, or IPv4 local address;
        ``None``: the kernel's choice by route)."""
        if self._family == _AF4:
            if interface is None:
                value = socket.inet_aton("0.0.0.0")
            elif isinstance(interface, str) and is_ipv4(interface):
                value = socket.inet_aton(interface)
            else:
                value = _IP_MREQN.pack(b"\0" * 4, b"\0" * 4, _interface_index(interface))
            self._setopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, value)
        else:
            index = _ipv6_interface_index(interface)
            self._setopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)

    @property
    def multicast_ttl(self) -> int:
        """Hop limit of sent multicast (IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS), 0..255.

        The system default is 1 (stay on the local network); 0 keeps it on this host.
        """
        if self._family == _AF4:
            return self._getopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)
        return self._getopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS)

    @multicast_ttl.setter
    def multicast_ttl(self, ttl: int) -> None:
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            raise TypeError(f"multicast_ttl must be an int, not {type(ttl).__name__}")
        if not 0 <= ttl <= 255:
            raise ValueError(f"multicast_ttl must be in 0..255, not {ttl}")
        if self._family == _AF4:
            self._setopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        else:
            self._setopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)

    @property
    def multicast_loop(self) -> bool:
        """Whether multicast this endpoint sends is also delivered to this host."""
        if self._family == _AF4:
            return bool(self._getopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP))
        return bool(self._getopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP))

    @multicast_loop.setter
    def multicast_loop(self, loop: bool) -> None:
        if not isinstance(loop, bool):
            raise TypeError(f"multicast_loop must be a bool, not {type(loop).__name__}")
        if self._family == _AF4:
            self._setopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(loop))
        else:
            self._setopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, int(loop))

    def _getopt(self, level: int, option: int) -> int:
        try:
            return self._sock.getsockopt(level, option)
        except OSError as exc:
            raise self._error(exc) from exc

    def _setopt(self, level: int, option: int, value: int | bytes) -> None:
        try:
            self._sock.setsockopt(level, option, value)
        except OSError as exc:
            raise self._error(exc) from exc

    # ---------------------------------------------------------------------------------
    # Closing

    def close(self) -> None:
        """Close the endpoint; idempotent. A receive blocked in another thread wakes
        and raises ``ConnectionClosed``."""
        if self._closed:
            return
        self._closed = True
        try:
            # close() alone does not wake a thread blocked in recvfrom on Linux;
            # shutdown() does (it fails with ENOTCONN on an unconnected socket but
            # still wakes the waiters).
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> UdpEndpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _as_endpoint(target: object) -> Endpoint:
    """An Endpoint from an Endpoint, a ``(host, port)`` tuple or ``"host:port"`` text."""
    if isinstance(target, Endpoint):
        return target
    if isinstance(target, str):
        return parse_endpoint(target)
    if isinstance(target, tuple):
        if len(target) != 2:
            raise TypeError(f"expected a (host, port) tuple, got {describe(target)}")
        return _host_endpoint(target[0], target[1], allow_zero=True)
    raise TypeError(
        f"expected an Endpoint, a (host, port) tuple or 'host:port' text, not {describe(target)}"
    )


def _multicast_group(group: object) -> bytes:
    """Packed address of a multicast group given as text; AddressError otherwise."""
    if not isinstance(group, str):
        raise TypeError(f"group must be a str, not {type(group).__name__}")
    if not (is_ipv4(group) or is_ipv6(group)):
        raise AddressError(f"multicast group must be an IP address, not {describe(group)}")
    packed = pack_ip(group)
    if (len(packed) == 4 and packed[0] >> 4 != 0xE) or (len(packed) == 16 and packed[0] != 0xFF):
        raise AddressError(f"{group} is not a multicast address (224.0.0.0/4 or ff00::/8)")
    return packed


def _interface_index(interface: object) -> int:
    """Index of an interface given by name or index."""
    if isinstance(interface, bool) or not isinstance(interface, (int, str)):
        raise TypeError(
            f"interface must be a name, an index or None, not {type(interface).__name__}"
        )
    if isinstance(interface, int):
        if not 1 <= interface <= 2**32 - 1:
            raise AddressError(f"interface index {interface} out of range")
        return interface
    if not interface or len(interface) > _MAX_INTERFACE_NAME or not interface.isprintable():
        raise AddressError(f"invalid interface name {describe(interface)}")
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise AddressError(f"no network interface named {describe(interface)}") from None


def _ipv6_interface_index(interface: object) -> int:
    if interface is None:
        return 0
    if isinstance(interface, str) and is_ipv6(interface):
        raise AddressError(
            f"IPv6 multicast needs an interface name or index, not the address {interface}"
        )
    return _interface_index(interface)


def _ipv4_interface_request(packed_group: bytes, interface: object) -> bytes:
    """``struct ip_mreq`` (by local address) or ``ip_mreqn`` (by interface index)."""
    if interface is None:
        return packed_group + bytes(4)
    if isinstance(interface, str) and is_ipv4(interface):
        return packed_group + socket.inet_aton(interface)
    if not sys.platform.startswith("linux"):  # pragma: no cover
        raise NotImplementedError("joining an IPv4 group by interface name needs Linux")
    return _IP_MREQN.pack(packed_group, bytes(4), _interface_index(interface))
