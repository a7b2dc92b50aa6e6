"""The one table that turns OS and ssl errors into netkit errors.

Every face passes the exception its wait or system call ended with to
:func:`stream_error` and raises what comes back; so a reset, a broken pipe, a
keepalive timeout, a closed descriptor or a socket timeout someone set by hand gives the
same type and message on every transport and in both faces.
"""

from __future__ import annotations

import errno
import ssl

from netkit.errors import ConnectionClosed, NetkitError, NetkitTimeout

__all__ = [
    "CLOSED_MESSAGE",
    "LOST",
    "closed",
    "lost",
    "stream_error",
    "timed_out",
]

#: The message of every operation on a connection this process closed.
CLOSED_MESSAGE = "connection is closed"

# Errors that mean "the peer (or the network) ended the connection". TimeoutError is
# here for ETIMEDOUT (keepalive or retransmissions gave up); a socket.timeout from a
# deadline has errno None and is told apart first (see stream_error).
LOST: tuple[type[BaseException], ...] = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    TimeoutError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)
_LOST_ERRNOS = frozenset({errno.ENOTCONN, errno.EPIPE, errno.ECONNRESET, errno.ESHUTDOWN})


def closed() -> ConnectionClosed:
    """The error for any operation on a connection after our own ``close()``.

    Its ``errno`` is ``EBADF``, as the socket's own error would be, for code that
    checks it.
    """
    err = ConnectionClosed(CLOSED_MESSAGE)
    err.errno = errno.EBADF
    return err


def timed_out(write: bool) -> NetkitTimeout:
    """The error for a read (or, with *write*, a send) whose deadline passed."""
    return NetkitTimeout("timed out " + ("sending" if write else "waiting for data"))


def lost(exc: BaseException, partial: bytes = b"") -> ConnectionClosed:
    """A ConnectionClosed for an error that means the connection is gone.

    The message is ``connection lost: <reason>``; ``errno`` is copied and *exc* should be
    chained as the cause by the caller (``raise lost(exc) from exc``).
    """
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        code = exc.errno
    else:
        reason, code = str(exc) or type(exc).__name__, None
    err = ConnectionClosed(f"connection lost: {reason}", partial)
    if code is not None:
        err.errno = code
    return err


def stream_error(exc: BaseException, *, write: bool = False) -> NetkitError | None:
    """What a stream operation that failed with *exc* raises instead, or None to re-raise.

    * ``EBADF`` (the descriptor was closed under the call): ``ConnectionClosed`` with
      :data:`CLOSED_MESSAGE`;
    * a socket timeout (``TimeoutError`` without errno: someone set one on
      ``conn.socket``): :func:`timed_out`, the connection stays usable;
    * reset, broken pipe, aborted, ETIMEDOUT, ENOTCONN, TLS EOF: :func:`lost`;
    * anything else: ``None``.
    """
    if isinstance(exc, NetkitError):
        return None
    if isinstance(exc, OSError):
        if exc.errno == errno.EBADF:
            return closed()
        if isinstance(exc, TimeoutError) and exc.errno is None:
            return timed_out(write)
        if isinstance(exc, LOST) or exc.errno in _LOST_ERRNOS:
            return lost(exc)
    return None
