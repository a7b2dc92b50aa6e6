"""The hermetic guard: no test may send traffic off this machine, or ask DNS.

An audit hook (PEP 578) sees every ``connect``, ``sendto`` and ``sendmsg`` of a Python
socket and every resolver call of the :mod:`socket` module *before* the system call,
and raises :class:`NetworkAccessBlocked` for anything that could leave the machine:

* connecting or sending to an address that is not loopback (127.0.0.0/8, ::1, also
  IPv4-mapped) or unspecified (0.0.0.0 and ::, which Linux delivers locally); AF_UNIX
  and netlink sockets are always local;
* multicast, unless it cannot leave: IPv4 with a TTL of 0 or sent through the loopback
  address, IPv6 interface-local (ff01::/16) or sent through ``lo``;
* resolving a name that the hosts file (``/etc/hosts``) does not answer for the family
  asked (glibc asks DNS for ``AAAA localhost`` when the file lists only 127.0.0.1), and
  reverse lookups of addresses it does not list; IP literals are parsed, never looked
  up, and pass;
* anything at all is allowed in a thread that entered another network namespace (see
  ``_udp_util.run_in_netns``): the namespaces the tests create have no way out.

An exception can be swallowed by the code under test (``except Exception``), so each
violation is also recorded, and tests/conftest.py fails the test that made it.
Subprocesses (the CLI tests, the examples) get the same guard through
``tests/_hermetic_site/sitecustomize.py`` on their ``PYTHONPATH``; they record
violations in the file named by :data:`LOG_VARIABLE`, which conftest.py also reads.

Audit hooks cannot be removed, so :data:`ENABLED` is the switch the hook consults.

Limits: uvloop's own transports and resolver (libuv, in C) raise no audit events; and a
host *name* inside a socket address (``sock.connect(("db", 80))``) is resolved by
CPython before the ``socket.connect`` event, so the guard refuses the connect only after
that lookup. netkit passes IP addresses to socket calls (it resolves names through
``netkit.lookup``, whose ``getaddrinfo`` the guard sees first), and does its own
``connect`` and ``sendto`` on Python sockets in both faces.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

#: The switch the hook consults (an audit hook cannot be removed once added).
ENABLED = True
#: Environment variable naming the file where subprocesses record their violations.
LOG_VARIABLE = "NETKIT_TEST_HERMETIC_LOG"
HOSTS_FILE = "/etc/hosts"

_PEER_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_EVENTS = _PEER_EVENTS | frozenset(
    {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
)
_LOCAL_FAMILIES = frozenset(
    f for f in (getattr(socket, "AF_UNIX", None), getattr(socket, "AF_NETLINK", None)) if f
)
_INET = (socket.AF_INET, socket.AF_INET6)

_violations: list[str] = []
_lock = threading.Lock()
_installed = False
_child = False  # True in a subprocess: violations also go to the log file


class NetworkAccessBlocked(AssertionError):
    """A test tried to reach, or resolve through, something beyond this machine."""


def _read_hosts(path: str) -> tuple[dict[str, set[int]], frozenset[str]]:
    """Names in the hosts file with the IP versions they have, and the addresses."""
    names: dict[str, set[int]] = {}
    addresses: set[str] = set()
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            ip = ipaddress.ip_address(fields[0].split("%", 1)[0])
        except ValueError:
            continue
        addresses.add(str(ip))
        for name in fields[1:]:
            names.setdefault(name.lower(), set()).add(ip.version)
    return names, frozenset(addresses)


_HOST_NAMES, _HOST_ADDRESSES = _read_hosts(HOSTS_FILE)


def _namespace() -> str | None:
    try:
        return os.readlink("/proc/thread-self/ns/net")
    except OSError:
        return None


_HOME_NAMESPACE = _namespace()


def _in_private_namespace() -> bool:
    """True in a thread that entered a network namespace other than the process's own."""
    return _HOME_NAMESPACE is not None and _namespace() not in (None, _HOME_NAMESPACE)


@functools.lru_cache(maxsize=4096)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_loopback or ip.is_unspecified


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value if isinstance(value, str) else None


def _hosts_answer(name: str, family: int) -> bool:
    """Whether the hosts file answers *name* for *family* (then glibc asks no DNS)."""
    versions = _HOST_NAMES.get(name.lower())
    if not versions:
        return False
    if family == socket.AF_INET:
        return 4 in versions
    if family == socket.AF_INET6:
        return 6 in versions
    return True


