"""``netkit bench``: a short loopback echo benchmark of the sync and asyncio servers.

The servers run in this process (the sync :class:`~netkit.tcp.TcpServer` with a thread
per connection, then :class:`netkit.aio.TcpServer` on an event loop in a thread); the
load comes from a separate Python process with one blocking client socket per thread,
so the two do not share a GIL. The numbers are a quick, honest comparison on this
machine, not a measurement of netkit's limits: a pure-Python load generator is often
the bottleneck. The repository's bench/ folder has the careful benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from netkit.cli import EXIT_FAILED, EXIT_OK
from netkit.cli._common import add_command, echo_handler, positive_int, seconds, table

_EXAMPLE = """
$ netkit bench                      # about 5 seconds
$ netkit bench --quick              # about 1 second
$ netkit bench --clients 16 --size 4096 --seconds 3 --only aio
"""

_SERVERS = ("sync", "aio")
_WARMUP = 0.2


def register(subparsers: Any) -> None:
    """Add ``netkit bench`` to the command line."""
    parser = add_command(
        subparsers,
        "bench",
        summary="a quick loopback echo benchmark of the sync and asyncio servers",
        description=(
            "Measure request/response echo throughput on loopback: the sync TcpServer "
            "and the asyncio TcpServer, each loaded by a separate Python process of "
            "client threads sending SIZE bytes and waiting for them to come back. "
            "Prints requests/s and MB/s (payload echoed per second). Progress goes to "
            "stderr, the summary table to stdout."
        ),
        example=_EXAMPLE,
    )
    parser.add_argument(
        "--seconds", type=seconds, default=2.0, help="measured time per server (default 2)"
    )
    parser.add_argument(
        "--clients", type=positive_int, default=4, help="concurrent connections (default 4)"
    )
    parser.add_argument(
        "--size", type=positive_int, default=64, help="bytes per request (default 64)"
    )
    parser.add_argument("--quick", action="store_true", help="0.5 s per server")
    parser.add_argument(
        "--only", choices=_SERVERS, action="append", help="measure only this server (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=run)


# --- the servers ---------------------------------------------------------------------------


class _SyncServer:
    def __init__(self) -> None:
        from netkit.tcp import TcpServer

        self._server = TcpServer(echo_handler)

    def start(self) -> int:
        self._server.start()
        return self._server.address.port

    def stop(self) -> None:
        # The load is over (or killed) when this runs: handlers see EOF at once.
        self._server.stop(timeout=1.0)


async def _aio_echo(conn: Any) -> None:
    try:
        while data := await conn.recv(65536):
            await conn.sendall(data)
    except OSError:
        pass


class _AioServer:
    """netkit.aio.TcpServer on its own event loop in a background thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._port = 0
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="netkit-bench-aio", daemon=True)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            self._ready.set()
            self._loop.close()

    async def _main(self) -> None:
        from netkit.aio import TcpServer

        self._stop = asyncio.Event()
        async with TcpServer(_aio_echo) as server:
            self._port = server.address.port
            self._ready.set()
            await self._stop.wait()

    def start(self) -> int:
        self._thread.start()
        if not self._ready.wait(10.0) or self._error is not None or not self._port:
            raise OSError(f"the asyncio server did not start: {self._error}")
        return self._port

    def stop(self) -> None:
        stop = self._stop
        if stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(10.0)


# --- the load generator (runs in a child process) ----------------------------------------


def _client_main() -> None:
    """Entry point of the load process: ``PORT CLIENTS SIZE SECONDS`` in argv."""
    port, clients, size, duration = (
        int(sys.argv[1]),
        int(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    payload = b"x" * size
    counts = [0] * clients
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)
    window = [0.0, 0.0]

    def worker(index: int) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10.0)
        except OSError:
            errors[index] += 1
            barrier.wait()
            return
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            barrier.wait()
            start, end = window
            done = 0
            try:
                while True:
                    now = time.monotonic()
                    if now >= end:
                        break
                    sock.sendall(payload)
                    got = 0
                    while got < size:
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError("server closed")
                        got += len(chunk)
                    if now >= start:
                        done += 1
            except OSError:
                errors[index] += 1
            counts[index] = done

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    now = time.monotonic()
    window[0], window[1] = now + _WARMUP, now + _WARMUP + duration
    barrier.wait(30.0)
    for thread in threads:
        thread.join(duration + 30.0)
    json.dump({"requests": sum(counts), "errors": sum(errors), "seconds": duration}, sys.stdout)


