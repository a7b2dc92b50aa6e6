"""Unix socket rules both faces share: paths, addresses, credentials and their errors.

* :func:`check_path`: what a Unix socket path may be (type, empty, NUL bytes, the
  ``sun_path`` size, abstract names) and the :class:`~netkit.AddressError` messages;
* :func:`unix_address`: a socket address from the kernel (``getsockname``,
  ``getpeername``, ``accept``, an event loop's extra info) as the ``str`` netkit
  reports: the path, ``""`` for an unnamed socket, ``"\\0name"`` for a Linux abstract
  name (the ``socket`` module gives those as ``bytes``);
* :func:`unix_text`: an address for messages and logs;
* :class:`PeerCredentials` and :func:`peer_credentials`: ``SO_PEERCRED`` decoded;
* :func:`check_fds` / :func:`check_mode`: arguments of ``send_fds`` and ``mode=``;
* the messages of the file-descriptor calls and of connects and binds on a path.

IO-free: nothing here touches a socket or the file system.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from typing import NamedTuple

from netkit._core.checks import check_size
from netkit.errors import AddressError, ConnectFailed, FrameTooLarge, NetkitTimeout, describe

__all__ = [
    "ABSTRACT_NAMES",
    "MAX_ABSTRACT",
    "MAX_FDS",
    "MAX_PATH",
    "PeerCredentials",
    "bind_error",
    "check_fds",
    "check_mode",
    "check_path",
    "connect_error",
    "connect_timeout",
    "fds_over_limit",
    "in_use",
    "not_a_socket",
    "peer_credentials",
    "unix_address",
    "unix_text",
]

#: Linux keeps abstract socket names (a first byte of NUL, no file) apart from paths.
ABSTRACT_NAMES = sys.platform.startswith("linux")
# sun_path is 108 bytes on Linux (104 on the BSDs and macOS). A path needs its
# terminating NUL inside it, an abstract name (which starts with NUL) does not.
_SUN_PATH = 108 if sys.platform.startswith("linux") else 104
#: The longest path, in bytes of the file system encoding.
MAX_PATH = _SUN_PATH - 1
#: The longest abstract name, in bytes, its leading NUL included.
MAX_ABSTRACT = _SUN_PATH
#: The most descriptors one message may carry (Linux's SCM_MAX_FD).
MAX_FDS = 253


def check_path(path: object, *, name: str = "path") -> str:
    """A Unix socket path (``str`` or ``os.PathLike[str]``) as ``str``, or why not.

    A first character ``"\\0"`` makes a Linux abstract name (no file is created).

    Raises:
        TypeError: *path* is not a ``str`` or path-like giving a ``str``.
        AddressError: it is empty, holds a NUL byte (other than an abstract name's
            first), is longer than ``sun_path`` holds, or is an abstract name on a
            platform without them.
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a str or os.PathLike, not {type(path).__name__}")
    if not path:
        raise AddressError(f"{name} must not be empty")
    abstract = path.startswith("\0")
    if abstract and not ABSTRACT_NAMES:
        raise AddressError(
            f"{name} {describe(path)} is an abstract socket name, which only Linux has"
        )
    if not abstract and "\0" in path:
        raise AddressError(f"{name} {describe(path)} contains a NUL byte")
    size = len(os.fsencode(path))
    limit = MAX_ABSTRACT if abstract else MAX_PATH
    if size > limit:
        kind = "abstract name" if abstract else "path"
        raise AddressError(
            f"unix socket {kind} {describe(path)} is {size} bytes, over the {limit} "
            f"that sun_path holds"
        )
    return path


def unix_address(sockaddr: object) -> str:
    """The ``str`` netkit reports for a Unix socket address from the kernel.

    Raises:
        TypeError: *sockaddr* is not a Unix socket address (an IP tuple, say).
    """
    if isinstance(sockaddr, str):
        return str(sockaddr)
    if isinstance(sockaddr, (bytes, bytearray)):
        return os.fsdecode(bytes(sockaddr))  # an abstract name: b"\0name"
    if sockaddr is None:
        return ""  # some event loops report an unnamed socket as None
    raise TypeError(f"not a unix socket address: {describe(sockaddr)}")


def unix_text(address: str) -> str:
    """*address* for a message or a log line: ``unix:/path``, ``unix:@name``, ``unix:(unnamed)``.

    An abstract name is written with ``@`` for its NUL, as ``ss`` and ``netstat`` do.
    """
    if not address:
        return "unix:(unnamed)"
    if address.startswith("\0"):
        return "unix:@" + repr(address[1:])[1:-1]
    return "unix:" + address


class PeerCredentials(NamedTuple):
    """Who is at the other end of a Unix connection (``SO_PEERCRED``).

    The process that connected (or created the socket pair) and its user and group,
    as the kernel recorded them when the connection was made.
    """

    pid: int
    uid: int
    gid: int


