"""The connect planner: argument checks, targets, Happy Eyeballs (RFC 8305), ConnectFailed.

Both faces drive it the same way and only wait in between::

    args = check_connect_args(host, port, timeout, options, tls, server_hostname, source)
    deadline = args.deadline(now)
    targets = literal_targets(args.host, args.port)  # None: a name to resolve, under
                                                     # the deadline (resolve_timeout())
    plan = HappyEyeballs.plan(args, targets, deadline)
    while (step := plan.step(now)) is not None:
        # Start: start step.target (netkit._sockets.connect.start_attempt) and report
        #        plan.failed(i, error) or plan.succeeded(i) if it ended at once;
        # Wait:  wait up to step.timeout (None: no limit) for a running attempt, report.
    plan.winner  # the Target that connected; None: raise plan.error()

Nothing here waits, reads a clock or touches a socket: *now* comes from the face
(``time.monotonic()`` or ``loop.time()``), so both faces make the same attempts in the
same order and fail with the same exception, message and ``attempts``.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol, TypeVar

from netkit._core.checks import check_host, check_port, check_timeout
from netkit._core.sockaddr import endpoint as _endpoint
from netkit.addr import Endpoint, is_ip
from netkit.errors import AddressError, ConnectFailed, NetkitTimeout, describe
from netkit.options import SocketOptions

__all__ = [
    "ATTEMPT_DELAY",
    "DEFAULT_OPTIONS",
    "ConnectArgs",
    "HappyEyeballs",
    "Start",
    "Target",
    "Wait",
    "attempt_error",
    "check_connect_args",
    "in_progress",
    "interleave_addresses",
    "literal_targets",
    "resolve_timeout",
    "socket_options",
    "source_sockaddr",
    "target",
]

#: RFC 8305 section 5 "Connection Attempt Delay": the next address is tried after
#: this many seconds unless the running attempts have failed or succeeded before.
ATTEMPT_DELAY = 0.25

#: What :func:`socket_options` gives when no options were passed (either family).
DEFAULT_OPTIONS = SocketOptions(nodelay=True)

_A = TypeVar("_A", bound="_HasFamily")

# connect_ex() codes that mean "started, not finished" for a non-blocking socket.
_IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR})


class _HasFamily(Protocol):
    @property
    def family(self) -> int: ...


def interleave_addresses(addresses: Iterable[_A], *, first_family_count: int = 1) -> list[_A]:
    """Order addresses for connection attempts as RFC 8305 section 4 describes.

    The first family is that of the first address (the resolver's preference, RFC
    6724); *first_family_count* addresses of it come first, then the families
    alternate, each keeping its own order. Works on anything with a ``family``
    attribute (:class:`netkit.lookup.AddrInfo`, for example).

    Parameters:
        addresses: the resolver's answers, in its order.
        first_family_count: how many of the first family to try before alternating.

    Returns:
        A new list with the same items, reordered.

    Raises:
        ValueError: *first_family_count* is not an int >= 1.
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


# -- targets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One address to try: its family, the sockaddr ``connect`` takes, its Endpoint."""

    family: int
    sockaddr: tuple[Any, ...]
    endpoint: Endpoint


def target(family: int, sockaddr: Sequence[Any]) -> Target:
    """The :class:`Target` for a resolver's ``(family, sockaddr)``."""
    address = tuple(sockaddr)
    return Target(int(family), address, _endpoint(address))


def literal_targets(host: str, port: int) -> list[Target] | None:
    """The one target of an IP literal *host*, or None when *host* is a name to resolve."""
    if not is_ip(host, allow_zone=True):
        return None
    endpoint = Endpoint(host, port)
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    return [Target(family, tuple(endpoint.to_sockaddr()), endpoint)]


def resolve_timeout(host: str) -> NetkitTimeout:
    """The error when resolving *host* outlasts the connect's timeout."""
    return NetkitTimeout(f"resolving {describe(host)} took longer than the timeout")


# -- arguments ----------------------------------------------------------------------------


def _source_endpoint(source: object) -> tuple[str, int] | None:
    if source is None:
        return None
    if isinstance(source, Endpoint):
        host, port = source.host, source.port
    elif isinstance(source, tuple) and len(source) == 2:
        host, port = source
        if not isinstance(host, str):
            raise TypeError(f"source host must be a str, not {type(host).__name__}")
        port = check_port(port, allow_zero=True, name="source port")
    else:
        raise TypeError(
            f"source must be an Endpoint or a (host, port) tuple, not {describe(source)}"
        )
    if host and not is_ip(host, allow_zone=True):
        raise AddressError(f"source host must be an IP address or '', not {describe(host)}")
    return host, port


