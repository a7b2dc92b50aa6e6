"""TcpClient: resolve, race the addresses (Happy Eyeballs, RFC 8305), optionally TLS.

:meth:`TcpClient.connect` resolves the host (an IP literal skips resolution), orders
the addresses as RFC 8305 section 4 asks (:func:`interleave_addresses`: the families
alternate, starting with the family of the resolver's first answer), and starts one
non-blocking connection attempt every :data:`ATTEMPT_DELAY` seconds, or at once when
an attempt fails, until one succeeds. The first to connect wins; every other socket is
closed before ``connect`` returns. All of it runs in the calling thread on one
selector: no thread per attempt.

The IO-free parts (:func:`interleave_addresses`, :data:`ATTEMPT_DELAY`) are shared with
the asyncio twin.

Failures: every attempt failing raises :class:`~netkit.ConnectFailed` with one
``(Endpoint, exception)`` pair per address tried, in the order they were started. A
``timeout`` that passes first raises :class:`~netkit.NetkitTimeout`, whose
``__cause__`` is a ``ConnectFailed`` listing the attempts (those still running carry a
``NetkitTimeout``). A TLS handshake that fails (certificate not trusted, wrong host
name, protocol error) raises ``ConnectFailed`` with the :class:`ssl.SSLError` in
``attempts`` and as ``__cause__``; a failed name lookup raises
:class:`~netkit.LookupFailed` as :func:`netkit.lookup.resolve` does.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import selectors
import socket
import ssl
import threading
from collections.abc import Iterable, Sequence
from time import monotonic
from typing import Any, NamedTuple, Protocol, TypeVar

from netkit._core.checks import check_port, check_timeout
from netkit.addr import Endpoint, is_ip
from netkit.errors import AddressError, ConnectFailed, NetkitTimeout, describe
from netkit.options import SocketOptions
from netkit.tcp.connection import TcpConnection
from netkit.tls import handshake_error

__all__ = ["ATTEMPT_DELAY", "TcpClient", "interleave_addresses"]

#: RFC 8305 section 5 "Connection Attempt Delay": the next address is tried after
#: this many seconds unless the running attempts have failed or succeeded before.
ATTEMPT_DELAY = 0.25

_C = TypeVar("_C", bound="TcpClient")
_A = TypeVar("_A", bound="_HasFamily")

_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR}
_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.DefaultSelector
)


class _HasFamily(Protocol):
    @property
    def family(self) -> int: ...


def interleave_addresses(addresses: Iterable[_A], *, first_family_count: int = 1) -> list[_A]:
    """Order addresses for connection attempts as RFC 8305 section 4 describes.

    The first family is that of the first address (the resolver's preference, RFC
    6724); *first_family_count* addresses of it come first, then the families
    alternate, each keeping its own order. Works on anything with a ``family``
    attribute (:class:`netkit.lookup.AddrInfo`, for example).
    """
    if not isinstance(first_family_count, int) or first_family_count < 1:
        raise ValueError(f"first_family_count must be >= 1, not {describe(first_family_count)}")
    items = list(addresses)
    if not items:
        return []
    first = items[0].family
    preferred = [a for a in items if a.family == first]
    others = [a for a in items if a.family != first]
    out = preferred[:first_family_count]
    rest = preferred[first_family_count:]
    i = j = 0
    while j < len(others) or i < len(rest):
        if j < len(others):
            out.append(others[j])
            j += 1
        if i < len(rest):
            out.append(rest[i])
            i += 1
    return out


@dataclasses.dataclass(frozen=True)
class _Target:
    family: int
    sockaddr: tuple[Any, ...]
    endpoint: Endpoint


def _resolve(host: str, port: int) -> list[_Target]:
    """The addresses of *host* in the resolver's order (tests replace this)."""
    from netkit.lookup import resolve

    return [
        _Target(int(info.family), tuple(info.sockaddr), info.endpoint)
        for info in resolve(host, port, type=socket.SOCK_STREAM)
    ]