_UCRED = struct.Struct("3i")
#: Bytes to ask ``getsockopt(SOL_SOCKET, SO_PEERCRED, ...)`` for.
UCRED_SIZE = _UCRED.size


def peer_credentials(raw: bytes) -> PeerCredentials:
    """Decode the ``struct ucred`` that ``SO_PEERCRED`` returns."""
    pid, uid, gid = _UCRED.unpack(raw[: _UCRED.size])
    return PeerCredentials(pid, uid, gid)


def check_fds(fds: object) -> list[int]:
    """``send_fds``'s descriptors: a sequence of at most :data:`MAX_FDS` ints >= 0.

    Raises:
        TypeError: *fds* is not a list or tuple of ints (a bool is not an fd).
        ValueError: a negative number, or more than :data:`MAX_FDS` of them.
    """
    if not isinstance(fds, (list, tuple)):
        raise TypeError(f"fds must be a list of ints, not {type(fds).__name__}")
    if len(fds) > MAX_FDS:
        raise ValueError(f"at most {MAX_FDS} fds can travel in one message, not {len(fds)}")
    for index, fd in enumerate(fds):
        if not isinstance(fd, int) or isinstance(fd, bool):
            raise TypeError(f"fds[{index}] must be an int, not {type(fd).__name__}")
        if fd < 0:
            raise ValueError(f"fds[{index}] must be >= 0, not {fd}")
    return [int(fd) for fd in fds]


def not_an_fd(index: int, fd: int) -> ValueError:
    """The error for ``fds[index]``, which is not an open file descriptor."""
    return ValueError(f"fds[{index}] = {fd} is not an open file descriptor")


def check_recv_fds(max_bytes: object, max_fds: object) -> tuple[int, int]:
    """``recv_fds``'s limits: *max_bytes* >= 1 and *max_fds* in 1..:data:`MAX_FDS`."""
    size = check_size("max_bytes", max_bytes, low=1)
    count = check_size("max_fds", max_fds, low=1)
    return size, min(count, MAX_FDS)


def fds_over_limit(max_fds: int, received: int | None) -> FrameTooLarge:
    """The error when more descriptors arrived than *max_fds* (they were all closed).

    *received* is how many arrived, or None when the kernel cut the list short
    (``MSG_CTRUNC``: more than the room that was given).
    """
    seen = "more" if received is None else str(received)
    return FrameTooLarge(
        f"{seen} file descriptors arrived, over max_fds={max_fds}; they were closed "
        f"and the bytes that came with them stay buffered",
        limit=max_fds,
        size=received,
    )


def no_fds_on_empty() -> ValueError:
    """``send_fds`` with no bytes: on a stream, descriptors travel with at least one."""
    return ValueError("data must not be empty: file descriptors travel with at least one byte")


def check_mode(mode: object) -> int | None:
    """``mode=``: None, or permission bits as an int in 0..0o777."""
    if mode is None:
        return None
    if not isinstance(mode, int) or isinstance(mode, bool):
        raise TypeError(f"mode must be an int (such as 0o600) or None, not {type(mode).__name__}")
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits in 0o0..0o777, not {oct(mode)}")
    return int(mode)


def mode_on_abstract(path: str) -> ValueError:
    """``mode=`` with an abstract name: there is no file to give permissions to."""
    return ValueError(
        f"mode= applies to a socket file; the abstract name {describe(path)} has none"
    )


def in_use(path: str) -> OSError:
    """``EADDRINUSE`` for *path*, where a live listener accepts (it is left alone)."""
    return OSError(
        errno.EADDRINUSE, f"{os.strerror(errno.EADDRINUSE)}: a listener accepts on it", path
    )


def not_a_socket(path: str) -> FileExistsError:
    """The error for *path*, which exists and is not a socket (it is left alone)."""
    return FileExistsError(errno.EEXIST, "exists and is not a socket; not replacing it", path)


def bind_error(exc: OSError, path: str) -> OSError:
    """*exc* from binding *path*, as the same type with the path named (``filename``)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), path)


def connect_error(path: str, exc: OSError) -> ConnectFailed:
    """The error for a connect to *path* that failed with *exc* (its ``errno`` kept).

    The caller chains *exc* as the cause. (Setting ``filename`` too would make
    ``str()`` of the error the OS's text instead of this message.)
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    error = ConnectFailed(f"cannot connect to {unix_text(path)}: {reason}")
    error.errno = exc.errno
    return error


def connect_timeout(path: str, timeout: float) -> NetkitTimeout:
    """The error for a connect to *path* still waiting (a full backlog) after *timeout*."""
    return NetkitTimeout(f"connect to {unix_text(path)} timed out after {timeout:g} s")
