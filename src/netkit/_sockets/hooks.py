"""The hooks a message engine (UDP, Unix datagrams, SEQPACKET; both faces) asks of the
kind of socket it drives: its errors, its senders and its limits.

Declared once here; each kind's mixin in :mod:`netkit._sockets` supplies them, and the
sync (:mod:`netkit.udp._engine`) and asyncio (:mod:`netkit.aio._datagram`) engines call
them.
"""

from __future__ import annotations

import socket
from typing import Any, Generic, TypeVar

from netkit._sockets.sockopt import RawOptions
from netkit.errors import FrameTooLarge

__all__ = ["MessageHooks"]

_S = TypeVar("_S")


class MessageHooks(RawOptions, Generic[_S]):
    """What a message engine needs from its kind; *_S* is the type of a sender.

    It also gives every message socket ``getsockopt``/``setsockopt``
    (:class:`~netkit._sockets.sockopt.RawOptions`).
    """

    __slots__ = ()

    # The engine's own slots, read by the option calls below.
    _sock: socket.socket
    _closed: bool

    def _option_socket(self) -> Any:
        if self._closed:
            raise self._closed_error()
        return self._sock

    def _option_closed(self) -> BaseException:
        return self._closed_error()

    def _error(self, exc: OSError) -> BaseException:
        """The netkit error for a failed socket call (or *exc* itself)."""
        raise NotImplementedError

    def _closed_error(self) -> BaseException:
        """The error of any operation after ``close()``."""
        raise NotImplementedError

    def _send_error(self, exc: OSError, target: Any, size: int) -> BaseException:
        """The netkit error for a failed send of *size* bytes to *target* (``None``:
        the peer); by default :meth:`_error`'s."""
        return self._error(exc)

    def _timeout_error(self, timeout: float | None, *, sending: bool) -> BaseException:
        """The error of a receive (or send) whose deadline passed."""
        raise NotImplementedError

    def _sender_of(self, addr: Any) -> _S:
        """The sender of a kernel address (built on a cache miss, and cached)."""
        raise NotImplementedError

    def _truncated(self, size: int, max_size: int, sender: Any) -> FrameTooLarge:
        """The error for a received message over *max_size* (it was consumed)."""
        raise NotImplementedError

    def _truncated_into(self, size: int, capacity: int, sender: Any) -> FrameTooLarge:
        """The error of ``recvfrom_into`` for a datagram over the buffer's *capacity*."""
        raise NotImplementedError

    def _check_max_size(self, value: object) -> int:
        """A receive's validated ``max_size``."""
        raise NotImplementedError