def _literal_target(host: str, port: int) -> _Target:
    endpoint = Endpoint(host, port)
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    return _Target(family, tuple(endpoint.to_sockaddr()), endpoint)


def _resolve_by(host: str, port: int, deadline: float | None) -> list[_Target]:
    """Resolve, giving up at *deadline*.

    ``getaddrinfo`` cannot be interrupted, so with a deadline it runs in a helper
    thread that is abandoned on timeout; it ends by itself when the system resolver
    gives up (its own timeouts, e.g. ``options timeout`` in resolv.conf).
    """
    if deadline is None:
        return _resolve(host, port)
    done = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = _resolve(host, port)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="netkit-resolve", daemon=True).start()
    if not done.wait(max(deadline - monotonic(), 0.0)):
        raise NetkitTimeout(f"resolving {describe(host)} took longer than the timeout")
    if "error" in box:
        error: BaseException = box["error"]
        raise error
    result: list[_Target] = box["result"]
    return result


def _check_host(host: object) -> str:
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not is_ip(host, allow_zone=True) or ":" not in host:
            raise AddressError(f"invalid bracketed host {describe('[' + host + ']')}")
    if not host:
        raise AddressError("host must not be empty")
    return host


def _source_endpoint(source: object) -> tuple[str, int] | None:
    if source is None:
        return None
    if isinstance(source, Endpoint):
        host, port = source.host, source.port
    elif isinstance(source, tuple) and len(source) == 2:
        host, port = source
        if not isinstance(host, str):
            raise TypeError(f"source host must be a str, not {type(host).__name__}")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"source port must be an int, not {type(port).__name__}")
        if not 0 <= port <= 65535:
            raise AddressError(f"source port {describe(port)} is out of range 0..65535")
    else:
        raise TypeError(
            f"source must be an Endpoint or a (host, port) tuple, not {describe(source)}"
        )
    if host and not is_ip(host, allow_zone=True):
        raise AddressError(f"source host must be an IP address or '', not {describe(host)}")
    return host, port


def _source_sockaddr(source: tuple[str, int], family: int) -> tuple[Any, ...] | None:
    """The bind address for *family*, or None if *source* cannot be used with it."""
    host, port = source
    if not host:
        return ("", port) if family == socket.AF_INET else ("::", port, 0, 0)
    endpoint = Endpoint(host, port)
    source_family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    if source_family != family:
        return None
    return tuple(endpoint.to_sockaddr())


def _tls_context(tls: object) -> ssl.SSLContext | None:
    if tls is None or tls is False:
        return None
    if tls is True:
        from netkit.tls import client_context

        return client_context()
    if isinstance(tls, ssl.SSLContext):
        return tls
    raise TypeError(f"tls must be an ssl.SSLContext, True or None, not {type(tls).__name__}")


class _ConnectArgs(NamedTuple):
    host: str
    port: int
    limit: float | None  # the whole call's timeout
    context: ssl.SSLContext | None
    source: tuple[str, int] | None


def _check_connect_args(
    host: object,
    port: object,
    timeout: object,
    options: object,
    tls: object,
    server_hostname: object,
    source: object,
) -> _ConnectArgs:
    """Validate ``connect()``'s arguments, before any lookup or socket (sync and aio)."""
    host = _check_host(host)
    port = check_port(port, allow_zero=False)
    limit = check_timeout("timeout", timeout)
    if options is not None and not isinstance(options, SocketOptions):
        raise TypeError(f"options must be a SocketOptions, not {type(options).__name__}")
    context = _tls_context(tls)
    if server_hostname is not None and not isinstance(server_hostname, str):
        raise TypeError(f"server_hostname must be a str, not {type(server_hostname).__name__}")
    if server_hostname is not None and context is None:
        raise ValueError("server_hostname is only used with tls=")
    return _ConnectArgs(host, port, limit, context, _source_endpoint(source))


