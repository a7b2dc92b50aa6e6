"""Benchmark: which defence lets a legitimate client in while 100 clients drip-feed.

    .venv/bin/python bench/bench_drip.py                 # sync and asyncio, every defence
    .venv/bin/python bench/bench_drip.py --face sync --only message_timeout=1

The measurement behind the drip-feed defence of ``docs/internet.md``. A line echo
server with ``max_connections=100`` is attacked by 100 clients that each send one
byte per second, the first at once (never a whole line), and reconnect at once when
cut off, as an attacker would. Once the attack holds every slot, a legitimate client connects, sends
a line and waits for its echo; the table gives how long that took (``> N s`` when it
was not served within the budget). Each defence:

* ``none``: the defaults (``idle_timeout=None``, ``message_timeout=None``);
* ``idle_timeout=5``: restarts on every byte, so the drip never trips it;
* ``message_timeout=T``: a line still incomplete T seconds after its first byte ends
  the read (netkit's defence);
* ``min_rate``: a minimum receive rate (100 bytes per 5 s window), emulated in the
  handler with ``recv`` and a clock;
* ``per_address=8``: at most 8 connections per client address, emulated in the
  handler (an over-limit connection is closed at once), against attackers from one
  address and from 100 addresses (127.0.0.2-101; the legitimate client is 127.0.0.1).

Only 127.0.0.0/8 is used; every run is bounded by ``--budget`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import netkit
import netkit.aio

HOST = "127.0.0.1"
SLOTS = 100
ATTACKERS = 100
PER_ADDRESS = 8
RATE_BYTES, RATE_WINDOW = 100, 5.0

# name -> (server keyword arguments, handler style, attackers' source addresses)
DEFENCES: dict[str, tuple[dict[str, Any], str, int]] = {
    "none": ({}, "lines", 1),
    "idle_timeout=5": ({"idle_timeout": 5.0}, "lines", 1),
    "message_timeout=1": ({"message_timeout": 1.0}, "lines", 1),
    "message_timeout=5": ({"message_timeout": 5.0}, "lines", 1),
    "min_rate (100 B / 5 s)": ({}, "rate", 1),
    "per_address=8, 1 attacker address": ({}, "per_address", 1),
    "per_address=8, 100 attacker addresses": ({}, "per_address", 100),
}


class Handlers:
    """The echo handlers of both faces, in the three styles the defences need."""

    def __init__(self, style: str) -> None:
        self.style = style
        self.lock = threading.Lock()
        self.per_host: collections.Counter[str] = collections.Counter()

    def _enter(self, host: str) -> bool:
        with self.lock:
            self.per_host[host] += 1
            return self.style != "per_address" or self.per_host[host] <= PER_ADDRESS

    def _leave(self, host: str) -> None:
        with self.lock:
            self.per_host[host] -= 1

    def sync(self, conn: netkit.TcpConnection) -> None:
        host = conn.remote_address.host
        try:
            if not self._enter(host):
                return
            if self.style == "rate":
                self._sync_rate(conn)
                return
            while line := conn.readline():
                conn.sendall(line)
        finally:
            self._leave(host)

    def _sync_rate(self, conn: netkit.TcpConnection) -> None:
        window_start, got, buffer = time.monotonic(), 0, b""
        while True:
            left = window_start + RATE_WINDOW - time.monotonic()
            try:
                data = conn.recv(4096, timeout=max(left, 0.0))
            except netkit.NetkitTimeout:
                data = None
            if data == b"":
                return
            if data:
                got += len(data)
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    conn.sendall(line + b"\n")
            if time.monotonic() >= window_start + RATE_WINDOW:
                if got < RATE_BYTES:
                    return  # too slow: cut off
                window_start, got = time.monotonic(), 0

    async def aio(self, conn: netkit.aio.TcpConnection) -> None:
        host = conn.remote_address.host
        try:
            if not self._enter(host):
                return
            if self.style == "rate":
                await self._aio_rate(conn)
                return
            while line := await conn.readline():
                await conn.sendall(line)
        finally:
            self._leave(host)

    async def _aio_rate(self, conn: netkit.aio.TcpConnection) -> None:
        window_start, got, buffer = time.monotonic(), 0, b""
        while True:
            left = window_start + RATE_WINDOW - time.monotonic()
            try:
                data: bytes | None = await conn.recv(4096, timeout=max(left, 0.0))
            except netkit.NetkitTimeout:
                data = None
            if data == b"":
                return
            if data:
                got += len(data)
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    await conn.sendall(line + b"\n")
            if time.monotonic() >= window_start + RATE_WINDOW:
                if got < RATE_BYTES:
                    return
                window_start, got = time.monotonic(), 0


@contextlib.contextmanager
def serving(face: str, kwargs: dict[str, Any], handlers: Handlers) -> Iterator[Any]:
    """A server of *face* on 127.0.0.1 with ``max_connections=100``; yields it."""
    if face == "sync":
        server = netkit.TcpServer(handlers.sync, HOST, max_connections=SLOTS, **kwargs)
        server.start()
        try:
            yield server
        finally:
            server.stop(1)
        return
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["stop"] = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        async with netkit.aio.TcpServer(
            handlers.aio, HOST, max_connections=SLOTS, **kwargs
        ) as server:
            holder["server"] = server
            started.set()
            await holder["stop"].wait()
            await server.stop(1)

    if face == "uvloop":
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    else:
        runner = asyncio.run
    thread = threading.Thread(target=runner, args=(main(),), daemon=True)
    thread.start()
    started.wait(30)
    try:
        yield holder["server"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(30)


class Drip:
    """*count* clients sending one byte a second, reconnecting when cut off."""

    def __init__(self, port: int, count: int, sources: int) -> None:
        self.port = port
        self.count = count
        self.sources = sources
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, index: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((f"127.0.0.{2 + index % self.sources}", 0))
        sock.setblocking(False)
        sock.connect_ex((HOST, self.port))
        with contextlib.suppress(OSError):  # the first byte at once (loopback connects fast)
            sock.send(b"x")
        return sock

    def _run(self) -> None:
        socks = [self._open(i) for i in range(self.count)]
        try:
            while not self.stop.wait(1.0):
                for i, sock in enumerate(socks):
                    try:
                        sock.send(b"x")
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        sock.close()
                        socks[i] = self._open(i)
        finally:
            for sock in socks:
                sock.close()

    def __enter__(self) -> Drip:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def measure(face: str, name: str, budget: float) -> str:
    kwargs, style, sources = DEFENCES[name]
    handlers = Handlers(style)
    with serving(face, kwargs, handlers) as server, Drip(server.address.port, ATTACKERS, sources):
        end = time.monotonic() + budget
        while server.active_connections < SLOTS and time.monotonic() < end:
            time.sleep(0.01)
        full = server.active_connections
        start = time.monotonic()
        try:
            with socket.create_connection((HOST, server.address.port), budget) as sock:
                sock.settimeout(budget)
                sock.sendall(b"hello\n")
                served = sock.recv(100) == b"hello\n"
        except OSError:
            served = False
        took = time.monotonic() - start
    result = f"{took:.2f} s" if served else f"> {budget:.0f} s (not served)"
    return f"| {face} | {name} | {full} | {result} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--face", action="append", choices=("sync", "asyncio", "uvloop"))
    parser.add_argument("--only", action="append", choices=tuple(DEFENCES))
    parser.add_argument("--budget", type=float, default=12.0, help="seconds per run")
    args = parser.parse_args()
    print("| face | defence | slots held by the attack | legitimate client served after |")
    print("|---|---|---|---|")
    for face in args.face or ("sync", "asyncio"):
        for name in args.only or DEFENCES:
            print(measure(face, name, args.budget), flush=True)


if __name__ == "__main__":
    main()
