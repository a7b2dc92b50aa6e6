"""`netkit connect` as a dependable netcat: half-close, every byte delivered, failures
reported (exit status 1, one line), misuse (exit status 2), and a reader of stdout going
away. Peers are Python sockets on 127.0.0.1 (and the real ncat when installed); every
wait is bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from _cli_util import NETKIT, WAIT, call, read_line, run

#: Random, so that a byte-exact comparison (by hash) means something.
PAYLOAD = os.urandom(2_000_000)
#: Far more than the socket buffers of both ends hold: the client is still sending
#: when a peer that stopped reading resets the connection.
LARGE = 16 * 1024 * 1024
#: The most receive calls a peer makes before the test gives up (with WAIT, bounds
#: every loop in both count and time).
MAX_CALLS = 100_000


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Peer:
    """One TCP connection accepted on 127.0.0.1:<port 0> and served by *handler*.

    The handler runs in a thread with the accepted socket (timeout WAIT on every call);
    :meth:`result` joins it and returns what it returned, or raises what it raised.
    """

    def __init__(
        self,
        handler: Callable[[socket.socket], Any],
        options: Sequence[tuple[int, int, int]] = (),
    ) -> None:
        self._handler = handler
        self._listener = socket.socket()
        for level, name, value in options:  # before listen(): accepted sockets inherit
            self._listener.setsockopt(level, name, value)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.settimeout(WAIT)
        self.port: int = self._listener.getsockname()[1]
        self._outcome: list[tuple[bool, Any]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Peer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._listener.close()
        self._thread.join(WAIT)

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
            conn.settimeout(WAIT)
            with conn:
                self._outcome.append((True, self._handler(conn)))
        except BaseException as exc:
            self._outcome.append((False, exc))

    def result(self) -> Any:
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the peer did not finish in time"
        ok, value = self._outcome[0]
        if not ok:
            raise value
        return value


def _read_to_eof(conn: socket.socket) -> tuple[int, str]:
    """Read until EOF; return the byte count and the SHA-256 of what arrived."""
    digest = hashlib.sha256()
    total = 0
    deadline = time.monotonic() + WAIT
    for _ in range(MAX_CALLS):
        assert time.monotonic() < deadline, f"no EOF within {WAIT} s ({total} bytes)"
        data = conn.recv(65536)
        if not data:
            return total, digest.hexdigest()
        digest.update(data)
        total += len(data)
    raise AssertionError(f"no EOF after {MAX_CALLS} reads")


def _read_at_least(conn: socket.socket, count: int) -> None:
    got = 0
    for _ in range(MAX_CALLS):
        data = conn.recv(65536)
        assert data, f"EOF after {got} bytes"
        got += len(data)
        if got >= count:
            return
    raise AssertionError(f"fewer than {count} bytes after {MAX_CALLS} reads")


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("netkit connect: "), err
    return lines[0]


# --- half-close: every byte of stdin arrives --------------------------------------------


@pytest.mark.parametrize("options", [[], ["--timeout", "10"]], ids=["no-timeout", "timeout"])
def test_all_of_stdin_reaches_a_peer_that_half_closes_first(options: list[str]) -> None:
    # The bug this guards against: the peer's EOF ended the session, the socket was
    # closed under the sending thread and 0 of 2,000,000 bytes arrived, with status 0.
    def half_closing_peer(conn: socket.socket) -> tuple[int, str]:
        conn.sendall(b"banner\n")
        conn.shutdown(socket.SHUT_WR)  # as `ncat -l --recv-only` does
        return _read_to_eof(conn)

    with Peer(half_closing_peer) as peer:
        result = run(["connect", "127.0.0.1", str(peer.port), *options], input=PAYLOAD)
        count, digest = peer.result()
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout == b"banner\n"  # received before the peer's EOF: written
    assert count == len(PAYLOAD)
    assert digest == _digest(PAYLOAD)


def test_stdin_eof_sends_fin_and_the_reply_after_it_is_read() -> None:
    def counting_peer(conn: socket.socket) -> None:
        count, digest = _read_to_eof(conn)  # ends only because the client half-closed
        conn.sendall(f"{count} {digest}\n".encode())

    with Peer(counting_peer) as peer:
        result = run(["connect", "127.0.0.1", str(peer.port)], input=PAYLOAD)
        peer.result()
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{len(PAYLOAD)} {_digest(PAYLOAD)}\n".encode()


def test_ncat_recv_only_receives_every_byte(tmp_path: Path) -> None:
    ncat = shutil.which("ncat")
    if ncat is None:
        if os.environ.get("CI"):
            pytest.fail("ncat is missing: .ci/run installs it (Debian package ncat)")
        pytest.skip("ncat is not installed (Debian package ncat)")
    output = tmp_path / "ncat.out"
    with _ncat_listening(ncat, output) as (server, port):
        result = run(["connect", "127.0.0.1", str(port)], input=PAYLOAD)
        _, err = server.communicate(timeout=WAIT)  # ncat exits after the connection
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert server.returncode == 0, err
    received = output.read_bytes()
    assert len(received) == len(PAYLOAD)
    assert _digest(received) == _digest(PAYLOAD)


@contextlib.contextmanager
def _ncat_listening(ncat: str, output: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start ``ncat -l --recv-only`` on a free port; yield it once it listens.

    ncat cannot report a kernel-chosen port (it prints ":0"), so a free port is found
    by binding port 0 and closing; if someone takes it in between, ncat fails to bind
    and another port is tried. Readiness is ncat's own "Listening on" line, printed
    after listen(): probing with a connection would use up ncat's only one.
    """
    for _ in range(10):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with output.open("wb") as out:
            server = subprocess.Popen(
                [ncat, "-v", "-l", "--recv-only", "127.0.0.1", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.PIPE,
            )
        try:
            listening = False
            for _ in range(5):  # a version line comes first
                try:
                    line = read_line(server.stderr)
                except AssertionError:  # stderr ended: ncat exited (bind failed?)
                    break
                if b"Listening on" in line:
                    listening = True
                    break
            if listening:
                yield server, port
                return
            _, err = server.communicate(timeout=WAIT)
            if b"in use" not in err:
                raise AssertionError(f"ncat did not start: {err!r}")
        finally:
            if server.poll() is None:
                server.kill()
                server.communicate(timeout=WAIT)
    raise AssertionError("no free port for ncat after 10 tries")


# --- failures: exit status 1 and one line naming what failed ----------------------------


def test_reset_while_sending_is_exit_1_with_one_line() -> None:
    def resetting_peer(conn: socket.socket) -> None:
        _read_at_least(conn, 65536)  # the client is sending; then it stops reading
        _reset(conn)

    with Peer(resetting_peer) as peer:
        result = run(["connect", "127.0.0.1", str(peer.port)], input=b"x" * LARGE)
        peer.result()
    assert result.returncode == 1
    line = _one_error_line(result)
    assert f"127.0.0.1:{peer.port}" in line
    assert "sending to" in line or "receiving from" in line
    assert "reset" in line.lower() or "broken pipe" in line.lower()


def test_reset_after_the_peer_half_closed_is_a_failure_not_0() -> None:
    # The receiving side is over (the peer's EOF); only sending can notice the reset.
    def half_closing_resetting_peer(conn: socket.socket) -> None:
        conn.shutdown(socket.SHUT_WR)
        _read_at_least(conn, 65536)
        _reset(conn)

    with Peer(half_closing_resetting_peer) as peer:
        result = run(["connect", "127.0.0.1", str(peer.port)], input=b"x" * LARGE)
        peer.result()
    assert result.returncode == 1
    line = _one_error_line(result)
    assert f"sending to 127.0.0.1:{peer.port} failed" in line


def _tcp_state(local: tuple[str, int], remote: tuple[str, int]) -> tuple[str, int] | None:
    """(state, send queue) of an IPv4 TCP socket from /proc/net/tcp (Linux), or None."""

    def key(address: tuple[str, int]) -> str:
        packed = socket.inet_aton(address[0])
        return f"{struct.unpack('<I', packed)[0]:08X}:{address[1]:04X}"

    wanted = (key(local), key(remote))
    with open("/proc/net/tcp") as table:
        for line in table:
            fields = line.split()
            if (fields[1], fields[2]) == wanted:
                return fields[3], int(fields[4].split(":")[0], 16)
    return None


# include/net/tcp_states.h, as /proc/net/tcp writes them. The client's side is shut down
# in both: LAST_ACK when the peer's FIN came first, CLOSING when the client's FIN was
# already queued (a loaded machine can run the client's shutdown before the peer's).
_LAST_ACK = "09"
_CLOSING = "0B"


@pytest.mark.skipif(
    sys.platform != "linux", reason="unacknowledged bytes are only visible on Linux"
)
def test_reset_of_bytes_not_yet_acknowledged_is_a_failure() -> None:
    # The client has sent everything and its FIN, the peer's EOF came long ago, and the
    # last bytes still sit in the client's kernel (the peer's window is closed). A
    # reset now loses them: netkit must wait for the acknowledgement and exit 1.
    def stalled_peer(conn: socket.socket) -> None:
        conn.shutdown(socket.SHUT_WR)
        client, server = conn.getpeername(), conn.getsockname()
        deadline = time.monotonic() + WAIT / 2
        state = None
        try:
            for _ in range(MAX_CALLS):  # bounded polling of the client's socket state
                state = _tcp_state(client, server)
                if state is not None and state[0] in (_LAST_ACK, _CLOSING) and state[1] > 1:
                    return  # the client shut its side down with bytes unacknowledged
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        finally:
            _reset(conn)  # in every case, so that the client ends
        raise AssertionError(f"the client never got there; its socket: {state}")

    # A small receive buffer closes the peer's window after about 4 kB; the rest of the
    # 10 kB stays in the client's send buffer, which always has room for it.
    listener_options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]
    with Peer(stalled_peer, listener_options) as peer:
        result = run(["connect", "127.0.0.1", str(peer.port)], input=b"x" * 10_000)
        peer.result()
    assert result.returncode == 1
    line = _one_error_line(result)
    assert f"sending to 127.0.0.1:{peer.port} failed" in line