def _socket_options(options: SocketOptions | None, family: int) -> SocketOptions:
    """The options to apply before connecting: TCP_NODELAY on unless asked otherwise."""
    opts = options if options is not None else SocketOptions()
    changes: dict[str, Any] = {"timeout": None}  # connect runs non-blocking; see connect()
    if opts.nodelay is None:
        changes["nodelay"] = True
    if family != socket.AF_INET6:
        changes["v6only"] = None  # only meaningful for the IPv6 attempts
    return dataclasses.replace(opts, **changes)


def _os_error(code: int) -> OSError:
    # OSError(errno, text) builds the matching subclass (ConnectionRefusedError, ...).
    return OSError(code, os.strerror(code))


def _open_attempt(
    target: _Target, options: SocketOptions | None, source: tuple[str, int] | None
) -> tuple[socket.socket, int]:
    """Create, configure and start connecting one socket; return it and connect_ex's code."""
    sock = socket.socket(target.family, socket.SOCK_STREAM)
    try:
        _socket_options(options, target.family).apply(sock)
        sock.setblocking(False)
        if source is not None:
            bind_to = _source_sockaddr(source, target.family)
            if bind_to is None:  # filtered out before; kept as a guard
                raise AddressError(f"source {source!r} does not fit {target.endpoint}")
            sock.bind(bind_to)
        return sock, sock.connect_ex(target.sockaddr)
    except BaseException:
        sock.close()
        raise


def _summary(attempts: Sequence[tuple[Endpoint, BaseException]]) -> str:
    """A short account of the failed attempts for a ConnectFailed message."""
    if not attempts:
        return "no address to try"
    parts = [
        f"{ep}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
        for ep, exc in attempts[:3]
    ]
    if len(attempts) > 3:
        parts.append(f"and {len(attempts) - 3} more")
    return "; ".join(parts)


def _race(
    targets: Sequence[_Target],
    deadline: float | None,
    options: SocketOptions | None,
    source: tuple[str, int] | None,
    delay: float,
) -> tuple[tuple[socket.socket, Endpoint] | None, list[tuple[Endpoint, BaseException]], bool]:
    """Happy Eyeballs over *targets*: ((socket, endpoint) of the winner or None,
    the failed attempts, whether the deadline passed)."""
    started: list[_Target] = []
    errors: dict[int, BaseException] = {}  # index in started -> its error
    pending: dict[socket.socket, int] = {}
    selector = _Selector()
    winner: socket.socket | None = None
    winner_index = -1
    timed_out = False
    next_index = 0
    next_start = monotonic()
    try:
        while winner is None:
            now = monotonic()
            if deadline is not None and now >= deadline:
                timed_out = True
                break
            if next_index < len(targets) and (now >= next_start or not pending):
                target = targets[next_index]
                next_index += 1
                next_start = now + delay
                index = len(started)
                started.append(target)
                try:
                    sock, code = _open_attempt(target, options, source)
                except OSError as exc:
                    errors[index] = exc
                    continue
                if code == 0:
                    winner, winner_index = sock, index
                elif code in _IN_PROGRESS:
                    pending[sock] = index
                    selector.register(sock, selectors.EVENT_WRITE, index)
                else:
                    sock.close()
                    errors[index] = _os_error(code)
                continue
            if not pending:
                break  # every address tried and failed
            wait: float | None = next_start - now if next_index < len(targets) else None
            if deadline is not None:
                wait = deadline - now if wait is None else min(wait, deadline - now)
            for key, _ in selector.select(wait):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                selector.unregister(ready)
                index = pending.pop(ready)
                code = ready.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0:
                    winner, winner_index = ready, index
                    break
                ready.close()
                errors[index] = _os_error(code)
                next_start = now  # RFC 8305: a failure starts the next attempt at once
    except BaseException:
        if winner is not None:  # e.g. KeyboardInterrupt right after the win
            winner.close()
        raise
    finally:
        for sock in pending:
            sock.close()
        selector.close()
    if timed_out:
        for index in pending.values():
            errors[index] = NetkitTimeout("no answer before the deadline")
    attempts = [(started[i].endpoint, errors[i]) for i in sorted(errors)]
    if winner is None:
        return None, attempts, timed_out
    return (winner, started[winner_index].endpoint), attempts, timed_out


