"""`netkit listen`: ncat's -l with connect's half-close and exit status, -k (clients in
turn, stdin shared in order), -u (the first sender is the peer) and TLS with a
throwaway certificate pinned by its fingerprint. Listeners bind 127.0.0.1 port 0 and
print the port on stderr; every wait is bounded (WAIT) and readiness is read from the
listener's own status lines, never slept for.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from _cli_util import (
    WAIT,
    call,
    close_stdin,
    listening_port,
    read_exactly,
    run,
    start,
    stop,
    wait_for_line,
)
from netkit.cli import Failed
from netkit.cli._throwaway import fingerprint, make, names_for

#: Random, so that a byte-exact comparison means something; more than socket buffers.
PAYLOAD = os.urandom(1_000_000)
REPLY = os.urandom(300_000)
#: The most receive calls a test peer makes (with WAIT, bounds every loop).
MAX_CALLS = 100_000


@contextlib.contextmanager
def listener(args: list[str]) -> Iterator[tuple[subprocess.Popen[bytes], int, list[str]]]:
    """``netkit ARGS`` started, once it says it listens: (process, port, status lines)."""
    proc = start(args)
    try:
        port, lines = listening_port(proc)
        yield proc, port, lines
    finally:
        stop(proc)


def _communicate_in_background(
    proc: subprocess.Popen[bytes], data: bytes | None
) -> tuple[threading.Thread, list[tuple[bytes, bytes]]]:
    """communicate() in a thread: feeds stdin and drains stdout/stderr while the test
    drives a client (a listener writing to a full stdout pipe would stall)."""
    box: list[tuple[bytes, bytes]] = []
    thread = threading.Thread(target=lambda: box.append(proc.communicate(data, timeout=WAIT)))
    thread.start()
    return thread, box


def _read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    deadline = time.monotonic() + WAIT
    for _ in range(MAX_CALLS):
        assert time.monotonic() < deadline, "no EOF in time"
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
    raise AssertionError("no EOF")


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    for _ in range(MAX_CALLS):
        if len(data) >= count:
            return data
        chunk = sock.recv(count - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    raise AssertionError("too many reads")


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def _interrupt(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=WAIT)


# --- one client, as `netkit connect` on the other side ----------------------------------


def test_one_client_every_byte_both_ways() -> None:
    with listener(["listen", "0"]) as (proc, port, lines):
        assert lines == [f"listening on 127.0.0.1:{port}"]
        thread, box = _communicate_in_background(proc, PAYLOAD)
        client = run(["connect", "127.0.0.1", str(port)], input=REPLY)
        thread.join(WAIT)
        out, err = box[0]
    assert client.returncode == 0, client.stderr
    assert proc.returncode == 0, err
    assert client.stdout == PAYLOAD
    assert out == REPLY
    assert b"Traceback" not in err
    assert b"+ 127.0.0.1:" in err
    assert b"- 127.0.0.1:" in err


def test_all_of_stdin_reaches_a_client_that_half_closes_first() -> None:
    # connect's data-loss bug, on the listening side: the client's EOF must end only
    # the receiving direction, and every byte of stdin must still be sent.
    with listener(["listen", "0"]) as (proc, port, _):
        thread, box = _communicate_in_background(proc, PAYLOAD)
        with _connect(port) as client:
            client.sendall(b"request\n")
            client.shutdown(socket.SHUT_WR)  # as `ncat --send-only` does
            received = _read_to_eof(client)
        thread.join(WAIT)
        out, err = box[0]
    assert proc.returncode == 0, err
    assert out == b"request\n"
    assert hashlib.sha256(received).digest() == hashlib.sha256(PAYLOAD).digest()


def test_the_first_client_gets_stdin_and_later_clients_are_refused() -> None:
    with listener(["listen", "--quiet", "0"]) as (proc, port, _):
        assert proc.stdin is not None
        proc.stdin.write(b"for the first client\n")
        close_stdin(proc)
        with _connect(port) as first:
            # --quiet: no "+" line; the data is the sign that the client was accepted,
            # and the listener stops listening right after accepting it.
            assert _recv_exactly(first, 21) == b"for the first client\n"
            with pytest.raises(ConnectionRefusedError):
                _connect(port).close()
            first.sendall(b"bye")
            first.shutdown(socket.SHUT_WR)
            assert _read_to_eof(first) == b""
        out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert out == b"bye"
    assert err == b""  # --quiet: after "listening on", not a word


def test_a_reset_is_exit_1_with_one_line_naming_the_client() -> None:
    with listener(["listen", "0"]) as (proc, port, _):
        thread, box = _communicate_in_background(proc, b"x" * (16 << 20))
        client = _connect(port)
        client_port = client.getsockname()[1]
        _recv_exactly(client, 65536)  # the listener is sending; then a reset
        _reset(client)
        thread.join(WAIT)
        _, err = box[0]
    assert proc.returncode == 1
    text = err.decode()
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("netkit listen: "), text
    assert f"127.0.0.1:{client_port}" in last
    assert "sending to" in last or "receiving from" in last


# --- -k: clients one after another ------------------------------------------------------


def test_keep_open_serves_clients_in_turn_and_stdin_goes_on_to_the_next() -> None:
    with listener(["listen", "-k", "0"]) as (proc, port, _):
        assert proc.stdin is not None
        for number in (1, 2):
            with _connect(port) as client:
                wait_for_line(proc.stderr, "+ 127.0.0.1:")
                # Written only now: the previous session must have left it unread.
                line = f"stdin line {number}\n".encode()
                proc.stdin.write(line)
                proc.stdin.flush()
                assert _recv_exactly(client, len(line)) == line
                client.sendall(f"from {number};".encode())
                client.shutdown(socket.SHUT_WR)
                # The client's EOF ends its session: the listener closes its side.
                assert _read_to_eof(client) == b""
            wait_for_line(proc.stderr, "- 127.0.0.1:")
        close_stdin(proc)  # stdin ends: every later client gets EOF at once
        with _connect(port) as client:
            assert _read_to_eof(client) == b""
            client.sendall(b"from 3;")  # half-close: the listener still reads
        wait_for_line(proc.stderr, "- 127.0.0.1:")
        out, err = _interrupt(proc)
    assert proc.returncode == 0, err
    assert out == b"from 1;from 2;from 3;"
    assert err.decode().strip().splitlines()[-1] == "stopping"


def test_keep_open_reports_a_failed_client_serves_the_next_and_exits_1() -> None:
    with listener(["listen", "-k", "0"]) as (proc, port, _):
        first = _connect(port)
        first_port = first.getsockname()[1]
        wait_for_line(proc.stderr, "+ 127.0.0.1:")
        _reset(first)
        line, _ = wait_for_line(proc.stderr, "netkit listen: ")
        assert f"receiving from 127.0.0.1:{first_port} failed" in line
        assert "reset" in line.lower()
        with _connect(port) as second:
            second.sendall(b"still served")
            second.shutdown(socket.SHUT_WR)
            assert _read_to_eof(second) == b""
        wait_for_line(proc.stderr, "- 127.0.0.1:")
        out, err = _interrupt(proc)
    assert proc.returncode == 1  # a session failed on the way
    assert out == b"still served"
    assert b"Traceback" not in err


# --- -u: UDP ------------------------------------------------------------------------------


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(WAIT)
    return sock


def test_udp_the_first_sender_is_the_peer() -> None:
    with listener(["listen", "-u", "--timeout", "0.5", "0"]) as (proc, port, _), _udp() as peer:
        assert proc.stdin is not None
        with _udp() as other:
            peer.sendto(b"hello", ("127.0.0.1", port))
            assert read_exactly(proc.stdout, 5) == b"hello"
            line, _ = wait_for_line(proc.stderr, "+ ")
            assert line == f"+ 127.0.0.1:{peer.getsockname()[1]} is the peer"
            proc.stdin.write(b"reply\n")
            proc.stdin.flush()
            assert peer.recvfrom(100) == (b"reply\n", ("127.0.0.1", port))
            other.sendto(b"intruder", ("127.0.0.1", port))  # not the peer: dropped
            peer.sendto(b"again", ("127.0.0.1", port))
            assert read_exactly(proc.stdout, 5) == b"again"
        close_stdin(proc)  # then replies are awaited for --timeout, and it ends
        out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert out == b""


def test_udp_keep_open_takes_every_sender_and_answers_the_latest() -> None:
    with listener(["listen", "-u", "-k", "0"]) as (proc, port, _), _udp() as a, _udp() as b:
        assert proc.stdin is not None
        for sender, reply in ((a, b"to a\n"), (b, b"to b\n")):
            sender.sendto(b"ping", ("127.0.0.1", port))
            assert read_exactly(proc.stdout, 4) == b"ping"
            proc.stdin.write(reply)
            proc.stdin.flush()
            assert sender.recvfrom(100)[0] == reply
        _out, err = _interrupt(proc)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


# --- TLS ------------------------------------------------------------------------------------

_needs_a_certificate_maker = pytest.mark.skipif(
    shutil.which("openssl") is None and importlib.util.find_spec("cryptography") is None,
    reason="neither the openssl command nor the cryptography package",
)


def _printed_fingerprint(lines: list[str]) -> str:
    (line,) = [line for line in lines if "SHA-256 fingerprint" in line]
    return line.rpartition(" ")[2]


def _tls_client(port: int) -> ssl.SSLSocket:
    """A client that accepts any certificate: the test checks the fingerprint itself."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(_connect(port))


