"""Unix listeners and socket activation: :class:`UnixListener`,
:class:`SeqpacketListener`, :func:`inherited_listeners`.

:class:`UnixListener` binds a path (with ``mode=`` permissions from the first instant,
a stale socket file replaced, a live listener left alone; see
:func:`netkit._sockets.listen.unix_listen_socket`) and removes the file when closed,
if it is still the one it created. :func:`inherited_listeners` hands out the listening
sockets a supervisor passed in (systemd socket activation) as :class:`TcpListener`,
:class:`UnixListener` or :class:`SeqpacketListener`, whichever each one is.
"""

from __future__ import annotations

import os
import socket
from typing import Any, TypeVar

from netkit._core.checks import check_size
from netkit._core.unix import check_mode, unix_text
from netkit._core.unixpath import address as unix_address
from netkit._core.unixpath import check_path
from netkit._sockets.activation import inherited_sockets
from netkit._sockets.listen import FileId, default_backlog, remove_socket_file, unix_listen_socket
from netkit.tcp.listener import Listener, TcpListener
from netkit.unix.connection import UnixConnection
from netkit.unix.seqpacket import SeqpacketConnection

__all__ = ["SeqpacketListener", "UnixListener", "inherited_listeners"]

_P = TypeVar("_P", bound="_PathListener")


class _PathListener(Listener):
    """A listening Unix socket on a path (stream or SEQPACKET, by ``_TYPE``): binding
    with ``mode=``, the path as address, and the socket file removed on close."""

    __slots__ = ("_created", "_path")

    _convert = staticmethod(unix_address)

    def __init__(self, sock: socket.socket, *, name: str | None = None) -> None:
        super().__init__(sock, name=name)
        self._path: str | None = None
        self._created: FileId | None = None  # the file bind() made, removed on close

    @classmethod
    def _bind(
        cls: type[_P], path: str | os.PathLike[str], mode: int | None, backlog: int | None
    ) -> _P:
        where = check_path(path)
        bits = check_mode(mode)
        if backlog is None:
            backlog = default_backlog()
        check_size("backlog", backlog)
        sock, created = unix_listen_socket(where, bits, backlog, cls._TYPE)
        listener = cls(sock)
        listener._path = where
        listener._created = created
        return listener

    @property
    def address(self) -> str:
        """The path (``"\\0name"`` for an abstract name)."""
        if self._path is not None:
            return self._path
        address: str = self._bound()
        return address

    def __repr__(self) -> str:
        state = "closed" if self._closed else "listening"
        label = "" if self._name is None else f" {self._name!r}"
        try:
            where = unix_text(self.address)
        except OSError:
            where = "?"
        return f"<{type(self).__name__}{label} {where} {state}>"

    def close(self) -> None:
        """Stop listening, close the socket and remove the socket file :meth:`bind` made.

        The file is removed only if the path still names it (another process may have
        replaced it meanwhile). Idempotent.
        """
        if self._closed:
            return
        super().close()
        if self._path is not None and self._created is not None:
            remove_socket_file(self._path, self._created)

    def _poke(self) -> None:
        try:
            with socket.socket(socket.AF_UNIX, self._TYPE) as sock:
                sock.settimeout(0.2)
                sock.connect(self.address)
        except OSError:
            pass


class UnixListener(_PathListener):
    """A listening Unix stream socket: ``accept(timeout=)`` returns a :class:`UnixConnection`.

    Make one with :meth:`bind`, or wrap a listening ``AF_UNIX`` socket you have
    (``UnixListener(sock)``, taking ownership; its file is then not removed on close).
    Pass it to :class:`~netkit.UnixServer` as ``listener=``, or accept yourself.

    Parameters:
        sock: a listening ``AF_UNIX`` stream socket.
        name: a name for it (:func:`inherited_listeners` sets the supervisor's).

    Raises:
        TypeError: *sock* is not a socket, or not ``AF_UNIX``.
        ValueError: *sock* is not a listening stream socket.
    """

    __slots__ = ()

    _KIND = "UnixListener"

    @classmethod
    def bind(
        cls, path: str | os.PathLike[str], *, mode: int | None = None, backlog: int | None = None
    ) -> UnixListener:
        """Bind *path* (or a Linux abstract ``"\\0name"``) and listen.

        Parameters:
            path: where the socket file goes; its directory must exist.
            mode: the file's permissions (``0o600``: the owner only), which hold from
                the moment the file exists; None leaves them to the umask.
            backlog: how many clients may wait to be accepted; None (the default) for
                the servers' default, 4096 capped by the kernel's ``somaxconn``.

        Returns:
            The listener; :meth:`close` removes the file it created (if the path still
            names that file).

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable socket path (too long for
                ``sun_path``, empty, an abstract name where there are none...).
            OSError: with the path as ``filename``: ``EADDRINUSE`` when a live listener
                has it (left alone; a stale socket file is replaced instead),
                ``FileExistsError`` for a file that is not a socket,
                ``FileNotFoundError`` for a missing directory, ``PermissionError``.
            ValueError: *mode* is not permission bits, or given with an abstract name.
        """
        return cls._bind(path, mode, backlog)

    def accept(self, *, timeout: float | None = None) -> UnixConnection:
        """Wait for the next client, by *timeout* seconds, and return its connection.

        Args:
            timeout: seconds to wait; None for no limit.

        Returns:
            The client's connection.

        Raises:
            NetkitTimeout: no client came in time.
            ConnectionClosed: the listener is closed (also by another thread meanwhile).
            OSError: ``accept()`` failed for another reason (out of descriptors...).
        """
        sock = self._accept_socket(timeout)
        try:
            return UnixConnection(sock)
        except BaseException:  # pragma: no cover - an accepted socket is valid
            sock.close()
            raise


