"""netkit's pytest plugin: fixtures for testing code built on netkit.

Loaded by pytest through the ``pytest11`` entry point ``netkit`` whenever netkit is
installed (turn it off with ``-p no:netkit``). Every fixture name starts with
``netkit_``, so none shadows a fixture of yours.

* ``netkit_server(handler, **kwargs)``: start a :class:`netkit.TcpServer` on a free
  loopback port (``host="127.0.0.1"``, ``port=0`` unless given); stopped after the test.
* ``netkit_echo_server``: a running server that echoes every byte back.
* ``netkit_memory_pair(**knobs)``: :func:`netkit.testing.memory_pair`, both ends closed
  after the test.
* ``netkit_fake_resolver(mapping, *, reverse=None)``:
  :func:`netkit.testing.fake_resolver` for the rest of the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from netkit._fake_resolver import Answers, FakeResolver, fake_resolver
from netkit.tcp import TcpConnection, TcpServer
from netkit.testing._memory import MemoryConnection, memory_pair

__all__ = [
    "netkit_echo_server",
    "netkit_fake_resolver",
    "netkit_memory_pair",
    "netkit_server",
]


def _echo(conn: TcpConnection) -> None:
    while data := conn.recv():
        conn.sendall(data)


@pytest.fixture
def netkit_server() -> Iterator[Callable[..., TcpServer]]:
    """A factory: ``netkit_server(handler, **kwargs)`` starts a TcpServer on loopback."""
    servers: list[TcpServer] = []

    def start(handler: Callable[[TcpConnection], None], **kwargs: Any) -> TcpServer:
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("port", 0)
        server = TcpServer(handler, **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def netkit_echo_server(netkit_server: Callable[..., TcpServer]) -> TcpServer:
    """A running TcpServer on a free loopback port that echoes every byte back."""
    return netkit_server(_echo)


@pytest.fixture
def netkit_memory_pair() -> Iterator[Callable[..., tuple[MemoryConnection, MemoryConnection]]]:
    """A factory: ``netkit_memory_pair(**knobs)`` gives a connected memory pair."""
    made: list[MemoryConnection] = []

    def make(**knobs: Any) -> tuple[MemoryConnection, MemoryConnection]:
        a, b = memory_pair(**knobs)
        made.extend((a, b))
        return a, b

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def netkit_fake_resolver() -> Iterator[Callable[..., FakeResolver]]:
    """A factory: ``netkit_fake_resolver(mapping, reverse=None)`` fakes name lookups
    until the end of the test (the latest call wins)."""
    with contextlib.ExitStack() as stack:

        def use(
            mapping: Mapping[str, Answers] | None = None,
            *,
            reverse: Mapping[str, Answers] | None = None,
        ) -> FakeResolver:
            return stack.enter_context(fake_resolver(mapping, reverse=reverse))

        yield use
