"""UnixConnection and UnixClient in both faces: addresses, credentials, fd passing, errors.

Every situation runs in the sync face and in the asyncio face (on each loop) and the two
must give the same outcome, exception types and messages included; calls that fail
must leave no descriptor open.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import netkit
import netkit.aio as aio
from _aio_util import open_fds as open_sockets
from _aio_util import (
    run,  # noqa: F401  (the fixture)
    wait_until,
)
from _unixstream_util import (
    aio_outcome,
    fill_backlog,
    is_cloexec,
    listening,
    no_fd_leak,
    open_fds,
    outcome,
)
from netkit import (
    AddressError,
    ConnectFailed,
    ConnectionClosed,
    FrameTooLarge,
    NetkitTimeout,
    TcpConnection,
)
from netkit._core.conformance import Outcome
from netkit._core.unixpath import show
from netkit.unix import PeerCredentials, UnixClient, UnixConnection

pytestmark = pytest.mark.timeout(60)
Run = Callable[..., Any]
WAIT = 10.0


def _me() -> PeerCredentials:
    return PeerCredentials(os.getpid(), os.getuid(), os.getgid())


# -- addresses, credentials, wrapping -----------------------------------------------------


def test_pair_addresses_and_credentials(run: Run) -> None:  # noqa: F811
    a, b = UnixConnection.pair()
    with a, b:
        assert (a.local_address, a.remote_address) == ("", "")
        assert a.peer_credentials == _me()
        assert repr(a) == "<UnixConnection unix:(unnamed) -> unix:(unnamed)>"
        b.sendall(b"x")
        assert a.recv(timeout=WAIT) == b"x"

    async def main() -> None:
        x, y = await aio.UnixConnection.pair()
        try:
            assert (x.local_address, x.remote_address) == ("", "")
            assert x.peer_credentials == _me()
            assert repr(x) == "<aio.UnixConnection unix:(unnamed) -> unix:(unnamed) open>"
            await y.sendall(b"x")
            assert await x.recv(timeout=WAIT) == b"x"
        finally:
            await asyncio.gather(x.aclose(), y.aclose())

    run(main())


def _named_pair(path: str) -> tuple[socket.socket, socket.socket]:
    with listening(path) as listener:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        server, _ = listener.accept()
    if not path.startswith("\0"):
        os.unlink(path)  # the next pair binds it again; connections outlive the file
    return client, server


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_wrapping_keeps_addresses(tmp_path: Path, abstract: bool, run: Run) -> None:  # noqa: F811
    path = f"\0netkit-test-{os.getpid()}-{id(tmp_path)}" if abstract else str(tmp_path / "s")
    client, server = _named_pair(path)
    with UnixConnection(client) as c, UnixConnection(server) as s:
        assert (c.local_address, c.remote_address) == ("", path)
        assert (s.local_address, s.remote_address) == (path, "")
        c.close()
        assert c.remote_address == path  # kept after the close
    # socket.fromfd: a duplicate of any connected AF_UNIX stream socket wraps too
    client, server = _named_pair(path)
    dup = socket.fromfd(client.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
    client.close()
    with UnixConnection(dup) as c, UnixConnection(server) as s:
        c.sendall(b"ping")
        assert s.recv_exactly(4, timeout=WAIT) == b"ping"
        assert c.remote_address == path

    async def main() -> None:
        client, server = _named_pair(path)
        c = await aio.UnixConnection.from_socket(client)
        s = await aio.UnixConnection.from_socket(server)
        try:
            assert (c.local_address, c.remote_address) == ("", path)
            assert (s.local_address, s.remote_address) == (path, "")
        finally:
            await asyncio.gather(c.aclose(), s.aclose())

    run(main())


def test_a_socket_of_the_wrong_kind_is_refused_alike(tmp_path: Path) -> None:
    # TcpConnection refuses AF_UNIX (its addresses are Endpoints), UnixConnection
    # refuses AF_INET; both faces, same type and message.
    cases = [
        (TcpConnection, aio.TcpConnection, socket.AF_UNIX, socket.SOCK_STREAM),
        (UnixConnection, aio.UnixConnection, socket.AF_INET, socket.SOCK_STREAM),
        (UnixConnection, aio.UnixConnection, socket.AF_UNIX, socket.SOCK_DGRAM),
    ]
    for sync_cls, aio_cls, family, kind in cases:
        with socket.socket(family, kind) as sock:
            mine = outcome(lambda: sync_cls(sock))  # noqa: B023
            theirs = asyncio.run(aio_outcome(lambda: aio_cls.from_socket(sock)))  # noqa: B023
        assert mine == theirs
        assert mine.error in (TypeError, ValueError)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        message = outcome(lambda: TcpConnection(sock)).message
    assert message == (
        "TcpConnection needs an AF_INET or AF_INET6 socket, not AF_UNIX; use UnixConnection"
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    with context.wrap_socket(socket.socket(socket.AF_UNIX), do_handshake_on_connect=False) as tls:
        with pytest.raises(TypeError, match=r"not an ssl\.SSLSocket"):
            UnixConnection(tls)


def test_credentials_after_close(run: Run) -> None:  # noqa: F811
    a, b = UnixConnection.pair()
    a.close()
    b.close()
    mine = outcome(lambda: a.peer_credentials)

    async def main() -> Outcome:
        x, y = await aio.UnixConnection.pair()
        await asyncio.gather(x.aclose(), y.aclose())
        return outcome(lambda: x.peer_credentials)

    assert (
        run(main())
        == mine
        == Outcome(error=ConnectionClosed, message="connection is closed", partial=b"")
    )


# -- file descriptors ---------------------------------------------------------------------


def test_fds_travel_both_ways(run: Run) -> None:  # noqa: F811
    r, w = os.pipe()
    try:
        a, b = UnixConnection.pair()
        with a, b:
            a.send_fds(b"take these", [r, w], timeout=WAIT)
            data, fds = b.recv_fds(100, 4, timeout=WAIT)
            assert data == b"take these"
            _check_pipe(fds, r)

        async def main() -> None:
            x, y = await aio.UnixConnection.pair()
            try:
                await x.send_fds(b"take these", [r, w], timeout=WAIT)
                data, fds = await y.recv_fds(100, 4, timeout=WAIT)
                assert data == b"take these"
                _check_pipe(fds, r)
            finally:
                await asyncio.gather(x.aclose(), y.aclose())

        run(main())
    finally:
        os.close(r)
        os.close(w)


def _check_pipe(fds: list[int], original_read: int) -> None:
    assert len(fds) == 2
    assert original_read not in fds  # new descriptors for the same pipe
    assert all(is_cloexec(fd) for fd in fds)  # never inherited by a child by mistake
    os.write(fds[1], b"through")
    assert os.read(original_read, 7) == b"through"
    for fd in fds:
        os.close(fd)


def test_the_first_message_keeps_its_fds(tmp_path: Path, run: Run) -> None:  # noqa: F811
    # The peer sends descriptors right after connecting, before the receiving side
    # is wrapped: no loop may read (and drop) them on its own (uvloop would).
    path = str(tmp_path / "s")
    r, w = os.pipe()
    try:

        async def main() -> None:
            with listening(path) as listener:
                client = await aio.UnixClient.connect(path, timeout=WAIT)
                await client.send_fds(b"hello", [w], timeout=WAIT)
                await client.sendall(b" and more", timeout=WAIT)
                accepted, _ = listener.accept()
            for _ in range(3):
                await asyncio.sleep(0)  # a loop that reads eagerly would do it now
            server = await aio.UnixConnection.from_socket(accepted)
            for _ in range(3):
                await asyncio.sleep(0)
            try:
                data, fds = await server.recv_fds(5, 1, timeout=WAIT)
                assert (data, len(fds)) == (b"hello", 1)
                os.close(fds[0])
                assert await server.recv_exactly(9, timeout=WAIT) == b" and more"
            finally:
                await asyncio.gather(client.aclose(), server.aclose())

        run(main())
    finally:
        os.close(r)
        os.close(w)


def test_too_many_fds_are_all_closed_and_the_bytes_kept(run: Run) -> None:  # noqa: F811
    r, w = os.pipe()
    try:

        def sync_side() -> list[Outcome]:
            a, b = UnixConnection.pair()
            with a, b:
                a.send_fds(b"abc", [r, w, r, w], timeout=WAIT)
                with no_fd_leak():
                    first = outcome(lambda: b.recv_fds(10, 1, timeout=WAIT))
                    second = outcome(lambda: b.recv_fds(10, 1, timeout=WAIT))
                return [first, second]

        async def aio_side() -> list[Outcome]:
            x, y = await aio.UnixConnection.pair()
            try:
                await x.send_fds(b"abc", [r, w, r, w], timeout=WAIT)
                before = open_fds()
                first = await aio_outcome(lambda: y.recv_fds(10, 1, timeout=WAIT))
                second = await aio_outcome(lambda: y.recv_fds(10, 1, timeout=WAIT))
                assert open_fds() <= before
                return [first, second]
            finally:
                await asyncio.gather(x.aclose(), y.aclose())

        mine = sync_side()
        assert mine[0].error is FrameTooLarge
        assert mine[0].message.startswith("more file descriptors arrived, over max_fds=1")
        assert mine[1] == Outcome(value=(b"abc", []))  # the bytes stayed, in order
        assert run(aio_side()) == mine
    finally:
        os.close(r)
        os.close(w)


def test_max_fds_is_exact_even_when_the_room_is_rounded_up(run: Run) -> None:  # noqa: F811
    # CMSG_SPACE(4) has room for two ints: a second descriptor arrives without
    # MSG_CTRUNC, and must still be refused (and closed).
    r, w = os.pipe()
    try:
        a, b = UnixConnection.pair()
        with a, b:
            a.send_fds(b"ab", [r, w], timeout=WAIT)
            with no_fd_leak(), pytest.raises(FrameTooLarge) as info:
                b.recv_fds(10, 1, timeout=WAIT)
            assert str(info.value).startswith("2 file descriptors arrived, over max_fds=1")
            assert (info.value.limit, info.value.size) == (1, 2)
            assert b.recv_exactly(2, timeout=WAIT) == b"ab"
    finally:
        os.close(r)
        os.close(w)


def test_buffered_bytes_come_first_without_fds(run: Run) -> None:  # noqa: F811
    # The rule: recv_fds returns what netkit already buffered (read without any
    # descriptors) before it reads the socket, so the stream's order holds.
    r, w = os.pipe()
    try:

        def sync_side() -> list[Any]:
            a, b = UnixConnection.pair()
            with a, b:
                a.sendall(b"line\nrest")
                assert b.readline(timeout=WAIT) == b"line\n"
                first = b.recv_fds(100, 1, timeout=WAIT)
                a.send_fds(b"F", [r], timeout=WAIT)
                data, fds = b.recv_fds(100, 1, timeout=WAIT)
                for fd in fds:
                    os.close(fd)
                return [first, (data, len(fds))]

        async def aio_side() -> list[Any]:
            x, y = await aio.UnixConnection.pair()
            try:
                await x.sendall(b"line\nrest")
                assert await y.readline(timeout=WAIT) == b"line\n"
                first = await y.recv_fds(100, 1, timeout=WAIT)
                await x.send_fds(b"F", [r], timeout=WAIT)
                data, fds = await y.recv_fds(100, 1, timeout=WAIT)
                for fd in fds:
                    os.close(fd)
                return [first, (data, len(fds))]
            finally:
                await asyncio.gather(x.aclose(), y.aclose())

        mine = sync_side()
        assert mine == [(b"rest", []), (b"F", 1)]
        assert run(aio_side()) == mine
    finally:
        os.close(r)
        os.close(w)


def test_fds_with_a_large_message(run: Run) -> None:  # noqa: F811
    # The descriptors go with the first bytes; the rest follows as plain bytes, and a
    # queued write before them is delivered first (aio flushes its transport).
    big = bytes(range(256)) * 4096  # 1 MiB: more than a socket buffer holds
    r, w = os.pipe()
    try:
        a, b = UnixConnection.pair()
        with a, b:
            sender = threading.Thread(target=a.send_fds, args=(big, [r]))
            sender.start()
            data, fds = b.recv_fds(len(big), 1, timeout=WAIT)
            rest = b.recv_exactly(len(big) - len(data), timeout=WAIT)
            sender.join(WAIT)
            assert data + rest == big
            assert len(fds) == 1
            os.close(fds[0])

        async def main() -> None:
            x, y = await aio.UnixConnection.pair()
            try:
                # Waits, unread, in x's socket: x's writes wait for room without
                # letting the loop read it (a plain read makes the kernel close the
                # descriptor; a new uvloop transport reads at once).
                await y.send_fds(b"F", [w], timeout=WAIT)
                queued = asyncio.ensure_future(x.sendall(big, timeout=WAIT))
                sending = asyncio.ensure_future(x.send_fds(big, [r], timeout=WAIT))
                assert await y.recv_exactly(len(big), timeout=WAIT) == big
                await queued
                data, fds = await y.recv_fds(len(big), 1, timeout=WAIT)
                rest = await y.recv_exactly(len(big) - len(data), timeout=WAIT)
                await sending
                assert data + rest == big
                assert len(fds) == 1
                os.close(fds[0])
                got, passed = await x.recv_fds(10, 2, timeout=WAIT)
                assert got == b"F"
                assert len(passed) == 1
                os.close(passed[0])
            finally:
                await asyncio.gather(x.aclose(), y.aclose())

        run(main())
    finally:
        os.close(r)
        os.close(w)


def _fd_not_open() -> int:
    return max(open_fds()) + 1000  # far above every descriptor this test opens


BAD_FD_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("send_fds", (b"", [0]), {}),
    ("send_fds", ("text", [0]), {}),
    ("send_fds", (b"x", 0), {}),
    ("send_fds", (b"x", [0, True]), {}),
    ("send_fds", (b"x", [-1]), {}),
    ("send_fds", (b"x", [0] * 254), {}),
    ("send_fds", (b"x", [0]), {"timeout": -1}),
    ("recv_fds", (0, 1), {}),
    ("recv_fds", (1, 0), {}),
    ("recv_fds", ("1", 1), {}),
    ("recv_fds", (1, 1), {"timeout": "x"}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), BAD_FD_CALLS, ids=repr)
def test_bad_fd_arguments_fail_alike(
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    run: Run,  # noqa: F811
) -> None:
    a, b = UnixConnection.pair()
    with a, b, no_fd_leak():
        mine = outcome(lambda: getattr(a, method)(*args, **kwargs))

    async def main() -> Outcome:
        x, y = await aio.UnixConnection.pair()
        try:
            return await aio_outcome(lambda: getattr(x, method)(*args, **kwargs))
        finally:
            await asyncio.gather(x.aclose(), y.aclose())

    assert mine.error in (TypeError, ValueError)
    assert run(main()) == mine


def test_an_fd_that_is_not_open_is_named(run: Run) -> None:  # noqa: F811
    bad = _fd_not_open()
    a, b = UnixConnection.pair()
    with a, b:
        mine = outcome(lambda: a.send_fds(b"x", [0, bad]))

    async def main() -> Outcome:
        x, y = await aio.UnixConnection.pair()
        try:
            return await aio_outcome(lambda: x.send_fds(b"x", [0, bad]))
        finally:
            await asyncio.gather(x.aclose(), y.aclose())

    assert mine == Outcome(
        error=ValueError, message=f"fds[1] = {bad} is not an open file descriptor"
    )
    assert run(main()) == mine


def test_fd_calls_on_timeout_eof_and_close(run: Run) -> None:  # noqa: F811
    def sync_side() -> list[Outcome]:
        a, b = UnixConnection.pair()
        results = [outcome(lambda: b.recv_fds(10, 1, timeout=0.05))]
        a.sendall(b"late")
        results.append(outcome(lambda: b.recv_fds(10, 1, timeout=WAIT)))
        a.close()
        results.append(outcome(lambda: b.recv_fds(10, 1, timeout=WAIT)))  # EOF
        b.close()
        results.append(outcome(lambda: b.recv_fds(10, 1)))
        results.append(outcome(lambda: b.send_fds(b"x", [0])))
        return results

    async def aio_side() -> list[Outcome]:
        x, y = await aio.UnixConnection.pair()
        results = [await aio_outcome(lambda: y.recv_fds(10, 1, timeout=0.05))]
        await x.sendall(b"late")
        results.append(await aio_outcome(lambda: y.recv_fds(10, 1, timeout=WAIT)))
        await x.aclose()
        results.append(await aio_outcome(lambda: y.recv_fds(10, 1, timeout=WAIT)))
        await y.aclose()
        results.append(await aio_outcome(lambda: y.recv_fds(10, 1)))
        results.append(await aio_outcome(lambda: y.send_fds(b"x", [0])))
        return results

    mine = sync_side()
    closed = Outcome(error=ConnectionClosed, message="connection is closed", partial=b"")
    assert mine == [
        Outcome(error=NetkitTimeout, message="timed out waiting for data"),
        Outcome(value=(b"late", [])),
        Outcome(value=(b"", [])),
        closed,
        closed,
    ]
    assert run(aio_side()) == mine


def test_close_wakes_a_waiting_recv_fds(run: Run) -> None:  # noqa: F811
    a, b = UnixConnection.pair()
    box: list[Outcome] = []
    reader = threading.Thread(target=lambda: box.append(outcome(lambda: b.recv_fds(10, 1))))
    reader.start()
    reader.join(0.05)  # most likely blocked by now; either way close() must win
    b.close()
    reader.join(WAIT)
    a.close()
    assert box == [Outcome(error=ConnectionClosed, message="connection is closed", partial=b"")]

    async def main() -> Outcome:
        x, y = await aio.UnixConnection.pair()
        waiting = asyncio.ensure_future(aio_outcome(lambda: y.recv_fds(10, 1)))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()
        y.close()
        result = await waiting
        await asyncio.gather(x.aclose(), y.aclose())
        return result

    assert run(main()) == box[0]


def test_a_cancelled_recv_fds_consumes_nothing(run: Run) -> None:  # noqa: F811
    r, w = os.pipe()

    async def main() -> None:
        x, y = await aio.UnixConnection.pair()
        try:
            waiting = asyncio.ensure_future(y.recv_fds(10, 1))
            for _ in range(5):
                await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await x.send_fds(b"kept", [r], timeout=WAIT)
            data, fds = await y.recv_fds(10, 1, timeout=WAIT)
            assert (data, len(fds)) == (b"kept", 1)
            os.close(fds[0])
        finally:
            await asyncio.gather(x.aclose(), y.aclose())

    try:
        run(main())
    finally:
        os.close(r)
        os.close(w)


# -- UnixClient.connect ----------------------------------------------------------------------


def _connect_outcomes(run: Run, path: Any, timeout: float | None = None) -> Outcome:  # noqa: F811
    with no_fd_leak():
        mine = outcome(lambda: UnixClient.connect(path, timeout=timeout).close())

    async def main() -> Outcome:
        async def attempt() -> None:
            conn = await aio.UnixClient.connect(path, timeout=timeout)
            await conn.aclose()

        before = open_fds()
        result = await aio_outcome(attempt)
        assert open_fds() <= before
        return result

    theirs = run(main())
    assert theirs == mine
    return mine


def test_connect_errors_are_the_same(tmp_path: Path, run: Run) -> None:  # noqa: F811
    missing = str(tmp_path / "missing.sock")
    result = _connect_outcomes(run, missing)
    assert result == Outcome(
        error=ConnectFailed,
        message=f"cannot connect to {show(missing)}: no such file (nothing listens there)",
    )
    stale = str(tmp_path / "stale.sock")
    listening(stale).close()  # the file stays, nobody listens
    assert _connect_outcomes(run, stale).message == (
        f"cannot connect to {show(stale)}: connection refused (no socket is bound there, "
        "or it does not accept)"
    )
    regular = tmp_path / "file"
    regular.write_text("not a socket")
    assert _connect_outcomes(run, str(regular)).error is ConnectFailed
    too_long = "/" + "x" * 200
    assert _connect_outcomes(run, too_long).error is AddressError
    assert _connect_outcomes(run, 3).error is TypeError
    with pytest.raises(ConnectFailed) as info:
        UnixClient.connect(missing)
    assert info.value.errno == errno.ENOENT
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_connect_to_a_full_backlog_times_out(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "full.sock")
    with listening(path, backlog=0) as listener:
        clients = fill_backlog(path, listener)
        try:
            for timeout in (0, 0.1):
                result = _connect_outcomes(run, path, timeout=timeout)
                assert result == Outcome(
                    error=NetkitTimeout,
                    message=f"connect to {show(path)} timed out after {timeout:g} s",
                )
        finally:
            for client in clients:
                client.close()


def test_connect_waits_for_room_in_the_backlog(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "busy.sock")

    async def main() -> None:
        with listening(path, backlog=0) as listener:
            clients = fill_backlog(path, listener)
            connecting = asyncio.ensure_future(aio.UnixClient.connect(path, timeout=WAIT))
            await asyncio.sleep(0.05)  # connecting in its thread by now, most likely
            assert not connecting.done()
            accepted, _ = listener.accept()  # one place frees in the backlog
            conn = await connecting
            accepted.close()
            for client in clients:
                client.close()
            await conn.aclose()

    run(main())
    path = str(tmp_path / "busy-sync.sock")
    with listening(path, backlog=0) as listener:
        clients = fill_backlog(path, listener)
        freer = threading.Timer(0.05, lambda: listener.accept()[0].close())
        freer.start()
        UnixClient.connect(path, timeout=WAIT).close()
        freer.join()
        for client in clients:
            client.close()


def test_a_cancelled_connect_leaks_nothing(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "busy.sock")

    async def main() -> None:
        with listening(path, backlog=0) as listener:
            clients = fill_backlog(path, listener)
            before = open_fds()
            connecting = asyncio.ensure_future(aio.UnixClient.connect(path))
            await asyncio.sleep(0.05)
            connecting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await connecting
            # its thread lets go of the socket within a second (its kernel wait)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while open_fds() - before and loop.time() < deadline:
                await asyncio.sleep(0.02)
            assert not open_fds() - before
            for client in clients:
                client.close()

    run(main())


def test_a_close_while_the_loop_takes_over_flushes_first(run: Run) -> None:  # noqa: F811
    # An asyncio Unix connection is attached to the loop only once something waits:
    # here a write the socket cannot take at once. Closed meanwhile, it still delivers
    # what was written, then closes.
    blob = bytes(range(256)) * 1024  # 256 KiB: more than the socket buffer takes

    async def main() -> None:
        x, y = await aio.UnixConnection.pair()
        sending = asyncio.ensure_future(x.sendall(blob, timeout=WAIT))
        await asyncio.sleep(0)  # the write is queued, the transport being made
        x.close()
        assert await y.recv_all(timeout=WAIT) == blob
        await sending
        await asyncio.gather(x.aclose(), y.aclose())

    run(main())


@pytest.mark.parametrize("end", ["shutdown_write", "abort"])
def test_the_end_of_a_queued_write(run: Run, end: str) -> None:  # noqa: F811
    # What the socket cannot take at once waits, without the loop's transport, for
    # room. An EOF asked for meanwhile follows the last byte (the other way stays
    # open); an abort drops the rest and fails the writer. Nothing is left open.
    blob = bytes(range(256)) * 4096  # 1 MiB: more than the socket buffer and the queue

    async def main() -> None:
        before = open_sockets()  # (uvloop opens /dev/null lazily)
        x, y = await aio.UnixConnection.pair()
        if end == "shutdown_write":
            await x.sendall(blob[:262144], timeout=WAIT)  # returns with the rest queued
            assert x.transport.get_write_buffer_size() > 0
            x.shutdown_write()
            assert await y.recv_all(timeout=WAIT) == blob[:262144]  # then EOF
            await y.sendall(b"the other way", timeout=WAIT)
            assert await x.recv_exactly(13, timeout=WAIT) == b"the other way"
        else:
            sending = asyncio.ensure_future(x.sendall(blob, timeout=WAIT))
            await asyncio.sleep(0)  # the writer waits for room
            assert not sending.done()
            x.abort()
            with pytest.raises(ConnectionClosed):
                await sending
            got = await y.recv_all(timeout=WAIT)  # what the kernel had taken, then EOF
            assert 0 < len(got) < len(blob)
            assert got == blob[: len(got)]
        await asyncio.gather(x.aclose(), y.aclose())
        assert open_sockets() <= before

    run(main())


def test_a_writer_held_back_when_a_reader_attaches_the_loop_goes_on(
    run: Run,  # noqa: F811
) -> None:
    # The writer is held back by the connection's own queue (limits of 0: send
    # everything before going on, as send_fds does); a read that has to wait hands the
    # queue to the loop's transport, and the writer goes on: nothing is lost, nothing
    # stays stuck.
    first = bytes(range(256)) * 640  # 160 KiB: the socket buffer takes it
    second = bytes(range(256)) * 1024  # 256 KiB: most of it stays queued

    async def main() -> None:
        x, y = await aio.UnixConnection.pair()
        try:
            await x.sendall(first, timeout=WAIT)
            x.transport.set_write_buffer_limits(high=0, low=0)
            sending = asyncio.ensure_future(x.sendall(second, timeout=WAIT))
            await asyncio.sleep(0)
            assert not sending.done()  # held back: bytes are queued
            reading = asyncio.ensure_future(x.recv(10, timeout=WAIT))  # attaches
            await wait_until(x.transport.is_reading, timeout=WAIT)
            got = await y.recv_exactly(len(first) + len(second), timeout=WAIT)
            assert got == first + second
            await asyncio.wait_for(sending, WAIT)
            await y.sendall(b"done", timeout=WAIT)
            assert await reading == b"done"
        finally:
            await asyncio.gather(x.aclose(), y.aclose())

    run(main())


def test_a_server_stop_wakes_a_handler_in_recv_fds(tmp_path: Path, run: Run) -> None:  # noqa: F811
    path = str(tmp_path / "fds.sock")
    seen: list[Any] = []
    waiting = threading.Event()

    def handler(conn: UnixConnection) -> None:
        waiting.set()
        seen.append(conn.recv_fds(10, 1))  # the client never sends

    server = netkit.UnixServer(handler, path).start()
    client = UnixClient.connect(path, timeout=WAIT)
    assert waiting.wait(WAIT)
    server.stop(timeout=0.05)
    client.close()
    assert seen == [(b"", [])]  # woken: the server shut the connection down

    async def main() -> list[Any]:
        found: list[Any] = []
        ready = asyncio.Event()

        async def handler(conn: aio.UnixConnection) -> None:
            ready.set()
            found.append(await conn.recv_fds(10, 1))

        server = await aio.UnixServer(handler, path).start()
        client = await aio.UnixClient.connect(path, timeout=WAIT)
        await asyncio.wait_for(ready.wait(), WAIT)
        await server.stop(timeout=0.05)
        await client.aclose()
        return found

    assert run(main()) == seen
