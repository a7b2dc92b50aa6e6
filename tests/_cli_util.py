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

#: The netkit command for processes a test interrupts with SIGINT: Python's own
#: KeyboardInterrupt handler is installed explicitly. A shell without job control
#: starts background commands with SIGINT ignored (`pytest ... &`), the children
#: inherit that, and Python then leaves SIGINT ignored: every command would seem deaf
#: to Ctrl-C although, started from a terminal, it is not.
NETKIT_INTERRUPTIBLE = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from netkit.cli import main; sys.exit(main(sys.argv[1:]))",
]


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
        [*NETKIT_INTERRUPTIBLE, *args],
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


def start(
    args: Sequence[str],
    *,
    argv: Sequence[str] = NETKIT_INTERRUPTIBLE,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``netkit ARGS`` with stdin, stdout and stderr as pipes (not waited for).

    *argv* replaces the command (a ``python -c`` wrapper, say).
    """
    return subprocess.Popen(
        [*argv, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env if env is not None else _env(),
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill *proc* if it still runs and reap it (the end of every test's ``finally``)."""
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired, ValueError, OSError):
        proc.communicate(timeout=WAIT)


def wait_for_line(stream: object, prefix: str, *, max_lines: int = 20) -> tuple[str, list[str]]:
    """Read lines from *stream* until one starts with *prefix* (at most *max_lines*).

    Returns that line (stripped) and every line read, in order.
    """
    lines: list[str] = []
    for _ in range(max_lines):
        line = read_line(stream).decode().rstrip("\n")
        lines.append(line)
        if line.startswith(prefix):
            return line, lines
    raise AssertionError(f"no line starting with {prefix!r} in {lines!r}")


def listening_port(proc: subprocess.Popen[bytes]) -> tuple[int, list[str]]:
    """Wait for ``netkit listen``'s "listening on HOST:PORT" on stderr; its port and the
    status lines up to it (those of a throwaway certificate, say)."""
    line, lines = wait_for_line(proc.stderr, "listening on ")
    return int(line.rpartition(":")[2]), lines


def read_exactly(stream: object, count: int, timeout: float = WAIT) -> bytes:
    """Read exactly *count* bytes from a subprocess pipe within *timeout* seconds."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    data = b""
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"only {len(data)} of {count} bytes within {timeout} s")
        chunk = os.read(fd, count - len(data))
        if not chunk:
            raise AssertionError(f"stream ended after {len(data)} of {count} bytes")
        data += chunk
    return data


def close_stdin(proc: subprocess.Popen[bytes]) -> None:
    """Close *proc*'s stdin (its EOF) so that communicate() still works afterwards.

    communicate() flushes a stdin it finds open and fails on one closed by hand
    ("flush of closed file"); with ``proc.stdin`` None it leaves stdin alone.
    """
    if proc.stdin is not None:
        proc.stdin.close()
        proc.stdin = None
