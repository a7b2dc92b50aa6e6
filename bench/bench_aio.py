"""Benchmark: netkit.aio.TcpServer against raw asyncio, uvloop, trio and anyio, in one run.

    .venv/bin/python bench/bench_aio.py            # full run, several minutes
    .venv/bin/python bench/bench_aio.py --quick    # about two minutes
    .venv/bin/python bench/bench_aio.py --only "x 1" --only uvloop
    .venv/bin/python bench/bench_aio.py --cpu      # server CPU per request instead
    .venv/bin/python bench/bench_aio.py --targets  # churn, bulk, 64 B x 100: both loops
    .venv/bin/python bench/bench_aio.py --inproc   # Python cost per message, no sockets

Every server is the same TCP echo in a subprocess pinned to one core; the C load
generator (bench/loadgen.c, through bench/_harness.py) runs pinned to another. Results
go to stdout as markdown tables with ratios (netkit.aio against asyncio streams, the
raw asyncio Protocol, the raw uvloop Protocol, trio and anyio) and to
bench/results/aio.json. The "coroutine floor" server is a reference, not a product: the
least any ``await recv()`` echo can cost (one future per message, nothing else), so the
tables show how much of the distance to a raw Protocol is the coroutine hand-off. The
"accept floor" servers are the same kind of reference for a server with its own accept
loop (netkit.aio's design): the least such a server can cost per connection. The
"pieces floor" servers are the least the ``recv(65536)`` + ``sendall`` shape can cost in
bulk: each receive taken in ``bytes`` pieces of 64 KiB and written back in one call.

Server CPU (``--cpu``, ``--targets``) is per request, per accepted connection (churn) or
per megabyte echoed (bulk): the server process's CPU time divided by what the load
generator finished over the whole run, so it does not depend on the generator's speed.
``--targets`` runs each scenario with its floor (coroutine, accept or pieces floor) in
the same interleaved run and writes bench/results/aio_targets.json. ``--serve NAME
--port N`` runs one
server (used by the harness).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

HOST = h.HOST
CHUNK = 65536


# --------------------------------------------------------------------------- servers


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _run(main: Callable[[], object], use_uvloop: bool) -> None:
    loop = _new_loop(use_uvloop)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())  # type: ignore[arg-type]


def serve_netkit(port: int, use_uvloop: bool) -> None:
    from netkit.aio import TcpConnection, TcpServer

    async def echo(conn: TcpConnection) -> None:
        while data := await conn.recv(CHUNK):
            await conn.sendall(data)

    async def main() -> None:
        await TcpServer(echo, HOST, port, backlog=1024).serve_forever()

    _run(main, use_uvloop)


def serve_streams(port: int, use_uvloop: bool) -> None:
    _run(lambda: h.asyncio_streams_echo(port), use_uvloop)


def serve_protocol(port: int, use_uvloop: bool) -> None:
    _run(lambda: h.asyncio_protocol_echo(port), use_uvloop)


def serve_trio(port: int, use_uvloop: bool) -> None:
    import trio

    async def echo(stream: trio.SocketStream) -> None:
        try:
            async for data in stream:
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    # trio's SocketStream turns TCP_NODELAY on, as asyncio and netkit do.
    trio.run(lambda: trio.serve_tcp(echo, port, host=HOST, backlog=1024))


def serve_anyio(port: int, use_uvloop: bool) -> None:
    import anyio
    from anyio.abc import SocketAttribute, SocketStream

    async def echo(stream: SocketStream) -> None:
        async with stream:
            raw = stream.extra(SocketAttribute.raw_socket)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                async for data in stream:
                    await stream.send(data)
            except (anyio.BrokenResourceError, anyio.EndOfStream, ConnectionError):
                pass

    async def main() -> None:
        listener = await anyio.create_tcp_listener(local_host=HOST, local_port=port, backlog=1024)
        await listener.serve(echo)

    anyio.run(main, backend="asyncio")


class _FloorProtocol(asyncio.Protocol):
    """The least any ``await recv()`` style echo can cost: a task woken by one future per
    message, with no checks, limits, deadlines or buffering policy. Not a usable API; a
    reference that shows how much of the gap to a raw Protocol is the coroutine itself.
    """

    def __init__(self, start: bool = True) -> None:
        self.waiter: asyncio.Future[bytes] | None = None
        self.pending: list[bytes] = []
        self.start = start  # run() in a task of its own (else the caller awaits it)
        self.lost: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        if self.start:
            asyncio.get_running_loop().create_task(self.run())

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(data)
        else:
            self.pending.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.data_received(b"")
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        write = self.transport.write
        while True:
            if self.pending:
                data = self.pending.pop(0)
            else:
                self.waiter = loop.create_future()
                data = await self.waiter
            if not data:
                return
            write(data)


class _PiecesFloorProtocol(_FloorProtocol):
    """The least the ``recv(max_bytes)`` + ``sendall`` API shape can cost in bulk.

    The task takes each receive in ``bytes`` pieces of at most 64 KiB (what
    ``await recv(65536)`` returns) and writes the pieces of one receive together (what
    netkit.aio's gathering does); no buffer, checks or deadlines. Not a usable API: a
    reference for the copies the API shape itself costs.
    """

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        writelines = self.transport.writelines
        while True:
            if self.pending:
                data = self.pending.pop(0)
            else:
                self.waiter = loop.create_future()
                data = await self.waiter
            if not data:
                return
            writelines([data[i : i + CHUNK] for i in range(0, len(data), CHUNK)])


def serve_pieces_floor(port: int, use_uvloop: bool) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_PiecesFloorProtocol, HOST, port, backlog=1024)
        await server.serve_forever()

    _run(main, use_uvloop)


def serve_floor(port: int, use_uvloop: bool) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_FloorProtocol, HOST, port, backlog=1024)
        await server.serve_forever()

    _run(main, use_uvloop)


def serve_accept_floor(port: int, use_uvloop: bool) -> None:
    """The least an await-based server with its own accept loop can cost per connection.

    netkit.aio's design without netkit: a reader callback on the listener accepts, one
    task per connection attaches the socket with ``connect_accepted_socket`` (the
    public way to wrap an accepted socket; ``create_server`` would accept inside the
    loop, where ``max_connections`` could not leave clients in the backlog), echoes
    through one future per message and waits for ``connection_lost`` after closing.
    No checks, options, limits, deadlines or logging: a reference, not an API.
    """

    async def serve(sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        protocol = _FloorProtocol(start=False)
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock)
        protocol.lost = loop.create_future()
        await protocol.run()
        transport.close()
        await protocol.lost

    async def main() -> None:
        loop = asyncio.get_running_loop()
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((HOST, port))
        lsock.listen(1024)
        lsock.setblocking(False)
        tasks: set[asyncio.Task[None]] = set()

        def ready() -> None:
            for _ in range(64):
                try:
                    sock, _ = lsock.accept()
                except BlockingIOError:
                    return
                task = loop.create_task(serve(sock))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        loop.add_reader(lsock, ready)
        await loop.create_future()

    _run(main, use_uvloop)


SERVERS: dict[str, tuple[Callable[[int, bool], None], bool]] = {
    "netkit.aio": (serve_netkit, False),
    "asyncio streams": (serve_streams, False),
    "asyncio Protocol": (serve_protocol, False),
    "netkit.aio uvloop": (serve_netkit, True),
    "uvloop streams": (serve_streams, True),
    "uvloop Protocol": (serve_protocol, True),
    "coroutine floor": (serve_floor, False),
    "coroutine floor uvloop": (serve_floor, True),
    "pieces floor": (serve_pieces_floor, False),
    "pieces floor uvloop": (serve_pieces_floor, True),
    "accept floor": (serve_accept_floor, False),
    "accept floor uvloop": (serve_accept_floor, True),
    "trio": (serve_trio, False),
    "anyio (asyncio)": (serve_anyio, False),
}

SCENARIOS = [
    h.Scenario("ping-pong 64 B x 1", "pingpong", 1, 64),
    h.Scenario("ping-pong 64 B x 100", "pingpong", 100, 64),
    h.Scenario("ping-pong 4 KiB x 1", "pingpong", 1, 4096),
    h.Scenario("ping-pong 4 KiB x 100", "pingpong", 100, 4096),
    h.Scenario("pipelined 64 B x 100, depth 16", "pingpong", 100, 64, depth=16),
    h.Scenario("churn: connect, 64 B echo, close", "churn", 8, 64, unit="conn/s"),
    h.Scenario("bulk 64 KiB, 1 conn", "bulk", 1, 65536, unit="MB/s"),
]


def server_specs() -> list[h.ServerSpec]:
    return [h.python_server(name, __file__) for name in SERVERS]


# --------------------------------------------------------------------------- CPU cost


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_unit(scenario: h.Scenario) -> str:
    """What one CPU figure of *scenario* is per: a request, a connection or a megabyte."""
    return {"churn": "us/conn", "bulk": "us/MB"}.get(scenario.mode, "us/req")


def _work(scenario: h.Scenario, got: dict[str, float], seconds: float, warmup: float) -> float:
    """What the server did during the whole run, warm-up included, in cpu_unit's units.

    The generator reports its totals (``ops_all``: finished connections for churn,
    echoed requests for ping-pong; ``bytes_all``); the server's CPU time covers the
    warm-up too, so the warm-up is counted as well.
    """
    if scenario.mode == "bulk":
        return got.get("bytes_all", got["mb_per_s"] * 1e6 * (seconds + warmup)) / 1e6
    return got.get("ops_all", got["ops_per_s"] * (seconds + warmup))


def cpu_cost_suite(
    servers: list[h.ServerSpec],
    scenarios: list[h.Scenario],
    seconds: float,
    warmup: float,
    repeats: int,
) -> tuple[dict[str, dict[str, list[float]]], h.Results]:
    """Server CPU per unit of work, and the rates of the same runs.

    Returns ``({scenario: {server: [CPU µs per request, connection or MB]}}, Results)``.
    Throughput on a shared machine moves with everyone else's load; the CPU time the
    server process spends per request (per accepted connection for churn, per
    megabyte echoed for bulk) moves far less, so this is the steadier way to compare
    the servers' own costs. Same servers and load generator as run_suite; the runs are
    interleaved (every server once, then again) so drift hits all alike.
    """
    h.build_tools()
    server_cpus, client_cpus = h._cpus()
    out: dict[str, dict[str, list[float]]] = {}
    rates: h.Results = {}
    for scenario in scenarios:
        row = out[scenario.name] = {s.name: [] for s in servers}
        rate_row = rates[scenario.name] = {s.name: h.Measurement(scenario.unit) for s in servers}
        unit = cpu_unit(scenario)
        for rep in range(repeats):
            for spec in servers:
                server = h.RunningServer(spec, server_cpus)
                try:
                    before = _cpu_seconds(server.proc.pid)
                    got = h.run_loadgen(server.port, scenario, seconds, warmup, client_cpus)
                    used = _cpu_seconds(server.proc.pid) - before
                except RuntimeError as exc:
                    print(f"  {spec.name}: {exc}", file=sys.stderr)
                    rate_row[spec.name].errors += 1
                    continue
                finally:
                    server.stop()
                rate = got["mb_per_s"] if scenario.unit == "MB/s" else got["ops_per_s"]
                rate_row[spec.name].runs.append(rate)
                rate_row[spec.name].client_cpu.append(got["cpu"])
                rate_row[spec.name].errors += int(got["errors"])
                work = _work(scenario, got, seconds, warmup)
                if work > 0:
                    row[spec.name].append(used / work * 1e6)
                    print(
                        f"{scenario.name:34} #{rep + 1} {spec.name:22} "
                        f"{used / work * 1e6:9.2f} {unit:8} ({rate:,.0f} {scenario.unit}, "
                        f"load {os.getloadavg()[0]:.2f})",
                        file=sys.stderr,
                    )
    return out, rates


def cpu_table(results: dict[str, dict[str, list[float]]], subject: str, refs: list[str]) -> str:
    """Medians of server CPU per unit, then ``reference / subject`` (>1: netkit cheaper)."""
    names = list(next(iter(results.values())))
    head = ["scenario (server CPU, µs)", *names, *(f"{r} / {subject}" for r in refs)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    units = {s.name: cpu_unit(s) for s in SCENARIOS}
    for scenario, row in results.items():
        med = {n: statistics.median(v) for n, v in row.items() if v}
        label = f"{scenario} ({units.get(scenario, 'us/req').replace('us', 'µs')})"
        cells = [label, *(f"{med[n]:.1f}" if n in med else "-" for n in names)]
        for ref in refs:
            ok = subject in med and ref in med
            cells.append(f"{med[ref] / med[subject]:.2f}x" if ok else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- in-process


class _FakeTransport:
    """Just enough of a transport for the in-process measurement: writes are counted."""

    def __init__(self) -> None:
        self.writes = 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (HOST, 1) if name in ("sockname", "peername") else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    abort = pause_reading = resume_reading = close


INPROC_CONNECTIONS = 100
INPROC_ROUNDS = 1000
INPROC_REPEATS = 7


async def _inproc(kind: str) -> float:
    """CPU µs per 64-byte message echoed by 100 connections, with no sockets at all.

    Each round hands one message to every connection the way the loop would (a raw or
    floor protocol gets ``data_received``; netkit.aio's buffered protocol gets
    ``get_buffer`` and ``buffer_updated``) and lets the loop run twice, enough for
    every handler task to wake, echo and wait again. What remains is the Python-side
    cost of each design, without the system calls that dominate a real run.
    """
    from netkit.aio._protocol import StreamProtocol
    from netkit.aio.connection import TcpConnection

    loop = asyncio.get_running_loop()
    payload = b"x" * 64
    transports = [_FakeTransport() for _ in range(INPROC_CONNECTIONS)]
    tasks: list[asyncio.Task[None]] = []
    feeds: list[Callable[[], None]] = []
    floors: list[_FloorProtocol] = []
    for transport in transports:
        protocol: asyncio.Protocol
        if kind == "netkit.aio":
            stream = StreamProtocol(loop)
            stream.connection_made(transport)  # type: ignore[arg-type]
            conn = TcpConnection(transport, stream)  # type: ignore[arg-type]

            async def echo(conn: TcpConnection = conn) -> None:
                while data := await conn.recv(CHUNK):
                    await conn.sendall(data)

            tasks.append(loop.create_task(echo()))

            def feed(stream: StreamProtocol = stream) -> None:
                stream.get_buffer(-1)[:64] = payload
                stream.buffer_updated(64)

            feeds.append(feed)
            continue
        if kind == "coroutine floor":
            protocol = _FloorProtocol()
            floors.append(protocol)
        else:
            protocol = h._EchoProtocol()
        protocol.connection_made(transport)  # type: ignore[arg-type]

        def deliver(received: Callable[[bytes], None] = protocol.data_received) -> None:
            received(bytes(payload))

        feeds.append(deliver)
    await asyncio.sleep(0)
    start = time.thread_time()
    for _ in range(INPROC_ROUNDS):
        for each in feeds:
            each()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    elapsed = time.thread_time() - start
    assert all(t.writes == INPROC_ROUNDS for t in transports), "a handler fell behind"
    for task in tasks:
        task.cancel()
    for floor in floors:
        floor.connection_lost(None)  # its task returns
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)
    return elapsed / (INPROC_ROUNDS * INPROC_CONNECTIONS) * 1e6


def inproc_table() -> str:
    """Markdown: in-process µs per message (best of INPROC_REPEATS) on both loops."""
    kinds = ["asyncio Protocol", "coroutine floor", "netkit.aio"]
    lines = [
        "| loop | raw Protocol | coroutine floor | netkit.aio | netkit.aio - floor |",
        "|---|---|---|---|---|",
    ]
    for loop_name in ("asyncio", "uvloop"):
        best: dict[str, float] = {}
        for _ in range(INPROC_REPEATS):
            for kind in kinds:
                loop = _new_loop(loop_name == "uvloop")
                try:
                    value = loop.run_until_complete(_inproc(kind))
                finally:
                    loop.close()
                best[kind] = min(best.get(kind, value), value)
        raw, floor, netkit = (best[k] for k in kinds)
        lines.append(
            f"| {loop_name} | {raw:.2f} | {floor:.2f} | {netkit:.2f} | {netkit - floor:.2f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- targets

# (scenario, reference server kind, least netkit.aio / reference, floor): what
# netkit.aio must reach on each loop against that loop's own peer, in throughput
# measured side by side, and the reference server that shows the least an API of
# netkit.aio's shape can cost in that scenario (measured in the same run).
TARGETS = [
    ("ping-pong 64 B x 100", "streams", 1.05, "coroutine floor"),
    ("churn: connect, 64 B echo, close", "streams", 1.0, "accept floor"),
    ("bulk 64 KiB, 1 conn", "Protocol", 0.85, "pieces floor"),
]
LOOPS = {
    "default loop": ("netkit.aio", "asyncio streams", "asyncio Protocol", ""),
    "uvloop": ("netkit.aio uvloop", "uvloop streams", "uvloop Protocol", " uvloop"),
}


def targets_table(
    costs: dict[str, dict[str, list[float]]], rates: h.Results, loop_name: str
) -> str:
    """One loop's rows: rates (median ± half range), the target ratio, CPU ratios, and
    where that scenario's floor stands against the same reference."""
    subject, streams, protocol, suffix = LOOPS[loop_name]
    head = [
        "scenario", subject, streams, protocol, "floor", "target", "netkit / ref (rate)",
        "ref / netkit (CPU)", "netkit CPU", "floor / ref (rate)", "netkit / floor (rate)",
        "floor / netkit (CPU)",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario_name, kind, least, floor_kind in TARGETS:
        if scenario_name not in rates:
            continue
        floor = floor_kind + suffix
        ref = streams if kind == "streams" else protocol
        row, cpu = rates[scenario_name], costs[scenario_name]
        unit = cpu_unit(next(s for s in SCENARIOS if s.name == scenario_name))
        cells = [scenario_name]
        for name in (subject, streams, protocol, floor):
            m = row.get(name)
            text = f"{h._fmt(m.median, m.unit)} (±{m.spread * 50:.0f}%)" if m and m.runs else "-"
            cells.append(f"{text} ({floor_kind})" if name == floor else text)
        med = {n: statistics.median(v) for n, v in cpu.items() if v}
        rate = {n: m.median for n, m in row.items() if m.runs}

        def ratio(top: str, bottom: str, table: dict[str, float]) -> str:
            if table.get(top) and table.get(bottom):
                return f"{table[top] / table[bottom]:.2f}x"
            return "-"

        verdict = (
            "met" if rate.get(subject, 0.0) >= least * rate.get(ref, float("inf")) else "not met"
        )
        cells.append(f"≥ {least:.2f}x {ref.split()[-1]}")
        cells.append(f"**{ratio(subject, ref, rate)}** ({verdict})")
        cells.append(ratio(ref, subject, med))
        cells.append(f"{med[subject]:.1f} {unit.replace('us', 'µs')}" if subject in med else "-")
        cells.append(ratio(floor, ref, rate))
        cells.append(ratio(subject, floor, rate))
        cells.append(ratio(floor, subject, med))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_targets(args: argparse.Namespace, seconds: float, warmup: float, repeats: int) -> None:
    """``--targets``: the three targets on both loops, each scenario one interleaved run
    of netkit.aio, each loop's streams and ``Protocol``, and that scenario's floor."""
    specs = {s.name: s for s in server_specs()}
    wanted = {t[0]: t[3] for t in TARGETS}
    scenarios = h.select([s for s in SCENARIOS if s.name in wanted], args.only)
    load_before = os.getloadavg()
    costs: dict[str, dict[str, list[float]]] = {}
    rates: h.Results = {}
    for scenario in scenarios:
        names = [
            name
            for subject, streams, protocol, suffix in LOOPS.values()
            for name in (subject, streams, protocol, wanted[scenario.name] + suffix)
        ]
        got_costs, got_rates = cpu_cost_suite(
            [specs[n] for n in names], [scenario], seconds, warmup, repeats
        )
        costs.update(got_costs)
        rates.update(got_rates)
    meta = h.machine_info()
    meta["loadavg_before"] = load_before
    meta["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    meta["seconds"], meta["warmup"], meta["repeats"] = seconds, warmup, repeats
    h.write_json(args.json or h.RESULTS_DIR / "aio_targets.json", rates, meta)
    print(f"\n{meta}\n")
    for loop_name in LOOPS:
        print(f"{loop_name}:")
        print(targets_table(costs, rates, loop_name))
        print()


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_arguments(parser)
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="where to write the results (bench/results/)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="measure server CPU time per request instead of throughput (steadier under load)",
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="the connection targets only: churn, bulk and 64 B x 100 on both loops, "
        "throughput and server CPU from the same runs, checked against the targets",
    )
    parser.add_argument(
        "--inproc",
        action="store_true",
        help="only the in-process Python cost per message (no sockets; steadiest)",
    )
    args = parser.parse_args()
    if args.serve:
        serve, use_uvloop = SERVERS[args.serve]
        try:
            serve(args.port, use_uvloop)
        except KeyboardInterrupt:
            pass
        return

    if args.inproc:
        print("In-process CPU µs per 64-byte echo, 100 connections, best of", INPROC_REPEATS)
        print()
        print(inproc_table())
        return
    seconds, warmup, repeats = h.settings_from(args)
    servers = h.select(server_specs(), args.only)
    scenarios = h.select(SCENARIOS, args.only)
    if args.targets:
        run_targets(args, seconds, warmup, repeats)
        return
    if args.cpu:
        costs, _ = cpu_cost_suite(servers, scenarios, seconds, warmup, repeats)
        print(f"\n{h.machine_info()}\n")
        default_refs = [
            "asyncio streams", "asyncio Protocol", "coroutine floor", "trio", "anyio (asyncio)"
        ]  # fmt: skip
        print(cpu_table(costs, "netkit.aio", default_refs))
        print()
        uvloop_refs = ["uvloop streams", "uvloop Protocol", "coroutine floor uvloop"]
        print(cpu_table(costs, "netkit.aio uvloop", uvloop_refs))
        return
    results = h.run_suite(servers, scenarios, seconds=seconds, warmup=warmup, repeats=repeats)
    meta = h.machine_info()
    meta["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    meta["seconds"], meta["warmup"], meta["repeats"] = seconds, warmup, repeats
    h.write_json(args.json or h.RESULTS_DIR / "aio.json", results, meta)
    print(f"\n{meta}\n")
    print("default loop:")
    print(
        h.markdown_table(
            results,
            "netkit.aio",
            ["asyncio streams", "asyncio Protocol", "coroutine floor", "trio", "anyio (asyncio)"],
            [
                "netkit.aio",
                "asyncio streams",
                "asyncio Protocol",
                "coroutine floor",
                "trio",
                "anyio (asyncio)",
            ],
        )
    )
    print("\nuvloop:")
    print(
        h.markdown_table(
            results,
            "netkit.aio uvloop",
            ["uvloop streams", "uvloop Protocol", "coroutine floor uvloop"],
            ["netkit.aio uvloop", "uvloop streams", "uvloop Protocol", "coroutine floor uvloop"],
        )
    )


if __name__ == "__main__":
    main()