class SeqpacketListener(_PathListener):
    """A listening Unix SEQPACKET socket: ``accept(timeout=)`` returns a
    :class:`~netkit.SeqpacketConnection`.

    :class:`UnixListener`'s twin for ``SOCK_SEQPACKET``, with the same rules: make one
    with :meth:`bind` (``mode=`` from the first instant, a stale socket file replaced,
    a live listener's path refused and left alone, the file removed on close if it is
    still the one created), or wrap a listening ``AF_UNIX`` ``SOCK_SEQPACKET`` socket
    (``SeqpacketListener(sock)``, taking ownership). Pass it to
    :class:`~netkit.SeqpacketServer` as ``listener=``, or accept yourself::

        with SeqpacketListener.bind("/run/app.sock", mode=0o600) as listener:
            with listener.accept(timeout=10) as conn:
                conn.send_message(b"hello")

    Parameters:
        sock: a listening ``AF_UNIX`` ``SOCK_SEQPACKET`` socket.
        name: a name for it (:func:`inherited_listeners` sets the supervisor's).

    Raises:
        TypeError: *sock* is not a socket, or not ``AF_UNIX``.
        ValueError: *sock* is not a listening ``SOCK_SEQPACKET`` socket.
    """

    __slots__ = ()

    _KIND = "SeqpacketListener"
    _TYPE = socket.SOCK_SEQPACKET

    @classmethod
    def bind(
        cls, path: str | os.PathLike[str], *, mode: int | None = None, backlog: int | None = None
    ) -> SeqpacketListener:
        """Bind *path* (or a Linux abstract ``"\\0name"``) and listen.

        Parameters:
            path: where the socket file goes; its directory must exist.
            mode: the file's permissions, which hold from the moment the file exists.
            backlog: how many clients may wait to be accepted; None (the default) for
                the servers' default, 4096 capped by the kernel's ``somaxconn``.

        Returns:
            The listener; :meth:`close` removes the file it created (if the path still
            names that file).

        Raises:
            TypeError: *path* is not a str, bytes or path-like object.
            AddressError: *path* is not a usable socket path (too long for ``sun_path``,
                empty, an abstract name where there are none...).
            OSError: ``EADDRINUSE`` when a live listener has the path (left alone),
                ``FileExistsError``, ``FileNotFoundError``, ``PermissionError``; as
                :meth:`UnixListener.bind`.
            ValueError: *mode* is not permission bits, or given with an abstract name.
        """
        return cls._bind(path, mode, backlog)

    def accept(self, *, timeout: float | None = None) -> SeqpacketConnection:
        """Wait for the next client, by *timeout* seconds, and return its connection.

        Args:
            timeout: seconds to wait; None for no limit.

        Returns:
            The connection, in blocking mode with no default timeout.

        Raises:
            NetkitTimeout: no client came in time.
            ConnectionClosed: the listener is closed (also by another thread meanwhile).
            OSError: ``accept()`` failed for another reason (out of descriptors...).
        """
        sock = self._accept_socket(timeout)
        try:
            return SeqpacketConnection(sock)
        except BaseException:  # pragma: no cover - an accepted socket is valid
            sock.close()
            raise


def inherited_listeners() -> list[TcpListener | UnixListener | SeqpacketListener]:
    """The listening sockets a supervisor passed to this process (socket activation).

    Reads ``LISTEN_PID``, ``LISTEN_FDS`` and ``LISTEN_FDNAMES`` as systemd's
    ``sd_listen_fds_with_names()`` does, then unsets them, so the descriptors (3, 4,
    ...) are handed out once: a second call returns ``[]``, and child processes do not
    see the variables. Each listener has the supervisor's name as :attr:`Listener.name`
    (``"unknown"`` without ``LISTEN_FDNAMES``). Pass one to a server as ``listener=``
    (a :class:`SeqpacketListener` to a :class:`~netkit.SeqpacketServer`).

    Returns:
        A :class:`TcpListener`, :class:`UnixListener` or :class:`SeqpacketListener`
        per descriptor, in order; ``[]`` when nothing was passed, or it was meant for
        another process.

    Raises:
        ValueError: the variables are malformed, or a descriptor is not a listening TCP,
            Unix stream or Unix SEQPACKET socket (every inherited descriptor is then
            closed).
        OSError: a descriptor is not open.
    """
    found: list[tuple[socket.socket, str]] = inherited_sockets()
    listeners: list[TcpListener | UnixListener | SeqpacketListener] = []
    for sock, name in found:
        kind: Any = TcpListener
        if sock.family == socket.AF_UNIX:
            kind = SeqpacketListener if sock.type == socket.SOCK_SEQPACKET else UnixListener
        listeners.append(kind(sock, name=name))
    return listeners
