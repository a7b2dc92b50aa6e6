"""Socket activation (inherited_listeners) in a child process, as a supervisor starts it.

A launcher plays systemd: it moves the listening sockets this test made to
descriptors 3, 4, ..., sets LISTEN_PID to its own pid, LISTEN_FDS and LISTEN_FDNAMES,
and execs the service (exec keeps the pid). The service reports what
``inherited_listeners()`` gave it as one JSON line, then serves each listener until
its stdin closes. This process's own descriptors 3+ are never touched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import netkit
import netkit.aio
from _unixstream_util import listening

pytestmark = pytest.mark.timeout(60)
WAIT = 20.0

LAUNCHER = r"""
import fcntl, os, sys
fds = [int(x) for x in sys.argv[1].split(",") if x]
pid, names, extra, service = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for fd in fds:
    os.close(fd)
for index, fd in enumerate(moved):
    os.dup2(fd, 3 + index)  # inheritable, as a supervisor leaves them
    os.close(fd)
env = dict(os.environ, LISTEN_PID=str(os.getpid()) if pid == "self" else pid)
env["LISTEN_FDS"] = extra or str(len(fds))
if names != "-":
    env["LISTEN_FDNAMES"] = names
os.execve(sys.executable, [sys.executable, "-c", *service], env)
"""

SERVICE = r"""
import asyncio, json, os, sys, threading
face = sys.argv[1]
import netkit, netkit.aio
VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")

def report(listeners, error=None):
    print(json.dumps({
        "error": error,
        "listeners": [
            {"kind": type(l).__name__, "name": l.name, "address": str(l.address),
             "fd": l.fileno(), "inheritable": os.get_inheritable(l.fileno())}
            for l in listeners
        ],
        "env": [v for v in VARS if v in os.environ],
        "open": [fd for fd in (3, 4, 5) if os.path.exists(f"/proc/self/fd/{fd}")],
    }), flush=True)

def echo(conn):
    while data := conn.recv(65536):
        conn.sendall(data)

async def aio_echo(conn):
    while data := await conn.recv(65536):
        await conn.sendall(data)

def seq_echo(conn):
    while message := conn.recv_message():
        conn.send_message(message)

async def aio_seq_echo(conn):
    while message := await conn.recv_message():
        await conn.send_message(message)

def server_for(space, listener):
    if isinstance(listener, space.SeqpacketListener):
        return space.SeqpacketServer(seq_echo if space is netkit else aio_seq_echo,
                                     listener=listener)
    if isinstance(listener, space.UnixListener):
        return space.UnixServer(echo if space is netkit else aio_echo, listener=listener)
    return space.TcpServer(echo if space is netkit else aio_echo, listener=listener)

module = netkit if face == "sync" else netkit.aio
try:
    found = module.inherited_listeners()
except Exception as exc:
    report([], f"{type(exc).__name__}: {exc}")
    sys.exit(0)
again = module.inherited_listeners()
assert again == [], again
report(found)
if face == "sync":
    servers = [server_for(netkit, l).start() for l in found]
    sys.stdin.read()
    for server in servers:
        server.stop()
else:
    async def main():
        servers = [await server_for(netkit.aio, l).start() for l in found]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for server in servers:
            await server.stop()
    asyncio.run(main())
print("stopped", flush=True)
"""


def _start(
    socks: list[Any], face: str, *, names: str = "-", pid: str = "self", count: str = ""
) -> subprocess.Popen[str]:
    fds = [s if isinstance(s, int) else s.fileno() for s in socks]
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, ",".join(map(str, fds)), pid, names, count,
         SERVICE, face],
        pass_fds=fds,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _report(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(WAIT)
        assert proc.stderr is not None
        raise AssertionError(f"the service said nothing: {proc.stderr.read()}")
    result: dict[str, Any] = json.loads(line)
    return result


def _finish(proc: subprocess.Popen[str]) -> str:
    """Close the service's stdin (it stops serving), wait for it; what it said after."""
    out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    return out


