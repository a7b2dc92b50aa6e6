"""Host <-> network byte order for 16, 32 and 64-bit unsigned integers, with strict ranges.

``htons``/``ntohs`` (16 bits), ``htonl``/``ntohl`` (32 bits) and ``htonll``/``ntohll``
(64 bits) swap the bytes of an unsigned integer on a little-endian host and return it
unchanged on a big-endian one; each pair is its own inverse.

Unlike :mod:`socket`, the range is checked the same way everywhere: a value outside
``0..2**bits - 1`` raises ``ValueError`` naming the value and the range (``socket``
raises ``OverflowError``, and older versions silently truncated). Only real integers
are accepted: ``bool`` and ``float`` raise ``TypeError`` even though ``socket``
takes ``True``, because passing a flag or a float where a port or length belongs is
always a bug.

This module is pure: no IO.
"""

from __future__ import annotations

import socket
import sys

from netkit.errors import describe

__all__ = ["htonl", "htonll", "htons", "ntohl", "ntohll", "ntohs"]

_MAX16 = 0xFFFF
_MAX32 = 0xFFFF_FFFF
_MAX64 = 0xFFFF_FFFF_FFFF_FFFF


def _show(value: int) -> str:
    # repr() of an int over 4300 digits raises ValueError (CPython's int/str limit),
    # and describe() would still build a long text; name the size instead.
    if value.bit_length() > 128:
        return f"{'-' if value < 0 else ''}<{value.bit_length()}-bit integer>"
    return describe(value)


def _check(func: str, value: object, maximum: int, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{func}() takes an int, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ValueError(
            f"{func}() value {_show(value)} is out of range 0..{maximum} ({bits}-bit unsigned)"
        )
    return int(value)  # a plain int even for an int subclass such as IntEnum


# The common case (a plain int in range) is tested inline, before any call, so each
# function costs little more than socket's; everything else goes through _check.
_htons = socket.htons
_ntohs = socket.ntohs
_htonl = socket.htonl
_ntohl = socket.ntohl


def htons(value: int) -> int:
    """Convert a 16-bit unsigned integer from host to network byte order.

    Args:
        value: an ``int`` in ``0..2**16 - 1``.

    Returns:
        *value* with its bytes swapped on a little-endian host, unchanged on a big-endian one.

    Raises:
        TypeError: *value* is not an ``int`` (``bool`` included).
        ValueError: *value* is outside ``0..2**16 - 1``.
    """
    if type(value) is int and 0 <= value <= _MAX16:
        return _htons(value)
    return _htons(_check("htons", value, _MAX16, 16))


def ntohs(value: int) -> int:
    """Convert a 16-bit unsigned integer from network to host byte order.

    Args:
        value: an ``int`` in ``0..2**16 - 1``.

    Returns:
        *value* with its bytes swapped on a little-endian host, unchanged on a big-endian one.

    Raises:
        TypeError: *value* is not an ``int`` (``bool`` included).
        ValueError: *value* is outside ``0..2**16 - 1``.
    """
    if type(value) is int and 0 <= value <= _MAX16:
        return _ntohs(value)
    return _ntohs(_check("ntohs", value, _MAX16, 16))


def htonl(value: int) -> int:
    """Convert a 32-bit unsigned integer from host to network byte order.

    Args:
        value: an ``int`` in ``0..2**32 - 1``.

    Returns:
        *value* with its bytes swapped on a little-endian host, unchanged on a big-endian one.

    Raises:
        TypeError: *value* is not an ``int`` (``bool`` included).
        ValueError: *value* is outside ``0..2**32 - 1``.
    """
    if type(value) is int and 0 <= value <= _MAX32:
        return _htonl(value)
    return _htonl(_check("htonl", value, _MAX32, 32))


def ntohl(value: int) -> int:
    """Convert a 32-bit unsigned integer from network to host byte order.

    Args:
        value: an ``int`` in ``0..2**32 - 1``.

    Returns:
        *value* with its bytes swapped on a little-endian host, unchanged on a big-endian one.

    Raises:
        TypeError: *value* is not an ``int`` (``bool`` included).
        ValueError: *value* is outside ``0..2**32 - 1``.
    """
    if type(value) is int and 0 <= value <= _MAX32:
        return _ntohl(value)
    return _ntohl(_check("ntohl", value, _MAX32, 32))


# socket has no 64-bit swap. The host's order is fixed, so pick the function once: the
# identity on a big-endian host, a byte swap (via the little-endian bytes) otherwise.
if sys.byteorder == "big":

    def _swap64(value: int) -> int:
        return value

else:

    def _swap64(value: int) -> int:
        return int.from_bytes(value.to_bytes(8, "little"), "big")


def htonll(value: int) -> int:
    """Convert a 64-bit unsigned integer from host to network byte order.

    Args:
        value: an ``int`` in ``0..2**64 - 1``.

    Returns:
        *value* with its bytes swapped on a little-endian host, unchanged on a big-endian one.

    Raises:
        TypeError: *value* is not an ``int`` (``bool`` included).
        ValueError: *value* is outside ``0..2**64 - 1``.
    """
    if type(value) is int and 0 <= value <= _MAX64:
        return _swap64(value)
    return _swap64(_check("htonll", value, _MAX64, 64))


def ntohll(value: int) -> int:
    """Convert a 64-bit unsigned integer from network to host byte order.

    Args:
        value: an ``int`` in ``0..2**64 - 1``.

    Returns:
        *value* with its bytes swapped on a little-endian host, unchanged on a big-endian one.

    Raises:
        TypeError: *value* is not an ``int`` (``bool`` included).
        ValueError: *value* is outside ``0..2**64 - 1``.
    """
    if type(value) is int and 0 <= value <= _MAX64:
        return _swap64(value)
    return _swap64(_check("ntohll", value, _MAX64, 64))