@_needs_a_certificate_maker
def test_tls_throwaway_certificate_says_where_it_came_from_and_its_fingerprint() -> None:
    x509 = pytest.importorskip("cryptography.x509")
    with listener(["listen", "--tls", "0"]) as (proc, port, lines):
        assert proc.stdin is not None
        maker = "the openssl command" if shutil.which("openssl") else "the cryptography package"
        assert any(f"made by {maker}" in line for line in lines), lines
        with _tls_client(port) as client:
            der = client.getpeercert(binary_form=True)
            assert der is not None
            proc.stdin.write(b"secret\n")
            close_stdin(proc)
            assert _recv_exactly(client, 7) == b"secret\n"
            client.sendall(b"thanks")
        out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert out == b"thanks"
    # What the listener printed is the certificate it presented.
    assert _printed_fingerprint(lines) == fingerprint(der)
    cert = x509.load_der_x509_certificate(der)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


@_needs_a_certificate_maker
def test_connect_pins_the_throwaway_certificate() -> None:
    with listener(["listen", "--tls", "0"]) as (proc, port, lines):
        thread, box = _communicate_in_background(proc, b"from the listener\n")
        pin = _printed_fingerprint(lines)
        client = run(
            ["connect", "--tls", "--pin", pin.lower().replace(":", ""), "127.0.0.1", str(port)],
            input=b"from the client\n",
        )
        thread.join(WAIT)
        out, err = box[0]
    assert client.returncode == 0, client.stderr
    assert client.stdout == b"from the listener\n"
    assert proc.returncode == 0, err
    assert out == b"from the client\n"


