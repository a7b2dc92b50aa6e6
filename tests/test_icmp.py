"""ping() in both faces, over 127.0.0.1 and ::1 only: the raw socket (root here), an
unprivileged process refused with the sysctl named, the datagram ("ping") socket in a
network namespace of the test's own, errors and descriptors, and ``netkit ping``."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import netkit
import netkit.aio
from _cli_util import WAIT, run
from _unix_util import Face, face, open_sockets
from netkit import cli
from netkit._sockets import icmp as setup
from netkit.errors import AddressError, LookupFailed, PingNotPermitted
from netkit.icmp import PingReply, PingReport
from netkit.testing import fake_resolver

__all__ = ["face"]  # fixture, imported for pytest

NOBODY = 65534
LOOPBACKS = ["127.0.0.1", "::1"]


def _ping(face: Face, host: str, **kwargs: Any) -> PingReport:
    space: Any = netkit.aio if face.aio else netkit
    report: PingReport = face.run(space.ping(host, **kwargs))
    return report


def _group_range() -> tuple[int, int] | None:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range", encoding="ascii") as file:
            low, high = file.read().split()
    except (OSError, ValueError):
        return None
    return int(low), int(high)


@pytest.fixture
def no_leak() -> Iterator[None]:
    before = open_sockets()
    yield
    assert open_sockets() - before == set(), "a socket descriptor leaked"


# -- both faces, in this (root) process -------------------------------------------------


@pytest.mark.usefixtures("no_leak")
@pytest.mark.parametrize("host", LOOPBACKS)
def test_ping_loopback(face: Face, host: str) -> None:
    replies: list[PingReply] = []
    report = _ping(face, host, count=3, interval=0.01, timeout=5.0, on_reply=replies.append)
    assert (report.address, report.sent, report.received) == (host, 3, 3)
    assert len(report.rtts) == 3
    assert all(0 < rtt < 5.0 for rtt in report.rtts)
    assert [r.sequence for r in replies] == [1, 2, 3]
    assert all(r.size == 64 and r.address == host for r in replies)
    assert report.loss == 0.0


@pytest.mark.parametrize("host", LOOPBACKS)
def test_payload_sizes(face: Face, host: str) -> None:
    for size in (0, 1, 7, 8, 1000):
        replies: list[PingReply] = []
        report = _ping(face, host, size=size, timeout=5.0, on_reply=replies.append)
        assert report.received == 1, size
        assert replies[0].size == 8 + size


def test_raw_socket_where_privileged() -> None:
    groups = _group_range()
    if os.geteuid() != 0 or (groups is not None and groups[0] <= os.getgid() <= groups[1]):
        pytest.skip("needs root with its group outside net.ipv4.ping_group_range")
    for family in (socket.AF_INET, socket.AF_INET6):
        opened = setup.open_socket(family)
        with opened.sock:
            assert opened.raw
            assert opened.sock.type == socket.SOCK_RAW
            assert not opened.sock.getblocking()


@pytest.mark.usefixtures("no_leak")
def test_names_go_through_the_resolver_hook(face: Face) -> None:
    with fake_resolver({"pinghost.test": ["::1", "127.0.0.1"]}) as resolver:
        report = _ping(face, "pinghost.test", family=socket.AF_INET, timeout=5.0)
        assert report.address == "127.0.0.1"
        assert report.received == 1
        assert _ping(face, "pinghost.test", family=socket.AF_INET6, timeout=5.0).address == "::1"
        assert "pinghost.test" in " ".join(resolver.asked)
        with pytest.raises(LookupFailed, match=r"nowhere\.test"):
            _ping(face, "nowhere.test")


@pytest.mark.usefixtures("no_leak")
def test_mapped_address_is_pinged_over_ipv4(face: Face) -> None:
    assert _ping(face, "::ffff:127.0.0.1", timeout=5.0).address == "127.0.0.1"


def _outcome(face: Face, host: object, **kwargs: Any) -> tuple[type[BaseException], str]:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - compared across faces
        _ping(face, host, **kwargs)  # type: ignore[arg-type]
    return type(caught.value), str(caught.value)


_BAD = [
    ("127.0.0.1", {"count": 0}, ValueError),
    ("127.0.0.1", {"timeout": -1}, ValueError),
    ("127.0.0.1", {"interval": 0.0001}, ValueError),
    ("127.0.0.1", {"size": "56"}, TypeError),
    ("127.0.0.1", {"size": 65508}, ValueError),  # over IPv4's limit, fine for IPv6
    ("::1", {"family": socket.AF_INET}, AddressError),
    ("127.0.0.1", {"family": 99}, ValueError),
    ("", {}, AddressError),
    ("127.1", {}, AddressError),
    (b"127.0.0.1", {}, TypeError),
    ("nowhere.invalid", {}, LookupFailed),
    ("pinghost.test", {"count": -1}, ValueError),  # arguments are checked before a lookup
]


@pytest.mark.usefixtures("no_leak")
@pytest.mark.parametrize(("host", "kwargs", "error"), _BAD)
def test_bad_input_same_error_in_both_faces(
    face: Face, host: object, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    sync = Face("sync", None)
    with fake_resolver({}):
        got = _outcome(face, host, **kwargs)
        assert got == _outcome(sync, host, **kwargs)
    assert issubclass(got[0], error), got


@pytest.mark.usefixtures("no_leak")
def test_not_permitted_when_neither_socket_opens(
    face: Face, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(family: int, kind: int) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(setup, "_open", refuse)
    kind, message = _outcome(face, "127.0.0.1")
    assert kind is PingNotPermitted
    assert "net.ipv4.ping_group_range" in message


@pytest.mark.usefixtures("no_leak")
def test_a_failing_callback_propagates_and_leaks_nothing(face: Face) -> None:
    def fail(reply: PingReply) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        _ping(face, "127.0.0.1", on_reply=fail, timeout=5.0)


@pytest.mark.usefixtures("no_leak")
def test_aio_cancel_closes_the_socket() -> None:
    async def scenario() -> None:
        with pytest.raises(asyncio.TimeoutError):
            # The second request is due in 30 s: the call is waiting when cancelled.
            await asyncio.wait_for(netkit.aio.ping("127.0.0.1", count=2, interval=30), 0.3)

    asyncio.run(scenario())


# -- other processes: unprivileged, and a namespace with its own sysctl -----------------

_CHILD = """
import asyncio, json, socket, sys
import netkit, netkit.aio
from netkit._sockets import icmp as setup