def _tls_context(tls: object) -> ssl.SSLContext | None:
    if tls is None or tls is False:
        return None
    if tls is True:
        from netkit.tls import client_context  # builds a context: only when asked

        return client_context()
    if isinstance(tls, ssl.SSLContext):
        return tls
    raise TypeError(f"tls must be an ssl.SSLContext, True or None, not {type(tls).__name__}")


class ConnectArgs(NamedTuple):
    """``connect()``'s arguments, checked (see :func:`check_connect_args`)."""

    host: str  # without [brackets]
    port: int
    limit: float | None  # the whole call's timeout in seconds; None: no limit
    options: SocketOptions | None
    context: ssl.SSLContext | None
    server_hostname: str | None
    source: tuple[str, int] | None  # (ip or "", port) to bind before connecting

    @property
    def where(self) -> str:
        """``host:port`` (``[v6]:port``) as the error messages name the destination."""
        host = self.host
        return f"{host}:{self.port}" if ":" not in host else f"[{host}]:{self.port}"

    @property
    def server_name(self) -> str | None:
        """The TLS server name (SNI, certificate check): None without TLS."""
        if self.context is None:
            return None
        if self.server_hostname is not None:
            return self.server_hostname
        return self.host.split("%")[0]  # a zone is no part of a name to check

    def deadline(self, now: float) -> float | None:
        """The instant (on the clock *now* was read from) the whole connect ends by."""
        return None if self.limit is None else now + self.limit


def check_connect_args(
    host: object,
    port: object,
    timeout: object,
    options: object,
    tls: object,
    server_hostname: object,
    source: object,
) -> ConnectArgs:
    """Check ``connect()``'s arguments before any lookup or socket (both faces).

    Returns:
        The checked arguments; ``tls=True`` is already a client context.

    Raises:
        TypeError, ValueError, AddressError: an argument is of the wrong type or value.
    """
    host = check_host(host)
    port = check_port(port, allow_zero=False)
    limit = check_timeout("timeout", timeout)
    if options is not None and not isinstance(options, SocketOptions):
        raise TypeError(f"options must be a SocketOptions, not {type(options).__name__}")
    context = _tls_context(tls)
    if server_hostname is not None and not isinstance(server_hostname, str):
        raise TypeError(f"server_hostname must be a str, not {type(server_hostname).__name__}")
    if server_hostname is not None and context is None:
        raise ValueError("server_hostname is only used with tls=")
    return ConnectArgs(
        host, port, limit, options, context, server_hostname, _source_endpoint(source)
    )


# -- per-attempt socket rules ---------------------------------------------------------------


def socket_options(options: SocketOptions | None, family: int) -> SocketOptions:
    """The options to apply before connecting: TCP_NODELAY on unless asked otherwise.

    ``options.timeout`` is left out (the connect runs non-blocking; it becomes the
    connection's default deadline) and ``v6only`` only reaches IPv6 sockets.
    """
    if options is None:
        return DEFAULT_OPTIONS
    changes: dict[str, Any] = {"timeout": None}
    if options.nodelay is None:
        changes["nodelay"] = True
    if family != socket.AF_INET6:
        changes["v6only"] = None
    return replace(options, **changes)


def source_sockaddr(source: tuple[str, int], family: int) -> tuple[Any, ...] | None:
    """The bind address for *family*, or None if *source* cannot be used with it."""
    host, port = source
    if not host:
        return ("", port) if family == socket.AF_INET else ("::", port, 0, 0)
    endpoint = Endpoint(host, port)
    source_family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    if source_family != family:
        return None
    return tuple(endpoint.to_sockaddr())


def in_progress(code: int) -> bool:
    """Whether ``connect_ex()`` returning *code* means the attempt is under way."""
    return code in _IN_PROGRESS


def attempt_error(code: int) -> OSError:
    """The error of an attempt that ended with errno *code* (``connect_ex``, SO_ERROR)."""
    # OSError(errno, text) builds the matching subclass (ConnectionRefusedError, ...).
    return OSError(code, os.strerror(code))


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


# -- the schedule -------------------------------------------------------------------------


class Start(NamedTuple):
    """Start attempt number *attempt* now: a socket of *target*'s family with *options*,
    bound to *bind* (None: not bound), connecting to ``target.sockaddr``."""

    attempt: int  # numbered from 0 in start order, as failed() and succeeded() take it
    target: Target
    options: SocketOptions
    bind: tuple[Any, ...] | None


class Wait(NamedTuple):
    """Wait up to *timeout* seconds (None: no limit) for a running attempt to end."""

    timeout: float | None


