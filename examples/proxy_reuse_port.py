"""Two netkit server processes on one port, behind HAProxy: the way past one process.

A Python server is bound by one process (one GIL). To use more cores, run several
processes on the *same* port with ``SO_REUSEPORT``: the kernel spreads new connections
among them. Put a load balancer in front (here HAProxy, sending the PROXY protocol v2)
and every process still sees each client's real address, because its server trusts the
balancer's address (``proxy_protocol=["127.0.0.1/32"]``) and reads the header it sends.

Run with no arguments, it starts two worker processes and HAProxy on free loopback ports,
opens client connections through HAProxy until both workers have answered, checks that
each worker saw the client's own address, and stops everything. It needs the ``haproxy``
program (``apt-get install haproxy``).

    python examples/proxy_reuse_port.py                  # the whole demo, then exits
    python examples/proxy_reuse_port.py worker 7000 a    # one worker, until Ctrl-C
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netkit import SocketOptions, TcpClient, TcpConnection, TcpServer, parse_endpoint

TIMEOUT = 10.0  # seconds; every wait below is bounded by it
HOST = "127.0.0.1"


# -------------------------------------------------------------------------- a worker


def worker(port: int, name: str) -> int:
    """Serve on *port* next to the other workers until SIGTERM or Ctrl-C."""

    def handle(conn: TcpConnection) -> None:
        # remote_address is the client HAProxy accepted, from the PROXY header.
        conn.readline(max_bytes=100, timeout=TIMEOUT)
        conn.sendall(f"{name} {os.getpid()} {conn.remote_address}\n".encode())

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # serve_forever() then stops gracefully

    signal.signal(signal.SIGTERM, on_term)
    server = TcpServer(
        handle,
        HOST,
        port,
        options=SocketOptions(reuse_port=True),  # share the port with the other workers
        proxy_protocol=["127.0.0.1/32"],  # only HAProxy's connections carry a header
    )
    server.start()
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


# -------------------------------------------------------------------------- the demo


def find_haproxy() -> str | None:
    found = shutil.which("haproxy")
    if found is None and Path("/usr/sbin/haproxy").exists():
        found = "/usr/sbin/haproxy"
    return found


def haproxy_config(front: int, back: int) -> str:
    return f"""\
global
    maxconn 256

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend clients
    bind {HOST}:{front}

    default_backend netkit

backend netkit
    # One address, served by every worker process that shares the port.
    server workers {HOST}:{back} send-proxy-v2
"""


def reserve_port() -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket: holds a free port for the workers
    (they can bind it too) without ever receiving a connection."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, 0))
    return sock


def wait_line(process: subprocess.Popen[str], expected: str) -> None:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)
    line = process.stdout.readline().strip() if ready else "(nothing)"
    if line != expected:
        raise RuntimeError(f"worker said {line!r}, expected {expected!r}")


def wait_listening(process: subprocess.Popen[str], port: int) -> None:
    """Until something listens on *port* (probed by binding: no connection is made)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("haproxy exited")
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                return
        try:
            process.wait(0.05)  # a bounded wait on the child, not a sleep
        except subprocess.TimeoutExpired:
            pass
    raise RuntimeError("haproxy did not start listening")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()  # by its pid: only the processes this demo started
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def demo() -> int:
    binary = find_haproxy()
    if binary is None:
        print("this example needs haproxy (apt-get install haproxy)", file=sys.stderr)
        return 1
    processes: list[subprocess.Popen[str]] = []
    with reserve_port() as holder, tempfile.TemporaryDirectory(prefix="netkit-") as folder:
        back = holder.getsockname()[1]
        try:
            for name in ("a", "b"):
                process = subprocess.Popen(
                    [sys.executable, __file__, "worker", str(back), name],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                processes.append(process)
                wait_line(process, "ready")
            holder.close()  # the workers hold the port now
            front = free_port()
            config = Path(folder, "haproxy.cfg")
            config.write_text(haproxy_config(front, back))
            proxy = subprocess.Popen([binary, "-db", "-f", str(config)], text=True)
            processes.append(proxy)
            wait_listening(proxy, front)
            print(f"workers a and b share {HOST}:{back}; haproxy listens on {HOST}:{front}")

            served: dict[str, int] = {}
            for _ in range(200):  # until both have answered (the kernel spreads by hash)
                with TcpClient.connect(HOST, front, timeout=TIMEOUT) as conn:
                    me = conn.local_address
                    conn.sendall(b"who am I?\n")
                    name, pid, seen = conn.readline(timeout=TIMEOUT).decode().split()
                if parse_endpoint(seen) != me:
                    raise RuntimeError(f"worker {name} saw {seen}, the client was {me}")
                served[f"{name} (pid {pid})"] = served.get(f"{name} (pid {pid})", 0) + 1
                if len(served) == 2 and sum(served.values()) >= 10:
                    break
            for worker_name, count in sorted(served.items()):
                print(f"worker {worker_name} served {count} clients")
            if len(served) != 2:
                raise RuntimeError("one worker served every client")
            print("every worker saw each client's own address, not haproxy's")
        finally:
            for process in reversed(processes):
                stop(process)
    print("ok")
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        return demo()
    if len(argv) == 3 and argv[0] == "worker" and argv[1].isdigit():
        return worker(int(argv[1]), argv[2])
    print("usage: python examples/proxy_reuse_port.py [worker PORT NAME]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
