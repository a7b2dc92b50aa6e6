"""UDP echo benchmark: netkit's UdpEndpoint against a plain socket loop and asyncio.

    python bench/bench_udp.py            # 3 runs x 2 s per measurement
    python bench/bench_udp.py --quick    # 1 run x 0.5 s, a smoke test

Each echo server runs in its own process pinned to core 0 and echoes 64-byte datagrams
on 127.0.0.1. The load generator is the same for every server: ``udp_loadgen.c``
(built with ``cc -O2`` into bench/build/), pinned to core 1, keeping one datagram in
flight per client socket, 1 or 16 clients. Being C, it costs a fraction of any Python
server per datagram; its CPU use and the server's are reported, so one can check the
server was the bottleneck (server CPU near 100% with 16 clients).

Servers: ``plain`` (blocking ``socket`` recvfrom/sendto loop), ``netkit``
(``UdpEndpoint.recvfrom`` / ``sendto``), ``netkit-batch`` (``send_many(recv_many(64))``),
``asyncio`` (a ``DatagramProtocol`` echo) and ``uvloop`` (the same on uvloop, if
installed). The in-process cost table adds ``floor``: the least any API that returns a
``Datagram`` with an ``Endpoint`` sender can cost (see ``_FloorEndpoint``). Every measurement is bounded in time; servers also kill themselves with
``signal.alarm`` should this script die.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import _harness as h  # noqa: E402 - found through the path set just above

BUILD_DIR = BENCH_DIR / "build"
LOADGEN_SRC = BENCH_DIR / "udp_loadgen.c"
LOADGEN = BUILD_DIR / "udp_loadgen"
HOST = "127.0.0.1"
SIZE = 64
SERVER_CPU = 0
CLIENT_CPU = 1
SERVER_LIFETIME = 120  # seconds: a server outliving this is killed by its own alarm


# ---------------------------------------------------------------------------------------
# Servers (run as `bench_udp.py --serve NAME`); each prints its port, then echoes.


def serve_plain(sock: socket.socket) -> None:
    recvfrom = sock.recvfrom
    sendto = sock.sendto
    while True:
        data, addr = recvfrom(65535)
        sendto(data, addr)


def serve_netkit(sock: socket.socket) -> None:
    from netkit.udp import UdpEndpoint

    ep = UdpEndpoint(sock)
    recvfrom = ep.recvfrom
    sendto = ep.sendto
    while True:
        data, sender = recvfrom()
        sendto(data, sender)


def serve_netkit_batch(sock: socket.socket) -> None:
    from netkit.udp import UdpEndpoint

    ep = UdpEndpoint(sock)
    while True:
        ep.send_many(ep.recv_many(64))


def serve_asyncio(sock: socket.socket, *, use_uvloop: bool = False) -> None:
    import asyncio

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
            self.transport.sendto(data, addr)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(Echo, sock=sock)
        await asyncio.Event().wait()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


SERVERS = {
    "plain": serve_plain,
    "netkit": serve_netkit,
    "netkit-batch": serve_netkit_batch,
    "asyncio": serve_asyncio,
    "uvloop": lambda sock: serve_asyncio(sock, use_uvloop=True),
}


def run_server(name: str) -> None:
    signal.alarm(SERVER_LIFETIME)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {SERVER_CPU})
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    print(sock.getsockname()[1], flush=True)
    SERVERS[name](sock)


# ---------------------------------------------------------------------------------------
# Driver


def build_loadgen() -> None:
    BUILD_DIR.mkdir(exist_ok=True)
    if LOADGEN.exists() and LOADGEN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return
    subprocess.run(["cc", "-O2", "-o", str(LOADGEN), str(LOADGEN_SRC)], check=True)


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: str, clients: int, seconds: float, warmup: float) -> dict[str, float]:
    """Start *server*, drive it with the load generator, stop it; return the numbers."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", server],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        pin = (
            (lambda: os.sched_setaffinity(0, {CLIENT_CPU})) if (os.cpu_count() or 1) >= 2 else None
        )
        cpu0, t0 = proc_cpu_seconds(proc.pid), time.monotonic()
        done = subprocess.run(
            [
                str(LOADGEN),
                HOST,
                str(port),
                str(clients),
                str(SIZE),
                "1",
                str(seconds),
                str(warmup),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + warmup + 30,
            preexec_fn=pin,
            check=True,
        )
        server_cpu = (proc_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        result: dict[str, float] = json.loads(done.stdout)
        result["server_cpu"] = server_cpu
        result["per_cpu"] = result["rate"] / server_cpu if server_cpu > 0 else 0.0
        return result
    finally:
        proc.terminate()  # our own child, by its pid
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def print_table(
    results: dict[tuple[int, str], list[dict[str, float]]],
    servers: list[str],
    client_counts: list[int],
    key: str,
) -> None:
    header = "| clients | " + " | ".join(servers)
    header += " | netkit / plain | netkit / asyncio | netkit-batch / plain |"
    print(header)
    print("|" + "---|" * (len(servers) + 4))
    for clients in client_counts:
        medians = {s: statistics.median(r[key] for r in results[(clients, s)]) for s in servers}
        cells = []
        for s in servers:
            values = [r[key] for r in results[(clients, s)]]
            spread = (max(values) - min(values)) / medians[s] if medians[s] else 0.0
            cells.append(f"{medians[s]:,.0f} ±{spread / 2:.0%}")
        print(
            f"| {clients} | "
            + " | ".join(cells)
            + f" | {ratio(medians, 'netkit', 'plain')} | {ratio(medians, 'netkit', 'asyncio')}"
            + f" | {ratio(medians, 'netkit-batch', 'plain')} |"
        )


class _FloorEndpoint:
    """The least an API returning ``Datagram(data, sender: Endpoint)`` can cost.

    A reference, not a product: no size limits, truncation check, deadlines, address
    validation or error translation; the sender Endpoint comes from a cache, as in
    netkit. It shows how much of netkit's cost over the plain loop is the API's
    objects (method calls, the Datagram, the Endpoint lookup) rather than its checks.
    """

    __slots__ = ("_datagram", "_endpoint", "_senders", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        from netkit.addr import Endpoint
        from netkit.udp import Datagram

        self._sock = sock
        self._senders: dict[object, object] = {}
        self._datagram = Datagram
        self._endpoint = Endpoint

    def recvfrom(self) -> tuple[bytes, object]:
        data, addr = self._sock.recvfrom(65535)
        try:
            sender = self._senders[addr]
        except KeyError:
            sender = self._senders[addr] = self._endpoint(addr[0], addr[1])
        return tuple.__new__(self._datagram, (data, sender))

    def sendto(self, data: bytes, endpoint: object) -> None:
        self._sock.sendto(data, (endpoint.host, endpoint.port))  # type: ignore[attr-defined]


def overhead_once(kind: str, count: int = 2000) -> float:
    """CPU microseconds per datagram to echo *count* already-queued datagrams in-process.

    CPU time (not wall time) of one process, so it measures the cost per datagram even
    on a machine shared with other work; 16 sender sockets, 64-byte payloads.
    """
    from netkit.udp import UdpEndpoint

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((HOST, 0))
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    clients = []
    for _ in range(16):
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind((HOST, 0))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        clients.append(client)
    target = server.getsockname()
    payload = b"x" * SIZE
    for i in range(count):
        clients[i % 16].sendto(payload, target)
    ep = UdpEndpoint(server)
    start = time.process_time()
    if kind == "plain":
        recvfrom, sendto = server.recvfrom, server.sendto
        for _ in range(count):
            data, addr = recvfrom(65535)
            sendto(data, addr)
    elif kind == "netkit":
        ep_recvfrom, ep_sendto = ep.recvfrom, ep.sendto
        for _ in range(count):
            data, sender = ep_recvfrom()
            ep_sendto(data, sender)
    elif kind == "floor":
        floor = _FloorEndpoint(server)
        fl_recvfrom, fl_sendto = floor.recvfrom, floor.sendto
        for _ in range(count):
            data, sender = fl_recvfrom()
            fl_sendto(data, sender)
    else:
        done = 0
        while done < count:
            batch = ep.recv_many(64, timeout=5)
            ep.send_many(batch)
            done += len(batch)
    elapsed = time.process_time() - start
    ep.close()
    for client in clients:
        client.close()
    return elapsed / count * 1e6


def overhead_table(repeats: int) -> None:
    kinds = ["plain", "floor", "netkit", "netkit-batch"]
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(repeats):
        for kind in kinds:
            samples[kind].append(overhead_once(kind))
    best = {k: min(v) for k, v in samples.items()}
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"In-process echo of 2000 queued datagrams, CPU us per datagram ({repeats} repeats):")
    print()
    print(
        "| | plain | floor | netkit | netkit-batch | floor / plain | netkit / plain"
        " | batch / plain | netkit / floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, values in (("min", best), ("median", med)):
        plain, floor = values["plain"], values["floor"]
        netkit, batch = values["netkit"], values["netkit-batch"]
        print(
            f"| {label} | {plain:.2f} | {floor:.2f} | {netkit:.2f} | {batch:.2f} "
            f"| {floor / plain:.2f} | {netkit / plain:.2f} | {batch / plain:.2f} "
            f"| {netkit / floor:.2f} |"
        )


def ratio(medians: dict[str, float], a: str, b: str) -> str:
    return f"{medians[a] / medians[b]:.2f}" if medians.get(a) and medians.get(b) else "-"


def machine() -> str:
    info = h.machine_info()
    return f"{info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}, Python {info['python']}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run of 0.5 s each")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--clients", default="1,16", help="comma-separated client counts")
    parser.add_argument("--only", default="", help="comma-separated server names")
    parser.add_argument(
        "--overhead-only", action="store_true", help="only the in-process CPU-cost table"
    )
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve)
        return 0
    if args.quick:
        args.runs, args.seconds, args.warmup = 1, 0.5, 0.2
    if not 1 <= args.runs <= 10 or not 0 < args.seconds <= 30:
        parser.error("--runs must be 1..10 and --seconds 0..30")
    if args.overhead_only:
        print(f"# {machine()}; load avg {os.getloadavg()[0]:.2f} at start")
        overhead_table(3 if args.quick else 15)
        return 0
    servers = [s for s in SERVERS if not args.only or s in args.only.split(",")]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        servers = [s for s in servers if s != "uvloop"]
    client_counts = [int(c) for c in args.clients.split(",")]
    build_loadgen()
    print(f"# {machine()}; load avg {os.getloadavg()[0]:.2f} at start", flush=True)
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    for run in range(args.runs):
        for clients in client_counts:
            # Rotate the order per run so drift in machine load hits every server alike.
            order = servers[run % len(servers) :] + servers[: run % len(servers)]
            for server in order:
                r = measure(server, clients, args.seconds, args.warmup)
                results.setdefault((clients, server), []).append(r)
                print(
                    f"run {run + 1} clients {clients:2d} {server:13s} {r['rate']:10.0f}/s "
                    f"{r['per_cpu']:10.0f}/cpu-s "
                    f"server cpu {r['server_cpu']:.2f} loadgen cpu {r['cpu']:.2f} "
                    f"stalls {r['stalls']:.0f}",
                    flush=True,
                )
    print()
    print(f"# load avg {os.getloadavg()[0]:.2f} at end")
    print()
    print("Datagrams echoed per second, median of runs (± half the max-min spread):")
    print()
    print_table(results, servers, client_counts, "rate")
    print()
    print("Datagrams per CPU-second of the server process (rate / server CPU), median:")
    print("(robust on a busy machine: it measures the cost per datagram, not the share")
    print("of the CPU the scheduler happened to give the server)")
    print()
    print_table(results, servers, client_counts, "per_cpu")
    print()
    overhead_table(3 if args.quick else 15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
