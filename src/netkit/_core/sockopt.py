"""Raw socket options by ``(level, name)``: argument rules, option names, errors.

Every netkit object that owns a socket has ``getsockopt``/``setsockopt`` (the methods
live once, in :class:`netkit._sockets.sockopt.RawOptions`, for both faces); the rules
they follow live here: what ``level``, ``name``, ``buflen`` and ``value`` may be, what
an option is called in messages, and what a failed call raises.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from functools import cache

from netkit.errors import describe

__all__ = [
    "MAX_BUFLEN",
    "check_buflen",
    "check_option",
    "check_value",
    "no_socket",
    "option_error",
    "option_text",
]

#: The largest ``buflen`` :meth:`socket.socket.getsockopt` accepts (CPython's limit).
MAX_BUFLEN = 1024
_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1

# The levels whose options the messages can name, and the prefix of their constants.
_LEVELS: dict[str, tuple[str, ...]] = {
    "SOL_SOCKET": ("SO_",),
    "IPPROTO_IP": ("IP_", "MCAST_"),
    "IPPROTO_IPV6": ("IPV6_",),
    "IPPROTO_TCP": ("TCP_",),
    "IPPROTO_UDP": ("UDP_",),
}
# Constants with an option's prefix that are not options (default values, limits).
_NOT_OPTIONS = ("_DEFAULT_", "_MAX_", "IP_PMTUDISC_", "IPV6_PMTUDISC_")


def _c_int(what: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError(
            f"{what} must fit a C int ({_INT_MIN}..{_INT_MAX}), not {describe(value)}"
        )
    return int(value)


def check_option(level: object, name: object) -> tuple[int, int]:
    """The ``(level, name)`` of an option: ints that fit a C int (bool refused)."""
    return _c_int("level", level), _c_int("name", name)


def check_buflen(buflen: object) -> int | None:
    """``None`` (read the option as an int) or a buffer size in ``1..MAX_BUFLEN``."""
    if buflen is None:
        return None
    if not isinstance(buflen, int) or isinstance(buflen, bool):
        raise TypeError(f"buflen must be an int or None, not {type(buflen).__name__}")
    if not 1 <= buflen <= MAX_BUFLEN:
        raise ValueError(f"buflen must be in 1..{MAX_BUFLEN} or None, not {describe(buflen)}")
    return int(buflen)


def check_value(value: object) -> int | bytes:
    """An option's value: an int (a bool is 0 or 1) that fits a C int, or bytes-like."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return _c_int("value", value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"value must be an int or bytes-like, not {type(value).__name__}")


@cache
def _names() -> dict[tuple[int, int], str]:
    """``(level, name)`` to ``LEVEL/NAME`` for this platform's unambiguous constants."""
    table: dict[tuple[int, int], list[str]] = {}
    for level_name, prefixes in _LEVELS.items():
        level = getattr(socket, level_name, None)
        if not isinstance(level, int):
            continue
        for const in dir(socket):
            if not const.startswith(prefixes) or any(bad in const for bad in _NOT_OPTIONS):
                continue
            value = getattr(socket, const)
            if isinstance(value, int) and not isinstance(value, bool):
                table.setdefault((level, value), []).append(f"{level_name}/{const}")
    return {key: names[0] for key, names in table.items() if len(names) == 1}


def option_text(level: int, name: int) -> str:
    """How messages name an option: ``SOL_SOCKET/SO_RCVBUF (level 1, name 8)``."""
    known = _names().get((level, name))
    numbers = f"(level {level}, name {name})"
    return numbers if known is None else f"{known} {numbers}"


def option_error(
    exc: OSError,
    setting: bool,
    level: int,
    name: int,
    closed: Callable[[], BaseException],
) -> BaseException:
    """What a ``getsockopt`` (or, with *setting*, ``setsockopt``) failing with *exc* raises.

    ``EBADF`` (the socket was closed under the call) is the object's own closed error
    from *closed*; anything else is an :class:`OSError` of the same subclass and errno
    whose message names the option (the caller chains *exc* as the cause).
    """
    if exc.errno == errno.EBADF:
        return closed()
    reason = exc.strerror or str(exc) or type(exc).__name__
    verb = "set" if setting else "get"
    return OSError(exc.errno, f"cannot {verb} socket option {option_text(level, name)}: {reason}")


def no_socket(setting: bool, level: int, name: int, kind: str) -> OSError:
    """The error of an option call on an object with no socket (a memory pair's)."""
    verb = "set" if setting else "get"
    return OSError(
        errno.ENOTSOCK,
        f"cannot {verb} socket option {option_text(level, name)}: "
        f"this {kind} has no socket ({os.strerror(errno.ENOTSOCK)})",
    )
