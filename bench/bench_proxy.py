"""Benchmark: what proxy_protocol= costs per connection (the header read), both faces.

    .venv/bin/python bench/bench_proxy.py                 # 2000 connections per run
    .venv/bin/python bench/bench_proxy.py --connections 500 --repeats 5

Each run serves one-line requests on 127.0.0.1: a client process opens connections one
after another (connect, send, read the answer, close) and reports connections per
second. Compared: no proxy_protocol, and a trusted peer sending a v1 or v2 header first
(read by peeking, then taking exactly the header's bytes). The best of the repeats is
printed; on a loaded machine compare rows of one run, not runs. A second table is the
steadier number: the sync face's header read alone (peek, parse, take) on a socket pair
with the header already there, in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import netkit
import netkit.aio
from netkit import Endpoint
from netkit.proxy import encode_v1, encode_v2
from netkit.tcp._server import StreamServer

HEADERS = {
    "none": b"",
    "v1": encode_v1(Endpoint("203.0.113.7", 40000), Endpoint("198.51.100.1", 443)),
    "v2": encode_v2(Endpoint("203.0.113.7", 40000), Endpoint("198.51.100.1", 443)),
}

CLIENT = """
import socket, sys, time
port, count, header = int(sys.argv[1]), int(sys.argv[2]), bytes.fromhex(sys.argv[3])
request = header + b"ping\\n"
start = time.perf_counter()
for _ in range(count):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        while not sock.recv(64).endswith(b"\\n"):
            pass
print(count / (time.perf_counter() - start))
"""


def run_client(port: int, count: int, header: bytes) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), str(count), header.hex()],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(done.stdout)


def sync_face(proxy: bool, measure: Callable[[int], float]) -> float:
    def handler(conn: netkit.TcpConnection) -> None:
        conn.readline()
        conn.sendall(b"pong\n")

    kwargs: dict[str, Any] = {"proxy_protocol": ["127.0.0.1/32"]} if proxy else {}
    with netkit.TcpServer(handler, backlog=1024, **kwargs) as server:
        return measure(server.address.port)


def aio_face(proxy: bool, measure: Callable[[int], float]) -> float:
    async def handler(conn: netkit.aio.TcpConnection) -> None:
        await conn.readline()
        await conn.sendall(b"pong\n")

    async def main() -> float:
        kwargs: dict[str, Any] = {"proxy_protocol": ["127.0.0.1/32"]} if proxy else {}
        async with netkit.aio.TcpServer(handler, backlog=1024, **kwargs) as server:
            result: list[float] = []
            thread = threading.Thread(target=lambda: result.append(measure(server.address.port)))
            thread.start()
            while thread.is_alive():
                await asyncio.sleep(0.05)
            thread.join()
            return result[0]

    return asyncio.run(main())


def header_read_us(header: bytes, count: int) -> float:
    """Microseconds per sync header read, the header already received."""
    a, b = socket.socketpair()
    with a, b:
        total = 0.0
        for _ in range(count):
            a.sendall(header + b"ping\n")
            start = time.perf_counter()
            StreamServer._read_proxy_header(b, 5.0)
            total += time.perf_counter() - start
            b.recv(100)
    return total / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"| face | header | connections/s (best of {args.repeats}) |")
    print("|---|---|---|")
    for name, face in (("sync", sync_face), ("aio", aio_face)):
        for kind, header in HEADERS.items():
            best = max(
                face(kind != "none", lambda port, h=header: run_client(port, args.connections, h))
                for _ in range(args.repeats)
            )
            print(f"| {name} | {kind} | {best:,.0f} |", flush=True)
    print()
    print(f"| header | sync header read, us (best of {args.repeats}) |")
    print("|---|---|")
    for kind in ("v1", "v2"):
        best_us = min(header_read_us(HEADERS[kind], 20000) for _ in range(args.repeats))
        print(f"| {kind} | {best_us:.1f} |")


if __name__ == "__main__":
    main()
