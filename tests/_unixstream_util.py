"""Helpers for the Unix socket tests of both faces."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from netkit._core.conformance import Outcome, error_outcome


def open_fds() -> set[int]:
    """Every file descriptor this process has open now (Linux), minus the listing's own."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed meanwhile
        found.add(int(name))
    return found


@contextlib.contextmanager
def no_fd_leak() -> Iterator[None]:
    """Fail if the block leaves more descriptors open than it found."""
    before = open_fds()
    yield
    leaked = open_fds() - before
    details = {fd: _target(fd) for fd in leaked}
    assert not leaked, f"descriptors left open: {details}"


def _target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


def outcome(call: Callable[[], Any]) -> Outcome:
    """What *call* returned, or the type and message of what it raised."""
    try:
        return Outcome(value=call())
    except Exception as exc:  # compared by the caller
        return error_outcome(exc)


async def aio_outcome(call: Callable[[], Coroutine[Any, Any, Any]]) -> Outcome:
    """:func:`outcome` for a coroutine function."""
    try:
        return Outcome(value=await call())
    except Exception as exc:  # compared by the caller
        return error_outcome(exc)


def listening(path: str, backlog: int = 8) -> socket.socket:
    """A plain listening Unix stream socket bound to *path*."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def fill_backlog(path: str, listener: socket.socket) -> list[socket.socket]:
    """Connect to *listener* until its backlog is full (never accepting); the clients."""
    clients: list[socket.socket] = []
    for _ in range(1000):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            sock.close()
            return clients
        clients.append(sock)
    raise AssertionError("the backlog never filled")


def pipe_pair() -> tuple[int, int]:
    """A pipe (read end, write end), as descriptors to pass around."""
    return os.pipe()


def is_cloexec(fd: int) -> bool:
    return not os.get_inheritable(fd)


async def gather_closed(*conns: Any) -> None:
    """aclose() every aio connection given."""
    await asyncio.gather(*(conn.aclose() for conn in conns))
