"""Start the real HAProxy (Debian package ``haproxy``) on loopback for the PROXY tests.

Each instance gets a private config in a temporary folder: one TCP frontend per client
address family (127.0.0.1 and, when the machine has it, ::1) forwarding to a backend
port with ``send-proxy`` or ``send-proxy-v2``. It runs in the foreground (``-db``) as a
child process and is stopped by its pid. Tests skip when haproxy is not installed,
except in CI (``CI=true``), where ``.ci/run`` installs it and its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)


def require_haproxy() -> str:
    if HAPROXY is None:
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is not installed (.ci/run installs it)")
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    return HAPROXY


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class HAProxy:
    """A running HAProxy: the frontend ports clients connect to, by address family."""

    process: subprocess.Popen[bytes]
    frontends: dict[str, int]  # "127.0.0.1" / "::1" -> port

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextmanager
def haproxy(
    backend_port: int,
    *,
    send_proxy: str = "send-proxy",
    backend_host: str = "127.0.0.1",
    backend_unix: str | None = None,
) -> Iterator[HAProxy]:
    """Run HAProxy in front of *backend_port* (or the Unix socket *backend_unix*); yield
    it once every frontend accepts."""
    binary = require_haproxy()
    hosts = ["127.0.0.1"] + (["::1"] if has_ipv6_loopback() else [])
    with tempfile.TemporaryDirectory(prefix="netkit-haproxy-") as folder:
        for _attempt in range(5):  # a free port may be taken between probe and bind
            frontends = {host: _free_port(host) for host in hosts}
            binds = "\n".join(
                f"    bind {'[' + h + ']' if ':' in h else h}:{p}" for h, p in frontends.items()
            )
            backend = f"[{backend_host}]" if ":" in backend_host else backend_host
            backend = f"unix@{backend_unix}" if backend_unix else f"{backend}:{backend_port}"
            config = Path(folder, "haproxy.cfg")
            config.write_text(
                "global\n    maxconn 256\n\n"
                "defaults\n    mode tcp\n    timeout connect 5s\n"
                "    timeout client 30s\n    timeout server 30s\n\n"
                f"frontend clients\n{binds}\n    default_backend netkit\n\n"
                f"backend netkit\n    server one {backend} {send_proxy}\n"
            )
            process = subprocess.Popen(
                [binary, "-db", "-f", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            proxy = HAProxy(process, frontends)
            try:
                if _wait_listening(proxy):
                    yield proxy
                    return
            finally:
                proxy.stop()
                if process.stderr is not None:
                    process.stderr.close()
        pytest.fail("haproxy did not start listening in 5 attempts")


def _listening(host: str, port: int) -> bool:
    """True once something listens on (host, port): probed by binding, not connecting,
    so no probe connection ever reaches the backend under test."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _wait_listening(proxy: HAProxy, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    pending = dict(proxy.frontends)
    while pending and time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            return False  # exited: most likely a port collision
        for host, port in list(pending.items()):
            if _listening(host, port):
                del pending[host]
        if pending:
            try:  # bounded wait on the child itself, not a sleep
                proxy.process.wait(0.05)
            except subprocess.TimeoutExpired:
                pass
    return not pending
