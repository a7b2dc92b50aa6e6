"""Benchmark: how an echo server's latency grows with the number of busy connections.

    .venv/bin/python bench/bench_limits.py                      # sync, asyncio, uvloop
    .venv/bin/python bench/bench_limits.py --face sync --conns 500 --conns 1000
    .venv/bin/python bench/bench_limits.py --rounds 5 --budget 60
    .venv/bin/python bench/bench_limits.py --burst 2000     # connect bursts, by backlog

This is the measurement behind the default ``max_connections`` of each face (see
``netkit._core.server``). The server (``--serve FACE --port N``: a netkit echo server
with ``max_connections=None``) runs in a subprocess; the client is one process with one
epoll loop over N connections. A *round* sends one 64-byte message on every connection
at once and waits until every echo is back; its latency per connection is the time from
the round's start to that connection's echo. Each N gets a few rounds (bounded in count
and by ``--budget`` seconds), and the line per N gives the median round time and the
p50/p99/max latency over all rounds.

A thread-per-connection server (the sync face) degrades faster than linearly past a
few thousand busy threads (GIL hand-offs and scheduler work grow with the thread
count); the asyncio engine degrades linearly. Only 127.0.0.1 is used. The client
raises its own descriptor limit up to the hard limit; N is capped to fit.

``--burst N`` measures the backlog instead: N non-blocking connects started at once
against a server with its default ``max_connections`` and ``backlog=128`` or the
default backlog; the line gives the p50/p99/max time for a connect to complete (a
connect whose SYN found the backlog full waits for its retransmit, 1 s later).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import select
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

HOST = "127.0.0.1"
MESSAGE = b"x" * 63 + b"\n"
DEFAULT_CONNS = (250, 500, 1000, 2000, 4000)


def serve(face: str, port: int, burst: bool = False, backlog: int | None = None) -> None:
    """Run a netkit echo server on *port* until stdin closes (the parent went away).

    With *burst*, the server keeps its default ``max_connections`` and listens with
    *backlog* (None: its default); otherwise it serves without a cap.
    """
    limits: dict[str, Any] = (
        {"backlog": backlog} if burst else {"max_connections": None, "backlog": 4096}
    )
    if face == "sync":
        from netkit import TcpConnection, TcpServer

        def echo(conn: TcpConnection) -> None:
            while line := conn.readline():
                conn.sendall(line)

        server = TcpServer(echo, HOST, port, **limits)
        server.start()
        print(server.address.port, flush=True)
        sys.stdin.read()
        server.stop(1)
        return

    import asyncio

    from netkit.aio import TcpConnection as AioConnection
    from netkit.aio import TcpServer as AioServer

    async def aecho(conn: AioConnection) -> None:
        while line := await conn.readline():
            await conn.sendall(line)

    async def main() -> None:
        async with AioServer(aecho, HOST, port, **limits) as server:
            print(server.address.port, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            await server.stop(1)

    if face == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


@contextlib.contextmanager
def running(face: str, *extra: str) -> Iterator[int]:
    """A server subprocess for *face*; yields its port."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", face, "--port", "0", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def connect_all(port: int, n: int, budget: float) -> list[socket.socket]:
    socks: list[socket.socket] = []
    end = time.monotonic() + budget
    try:
        for _ in range(n):
            if time.monotonic() > end:
                raise TimeoutError(f"only {len(socks)} of {n} connected within {budget} s")
            sock = socket.create_connection((HOST, port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            socks.append(sock)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def one_round(socks: list[socket.socket], poller: select.epoll, limit: float) -> list[float]:
    """Send one message on every socket; the latency of each echo (seconds)."""
    start = time.monotonic()
    for sock in socks:
        sock.send(MESSAGE)  # 64 bytes always fit an empty send buffer
    by_fd = {sock.fileno(): sock for sock in socks}
    got = dict.fromkeys(by_fd, 0)
    latencies: list[float] = []
    while got:
        left = start + limit - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{len(got)} echoes missing after {limit} s")
        for fd, _ in poller.poll(min(left, 1.0)):
            if fd not in got:
                continue
            data = by_fd[fd].recv(4096)
            if not data:
                raise ConnectionError("server closed a connection")
            got[fd] += len(data)
            if got[fd] >= len(MESSAGE):
                del got[fd]
                latencies.append(time.monotonic() - start)
    return latencies


def measure(face: str, n: int, rounds: int, budget: float) -> str:
    with running(face) as port:
        socks = connect_all(port, n, budget)
        poller = select.epoll()
        try:
            for sock in socks:
                poller.register(sock.fileno(), select.EPOLLIN)
            one_round(socks, poller, budget)  # warm-up: the sync server starts its threads
            latencies: list[float] = []
            round_times: list[float] = []
            end = time.monotonic() + budget
            for _ in range(rounds):
                if time.monotonic() > end:
                    break
                lat = one_round(socks, poller, budget)
                latencies += lat
                round_times.append(max(lat))
        finally:
            poller.close()
            for sock in socks:
                sock.close()
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return (
        f"| {face} | {n} | {len(round_times)} | {statistics.median(round_times) * 1000:.0f} | "
        f"{p50 * 1000:.0f} | {p99 * 1000:.0f} | {latencies[-1] * 1000:.0f} |"
    )


def burst(face: str, n: int, backlog: int | None, budget: float) -> str:
    """Start *n* connects at once; the p50/p99/max seconds they took to complete."""
    extra = ["--burst", str(n)] + ([] if backlog is None else ["--backlog", str(backlog)])
    with running(face, *extra) as port:
        socks: list[socket.socket] = []
        times: list[float] = []
        poller = select.epoll()
        try:
            start = time.monotonic()
            for _ in range(n):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.setblocking(False)
                sock.connect_ex((HOST, port))
                poller.register(sock.fileno(), select.EPOLLOUT)
            pending = n
            while pending:
                left = start + budget - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{pending} connects pending after {budget} s")
                for fd, _ in poller.poll(min(left, 1.0)):
                    poller.unregister(fd)
                    times.append(time.monotonic() - start)
                    pending -= 1
        finally:
            poller.close()
            for sock in socks:
                sock.close()
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
    shown = "default" if backlog is None else str(backlog)
    return (
        f"| {face} | {n} | {shown} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | "
        f"{times[-1] * 1000:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--face", action="append", choices=("sync", "asyncio", "uvloop"))
    parser.add_argument("--conns", action="append", type=int, help="N (repeatable)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per N")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per N, at most")
    parser.add_argument("--burst", type=int, metavar="N", help="measure N connects at once")
    parser.add_argument("--backlog", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.burst is not None, args.backlog)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    print(f"# {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, fd limit {soft}")
    if args.burst:
        print("| face | connects | backlog | p50 (ms) | p99 (ms) | max (ms) |")
        print("|---|---|---|---|---|---|")
        for face in args.face or ("sync", "asyncio", "uvloop"):
            for backlog in (128, None):
                try:
                    print(burst(face, args.burst, backlog, args.budget), flush=True)
                except (TimeoutError, OSError) as exc:
                    print(f"| {face} | {args.burst} | {backlog} | failed: {exc} | | |")
        return
    print("| face | connections | rounds | round median (ms) | p50 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---|---|---|---|---|")
    for face in args.face or ("sync", "asyncio", "uvloop"):
        for n in args.conns or DEFAULT_CONNS:
            n = min(n, soft // 2 - 64)  # the server needs as many descriptors as we do
            try:
                print(measure(face, n, args.rounds, args.budget), flush=True)
            except (TimeoutError, OSError) as exc:
                print(f"| {face} | {n} | failed: {exc} | | | | |", flush=True)


if __name__ == "__main__":
    main()
