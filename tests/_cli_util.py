"""Helpers for the tests that drive the ``netkit`` command as a subprocess."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

#: Upper bound for any single subprocess interaction in these tests (seconds).
WAIT = 20.0

NETKIT = [sys.executable, "-m", "netkit"]


def run(
    args: Sequence[str], *, input: bytes | None = None, timeout: float = WAIT
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m netkit ARGS`` to completion; stdout and stderr captured."""
    return subprocess.run(
        [*NETKIT, *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        check=False,
        env=_env(),
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env.pop("PYTHONWARNINGS", None)
    return env


def read_line(stream: object, timeout: float = WAIT) -> bytes:
    """Read one line from a subprocess pipe, failing the test after *timeout* seconds."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no complete line within {timeout} s (got {data!r})")
        chunk = os.read(fd, 1)  # one byte at a time: never read past the line
        if not chunk:
            raise AssertionError(f"stream ended before a full line (got {data!r})")
        data += chunk
    return data


@contextlib.contextmanager
def background(args: Sequence[str]) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    """Start a long-running netkit command printing 'listening on HOST:PORT' first.

    Yields ``(process, host, port)``; the process is killed at the end if still alive.
    """
    proc = subprocess.Popen(
        [*NETKIT, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    try:
        line = read_line(proc.stdout).decode().strip()
        assert line.startswith("listening on "), line
        host, _, port = line.removeprefix("listening on ").rpartition(":")
        yield proc, host.strip("[]"), int(port)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None and not proc.stdout.closed:  # not drained by the test
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=WAIT)


def call(args: Sequence[str]) -> int:
    """Run ``netkit ARGS`` in this process (fast: for usage errors and --help).

    Returns the exit status whether ``main`` returned it or argparse raised SystemExit.
    """
    from netkit.cli import main

    try:
        return main(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
