"""The accept-error policy of both servers: which errnos, the back-off, bounded logging.

A server's accept loop calls :meth:`AcceptErrors.failed` with each error ``accept()``
raises and the current time, and gets back how long to wait before the next
``accept()`` and the line to log, if any. The policy:

* "out of resources" (:data:`RESOURCE_ERRNOS`: EMFILE, ENFILE, ENOBUFS, ENOMEM): back
  off, doubling from :data:`BACKOFF_FIRST` up to :data:`BACKOFF_MAX`, so that a full fd
  table does not make the loop spin; the next successful accept resets the wait;
* "that one client died in the backlog" (:data:`CLIENT_ERRNOS`, and any
  ``ConnectionError`` or ``TimeoutError``): go on at once, log nothing;
* anything else is unexpected: back off as for resources, so it cannot spin either.

A listener's own ``accept(timeout=)`` (one connection at a time, no logging) retries
the client errors at once and raises everything else; :func:`accept_timeout` and
:func:`listener_closed` are its errors in both faces.

Logging is bounded: the first failure logs a line at once; further failures within
:data:`LOG_INTERVAL` seconds are counted and collapse into one line when the interval
is over (or when an accept succeeds again). Both faces log these lines at WARNING.
"""

from __future__ import annotations

import errno

from netkit.errors import ConnectionClosed, NetkitTimeout

__all__ = [
    "BACKOFF_FIRST",
    "BACKOFF_MAX",
    "CLIENT_ERRNOS",
    "LOG_INTERVAL",
    "RESOURCE_ERRNOS",
    "AcceptErrors",
    "accept_timeout",
    "client_gone",
    "listener_closed",
]

#: accept() errors that mean "out of a resource for now": back off and retry.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: accept() errors about one connection that died in the backlog: go on at once. Linux
#: reports the new socket's pending network errors from accept() (see accept(2)), and
#: a firewall (iptables/nftables) refusing the connection shows up as EPERM.
CLIENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNABORTED",
        "EPROTO",
        "EPERM",
        "EINTR",
        "EAGAIN",
        "EWOULDBLOCK",
        "ENETDOWN",
        "ENOPROTOOPT",
        "EHOSTDOWN",
        "ENONET",
        "EHOSTUNREACH",
        "EOPNOTSUPP",
        "ENETUNREACH",
    )
    if hasattr(errno, name)
)
#: The first back-off after a failed accept, and the cap it doubles up to (seconds).
BACKOFF_FIRST = 0.001
BACKOFF_MAX = 0.1
#: At most one log line per this many seconds while accept() keeps failing.
LOG_INTERVAL = 10.0


def client_gone(exc: OSError) -> bool:
    """True when *exc* from ``accept()`` is about one client that died in the backlog."""
    return exc.errno in CLIENT_ERRNOS or isinstance(exc, (ConnectionError, TimeoutError))


def accept_timeout() -> NetkitTimeout:
    """The error for ``listener.accept(timeout=...)`` when no client came in time."""
    return NetkitTimeout("timed out waiting for a connection")


def listener_closed() -> ConnectionClosed:
    """The error for ``accept()`` on a listener that was closed (or during its close).

    ``errno`` is ``EBADF``, as for a closed connection.
    """
    err = ConnectionClosed("listener is closed")
    err.errno = errno.EBADF
    return err


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class AcceptErrors:
    """The accept-error state of one server: its back-off and its log rate limiter.

    IO-free: the caller passes the time (any monotonic clock) and does the waiting
    and the logging. At most one line is returned per *interval* seconds.
    """

    __slots__ = ("_backoff", "_interval", "_last_reason", "_logged_at", "_since", "_unlogged",
                 "_where")  # fmt: skip

    def __init__(self, where: object, *, interval: float = LOG_INTERVAL) -> None:
        self._where = where  # the server's address, for the log lines
        self._interval = interval
        self._backoff = BACKOFF_FIRST
        self._logged_at = -interval  # when the last line was returned (none yet)
        self._unlogged = 0  # failures counted but not reported in a line yet
        self._since = 0.0  # when the first of them happened
        self._last_reason = ""

    @property
    def failing(self) -> bool:
        """True after a back-off, until :meth:`recovered` has reset it and reported all."""
        return self._backoff != BACKOFF_FIRST or self._unlogged != 0

    def failed(self, exc: OSError, now: float) -> tuple[float, str | None]:
        """Seconds to wait before the next accept (0: at once) and a line to log, if any."""
        if client_gone(exc):
            return 0.0, None
        wait = self._backoff
        self._backoff = min(wait * 2, BACKOFF_MAX)
        if not self._unlogged:
            self._since = now
        self._unlogged += 1
        self._last_reason = _reason(exc)
        if now - self._logged_at < self._interval:
            return wait, None
        if self._unlogged == 1:
            line = f"netkit server {self._where}: accept failed: {self._last_reason}; backing off"
        else:
            line = (
                f"netkit server {self._where}: accept failed {self._unlogged} times in "
                f"{now - self._since:.1f} s, last: {self._last_reason}; backing off"
            )
        self._logged_at = now
        self._unlogged = 0
        return wait, line

    def recovered(self, now: float) -> str | None:
        """An accept succeeded: reset the back-off; a line for failures not yet logged."""
        self._backoff = BACKOFF_FIRST
        if not self._unlogged or now - self._logged_at < self._interval:
            return None
        line = (
            f"netkit server {self._where}: accept failed {self._unlogged} more times, "
            f"last: {self._last_reason}; accepting again"
        )
        self._logged_at = now
        self._unlogged = 0
        return line
