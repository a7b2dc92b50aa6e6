"""Helpers for the netkit.aio tests: run a coroutine on each available event loop."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from netkit.aio import TcpConnection

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is optional
    uvloop = None

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _factories() -> list[Any]:
    params: list[Any] = [pytest.param(asyncio.new_event_loop, id="asyncio")]
    if uvloop is not None:
        params.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    else:
        params.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip("no uvloop")))
    return params


LOOP_FACTORIES = _factories()


def run_on(factory: LoopFactory, coro: Coroutine[Any, Any, T], *, timeout: float = 30.0) -> T:
    """Run *coro* to completion on a fresh loop from *factory*, then close the loop.

    Fails the test if tasks are left pending when *coro* returns (a leak).
    """
    loop = factory()
    leftover: list[asyncio.Task[Any]] = []
    try:
        asyncio.set_event_loop(loop)

        async def main() -> T:
            try:
                return await asyncio.wait_for(coro, timeout)
            finally:
                current = asyncio.current_task()
                leftover.extend(t for t in asyncio.all_tasks() if t is not current)

        result = loop.run_until_complete(main())
    finally:
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
    assert not leftover, f"tasks left running: {leftover}"
    return result


@pytest.fixture(params=LOOP_FACTORIES)
def run(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``run(coro)`` runs *coro* on the loop under test (asyncio, uvloop)."""
    factory: LoopFactory = request.param

    def runner(coro: Coroutine[Any, Any, T], *, timeout: float = 30.0) -> T:
        return run_on(factory, coro, timeout=timeout)

    runner.loop_name = request.node.callspec.id  # type: ignore[attr-defined]
    return runner


def open_fds() -> set[int]:
    """The socket file descriptors this process has open now.

    Only sockets: uvloop opens /dev/null lazily for its own use (closed with the loop).
    No garbage collection first, so a socket kept alive by a leaked object shows up.
    """
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # closed meanwhile (the listing's own fd)
        if target.startswith("socket:"):
            found.add(int(name))
    return found


def loopback_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected TCP sockets over 127.0.0.1 (client side, server side)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


async def connection_pair(
    *, idle_timeout: float | None = None
) -> tuple[TcpConnection, TcpConnection]:
    """Two connected :class:`netkit.aio.TcpConnection` objects over loopback TCP."""
    a, b = loopback_pair()
    left = await TcpConnection.from_socket(a, idle_timeout=idle_timeout)
    right = await TcpConnection.from_socket(b, idle_timeout=idle_timeout)
    return left, right


async def wait_until(predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Yield to the loop until *predicate* holds (a condition wait, bounded in time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


def assert_same_error(
    sync_call: Callable[[], object],
    aio_call: Callable[[], Coroutine[Any, Any, object]],
    expected: type[BaseException] | tuple[type[BaseException], ...] = (TypeError, ValueError),
) -> BaseException:
    """The twin promise: both calls fail, with the same type and message; return it.

    *expected* is what the error must be (by default a bad-argument error, so that a
    call that got as far as the network does not count as a match).
    """
    with pytest.raises(expected) as sync_error:
        sync_call()
    with pytest.raises(expected) as aio_error:
        run_on(asyncio.new_event_loop, aio_call())
    assert type(aio_error.value) is type(sync_error.value)
    assert str(aio_error.value) == str(sync_error.value)
    return sync_error.value
