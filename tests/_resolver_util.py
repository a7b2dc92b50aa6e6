"""Resolvers for the tests, through the public hook (netkit.lookup.use_resolver).

``netkit.testing.fake_resolver`` covers names mapped to addresses; these cover what it
does not: answers with a port of their own per address (to point one name at several
loopback listeners), resolvers that fail or hang, and a machine without /etc/services.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from netkit.lookup import AddrInfoTuple, SystemResolver, use_resolver


class NoServicesFile(SystemResolver):
    """The system's resolver on a slim container image without /etc/services."""

    def getservbyname(self, name: str, protocol: str) -> int:
        raise OSError("service/proto not found")

    def getservbyport(self, port: int, protocol: str) -> str:
        raise OSError("port/proto not found")


class Refusing(NoServicesFile):
    """Fails the test if any lookup reaches it."""

    def getaddrinfo(self, *args: Any, **kwargs: Any) -> Sequence[AddrInfoTuple]:
        raise AssertionError(f"the resolver was asked: getaddrinfo{args!r}")

    def gethostbyname(self, name: str) -> str:
        raise AssertionError(f"the resolver was asked: gethostbyname({name!r})")

    def gethostbyaddr(self, ip: str) -> tuple[str, list[str], list[str]]:
        raise AssertionError(f"the resolver was asked: gethostbyaddr({ip!r})")


class Scripted(SystemResolver):
    """getaddrinfo gives *answers* (or raises it) for any name; calls are recorded.

    Sockaddrs are returned as given, each with its own port: the port asked is ignored.
    """

    def __init__(self, answers: Sequence[tuple[Any, ...]] | BaseException) -> None:
        self.answers = answers
        self.calls: list[tuple[Any, ...]] = []

    def getaddrinfo(self, *args: Any, **kwargs: Any) -> Sequence[AddrInfoTuple]:
        self.calls.append(args)
        if isinstance(self.answers, BaseException):
            raise self.answers
        return list(self.answers)


def stream_answers(*sockaddrs: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """getaddrinfo answers (SOCK_STREAM) for these sockaddrs, in this order."""
    return [
        (
            socket.AF_INET6 if ":" in sockaddr[0] else socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
            "",
            tuple(sockaddr),
        )
        for sockaddr in sockaddrs
    ]


class Sockaddrs(SystemResolver):
    """getaddrinfo gives the sockaddrs in :attr:`sockaddrs` (as SOCK_STREAM answers, each
    with its own port) for any name, as the list holds them at the time of the call."""

    def __init__(self) -> None:
        self.sockaddrs: list[tuple[Any, ...]] = []

    def getaddrinfo(self, *args: Any, **kwargs: Any) -> Sequence[AddrInfoTuple]:
        return stream_answers(*self.sockaddrs)


@contextmanager
def answering(*sockaddrs: tuple[Any, ...]) -> Iterator[Scripted]:
    """Every name resolves to these sockaddrs (ports included), in this order."""
    with use_resolver(Scripted(stream_answers(*sockaddrs))) as resolver:
        assert isinstance(resolver, Scripted)
        yield resolver


class Stuck(SystemResolver):
    """getaddrinfo hangs until :attr:`release` is set (at most 10 s), then finds nothing."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def getaddrinfo(self, *args: Any, **kwargs: Any) -> Sequence[AddrInfoTuple]:
        self.release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


@contextmanager
def stuck() -> Iterator[Stuck]:
    """A resolver that hangs; released when the block ends."""
    resolver = Stuck()
    try:
        with use_resolver(resolver):
            yield resolver
    finally:
        resolver.release.set()