def _echo_tcp(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(b"ping")
        return sock.recv(4)


def _echo_unix(path: str) -> bytes:
    with netkit.UnixClient.connect(path, timeout=WAIT) as conn:
        conn.sendall(b"ping")
        return conn.recv_exactly(4, timeout=WAIT)


def _echo_seqpacket(path: str) -> list[bytes]:
    with netkit.SeqpacketClient.connect(path, timeout=WAIT) as conn:
        conn.send_message(b"ping")
        conn.send_message(b"pong")
        return [conn.recv_message(timeout=WAIT), conn.recv_message(timeout=WAIT)]


@pytest.mark.parametrize("face", ["sync", "aio"])
def test_a_seqpacket_listener_is_handed_out(tmp_path: Path, face: str) -> None:
    # A SEQPACKET socket a supervisor opened (ListenSequentialPacket=) is a
    # SeqpacketListener, served by a SeqpacketServer with its boundaries kept.
    path = str(tmp_path / "seq.sock")
    seq = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    seq.bind(path)
    seq.listen(8)
    unix = listening(str(tmp_path / "stream.sock"))
    proc = _start([seq, unix], face, names="control:admin")
    seq.close()
    unix.close()
    try:
        report = _report(proc)
        assert report["error"] is None
        assert report["listeners"] == [
            {"kind": "SeqpacketListener", "name": "control", "address": path, "fd": 3,
             "inheritable": False},
            {"kind": "UnixListener", "name": "admin", "address": str(tmp_path / "stream.sock"),
             "fd": 4, "inheritable": False},
        ]  # fmt: skip
        assert _echo_seqpacket(path) == [b"ping", b"pong"]
        assert _echo_unix(str(tmp_path / "stream.sock")) == b"ping"
    finally:
        out = _finish(proc)
    assert out.strip() == "stopped"
    assert os.path.exists(path)  # the supervisor's file: not the service's to remove


@pytest.mark.parametrize("face", ["sync", "aio"])
def test_a_service_gets_its_listeners_once(tmp_path: Path, face: str) -> None:
    path = str(tmp_path / "admin.sock")
    tcp = socket.create_server(("127.0.0.1", 0))
    port = tcp.getsockname()[1]
    unix = listening(path)
    proc = _start([tcp, unix], face, names="web:admin")
    tcp.close()  # the service owns them now
    unix.close()
    try:
        report = _report(proc)
        assert report["error"] is None
        assert report["listeners"] == [
            {"kind": "TcpListener", "name": "web", "address": f"127.0.0.1:{port}", "fd": 3,
             "inheritable": False},
            {"kind": "UnixListener", "name": "admin", "address": path, "fd": 4,
             "inheritable": False},
        ]  # fmt: skip
        assert report["env"] == []  # unset: a child of the service does not see them
        assert _echo_tcp(port) == b"ping"
        assert _echo_unix(path) == b"ping"
    finally:
        out = _finish(proc)
    assert out.strip() == "stopped"
    assert os.path.exists(path)  # the supervisor's file: not the service's to remove


def test_names_default_to_unknown(tmp_path: Path) -> None:
    tcp = socket.create_server(("127.0.0.1", 0))
    proc = _start([tcp], "sync")
    tcp.close()
    try:
        report = _report(proc)
        assert [(item["kind"], item["name"]) for item in report["listeners"]] == [
            ("TcpListener", "unknown")
        ]
    finally:
        _finish(proc)


def test_meant_for_another_process(tmp_path: Path) -> None:
    tcp = socket.create_server(("127.0.0.1", 0))
    proc = _start([tcp], "sync", pid="1")
    tcp.close()
    try:
        report = _report(proc)
        assert report["listeners"] == []
        assert report["env"] == []  # unset all the same, as sd_listen_fds(1) does
        assert report["open"] == [3]  # not ours: left alone
    finally:
        _finish(proc)


@pytest.mark.parametrize("face", ["sync", "aio"])
def test_a_descriptor_that_is_not_a_listener(tmp_path: Path, face: str) -> None:
    tcp = socket.create_server(("127.0.0.1", 0))
    dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected, peer = socket.socketpair()
    seq_connected, seq_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    read_end, write_end = os.pipe()
    cases = [
        ([tcp, connected], "ValueError: inherited fd 4 ('unknown') is not a listening TCP, Unix "
         "stream or Unix SEQPACKET socket: AF_UNIX, SOCK_STREAM, not listening"),
        ([tcp, dgram], "ValueError: inherited fd 4 ('unknown') is not a listening TCP, Unix "
         "stream or Unix SEQPACKET socket: AF_INET, SOCK_DGRAM, not listening"),
        ([tcp, seq_connected], "ValueError: inherited fd 4 ('unknown') is not a listening "
         "TCP, Unix stream or Unix SEQPACKET socket: AF_UNIX, SOCK_SEQPACKET, not listening"),
        ([tcp, read_end], "ValueError: inherited fd 4 ('unknown') is not a socket"),
    ]  # fmt: skip
    try:
        for socks, error in cases:
            proc = _start(socks, face)
            report = _report(proc)
            _finish(proc)
            assert report["error"] == error
            assert report["open"] == []  # every inherited descriptor closed: none leaks
            assert report["env"] == []
    finally:
        for sock in (tcp, dgram, connected, peer, seq_connected, seq_peer):
            sock.close()
        os.close(read_end)
        os.close(write_end)


def test_a_malformed_environment(tmp_path: Path) -> None:
    tcp = socket.create_server(("127.0.0.1", 0))
    try:
        for count, error in [
            ("0", "ValueError: LISTEN_FDS='0' is not a number >= 1"),
            ("x", "ValueError: LISTEN_FDS='x' is not a number >= 1"),
        ]:
            proc = _start([tcp], "sync", count=count)
            report = _report(proc)
            _finish(proc)
            assert report["error"] == error
            assert report["env"] == []
    finally:
        tcp.close()


def test_nothing_passed_in_this_process() -> None:
    # This test process was not socket-activated: nothing, and nothing touched.
    assert "LISTEN_PID" not in os.environ
    assert netkit.inherited_listeners() == []
    assert netkit.aio.inherited_listeners() == []