@pytest.mark.skipif(
    sys.platform != "linux", reason="unacknowledged bytes are only visible on Linux"
)
def test_bytes_sent_after_the_peer_closed_are_a_failure() -> None:
    # The peer closes for good; the user keeps typing. Those bytes cannot arrive (the
    # peer's kernel answers with a reset), so the session must not end with status 0.
    peer_closed = threading.Event()

    def closing_peer(conn: socket.socket) -> None:
        conn.sendall(b"bye\n")
        conn.close()
        peer_closed.set()

    with Peer(closing_peer) as peer:
        client = subprocess.Popen(
            [*NETKIT, "connect", "127.0.0.1", str(peer.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert read_line(client.stdout) == b"bye\n"
            assert peer_closed.wait(WAIT)
            # Still running: the peer's EOF ended only the receiving side.
            assert client.poll() is None
            out, err = client.communicate(b"too late\n", timeout=WAIT)
        finally:
            if client.poll() is None:
                client.kill()
                client.communicate(timeout=WAIT)
        peer.result()
    assert client.returncode == 1, err
    assert out == b""
    line = _one_error_line(subprocess.CompletedProcess([], 1, out, err))
    assert f"sending to 127.0.0.1:{peer.port} failed" in line


def test_a_peer_that_takes_no_data_fails_after_timeout() -> None:
    client_done = threading.Event()

    def stalled_peer(conn: socket.socket) -> None:
        client_done.wait(WAIT)  # never reads, never closes, until the client has ended

    with Peer(stalled_peer) as peer:
        try:
            result = run(
                ["connect", "127.0.0.1", str(peer.port), "--timeout", "0.5"], input=b"x" * LARGE
            )
        finally:
            client_done.set()
        peer.result()
    assert result.returncode == 1
    line = _one_error_line(result)
    assert f"sending to 127.0.0.1:{peer.port} failed: the peer took no data for 0.5 s" in line


def test_refused_connect_names_host_and_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connecting is refused
        result = run(["connect", "127.0.0.1", str(port), "--timeout", "5"], input=b"")
    assert result.returncode == 1
    line = _one_error_line(result)
    assert f"127.0.0.1:{port}" in line
    assert "refused" in line.lower()


def test_udp_refused_names_the_peer() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens there now: the kernel answers the datagram with "port unreachable".
    result = run(["connect", "--udp", "127.0.0.1", str(port), "--timeout", "5"], input=b"x")
    assert result.returncode == 1
    line = _one_error_line(result)
    assert f"127.0.0.1:{port}" in line
    assert "refused" in line.lower()


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for localhost/127.0.0.1, and the CA's file."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, ca_file


def _tls_read_to_eof(conn: ssl.SSLSocket) -> tuple[int, str]:
    digest = hashlib.sha256()
    total = 0
    deadline = time.monotonic() + WAIT
    for _ in range(MAX_CALLS):
        assert time.monotonic() < deadline, f"no EOF within {WAIT} s ({total} bytes)"
        try:
            data = conn.recv(65536)
        except ssl.SSLEOFError:  # TCP closed without close_notify: EOF all the same
            data = b""
        if not data:
            return total, digest.hexdigest()
        digest.update(data)
        total += len(data)
    raise AssertionError(f"no EOF after {MAX_CALLS} reads")


def test_tls_sends_all_of_stdin_before_closing(tls_files: tuple[ssl.SSLContext, Path]) -> None:
    context, ca_file = tls_files

    def counting_peer(raw: socket.socket) -> tuple[int, str]:
        with context.wrap_socket(raw, server_side=True) as conn:
            return _tls_read_to_eof(conn)

    with Peer(counting_peer) as peer:
        args = ["connect", "--tls", "--cafile", str(ca_file), "--server-name", "localhost"]
        result = run([*args, "--timeout", "0.5", "127.0.0.1", str(peer.port)], input=PAYLOAD)
        count, digest = peer.result()
    assert result.returncode == 0, result.stderr
    assert (count, digest) == (len(PAYLOAD), _digest(PAYLOAD))


def test_tls_server_closing_without_close_notify_is_a_normal_end(
    tls_files: tuple[ssl.SSLContext, Path],
) -> None:
    # Many servers close TCP without a TLS close_notify. OpenSSL 3 answered that with
    # an alert to the departed server, which never acknowledged it, and the session
    # was reported as a failed send (exit 1) although nothing was lost.
    context, ca_file = tls_files

    def ragged_peer(raw: socket.socket) -> bytes:
        conn = context.wrap_socket(raw, server_side=True)
        request = conn.recv(100)
        conn.sendall(b"response\n")
        conn.close()  # no close_notify (SSLSocket.close() sends none)
        return request

    with Peer(ragged_peer) as peer:
        args = ["connect", "--tls", "--cafile", str(ca_file), "--server-name", "localhost"]
        result = run([*args, "127.0.0.1", str(peer.port)], input=b"request\n")
        assert peer.result() == b"request\n"
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"response\n"
    assert result.stderr == b""


def test_tls_reset_while_sending_is_exit_1(tls_files: tuple[ssl.SSLContext, Path]) -> None:
    context, ca_file = tls_files

    def resetting_peer(raw: socket.socket) -> None:
        conn = context.wrap_socket(raw, server_side=True)
        _read_at_least(conn, 65536)
        _reset(conn)

    with Peer(resetting_peer) as peer:
        args = ["connect", "--tls", "--cafile", str(ca_file), "127.0.0.1", str(peer.port)]
        result = run(args, input=b"x" * LARGE)
        peer.result()
    assert result.returncode == 1
    line = _one_error_line(result)
    assert f"127.0.0.1:{peer.port}" in line
    assert "sending to" in line or "receiving from" in line


# --- misuse: exit status 2, one line ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server-name", ""], "argument --server-name: invalid host ''"),
        (["--tls", "--server-name", ""], "argument --server-name: invalid host ''"),
        (["--tls", "--server-name", ".x"], "empty label"),
        (["--tls", "--server-name", "a b"], "invalid host 'a b'"),
        (["--tls", "--server-name", "fe80::1%eth0"], "has a zone"),
        (["--server-name", "example.com"], "--server-name needs --tls"),
        (["--tls", "--cafile", ""], "--cafile needs a file name"),
        (["--udp", "--server-name", "example.com"], "--tls cannot be used with --udp"),
    ],
)
def test_bad_tls_options_are_misuse(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert call(["connect", *args, "127.0.0.1", "443"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_an_invalid_host_is_misuse(capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["connect", "", "80"]) == 2
    err = capsys.readouterr().err
    assert err == "netkit connect: error: host must not be empty\n"


def test_bad_server_name_as_a_subprocess_is_one_line_exit_2() -> None:
    result = run(["connect", "--tls", "--server-name", ".x", "127.0.0.1", "443"], input=b"")
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert result.stderr.count(b"\n") == 1


def test_a_missing_cafile_is_named() -> None:
    result = run(["connect", "--tls", "--cafile", "/nonexistent/ca.pem", "127.0.0.1", "443"])
    assert result.returncode == 1
    assert "--cafile '/nonexistent/ca.pem'" in _one_error_line(result)


# --- the reader of stdout going away (`netkit connect ... | head`) ------------------------


def test_reader_of_stdout_going_away_is_quiet() -> None:
    def flooding_peer(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the client goes away mid-flood
            for _ in range(1000):
                conn.sendall(b"y" * 65536)

    with Peer(flooding_peer) as peer:
        client = subprocess.Popen(
            [*NETKIT, "connect", "127.0.0.1", str(peer.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert client.stdout is not None
            assert select.select([client.stdout], [], [], WAIT)[0], "no output"
            assert os.read(client.stdout.fileno(), 10)
            client.stdout.close()  # like `| head -c 10`
            status = client.wait(timeout=WAIT)
            assert client.stderr is not None
            err = client.stderr.read()
            client.stderr.close()
        finally:
            if client.poll() is None:
                client.kill()
                client.wait(timeout=WAIT)
        peer.result()
    assert status == 1
    assert err == b""
