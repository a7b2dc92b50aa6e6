"""`netkit lookup`: in-process through netkit.cli.main, and as a real subprocess."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from _resolver_util import NoServicesFile
from netkit import lookup
from netkit.cli import main
from netkit.lookup import use_resolver
from netkit.testing import fake_resolver


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["lookup", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def run_exiting(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """For argparse paths (--help, bad options) that end in SystemExit."""
    with pytest.raises(SystemExit) as caught:
        main(["lookup", *argv])
    out, err = capsys.readouterr()
    code = caught.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_hostname(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "hostname") == (0, socket.gethostname() + "\n", "")


def test_resolve_plain(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "resolve", "127.0.0.1", "https")
    assert (status, err) == (0, "")
    assert out == "127.0.0.1:443\tIPv4\ttcp\n"


def test_resolve_json_udp_ipv6(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "resolve", "--json", "--udp", "-6", "::1", "53")
    assert status == 0
    assert json.loads(out) == [
        {
            "family": "IPv6",
            "type": "udp",
            "proto": 17,
            "canonname": "",
            "host": "::1",
            "port": 53,
            "endpoint": "[::1]:53",
        }
    ]


def test_resolve_localhost_family_filter(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "resolve", "-4", "localhost", "80")
    assert status == 0
    lines = out.splitlines()
    assert lines
    assert all(line.endswith("\tIPv4\ttcp") for line in lines)


def test_resolve_failure_is_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "resolve", "host.invalid")
    assert (status, out) == (1, "")
    assert (
        err == "netkit lookup: cannot resolve 'host.invalid': the .invalid domain never resolves\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["resolve", "127.1"], "legacy IPv4 shorthand"),
        (["resolve", "127.0.0.1", "99999"], "error: port 99999 is out of range 0..65535\n"),
        (["resolve", "127.0.0.1", "not a port"], "not a service name"),
        (["reverse", "127.1"], "legacy IPv4 shorthand"),
        (["address", "a b"], "whitespace"),
        (["service", "123456"], "error: port '123456' is not 1 to 5 decimal digits\n"),
        (["service", "bad name"], "not a service name"),
    ],
)
def test_bad_input_is_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.startswith("netkit lookup: error: ")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["resolve"],
        ["resolve", "-4", "-6", "localhost"],
        ["nosuchaction"],
        ["service"],
        ["reverse", "1.2.3.4", "extra"],
    ],
)
def test_argparse_misuse_is_status_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    status, out, err = run_exiting(capsys, *argv)
    assert (status, out) == (2, "")
    assert "error:" in err


def test_no_action_prints_help_and_is_misuse(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys)
    assert (status, out) == (2, "")
    assert "resolve" in err
    assert "reverse" in err


@pytest.mark.parametrize(
    ("action", "example"),
    [
        (None, "netkit lookup resolve localhost https"),
        ("hostname", "netkit lookup hostname"),
        ("resolve", "netkit lookup resolve localhost 8080"),
        ("address", "netkit lookup address localhost"),
        ("reverse", "netkit lookup reverse 127.0.0.1"),
        ("service", "netkit lookup service https"),
    ],
)
def test_help_has_an_example(
    capsys: pytest.CaptureFixture[str], action: str | None, example: str
) -> None:
    argv = ["--help"] if action is None else [action, "--help"]
    status, out, _ = run_exiting(capsys, *argv)
    assert status == 0
    assert example in out


def test_reverse(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "reverse", "127.0.0.1")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == lookup.reverse("127.0.0.1").name
    assert lines[-1].startswith("addresses: ")
    assert "127.0.0.1" in lines[-1]


def test_reverse_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "reverse", "--json", "127.0.0.1")
    assert status == 0
    data = json.loads(out)
    assert set(data) == {"name", "aliases", "addresses"}
    assert "127.0.0.1" in data["addresses"]


def test_reverse_failure_is_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_resolver():  # no name for anything, and no PTR query
        status, out, err = run(capsys, "reverse", "192.0.2.7")
    assert (status, out) == (1, "")
    assert err == "netkit lookup: no name for '192.0.2.7': Unknown host\n"


def test_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "address", "localhost") == (0, "127.0.0.1\n", "")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["service", "ssh"], "22"),
        (["service", "22"], "ssh"),
        (["service", "--udp", "53"], "domain"),
        (["service", "--udp", "domain"], "53"),
    ],
)
def test_service(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    assert run(capsys, *argv) == (0, expected + "\n", "")
    # The same answers from the built-in table alone.
    with use_resolver(NoServicesFile()):
        assert run(capsys, *argv) == (0, expected + "\n", "")


def test_unknown_service_is_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "service", "no-such-service")
    assert (status, out) == (1, "")
    assert "unknown tcp service 'no-such-service'" in err


def _subprocess(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netkit", "lookup", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_subprocess_success_and_failure_statuses() -> None:
    ok = _subprocess("resolve", "::1", "http")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "[::1]:80\tIPv6\ttcp\n", "")
    failed = _subprocess("resolve", "nowhere.invalid", "80")
    assert failed.returncode == 1
    assert "nowhere.invalid" in failed.stderr
    assert "Traceback" not in failed.stderr
    misuse = _subprocess("reverse", "not an ip")
    assert misuse.returncode == 2
    assert "whitespace" in misuse.stderr
    assert "Traceback" not in misuse.stderr


def test_subprocess_help() -> None:
    result = _subprocess("--help")
    assert result.returncode == 0
    assert "netkit lookup service ssh" in result.stdout
