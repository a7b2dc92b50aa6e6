"""Helpers for the proxy_protocol= tests: one server of any face, driven by plain clients.

``serving(face, ...)`` runs a TcpServer or UnixServer of the sync face, or of the aio face
on its own event loop (asyncio or uvloop) in a background thread, so that every test
talks to it with the same blocking client sockets. Its handler reads one line, reports
what its connection says (addresses, header, the line) and answers ``ok``.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

import netkit
import netkit.aio
from _aio_util import uvloop
from netkit.proxy import ProxyHeader

DEADLINE = 30.0  # generous: the machine is shared and has two cores

FACES = [
    pytest.param("sync", id="sync"),
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop", id="uvloop", marks=pytest.mark.skipif(uvloop is None, reason="no uvloop")
    ),
]


@dataclass(frozen=True)
class Report:
    """What a handler's connection said."""

    remote: Any
    local: Any
    header: ProxyHeader | None
    line: bytes
    at: float  # time.time() when the handler ran (compared with log records)


@dataclass
class Served:
    server: Any
    address: Any  # Endpoint or path
    reports: queue.Queue[Report]

    def report(self, timeout: float = DEADLINE) -> Report:
        return self.reports.get(timeout=timeout)


def _record(conn: Any, line: bytes) -> Report:
    return Report(conn.remote_address, conn.local_address, conn.proxy_header, line, time.time())


@contextmanager
def serving(face: str, kind: str = "tcp", **kwargs: Any) -> Iterator[Served]:
    """Run a *kind* ("tcp"/"unix") server of *face* with *kwargs*; stop it on exit."""
    reports: queue.Queue[Report] = queue.Queue()
    if face == "sync":

        def handler(conn: Any) -> None:
            line = conn.readline(timeout=DEADLINE)
            reports.put(_record(conn, line))
            conn.sendall(b"ok\n")

        cls = netkit.TcpServer if kind == "tcp" else netkit.UnixServer
        with cls(handler, **kwargs) as server:
            yield Served(server, server.address, reports)
        return

    async def aio_handler(conn: Any) -> None:
        line = await conn.readline(timeout=DEADLINE)
        reports.put(_record(conn, line))
        await conn.sendall(b"ok\n")

    loop = asyncio.new_event_loop() if face == "asyncio" else uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"proxy-test-{face}", daemon=True)
    thread.start()
    try:
        aio_cls = netkit.aio.TcpServer if kind == "tcp" else netkit.aio.UnixServer

        async def start() -> Any:
            return await aio_cls(aio_handler, **kwargs).start()

        server = asyncio.run_coroutine_threadsafe(start(), loop).result(DEADLINE)
        try:
            yield Served(server, server.address, reports)
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(DEADLINE)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE)
        loop.close()
