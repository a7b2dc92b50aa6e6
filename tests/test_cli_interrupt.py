"""Ctrl-C stops every long-running command quickly, without a traceback: status 130 for
an interrupted operation (as a shell reports a program killed by SIGINT), 0 for the
servers' normal way of stopping (serve, udp listen, listen -k).

Each command is started as a subprocess and sent SIGINT once its own output says it is
where the test wants it (listening, measuring, resolving); the time from the signal to
its exit is measured.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from _cli_util import WAIT, close_stdin, start, stop, wait_for_line

#: The commands stop within about 0.5 s of SIGINT (Python's own exit included). The
#: bound leaves a wide margin for a loaded 2-core machine, and still catches what it
#: guards against: `bench` took 5 s, a name lookup could hold Ctrl-C for 30 s.
BOUND = 3.0

_needs_a_certificate_maker = pytest.mark.skipif(
    shutil.which("openssl") is None and importlib.util.find_spec("cryptography") is None,
    reason="neither the openssl command nor the cryptography package",
)


def _interrupt(proc: subprocess.Popen[bytes]) -> tuple[float, bytes]:
    """Send SIGINT; return how long the process took to exit, and its remaining stderr."""
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {WAIT} s after SIGINT")
    elapsed = time.monotonic() - started
    _, err = proc.communicate(timeout=WAIT)
    return elapsed, err


def _check(proc: subprocess.Popen[bytes], status: int) -> None:
    """Interrupt *proc*; it must exit with *status* in time, saying so in one line."""
    elapsed, err = _interrupt(proc)
    text = err.decode()
    assert "Traceback" not in text
    assert proc.returncode == status, text
    # A server may still log the connections it closes after "stopping".
    assert ("interrupted" if status == 130 else "stopping") in text.splitlines(), text
    assert elapsed < BOUND, f"{elapsed:.2f} s from SIGINT to exit"


@pytest.mark.parametrize(
    ("args", "stream", "ready", "status"),
    [
        (["serve"], "stdout", "listening on ", 0),
        (["udp", "listen"], "stdout", "listening on ", 0),
        (["listen", "0"], "stderr", "listening on ", 130),
        (["listen", "-k", "0"], "stderr", "listening on ", 0),
        (["listen", "-u", "0"], "stderr", "listening on ", 130),
        (["listen", "-u", "-k", "0"], "stderr", "listening on ", 0),
        pytest.param(
            ["listen", "--tls", "0"],
            "stderr",
            "listening on ",
            130,
            marks=_needs_a_certificate_maker,
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_ctrl_c_while_waiting(args: list[str], stream: str, ready: str, status: int) -> None:
    proc = start(args)
    try:
        wait_for_line(getattr(proc, stream), ready)
        _check(proc, status)
    finally:
        stop(proc)


def _wait_for_a_client_of(pid: int) -> None:
    """Return once a TCP connection to a port that process *pid* listens on is
    established (Linux: its sockets in /proc/PID/fd, their states in /proc/net/tcp*)."""
    deadline = time.monotonic() + WAIT
    for _ in range(100_000):
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):  # closed since the listing
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        sockets = []  # (state, local port) of this process's TCP sockets
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table) as lines:
                for line in list(lines)[1:]:
                    fields = line.split()
                    if fields[9] in inodes:
                        sockets.append((fields[3], int(fields[1].rpartition(":")[2], 16)))
        listening = {port for state, port in sockets if state == "0A"}
        if any(state == "01" and port in listening for state, port in sockets):
            return
        assert time.monotonic() < deadline, "no client connected in time"
        time.sleep(0.01)  # polling the kernel's tables: no event to wait on
    raise AssertionError("no client connected")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("server", ["sync", "aio"])
def test_ctrl_c_during_a_benchmark(server: str) -> None:
    # The load generator (a child process) is hammering the server: it must be killed,
    # not waited for (it would go on for the 30 s asked).
    proc = start(["bench", "--only", server, "--seconds", "30"])
    try:
        wait_for_line(proc.stderr, f"measuring {server} TcpServer")
        _wait_for_a_client_of(proc.pid)
        _check(proc, 130)
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("args", "status"),
    [(["listen", "0"], 130), (["listen", "-k", "0"], 0), (["serve", "--port", "0"], 0)],
    ids=["listen", "listen-k", "serve"],
)
def test_ctrl_c_with_a_client_connected(args: list[str], status: int) -> None:
    proc = start(args)
    try:
        if args[0] == "serve":
            line, _ = wait_for_line(proc.stdout, "listening on ")
        else:
            line, _ = wait_for_line(proc.stderr, "listening on ")
        port = int(line.rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT):
            wait_for_line(proc.stderr, "+ 127.0.0.1:")  # the session has begun
            _check(proc, status)
    finally:
        stop(proc)


def test_ctrl_c_in_a_connect_session() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(WAIT)
        proc = start(["connect", "127.0.0.1", str(listener.getsockname()[1])])
        try:
            peer, _ = listener.accept()  # connected: the session is starting
            with peer:
                _check(proc, 130)
        finally:
            stop(proc)


def test_ctrl_c_while_waiting_for_a_udp_reply() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        proc = start(["udp", "send", "127.0.0.1", str(port), "hi", "--reply", "--timeout", "60"])
        try:
            close_stdin(proc)
            wait_for_line(proc.stderr, "sent 2 bytes")
            _check(proc, 130)
        finally:
            stop(proc)


# --- while the system resolver is busy ------------------------------------------------------

#: Runs netkit with the resolver functions replaced by one that blocks like a resolver
#: stuck in C: SIGINT is blocked in the calling thread, so no Python signal handler can
#: run there (glibc's getaddrinfo retries its system calls and never returns to Python
#: while it waits for a DNS server). Only a thread that is not stuck can notice Ctrl-C.
_SLOW_RESOLVER = """
import signal, socket, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as NETKIT_INTERRUPTIBLE does

def stuck(*args, **kwargs):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    print("resolving", file=sys.stderr, flush=True)
    time.sleep(60)
    raise OSError("the resolver gave up")

socket.getaddrinfo = socket.gethostbyname = socket.gethostbyaddr = stuck
from netkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["connect", "slow.example", "80"],
        ["connect", "--udp", "slow.example", "9"],
        ["listen", "slow.example", "0"],
        ["listen", "-u", "slow.example", "0"],
        ["serve", "--host", "slow.example"],
        ["udp", "send", "slow.example", "9", "hi"],
        ["udp", "listen", "--host", "slow.example"],
        ["lookup", "resolve", "slow.example"],
        ["lookup", "address", "slow.example"],
        ["lookup", "reverse", "192.0.2.1"],
    ],
    ids=" ".join,
)
def test_ctrl_c_while_a_name_is_being_resolved(args: list[str]) -> None:
    proc = start(args, argv=[sys.executable, "-c", _SLOW_RESOLVER])
    try:
        wait_for_line(proc.stderr, "resolving")
        _check(proc, 130)
    finally:
        stop(proc)