def outcome(call):
    try:
        report = call()
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc),
                "permission": isinstance(exc, PermissionError),
                "netkit": isinstance(exc, netkit.NetkitError)}
    return {"report": list(report)}

results = {}
for host in ("127.0.0.1", "::1"):
    kw = dict(count=2, interval=0.01, timeout=float(sys.argv[1]))
    results[host] = [
        outcome(lambda: netkit.ping(host, **kw)),
        outcome(lambda: asyncio.run(netkit.aio.ping(host, **kw))),
    ]
try:
    opened = setup.open_socket(socket.AF_INET)
except Exception:
    results["raw"] = None
else:
    results["raw"] = opened.raw
    opened.sock.close()
print(json.dumps(results))
"""


# setpriv(1) changes user and group, then runs the program (subprocess's user= changes
# them first and cannot exec this interpreter, whose path only root may traverse here).
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@functools.cache
def _as_nobody_unavailable() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "dropping to another user needs root"
    if shutil.which("setpriv") is None:
        return "needs setpriv(1) to drop to nobody"
    # nobody may not be able to load this interpreter: pyenv's builds under /root find
    # their libpython and standard library only through paths that only root may read.
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import netkit"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd="/",
        check=False,
    )
    if probe.returncode != 0:
        return f"this interpreter cannot run as nobody: {probe.stderr.strip()[-200:]}"
    return None


@pytest.mark.skipif(_as_nobody_unavailable() is not None, reason=str(_as_nobody_unavailable()))
def test_unprivileged_process_gets_the_sysctl_named() -> None:
    done = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", _CHILD, "2.0"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd="/",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    groups = _group_range()
    allowed = groups is not None and groups[0] <= NOBODY <= groups[1]
    for host in LOOPBACKS:
        for result in results[host]:  # the sync face, then the aio face
            if allowed:  # pragma: no cover - this machine's range is "1 0"
                assert result["report"][1:3] == [2, 2]
                continue
            assert result["error"] == "PingNotPermitted"
            assert result["permission"]
            assert result["netkit"]
            assert "net.ipv4.ping_group_range" in result["message"]
            assert f'sysctl -w net.ipv4.ping_group_range="{NOBODY} {NOBODY}"' in result["message"]


# Run as root in a new network namespace: lo up, the namespace's own ping_group_range
# set to allow nobody's group (and, optionally, echo replies switched off), then the
# child above as nobody. Nothing of this reaches the test machine's namespace.
_NETNS = """
import os, subprocess, sys
def write(path, value):
    with open(path, "w") as file:
        file.write(value)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