@_needs_a_certificate_maker
def test_a_wrong_pin_fails_before_sending_anything() -> None:
    with listener(["listen", "--tls", "0"]) as (proc, port, _):
        client = run(["connect", "--tls", "--pin", "AB" * 32, "127.0.0.1", str(port)], input=b"x")
        out, _ = proc.communicate(timeout=WAIT)
    assert client.returncode == 1
    err = client.stderr.decode()
    assert err.count("\n") == 1
    assert f"TLS certificate of 127.0.0.1:{port} does not match --pin: its SHA-256 is " in err
    assert out == b""  # nothing of stdin was sent to the wrong server


@_needs_a_certificate_maker
def test_keep_open_tls_a_failed_handshake_does_not_stop_the_listener() -> None:
    with listener(["listen", "-k", "--tls", "0"]) as (proc, port, lines):
        with _connect(port) as plain:
            plain.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not TLS
            line, _ = wait_for_line(proc.stderr, "netkit listen: ")
        assert line.startswith("netkit listen: TLS handshake with 127.0.0.1:")
        client = run(
            ["connect", "--tls", "--pin", _printed_fingerprint(lines), "127.0.0.1", str(port)],
            input=b"fine\n",
        )
        assert client.returncode == 0, client.stderr
        wait_for_line(proc.stderr, "- 127.0.0.1:")
        out, _err = _interrupt(proc)
    assert proc.returncode == 1  # the handshake failed
    assert out == b"fine\n"


