"""Unix stream rules both faces share: credentials, passing descriptors, binds, connects.

* :class:`PeerCredentials` and :func:`peer_credentials`: ``SO_PEERCRED`` decoded;
* :func:`check_fds`, :func:`check_recv_fds`, :func:`fds_over_limit`: the arguments and
  errors of ``send_fds``/``recv_fds``;
* :func:`check_mode`: ``mode=`` of a listener;
* the messages of a bind or connect on a path (:func:`bind_failed`, :func:`in_use`,
  :func:`not_a_socket`, :func:`connect_failed`, :func:`connect_timed_out`), word for
  word those of the Unix datagram and SEQPACKET kinds (one wording for every kind);
* :func:`unix_text`: an address for ``repr`` and log lines.

Paths and addresses themselves (what a path may be, the kernel's form, ``show``) are
:mod:`netkit._core.unixpath`'s. IO-free: nothing here touches a socket or a file.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from netkit._core.checks import check_size
from netkit._core.unixpath import (
    bind_failed,
    connect_failed,
    in_use,
    not_a_socket,
    show,
)
from netkit.errors import FrameTooLarge, NetkitTimeout, describe

__all__ = [
    "MAX_FDS",
    "UCRED_SIZE",
    "PeerCredentials",
    "bind_failed",
    "check_fds",
    "check_mode",
    "check_recv_fds",
    "connect_failed",
    "connect_timed_out",
    "fds_over_limit",
    "in_use",
    "mode_on_abstract",
    "no_fds_on_empty",
    "not_a_socket",
    "not_an_fd",
    "peer_credentials",
    "unix_text",
]

#: The most descriptors one message may carry (Linux's SCM_MAX_FD).
MAX_FDS = 253


def unix_text(address: str) -> str:
    """*address* for ``repr`` and log lines: ``unix:/path``, ``unix:@name``, ``unix:(unnamed)``.

    An abstract name is written with ``@`` for its NUL, as ``ss`` and ``netstat`` do.
    """
    if not address:
        return "unix:(unnamed)"
    if address.startswith("\0"):
        return "unix:@" + repr(address[1:])[1:-1]
    return "unix:" + address


class PeerCredentials(NamedTuple):
    """Who is at the other end of a Unix connection (``SO_PEERCRED``).

    The process that connected (or created the socket pair) and its user and group,
    as the kernel recorded them when the connection was made.

    Attributes:
        pid: the peer's process id.
        uid: the peer's user id.
        gid: the peer's group id.
    """

    pid: int
    uid: int
    gid: int


_UCRED = struct.Struct("3i")
#: Bytes to ask ``getsockopt(SOL_SOCKET, SO_PEERCRED, ...)`` for.
UCRED_SIZE = _UCRED.size


def peer_credentials(raw: bytes) -> PeerCredentials:
    """Decode the ``struct ucred`` that ``SO_PEERCRED`` returns."""
    pid, uid, gid = _UCRED.unpack(raw[: _UCRED.size])
    return PeerCredentials(pid, uid, gid)


def check_fds(fds: object) -> list[int]:
    """``send_fds``'s descriptors: a sequence of at most :data:`MAX_FDS` ints >= 0.

    Raises:
        TypeError: *fds* is not a list or tuple of ints (a bool is not an fd).
        ValueError: a negative number, or more than :data:`MAX_FDS` of them.
    """
    if not isinstance(fds, (list, tuple)):
        raise TypeError(f"fds must be a list of ints, not {type(fds).__name__}")
    if len(fds) > MAX_FDS:
        raise ValueError(f"at most {MAX_FDS} fds can travel in one message, not {len(fds)}")
    for index, fd in enumerate(fds):
        if not isinstance(fd, int) or isinstance(fd, bool):
            raise TypeError(f"fds[{index}] must be an int, not {type(fd).__name__}")
        if fd < 0:
            raise ValueError(f"fds[{index}] must be >= 0, not {fd}")
    return [int(fd) for fd in fds]


def not_an_fd(index: int, fd: int) -> ValueError:
    """The error for ``fds[index]``, which is not an open file descriptor."""
    return ValueError(f"fds[{index}] = {fd} is not an open file descriptor")


def check_recv_fds(max_bytes: object, max_fds: object) -> tuple[int, int]:
    """``recv_fds``'s limits: *max_bytes* >= 1 and *max_fds* in 1..:data:`MAX_FDS`."""
    size = check_size("max_bytes", max_bytes, low=1)
    count = check_size("max_fds", max_fds, low=1)
    return size, min(count, MAX_FDS)


def fds_over_limit(max_fds: int, received: int | None) -> FrameTooLarge:
    """The error when more descriptors arrived than *max_fds* (they were all closed).

    *received* is how many arrived, or None when the kernel cut the list short
    (``MSG_CTRUNC``: more than the room that was given).
    """
    seen = "more" if received is None else str(received)
    return FrameTooLarge(
        f"{seen} file descriptors arrived, over max_fds={max_fds}; they were closed "
        f"and the bytes that came with them stay buffered",
        limit=max_fds,
        size=received,
    )


def no_fds_on_empty() -> ValueError:
    """``send_fds`` with no bytes: on a stream, descriptors travel with at least one."""
    return ValueError("data must not be empty: file descriptors travel with at least one byte")


def check_mode(mode: object) -> int | None:
    """``mode=``: None, or permission bits as an int in 0..0o777."""
    if mode is None:
        return None
    if not isinstance(mode, int) or isinstance(mode, bool):
        raise TypeError(f"mode must be an int (such as 0o600) or None, not {type(mode).__name__}")
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits in 0o0..0o777, not {oct(mode)}")
    return int(mode)


def mode_on_abstract(path: str) -> ValueError:
    """``mode=`` with an abstract name: there is no file to give permissions to."""
    return ValueError(
        f"mode= applies to a socket file; the abstract name {describe(path)} has none"
    )


def connect_timed_out(path: str, timeout: float) -> NetkitTimeout:
    """A connect to *path* still waiting (a full backlog) after *timeout* seconds."""
    return NetkitTimeout(f"connect to {show(path)} timed out after {timeout:g} s")
