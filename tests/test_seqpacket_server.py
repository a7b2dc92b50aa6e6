"""SeqpacketServer and SeqpacketListener in both faces.

The engine is TcpServer's and UnixServer's (their lifecycle, limits and stop are tested
there); what is checked here is that a SEQPACKET server keeps UnixServer's promises
over its own socket type: messages whole, the socket file's life (``mode`` from the
first instant, a live listener left alone, a stale file replaced, only its own file
removed), abstract names, ``max_connections``, ``idle_timeout``, ``stop()`` waking a
handler blocked in ``recv_message``, ``listener=`` and the errors of wrong kinds, the
same in both faces (asyncio and uvloop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import netkit
import netkit.aio as aio
from _aio_util import run, wait_until
from _unix_util import Face, face, sock_dir
from _unixstream_util import aio_outcome, listening, no_fd_leak, outcome
from netkit import AddressError, ConnectionClosed, NetkitTimeout
from netkit._core.conformance import Outcome
from netkit._core.unixpath import show

__all__ = ["face", "run", "sock_dir"]  # fixtures, imported for pytest

pytestmark = pytest.mark.timeout(60)
Run = Callable[..., Any]
WAIT = 10.0


def _echo(conn: netkit.SeqpacketConnection) -> None:
    while message := conn.recv_message():
        conn.send_message(message)


async def _aio_echo(conn: aio.SeqpacketConnection) -> None:
    while message := await conn.recv_message():
        await conn.send_message(message)


def _round_trip(path: str) -> list[bytes]:
    with netkit.SeqpacketClient.connect(path, timeout=WAIT) as conn:
        for message in (b"a", b"bc", b"def"):
            conn.send_message(message)
        return [conn.recv_message(timeout=WAIT) for _ in range(3)]


async def _aio_round_trip(path: str) -> list[bytes]:
    async with await aio.SeqpacketClient.connect(path, timeout=WAIT) as conn:
        for message in (b"a", b"bc", b"def"):
            await conn.send_message(message)
        return [await conn.recv_message(timeout=WAIT) for _ in range(3)]


def _mode(path: str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def path(sock_dir: Path) -> str:
    return str(sock_dir / "seq.sock")


def _seq_listening(where: str, backlog: int = 8) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.bind(where)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


# -- serving and the socket file -------------------------------------------------------


def test_serve_keep_boundaries_and_remove_the_file(path: str) -> None:
    server = netkit.SeqpacketServer(_echo, path, mode=0o600)
    assert server.address == path
    assert repr(server) == f"<SeqpacketServer unix:{path} new active=0>"
    with pytest.raises(RuntimeError):
        server.listener  # noqa: B018
    with server:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert _mode(path) == 0o600
        assert os.lstat(path).st_mode & 0o777 == 0o600
        assert isinstance(server.listener, netkit.SeqpacketListener)
        assert server.listener.socket.type == socket.SOCK_SEQPACKET
        assert _round_trip(path) == [b"a", b"bc", b"def"]
        assert server.serving
    assert not server.serving
    assert not os.path.exists(path)


def test_aio_serve_keep_boundaries_and_remove_the_file(path: str, run: Run) -> None:
    async def main() -> None:
        server = aio.SeqpacketServer(_aio_echo, path, mode=0o640)
        assert server.address == path
        async with server:
            assert _mode(path) == 0o640
            assert isinstance(server.listener, aio.SeqpacketListener)
            assert await _aio_round_trip(path) == [b"a", b"bc", b"def"]
            await wait_until(lambda: server.active_connections == 0)  # the handler saw b""
            assert repr(server) == f"<aio.SeqpacketServer unix:{path} active=0>"
        assert not server.serving
        assert not os.path.exists(path)

    run(main())


@pytest.mark.parametrize("mode", [0o600, 0o666, 0o000])
def test_mode_holds_from_the_first_instant(
    path: str, mode: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_bind = socket.socket.bind

    def bind(self: socket.socket, address: Any) -> None:
        real_bind(self, address)
        seen.append(_mode(path))

    monkeypatch.setattr(socket.socket, "bind", bind)
    with netkit.SeqpacketListener.bind(path, mode=mode):
        assert _mode(path) == mode
    assert seen
    assert seen[0] & ~mode == 0


def _both_bind(where: str, run: Run, **kwargs: Any) -> Outcome:
    """SeqpacketListener.bind in both faces: the same outcome, and no descriptor left."""
    with no_fd_leak():
        mine = outcome(lambda: netkit.SeqpacketListener.bind(where, **kwargs).close())

    async def main() -> Outcome:
        async def bind_and_close() -> None:
            (await aio.SeqpacketListener.bind(where, **kwargs)).close()

        return await aio_outcome(bind_and_close)

    with no_fd_leak():
        theirs = run(main())
    assert theirs == mine
    return mine


def test_a_live_listener_is_left_alone(path: str, run: Run) -> None:
    served: list[int] = []

    def counting(conn: netkit.SeqpacketConnection) -> None:
        served.append(1)
        _echo(conn)

    with netkit.SeqpacketServer(counting, path, mode=0o600):
        before = os.lstat(path)
        result = _both_bind(path, run)
        assert result == Outcome(
            error=OSError,
            message=f"[Errno 98] cannot bind to {show(path)}: a live socket holds it",
        )
        after = os.lstat(path)
        assert (after.st_ino, _mode(path)) == (before.st_ino, 0o600)
        assert _round_trip(path) == [b"a", b"bc", b"def"]  # still serving
        assert served == [1]  # and the probe was no client
        with pytest.raises(OSError, match="a live socket holds it"):
            netkit.SeqpacketServer(_echo, path).start()
    # A live listener of the other type holds the path too, both ways round.
    with listening(path):
        assert "a live socket holds it" in str(_both_bind(path, run).message)
    os.unlink(path)  # a plain socket leaves its file behind
    with _seq_listening(path):
        with pytest.raises(OSError, match="a live socket holds it"):
            netkit.UnixListener.bind(path)
    os.unlink(path)


def test_a_stale_file_is_replaced_and_bad_paths_refused(
    path: str,
    run: Run,
    sock_dir: Path,
) -> None:
    _seq_listening(path).close()  # a process that died: the file stays, nobody listens
    with no_fd_leak(), netkit.SeqpacketServer(_echo, path):
        assert _round_trip(path) == [b"a", b"bc", b"def"]
    _seq_listening(path).close()

    async def main() -> None:
        async with aio.SeqpacketServer(_aio_echo, path):
            assert await _aio_round_trip(path) == [b"a", b"bc", b"def"]

    run(main())
    assert not os.path.exists(path)

    regular = sock_dir / "data.txt"
    regular.write_text("keep me")
    assert _both_bind(str(regular), run).message == (
        f"[Errno 98] cannot bind to {show(str(regular))}: the file exists and is not a socket"
    )
    assert regular.read_text() == "keep me"
    assert _both_bind(str(sock_dir / "no" / "x.sock"), run).error is FileNotFoundError
    assert _both_bind(str(sock_dir / ("x" * 120)), run).error is AddressError
    assert _both_bind(path, run, mode=0o1777).error is ValueError
    assert _both_bind(path, run, backlog=-1).error is ValueError
    errors = [
        outcome(lambda: netkit.SeqpacketServer(_echo, "")),
        outcome(lambda: aio.SeqpacketServer(_aio_echo, "")),
    ]
    assert errors[0] == errors[1]
    assert errors[0].error is AddressError


def test_abstract_names(run: Run) -> None:
    name = f"\0netkit-test-seqpacket-{os.getpid()}"
    with netkit.SeqpacketServer(_echo, name) as server:
        assert server.address == name
        assert repr(server).startswith("<SeqpacketServer unix:@netkit-test-seqpacket-")
        assert _round_trip(name) == [b"a", b"bc", b"def"]
        assert "a live socket holds it" in str(_both_bind(name, run).message)
        assert _both_bind(name + "x", run, mode=0o600).error is ValueError

    async def main() -> None:
        async with aio.SeqpacketServer(_aio_echo, name):
            assert await _aio_round_trip(name) == [b"a", b"bc", b"def"]

    run(main())


def test_stop_removes_only_its_own_file(path: str, run: Run) -> None:
    server = netkit.SeqpacketServer(_echo, path).start()
    os.unlink(path)  # someone took the path over meanwhile
    with _seq_listening(path) as other:
        server.stop()
        assert os.path.exists(path)  # not the server's file: left in place
        assert other.fileno() >= 0
    os.unlink(path)

    async def main() -> None:
        server = await aio.SeqpacketServer(_aio_echo, path).start()
        os.unlink(path)
        with _seq_listening(path):
            await server.stop()
            assert os.path.exists(path)

    run(main())
    os.unlink(path)


# -- limits, idle, stop ------------------------------------------------------------------


def test_limits_and_idle_timeout(path: str, caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def handler(conn: netkit.SeqpacketConnection) -> None:
        started.release()
        release.wait(WAIT)
        conn.send_message(b"done")

    with netkit.SeqpacketServer(handler, path, max_connections=1) as server:
        first = netkit.SeqpacketClient.connect(path, timeout=WAIT)
        assert started.acquire(timeout=WAIT)
        second = netkit.SeqpacketClient.connect(path, timeout=WAIT)  # waits in the backlog
        assert not started.acquire(timeout=0.1)
        assert server.active_connections == 1
        release.set()
        assert first.recv_message(timeout=WAIT) == b"done"
        assert second.recv_message(timeout=WAIT) == b"done"
        first.close()
        second.close()

    with caplog.at_level(logging.INFO, logger="netkit"):
        with netkit.SeqpacketServer(_echo, path, idle_timeout=0.1):
            with netkit.SeqpacketClient.connect(path, timeout=WAIT) as quiet:
                assert quiet.recv_message(timeout=WAIT) == b""  # the server closed it
    assert "closing unix:(unnamed): idle: nothing received for 0.1 s" in caplog.text


def test_aio_limits_and_idle_timeout(path: str, run: Run) -> None:
    async def main() -> None:
        release = asyncio.Event()
        started: list[int] = []

        async def handler(conn: aio.SeqpacketConnection) -> None:
            started.append(1)
            await release.wait()
            await conn.send_message(b"done")

        async with aio.SeqpacketServer(handler, path, max_connections=1) as server:
            first = await aio.SeqpacketClient.connect(path, timeout=WAIT)
            await wait_until(lambda: len(started) == 1)
            second = await aio.SeqpacketClient.connect(path, timeout=WAIT)
            for _ in range(10):
                await asyncio.sleep(0)
            assert len(started) == 1
            assert server.active_connections == 1
            release.set()
            assert await first.recv_message(timeout=WAIT) == b"done"
            assert await second.recv_message(timeout=WAIT) == b"done"
            first.close()
            second.close()
        async with aio.SeqpacketServer(_aio_echo, path, idle_timeout=0.1):
            quiet = await aio.SeqpacketClient.connect(path, timeout=WAIT)
            assert await quiet.recv_message(timeout=WAIT) == b""
            quiet.close()

    run(main())


def test_idle_timeout_on_a_connection(face: Face) -> None:
    # The idle rule itself, on a pair: the shorter of timeout= and idle_timeout wins,
    # and an idle expiry says so; a message in time resets nothing (each call waits anew).
    a_sock, b_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a = face.SeqpacketConnection(a_sock, idle_timeout=0.05)
    b = face.SeqpacketConnection(b_sock)
    with a, b:
        with pytest.raises(NetkitTimeout, match=r"^idle: nothing received for 0.05 s$"):
            face.run(a.recv_message())
        with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
            face.run(a.recv_message(timeout=0.01))
        with pytest.raises(NetkitTimeout, match=r"^idle: nothing received for 0.05 s$"):
            face.run(a.recv_message(timeout=WAIT))
        face.run(b.send_message(b"x"))
        assert face.run(a.recv_message(timeout=WAIT)) == b"x"
        with pytest.raises(ValueError, match="timeout must be >= 0 seconds or None, not -1"):
            face.run(a.recv_message(timeout=-1))
    for bad, error in [(0, ValueError), (-1, ValueError), ("1", TypeError)]:
        x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with x, y, pytest.raises(error, match="idle_timeout"):
            face.SeqpacketConnection(x, idle_timeout=bad)


def test_stop_wakes_a_blocked_receive(path: str) -> None:
    woke: list[bytes] = []
    waiting = threading.Event()

    def handler(conn: netkit.SeqpacketConnection) -> None:
        waiting.set()
        woke.append(conn.recv_message())  # no deadline: only stop() ends it

    server = netkit.SeqpacketServer(handler, path).start()
    client = netkit.SeqpacketClient.connect(path, timeout=WAIT)
    assert waiting.wait(WAIT)
    server.stop(timeout=0.1)
    assert woke == [b""]
    assert client.recv_message(timeout=WAIT) == b""
    client.close()


def test_aio_stop_wakes_a_blocked_receive(path: str, run: Run) -> None:
    async def main() -> None:
        woke: list[bytes] = []

        async def handler(conn: aio.SeqpacketConnection) -> None:
            woke.append(await conn.recv_message())

        server = await aio.SeqpacketServer(handler, path).start()
        client = await aio.SeqpacketClient.connect(path, timeout=WAIT)
        await wait_until(lambda: server.active_connections == 1)
        for _ in range(5):
            await asyncio.sleep(0)  # the handler reaches its receive
        await server.stop(timeout=0.1)
        assert woke == [b""]  # woken by the shutdown, not cancelled
        assert await client.recv_message(timeout=WAIT) == b""
        client.close()

    run(main())


def test_stop_delivers_what_handlers_sent(path: str, run: Run) -> None:
    # A handler still sending when stop() begins finishes; the client gets every message.
    messages = [bytes([i]) * (1 + i * 97) for i in range(200)]
    ready = threading.Event()

    def handler(conn: netkit.SeqpacketConnection) -> None:
        conn.recv_message(timeout=WAIT)
        ready.set()
        for message in messages:
            conn.send_message(message, timeout=WAIT)

    server = netkit.SeqpacketServer(handler, path).start()
    client = netkit.SeqpacketClient.connect(path, timeout=WAIT)
    client.send_message(b"go")
    assert ready.wait(WAIT)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": WAIT})
    stopper.start()
    got = [client.recv_message(timeout=WAIT) for _ in messages]
    assert got == messages
    assert client.recv_message(timeout=WAIT) == b""
    stopper.join(WAIT)
    assert not stopper.is_alive()
    client.close()

    async def main() -> None:
        async def aio_handler(conn: aio.SeqpacketConnection) -> None:
            await conn.recv_message(timeout=WAIT)
            for message in messages:
                await conn.send_message(message, timeout=WAIT)

        server = await aio.SeqpacketServer(aio_handler, path).start()
        client = await aio.SeqpacketClient.connect(path, timeout=WAIT)
        await client.send_message(b"go")
        first = await client.recv_message(timeout=WAIT)
        stopping = asyncio.ensure_future(server.stop(timeout=WAIT))
        rest = [await client.recv_message(timeout=WAIT) for _ in messages[1:]]
        assert [first, *rest] == messages
        assert await client.recv_message(timeout=WAIT) == b""
        await stopping
        client.close()

    run(main())


def test_handler_errors_are_logged(path: str, caplog: pytest.LogCaptureFixture) -> None:
    def handler(conn: netkit.SeqpacketConnection) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="netkit"):
        with netkit.SeqpacketServer(handler, path):
            with netkit.SeqpacketClient.connect(path, timeout=WAIT) as conn:
                assert conn.recv_message(timeout=WAIT) == b""
    assert "netkit server: handler failed for unix:(unnamed)" in caplog.text


# -- listeners and listener= -------------------------------------------------------------


def test_listener_accepts_and_closes(path: str) -> None:
    with no_fd_leak():
        with netkit.SeqpacketListener.bind(path) as listener:
            assert listener.address == path
            assert listener.fileno() == listener.socket.fileno() >= 0
            assert listener.name is None
            assert repr(listener) == f"<SeqpacketListener unix:{path} listening>"
            with pytest.raises(NetkitTimeout):
                listener.accept(timeout=0.01)
            client = netkit.SeqpacketClient.connect(path, timeout=WAIT)
            with client, listener.accept(timeout=WAIT) as conn:
                assert isinstance(conn, netkit.SeqpacketConnection)
                assert (conn.local_address, conn.remote_address) == (path, "")
                assert client.remote_address == path
                client.send_message(b"one")
                client.send_message(b"two")
                assert conn.recv_message(timeout=WAIT) == b"one"
                assert conn.recv_message(timeout=WAIT) == b"two"
            # close() from another thread wakes a blocked accept
            timer = threading.Timer(0.1, listener.close)
            timer.start()
            with pytest.raises(ConnectionClosed, match="listener is closed"):
                listener.accept(timeout=WAIT)
            timer.join()
        assert listener.closed
        assert listener.fileno() == -1
        assert not os.path.exists(path)


def test_aio_listener_accepts_and_closes(path: str, run: Run) -> None:
    async def main() -> None:
        async with await aio.SeqpacketListener.bind(path, mode=0o600) as listener:
            assert _mode(path) == 0o600
            assert repr(listener) == f"<aio.SeqpacketListener unix:{path} listening>"
            with pytest.raises(NetkitTimeout):
                await listener.accept(timeout=0.01)
            client = await aio.SeqpacketClient.connect(path, timeout=WAIT)
            conn = await listener.accept(timeout=WAIT)
            assert isinstance(conn, aio.SeqpacketConnection)
            assert (conn.local_address, conn.remote_address) == (path, "")
            await client.send_message(b"one")
            assert await conn.recv_message(timeout=WAIT) == b"one"
            conn.close()
            client.close()
            waiting = asyncio.ensure_future(listener.accept(timeout=WAIT))
            await asyncio.sleep(0)
            listener.close()
            with pytest.raises(ConnectionClosed, match="listener is closed"):
                await waiting
        assert not os.path.exists(path)

    with no_fd_leak():
        run(main())


def test_servers_take_listeners(path: str, sock_dir: Path, run: Run) -> None:
    # A SeqpacketListener, or a listening SEQPACKET socket.socket, as listener=.
    with netkit.SeqpacketServer(_echo, listener=netkit.SeqpacketListener.bind(path)) as server:
        assert server.address == path
        assert _round_trip(path) == [b"a", b"bc", b"def"]
    assert not os.path.exists(path)  # the listener made the file: it goes with it
    raw_path = str(sock_dir / "raw.sock")
    with netkit.SeqpacketServer(_echo, listener=_seq_listening(raw_path)) as server:
        assert server.listener.address == raw_path
        assert _round_trip(raw_path) == [b"a", b"bc", b"def"]
    assert os.path.exists(raw_path)  # not made by netkit: not removed
    os.unlink(raw_path)
    never = netkit.SeqpacketListener.bind(path)
    netkit.SeqpacketServer(_echo, listener=never).stop()  # given, never served: closed
    assert never.closed

    async def main() -> None:
        listener = await aio.SeqpacketListener.bind(path)
        async with aio.SeqpacketServer(_aio_echo, listener=listener) as server:
            assert server.listener is listener
            assert await _aio_round_trip(path) == [b"a", b"bc", b"def"]
        async with aio.SeqpacketServer(_aio_echo, listener=_seq_listening(raw_path)):
            assert await _aio_round_trip(raw_path) == [b"a", b"bc", b"def"]
        os.unlink(raw_path)

    run(main())


def test_wrong_listeners_are_refused_alike(path: str, sock_dir: Path, run: Run) -> None:
    # Each wrong kind raises the same type and message in both faces, and names the
    # server that takes it.
    stream_path = str(sock_dir / "stream.sock")

    async def aio_listeners() -> dict[str, Any]:
        return {
            "tcp": await aio.TcpListener.bind("127.0.0.1", 0),
            "unix": await aio.UnixListener.bind(stream_path),
            "seq": await aio.SeqpacketListener.bind(path),
        }

    def sync_listeners() -> dict[str, Any]:
        return {
            "tcp": netkit.TcpListener.bind("127.0.0.1", 0),
            "unix": netkit.UnixListener.bind(stream_path),
            "seq": netkit.SeqpacketListener.bind(path),
        }

    def cases(space: Any, made: dict[str, Any]) -> list[Callable[[], Any]]:
        seq_handler = _echo if space is netkit else _aio_echo
        return [
            lambda: space.SeqpacketServer(seq_handler, listener=made["tcp"]),
            lambda: space.SeqpacketServer(seq_handler, listener=made["unix"]),
            lambda: space.SeqpacketServer(seq_handler, listener="sock"),
            lambda: space.UnixServer(seq_handler, listener=made["seq"]),
            lambda: space.TcpServer(seq_handler, listener=made["seq"]),
            lambda: space.SeqpacketServer(seq_handler, path, listener=made["seq"]),
            lambda: space.SeqpacketServer(seq_handler, listener=made["seq"], backlog=3),
            lambda: space.SeqpacketServer(seq_handler),
            lambda: space.SeqpacketServer(None, path),
            lambda: space.SeqpacketServer(seq_handler, path, idle_timeout=0),
            lambda: space.SeqpacketServer(seq_handler, path, max_connections=0),
        ]

    expected = [
        (TypeError, "listener must be a SeqpacketListener or a listening socket.socket, not "
         "TcpListener; use TcpServer"),
        (TypeError, "listener must be a SeqpacketListener or a listening socket.socket, not "
         "UnixListener; use UnixServer"),
        (TypeError, "listener must be a SeqpacketListener or a listening socket.socket, not str"),
        (TypeError, "listener must be a UnixListener or a listening socket.socket, not "
         "SeqpacketListener; use SeqpacketServer"),
        (TypeError, "listener must be a TcpListener or a listening socket.socket, not "
         "SeqpacketListener; use SeqpacketServer"),
        (TypeError, "path and mode apply when the server binds; with listener= the socket is "
         "already listening"),
        (TypeError, "backlog apply when the server binds; with listener= the socket is already "
         "listening"),
        (TypeError, "SeqpacketServer needs a path or a listener="),
        (TypeError, "handler must be callable, not NoneType"),
        (ValueError, "idle_timeout must be > 0, not 0"),
        (ValueError, "max_connections must be >= 1, not 0"),
    ]  # fmt: skip
    made = sync_listeners()
    try:
        mine = [outcome(call) for call in cases(netkit, made)]
    finally:
        for listener in made.values():
            listener.close()

    async def main() -> list[Outcome]:
        made = await aio_listeners()
        try:
            return [outcome(call) for call in cases(aio, made)]
        finally:
            for listener in made.values():
                listener.close()

    theirs = run(main())
    assert [(o.error, o.message) for o in mine] == expected
    assert theirs == mine


def test_wrong_sockets_are_refused_alike(sock_dir: Path, run: Run) -> None:
    stream = listening(str(sock_dir / "stream.sock"))
    seq = _seq_listening(str(sock_dir / "seq.sock"))
    tcp = socket.create_server(("127.0.0.1", 0))
    unlistened = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    socks = [stream, seq, tcp, unlistened]
    try:

        def calls(space: Any) -> list[Outcome]:
            return [
                outcome(lambda: space.SeqpacketListener(stream)),
                outcome(lambda: space.SeqpacketListener(tcp)),
                outcome(lambda: space.SeqpacketListener(unlistened)),
                outcome(lambda: space.SeqpacketListener(42)),
                outcome(lambda: space.UnixListener(seq)),
            ]

        pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        socks.extend(pair)
        assert outcome(lambda: netkit.UnixConnection(pair[0])) == Outcome(
            error=ValueError,
            message="UnixConnection needs a stream socket, not <SocketKind.SOCK_SEQPACKET: 5>; "
            "use SeqpacketConnection",
        )

        mine = calls(netkit)

        async def main() -> list[Outcome]:
            return calls(aio)

        assert run(main()) == mine
        assert [(o.error, o.message) for o in mine] == [
            (ValueError, "SeqpacketListener needs a SOCK_SEQPACKET socket, not "
             "<SocketKind.SOCK_STREAM: 1>; use UnixListener"),
            (TypeError, "SeqpacketListener needs an AF_UNIX socket, not AF_INET"),
            (ValueError, "SeqpacketListener needs a listening socket: call listen() on it first"),
            (TypeError, "sock must be a socket.socket, not int"),
            (ValueError, "UnixListener needs a stream socket, not "
             "<SocketKind.SOCK_SEQPACKET: 5>; use SeqpacketListener"),
        ]  # fmt: skip
        assert all(sock.fileno() >= 0 for sock in socks)  # a refusal takes nothing
    finally:
        for sock in socks:
            sock.close()
