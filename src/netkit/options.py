"""Typed socket options: validated once, applied to a socket, read back.

:class:`SocketOptions` is a frozen dataclass of the options netkit knows; a field left
at ``None`` means "leave the socket as it is". Values are checked when the object is
built (``TypeError`` for a wrong type, ``ValueError`` for a value out of range), so a
bad option fails where it is written, not later inside a server.

``opts.apply(sock)`` first checks that every requested option makes sense for that
socket (``nodelay`` on a UDP socket or ``v6only`` on an IPv4 socket is a
``ValueError``) and that the platform has it (``NotImplementedError`` naming the
option), and only then changes anything, so a refused call leaves the socket untouched.
``SocketOptions.read(sock)`` reports what the kernel holds.

Two values need a way to say "off" that is not ``None``:

* ``keepalive=False`` turns ``SO_KEEPALIVE`` off; ``keepalive=True`` or ``KeepAlive()``
  turns it on with the system's timers; ``KeepAlive(idle, interval, count)`` sets them.
* ``linger=LINGER_OFF`` turns ``SO_LINGER`` off (the default: ``close()`` returns at once
  and the kernel sends what is queued in the background); ``linger=0`` turns it on with
  a zero timeout, so ``close()`` drops unsent data and resets the connection (RST);
  ``linger=n`` makes ``close()`` wait up to *n* seconds for queued data to go out.
  A sentinel rather than ``False`` because ``False == 0`` in Python, and "off" and
  "reset on close" must never compare equal.

``timeout=math.inf`` means "block forever" (``sock.settimeout(None)``); ``timeout=0``
means non-blocking, as with :meth:`socket.socket.settimeout`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from netkit.errors import describe

__all__ = ["LINGER_OFF", "KeepAlive", "LingerOff", "SocketOptions"]

# Linux's own limits (MAX_TCP_KEEPIDLE/KEEPINTVL/KEEPCNT); other systems are as strict.
_MAX_KEEP_SECONDS = 32767
_MAX_KEEP_COUNT = 127
# Fits a signed short, the narrowest l_linger among the platforms Python supports.
_MAX_LINGER = 32767
_MAX_BUFFER = 2**31 - 1
# Beyond about 9.2e9 s settimeout() overflows (nanoseconds in 64 bits); 1e9 s is 31 years.
_MAX_TIMEOUT = 1e9
# SO_LINGER's struct linger: two ints on POSIX, two unsigned shorts on Windows.
_LINGER = struct.Struct("HH" if sys.platform == "win32" else "ii")


class LingerOff(enum.Enum):
    """The type of :data:`~netkit.options.LINGER_OFF`, the value that turns ``SO_LINGER`` off."""

    LINGER_OFF = "linger off"

    def __repr__(self) -> str:
        return "LINGER_OFF"


LINGER_OFF: Final = LingerOff.LINGER_OFF
"""``linger=LINGER_OFF`` turns SO_LINGER off (``None`` means "leave as is")."""


def _show(value: object) -> str:
    # describe() calls repr(), which raises for ints over 4300 digits; name the size.
    if isinstance(value, int) and value.bit_length() > 128:
        return f"{'-' if value < 0 else ''}<{value.bit_length()}-bit integer>"
    return describe(value)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, not {_show(value)}")


def _check_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool or None, not {type(value).__name__}")


@dataclass(frozen=True)
class KeepAlive:
    """TCP keepalive timers, in whole seconds; ``None`` keeps the system's value.

    ``KeepAlive()`` just turns keepalive on.

    Attributes:
        idle: seconds without traffic before the first probe (``TCP_KEEPIDLE``, or
            ``TCP_KEEPALIVE`` on macOS), 1..32767.
        interval: seconds between probes (``TCP_KEEPINTVL``), 1..32767.
        count: unanswered probes before the connection is dropped (``TCP_KEEPCNT``),
            1..127.

    Raises:
        TypeError: a timer that is not an ``int``.
        ValueError: a timer out of its range.
    """

    idle: int | None = None
    interval: int | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.idle is not None:
            _check_int("KeepAlive.idle", self.idle, 1, _MAX_KEEP_SECONDS)
        if self.interval is not None:
            _check_int("KeepAlive.interval", self.interval, 1, _MAX_KEEP_SECONDS)
        if self.count is not None:
            _check_int("KeepAlive.count", self.count, 1, _MAX_KEEP_COUNT)


def _const(name: str) -> int | None:
    # Looked up at call time (not import time) so tests can monkeypatch a constant away.
    value = getattr(socket, name, None)
    return value if isinstance(value, int) else None


def _keepidle_name() -> str | None:
    # macOS spells TCP_KEEPIDLE as TCP_KEEPALIVE (and Linux has no TCP_KEEPALIVE).
    for name in ("TCP_KEEPIDLE", "TCP_KEEPALIVE"):
        if _const(name) is not None:
            return name
    return None


def _is_tcp(sock: socket.socket) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM


def _describe_socket(sock: socket.socket) -> str:
    family = getattr(sock.family, "name", str(sock.family))
    kind = getattr(sock.type, "name", str(sock.type))
    return f"this {family} {kind} socket"


# One planned setsockopt (or settimeout) call: what to say if it fails, and the call.
_Step = tuple[str, Callable[[], None]]


def _setsockopt(
    sock: socket.socket, level: int, opt: int, value: int | bytes
) -> Callable[[], None]:
    def call() -> None:
        sock.setsockopt(level, opt, value)

    return call


@dataclass(frozen=True)
class SocketOptions:
    """Socket options to apply; every field left at ``None`` is left as it is.

    Attributes:
        reuse_addr: SO_REUSEADDR.
        reuse_port: SO_REUSEPORT.
        nodelay: TCP_NODELAY (TCP only).
        keepalive: SO_KEEPALIVE plus its timers (TCP only): a :class:`KeepAlive`,
            ``True`` for the system's timers or ``False`` for off.
        recv_buffer: SO_RCVBUF in bytes.
        send_buffer: SO_SNDBUF in bytes.
        linger: SO_LINGER (TCP only): whole seconds, or
            :data:`~netkit.options.LINGER_OFF`.
        v6only: IPV6_V6ONLY (IPv6 only).
        broadcast: SO_BROADCAST (UDP only).
        ttl: IP_TTL on IPv4, IPV6_UNICAST_HOPS on IPv6; 1..255.
        timeout: seconds, ``0`` for non-blocking, ``math.inf`` for blocking.

    Raises:
        TypeError: a field of the wrong type.
        ValueError: a field out of its range.
    """

    reuse_addr: bool | None = None
    reuse_port: bool | None = None
    nodelay: bool | None = None
    keepalive: KeepAlive | bool | None = None
    recv_buffer: int | None = None
    send_buffer: int | None = None
    linger: int | LingerOff | None = None
    v6only: bool | None = None
    broadcast: bool | None = None
    ttl: int | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("reuse_addr", "reuse_port", "nodelay", "v6only", "broadcast"):
            _check_bool(name, getattr(self, name))
        if self.keepalive is not None and not isinstance(self.keepalive, (KeepAlive, bool)):
            raise TypeError(
                "keepalive must be a KeepAlive, a bool or None, "
                f"not {type(self.keepalive).__name__}"
            )
        for name in ("recv_buffer", "send_buffer"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 1, _MAX_BUFFER)
        if self.linger is not None and not isinstance(self.linger, LingerOff):
            if not isinstance(self.linger, int) or isinstance(self.linger, bool):
                raise TypeError(
                    "linger must be an int number of seconds, LINGER_OFF or None, "
                    f"not {type(self.linger).__name__}"
                )
            _check_int("linger", self.linger, 0, _MAX_LINGER)
        if self.ttl is not None:
            _check_int("ttl", self.ttl, 1, 255)
        if self.timeout is not None:
            timeout = self.timeout
            if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
                raise TypeError(
                    f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
                )
            if not (0 <= timeout <= _MAX_TIMEOUT or timeout == math.inf):  # NaN fails too
                raise ValueError(
                    f"timeout must be in 0..{_MAX_TIMEOUT:g} seconds or math.inf (block), "
                    f"not {_show(timeout)}"
                )

    def merged(self, other: SocketOptions) -> SocketOptions:
        """Return a copy with every field that *other* sets (not ``None``) taken from it.

        Args:
            other: the options that win.

        Returns:
            The merged options.

        Raises:
            TypeError: *other* is not a :class:`SocketOptions`.
        """
        if not isinstance(other, SocketOptions):
            raise TypeError(f"other must be SocketOptions, not {type(other).__name__}")
        changes = {
            field.name: getattr(other, field.name)
            for field in dataclasses.fields(other)
            if getattr(other, field.name) is not None
        }
        return dataclasses.replace(self, **changes)

    def _plan(self, sock: socket.socket) -> list[_Step]:
        """Check every option against *sock* and the platform; return the calls to make.

        Nothing is changed here, so a refused option leaves the socket untouched.
        """
        steps: list[_Step] = []
        where = _describe_socket(sock)
        is_inet = sock.family in (socket.AF_INET, socket.AF_INET6)

        def need(option: str, constant: str) -> int:
            value = _const(constant)
            if value is None:
                raise NotImplementedError(
                    f"option {option} needs socket.{constant}, which this platform lacks"
                )
            return value

        def need_tcp(option: str) -> None:
            if not _is_tcp(sock):
                raise ValueError(f"option {option} applies to TCP sockets only, not {where}")

        if self.reuse_addr is not None:
            opt = need("reuse_addr", "SO_REUSEADDR")
            steps.append(
                ("reuse_addr", _setsockopt(sock, socket.SOL_SOCKET, opt, int(self.reuse_addr)))
            )
        if self.reuse_port is not None:
            opt = need("reuse_port", "SO_REUSEPORT")
            steps.append(
                ("reuse_port", _setsockopt(sock, socket.SOL_SOCKET, opt, int(self.reuse_port)))
            )
        if self.nodelay is not None:
            need_tcp("nodelay")
            opt = need("nodelay", "TCP_NODELAY")
            steps.append(
                ("nodelay", _setsockopt(sock, socket.IPPROTO_TCP, opt, int(self.nodelay)))
            )
        if self.keepalive is not None:
            need_tcp("keepalive")
            opt = need("keepalive", "SO_KEEPALIVE")
            on = self.keepalive is not False
            steps.append(("keepalive", _setsockopt(sock, socket.SOL_SOCKET, opt, int(on))))
            if isinstance(self.keepalive, KeepAlive):
                timers = self.keepalive
                if timers.idle is not None:
                    idle_name = _keepidle_name()
                    if idle_name is None:
                        raise NotImplementedError(
                            "option keepalive.idle needs socket.TCP_KEEPIDLE, "
                            "which this platform lacks"
                        )
                    idle_opt = need("keepalive.idle", idle_name)
                    steps.append(
                        (
                            "keepalive.idle",
                            _setsockopt(sock, socket.IPPROTO_TCP, idle_opt, timers.idle),
                        )
                    )
                if timers.interval is not None:
                    intvl = need("keepalive.interval", "TCP_KEEPINTVL")
                    steps.append(
                        (
                            "keepalive.interval",
                            _setsockopt(sock, socket.IPPROTO_TCP, intvl, timers.interval),
                        )
                    )
                if timers.count is not None:
                    cnt = need("keepalive.count", "TCP_KEEPCNT")
                    steps.append(
                        (
                            "keepalive.count",
                            _setsockopt(sock, socket.IPPROTO_TCP, cnt, timers.count),
                        )
                    )
        if self.recv_buffer is not None:
            opt = need("recv_buffer", "SO_RCVBUF")
            steps.append(
                ("recv_buffer", _setsockopt(sock, socket.SOL_SOCKET, opt, self.recv_buffer))
            )
        if self.send_buffer is not None:
            opt = need("send_buffer", "SO_SNDBUF")
            steps.append(
                ("send_buffer", _setsockopt(sock, socket.SOL_SOCKET, opt, self.send_buffer))
            )
        if self.linger is not None:
            need_tcp("linger")
            opt = need("linger", "SO_LINGER")
            if isinstance(self.linger, LingerOff):
                packed = _LINGER.pack(0, 0)
            else:
                packed = _LINGER.pack(1, self.linger)
            steps.append(("linger", _setsockopt(sock, socket.SOL_SOCKET, opt, packed)))
        if self.v6only is not None:
            if sock.family != socket.AF_INET6:
                raise ValueError(f"option v6only applies to AF_INET6 sockets only, not {where}")
            opt = need("v6only", "IPV6_V6ONLY")
            steps.append(("v6only", _setsockopt(sock, socket.IPPROTO_IPV6, opt, int(self.v6only))))
        if self.broadcast is not None:
            if not (is_inet and sock.type == socket.SOCK_DGRAM):
                raise ValueError(
                    f"option broadcast applies to UDP (SOCK_DGRAM) sockets only, not {where}"
                )
            opt = need("broadcast", "SO_BROADCAST")
            steps.append(
                ("broadcast", _setsockopt(sock, socket.SOL_SOCKET, opt, int(self.broadcast)))
            )
        if self.ttl is not None:
            if sock.family == socket.AF_INET:
                opt = need("ttl", "IP_TTL")
                steps.append(("ttl", _setsockopt(sock, socket.IPPROTO_IP, opt, self.ttl)))
            elif sock.family == socket.AF_INET6:
                opt = need("ttl", "IPV6_UNICAST_HOPS")
                steps.append(("ttl", _setsockopt(sock, socket.IPPROTO_IPV6, opt, self.ttl)))
            else:
                raise ValueError(f"option ttl applies to IP sockets only, not {where}")
        if self.timeout is not None:
            value = None if math.isinf(self.timeout) else float(self.timeout)

            def set_timeout() -> None:
                sock.settimeout(value)

            steps.append(("timeout", set_timeout))
        return steps

    def apply(self, sock: socket.socket) -> None:
        """Set every option that is not ``None`` on *sock*.

        Options are checked against the socket and the platform before anything is
        changed, so a refused call leaves the socket untouched.

        Args:
            sock: the socket to change.

        Raises:
            TypeError: *sock* is not a ``socket.socket``.
            ValueError: an option does not fit the socket (``nodelay``, ``keepalive`` and
                ``linger`` need TCP, ``broadcast`` UDP, ``v6only`` AF_INET6, ``ttl`` an IP
                socket).
            NotImplementedError: the platform lacks an option.
            OSError: the kernel refused an option; the message names it and the original
                error is the cause.
        """
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
        for name, call in self._plan(sock):
            try:
                call()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise OSError(exc.errno, f"cannot set socket option {name}: {reason}") from exc

    @classmethod
    def read(cls, sock: socket.socket) -> SocketOptions:
        """Return the options *sock* has now, as the kernel reports them.

        Options that do not apply to the socket (``nodelay`` on UDP, ``v6only`` on
        IPv4, ...) or that the platform cannot report come back as ``None``.

        ``recv_buffer``/``send_buffer`` are what the kernel holds, which is not what was
        asked: Linux doubles the requested size (the extra half pays for its own
        bookkeeping, see ``man 7 socket``) and clamps it between a minimum and the
        ``net.core.rmem_max``/``wmem_max`` sysctls, so asking for 65536 reads back
        131072. Use these values to know the real capacity, not to compare with
        what was asked.

        Args:
            sock: the socket to read.

        Returns:
            The options as the socket has them.

        Raises:
            TypeError: *sock* is not a ``socket.socket``.
            OSError: the kernel refused to report an option.
        """
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")

        def get(level: int, constant: str, low: int = 0, high: int = _MAX_BUFFER) -> int | None:
            # A value outside what SocketOptions accepts (some systems report -1 for
            # "system default") is reported as unknown rather than failing the read.
            opt = _const(constant)
            if opt is None:
                return None
            value = sock.getsockopt(level, opt)
            return value if low <= value <= high else None

        def get_bool(level: int, constant: str) -> bool | None:
            value = get(level, constant)
            return None if value is None else bool(value)

        sol = socket.SOL_SOCKET
        tcp = _is_tcp(sock)
        keepalive: KeepAlive | bool | None = None
        nodelay: bool | None = None
        linger_value: int | LingerOff | None = None
        if tcp:
            nodelay = get_bool(socket.IPPROTO_TCP, "TCP_NODELAY")
            on = get_bool(sol, "SO_KEEPALIVE")
            if on:
                idle_name = _keepidle_name()
                tcp_level = socket.IPPROTO_TCP
                keepalive = KeepAlive(
                    idle=None
                    if idle_name is None
                    else get(tcp_level, idle_name, 1, _MAX_KEEP_SECONDS),
                    interval=get(tcp_level, "TCP_KEEPINTVL", 1, _MAX_KEEP_SECONDS),
                    count=get(tcp_level, "TCP_KEEPCNT", 1, _MAX_KEEP_COUNT),
                )
            elif on is not None:
                keepalive = False
            linger_opt = _const("SO_LINGER")
            if linger_opt is not None:
                onoff, seconds = _LINGER.unpack(sock.getsockopt(sol, linger_opt, _LINGER.size))
                if not onoff:
                    linger_value = LINGER_OFF
                elif 0 <= seconds <= _MAX_LINGER:
                    linger_value = seconds
        v6only = None
        ttl = None
        if sock.family == socket.AF_INET6:
            v6only = get_bool(socket.IPPROTO_IPV6, "IPV6_V6ONLY")
            ttl = get(socket.IPPROTO_IPV6, "IPV6_UNICAST_HOPS", 1, 255)
        elif sock.family == socket.AF_INET:
            ttl = get(socket.IPPROTO_IP, "IP_TTL", 1, 255)
        broadcast = None
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_DGRAM:
            broadcast = get_bool(sol, "SO_BROADCAST")
        current = sock.gettimeout()
        return cls(
            reuse_addr=get_bool(sol, "SO_REUSEADDR"),
            reuse_port=get_bool(sol, "SO_REUSEPORT"),
            nodelay=nodelay,
            keepalive=keepalive,
            recv_buffer=get(sol, "SO_RCVBUF", 1),
            send_buffer=get(sol, "SO_SNDBUF", 1),
            linger=linger_value,
            v6only=v6only,
            broadcast=broadcast,
            ttl=ttl,
            timeout=math.inf if current is None else current,
        )
