"""What TcpConnection costs over raw socket calls: ping-pong and bulk, side by side.

Each case runs the same loop twice, once on a raw socket and once through
TcpConnection, over a loopback TCP connection (or UnixConnection over a Unix
socketpair with ``--transport unix``). The peer is a raw-socket thread in both runs. Runs alternate
raw/netkit and the best of ``--repeat`` is kept, so a noisy neighbour hurts both sides.

    .venv/bin/python bench/bench_connection.py            # full run (~30 s)
    .venv/bin/python bench/bench_connection.py --quick    # a few seconds

Prints one line per case: rate for raw, rate for netkit, and netkit/raw (1.00 = same
speed; above 0.90 is "within 10%").
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable

from netkit import TcpConnection
from netkit.tcp.connection import StreamConnection
from netkit.unix import UnixConnection

MSG = 64
CHUNK = 65536


def make_pair(transport: str) -> tuple[socket.socket, socket.socket]:
    if transport == "unix":
        return socket.socketpair()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, server


def wrap_socket(transport: str, sock: socket.socket) -> StreamConnection:
    """The netkit connection for *transport* (both share every stream method)."""
    return UnixConnection(sock) if transport == "unix" else TcpConnection(sock)


def echo_peer(sock: socket.socket, size: int) -> None:
    """Answer every *size*-byte message with the same bytes until EOF."""
    buf = bytearray(size)
    view = memoryview(buf)
    while True:
        got = 0
        while got < size:
            n = sock.recv_into(view[got:])
            if not n:
                return
            got += n
        sock.sendall(buf)


def line_peer(sock: socket.socket) -> None:
    """Answer every line with the same line until EOF (lines are MSG bytes)."""
    pending = b""
    while True:
        data = sock.recv(CHUNK)
        if not data:
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        if lines:
            sock.sendall(b"".join(line + b"\n" for line in lines))


def bulk_peer(sock: socket.socket, total: int) -> None:
    block = b"b" * CHUNK
    sent = 0
    while sent < total:
        sock.sendall(block)
        sent += CHUNK
    sock.shutdown(socket.SHUT_WR)
    sock.recv(1)  # wait for the reader to finish before closing


# -- the loops: (raw, netkit) for each case ---------------------------------------------


def pingpong_raw(sock: socket.socket, rounds: int) -> None:
    msg = b"p" * MSG
    for _ in range(rounds):
        sock.sendall(msg)
        got = sock.recv(MSG)
        while len(got) < MSG:  # loopback delivers 64 bytes at once; kept for honesty
            got += sock.recv(MSG - len(got))


def pingpong_raw_timeout(sock: socket.socket, rounds: int) -> None:
    # What raw code does for a timeout: a per-call socket timeout (weaker than a deadline).
    sock.settimeout(10)
    pingpong_raw(sock, rounds)


def pingpong_recv_exactly(conn: StreamConnection, rounds: int) -> None:
    msg = b"p" * MSG
    for _ in range(rounds):
        conn.sendall(msg)
        conn.recv_exactly(MSG)


def pingpong_recv(conn: StreamConnection, rounds: int) -> None:
    msg = b"p" * MSG
    for _ in range(rounds):
        conn.sendall(msg)
        got = conn.recv(MSG)
        while len(got) < MSG:
            got += conn.recv(MSG - len(got))


def pingpong_timeout(conn: StreamConnection, rounds: int) -> None:
    msg = b"p" * MSG
    for _ in range(rounds):
        conn.sendall(msg, timeout=10)
        conn.recv_exactly(MSG, timeout=10)


def lines_raw(sock: socket.socket, rounds: int) -> None:
    line = b"l" * (MSG - 1) + b"\n"
    pending = b""
    for _ in range(rounds):
        sock.sendall(line)
        while b"\n" not in pending:
            pending += sock.recv(CHUNK)
        _, pending = pending.split(b"\n", 1)


def lines_netkit(conn: StreamConnection, rounds: int) -> None:
    line = b"l" * (MSG - 1) + b"\n"
    for _ in range(rounds):
        conn.sendall(line)
        conn.readline()


def bulk_raw(sock: socket.socket, total: int) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    got = 0
    while n := sock.recv_into(view):
        got += n
    assert got == total


def bulk_raw_recv(sock: socket.socket, total: int) -> None:
    got = 0
    while data := sock.recv(CHUNK):
        got += len(data)
    assert got == total


def bulk_netkit_recv(conn: StreamConnection, total: int) -> None:
    got = 0
    while data := conn.recv(CHUNK):
        got += len(data)
    assert got == total


def bulk_netkit_recv_into(conn: StreamConnection, total: int) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    got = 0
    while n := conn.recv_into(view):
        got += n
    assert got == total


def bulk_netkit_exactly(conn: StreamConnection, total: int) -> None:
    block = 1 << 20
    for _ in range(total // block):
        conn.recv_exactly(block)


def bulk_raw_exactly(sock: socket.socket, total: int) -> None:
    # The usual raw idiom: receive what is missing, join the pieces.
    block = 1 << 20
    for _ in range(total // block):
        parts = []
        got = 0
        while got < block:
            data = sock.recv(block - got)
            parts.append(data)
            got += len(data)
        b"".join(parts)


# -- the wrapper alone: a stub socket whose calls return at once ------------------------


class StubSocket(socket.socket):
    """A real socket object whose recv/sendall do no system call, so the time measured
    is the Python around them; the same stub serves the raw and the netkit loop."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return b"x"

    def sendall(self, data: object, flags: int = 0) -> None:
        return None


