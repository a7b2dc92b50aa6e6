"""One-line errors that name what failed: the address of a busy port, the file of a
missing or broken certificate or key; exit status 1 for a failed operation, 2 for
misuse, never a traceback nor a bare ``[Errno N]``. Ports are taken on 127.0.0.1 by the
test itself, so "busy" is certain.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from _cli_util import run
from netkit.cli._common import server_tls

IN_USE = os.strerror(errno.EADDRINUSE)


def _only_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text
    assert "[Errno" not in text
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def busy_tcp_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def busy_udp_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [["serve", "--port", "{port}"], ["listen", "{port}"], ["listen", "-k", "127.0.0.1", "{port}"]],
    ids=["serve", "listen", "listen-k"],
)
def test_busy_tcp_port_names_the_address(args: list[str], busy_tcp_port: int) -> None:
    result = run([arg.format(port=busy_tcp_port) for arg in args], input=b"")
    assert result.returncode == 1
    assert result.stdout == b""
    assert _only_line(result.stderr) == (
        f"netkit {args[0]}: cannot listen on 127.0.0.1:{busy_tcp_port}: {IN_USE}"
    )


@pytest.mark.parametrize(
    "args",
    [["udp", "listen", "--port", "{port}"], ["listen", "-u", "{port}"]],
    ids=["udp-listen", "listen-u"],
)
def test_busy_udp_port_names_the_address(args: list[str], busy_udp_port: int) -> None:
    result = run([arg.format(port=busy_udp_port) for arg in args], input=b"")
    assert result.returncode == 1
    assert _only_line(result.stderr) == (
        f"netkit {args[0]}: cannot listen on 127.0.0.1:{busy_udp_port}: {IN_USE}"
    )


@pytest.mark.parametrize(
    "args",
    [["serve", "--host", "127.1"], ["listen", "127.1", "0"], ["udp", "listen", "--host", "127.1"]],
)
def test_an_invalid_host_to_listen_on_is_misuse(args: list[str]) -> None:
    result = run(args, input=b"")
    assert result.returncode == 2
    assert "host '127.1'" in _only_line(result.stderr)


# --- certificate and key files ------------------------------------------------------------


@pytest.fixture
def pems(tmp_path: Path) -> dict[str, Path]:
    """A certificate, its key, and the key of another certificate (PEM files)."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ours, other = ca.issue_cert("localhost"), ca.issue_cert("localhost")
    files = {
        "cert": tmp_path / "cert.pem",
        "key": tmp_path / "key.pem",
        "other_key": tmp_path / "other-key.pem",
        "both": tmp_path / "both.pem",
        "text": tmp_path / "notes.txt",
    }
    ours.cert_chain_pems[0].write_to_path(str(files["cert"]))
    ours.private_key_pem.write_to_path(str(files["key"]))
    other.private_key_pem.write_to_path(str(files["other_key"]))
    ours.private_key_and_cert_chain_pem.write_to_path(str(files["both"]))
    files["text"].write_text("not a certificate\n")
    return files


# (serve's option names, listen's option names)
_OPTIONS = {"serve": ("--tls-cert", "--tls-key"), "listen": ("--cert", "--key")}


def _tls_run(command: str, cert: Path | str, key: Path | str | None) -> tuple[int, str]:
    cert_option, key_option = _OPTIONS[command]
    args = [command, cert_option, str(cert)]
    if key is not None:
        args += [key_option, str(key)]
    args += ["--port", "0"] if command == "serve" else ["0"]
    result = run(args, input=b"")
    return result.returncode, _only_line(result.stderr)


@pytest.mark.parametrize("command", ["serve", "listen"])
def test_a_missing_certificate_file_is_named(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    status, line = _tls_run(command, missing, None)
    assert status == 1
    option = _OPTIONS[command][0]
    assert line == f"netkit {command}: cannot read {option} '{missing}': No such file or directory"


@pytest.mark.parametrize("command", ["serve", "listen"])
def test_a_missing_key_file_is_named(command: str, pems: dict[str, Path]) -> None:
    missing = pems["cert"].with_name("missing-key.pem")
    status, line = _tls_run(command, pems["cert"], missing)
    assert status == 1
    assert f"cannot read {_OPTIONS[command][1]} '{missing}'" in line


@pytest.mark.parametrize("command", ["serve", "listen"])
def test_files_that_are_not_what_they_should_be(command: str, pems: dict[str, Path]) -> None:
    cert_option, key_option = _OPTIONS[command]
    status, line = _tls_run(command, pems["text"], pems["key"])
    assert (status, line) == (
        1,
        f"netkit {command}: {cert_option} '{pems['text']}' does not hold a PEM certificate",
    )
    status, line = _tls_run(command, pems["cert"], pems["text"])
    assert line.endswith(f"{key_option} '{pems['text']}' does not hold a PEM private key")
    status, line = _tls_run(command, pems["cert"], None)
    assert line.endswith(f"does not hold a private key (give {key_option})")
    status, line = _tls_run(command, pems["cert"], pems["other_key"])
    assert status == 1
    assert line.endswith(
        f"the private key in '{pems['other_key']}' does not match the certificate in "
        f"'{pems['cert']}'"
    )


def test_one_file_with_key_and_certificate_is_enough(pems: dict[str, Path]) -> None:
    context = server_tls(str(pems["both"]), None, cert_option="--cert", key_option="--key")
    assert isinstance(context, ssl.SSLContext)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--tls-cert", ""], "--tls-cert needs a file name"),
        (["serve", "--tls-key", "k.pem"], "--tls-key needs --tls-cert"),
        (["listen", "--cert", "", "0"], "--cert needs a file name"),
    ],
)
def test_empty_file_names_are_misuse(args: list[str], message: str) -> None:
    result = run(args, input=b"")
    assert result.returncode == 2
    assert message in _only_line(result.stderr)


def test_last_resort_messages_have_no_errno_prefix() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens there now: the ICMP "port unreachable" comes back as an error.
    result = run(["udp", "send", "127.0.0.1", str(port), "hi", "--reply", "--timeout", "5"])
    assert result.returncode == 1
    last = result.stderr.decode().splitlines()[-1]
    assert last == f"netkit udp: 127.0.0.1:{port} refused a datagram (ICMP port unreachable)"