class HappyEyeballs:
    """The attempts of one connect (RFC 8305 section 5), as a sans-IO schedule.

    One attempt starts at once; the next starts *delay* seconds later, or as soon as a
    running one fails; the first to connect wins (the face closes the others). The
    face reads :meth:`step` until it returns None, reporting each attempt's end with
    :meth:`failed` or :meth:`succeeded`.
    """

    __slots__ = (
        "_bind",
        "_delay",
        "_errors",
        "_next",
        "_next_start",
        "_options",
        "_running",
        "args",
        "deadline",
        "targets",
        "timed_out",
        "winner",
    )

    def __init__(
        self,
        args: ConnectArgs,
        targets: Sequence[Target],
        deadline: float | None,
        delay: float = ATTEMPT_DELAY,
    ) -> None:
        self.args = args
        self.targets = list(targets)
        self.deadline = deadline
        #: The target that connected, once one has.
        self.winner: Target | None = None
        #: Whether the deadline passed before any attempt connected.
        self.timed_out = False
        self._delay = delay
        self._next = 0
        self._next_start: float | None = None  # None: start the next one at once
        self._running: set[int] = set()
        self._errors: dict[int, BaseException] = {}
        self._options: dict[int, SocketOptions] = {}  # family -> socket_options()
        self._bind: dict[int, tuple[Any, ...] | None] = {}  # family -> source_sockaddr()

    @classmethod
    def plan(
        cls,
        args: ConnectArgs,
        targets: Sequence[Target],
        deadline: float | None,
        delay: float = ATTEMPT_DELAY,
    ) -> HappyEyeballs:
        """The schedule for *args* over *targets* (an IP literal's, or the resolver's
        answers in its order): RFC 8305 order, keeping only the addresses the source
        address can be bound for.

        Raises:
            ConnectFailed: a source was given and no address is of its family.
        """
        order = interleave_addresses(targets) if len(targets) > 1 else list(targets)
        if args.source is not None:
            order = [t for t in order if source_sockaddr(args.source, t.family) is not None]
            if not order:
                raise ConnectFailed(
                    f"cannot connect to {args.where}: no address of the source's family "
                    f"({describe(args.source[0])})"
                )
        return cls(args, order, deadline, delay)

    @property
    def attempts(self) -> list[tuple[Endpoint, BaseException]]:
        """The failed attempts so far, ``(endpoint, error)`` in the order they started."""
        return [(self.targets[i].endpoint, self._errors[i]) for i in sorted(self._errors)]

    def step(self, now: float) -> Start | Wait | None:
        """What to do at *now*: start an attempt, wait, or stop (None).

        After None, :attr:`winner` is the target that connected, or the connect
        failed and :meth:`error` is the exception to raise.
        """
        if self.winner is not None or self.timed_out:
            return None
        deadline = self.deadline
        if deadline is not None and now >= deadline:
            self.timed_out = True
            for index in self._running:
                self._errors[index] = NetkitTimeout("no answer before the deadline")
            self._running.clear()
            return None
        index = self._next
        if index < len(self.targets) and (
            self._next_start is None or now >= self._next_start or not self._running
        ):
            self._next = index + 1
            self._next_start = now + self._delay
            self._running.add(index)
            return self._start(index)
        if not self._running:
            return None  # every address was tried and failed
        wait: float | None = None
        if index < len(self.targets) and self._next_start is not None:
            wait = self._next_start - now  # > 0: the next attempt is not due yet
        if deadline is not None:
            wait = deadline - now if wait is None else min(wait, deadline - now)
        return Wait(wait)

    def _start(self, index: int) -> Start:
        target = self.targets[index]
        family = target.family
        options = self._options.get(family)
        if options is None:
            options = self._options[family] = socket_options(self.args.options, family)
        bind = None
        if self.args.source is not None:
            if family not in self._bind:
                self._bind[family] = source_sockaddr(self.args.source, family)
            bind = self._bind[family]
        return Start(index, target, options, bind)

    def failed(self, index: int, error: BaseException) -> None:
        """Attempt *index* failed with *error*: the next one starts at once."""
        self._running.discard(index)
        self._errors[index] = error
        self._next_start = None  # RFC 8305: a failure starts the next attempt at once

    def succeeded(self, index: int) -> Target:
        """Attempt *index* connected: it wins; returns its target."""
        self._running.discard(index)
        self.winner = self.targets[index]
        return self.winner

    def error(self) -> ConnectFailed | NetkitTimeout:
        """The exception for a connect that ended without a winner.

        ``ConnectFailed`` with every failed attempt, or ``NetkitTimeout`` if the
        deadline passed, whose ``__cause__`` is a ``ConnectFailed`` listing the attempts
        (those still running carry a ``NetkitTimeout``).
        """
        where = self.args.where
        attempts = self.attempts
        if self.timed_out:
            failed = ConnectFailed(f"cannot connect to {where}: timed out", attempts)
            error = NetkitTimeout(f"connect to {where} timed out after {self.args.limit} s")
            error.__cause__ = failed  # as `raise error from failed` would
            return error
        return ConnectFailed(f"cannot connect to {where}: {_summary(attempts)}", attempts)
