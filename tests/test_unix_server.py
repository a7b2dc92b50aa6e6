"""UnixServer (and UnixListener.bind) in both faces: the socket file's life and limits.

``mode`` holds from the first instant, a live listener's path is refused and left
alone, a stale file is replaced, anything else is refused, ``stop()`` removes only the
file the server made; bad paths are typed errors that leak nothing. The lifecycle,
limits and stop semantics are TcpServer's engine (tested there) and are checked here
once over a socket path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import netkit
import netkit.aio as aio
from _aio_util import run, wait_until  # noqa: F401  (the fixture)
from _unixstream_util import aio_outcome, listening, no_fd_leak, outcome
from netkit import AddressError, NetkitTimeout
from netkit._core.conformance import Outcome
from netkit._core.unixpath import show

pytestmark = pytest.mark.timeout(60)
Run = Callable[..., Any]
WAIT = 10.0


def _echo(conn: netkit.UnixConnection) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


async def _aio_echo(conn: aio.UnixConnection) -> None:
    while data := await conn.recv(65536):
        await conn.sendall(data)


def _round_trip(path: str) -> bytes:
    with netkit.UnixClient.connect(path, timeout=WAIT) as conn:
        conn.sendall(b"ping")
        return conn.recv_exactly(4, timeout=WAIT)


def _mode(path: str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_serve_and_remove_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    server = netkit.UnixServer(_echo, path)
    assert server.address == path
    assert repr(server) == f"<UnixServer unix:{path} new active=0>"
    with server:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert _round_trip(path) == b"ping"
        assert server.serving
    assert not server.serving
    assert not os.path.exists(path)


def test_aio_serve_and_remove_the_file(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "app.sock")

    async def main() -> None:
        async with aio.UnixServer(_aio_echo, path, mode=0o600) as server:
            assert server.address == path
            assert _mode(path) == 0o600
            assert await asyncio.to_thread(_round_trip, path) == b"ping"
        assert not os.path.exists(path)

    run(main())


@pytest.mark.parametrize("mode", [0o600, 0o660, 0o666, 0o700, 0o000])
def test_mode_is_exact_and_never_wider(
    tmp_path: Path, mode: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the umask takes, the file ends with *mode*; and at the moment bind()
    # creates it (the first instant it exists), it has no bit *mode* does not allow.
    path = str(tmp_path / "m.sock")
    seen: list[int] = []
    real_bind = socket.socket.bind

    def bind(self: socket.socket, address: Any) -> None:
        real_bind(self, address)
        seen.append(_mode(path))

    monkeypatch.setattr(socket.socket, "bind", bind)
    with netkit.UnixListener.bind(path, mode=mode):
        assert _mode(path) == mode
    assert seen
    assert seen[0] & ~mode == 0


def test_mode_under_any_umask(tmp_path: Path) -> None:
    # The umask of another process (never this one's: other threads share it).
    script = (
        "import os, stat, sys\n"
        "os.umask(int(sys.argv[2], 8))\n"
        "from netkit import UnixListener\n"
        "with UnixListener.bind(sys.argv[1], mode=0o640):\n"
        "    print(oct(stat.S_IMODE(os.stat(sys.argv[1]).st_mode)))\n"
    )
    for umask in ("0", "077", "777", "022"):
        path = str(tmp_path / f"u{umask}.sock")
        done = subprocess.run(
            [sys.executable, "-c", script, path, umask],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert done.stdout.strip() == "0o640", umask


def _both_bind(path: str, run: Run, **kwargs: Any) -> Outcome:  # noqa: F811
    """UnixListener.bind in both faces: the same outcome, and no descriptor left."""
    with no_fd_leak():
        mine = outcome(lambda: netkit.UnixListener.bind(path, **kwargs).close())

    async def main() -> Outcome:
        async def bind_and_close() -> None:
            (await aio.UnixListener.bind(path, **kwargs)).close()

        return await aio_outcome(bind_and_close)

    with no_fd_leak():
        theirs = run(main())
    assert theirs == mine
    return mine


def test_a_live_listener_is_left_alone(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "live.sock")
    served: list[int] = []

    def counting(conn: netkit.UnixConnection) -> None:
        served.append(1)
        _echo(conn)

    with netkit.UnixServer(counting, path, mode=0o600):
        before = os.lstat(path)
        result = _both_bind(path, run)
        assert result.error is OSError
        assert result.message == f"[Errno 98] cannot bind to {show(path)}: a live socket holds it"
        after = os.lstat(path)
        assert (after.st_ino, _mode(path)) == (before.st_ino, 0o600)
        assert _round_trip(path) == b"ping"  # still serving
        assert served == [1]  # and the probe was no client
        with pytest.raises(OSError, match="a live socket holds it"):
            netkit.UnixServer(_echo, path).start()
    # a full backlog is live too
    with listening(path, backlog=0) as full:
        clients = [socket.socket(socket.AF_UNIX) for _ in range(2)]
        for client in clients:
            client.setblocking(False)
            try:
                client.connect(path)
            except BlockingIOError:
                pass
        assert "a live socket holds it" in str(_both_bind(path, run).message)
        for client in clients:
            client.close()
        assert full.fileno() >= 0


def test_a_stale_file_is_replaced(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "stale.sock")

    def stale() -> None:
        listening(path).close()  # a process that died: the file stays, nobody listens
        assert outcome(lambda: _round_trip(path)).error is netkit.ConnectFailed

    stale()
    with no_fd_leak(), netkit.UnixServer(_echo, path):
        assert _round_trip(path) == b"ping"  # (the inode number may well be reused)
    stale()

    async def main() -> None:
        async with aio.UnixServer(_aio_echo, path):
            assert await asyncio.to_thread(_round_trip, path) == b"ping"

    run(main())
    assert not os.path.exists(path)


def test_other_files_and_bad_paths_are_refused(tmp_path: Path, run: Run) -> None:  # noqa: F811
    regular = tmp_path / "data.txt"
    regular.write_text("keep me")
    result = _both_bind(str(regular), run)
    assert result == Outcome(
        error=OSError,
        message=f"[Errno 98] cannot bind to {show(str(regular))}: the file exists and is not a "
        "socket",
    )
    assert regular.read_text() == "keep me"
    missing = str(tmp_path / "no" / "such" / "dir" / "x.sock")
    assert _both_bind(missing, run) == Outcome(
        error=FileNotFoundError,
        message=f"[Errno 2] cannot bind to {show(missing)}: directory "
        f"{show(str(tmp_path / 'no' / 'such' / 'dir'))} does not exist",
    )
    long_path = str(tmp_path / ("x" * 120))
    assert _both_bind(long_path, run).error is AddressError
    assert _both_bind("", run).error is AddressError
    assert _both_bind(str(tmp_path / "m.sock"), run, mode=0o1777).error is ValueError
    assert _both_bind(str(tmp_path / "m.sock"), run, mode="600").error is TypeError
    abstract = f"\0netkit-test-{os.getpid()}"
    assert _both_bind(abstract, run, mode=0o600).message == (
        f"mode= applies to a socket file; the abstract name {show(abstract)} has none"
    )
    server_errors = [
        outcome(lambda: netkit.UnixServer(_echo, long_path)),
        outcome(lambda: aio.UnixServer(_aio_echo, long_path)),
    ]
    assert server_errors[0] == server_errors[1]
    assert server_errors[0].error is AddressError


def test_abstract_names(run: Run) -> None:  # noqa: F811
    name = f"\0netkit-test-abstract-{os.getpid()}"
    with netkit.UnixServer(_echo, name) as server:
        assert server.address == name
        assert repr(server).startswith("<UnixServer unix:@netkit-test-abstract-")
        assert _round_trip(name) == b"ping"
        assert "a live socket holds it" in str(_both_bind(name, run).message)

    async def main() -> None:
        async with aio.UnixServer(_aio_echo, name):
            assert await asyncio.to_thread(_round_trip, name) == b"ping"

    run(main())


def test_stop_removes_only_its_own_file(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "mine.sock")
    server = netkit.UnixServer(_echo, path).start()
    os.unlink(path)  # someone took the path over meanwhile
    with listening(path) as other:
        server.stop()
        assert os.path.exists(path)  # not the server's file: left in place
        assert other.fileno() >= 0
    os.unlink(path)

    async def main() -> None:
        server = await aio.UnixServer(_aio_echo, path).start()
        os.unlink(path)
        with listening(path):
            await server.stop()
            assert os.path.exists(path)

    run(main())


def test_limits_and_idle_timeout(tmp_path: Path) -> None:
    path = str(tmp_path / "lim.sock")
    release = threading.Event()
    started = threading.Semaphore(0)

    def handler(conn: netkit.UnixConnection) -> None:
        started.release()
        release.wait(WAIT)
        conn.sendall(b"done")

    with netkit.UnixServer(handler, path, max_connections=1) as server:
        first = netkit.UnixClient.connect(path, timeout=WAIT)
        assert started.acquire(timeout=WAIT)
        second = netkit.UnixClient.connect(path, timeout=WAIT)  # waits in the backlog
        assert not started.acquire(timeout=0.1)
        assert server.active_connections == 1
        release.set()
        assert first.recv_exactly(4, timeout=WAIT) == b"done"
        assert second.recv_exactly(4, timeout=WAIT) == b"done"
        first.close()
        second.close()

    idle_path = str(tmp_path / "idle.sock")
    with netkit.UnixServer(_echo, idle_path, idle_timeout=0.1):
        with netkit.UnixClient.connect(idle_path, timeout=WAIT) as quiet:
            assert quiet.recv(timeout=WAIT) == b""  # the server closed it


def test_aio_limits_and_idle_timeout(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "lim.sock")

    async def main() -> None:
        release = asyncio.Event()
        started: list[int] = []

        async def handler(conn: aio.UnixConnection) -> None:
            started.append(1)
            await release.wait()
            await conn.sendall(b"done")

        async with aio.UnixServer(handler, path, max_connections=1) as server:
            first = await aio.UnixClient.connect(path, timeout=WAIT)
            await wait_until(lambda: len(started) == 1)
            second = await aio.UnixClient.connect(path, timeout=WAIT)
            for _ in range(10):
                await asyncio.sleep(0)
            assert len(started) == 1
            assert server.active_connections == 1
            release.set()
            assert await first.recv_exactly(4, timeout=WAIT) == b"done"
            assert await second.recv_exactly(4, timeout=WAIT) == b"done"
            await asyncio.gather(first.aclose(), second.aclose())
        idle_path = str(tmp_path / "idle.sock")
        async with aio.UnixServer(_aio_echo, idle_path, idle_timeout=0.1):
            quiet = await aio.UnixClient.connect(idle_path, timeout=WAIT)
            assert await quiet.recv(timeout=WAIT) == b""
            await quiet.aclose()

    run(main())


def test_handler_errors_name_the_peer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "err.sock")

    def handler(conn: netkit.UnixConnection) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="netkit"):
        with netkit.UnixServer(handler, path):
            with netkit.UnixClient.connect(path, timeout=WAIT) as conn:
                assert conn.recv(timeout=WAIT) == b""
    assert "netkit server: handler failed for unix:(unnamed)" in caplog.text


def test_stop_delivers_what_handlers_sent(tmp_path: Path, run: Run) -> None:  # noqa: F811
    # stop() loses nothing: a handler still sending when stop() begins finishes, and
    # the client reads every byte (the engine's promise, over a socket path).
    path = str(tmp_path / "stop.sock")
    payload = bytes(range(256)) * 4096
    ready = threading.Event()

    def handler(conn: netkit.UnixConnection) -> None:
        conn.recv_exactly(1, timeout=WAIT)
        ready.set()
        conn.sendall(payload)

    server = netkit.UnixServer(handler, path).start()
    client = netkit.UnixClient.connect(path, timeout=WAIT)
    client.sendall(b"go")
    assert ready.wait(WAIT)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": WAIT})
    stopper.start()
    assert client.recv_exactly(len(payload), timeout=WAIT) == payload
    stopper.join(WAIT)
    assert not stopper.is_alive()
    client.close()
    assert not os.path.exists(path)
    with pytest.raises(NetkitTimeout):
        netkit.UnixListener.bind(str(tmp_path / "t.sock")).accept(timeout=0.01)