class TcpClient(TcpConnection):
    """A :class:`TcpConnection` made by :meth:`connect`."""

    __slots__ = ()

    @classmethod
    def connect(
        cls: type[_C],
        host: str,
        port: int,
        *,
        timeout: float | None = None,
        options: SocketOptions | None = None,
        tls: ssl.SSLContext | bool | None = None,
        server_hostname: str | None = None,
        source: Endpoint | tuple[str, int] | None = None,
    ) -> _C:
        """Connect to *host* (a name or an IP literal) on *port* and return the client.

        *timeout* bounds the whole call (resolution, every attempt, the TLS handshake)
        and raises NetkitTimeout. *options* are applied to each socket before it
        connects; TCP_NODELAY is on unless ``options.nodelay`` is False, and
        ``options.timeout`` becomes the connection's default deadline per call. *tls*
        is an :class:`ssl.SSLContext`, or True for :func:`netkit.tls.client_context`;
        *server_hostname* (for SNI and certificate checks) defaults to *host*.
        *source* (an Endpoint or ``(ip, port)``; ``""`` for any address) is bound
        before connecting, and only addresses of its family are tried.
        """
        host, port, limit, context, bind = _check_connect_args(
            host, port, timeout, options, tls, server_hostname, source
        )
        deadline = None if limit is None else monotonic() + limit
        where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"

        if is_ip(host, allow_zone=True):
            targets = [_literal_target(host, port)]
        else:
            targets = interleave_addresses(_resolve_by(host, port, deadline))
        if bind is not None:
            targets = [t for t in targets if _source_sockaddr(bind, t.family) is not None]
            if not targets:
                raise ConnectFailed(
                    f"cannot connect to {where}: no address of the source's family "
                    f"({describe(bind[0])})"
                )

        won, attempts, timed_out = _race(targets, deadline, options, bind, ATTEMPT_DELAY)
        if won is None:
            if timed_out:
                failed = ConnectFailed(f"cannot connect to {where}: timed out", attempts)
                raise NetkitTimeout(f"connect to {where} timed out after {limit} s") from failed
            raise ConnectFailed(f"cannot connect to {where}: {_summary(attempts)}", attempts)
        sock, endpoint = won
        try:
            sock.setblocking(True)
            if context is not None:
                name = server_hostname if server_hostname is not None else host.split("%")[0]
                sock = _handshake(sock, context, name, deadline, endpoint, where, limit)
            if options is not None and options.timeout is not None:
                sock.settimeout(None if math.isinf(options.timeout) else options.timeout)
            return cls(sock)
        except BaseException:
            sock.close()
            raise


def _handshake(
    sock: socket.socket,
    context: ssl.SSLContext,
    server_hostname: str,
    deadline: float | None,
    endpoint: Endpoint,
    where: str,
    limit: float | None,
) -> ssl.SSLSocket:
    """Wrap *sock* in TLS and complete the handshake by *deadline* (closes on failure)."""
    tls_sock = context.wrap_socket(
        sock, server_hostname=server_hostname, do_handshake_on_connect=False
    )
    try:
        if deadline is not None:
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise NetkitTimeout(f"connect to {where} timed out before the TLS handshake")
            tls_sock.settimeout(remaining)
        try:
            tls_sock.do_handshake()
        except OSError as exc:  # timeout, ssl.SSLError, ConnectionResetError, EOF, ...
            error = handshake_error(endpoint, exc, limit)
            raise error from (None if isinstance(error, NetkitTimeout) else exc)
        tls_sock.settimeout(None)
        return tls_sock
    except BaseException:
        tls_sock.close()
        raise
