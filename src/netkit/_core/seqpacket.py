"""SEQPACKET rules (``AF_UNIX``, ``SOCK_SEQPACKET``): messages, limits, errors.

A SEQPACKET connection is a connection (its end, a reset, use after close and deadlines
are the stream connections' errors, from :mod:`netkit._core.oserrors`) that carries
whole messages (their limits are a Unix datagram's, from
:mod:`netkit._core.unixdatagram`). Both faces call these, so the same input gives the
same result, exception type and message. Nothing here makes a system call.

The end of the connection reads as ``b""``, and so would an empty message: the kernel
gives both as a zero-length read. netkit therefore refuses to *send* an empty message
(:func:`empty_message`), so that between netkit peers ``b""`` always means the end.
"""

from __future__ import annotations

import errno
import socket
from typing import Final

from netkit._core.checks import check_size, check_timeout
from netkit._core.deadline import idle_error
from netkit._core.oserrors import closed, stream_error, timed_out
from netkit._core.unixpath import show
from netkit.errors import FrameTooLarge, NetkitTimeout

__all__ = [
    "check_listener_socket",
    "check_max_size",
    "check_socket",
    "closed",
    "connect_timed_out",
    "empty_message",
    "idle_error",
    "message_error",
    "not_connected",
    "receive_timeout",
    "timeout_error",
    "too_large_to_send",
    "truncated",
]

_WHAT: Final = "SeqpacketConnection"


def check_socket(sock: object) -> None:
    """Refuse anything but an ``AF_UNIX`` ``SOCK_SEQPACKET`` socket."""
    if not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_SEQPACKET:
        raise ValueError(f"{_WHAT} needs an AF_UNIX SOCK_SEQPACKET socket")


def check_listener_socket(sock: object, name: str) -> None:
    """Check that the listener class *name* can take *sock* (listening is checked after).

    Raises:
        TypeError: *sock* is not a socket, or not ``AF_UNIX``.
        ValueError: *sock* is not a ``SOCK_SEQPACKET`` socket (a Unix stream socket's
            listener is ``UnixListener``).
    """
    if not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
    if sock.family != socket.AF_UNIX:
        family = getattr(sock.family, "name", sock.family)
        raise TypeError(f"{name} needs an AF_UNIX socket, not {family}")
    if sock.type != socket.SOCK_SEQPACKET:
        hint = "; use UnixListener" if sock.type == socket.SOCK_STREAM else ""
        raise ValueError(f"{name} needs a SOCK_SEQPACKET socket, not {sock.type!r}{hint}")


def receive_timeout(
    timeout: object, default: float | None, idle: float | None
) -> tuple[float | None, bool]:
    """The deadline of a receive on a connection with an idle timeout (a server's).

    A message arrives whole, so "nothing received for *idle* seconds" is a receive
    that waited *idle* seconds: the shorter of the call's timeout (*default* when
    None) and *idle*, and whether it is *idle* (its expiry then raises
    :func:`idle_error`, as a stream connection's idle read does).

    Raises:
        TypeError, ValueError: *timeout* is not a number of seconds >= 0 or None.
    """
    seconds = check_timeout("timeout", timeout)
    if seconds is None:
        seconds = default
    if idle is not None and (seconds is None or idle < seconds):
        return idle, True
    return seconds, False


def not_connected() -> ValueError:
    """A socket that is not connected (a listener, say) cannot be a connection."""
    return ValueError(f"{_WHAT} needs a connected socket")


def check_max_size(value: object) -> int:
    """A receive's ``max_size``: an int >= 0 (a message may be up to the sender's
    ``SO_SNDBUF`` less 32 bytes, so it is not clamped)."""
    return check_size("max_size", value)


def empty_message() -> ValueError:
    """``send_message(b"")``: refused, the peer would read it as the end."""
    return ValueError(
        "cannot send an empty SEQPACKET message: the peer reads it as the end of the"
        " connection (b''); send at least one byte"
    )


def too_large_to_send(size: int, limit: int) -> FrameTooLarge:
    """The error for a message over this socket's limit (nothing was sent)."""
    return FrameTooLarge(
        f"message of {size} bytes exceeds this socket's {limit}-byte limit"
        " (SO_SNDBUF less 32 bytes; a larger send_buffer raises it)",
        limit=limit,
        size=size,
    )


def truncated(size: int, max_size: int) -> FrameTooLarge:
    """The error for a received message over *max_size*: the kernel consumed it."""
    return FrameTooLarge(
        f"message of {size} bytes exceeds max_size={max_size} (it was dropped)",
        limit=max_size,
        size=size,
    )


def message_error(exc: OSError, *, is_closed: bool) -> BaseException:
    """What a failed call on a SEQPACKET connection raises instead (or *exc* itself):
    ``ConnectionClosed`` after ``close()``, else the stream connections' table
    (:func:`netkit._core.oserrors.stream_error`)."""
    if is_closed or exc.errno == errno.EBADF:
        error: BaseException = closed()
        error.__cause__ = exc
        return error
    mapped = stream_error(exc)
    return exc if mapped is None else mapped


def connect_timed_out(path: str, timeout: float) -> NetkitTimeout:
    """A connect that waited *timeout* seconds for room in the listener's backlog."""
    return NetkitTimeout(f"connect to {show(path)} timed out after {timeout:g} s")


def timeout_error(sending: bool) -> NetkitTimeout:
    """The error of a receive (or send) whose deadline passed (the streams' messages)."""
    return timed_out(sending)
