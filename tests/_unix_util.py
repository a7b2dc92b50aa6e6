"""Helpers for the Unix datagram and SEQPACKET tests: one test body for both faces.

The ``face`` fixture is the sync classes, or the asyncio ones on a loop (asyncio,
uvloop) kept for the whole test: ``face.run(x)`` returns *x* for a sync call and runs
the coroutine *x* to completion for an aio call, so a scenario is written once and the
two faces must agree on every result and error. ``sock_dir`` is a short directory for
socket files (``sun_path`` holds 107 bytes).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

import netkit
import netkit.aio
from _aio_util import LOOP_FACTORIES

FACES = [pytest.param("sync", id="sync"), *LOOP_FACTORIES]


class Face:
    """The classes of one face, and how to run its calls."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop | None) -> None:
        self.name = name
        self.loop = loop
        self.aio = loop is not None
        space: Any = netkit.aio if self.aio else netkit
        self.UnixDatagramEndpoint: Any = space.UnixDatagramEndpoint
        self.SeqpacketConnection: Any = getattr(space, "SeqpacketConnection", None)
        self.SeqpacketClient: Any = getattr(space, "SeqpacketClient", None)

    def run(self, value: Any, *, timeout: float = 30.0) -> Any:
        """The value of a sync call, or the result of an aio call's coroutine."""
        if not inspect.isawaitable(value):
            return value
        assert self.loop is not None
        return self.loop.run_until_complete(asyncio.wait_for(value, timeout))

    def __repr__(self) -> str:
        return f"<Face {self.name}>"


@pytest.fixture(params=FACES)
def face(request: pytest.FixtureRequest) -> Iterator[Face]:
    factory = request.param
    if factory == "sync":
        yield Face("sync", None)
        return
    loop = factory()
    asyncio.set_event_loop(loop)
    try:
        yield Face(request.node.callspec.id, loop)
        leftover = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        assert not leftover, f"tasks left running: {leftover}"
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def sock_dir(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """pytest's tmp_path when short enough for socket paths, else a short temp dir."""
    if len(os.fsencode(str(tmp_path))) <= 70:
        yield tmp_path
        return
    short = pathlib.Path(tempfile.mkdtemp(prefix="nk"))
    try:
        yield short
    finally:
        shutil.rmtree(short, ignore_errors=True)


def open_sockets() -> set[int]:
    """The socket descriptors open in this process (for leak checks)."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(int(name))
    return found
