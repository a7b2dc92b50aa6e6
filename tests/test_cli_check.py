"""Tests for ``netkit check``: in-process through netkit.cli.main and as a subprocess."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from netkit.cli import main
from netkit.cli.check import MAX_LINE, check_line

Runner = Callable[..., tuple[int, list[str], str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    """Run ``netkit check ARGV`` in-process; return (status, stdout lines, stderr)."""

    def runner(*argv: str, stdin: bytes | None = None) -> tuple[int, list[str], str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        status = main(["check", *argv])
        out, err = capsys.readouterr()
        return status, out.splitlines(), err

    return runner


def test_readme_example(run: Runner) -> None:
    status, lines, err = run("::1", "127.0.0.1", "not-an-ip")
    assert status == 1
    assert lines == [
        "'::1' is valid IPv6: ::1 (loopback)",
        "'127.0.0.1' is valid IPv4: 127.0.0.1 (loopback)",
        "'not-an-ip' is invalid: not an IPv4 or IPv6 address",
    ]
    assert err == ""


def test_all_valid_exits_zero(run: Runner) -> None:
    status, lines, _ = run("2001:DB8::0:1", "8.8.8.8", "::ffff:169.254.169.254")
    assert status == 0
    assert lines == [
        "'2001:DB8::0:1' is valid IPv6: 2001:db8::1 (documentation)",
        "'8.8.8.8' is valid IPv4: 8.8.8.8 (global)",
        "'::ffff:169.254.169.254' is valid IPv6: ::ffff:169.254.169.254 (link-local)",
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("010.8.8.8", "'010.8.8.8' is invalid: IPv4 part '010' has a leading zero"),
        ("1.2.3.4\n", "'1.2.3.4\\n' is invalid: contains whitespace or a control character '\\n'"),
        ("\uff11.2.3.4", "'\\uff11.2.3.4' is invalid: non-ASCII character '\\uff11'"),
        ("fe80::1%eth0", "'fe80::1%eth0' is invalid: zone ('%...') not allowed here (use --zone)"),
        ("127.1", "'127.1' is invalid: an IPv4 address has 4 dotted parts, this has 2"),
    ],
)
def test_invalid_lines_escape_the_input(text: str, line: str) -> None:
    assert check_line(text) == (False, line)


def test_long_input_is_shown_bounded() -> None:
    ok, line = check_line("9" * 100_000)
    assert not ok
    assert len(line) < 300
    assert "(100000 chars)" in line


def test_zone_flag(run: Runner) -> None:
    status, lines, _ = run("--zone", "FE80::1%eth0", "fe80::1%")
    assert status == 1
    assert lines == [
        "'FE80::1%eth0' is valid IPv6: fe80::1%eth0 (link-local)",
        "'fe80::1%' is invalid: empty zone after '%'",
    ]


def test_global_flag(run: Runner) -> None:
    status, lines, _ = run("--global", "8.8.8.8", "2606:4700::1111")
    assert status == 0
    assert lines[1] == "'2606:4700::1111' is valid IPv6: 2606:4700::1111 (global)"
    status, lines, _ = run("--global", "8.8.8.8", "::ffff:127.0.0.1", "100.64.0.1")
    assert status == 1
    assert lines[1:] == [
        "'::ffff:127.0.0.1' is not global: ::ffff:127.0.0.1 (loopback)",
        "'100.64.0.1' is not global: 100.64.0.1 (shared)",
    ]


def test_endpoint_flag(run: Runner) -> None:
    status, lines, _ = run(
        "--endpoint",
        "--default-port",
        "443",
        "[2001:DB8::1]:80",
        "Example.com",
        "::1",
        "127.1:80",
        "host:8_0",
        "[fe80::1%eth0]:1",
    )
    assert status == 1
    assert lines == [
        "'[2001:DB8::1]:80' is a valid endpoint: [2001:db8::1]:80 (IPv6, documentation)",
        "'Example.com' is a valid endpoint: example.com:443 (hostname, not resolved)",
        "'::1' is a valid endpoint: [::1]:443 (IPv6, loopback)",
        "'127.1:80' is invalid: numeric last label: resolvers would read this name as an"
        " IPv4 address",
        "'host:8_0' is invalid: port '8_0' is not 1 to 5 decimal digits",
        "'[fe80::1%eth0]:1' is invalid: zone ('%...') not allowed here (use --zone)",
    ]


def test_endpoint_global_flag(run: Runner) -> None:
    status, lines, _ = run("--endpoint", "--global", "8.8.8.8:53", "example.com:1")
    assert status == 1
    assert lines == [
        "'8.8.8.8:53' is a valid endpoint: 8.8.8.8:53 (IPv4, global)",
        "'example.com:1' is not known to be global: example.com:1 (hostname, not resolved)",
    ]


def test_endpoint_without_port_or_default(run: Runner) -> None:
    status, lines, _ = run("--endpoint", "localhost")
    assert status == 1
    assert lines == ["'localhost' is invalid: no port given and no default port"]


def test_stdin(run: Runner) -> None:
    data = b"::1\r\n\n 10.0.0.1\nbad\xff\n1.2.3.4"
    status, lines, _ = run(stdin=data)
    assert status == 1
    assert lines == [
        "'::1' is valid IPv6: ::1 (loopback)",
        "' 10.0.0.1' is invalid: contains whitespace or a control character ' '",
        "'bad\\udcff' is invalid: non-ASCII character '\\udcff'",
        "'1.2.3.4' is valid IPv4: 1.2.3.4 (global)",
    ]


def test_stdin_dash_between_arguments(run: Runner) -> None:
    status, lines, _ = run("::1", "-", "127.0.0.1", stdin=b"8.8.8.8\n")
    assert status == 0
    assert [line.split()[0] for line in lines] == ["'::1'", "'8.8.8.8'", "'127.0.0.1'"]


def test_stdin_over_long_line_is_reported_not_buffered(
    run: Runner,
) -> None:
    data = b"1" * (MAX_LINE * 3) + b"\n::1\n"
    status, lines, _ = run(stdin=data)
    assert status == 1
    assert len(lines) == 2
    assert f"({MAX_LINE} chars)" in lines[0]
    assert lines[1] == "'::1' is valid IPv6: ::1 (loopback)"


def test_empty_stdin_is_success(run: Runner) -> None:
    status, lines, _ = run(stdin=b"")
    assert status == 0
    assert lines == []


def test_misuse_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check", "--default-port", "80", "::1"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["check", "--endpoint", "--default-port", "99999", "h"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["check", "--no-such-flag"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--default-port only applies with --endpoint" in err


def _netkit(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "netkit", "check", *argv],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_subprocess_readme_example() -> None:
    proc = _netkit("::1", "127.0.0.1", "not-an-ip")
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == [
        "'::1' is valid IPv6: ::1 (loopback)",
        "'127.0.0.1' is valid IPv4: 127.0.0.1 (loopback)",
        "'not-an-ip' is invalid: not an IPv4 or IPv6 address",
    ]
    assert proc.stderr == b""


def test_subprocess_stdin_and_exit_codes() -> None:
    proc = _netkit(stdin=b"127.0.0.1\n::ffff:1.2.3.4\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines()[1] == (
        "'::ffff:1.2.3.4' is valid IPv6: ::ffff:1.2.3.4 (global)"
    )
    proc = _netkit("--endpoint", "--default-port", "x")
    assert proc.returncode == 2
    assert proc.stderr.endswith(b"--default-port: port 'x' is not 1 to 5 decimal digits\n")


def test_subprocess_help_has_an_example() -> None:
    proc = _netkit("--help")
    assert proc.returncode == 0
    assert b"netkit check ::1 127.0.0.1 not-an-ip" in proc.stdout


def test_subprocess_reader_going_away_is_quiet(tmp_path: Path) -> None:
    listing = tmp_path / "addresses.txt"
    listing.write_text("8.8.8.8\n" * 100_000)  # far more output than a pipe buffer holds
    with listing.open("rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "netkit", "check"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # like `| head -1`
        try:
            status = proc.wait(timeout=30)
        finally:
            proc.kill()
        err = proc.stderr.read()
        proc.stderr.close()
    assert first == b"'8.8.8.8' is valid IPv4: 8.8.8.8 (global)\n"
    assert status == 1
    assert err == b""
