"""The hermetic guard (tests/_hermetic.py, installed by conftest.py) blocks traffic that
could leave this machine *before* the system call, and lets loopback through.

The blocked targets are documentation addresses (192.0.2.0/24, 2001:db8::/32) and names
under the reserved .example domain. On some machines 192.0.2.1 is a real neighbour (the
gateway), so every test here proves the system call never ran: a socket that really
connected or sent would have been given a local port by the kernel.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import _hermetic
from _hermetic import NetworkAccessBlocked, expect_blocked

OFF_MACHINE_V4 = "192.0.2.1"
OFF_MACHINE_V6 = "2001:db8::1"
UNKNOWN_NAME = "netkit-hermetic-check.example"


def _confined(family: int, kind: int) -> socket.socket:
    """A socket that cannot reach past this machine even if the guard failed: bound to
    the loopback device (SO_BINDTODEVICE, root only; skipped otherwise)."""
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
    except (OSError, AttributeError):
        sock.close()
        pytest.skip("cannot confine a socket to the loopback device (needs root on Linux)")
    return sock


def _never_bound(sock: socket.socket) -> None:
    # connect() and sendto() bind an unbound socket to an ephemeral port: port 0 means
    # the system call was never made.
    assert sock.getsockname()[1] == 0


def _blocked(call: Callable[[], object], what: str) -> str:
    with expect_blocked() as caught, pytest.raises(NetworkAccessBlocked, match=what):
        call()
    assert len(caught) == 1
    return caught[0]


@pytest.mark.parametrize("blocking", [True, False])
def test_a_tcp_connect_off_the_machine_is_blocked_before_the_syscall(blocking: bool) -> None:
    with _confined(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(blocking)
        message = _blocked(lambda: sock.connect((OFF_MACHINE_V4, 9)), "not a loopback")
        assert "socket.connect" in message
        assert OFF_MACHINE_V4 in message
        _blocked(lambda: sock.connect_ex((OFF_MACHINE_V4, 9)), "not a loopback")
        _never_bound(sock)
        with pytest.raises(OSError, match="not connected"):
            sock.getpeername()


def test_udp_connect_sendto_and_sendmsg_are_blocked_before_the_syscall() -> None:
    with _confined(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _blocked(lambda: sock.connect((OFF_MACHINE_V4, 53)), "not a loopback")
        _blocked(lambda: sock.sendto(b"x", (OFF_MACHINE_V4, 53)), "socket.sendto")
        _blocked(lambda: sock.sendmsg([b"x"], [], 0, (OFF_MACHINE_V4, 53)), "socket.sendmsg")
        _blocked(lambda: sock.sendto(b"x", ("<broadcast>", 53)), "broadcast")
        _blocked(lambda: sock.sendto(b"x", ("255.255.255.255", 53)), "not a loopback")
        _never_bound(sock)
        with pytest.raises(OSError, match="not connected"):
            sock.getpeername()  # a UDP connect that ran would have set the peer


def test_ipv6_and_ipv4_mapped_targets_are_blocked() -> None:
    with _confined(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        _blocked(lambda: sock.sendto(b"x", (OFF_MACHINE_V6, 53, 0, 0)), "not a loopback")
        mapped = f"::ffff:{OFF_MACHINE_V4}"
        _blocked(lambda: sock.connect((mapped, 53)), "not a loopback")
        _never_bound(sock)


def test_a_name_in_a_socket_address_must_be_in_the_hosts_file() -> None:
    # socket.connect(("name", port)) resolves the name inside the call *before* its
    # audit event, so the guard can only refuse the connect after that lookup: checked
    # here without making the call (netkit never hands names to socket calls).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        problem = _hermetic._peer_problem(sock, (UNKNOWN_NAME, 53))
        assert problem is not None
        assert "would ask DNS" in problem
        assert _hermetic._peer_problem(sock, ("localhost", 53)) is None


def test_resolver_calls_beyond_the_hosts_file_are_blocked() -> None:
    # The audit events the socket module raises before each lookup, raised here
    # directly: the guard's verdict is tested without any chance of a real query.
    _blocked(
        lambda: sys.audit("socket.getaddrinfo", UNKNOWN_NAME, 80, 0, 0, 0, 0),
        "socket.getaddrinfo",
    )
    _blocked(lambda: sys.audit("socket.gethostbyname", UNKNOWN_NAME), "socket.gethostbyname")
    _blocked(
        lambda: sys.audit("socket.gethostbyaddr", OFF_MACHINE_V4),
        "reverse lookup would ask DNS",
    )
    _blocked(lambda: sys.audit("socket.gethostbyaddr", UNKNOWN_NAME), "socket.gethostbyaddr")
    _blocked(lambda: sys.audit("socket.getnameinfo", (OFF_MACHINE_V6, 80)), "socket.getnameinfo")


def test_a_hosts_file_name_passes_only_for_the_families_it_lists() -> None:
    # glibc asks DNS for AAAA when the hosts file has only an IPv4 address for a name.
    names = _hermetic._HOST_NAMES
    v4_only = next((n for n, versions in names.items() if versions == {4}), None)
    if v4_only is None:
        pytest.skip("no IPv4-only name in the hosts file")
    assert socket.getaddrinfo(v4_only, 80, socket.AF_INET)
    assert socket.getaddrinfo(v4_only, 80)
    _blocked(lambda: socket.getaddrinfo(v4_only, 80, socket.AF_INET6), "family")


def test_netkit_lookups_are_blocked_too() -> None:
    from netkit import LookupFailed, TcpClient, resolve

    # LookupFailed is what netkit would make of a failed lookup; the guard's error is not
    # an OSError, so netkit lets it through instead.
    assert not issubclass(NetworkAccessBlocked, OSError)
    _blocked(lambda: resolve(UNKNOWN_NAME, 80), "socket.getaddrinfo")
    _blocked(lambda: TcpClient.connect(UNKNOWN_NAME, 80, timeout=5), "socket.getaddrinfo")
    with pytest.raises(LookupFailed):
        resolve("anything.invalid", 80)  # refused by netkit before any lookup


def test_loopback_and_local_sockets_pass() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        port = receiver.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"a", ("127.0.0.1", port))
            sender.sendto(b"c", ("127.0.0.1", port))
            sender.sendmsg([b"d"], [], 0, ("127.0.0.1", port))
            sender.connect(("127.0.0.1", port))
            sender.sendmsg([b"e"])  # connected: no address to check
        assert [receiver.recv(10) for _ in range(4)] == [b"a", b"c", b"d", b"e"]
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"unix")
        assert b.recv(10) == b"unix"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        assert tcp.connect_ex(("127.0.0.1", _closed_port())) != 0  # refused, not blocked
    assert socket.getaddrinfo("127.0.0.1", 80)
    assert socket.getaddrinfo(OFF_MACHINE_V4, 80)  # a literal is parsed, not looked up
    assert socket.getaddrinfo(None, 80, flags=socket.AI_PASSIVE)
    assert socket.gethostbyaddr("127.0.0.1")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_multicast_passes_only_when_it_cannot_leave() -> None:
    group = ("239.255.77.77", 9)
    with _confined(socket.AF_INET, socket.SOCK_DGRAM) as confined:
        _blocked(lambda: confined.sendto(b"x", group), "not a loopback")  # TTL 1, any device
        _never_bound(confined)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        sock.sendto(b"x", group)  # through the loopback interface
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
        sock.sendto(b"x", group)  # ip(7): TTL 0 is never sent beyond this host
    with _confined(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        _blocked(lambda: sock.sendto(b"x", ("ff02::1", 9, 0, 0)), "not a loopback")
        _never_bound(sock)


def test_the_switch_turns_the_hook_off() -> None:
    # Called directly with the switch off: nothing raised, nothing recorded (and no real
    # socket call is made, so nothing is sent either).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        args: tuple[Any, ...] = (sock, (OFF_MACHINE_V4, 9))
        with expect_blocked() as caught:
            _hermetic.ENABLED = False
            try:
                _hermetic._hook("socket.sendto", args)
            finally:
                _hermetic.ENABLED = True
        assert caught == []
        _blocked(lambda: _hermetic._hook("socket.sendto", args), "not a loopback")


def test_subprocesses_carry_the_guard(tmp_path: Path) -> None:
    # Its own log file, so that the violation made on purpose is not the suite's.
    log = tmp_path / "violations.log"
    code = (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        # confined to the loopback device: nothing could leave even without the guard
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'lo')\n"
        "try:\n"
        f"    s.sendto(b'x', ({OFF_MACHINE_V4!r}, 9))\n"
        "except AssertionError as exc:\n"
        "    print(type(exc).__name__, s.getsockname()[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=dict(os.environ, **{_hermetic.LOG_VARIABLE: str(log)}),
    )
    assert done.stdout == "NetworkAccessBlocked 0\n", done.stderr
    assert f"socket.sendto ('{OFF_MACHINE_V4}', 9) blocked" in log.read_text()