def test_tls_with_the_users_certificate(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    cert, key, ca_file = (tmp_path / name for name in ("cert.pem", "key.pem", "ca.pem"))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    with listener(["listen", "--cert", str(cert), "--key", str(key), "0"]) as (proc, port, lines):
        assert lines == [f"listening on 127.0.0.1:{port}"]  # no throwaway certificate
        thread, box = _communicate_in_background(proc, b"hello\n")
        client = run(
            ["connect", "--tls", "--cafile", str(ca_file), "localhost", str(port)],
            input=b"hi\n",
        )
        thread.join(WAIT)
        out, err = box[0]
    assert client.returncode == 0, client.stderr
    assert client.stdout == b"hello\n"
    assert proc.returncode == 0, err
    assert out == b"hi\n"


# --- where the throwaway certificate comes from ------------------------------------------


def _presented(context: ssl.SSLContext) -> bytes:
    """The DER certificate a server with *context* presents in a handshake."""
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(WAIT)
    client_sock.settimeout(WAIT)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with context.wrap_socket(server_sock, server_side=True):
                pass
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    with client_context.wrap_socket(client_sock) as client:
        der = client.getpeercert(binary_form=True)
    thread.join(WAIT)
    assert not errors, errors
    assert der is not None
    return der


def test_names_for_a_host() -> None:
    assert names_for("127.0.0.1") == ("localhost", "127.0.0.1", "::1")
    assert names_for("::") == ("localhost", "127.0.0.1", "::1")
    assert names_for("0.0.0.0") == ("localhost", "127.0.0.1", "::1")
    assert names_for("192.0.2.7") == ("localhost", "127.0.0.1", "::1", "192.0.2.7")
    assert names_for("box.example") == ("localhost", "127.0.0.1", "::1", "box.example")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_the_openssl_command_makes_it() -> None:
    made = make(("localhost", "127.0.0.1", "::1", "192.0.2.7"))
    assert made.origin == f"the openssl command ({shutil.which('openssl')})"
    assert made.fingerprint == fingerprint(_presented(made.context))
    assert len(made.fingerprint) == 95


def test_the_cryptography_package_makes_it_without_openssl(tmp_path: Path) -> None:
    x509 = pytest.importorskip("cryptography.x509")
    made = make(("localhost", "::1", "box.example"), openssl=str(tmp_path / "openssl"))
    assert made.origin.startswith("the cryptography package (")
    der = _presented(made.context)
    assert made.fingerprint == fingerprint(der)
    cert = x509.load_der_x509_certificate(der)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "box.example"]


def test_neither_openssl_nor_cryptography_is_one_line_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)  # `import cryptography` fails
    with pytest.raises(Failed) as caught:
        make(names_for("127.0.0.1"), openssl=str(tmp_path / "openssl"))
    text = str(caught.value)
    assert "\n" not in text
    assert "no cryptography package" in text
    assert "install the openssl command or 'netkit-sockets[tls-cli]'" in text
    assert "give --cert and --key" in text


def test_a_failing_openssl_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "openssl"
    fake.write_text("#!/bin/sh\necho 'req: something went wrong' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(Failed, match=r"openssl failed: req: something went wrong"):
        make(names_for("127.0.0.1"), openssl=str(fake))


def test_the_command_without_any_maker_exits_1_with_one_line(tmp_path: Path) -> None:
    # No openssl on PATH, and the cryptography package hidden from the import system.
    wrapper = [
        sys.executable,
        "-c",
        "import sys; sys.modules['cryptography'] = None; "
        "from netkit.cli import main; sys.exit(main(sys.argv[1:]))",
    ]
    env = dict(os.environ, PATH=str(tmp_path), NO_COLOR="1")
    proc = start(["listen", "--tls", "0"], argv=wrapper, env=env)
    try:
        out, err = proc.communicate(b"", timeout=WAIT)
    finally:
        stop(proc)
    assert proc.returncode == 1
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("netkit listen: --tls without --cert needs a throwaway")


# --- misuse: exit status 2, one line --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "k.pem", "0"], "--key needs --cert"),
        (["-u", "--tls", "0"], "--tls cannot be used with --udp"),
        (["-u", "--cert", "c.pem", "0"], "--tls cannot be used with --udp"),
        (["--cert", "", "0"], "--cert needs a file name"),
        (["70000"], "port 70000 is out of range 0..65535"),
        (["127.0.0.1"], "port '127.0.0.1' is not 1 to 5 decimal digits"),  # HOST without PORT
        (["999.1.1.1", "0"], "host '999.1.1.1' is neither"),
        (["--timeout", "0", "0"], "seconds must be > 0"),
    ],
)
def test_listen_misuse(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["listen", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pin", "AB" * 32], "--pin needs --tls"),
        (["--tls", "--pin", "AB" * 32, "--cafile", "ca.pem"], "--pin and --cafile cannot"),
        (["--udp", "--pin", "AB" * 32], "--tls cannot be used with --udp"),
        (["--tls", "--pin", "AB" * 31], "expected a SHA-256 fingerprint"),
        (["--tls", "--pin", "ZZ" * 32], "expected a SHA-256 fingerprint"),
    ],
)
def test_pin_misuse(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["connect", *args, "127.0.0.1", "443"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["-l", "8080"], ["-l", "127.0.0.1", "8080"], ["--listen", "0"]])
def test_connect_l_points_to_listen(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["connect", *args]) == 2
    err = capsys.readouterr().err
    assert err == "netkit connect: error: to listen (ncat's -l), run 'netkit listen [HOST] PORT'\n"


def test_listen_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["listen", "--help"]) == 0
    out = capsys.readouterr().out
    assert "example:" in out
    assert "netkit listen" in out
    assert "--keep-open" in out
