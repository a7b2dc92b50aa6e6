"""Unix datagram rules: sizes, senders, errors and their messages (``AF_UNIX``,
``SOCK_DGRAM``), and the connect and bind messages every Unix socket shares.

Both :class:`netkit.UnixDatagramEndpoint` and :class:`netkit.aio.UnixDatagramEndpoint`
call these (through :mod:`netkit._sockets.unixdatagram`), so the same input gives the
same result, exception type and message in both faces. Nothing here makes a system
call. What a Unix datagram shares with UDP (``Datagram``, receive flags, the default
``max_size``, deadlines' messages) stays in :mod:`netkit._core.datagram`.

Sizes: Linux refuses (``EMSGSIZE``) a Unix datagram or SEQPACKET message longer than
the *sending* socket's ``SO_SNDBUF`` less 32 bytes (``net/unix/af_unix.c``): 212960
bytes with the default 212992-byte buffer. The receiver's buffer does not limit it. A
send over that limit raises :class:`~netkit.errors.FrameTooLarge` before any system
call, and a kernel refusal anyway (the buffer changed by hand) becomes the same error.
"""

from __future__ import annotations

import errno
from typing import Any, Final

from netkit._core.checks import check_size
from netkit._core.datagram import remember
from netkit._core.unixpath import (
    address,
    bind_failed,
    connect_failed,
    in_use,
    not_a_socket,
    show,
)
from netkit.errors import (
    AddressError,
    ConnectionClosed,
    ConnectionRefused,
    FrameTooLarge,
    describe,
)

__all__ = [
    "CLOSED_MESSAGE",
    "SNDBUF_OVERHEAD",
    "bind_failed",
    "check_max_size",
    "closed",
    "connect_failed",
    "datagram_error",
    "in_use",
    "not_a_socket",
    "not_connected",
    "send_limit",
    "sender",
    "too_large_to_send",
    "truncated",
    "truncated_into",
    "unnamed_target",
]

#: The message of every operation on an endpoint this process closed.
CLOSED_MESSAGE: Final = "UnixDatagramEndpoint is closed"
#: What Linux keeps of ``SO_SNDBUF`` for itself when sizing one Unix message.
SNDBUF_OVERHEAD: Final = 32


def closed() -> ConnectionClosed:
    """The error for any operation on an endpoint after our own ``close()``."""
    return ConnectionClosed(CLOSED_MESSAGE)


def check_max_size(value: object) -> int:
    """A receive's ``max_size``: an int >= 0 (not clamped: Unix datagrams may be far
    larger than UDP's, up to the sender's buffer)."""
    return check_size("max_size", value)


def send_limit(sndbuf: int) -> int:
    """The largest message a Unix socket whose ``SO_SNDBUF`` reads *sndbuf* can send."""
    return max(sndbuf - SNDBUF_OVERHEAD, 0)


def too_large_to_send(size: int, limit: int, where: str) -> FrameTooLarge:
    """The error for a payload over this socket's limit (nothing was sent)."""
    return FrameTooLarge(
        f"datagram of {size} bytes to {show(where)} exceeds this socket's {limit}-byte"
        " limit (SO_SNDBUF less 32 bytes; a larger send_buffer raises it)",
        limit=limit,
        size=size,
    )


def truncated(size: int, max_size: int, sender: str | None) -> FrameTooLarge:
    """The error for a received datagram over *max_size* (it was consumed); *sender*
    ``None``: unknown (``recv`` on an unconnected endpoint)."""
    source = "" if sender is None else f" from {show(sender)}"
    return FrameTooLarge(
        f"datagram of {size} bytes{source} exceeds max_size={max_size} (it was dropped)",
        limit=max_size,
        size=size,
    )


def truncated_into(size: int, capacity: int, sender: str) -> FrameTooLarge:
    """The error of ``recvfrom_into`` for a datagram over the buffer's *capacity*."""
    return FrameTooLarge(
        f"datagram of {size} bytes from {show(sender)} exceeds the {capacity}-byte buffer"
        " (it was dropped)",
        limit=capacity,
        size=size,
    )


def sender(senders: dict[Any, str], addr: Any, *, is_closed: bool) -> str:
    """The sender path of a kernel address, cached in *senders*.

    An unnamed sender has no address (``None``): that is ``""`` unless the endpoint
    was closed, when the empty read was ``close()`` waking the receive. ``None`` is
    never cached, so that a later close is still noticed.

    Raises:
        ConnectionClosed: *addr* is ``None`` and the endpoint is closed.
    """
    if addr is None:
        if is_closed:
            raise closed()
        return ""
    found = address(addr)
    remember(senders, addr, found)
    return found


def not_connected() -> AddressError:
    """``send`` on an endpoint that was never connected."""
    return AddressError("send() needs a connected endpoint; use sendto()")


def unnamed_target() -> AddressError:
    """``sendto(data, "")``: an unnamed sender cannot be answered."""
    return AddressError(
        "cannot send to '' (an unnamed socket: its sender never bound a path);"
        " a sender that expects answers must bind a path"
    )


def datagram_error(
    exc: OSError, *, is_closed: bool, target: str | None, peer: str | None
) -> BaseException:
    """What a failed call on a Unix datagram endpoint raises instead (or *exc* itself).

    *target* is the path a ``sendto`` went to, or ``None`` for the connected peer;
    *peer* is that peer's path (``""``: unnamed), ``None`` if never connected.

    * after ``close()``, or ``EBADF``: ``ConnectionClosed`` (:data:`CLOSED_MESSAGE`);
    * ``ECONNREFUSED``/``ENOENT`` on a ``sendto``: ``ConnectionRefused`` naming the path
      (no socket is bound there: a stale file, or no file), errno kept;
    * ``ECONNREFUSED``, or ``ENOTCONN`` later, on a connected endpoint: the peer is
      gone (it closed), ``ConnectionRefused``;
    * ``ENOTCONN`` on an endpoint never connected: ``AddressError`` (use ``sendto``);
    * ``EPROTOTYPE``: the path is a socket of another type, ``OSError`` naming it;
    * anything else: *exc*.
    """
    code = exc.errno
    if is_closed or code == errno.EBADF:
        return closed()
    error: BaseException
    if target is not None and code in (errno.ECONNREFUSED, errno.ENOENT):
        why = "no such file" if code == errno.ENOENT else "nothing is bound there (a stale file?)"
        error = ConnectionRefused(code, f"no Unix datagram socket at {show(target)}: {why}")
    elif target is None and peer is not None and code in (errno.ECONNREFUSED, errno.ENOTCONN):
        who = f"the peer at {describe(peer)}" if peer else "the unnamed peer"
        error = ConnectionRefused(code, f"{who} is gone (it closed)")
    elif code == errno.ENOTCONN or code == errno.EDESTADDRREQ:
        error = not_connected()
    elif code == errno.EPROTOTYPE and target:
        error = OSError(code, f"{show(target)} is not a datagram socket")
    else:
        return exc
    error.__cause__ = exc
    return error
