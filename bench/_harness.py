"""Shared harness for netkit's TCP benchmarks (bench_tcp.py, bench_aio.py).

Interface (everything a benchmark script needs):

``ServerSpec(name, argv, env=None)``
    A server to measure. ``argv`` is the command that starts it in a subprocess; the
    string ``{port}`` in any argument is replaced with the port to listen on (on
    127.0.0.1). The server must accept TCP echo connections on that port; it may print
    anything. ``python_server(name, script, *args)`` builds the common case
    ``[sys.executable, script, "--serve", name, "--port", "{port}", *args]``, and
    ``c_echo_server()`` gives the C epoll echo server (the machine's limit).

``Scenario(name, mode, conns, size, depth=1, unit="req/s")``
    One load shape for ``bench/loadgen.c``: ``mode`` is ``"pingpong"``, ``"bulk"`` or
    ``"churn"`` (see the top of loadgen.c). ``STANDARD_SCENARIOS`` holds the six the
    TCP issue asks for.

``run_suite(servers, scenarios, *, seconds, warmup, repeats) -> Results``
    Builds the C tools (``cc -O2`` into bench/build/), then for every scenario starts
    every server, runs the load generator against each one ``repeats`` times
    (interleaved, so drift in machine load hits every server alike), and stops them.
    Server and load generator are pinned to different cores when there are at least
    two. Returns ``Results``: ``{scenario: {server: Measurement}}`` in run order.

``Measurement``: ``runs`` (rates), ``median``, ``spread`` (max-min over median),
``client_cpu`` (median busy fraction of the generator's core: well under 1.0 means
the generator was not the bottleneck), ``unit``.

``markdown_table(results, subject, references, servers=None)``: one row per
scenario, one column per server (median, ± half the range of the repeats), then one
ratio column per reference server (subject / reference).

Lower-level pieces, for scripts that drive runs themselves: ``build_tools()``,
``RunningServer(spec, cpus)`` (``.port``, ``.stop()``), ``run_loadgen(port, scenario,
seconds, warmup, cpus)`` and ``_cpus()`` (server cores, client cores).
``write_json(path, results, meta)`` and ``machine_info()`` complete the set.

``add_common_arguments(parser)`` / ``settings_from(args)`` give every script the
same ``--quick`` (0.4 s runs, 2 repeats), ``--seconds``, ``--repeats`` and ``--only``
flags; ``select(items, only)`` filters servers or scenarios by name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

BENCH_DIR = Path(__file__).resolve().parent
BUILD_DIR = BENCH_DIR / "build"
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerSpec:
    """A server started as ``argv`` (``{port}`` substituted) in a subprocess."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None


@dataclass(frozen=True)
class Scenario:
    """One load shape: see the top of loadgen.c for the meaning of the fields."""

    name: str
    mode: str
    conns: int
    size: int
    depth: int = 1
    unit: str = "req/s"


@dataclass
class Measurement:
    """The repeated runs of one scenario against one server."""

    unit: str
    runs: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else 0.0

    @property
    def spread(self) -> float:
        """(max - min) / median: how much the repeats disagree."""
        if len(self.runs) < 2 or not self.median:
            return 0.0
        return (max(self.runs) - min(self.runs)) / self.median

    def as_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit,
            "runs": self.runs,
            "median": self.median,
            "spread": round(self.spread, 4),
            "client_cpu": statistics.median(self.client_cpu) if self.client_cpu else None,
            "errors": self.errors,
        }


Results = dict[str, dict[str, Measurement]]
_Named = TypeVar("_Named", ServerSpec, Scenario)

STANDARD_SCENARIOS = [
    Scenario("ping-pong 64 B x 1", "pingpong", 1, 64),
    Scenario("ping-pong 64 B x 100", "pingpong", 100, 64),
    Scenario("ping-pong 4 KiB x 100", "pingpong", 100, 4096),
    Scenario("pipelined 64 B x 100, depth 16", "pingpong", 100, 64, depth=16),
    Scenario("bulk, 1 connection", "bulk", 1, 65536, unit="MB/s"),
    Scenario("churn (connect, 64 B echo, close)", "churn", 8, 64, unit="conn/s"),
]


# The plain asyncio echo servers both benchmarks compare against, as coroutines, so
# bench_tcp runs them on asyncio and bench_aio on asyncio or uvloop.
ECHO_CHUNK = 65536


async def asyncio_streams_echo(port: int) -> None:
    """Serve echo on HOST:*port* with asyncio streams (read, write, drain)."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(ECHO_CHUNK):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


class _EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance check: uvloop's transports are not asyncio.Transport subclasses.
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def asyncio_protocol_echo(port: int) -> None:
    """Serve echo on HOST:*port* with a raw asyncio Protocol (write in data_received)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_EchoProtocol, HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


def build_tools() -> dict[str, Path]:
    """Compile loadgen.c and echo_epoll.c with ``cc -O2`` into bench/build/."""
    BUILD_DIR.mkdir(exist_ok=True)
    cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
    tools = {}
    for name in ("loadgen", "echo_epoll"):
        source, binary = BENCH_DIR / f"{name}.c", BUILD_DIR / name
        if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
            subprocess.run([cc, "-O2", "-Wall", "-o", str(binary), str(source)], check=True)
        tools[name] = binary
    return tools


def python_server(name: str, script: str | Path, *args: str) -> ServerSpec:
    """A server implemented by ``script --serve NAME --port PORT``."""
    argv = [sys.executable, str(script), "--serve", name, "--port", "{port}", *args]
    return ServerSpec(name, argv)


