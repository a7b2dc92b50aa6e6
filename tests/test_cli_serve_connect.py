"""`netkit serve` and `netkit connect`, driven as subprocesses (loopback only)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from _cli_util import NETKIT_INTERRUPTIBLE, WAIT, background, call, read_line, run


def test_connect_to_echo_server_half_closes_and_reads_to_eof() -> None:
    with background(["serve", "echo"]) as (_, host, port):
        assert host == "127.0.0.1"
        result = run(["connect", host, str(port)], input=b"hello\nworld\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"hello\nworld\n"
        assert result.stderr == b""


def test_connect_streams_a_large_payload_both_ways() -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB: more than the socket buffers hold
    with background(["serve", "echo", "--quiet"]) as (_, host, port):
        result = run(["connect", host, str(port), "--timeout", "10"], input=payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload


def test_connect_to_discard_server_prints_nothing() -> None:
    with background(["serve", "discard"]) as (_, host, port):
        result = run(["connect", host, str(port)], input=b"x" * 100_000)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""


def test_serve_logs_connections_on_stderr_and_stops_on_sigint() -> None:
    with background(["serve", "echo"]) as (server, host, port):
        assert run(["connect", host, str(port)], input=b"ping\n").stdout == b"ping\n"
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=WAIT)
    assert server.returncode == 0
    assert b"Traceback" not in err
    assert b"connected" in err
    assert b"stopping" in err


def test_serve_stops_on_sigterm_with_a_client_connected() -> None:
    with background(["serve", "echo"]) as (server, host, port):
        client = socket.create_connection((host, port), timeout=WAIT)
        with client:
            client.sendall(b"hi\n")
            assert client.recv(10) == b"hi\n"
            server.send_signal(signal.SIGTERM)
            _, err = server.communicate(timeout=WAIT)
            # The server closed our connection as it stopped.
            assert client.recv(10) == b""
    assert server.returncode == 0
    assert b"Traceback" not in err


def test_serve_chat_broadcasts_between_clients() -> None:
    with background(["serve", "chat"]) as (_, host, port):
        a = socket.create_connection((host, port), timeout=WAIT)
        b = socket.create_connection((host, port), timeout=WAIT)
        with a, b:
            fa, fb = a.makefile("rb"), b.makefile("rb")
            assert fa.readline().startswith(b"* welcome")
            a.sendall(b"ann\n")
            assert fa.readline() == b"* hello ann, 1 online\n"
            assert fb.readline().startswith(b"* welcome")
            b.sendall(b"bob\n")
            assert fb.readline() == b"* hello bob, 2 online\n"
            assert fa.readline() == b"* bob joined\n"
            a.sendall(b"hi bob\n")
            assert fb.readline() == b"ann: hi bob\n"
            b.sendall(b"hi ann\n")
            assert fa.readline() == b"bob: hi ann\n"
            fa.close()
            fb.close()


def test_serve_on_ipv6_loopback_prints_bracketed_address() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    with background(["serve", "--host", "::1"]) as (_, host, port):
        assert host == "::1"
        result = run(["connect", "::1", str(port)], input=b"six\n")
    assert result.stdout == b"six\n"


def test_serve_tls_and_connect_tls(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_file, key_file, ca_file = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    args = ["serve", "echo", "--tls-cert", str(cert_file), "--tls-key", str(key_file)]
    # More than the socket buffers hold both ways: the single-threaded TLS loop must
    # keep reading while it writes.
    payload = bytes(range(256)) * 4096
    with background(args) as (_, _host, port):
        result = run(
            [
                "connect",
                "--tls",
                "--cafile",
                str(ca_file),
                "--timeout",
                "2",
                "localhost",
                str(port),
            ],
            input=b"secret\n" + payload,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"secret\n" + payload
        # Without the CA the certificate is not trusted: a failed operation, exit 1.
        untrusted = run(["connect", "--tls", "--timeout", "5", "localhost", str(port)], input=b"")
    assert untrusted.returncode == 1
    assert b"Traceback" not in untrusted.stderr
    assert len(untrusted.stderr.strip().splitlines()) == 1


def test_connect_refused_is_exit_1_with_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connecting is refused
        result = run(["connect", "127.0.0.1", str(port), "--timeout", "5"], input=b"")
    assert result.returncode == 1
    assert result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("netkit connect:")


def test_connect_idle_timeout_after_stdin_ends() -> None:
    # A server that accepts and never answers nor closes: the idle limit ends it.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = run(["connect", "127.0.0.1", str(port), "--timeout", "0.3"], input=b"x")
    assert result.returncode == 1
    assert b"no data from the peer" in result.stderr


def test_connect_udp_against_udp_listen_echo() -> None:
    with background(["udp", "listen", "--echo", "--count", "1"]) as (server, host, port):
        result = run(["connect", "--udp", host, str(port), "--timeout", "2"], input=b"dgram")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"dgram"
        assert read_line(server.stdout).startswith(b"from 127.0.0.1:")
        server.communicate(timeout=WAIT)
        assert server.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["connect", "127.0.0.1", "99999"], b"port: port 99999 is out of range 1..65535\n"),
        (["connect", "127.0.0.1", "0"], b"port: port 0 is out of range 1..65535\n"),
        (["connect", "127.0.0.1", "80", "--timeout", "-1"], b"seconds"),
        (["connect", "127.0.0.1", "80", "--udp", "--tls"], b"--tls cannot be used"),
        (["connect", "127.0.0.1", "80", "--cafile", "x"], b"--cafile needs --tls"),
        (["serve", "--port", "http"], b"-p: port 'http' is not 1 to 5 decimal digits\n"),
        (["serve", "shout"], b"invalid choice"),
        (["serve", "--tls-key", "k.pem"], b"--tls-key needs --tls-cert"),
        (["connect", "127.0.0.1"], b"required"),
        (["serve", "--proxy-protocol", "10.0.0.1/8"], b"'10.0.0.1/8' is not a network"),
        (["serve", "--proxy-protocol", "lan"], b"'lan' is not a network"),
        (["serve", "--unix", "x.sock", "--proxy-protocol", "10.0.0.0/8"], b"takes 'all'"),
        (["serve", "--send-timeout", "0"], b"seconds must be > 0"),
    ],
)
def test_misuse_is_exit_2_with_one_line(
    args: list[str], message: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert call(args) == 2
    err = capsys.readouterr().err
    assert message.decode() in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_misuse_as_a_subprocess_too() -> None:
    result = run(["connect", "127.0.0.1", "99999"], input=b"")
    assert result.returncode == 2
    assert result.stderr.count(b"\n") == 1


def test_serve_port_in_use_is_exit_1() -> None:
    with background(["serve"]) as (_, _host, port):
        result = run(["serve", "--port", str(port)])
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert result.stdout == b""


@pytest.mark.parametrize("command", ["serve", "connect", "udp", "demo", "bench"])
def test_help_has_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert call([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "example:" in out
    assert f"netkit {command}" in out


def _interactive_connect(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*NETKIT_INTERRUPTIBLE, "connect", "127.0.0.1", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_connect_ends_when_the_peer_closes_first_and_stdin_ends() -> None:
    # The peer's EOF ends only the receiving side (as with ncat); the session ends when
    # stdin does too (communicate() closes it), with status 0 as nothing was lost.
    with background(["serve", "echo"]) as (server, _host, port):
        client = _interactive_connect(port)
        try:
            assert client.stdin is not None
            client.stdin.write(b"still typing\n")
            client.stdin.flush()
            assert read_line(client.stdout) == b"still typing\n"
            server.send_signal(signal.SIGTERM)  # the server goes away; stdin stays open
            out, err = client.communicate(timeout=WAIT)
        finally:
            if client.poll() is None:
                client.kill()
                client.communicate(timeout=WAIT)
    assert client.returncode == 0, err
    assert out == b""


def test_connect_ctrl_c_exits_without_traceback() -> None:
    with background(["serve", "echo"]) as (_, _host, port):
        client = _interactive_connect(port)
        try:
            assert client.stdin is not None
            client.stdin.write(b"hi\n")
            client.stdin.flush()
            assert read_line(client.stdout) == b"hi\n"
            client.send_signal(signal.SIGINT)
            _, err = client.communicate(timeout=WAIT)
        finally:
            if client.poll() is None:
                client.kill()
                client.communicate(timeout=WAIT)
    assert client.returncode == 130
    assert b"Traceback" not in err
    assert err.strip() == b"interrupted"


def test_chat_drops_a_member_whose_line_is_too_long_without_a_traceback() -> None:
    with background(["serve", "chat"]) as (server, host, port):
        with socket.create_connection((host, port), timeout=WAIT) as sock:
            stream = sock.makefile("rb")
            assert stream.readline().startswith(b"* welcome")
            sock.sendall(b"x" * 300)  # a name line over the limit, no newline
            assert stream.read() == b""  # dropped: EOF
            stream.close()
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=WAIT)
    assert server.returncode == 0
    assert b"Traceback" not in err


PROXY_V1 = b"PROXY TCP4 198.51.100.7 127.0.0.1 56324 8080\r\n"  # header bytes only


def test_serve_behind_a_proxy_logs_the_header_addresses_and_drops_the_headerless() -> None:
    with background(["serve", "echo", "--proxy-protocol", "127.0.0.1/32"]) as (server, host, port):
        with socket.create_connection((host, port), timeout=WAIT) as proxied:
            proxied.sendall(PROXY_V1 + b"hi\n")
            assert proxied.recv(10) == b"hi\n"  # the header is not data
        with socket.create_connection((host, port), timeout=WAIT) as bare:
            bare.sendall(b"hi\n")  # from a trusted network, but no header
            try:
                assert bare.recv(10) == b""
            except ConnectionResetError:
                pass  # dropped with unread bytes: a reset
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=WAIT)
    assert server.returncode == 0
    assert b"+ 198.51.100.7:56324 connected" in err
    assert b"not a PROXY protocol header: starts with b'hi\\n'" in err
    assert b"Traceback" not in err


def _send_until_cut(sock: socket.socket) -> OSError | None:
    """Send without ever reading until the connection fails (at most 256 MiB)."""
    try:
        for _ in range(4096):
            sock.sendall(b"x" * 65536)
    except OSError as exc:
        return exc
    return None


def test_serve_send_timeout_cuts_a_client_that_never_reads() -> None:
    with background(["serve", "echo", "--quiet", "--send-timeout", "0.5"]) as (_, host, port):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, port))
            sock.settimeout(WAIT)
            start = time.monotonic()
            error = _send_until_cut(sock)  # the echo comes back and is never read
            assert isinstance(error, (ConnectionResetError, BrokenPipeError)), error
            # Cut about 0.5 s after the buffers filled; the default would be 60 s.
            assert time.monotonic() - start < WAIT