write("/proc/sys/net/ipv4/ping_group_range", "%d %d" % (NOBODY, NOBODY))
if sys.argv[2] == "silent":
    write("/proc/sys/net/ipv4/icmp_echo_ignore_all", "1")
    write("/proc/sys/net/ipv6/icmp/echo_ignore_all", "1")
os.execvp("setpriv", [*AS_NOBODY, sys.executable, "-c", CHILD, sys.argv[1]])
"""


def _netns_unavailable() -> str | None:
    if _as_nobody_unavailable():
        return _as_nobody_unavailable()
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare(1) and ip(8)"
    probe = subprocess.run(
        ["unshare", "-n", "--", "sh", "-c", "echo '1 0' > /proc/sys/net/ipv4/ping_group_range"],
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot set ping_group_range in a new network namespace: {probe.stderr!r}"
    return None


def _in_netns(timeout: str, mode: str) -> dict[str, Any]:
    reason = _netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    script = f"NOBODY = {NOBODY}\nAS_NOBODY = {AS_NOBODY!r}\nCHILD = {_CHILD!r}\n" + _NETNS
    done = subprocess.run(
        ["unshare", "-n", "--", sys.executable, "-c", script, timeout, mode],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd="/",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.netns
def test_datagram_socket_for_an_allowed_group() -> None:
    results = _in_netns("2.0", "echo")
    assert results["raw"] is False  # nobody cannot open a raw socket: the datagram one
    for host in LOOPBACKS:
        for result in results[host]:
            address, sent, received, rtts = result["report"]
            assert (address, sent, received, len(rtts)) == (host, 2, 2, 2)


@pytest.mark.netns
def test_no_reply_is_counted_as_lost() -> None:
    results = _in_netns("0.2", "silent")
    for host in LOOPBACKS:
        for result in results[host]:
            assert result["report"] == [host, 2, 0, []]


# -- netkit ping ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", LOOPBACKS)
def test_cli_ping(host: str) -> None:
    done = run(["ping", "-c", "2", "-i", "0.01", "-W", "5", host])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0] == f"PING {host} ({host}): 56 data bytes"
    for number, line in enumerate(lines[1:3], 1):
        assert line.startswith(f"64 bytes from {host}: icmp_seq={number} time=")
        assert line.endswith(" ms")
    assert lines[3:6] == [
        "",
        f"--- {host} ping statistics ---",
        "2 packets transmitted, 2 received, 0% packet loss",
    ]
    assert lines[6].startswith("rtt min/avg/max = ")
    assert done.stderr == b""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-c", "0", "127.0.0.1"], "count must be 1..65535"),
        (["-i", "0.001", "127.0.0.1"], "interval must be >= 0.002"),
        (["-s", "70000", "127.0.0.1"], "size must be 0..65527"),
        (["-s", "65520", "127.0.0.1"], "to ping IPv4"),
        (["-W", "0", "127.0.0.1"], "seconds must be > 0"),
        (["-4", "::1"], "over IPv4"),
        (["-4", "-6", "::1"], "not allowed with"),
        (["127.1"], "legacy IPv4 shorthand"),
        ([], "required"),
    ],
)
def test_cli_misuse_is_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        status: object = cli.main(["ping", *argv])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_cli_no_reply_is_status_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("netkit.cli.ping.ping", lambda host, **kwargs: PingReport(host, 2, 0, ()))
    assert cli.main(["ping", "-c", "2", "127.0.0.1"]) == 1
    out = capsys.readouterr().out
    assert "2 packets transmitted, 0 received, 100% packet loss" in out
    assert "rtt" not in out


def test_cli_unknown_name_is_status_1() -> None:
    done = run(["ping", "nowhere.invalid"])
    assert done.returncode == 1
    assert b"nowhere.invalid" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.skipif(_as_nobody_unavailable() is not None, reason=str(_as_nobody_unavailable()))
def test_cli_unprivileged_names_the_sysctl() -> None:
    groups = _group_range()
    if groups is not None and groups[0] <= NOBODY <= groups[1]:
        pytest.skip("nobody's group may open ICMP datagram sockets on this machine")
    done = subprocess.run(
        [*AS_NOBODY, sys.executable, "-m", "netkit", "ping", "-c", "1", "127.0.0.1"],
        capture_output=True,
        timeout=WAIT,
        cwd="/",
        check=False,
    )
    assert done.returncode == 1
    assert b"net.ipv4.ping_group_range" in done.stderr
    assert b"Traceback" not in done.stderr