def c_echo_server() -> ServerSpec:
    """The C epoll echo server: what the machine can do."""
    return ServerSpec("C epoll", [str(BUILD_DIR / "echo_epoll"), "{port}"])


def _cpus() -> tuple[set[int] | None, set[int] | None]:
    """(server cores, client cores): apart when there are two cores or more."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, {cpus[1]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server did not listen on port {port} in time")


class RunningServer:
    """A started ServerSpec; ``stop()`` kills it (and only it)."""

    def __init__(self, spec: ServerSpec, cpus: set[int] | None) -> None:
        self.spec = spec
        self.port = _free_port()
        argv = [a.replace("{port}", str(self.port)) for a in spec.argv]
        env = dict(os.environ, **(spec.env or {}))

        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.proc = subprocess.Popen(
            argv, env=env, preexec_fn=pin, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        try:
            _wait_listening(self.port, self.proc, time.monotonic() + 15)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_loadgen(
    port: int, scenario: Scenario, seconds: float, warmup: float, cpus: set[int] | None
) -> dict[str, float]:
    """One run of the load generator; returns its JSON result."""
    argv = [
        str(BUILD_DIR / "loadgen"),
        HOST,
        str(port),
        scenario.mode,
        str(scenario.conns),
        str(scenario.size),
        str(scenario.depth),
        str(seconds),
        str(warmup),
    ]

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    out = subprocess.run(
        argv, preexec_fn=pin, capture_output=True, text=True, timeout=seconds + warmup + 60
    )
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr.strip()}")
    result: dict[str, float] = json.loads(out.stdout)
    return result


def run_suite(
    servers: Sequence[ServerSpec],
    scenarios: Sequence[Scenario],
    *,
    seconds: float = 2.0,
    warmup: float = 0.3,
    repeats: int = 3,
    log: bool = True,
) -> Results:
    """Run every scenario against every server; see the module docstring."""
    build_tools()
    server_cpus, client_cpus = _cpus()
    results: Results = {}
    for scenario in scenarios:
        results[scenario.name] = row = {s.name: Measurement(scenario.unit) for s in servers}
        for rep in range(repeats):
            for spec in servers:
                # a fresh server per run: no state (threads, TIME_WAIT, caches) carries over
                server = RunningServer(spec, server_cpus)
                try:
                    got = run_loadgen(server.port, scenario, seconds, warmup, client_cpus)
                except RuntimeError as exc:
                    if log:
                        print(f"  {spec.name}: {exc}", file=sys.stderr)
                    row[spec.name].errors += 1
                    continue
                finally:
                    server.stop()
                rate = got["mb_per_s"] if scenario.unit == "MB/s" else got["ops_per_s"]
                row[spec.name].runs.append(rate)
                row[spec.name].client_cpu.append(got["cpu"])
                row[spec.name].errors += int(got["errors"])
                if log:
                    print(
                        f"{scenario.name:38} #{rep + 1} {spec.name:22} {rate:12,.0f} "
                        f"{scenario.unit:7} client cpu {got['cpu']:.2f}",
                        file=sys.stderr,
                    )
    return results


def machine_info() -> dict[str, object]:
    """nproc, CPU model, Python, kernel and load: the facts a number needs."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "loadavg": os.getloadavg(),
    }


def _fmt(value: float, unit: str) -> str:
    if unit == "MB/s":
        return f"{value:,.0f} MB/s"
    if value >= 10_000:
        return f"{value / 1000:,.1f}k"
    return f"{value:,.0f}"


def markdown_table(
    results: Results,
    subject: str,
    references: Sequence[str],
    servers: Sequence[str] | None = None,
) -> str:
    """A table of medians plus ``subject / reference`` ratios.

    Each median is followed by ``±x%``: half the range of the repeats over the median.
    """
    names = list(servers) if servers else list(next(iter(results.values())))
    head = ["scenario", *names, *(f"{subject} / {r}" for r in references)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario, row in results.items():
        cells = [scenario]
        for name in names:
            m = row.get(name)
            cells.append(
                f"{_fmt(m.median, m.unit)} (±{m.spread * 50:.0f}%)" if m and m.runs else "-"
            )
        for ref in references:
            a, b = row.get(subject), row.get(ref)
            ok = a and b and a.runs and b.runs and b.median
            cells.append(f"{a.median / b.median:.2f}x" if ok and a and b else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: Path, results: Results, meta: dict[str, object]) -> None:
    """Write ``{"meta": ..., "results": {scenario: {server: measurement}}}``."""
    path.parent.mkdir(exist_ok=True)
    data = {
        "meta": meta,
        "results": {
            scenario: {name: m.as_dict() for name, m in row.items()}
            for scenario, row in results.items()
        },
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--quick, --seconds, --repeats, --only (substring filters for servers/scenarios)."""
    parser.add_argument("--quick", action="store_true", help="short run (about a minute)")
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--repeats", type=int, help="runs per scenario and server")
    parser.add_argument(
        "--only", action="append", default=[], help="run only servers/scenarios containing this"
    )


def settings_from(args: argparse.Namespace) -> tuple[float, float, int]:
    """(seconds, warmup, repeats) from the common arguments."""
    seconds = args.seconds or (0.4 if args.quick else 2.0)
    repeats = args.repeats or (2 if args.quick else 3)
    warmup = 0.15 if args.quick else 0.3
    return seconds, warmup, repeats


def select(items: Sequence[_Named], only: Sequence[str]) -> list[_Named]:
    """Items whose name contains any of ``only``; all of them when none matches."""
    chosen = [i for i in items if any(o.lower() in i.name.lower() for o in only)]
    return chosen or list(items)
