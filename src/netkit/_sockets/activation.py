"""Socket activation: take the listening sockets a supervisor passed in, once.

:func:`inherited_sockets` reads the environment with
:func:`netkit._core.activation.listen_fds`, unsets it whatever the outcome (as
``sd_listen_fds(1)`` does, so a second call finds nothing and child processes do not
see the variables), marks each descriptor close-on-exec, and checks that each is a
listening TCP or Unix stream socket, or a Unix SEQPACKET one. Both faces wrap the
sockets in their listeners. Nothing here waits.
"""

from __future__ import annotations

import os
import socket
import stat
import threading

from netkit._core.activation import LISTEN_VARS, listen_fds, not_a_listener, not_a_socket, usable

__all__ = ["inherited_sockets"]

# Two threads asking at once must not both get the descriptors.
_lock = threading.Lock()


def _pidfd_id() -> int | None:
    """This process's pidfd inode number where each process has its own (pidfs), or None."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    ids = []
    for pid in (os.getpid(), os.getppid()):
        try:
            fd = pidfd_open(pid)
        except OSError:
            return None
        try:
            ids.append(os.fstat(fd).st_ino)
        finally:
            os.close(fd)
    # Before pidfs (Linux 6.9) every pidfd is the same anonymous inode: not an id.
    return ids[0] if ids[0] != ids[1] else None


def inherited_sockets() -> list[tuple[socket.socket, str]]:
    """The listening sockets passed to this process, with their names; each only once.

    Raises:
        ValueError: the variables are malformed, or a descriptor is not a listening
            TCP, Unix stream or Unix SEQPACKET socket. Every inherited descriptor is
            closed then: the variables are gone, so nothing could find them again.
        OSError: a descriptor is not open.
    """
    with _lock:
        try:
            found = listen_fds(os.environ, os.getpid(), _pidfd_id())
        finally:
            for name in LISTEN_VARS:
                os.environ.pop(name, None)
        taken: list[tuple[socket.socket, str]] = []
        try:
            for fd, name in found:
                os.set_inheritable(fd, False)  # FD_CLOEXEC, as sd_listen_fds sets it
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    raise not_a_socket(fd, name)
                sock = socket.socket(fileno=fd)
                taken.append((sock, name))
                listening = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
                if not usable(sock.family, sock.type, listening):
                    raise not_a_listener(fd, name, sock.family, sock.type, listening)
        except BaseException:
            for sock, _ in taken:
                sock.close()
            for fd, _ in found[len(taken) :]:
                try:
                    os.close(fd)
                except OSError:
                    pass
            raise
        return taken
