"""Benchmark: netkit's TcpServer against its peers, side by side in one run.

    .venv/bin/python bench/bench_tcp.py            # full run, a few minutes
    .venv/bin/python bench/bench_tcp.py --quick    # about a minute
    .venv/bin/python bench/bench_tcp.py --only churn --only netkit --only socketserver

Every server runs the same echo in a subprocess pinned to one core; the C load
generator (bench/loadgen.c) runs pinned to another. Results go to stdout as a markdown
table (ratios of netkit against socketserver, asyncio streams and C) and to
bench/results/tcp.json. ``--serve NAME --port N`` runs one server (used by the harness).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import socketserver
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h
import _tcp_experiments

HOST = h.HOST
CHUNK = 65536


# --------------------------------------------------------------------------- servers


def serve_netkit(port: int) -> None:
    from netkit import TcpConnection, TcpServer

    def echo(conn: TcpConnection) -> None:
        while data := conn.recv(CHUNK):
            conn.sendall(data)

    TcpServer(echo, HOST, port, backlog=1024).serve_forever()


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        # every server in this bench answers with TCP_NODELAY on, as asyncio and netkit do
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):
            while data := sock.recv(CHUNK):
                sock.sendall(data)


def serve_socketserver(port: int) -> None:
    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 1024

    Server((HOST, port), _EchoHandler).serve_forever()


def _thread_per_connection(port: int, wrap: bool) -> None:
    """A hand-written server: one new thread per connection, raw or TcpConnection."""
    from netkit import TcpConnection

    def raw(sock: socket.socket) -> None:
        with sock, contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := sock.recv(CHUNK):
                sock.sendall(data)

    def wrapped(sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with TcpConnection(sock) as conn, contextlib.suppress(OSError):
            while data := conn.recv(CHUNK):
                conn.sendall(data)

    target = wrapped if wrap else raw
    listener = socket.create_server((HOST, port), backlog=1024, reuse_port=False)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=target, args=(sock,), daemon=True).start()


def serve_threads_raw(port: int) -> None:
    _thread_per_connection(port, wrap=False)


def serve_threads_conn(port: int) -> None:
    _thread_per_connection(port, wrap=True)


def serve_asyncio_streams(port: int) -> None:
    asyncio.run(h.asyncio_streams_echo(port))


def serve_asyncio_protocol(port: int) -> None:
    asyncio.run(h.asyncio_protocol_echo(port))


SERVERS = {
    "netkit TcpServer": serve_netkit,
    "socketserver": serve_socketserver,
    "threads, raw socket": serve_threads_raw,
    "threads, TcpConnection": serve_threads_conn,
    "asyncio streams": serve_asyncio_streams,
    "asyncio Protocol": serve_asyncio_protocol,
}
EXPERIMENTAL = {
    name: (lambda port, f=f: f(HOST, port)) for name, f in _tcp_experiments.EXPERIMENTS.items()
}
SUBJECT = "netkit TcpServer"
REFERENCES = ["socketserver", "asyncio streams", "C epoll"]


def server_specs(experiments: bool = False) -> list[h.ServerSpec]:
    specs = [h.python_server(name, __file__) for name in SERVERS]
    if experiments:
        specs += [h.python_server(name, __file__) for name in EXPERIMENTAL]
    return [*specs, h.c_echo_server()]


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_arguments(parser)
    parser.add_argument(
        "--experiments", action="store_true", help="add the engine experiments as servers"
    )
    parser.add_argument(
        "--serve", choices=sorted({*SERVERS, *EXPERIMENTAL}), help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=h.RESULTS_DIR / "tcp.json")
    args = parser.parse_args()
    if args.serve:
        try:
            {**SERVERS, **EXPERIMENTAL}[args.serve](args.port)
        except KeyboardInterrupt:
            pass
        return

    seconds, warmup, repeats = h.settings_from(args)
    load_before = h.machine_info()["loadavg"]
    servers = h.select(server_specs(args.experiments), args.only)
    scenarios = h.select(h.STANDARD_SCENARIOS, args.only)
    results = h.run_suite(servers, scenarios, seconds=seconds, warmup=warmup, repeats=repeats)
    meta = h.machine_info()
    meta["loadavg_before"] = load_before
    meta["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    meta["seconds"], meta["warmup"], meta["repeats"] = seconds, warmup, repeats
    h.write_json(args.json, results, meta)
    print(f"\n{meta}\n")
    print(h.markdown_table(results, SUBJECT, REFERENCES))
    print("\nwrapper cost (TcpConnection vs raw socket, thread per connection):")
    pair = ["threads, raw socket", "threads, TcpConnection"]
    if all(name in results[next(iter(results))] for name in pair):
        print(h.markdown_table(results, pair[1], pair[:1], servers=pair))


if __name__ == "__main__":
    main()
