"""Socket activation (systemd's ``sd_listen_fds``): which inherited descriptors are ours.

A supervisor that opens listening sockets for a service (systemd, ``systemd-socket-
activate``, s6, ...) passes them as descriptors 3, 4, ... and describes them in the
environment:

* ``LISTEN_PID``: the process they are meant for. Another process (a child that
  inherited the environment) must ignore them;
* ``LISTEN_PIDFDID`` (newer systemd, optional): the inode number of that process's
  pidfd, which tells a reused pid apart;
* ``LISTEN_FDS``: how many there are, from :data:`LISTEN_FDS_START` on;
* ``LISTEN_FDNAMES`` (optional): their names, separated by ``:``; ``"unknown"`` each
  when it is missing.

:func:`listen_fds` reads these as ``sd_listen_fds_with_names()`` does, from a mapping
and a pid passed in (so it is tested with plain values). The caller unsets
:data:`LISTEN_VARS` whatever the outcome, as ``sd_listen_fds(1)`` does, so the
descriptors are handed out once and a child process does not see them described.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from netkit.errors import describe

__all__ = [
    "LISTEN_FDS_START",
    "LISTEN_VARS",
    "UNKNOWN",
    "listen_fds",
    "not_a_listener",
    "not_a_socket",
    "usable",
]

#: The first inherited descriptor (``SD_LISTEN_FDS_START``).
LISTEN_FDS_START = 3
#: The variables to unset once read.
LISTEN_VARS = ("LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES")
#: The name of each descriptor when ``LISTEN_FDNAMES`` is not set.
UNKNOWN = "unknown"
_FD_MAX = 2**31 - 1


def _number(env: Mapping[str, str], name: str, low: int) -> int:
    text = env[name]
    # Decimal digits only: int() would also take "+3", " 3" or "3_0".
    if not (text.isascii() and text.isdigit()) or int(text) < low:
        raise ValueError(f"{name}={describe(text)} is not a number >= {low}")
    return int(text)


def listen_fds(
    env: Mapping[str, str], pid: int, pidfd_id: int | None = None
) -> list[tuple[int, str]]:
    """The ``(fd, name)`` pairs a supervisor passed to process *pid*, in order.

    Parameters:
        env: the environment (``os.environ``).
        pid: this process's id.
        pidfd_id: the inode number of this process's pidfd where the kernel gives
            each process its own (pidfs, Linux 6.9+), else None (not compared).

    Returns:
        Nothing when ``LISTEN_PID`` or ``LISTEN_FDS`` is unset, or when the
        descriptors are meant for another process.

    Raises:
        ValueError: a variable is malformed (``LISTEN_FDS`` must be at least 1), or
            ``LISTEN_FDNAMES`` does not name each descriptor once.
    """
    if "LISTEN_PID" not in env:
        return []
    if _number(env, "LISTEN_PID", 1) != pid:
        return []  # meant for another process (we inherited its environment)
    if "LISTEN_PIDFDID" in env:
        wanted = _number(env, "LISTEN_PIDFDID", 0)
        if pidfd_id is not None and wanted != pidfd_id:
            return []  # the same pid, but another process that had it before
    if "LISTEN_FDS" not in env:
        return []
    count = _number(env, "LISTEN_FDS", 1)
    if count > _FD_MAX - LISTEN_FDS_START:
        raise ValueError(f"LISTEN_FDS={count} is too large")
    names = env.get("LISTEN_FDNAMES")
    if names is None:
        labels = [UNKNOWN] * count
    else:
        # Empty names between separators are kept, as systemd does; an empty variable
        # names nothing.
        labels = names.split(":") if names else []
        if len(labels) != count:
            raise ValueError(
                f"LISTEN_FDNAMES={describe(names)} has {len(labels)} names for "
                f"LISTEN_FDS={count} descriptors"
            )
    return [(LISTEN_FDS_START + index, label) for index, label in enumerate(labels)]


_STREAM_FAMILIES = (socket.AF_INET, socket.AF_INET6, getattr(socket, "AF_UNIX", -1))


def usable(family: int, kind: int, listening: bool) -> bool:
    """Whether an inherited socket can be handed out as a listener: a listening TCP or
    Unix stream socket, or a listening Unix SEQPACKET socket."""
    if not listening:
        return False
    if kind == socket.SOCK_STREAM:
        return family in _STREAM_FAMILIES
    return kind == getattr(socket, "SOCK_SEQPACKET", -1) and family == _STREAM_FAMILIES[2]


def not_a_socket(fd: int, name: str) -> ValueError:
    """The error for an inherited descriptor that is not a socket (a pipe, a file)."""
    return ValueError(f"inherited fd {fd} ({name!r}) is not a socket")


def not_a_listener(fd: int, name: str, family: int, kind: int, listening: bool) -> ValueError:
    """The error for an inherited socket :func:`usable` refuses, saying what it is."""
    return ValueError(
        f"inherited fd {fd} ({name!r}) is not a listening TCP, Unix stream or Unix "
        f"SEQPACKET socket: {getattr(family, 'name', family)}, {getattr(kind, 'name', kind)}"
        f"{'' if listening else ', not listening'}"
    )