def _start_load(port: int, clients: int, size: int, duration: float) -> subprocess.Popen[str]:
    """Start the load generator against *port*; :class:`_Progress` waits for it."""
    command = "from netkit.cli.bench import _client_main; _client_main()"
    argv = [sys.executable, "-c", command, str(port), str(clients), str(size), str(duration)]
    # A session of its own: Ctrl-C in the terminal reaches only this process, which
    # kills the load at once (a load interrupted by itself first would be reported
    # as a failed measurement instead of "interrupted").
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


# --- progress and the command ------------------------------------------------------------


class _Progress:
    """A bar redrawn in place on a terminal; one plain line per server otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def run(self, label: str, duration: float, load: subprocess.Popen[str]) -> dict[str, float]:
        """Wait for *load* to finish, showing progress; return what it measured.

        Whatever ends the wait early (Ctrl-C above all) kills the load first, so that
        its clients are gone and the server stops at once.

        Raises:
            OSError: the load generator failed or did not finish in time.
        """
        started = time.monotonic()
        if not self.tty:
            print(f"measuring {label} for {duration:g} s ...", file=sys.stderr, flush=True)
        total = duration + _WARMUP
        limit = started + duration + 60  # the load bounds itself; this is a safety net
        try:
            while True:
                try:
                    # communicate() may be called again after a timeout without losing
                    # output; each wait is short so that the bar moves.
                    out, err = load.communicate(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > limit:
                        raise OSError("the load generator did not finish in time") from None
                if self.tty:
                    done = min((time.monotonic() - started) / total, 1.0)
                    bar = "#" * int(done * 30)
                    sys.stderr.write(f"\r  {label:<18} [{bar:<30}] {done * 100:3.0f}%")
                    sys.stderr.flush()
        except BaseException:
            load.kill()
            load.communicate()
            raise
        finally:
            if self.tty:
                sys.stderr.write("\r" + " " * 60 + "\r")
                sys.stderr.flush()
        if load.returncode != 0:
            last = (err.strip().splitlines() or ["no output"])[-1]
            raise OSError(f"the load generator failed: {last}")
        result: dict[str, float] = json.loads(out)
        return result


def run(args: argparse.Namespace) -> int:
    """Measure each server in turn, then print the summary table."""
    duration = 0.5 if args.quick else args.seconds
    chosen = [name for name in _SERVERS if not args.only or name in args.only]
    labels = {"sync": "sync TcpServer", "aio": "aio TcpServer"}
    progress = _Progress()
    results: dict[str, dict[str, float]] = {}
    for name in chosen:
        server: _SyncServer | _AioServer = _SyncServer() if name == "sync" else _AioServer()
        port = server.start()

        try:
            load = _start_load(port, args.clients, args.size, duration)
            measured = progress.run(labels[name], duration, load)
        finally:
            server.stop()
        rate = measured["requests"] / measured["seconds"]
        results[name] = {
            "requests_per_s": rate,
            "mb_per_s": rate * args.size / 1e6,
            "errors": measured["errors"],
        }
    if args.json:
        print(json.dumps({"clients": args.clients, "size": args.size, "results": results}))
    else:
        rows = [
            [
                labels[name],
                f"{r['requests_per_s']:,.0f}",
                f"{r['mb_per_s']:,.2f}",
                f"{r['requests_per_s'] / results['sync']['requests_per_s']:.2f}x"
                if "sync" in results and results["sync"]["requests_per_s"]
                else "-",
            ]
            for name, r in results.items()
        ]
        print(
            f"echo on loopback: {args.clients} clients, {args.size} B requests, "
            f"{duration:g} s per server"
        )
        for line in table(rows, ["server", "requests/s", "MB/s", "vs sync"], align="lrrr"):
            print(line)
        print("(the load generator is pure Python: expect it, not the server, to be the limit)")
    failed = any(r["errors"] or not r["requests_per_s"] for r in results.values())
    return EXIT_FAILED if failed else EXIT_OK
