"""``getsockopt``/``setsockopt`` by ``(level, name)`` for every netkit object with a socket.

:class:`RawOptions` is a mixin of both faces' connections, listeners and datagram
endpoints: an option call never waits, so one implementation serves the sync and the
asyncio objects alike. The rules and messages come from :mod:`netkit._core.sockopt`.
"""

from __future__ import annotations

from typing import Any, overload

from netkit._core.sockopt import (
    check_buflen,
    check_option,
    check_value,
    no_socket,
    option_error,
)

__all__ = ["RawOptions"]


class RawOptions:
    """Any socket option by ``(level, name)``, beside the typed :class:`~netkit.SocketOptions`.

    A class using it supplies :meth:`_option_socket` (its socket, or the error of a
    closed object) and :meth:`_option_closed` (that error, for a socket closed under
    the call).
    """

    __slots__ = ()

    def _option_socket(self) -> Any:
        """The socket to ask (None: the object has none); raise if the object is closed."""
        raise NotImplementedError

    def _option_closed(self) -> BaseException:
        """The error of an option call on this object once it is closed."""
        raise NotImplementedError

    @overload
    def getsockopt(self, level: int, name: int, buflen: None = None) -> int: ...
    @overload
    def getsockopt(self, level: int, name: int, buflen: int) -> bytes: ...
    def getsockopt(self, level: int, name: int, buflen: int | None = None) -> int | bytes:
        """Read a socket option, as :meth:`socket.socket.getsockopt` does.

        For options :class:`~netkit.SocketOptions` has no field for (or to read one
        as the kernel holds it). Never waits (a plain method in the asyncio face too).

        Args:
            level: the protocol level (``socket.SOL_SOCKET``, ``IPPROTO_TCP``...).
            name: the option (``socket.SO_RCVBUF``...).
            buflen: None to read the option as an int; a size (1..1024) to read its
                raw bytes (a C struct), at most that many.

        Returns:
            The option's value: an int, or bytes when *buflen* is given.

        Raises:
            TypeError: *level*, *name* or *buflen* is not an int.
            ValueError: a number out of range (a C int; *buflen* 1..1024).
            ConnectionClosed: the object is closed (its usual closed error).
            OSError: the kernel refused (``ENOPROTOOPT`` for an option this socket
                does not have...); the message names the option, the errno is kept
                and the kernel's error is the ``__cause__``. ``ENOTSOCK`` for an
                object with no socket (a memory pair).
        """
        level, name = check_option(level, name)
        size = check_buflen(buflen)
        sock = self._option_socket()
        if sock is None or not hasattr(sock, "getsockopt"):
            raise no_socket(False, level, name, type(self).__name__)
        try:
            if size is None:
                value: int | bytes = sock.getsockopt(level, name)
            else:
                value = sock.getsockopt(level, name, size)
        except OSError as exc:
            raise option_error(exc, False, level, name, self._option_closed) from exc
        return value

    def setsockopt(self, level: int, name: int, value: int | bytes) -> None:
        """Set a socket option, as :meth:`socket.socket.setsockopt` does.

        Never waits (a plain method in the asyncio face too). Prefer
        :class:`~netkit.SocketOptions` for the options it has fields for: it checks
        values and the socket's kind before changing anything.

        Args:
            level: the protocol level (``socket.SOL_SOCKET``, ``IPPROTO_TCP``...).
            name: the option (``socket.SO_KEEPALIVE``...).
            value: an int (a bool counts as 0 or 1) or bytes-like (a packed C struct).

        Raises:
            TypeError: *level* or *name* is not an int, or *value* is neither an int
                nor bytes-like.
            ValueError: an int that does not fit a C int.
            ConnectionClosed: the object is closed (its usual closed error).
            OSError: the kernel refused (``EINVAL``, ``ENOPROTOOPT``, ``EPERM``...);
                the message names the option, the errno is kept and the kernel's error
                is the ``__cause__``. ``ENOTSOCK`` for an object with no socket.
        """
        level, name = check_option(level, name)
        checked = check_value(value)
        sock = self._option_socket()
        if sock is None or not hasattr(sock, "setsockopt"):
            raise no_socket(True, level, name, type(self).__name__)
        try:
            sock.setsockopt(level, name, checked)
        except OSError as exc:
            raise option_error(exc, True, level, name, self._option_closed) from exc
