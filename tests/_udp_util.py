"""Helpers for the UDP tests: a private network namespace to run code in.

The host's loopback interface here has no MULTICAST flag (and IPv6 will not route
multicast through ``lo`` at all), so the IPv6 multicast test runs in a network namespace
it creates: a veth pair with a test address, where multicast works and nothing reaches
the host's interfaces. A thread enters the namespace with ``setns(2)`` (a per-thread
setting for network namespaces), so the test process itself never changes namespace.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_CLONE_NEWNET = 0x40000000
#: Address given to the namespace's veth end (unique local, never routed).
NETNS_IPV6 = "fd6e:6b74:6573:7401::1"
NETNS_IFACE = "nkt0"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=False)


def netns_unavailable() -> str | None:
    """Why a private network namespace cannot be made here, or None if it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "creating a network namespace needs root"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    return None


@contextmanager
def private_netns() -> Iterator[str]:
    """Create a namespace with ``lo`` up and a veth pair carrying NETNS_IPV6; yield its
    name; delete it (and so its interfaces) afterwards."""
    name = f"netkit-udp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        raise PermissionError(f"ip netns add failed: {made.stderr.strip()}")
    try:
        for command in (
            ("link", "set", "lo", "up"),
            ("link", "add", NETNS_IFACE, "type", "veth", "peer", "name", "nkt1"),
            ("link", "set", NETNS_IFACE, "up"),
            ("link", "set", "nkt1", "up"),
            # nodad: usable at once, no duplicate-address-detection wait.
            ("-6", "addr", "add", f"{NETNS_IPV6}/64", "dev", NETNS_IFACE, "nodad"),
        ):
            done = _ip("-n", name, *command)
            if done.returncode != 0:
                raise PermissionError(f"ip {' '.join(command)} failed: {done.stderr.strip()}")
        yield name
    finally:
        _ip("netns", "del", name)


def run_in_netns(name: str, function: Callable[[], T], *, timeout: float = 20.0) -> T:
    """Run *function* in a new thread that first enters network namespace *name*."""
    libc = ctypes.CDLL(None, use_errno=True)
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns: {os.strerror(err)}")
            finally:
                os.close(fd)
            results.append(function())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{name}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"code in namespace {name} still running after {timeout} s")
    if errors:
        raise errors[0]
    return results[0]
