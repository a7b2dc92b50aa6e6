"""Listening sockets for both faces' listeners and servers; none of this waits.

* TCP: where to listen (:func:`listen_address`) and the bound, listening socket
  (:func:`listen_socket`);
* Unix: :func:`unix_listen_socket` binds a path with the permissions asked for from
  the first instant, replaces a stale socket file and leaves a live listener alone;
  :func:`remove_socket_file` removes the file later, only if it is still ours;
* :func:`check_listening`: a socket handed in is a listening stream socket of the
  right family.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from typing import Any

from netkit._core.server import listener_options
from netkit._core.sockaddr import check_stream_socket
from netkit._core.unix import bind_error, in_use, mode_on_abstract, not_a_socket
from netkit.addr import is_ip
from netkit.lookup import resolve
from netkit.options import SocketOptions

__all__ = [
    "FileId",
    "check_listening",
    "listen_address",
    "listen_socket",
    "needs_lookup",
    "remove_socket_file",
    "unix_listen_socket",
]

#: What identifies a socket file (``st_dev``, ``st_ino``): removed on close only if
#: the path still names this very file.
FileId = tuple[int, int]


def needs_lookup(host: str) -> bool:
    """Whether :func:`listen_address` must ask the resolver (and so may block) for *host*."""
    return not (host in ("", "::") or is_ip(host, allow_zone=True))


def listen_address(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    """The (family, sockaddr) a server on *host* listens on.

    ``""`` is every IPv4 address and ``"::"`` every address of both families; anything
    else is resolved, so a bad host raises AddressError or LookupFailed (a name may
    block: see :func:`needs_lookup`).
    """
    if host in ("", "::"):
        family = socket.AF_INET6 if host == "::" else socket.AF_INET
        return family, (host or "0.0.0.0", port)
    info = resolve(host, port)[0]
    return info.family, tuple(info.sockaddr)


def listen_socket(
    family: int, sockaddr: tuple[Any, ...], backlog: int, options: SocketOptions
) -> socket.socket:
    """A bound, listening stream socket with the listener options applied (blocking)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener_options(options, family, sockaddr[0]).apply(sock)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def check_listening(sock: object, name: str) -> None:
    """Check that *sock* is a listening stream socket the class *name* can take.

    Raises:
        TypeError: not a socket, or of the wrong family (the message names the class
            that takes it).
        ValueError: not a stream socket, or not listening (``listen()`` not called).
    """
    check_stream_socket(sock, name, name)
    assert isinstance(sock, socket.socket)
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise ValueError(f"{name} needs a listening socket: call listen() on it first")


def unix_listen_socket(
    path: str, mode: int | None, backlog: int
) -> tuple[socket.socket, FileId | None]:
    """A Unix stream socket bound to *path* and listening; and the file it created.

    *path* is checked already (:func:`netkit._core.unix.check_path`). A path whose
    socket file has no listener (a stale file from a process that died) is replaced;
    one with a live listener raises ``EADDRINUSE`` and is left alone (it sees one probe
    connection close at once); any other file is refused.

    *mode*: the file gets exactly these permissions, and never more than them at any
    instant, without touching the process umask (other threads share it). On Linux
    ``bind()`` creates the file with the socket's own permission bits minus the umask,
    so they are set with ``fchmod`` on the socket before ``bind``. If the umask took
    bits that *mode* asks for, they are added with ``chmod`` after ``bind`` and before
    ``listen``: until ``listen`` no client can connect, so the file being briefly
    stricter than asked changes nothing.

    Returns:
        The socket and the ``(st_dev, st_ino)`` of its file (None for an abstract name).

    Raises:
        OSError: ``EADDRINUSE`` (a live listener), ``FileExistsError`` (not a socket),
            ``FileNotFoundError`` (no such directory), ``PermissionError``...: each
            with the path as ``filename``.
        ValueError: *mode* with an abstract name.
        NotImplementedError: *mode* on a platform where sockets cannot be ``fchmod``-ed.
    """
    abstract = path.startswith("\0")
    if mode is not None and abstract:
        raise mode_on_abstract(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    created: FileId | None = None
    try:
        if mode is not None:
            try:
                os.fchmod(sock.fileno(), mode)
            except OSError as exc:
                raise NotImplementedError(
                    "mode= needs fchmod() on a socket before bind() (Linux)"
                ) from exc
        _bind(sock, path, abstract)
        if not abstract:
            info = os.lstat(path)
            created = (info.st_dev, info.st_ino)
            if mode is not None and stat.S_IMODE(info.st_mode) != mode:
                os.chmod(path, mode)  # the umask took bits: give them back, not listening yet
        sock.listen(backlog)
    except BaseException:
        sock.close()
        if created is not None:
            remove_socket_file(path, created)
        raise
    return sock, created


def _bind(sock: socket.socket, path: str, abstract: bool) -> None:
    for _ in range(3):  # another process may replace the file between our steps
        try:
            sock.bind(path)
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise bind_error(exc, path) from None
            if abstract or not _remove_if_stale(path):
                raise in_use(path) from None
    raise in_use(path)


def _remove_if_stale(path: str) -> bool:
    """True when nothing listens on *path* any more (the stale file is removed by now)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True  # gone meanwhile: bind again
    if not stat.S_ISSOCK(info.st_mode):
        raise not_a_socket(path)
    if _listed_as_listening(path):
        return False  # seen without connecting to it
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)  # a live listener with a full backlog answers EAGAIN
        code = probe.connect_ex(path)
    if code == errno.ECONNREFUSED:
        try:
            again = os.lstat(path)
        except FileNotFoundError:
            return True
        if (again.st_dev, again.st_ino) == (info.st_dev, info.st_ino):
            os.unlink(path)  # still the stale file we probed (not a new listener's)
        return True
    if code == errno.ENOENT:
        return True
    if code in (0, errno.EAGAIN, errno.EWOULDBLOCK):
        return False  # a live listener: leave it alone
    raise OSError(code, os.strerror(code), path)


def _listed_as_listening(path: str) -> bool:
    """True when ``/proc/net/unix`` shows a listening socket bound to *path* (Linux).

    Asked before probing with a connect, which a live listener would see as a client
    that closes at once. A listener in another network namespace (which shares the
    file system, not this table), or bound with a relative path, is not listed: then
    the probe decides.
    """
    try:
        with open("/proc/net/unix", "rb") as table:
            rows = table.read().splitlines()[1:]
    except OSError:
        return False
    wanted = os.fsencode(path)
    for row in rows:
        fields = row.split(maxsplit=7)
        # Num RefCount Protocol Flags Type St Inode Path; __SO_ACCEPTCON is 0x10000
        if len(fields) == 8 and fields[7] == wanted and int(fields[3], 16) & 0x10000:
            return True
    return False


def remove_socket_file(path: str, created: FileId) -> None:
    """Remove *path* if it is still the socket file *created* named (else leave it)."""
    try:
        info = os.lstat(path)
        if (info.st_dev, info.st_ino) == created:
            os.unlink(path)
    except OSError:
        pass  # gone already, or not ours to remove
