"""Unix socket addresses: the rules for a path or abstract name, and their messages.

One home for what every ``AF_UNIX`` class accepts as an address and how it reports a
kernel address back, so a Unix datagram endpoint, a SEQPACKET connection and a Unix
stream all say the same about the same path. Nothing here makes a system call.

An address is ``str`` text everywhere in netkit:

* a filesystem path (``"/run/app.sock"``; a :class:`os.PathLike` or ``bytes`` is taken
  too and turned into text with :func:`os.fsdecode`, so an undecodable name survives
  the round trip);
* on Linux, an abstract name: text starting with ``"\\0"`` (as in the :mod:`socket`
  module), which lives in the kernel only, not in the filesystem;
* ``""`` for an unnamed socket (one end of a ``socketpair``, a client that never bound).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Final

from netkit.errors import AddressError, ConnectFailed, describe

__all__ = [
    "ABSTRACT_SUPPORTED",
    "MAX_ABSTRACT_BYTES",
    "MAX_PATH_BYTES",
    "address",
    "bind_failed",
    "check_path",
    "connect_failed",
    "in_use",
    "is_abstract",
    "not_a_socket",
    "show",
    "sockaddr",
]

#: The longest filesystem path a Unix socket can have, in bytes (encoded): ``sun_path``
#: holds 108 bytes and the :mod:`socket` module keeps one for the terminating NUL.
MAX_PATH_BYTES: Final = 107
#: The longest abstract name, in bytes, its leading NUL included: all of ``sun_path``.
MAX_ABSTRACT_BYTES: Final = 108
#: Whether this platform has abstract names (Linux only).
ABSTRACT_SUPPORTED: Final = sys.platform.startswith("linux")


def is_abstract(path: str) -> bool:
    """True for a Linux abstract name (text starting with ``"\\0"``)."""
    return path.startswith("\0")


def check_path(path: object, *, name: str = "path") -> str:
    """A Unix socket address to bind or connect to, as text; refuses what cannot work.

    Parameters:
        path: a ``str``, ``bytes`` or :class:`os.PathLike` path, or ``"\\0name"``.
        name: what the messages call the argument.

    Returns:
        The address as text (what :func:`sockaddr` turns into the kernel's form).

    Raises:
        TypeError: *path* is not text, bytes or a path-like object.
        AddressError: it is empty, holds a NUL inside a filesystem path (the kernel
            would silently cut the path there), is longer than ``sun_path`` allows, or
            is an abstract name on a platform without them.
    """
    if isinstance(path, (str, bytes)):
        text = path if isinstance(path, str) else os.fsdecode(path)
    elif isinstance(path, os.PathLike):
        text = os.fsdecode(os.fspath(path))
    else:
        raise TypeError(f"{name} must be a str or path-like object, not {type(path).__name__}")
    if not text:
        raise AddressError(f"{name} must not be empty")
    size = len(os.fsencode(text))
    if is_abstract(text):
        if not ABSTRACT_SUPPORTED:
            raise AddressError(
                f"abstract socket names ({describe(text)}) need Linux, not {sys.platform}"
            )
        if size > MAX_ABSTRACT_BYTES:
            raise AddressError(
                f"abstract socket name {describe(text)} is {size} bytes;"
                f" the limit is {MAX_ABSTRACT_BYTES} (sun_path)"
            )
        return text
    if "\0" in text:
        raise AddressError(f"{name} {describe(text)} contains a NUL character")
    if size > MAX_PATH_BYTES:
        raise AddressError(
            f"Unix socket path {describe(text)} is {size} bytes; the limit is"
            f" {MAX_PATH_BYTES} (sun_path); use a shorter path, e.g. a relative one"
        )
    return text


def sockaddr(path: str) -> bytes:
    """The kernel form of a checked address (bytes: nothing left for the socket module
    to re-encode or re-check differently)."""
    return os.fsencode(path)


def address(addr: object) -> str:
    """The text of a kernel Unix address, as ``getsockname``/``recvfrom`` give it.

    A filesystem path comes as text already; an abstract name comes as ``bytes`` (it
    becomes ``"\\0..."`` text); an unnamed socket gives ``""`` or ``None`` (``""``).
    """
    if addr is None:
        return ""
    if isinstance(addr, str):
        return addr
    if isinstance(addr, (bytes, bytearray)):
        return os.fsdecode(bytes(addr))
    raise TypeError(f"not a Unix socket address: {describe(addr)}")


def show(path: str) -> str:
    """A path as messages quote it: its repr, or ``an unnamed socket`` for ``""``."""
    return describe(path) if path else "an unnamed socket"


# -- bind and connect: every Unix socket kind ------------------------------------------


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def bind_failed(path: str, exc: OSError) -> OSError:
    """``bind`` failed: an OSError of the same errno (so the same builtin subclass,
    ``FileNotFoundError`` for a missing directory) whose message names the path."""
    if exc.errno == errno.ENOENT and not is_abstract(path):
        folder = os.path.dirname(path) or "."
        reason = f"directory {show(folder)} does not exist"
    else:
        reason = _reason(exc)
    return OSError(exc.errno, f"cannot bind to {show(path)}: {reason}")


def in_use(path: str) -> OSError:
    """The path is held by a live socket: ``EADDRINUSE``, left alone."""
    return OSError(errno.EADDRINUSE, f"cannot bind to {show(path)}: a live socket holds it")


def not_a_socket(path: str) -> OSError:
    """The path exists and is not a socket: ``EADDRINUSE``, never removed."""
    return OSError(
        errno.EADDRINUSE, f"cannot bind to {show(path)}: the file exists and is not a socket"
    )


def connect_failed(path: str, exc: OSError) -> ConnectFailed:
    """A Unix ``connect`` to *path* failed: one error naming the path and the reason.

    Its ``errno`` is the system call's, and *exc* should be chained as its cause.
    """
    code = exc.errno
    if code == errno.ENOENT:
        reason = "no such file (nothing listens there)"
    elif code == errno.ECONNREFUSED:
        reason = "connection refused (no socket is bound there, or it does not accept)"
    elif code == errno.EPROTOTYPE:
        reason = "a socket of another type is bound there"
    else:
        reason = _reason(exc)
    error = ConnectFailed(f"cannot connect to {show(path)}: {reason}")
    error.errno = code
    return error
