"""Binding a Unix socket to a path, and removing the file it made: for every Unix kind.

A path's socket file outlives its socket: a process that died leaves a *stale* file
that makes the next ``bind`` fail with ``EADDRINUSE``. :func:`bind_path` replaces such
a file, and only such a file: a socket file nobody is bound to. A live socket's path
(of any type), a file that is not a socket, or a path it cannot probe is left alone
and the bind fails. :func:`forget_path` removes the file at close, only if it is still
the one this socket made (same ``st_dev``/``st_ino``): never a file someone else bound
there since. Abstract names (Linux, ``"\\0name"``) have no file and need neither.
Nothing here waits: a probe is a Unix datagram ``connect``, which never blocks.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from typing import Final, NamedTuple

from netkit._core import unixdatagram as rules
from netkit._core.unixpath import check_path, is_abstract, sockaddr

__all__ = ["BoundFile", "bind_path", "forget_path", "is_live"]


class BoundFile(NamedTuple):
    """The socket file a bind made: its absolute path (a later ``chdir`` does not
    matter) and its identity."""

    path: str
    st_dev: int
    st_ino: int


# A stale file removed, then the path taken again by a racing process: give up after
# this many binds (the error then says the path is in use).
_BIND_ATTEMPTS: Final = 3


def is_live(path: str) -> bool:
    """Whether a socket is bound at *path* (checked ``str``), whatever its type.

    A datagram ``connect`` finds the socket bound to the file's inode: refused
    (``ECONNREFUSED``) means none is, and the file is stale; any other answer (it
    connects; ``EPROTOTYPE``: another type; ``EPERM``: a datagram socket connected
    elsewhere; ``EACCES``: not ours to probe) counts as live, so it is left alone.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(sockaddr(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True
    finally:
        probe.close()
    return True


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def _remove_stale(path: str) -> None:
    """Remove the socket file at *path* if nothing is bound to it; else raise why not."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return  # gone meanwhile: bind again
    if not stat.S_ISSOCK(info.st_mode):
        raise rules.not_a_socket(path)
    if is_live(path):
        raise rules.in_use(path)
    # Unlink only the file just probed, not one a racing process bound since.
    if _file_id(path) == (info.st_dev, info.st_ino):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def bind_path(sock: socket.socket, path: object, *, name: str = "path") -> BoundFile | None:
    """Bind the Unix socket *sock* to *path*, replacing a stale socket file.

    Returns:
        The socket file made (``None`` for an abstract name), for :func:`forget_path`.

    Raises:
        TypeError, AddressError: *path* is not a usable address.
        OSError: the bind failed: ``EADDRINUSE`` (a live socket, or a file that is not a
            socket, holds the path; it is left alone), ``ENOENT``
            (``FileNotFoundError``: the directory does not exist), ``EACCES``...
            The message names the path.
    """
    text = check_path(path, name=name)
    addr = sockaddr(text)
    for attempt in range(_BIND_ATTEMPTS):
        try:
            sock.bind(addr)
            break
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise rules.bind_failed(text, exc) from exc
            # An abstract name vanishes with its socket: in use means live.
            if is_abstract(text) or attempt == _BIND_ATTEMPTS - 1:
                raise rules.in_use(text) from exc
            _remove_stale(text)
    if is_abstract(text):
        return None
    made = _file_id(text)
    if made is None:  # removed at once by someone else: nothing of ours to remove later
        return None
    return BoundFile(os.path.abspath(text), *made)


def forget_path(bound: BoundFile | None) -> None:
    """Remove the socket file a bind made if it is still that file (errors ignored:
    it may be gone, or its directory no longer ours to change)."""
    if bound is None:
        return
    try:
        info = os.lstat(bound.path)
        if stat.S_ISSOCK(info.st_mode) and (info.st_dev, info.st_ino) == bound[1:]:
            os.unlink(bound.path)
    except OSError:
        pass
