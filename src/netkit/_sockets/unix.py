"""Unix socket calls both faces share.

Credentials (``SO_PEERCRED``), descriptors passed with ``SCM_RIGHTS`` (what to send,
how much room to receive them, and taking them out of a received message so that none
is ever left open by mistake), none of which waits; and :func:`connect_waiting`, the
one call that does (a connect to a full backlog waits in the kernel): the sync face
runs it in the caller's thread, the asyncio face in the loop's executor. The rules
and messages are :mod:`netkit._core.unix`'s.
"""

from __future__ import annotations

import array
import errno
import os
import socket
import struct
from collections.abc import Callable, Iterable
from time import monotonic
from typing import Any

from netkit._core.unix import (
    UCRED_SIZE,
    PeerCredentials,
    fds_over_limit,
    not_an_fd,
)
from netkit._core.unix import peer_credentials as _decode_ucred

__all__ = [
    "RECV_FLAGS",
    "ancillary_room",
    "check_open",
    "close_fds",
    "connect_waiting",
    "peer_credentials",
    "rights",
    "send_timeout",
    "take_fds",
]

#: Flags for every ``recvmsg`` that may receive descriptors: they arrive close-on-exec,
#: so a child process started meanwhile cannot inherit them.
RECV_FLAGS: int = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
_MSG_CTRUNC: int = getattr(socket, "MSG_CTRUNC", 8)
_INT = array.array("i").itemsize


def peer_credentials(sock: Any) -> PeerCredentials:
    """The ``SO_PEERCRED`` of a connected Unix socket (or one that looks like one).

    Raises:
        NotImplementedError: the platform has no ``SO_PEERCRED`` (Linux has).
        OSError: the socket is closed or not connected.
    """
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        raise NotImplementedError("peer_credentials needs SO_PEERCRED (Linux)")
    raw: bytes = sock.getsockopt(socket.SOL_SOCKET, option, UCRED_SIZE)
    return _decode_ucred(raw)


def check_open(fds: list[int]) -> None:
    """Raise ``ValueError`` for the first of *fds* that is not an open descriptor."""
    for index, fd in enumerate(fds):
        try:
            os.fstat(fd)
        except OSError:
            raise not_an_fd(index, fd) from None


def rights(fds: list[int]) -> list[tuple[int, int, bytes]]:
    """The ancillary data that sends *fds* (``SCM_RIGHTS``); none for no fds."""
    if not fds:
        return []
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]


def ancillary_room(max_fds: int) -> int:
    """The ``ancbufsize`` of a ``recvmsg`` that can take *max_fds* descriptors."""
    return socket.CMSG_SPACE(max_fds * _INT)


def close_fds(fds: Iterable[int]) -> None:
    """Close each of *fds*, ignoring the ones already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def take_fds(ancdata: list[tuple[int, int, bytes]], flags: int, max_fds: int) -> list[int]:
    """The descriptors a ``recvmsg`` returned, owned by the caller from now on.

    When the kernel had more than there was room for (``MSG_CTRUNC``), or more than
    *max_fds* arrived (the room is rounded up to the alignment, so one or two more
    can), every one received is closed and ``FrameTooLarge`` is raised: a call that
    fails hands nothing over and leaves nothing open. Other ancillary data is ignored.
    """
    fds = array.array("i")
    try:
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % _INT])
        if flags & _MSG_CTRUNC:
            raise fds_over_limit(max_fds, None)
        if len(fds) > max_fds:
            raise fds_over_limit(max_fds, len(fds))
    except BaseException:
        close_fds(fds)
        raise
    return fds.tolist()


_TIMEVAL = struct.Struct("@ll")


def send_timeout(sock: socket.socket, seconds: float) -> None:
    """Set ``SO_SNDTIMEO``, which also bounds a blocking ``connect`` on a Unix socket.

    A Unix connect to a listener whose backlog is full waits in the kernel (or fails
    at once with ``EAGAIN`` when non-blocking: there is nothing to poll); with this
    set, the kernel gives up after *seconds* with ``EAGAIN``. ``0`` turns it off.
    """
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    if seconds and not whole and not micros:
        micros = 1  # a positive timeout below 1 us must not become "no timeout"
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _TIMEVAL.pack(whole, micros))


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def connect_waiting(
    sock: socket.socket,
    path: str | bytes,
    deadline: float | None,
    *,
    stop: Callable[[], bool] | None = None,
    slice_: float | None = None,
) -> None:
    """Connect *sock* to *path*, waiting in the kernel while the listener's backlog is full.

    *deadline* is a :func:`time.monotonic` instant (None: no limit). With *slice_*,
    the kernel waits at most that long at a time and *stop* is asked in between (for
    a caller that may give up). Leaves *sock* blocking, with no send timeout.

    Raises:
        BlockingIOError: the deadline passed, or *stop* said so, with the backlog full.
        OSError: the connect failed (no such file, refused, ...).
    """
    sock.setblocking(True)
    try:
        while True:
            if deadline is None:
                wait = slice_ or 0.0  # 0: no send timeout, the kernel waits as needed
            else:
                left = deadline - monotonic()
                if left <= 0:
                    raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
                wait = left if slice_ is None else min(left, slice_)
            if stop is not None and stop():
                raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
            send_timeout(sock, wait)
            try:
                sock.connect(path)
            except (BlockingIOError, InterruptedError):
                continue  # still full after this wait
            if _connected(sock):
                return
            # CPython takes a connect interrupted by a signal (EINTR) for one in
            # progress and reports success once the socket is writable, which an
            # unconnected Unix socket always is: not connected yet, wait again.
    finally:
        send_timeout(sock, 0)