def _multicast_stays_here(sock: Any, ip: Any, sockaddr: tuple[Any, ...]) -> bool:
    if ip.version == 4:
        try:
            if sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0:
                return True  # ip(7): TTL 0 multicast is never sent beyond this host
            via = sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
        except OSError:
            return False
        return ipaddress.IPv4Address(via).is_loopback
    if ip in ipaddress.IPv6Network("ff01::/16"):  # interface-local: loopback only
        return True
    try:
        lo = socket.if_nametoindex("lo")
        via = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF)
    except OSError:
        return False
    scope = sockaddr[3] if len(sockaddr) == 4 else 0
    return via == lo or scope == lo


def _peer_problem(sock: Any, address: Any) -> str | None:
    """Why sending to *address* from *sock* may leave the machine, or None."""
    family = getattr(sock, "family", None)
    if family in _LOCAL_FAMILIES:
        return None
    if family not in _INET:
        return f"a socket of family {family!r} is not allowed in tests"
    if address is None:  # sendmsg on a connected socket: its connect was checked
        return None
    if not isinstance(address, tuple) or len(address) < 2:
        return None  # the call itself will refuse it
    host = _text(address[0])
    if host is None:
        return None
    if host == "":  # INADDR_ANY: this machine
        return None
    ip = _ip(host)
    if ip is None:
        if host == "<broadcast>":
            return "broadcast beyond loopback"
        # socket.connect(("name", port)) resolves the name itself (no audit event).
        if not _hosts_answer(host, family):
            return f"{host!r} is not answered by {HOSTS_FILE}, so it would ask DNS"
        return None  # a hosts-file name: its address was checked when listed
    if _is_local(ip):
        return None
    if ip.is_multicast and _multicast_stays_here(sock, ip, address):
        return None
    return f"{ip} is not a loopback address"


def _lookup_problem(event: str, args: tuple[Any, ...]) -> str | None:
    """Why this resolver call may ask beyond the hosts file, or None."""
    if event == "socket.getaddrinfo":
        host, family = _text(args[0]), args[2]
        if host is None or host == "" or _ip(host) is not None:
            return None  # no name: nothing is looked up
        if _hosts_answer(host, family):
            return None
        return f"{host!r} (family {family}) is not answered by {HOSTS_FILE}"
    if event == "socket.gethostbyname":
        host = _text(args[0])
        if host is None or _ip(host) is not None or _hosts_answer(host, socket.AF_INET):
            return None
        return f"{host!r} has no IPv4 address in {HOSTS_FILE}"
    # gethostbyaddr takes an address or a name; getnameinfo a sockaddr.
    value = args[0][0] if event == "socket.getnameinfo" and isinstance(args[0], tuple) else args[0]
    text = _text(value)
    if text is None:
        return None
    try:
        # As given: glibc matches ::ffff:127.0.0.1 against IPv6 entries only.
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        if _hosts_answer(text, socket.AF_UNSPEC):
            return None
        return f"{text!r} is not in {HOSTS_FILE}"
    if str(ip) in _HOST_ADDRESSES:
        return None
    return f"{ip} is not listed in {HOSTS_FILE}, so its reverse lookup would ask DNS"


def _record(message: str) -> None:
    with _lock:
        _violations.append(message)
    log = os.environ.get(LOG_VARIABLE)
    if log and _child:
        with contextlib.suppress(OSError), open(log, "a", encoding="utf-8") as file:
            file.write(f"pid {os.getpid()}: {message}\n")


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS or not ENABLED:
        return
    peer = event in _PEER_EVENTS
    problem = _peer_problem(args[0], args[1]) if peer else _lookup_problem(event, args)
    if problem is None or _in_private_namespace():
        return
    shown = args[1] if peer else args
    message = f"hermetic tests: {event} {shown!r} blocked: {problem}"
    _record(message)
    raise NetworkAccessBlocked(message)


def install(*, child: bool = False) -> None:
    """Add the audit hook (once per process). *child*: record into the log file."""
    global _installed, _child
    _child = child
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


def mark() -> int:
    """A position in the record of violations, for :func:`since`."""
    with _lock:
        return len(_violations)


def since(position: int) -> list[str]:
    """The violations recorded in this process after *position*."""
    with _lock:
        return _violations[position:]


@contextlib.contextmanager
def expect_blocked() -> Iterator[list[str]]:
    """For the guard's own tests: the violations made in the block, which are then
    forgotten (so the test that provoked them on purpose does not fail for them)."""
    caught: list[str] = []
    with _lock:
        start = len(_violations)
    try:
        yield caught
    finally:
        with _lock:
            caught.extend(_violations[start:])
            del _violations[start:]