def overhead_ns(calls: int, repeat: int) -> list[tuple[str, float, float]]:
    stub = StubSocket(socket.AF_INET, socket.SOCK_STREAM)  # never connected: recv is stubbed
    conn = TcpConnection(stub)
    msg = b"p" * MSG

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times.append(time.perf_counter() - start)
        return min(times) / calls * 1e9

    rows = [
        ("recv()", best(lambda: stub.recv(65536)), best(lambda: conn.recv(65536))),
        ("sendall()", best(lambda: stub.sendall(msg)), best(lambda: conn.sendall(msg))),
    ]
    conn.close()
    return rows


# -- running ----------------------------------------------------------------------------


def run_pingpong(
    transport: str, loop: Callable[..., None], rounds: int, wrap: bool, peer: str
) -> float:
    a, b = make_pair(transport)
    target = (lambda: echo_peer(b, MSG)) if peer == "echo" else (lambda: line_peer(b))
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    side = wrap_socket(transport, a) if wrap else a
    start = time.perf_counter()
    loop(side, rounds)
    elapsed = time.perf_counter() - start
    side.close()
    thread.join(10)
    b.close()
    return rounds / elapsed


def run_bulk(transport: str, loop: Callable[..., None], total: int, wrap: bool) -> float:
    a, b = make_pair(transport)
    thread = threading.Thread(target=bulk_peer, args=(b, total), daemon=True)
    thread.start()
    side = wrap_socket(transport, a) if wrap else a
    start = time.perf_counter()
    loop(side, total)
    elapsed = time.perf_counter() - start
    a.sendall(b"x")
    thread.join(10)
    side.close()
    b.close()
    return total / elapsed / 1e6


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (a few seconds)")
    parser.add_argument("--transport", choices=["tcp", "unix"], default="tcp")
    parser.add_argument("--repeat", type=int, default=None, help="runs per side (best kept)")
    args = parser.parse_args()
    rounds = 5_000 if args.quick else 30_000
    total = (64 if args.quick else 512) << 20
    repeat = args.repeat or (3 if args.quick else 5)

    pp_cases = [
        ("ping-pong 64 B: recv_exactly", pingpong_raw, pingpong_recv_exactly, "echo"),
        ("ping-pong 64 B: recv", pingpong_raw, pingpong_recv, "echo"),
        ("ping-pong 64 B: timeout=10", pingpong_raw_timeout, pingpong_timeout, "echo"),
        ("ping-pong 64 B: readline", lines_raw, lines_netkit, "line"),
    ]
    bulk_cases = [
        ("bulk: recv(64 KiB) loop", bulk_raw_recv, bulk_netkit_recv),
        ("bulk: recv_into(64 KiB) loop", bulk_raw, bulk_netkit_recv_into),
        ("bulk: recv_exactly(1 MiB)", bulk_raw_exactly, bulk_netkit_exactly),
    ]
    print(f"# {' '.join([os.path.basename(sys.argv[0]), *sys.argv[1:]])}")
    print(f"# {machine()}, transport {args.transport}, best of {repeat}")
    print(f"{'case':36} {'raw':>12} {'netkit':>12} {'ratio':>6}")
    for name, raw_ns, nk_ns in overhead_ns(50_000 if args.quick else 300_000, repeat):
        label = f"per call, no syscall: {name}"
        print(f"{label:36} {raw_ns:9.0f}ns {nk_ns:9.0f}ns  +{nk_ns - raw_ns:.0f} ns")
    for name, raw, nk, peer in pp_cases:
        raw_best = nk_best = 0.0
        for _ in range(repeat):
            raw_best = max(raw_best, run_pingpong(args.transport, raw, rounds, False, peer))
            nk_best = max(nk_best, run_pingpong(args.transport, nk, rounds, True, peer))
        print(f"{name:36} {raw_best:9.0f}/s {nk_best:9.0f}/s {nk_best / raw_best:6.2f}")
    for name, raw, nk in bulk_cases:
        raw_best = nk_best = 0.0
        for _ in range(repeat):
            raw_best = max(raw_best, run_bulk(args.transport, raw, total, False))
            nk_best = max(nk_best, run_bulk(args.transport, nk, total, True))
        print(f"{name:36} {raw_best:7.0f} MB/s {nk_best:7.0f} MB/s {nk_best / raw_best:6.2f}")


if __name__ == "__main__":
    main()
