"""Listening sockets for both faces' listeners and servers; none of this waits.

* TCP: where to listen (:func:`listen_address`) and the bound, listening socket
  (:func:`listen_socket`);
* Unix: :func:`unix_listen_socket` binds a path with the permissions asked for from
  the first instant, replaces a stale socket file and leaves a live listener alone;
  :func:`remove_socket_file` removes the file later, only if it is still ours;
* :func:`check_listening`: a socket handed in is a listening socket of the right
  family and type (stream, or Unix SEQPACKET);
* :func:`default_backlog`: the servers' default backlog, capped by the kernel's
  ``somaxconn`` (read once).
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import stat
from typing import Any

from netkit._core.accept import listener_closed
from netkit._core.limits import backlog_for
from netkit._core.seqpacket import check_listener_socket
from netkit._core.server import listener_options
from netkit._core.sockaddr import check_stream_socket
from netkit._core.unix import bind_failed, in_use, mode_on_abstract, not_a_socket
from netkit._core.unixpath import is_abstract, sockaddr
from netkit._sockets.sockopt import RawOptions
from netkit.addr import is_ip
from netkit.lookup import resolve
from netkit.options import SocketOptions

__all__ = [
    "FileId",
    "check_listening",
    "default_backlog",
    "listen_address",
    "listen_socket",
    "needs_lookup",
    "remove_socket_file",
    "unix_listen_socket",
]

#: What identifies a socket file (``st_dev``, ``st_ino``): removed on close only if
#: the path still names this very file.
FileId = tuple[int, int]


_SOMAXCONN = "/proc/sys/net/core/somaxconn"


@functools.lru_cache(maxsize=1)
def default_backlog() -> int:
    """The backlog a server listens with when none is given (read once per process).

    :data:`netkit._core.limits.BACKLOG`, capped by Linux's ``net.core.somaxconn``;
    where that cannot be read (another system, a sandbox), ``socket.SOMAXCONN``, the
    C library's idea of the cap, stands in for it.
    """
    try:
        with open(_SOMAXCONN, encoding="ascii") as file:
            somaxconn: int | None = int(file.read().strip())
    except (OSError, ValueError):
        somaxconn = getattr(socket, "SOMAXCONN", None)
    return backlog_for(somaxconn)


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


def check_listening(sock: object, name: str, kind: int = socket.SOCK_STREAM) -> None:
    """Check that *sock* is a listening socket of type *kind* the class *name* can take.

    Raises:
        TypeError: not a socket, or of the wrong family (the message names the class
            that takes it).
        ValueError: not of type *kind* (a stream socket, or a Unix SEQPACKET one), or
            not listening (``listen()`` not called).
    """
    if kind == socket.SOCK_STREAM:
        check_stream_socket(sock, name, name)
    else:
        check_listener_socket(sock, name)
    assert isinstance(sock, socket.socket)
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise ValueError(f"{name} needs a listening socket: call listen() on it first")


def unix_listen_socket(
    path: str, mode: int | None, backlog: int, kind: int = socket.SOCK_STREAM
) -> tuple[socket.socket, FileId | None]:
    """A Unix socket of type *kind* (stream or SEQPACKET) bound to *path* and listening;
    and the file it created.

    *path* is checked already (:func:`netkit._core.unixpath.check_path`). A path whose
    socket file nobody is bound to (a stale file from a process that died) is replaced;
    a live socket's path raises ``EADDRINUSE`` and is left alone; so is a file that is
    not a socket. Liveness is probed with a datagram ``connect``, which a stream or
    SEQPACKET listener refuses with ``EPROTOTYPE`` without seeing a connection.

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
        OSError: naming the path: ``EADDRINUSE`` (a live socket, or a file that is not
            a socket), ``FileNotFoundError`` (no such directory), ``PermissionError``...
        ValueError: *mode* with an abstract name.
        NotImplementedError: *mode* on a platform where sockets cannot be ``fchmod``-ed.
    """
    abstract = is_abstract(path)
    if mode is not None and abstract:
        raise mode_on_abstract(path)
    sock = socket.socket(socket.AF_UNIX, kind)
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


_BIND_ATTEMPTS = 3  # a stale file removed, then the path taken by a racing process


def _bind(sock: socket.socket, path: str, abstract: bool) -> None:
    for attempt in range(_BIND_ATTEMPTS):
        try:
            sock.bind(sockaddr(path))
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise bind_failed(path, exc) from exc
            # An abstract name vanishes with its socket: in use means live.
            if abstract or attempt == _BIND_ATTEMPTS - 1:
                raise in_use(path) from exc
            _remove_stale(path)


def _is_live(path: str) -> bool:
    """Whether a socket (of any type) is bound at *path*, asked without connecting to it.

    A datagram ``connect`` finds the socket bound to the file: ``ECONNREFUSED`` means
    none is (the file is stale); anything else (``EPROTOTYPE`` from a stream listener,
    a datagram socket that accepts, ``EACCES``...) counts as live and is left alone.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(sockaddr(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True
    return True


def _remove_stale(path: str) -> None:
    """Remove the socket file at *path* if nothing is bound to it; else raise why not."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return  # gone meanwhile: bind again
    if not stat.S_ISSOCK(info.st_mode):
        raise not_a_socket(path)
    if _is_live(path):
        raise in_use(path)
    # Unlink only the file just probed, not one a racing process bound since.
    remove_socket_file(path, (info.st_dev, info.st_ino))


def remove_socket_file(path: str, created: FileId) -> None:
    """Remove *path* if it is still the socket file *created* named (else leave it)."""
    try:
        info = os.lstat(path)
        if (info.st_dev, info.st_ino) == created:
            os.unlink(path)
    except OSError:
        pass  # gone already, or not ours to remove


class ListenerState(RawOptions):
    """What a listener of either face holds and shows without waiting: the listening
    socket (non-blocking, owned), its supervisor-given name, and its address.

    The faces' ``Listener`` classes add ``accept`` (the waiting) and closing.
    """

    __slots__ = ("__weakref__", "_address", "_closed", "_name", "_sock")

    #: The class name, for messages (``TcpListener``, ``UnixListener``).
    _KIND = "Listener"
    #: The socket type it listens with (``SOCK_SEQPACKET`` for ``SeqpacketListener``).
    _TYPE = socket.SOCK_STREAM

    def __init__(self, sock: socket.socket, *, name: str | None = None) -> None:
        check_listening(sock, self._KIND, self._TYPE)
        sock.setblocking(False)
        self._sock = sock
        self._closed = False
        self._name = name
        self._address: Any = None

    @property
    def socket(self) -> socket.socket:
        """The listening socket (non-blocking)."""
        return self._sock

    @property
    def name(self) -> str | None:
        """The name a supervisor gave it (``LISTEN_FDNAMES``), or None."""
        return self._name

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    @property
    def address(self) -> Any:
        """The bound address (an ``Endpoint``, or a path: see the subclasses)."""
        return self._bound()

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed).

        Returns:
            The descriptor, or -1.
        """
        return self._sock.fileno()

    def _option_socket(self) -> Any:
        if self._closed:
            raise listener_closed()
        return self._sock

    def _option_closed(self) -> BaseException:
        return listener_closed()

    def _bound(self) -> Any:
        """The address, read once and kept (still there after :meth:`close`)."""
        if self._address is None:
            self._address = self._convert(self._sock.getsockname())
        return self._address

    @staticmethod
    def _convert(sockaddr: Any, /) -> Any:
        return sockaddr
