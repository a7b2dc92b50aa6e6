"""`netkit serve --unix`, `netkit connect --unix` and `netkit listen --unix`, driven as
subprocesses: every byte through a Unix socket with half-close, abstract names, and the
one-line errors naming the path (exit 1 for failures, 2 for misuse)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from _cli_util import WAIT, call, read_line, run, start, stop, wait_for_line
from _unix_util import sock_dir

__all__ = ["sock_dir"]  # the fixture, imported for pytest

#: Random and larger than the socket buffers both ways, so a byte-exact match means
#: something and the echo must read while it writes.
PAYLOAD = os.urandom(2_000_000)


@contextlib.contextmanager
def serving(args: list[str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``netkit serve ARGS`` started, once it prints 'listening on PATH': (process, PATH)."""
    proc = start(["serve", *args])
    try:
        line = read_line(proc.stdout).decode().rstrip("\n")
        assert line.startswith("listening on "), line
        yield proc, line.removeprefix("listening on ")
    finally:
        stop(proc)


def _one_line(result: subprocess.CompletedProcess[bytes]) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_echo_round_trip_with_half_close(sock_dir: Path) -> None:
    path = str(sock_dir / "echo.sock")
    with serving(["echo", "--quiet", "--unix", path]) as (server, shown):
        assert shown == path
        assert Path(path).is_socket()
        result = run(["connect", "--unix", path, "--timeout", "10"], input=PAYLOAD)
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == PAYLOAD  # stdin's EOF was a half-close: every byte came back
    assert result.stderr == b""
    assert not Path(path).exists()  # the server removed its socket file


def test_abstract_name(sock_dir: Path) -> None:
    name = f"@netkit-test-{os.getpid()}-{sock_dir.name}"
    with serving(["echo", "--unix", name]) as (server, shown):
        assert shown == name
        result = run(["connect", "--unix", name], input=b"hello\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"hello\n"
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=WAIT)
    assert server.returncode == 0
    assert b"+ pid " in err  # an unnamed client is told by its process id
    assert b"stopping" in err


def test_discard_and_sigterm_remove_the_file(sock_dir: Path) -> None:
    path = str(sock_dir / "d.sock")
    with serving(["discard", "--unix", path]) as (server, _):
        result = run(["connect", "--unix", path], input=b"x" * 100_000)
        assert result.returncode == 0, result.stderr
        assert result.stdout == b""
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=WAIT)
    assert server.returncode == 0
    assert not Path(path).exists()


def test_a_stale_socket_file_is_replaced(sock_dir: Path) -> None:
    path = str(sock_dir / "stale.sock")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)  # bound, never listening, then gone: a stale file
    with serving(["echo", "--unix", path]):
        result = run(["connect", "--unix", path], input=b"again")
    assert result.stdout == b"again"


def test_serve_errors_name_the_path(sock_dir: Path) -> None:
    missing = str(sock_dir / "no-such-dir" / "s.sock")
    result = run(["serve", "--unix", missing])
    assert result.returncode == 1
    line = _one_line(result)
    assert repr(missing) in line
    assert "does not exist" in line

    not_socket = sock_dir / "plain.txt"
    not_socket.write_text("keep me")
    result = run(["serve", "--unix", str(not_socket)])
    assert result.returncode == 1
    assert "is not a socket" in _one_line(result)
    assert not_socket.read_text() == "keep me"

    path = str(sock_dir / "busy.sock")
    with serving(["echo", "--unix", path]):
        result = run(["serve", "--unix", path])
        assert result.returncode == 1
        line = _one_line(result)
        assert repr(path) in line
        assert "live socket" in line
        assert run(["connect", "--unix", path], input=b"still").stdout == b"still"


def test_connect_errors_name_the_path(sock_dir: Path) -> None:
    path = str(sock_dir / "nobody.sock")
    result = run(["connect", "--unix", path], input=b"")
    assert result.returncode == 1
    line = _one_line(result)
    assert line.startswith(f"netkit connect: cannot connect to {path!r}")
    assert result.stdout == b""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--unix", "/tmp/x.sock", "--port", "80"], "--port cannot be used with --unix"),
        (["serve", "--unix", "/tmp/x.sock", "--host", "::"], "--host cannot be used with --unix"),
        (["serve", "--unix", "/tmp/x.sock", "--tls-cert", "c"], "--tls-cert cannot be used"),
        (["serve", "--unix", "/tmp/" + "a" * 120], "the limit is 107 (sun_path)"),
        (["serve", "--unix", ""], "path must not be empty"),
        (["connect", "--unix", "/tmp/x.sock", "127.0.0.1", "80"], "HOST and PORT cannot"),
        (["connect", "--unix", "/tmp/x.sock", "--udp"], "--udp cannot be used with --unix"),
        (["connect", "--unix", "/tmp/x.sock", "--tls"], "--tls cannot be used with --unix"),
        (["connect", "--unix", "/tmp/" + "a" * 120], "the limit is 107 (sun_path)"),
        (["connect"], "the following arguments are required: host, port"),
        (["listen", "--unix", "/tmp/x.sock", "0"], "HOST and PORT cannot"),
        (["listen", "--unix", "/tmp/x.sock", "-u"], "--udp cannot be used with --unix"),
        (["listen", "--unix", "/tmp/x.sock", "--tls"], "--tls cannot be used with --unix"),
        (["listen", "--unix", "/tmp/" + "a" * 120], "the limit is 107 (sun_path)"),
        (["listen"], "the following arguments are required: port"),
    ],
)
def test_misuse(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert call(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def _communicate(proc: subprocess.Popen[bytes], data: bytes) -> tuple[threading.Thread, list]:
    box: list[tuple[bytes, bytes]] = []
    thread = threading.Thread(target=lambda: box.append(proc.communicate(data, timeout=WAIT)))
    thread.start()
    return thread, box


def test_listen_and_connect_both_ways(sock_dir: Path) -> None:
    path = str(sock_dir / "l.sock")
    reply = os.urandom(500_000)
    proc = start(["listen", "--unix", path])
    try:
        line, _ = wait_for_line(proc.stderr, "listening on ")
        assert line == f"listening on {path}"
        thread, box = _communicate(proc, reply)
        client = run(["connect", "--unix", path, "--timeout", "10"], input=PAYLOAD)
        thread.join(WAIT)
        assert not thread.is_alive()
    finally:
        stop(proc)
    assert client.returncode == 0, client.stderr
    assert client.stdout == reply
    out, err = box[0]
    assert proc.returncode == 0, err
    assert out == PAYLOAD
    assert b"+ pid " in err
    assert not Path(path).exists()


def test_listen_keep_open_serves_clients_in_turn(sock_dir: Path) -> None:
    path = str(sock_dir / "k.sock")
    proc = start(["listen", "-k", "--unix", path])
    try:
        wait_for_line(proc.stderr, "listening on ")
        for text in (b"first\n", b"second\n"):
            result = run(["connect", "--unix", path], input=text)
            assert result.returncode == 0, result.stderr
            assert read_line(proc.stdout) == text
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT)
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert b"stopping" in err
    assert not Path(path).exists()


def test_listen_errors_name_the_path(sock_dir: Path) -> None:
    not_socket = sock_dir / "plain.txt"
    not_socket.write_text("x")
    result = run(["listen", "--unix", str(not_socket)], input=b"")
    assert result.returncode == 1
    line = _one_line(result)
    assert repr(str(not_socket)) in line
    assert "is not a socket" in line


def test_serve_unix_behind_a_proxy_takes_the_header_off(sock_dir: Path) -> None:
    path = str(sock_dir / "proxied.sock")
    with serving(["echo", "--quiet", "--unix", path, "--proxy-protocol", "all"]) as (_, _):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(WAIT)
            sock.connect(path)
            sock.sendall(b"PROXY UNKNOWN\r\nhi\n")
            assert sock.recv(10) == b"hi\n"  # the header is not data
        with socket.socket(socket.AF_UNIX) as bare:
            bare.settimeout(WAIT)
            bare.connect(path)
            bare.sendall(b"hi\n")  # every Unix client must send one: dropped
            with contextlib.suppress(ConnectionResetError):
                assert bare.recv(10) == b""
