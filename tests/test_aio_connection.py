"""netkit.aio.TcpConnection: reads, deadlines, EOF, limits, flow control, cancellation."""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _aio_util import assert_same_error, connection_pair, loopback_pair, run, run_on, wait_until
from netkit.aio import TcpConnection
from netkit.aio._protocol import StreamProtocol
from netkit.aio.connection import READ_HIGH_WATER, WRITE_HIGH_WATER
from netkit.errors import ConnectionClosed, FrameTooLarge, NetkitTimeout
from netkit.framing import encode_frame

__all__ = ["run"]  # the fixture, imported for pytest

Run = Callable[..., Any]


def test_round_trip_every_read_method(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            await a.sendall(b"hello\nworld\r\nabcdef" + encode_frame(b"frame!") + b"x\ny\n")
            assert await b.readline() == b"hello\n"
            assert await b.recv_until(b"\r\n") == b"world"
            assert await b.recv_exactly(3) == b"abc"
            assert await b.recv(3) == b"def"
            assert await b.recv_frame() == b"frame!"
            assert [line async for line in _take(b, 2)] == [b"x\n", b"y\n"]
            await a.send_frame(b"")
            assert await b.recv_frame() == b""
            await a.sendall(b"tail")
            a.shutdown_write()
            assert await b.recv_all() == b"tail"
            assert await b.recv() == b""
            assert await b.readline() == b""
            # Half-close: b can still send to a.
            await b.sendall(b"back")
            assert await a.recv_exactly(4) == b"back"
            assert a.local_address == b.remote_address
            assert a.remote_address.port == b.local_address.port

    run(main())


async def _take(conn: TcpConnection, count: int) -> Any:
    seen = 0
    async for line in conn:
        yield line
        seen += 1
        if seen == count:
            return


def test_sendfile(run: Run, tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB

    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            with open(path, "rb") as f:
                reader = asyncio.ensure_future(b.recv_exactly(1000 + 300_000, timeout=10))
                assert await a.sendfile(f, count=1000) == 1000
                assert await a.sendfile(f, offset=5000, count=300_000, timeout=10) == 300_000
            data = path.read_bytes()
            assert await reader == data[:1000] + data[5000:305_000]

    run(main())


def test_async_for_ends_at_eof(run: Run) -> None:
    async def main() -> list[bytes]:
        a, b = await connection_pair()
        async with a, b:
            await a.sendall(b"1\n2\n3\n")
            a.shutdown_write()
            return [line async for line in b]

    assert run(main()) == [b"1\n", b"2\n", b"3\n"]


# -- partial reads at every split point ------------------------------------------------


class _FakeTransport(asyncio.Transport):
    """Just enough transport to drive the protocol by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.paused = False
        self.closing = False

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def set_write_buffer_limits(self, high: Any = None, low: Any = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[i:j] for i, j in itertools.pairwise(points)]


async def _fed(
    chunks: list[bytes], read: Callable[[TcpConnection], Any], eof: bool = False
) -> Any:
    """Run *read* while the chunks arrive one loop turn apart."""
    loop = asyncio.get_running_loop()
    protocol = StreamProtocol(loop)
    transport = _FakeTransport()
    protocol.connection_made(transport)
    conn = TcpConnection(transport, protocol)

    async def feed() -> None:
        for chunk in chunks:
            await asyncio.sleep(0)
            protocol.data_received(chunk)
        if eof:
            await asyncio.sleep(0)
            protocol.eof_received()

    feeder = asyncio.ensure_future(feed())
    try:
        return await read(conn)
    finally:
        await feeder


messages = st.lists(st.binary(max_size=40), min_size=1, max_size=5)
cuts = st.lists(st.integers(min_value=0, max_value=400), max_size=12)


@given(payloads=messages, cut=cuts)
def test_frames_survive_any_split(payloads: list[bytes], cut: list[int]) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)

    async def read(conn: TcpConnection) -> list[bytes]:
        return [await conn.recv_frame() for _ in payloads]

    assert run_on(asyncio.new_event_loop, _fed(_split(stream, cut), read)) == payloads


@given(payloads=messages, cut=cuts)
def test_lines_and_exact_reads_survive_any_split(payloads: list[bytes], cut: list[int]) -> None:
    lines = [p.replace(b"\n", b"") + b"\n" for p in payloads]
    stream = b"".join(lines) + b"END!" + b"tail"

    async def read(conn: TcpConnection) -> tuple[list[bytes], bytes, bytes]:
        got = [await conn.readline() for _ in lines]
        return got, await conn.recv_exactly(4), await conn.recv_all()

    result = run_on(asyncio.new_event_loop, _fed(_split(stream, cut), read, eof=True))
    assert result == (lines, b"END!", b"tail")


@given(data=st.binary(min_size=1, max_size=60), cut=cuts)
def test_recv_until_multibyte_delimiter_split(data: bytes, cut: list[int]) -> None:
    body = data.replace(b"\r", b"")
    stream = body + b"\r\n\r\n" + b"rest"

    async def read(conn: TcpConnection) -> tuple[bytes, bytes]:
        return await conn.recv_until(b"\r\n\r\n"), await conn.recv_exactly(4)

    assert run_on(asyncio.new_event_loop, _fed(_split(stream, cut), read)) == (body, b"rest")


def test_real_socket_split_at_every_point(run: Run) -> None:
    frame = encode_frame(b"0123456789abcdef")

    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            for i in range(len(frame)):
                reader = asyncio.ensure_future(b.recv_frame(timeout=5))
                await a.sendall(frame[:i])
                await wait_until(lambda i=i: b.buffered == i)  # type: ignore[misc]
                assert not reader.done()
                await a.sendall(frame[i:])
                assert await reader == b"0123456789abcdef"

    run(main())


# -- deadlines -------------------------------------------------------------------------


def test_timeout_keeps_received_bytes(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            await a.sendall(b"12345")
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(NetkitTimeout):
                await b.recv_exactly(10, timeout=0.1)
            assert loop.time() - start >= 0.09
            with pytest.raises(NetkitTimeout):
                await b.recv_until(b"\n", timeout=0)
            await a.sendall(b"67890")
            assert await b.recv_exactly(10, timeout=1) == b"1234567890"
            with pytest.raises(NetkitTimeout):
                await b.recv(timeout=0.01)

    run(main())


def test_timeout_is_a_deadline_not_per_chunk(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:

            async def trickle() -> None:
                for _ in range(20):
                    await a.sendall(b"x")
                    await asyncio.sleep(0.02)

            feeder = asyncio.ensure_future(trickle())
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(NetkitTimeout):
                await b.recv_exactly(100, timeout=0.15)
            assert loop.time() - start < 1.0
            await feeder

    run(main())


def test_idle_timeout(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair(idle_timeout=0.1)
        async with a, b:
            with pytest.raises(NetkitTimeout, match="idle"):
                await b.recv()
            assert b.idle_expired

    run(main())


def test_bad_arguments() -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            with pytest.raises(ValueError, match="timeout"):
                await b.recv(timeout=-1)
            with pytest.raises(TypeError):
                await b.recv_exactly("3")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="empty"):
                await b.recv_until(b"")
            with pytest.raises(ValueError, match="max_bytes"):
                await b.recv(-1)
            assert await b.recv(0) == b""

    run_on(asyncio.new_event_loop, main())


# -- EOF and limits --------------------------------------------------------------------


def test_eof_with_partial(run: Run) -> None:
    async def main() -> None:
        for method, sent in [
            (lambda c: c.recv_exactly(10), b"part"),
            (lambda c: c.recv_until(b"\n"), b"part"),
            (lambda c: c.readline(), b"part"),
            (lambda c: c.recv_frame(), b"\0\0\0\x09part"),
        ]:
            a, b = await connection_pair()
            async with a, b:
                await a.sendall(sent)
                a.shutdown_write()
                with pytest.raises(ConnectionClosed) as info:
                    await method(b)
                assert info.value.partial == sent
                assert await b.recv() == b""

    run(main())


def test_eof_while_waiting(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            reader = asyncio.ensure_future(b.recv_exactly(8))
            await a.sendall(b"abc")
            await wait_until(lambda: b.buffered == 3)
            await a.aclose()
            with pytest.raises(ConnectionClosed) as info:
                await reader
            assert info.value.partial == b"abc"

    run(main())


def test_limits_consume_nothing(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            await a.sendall(b"x" * 20 + b"\n")
            with pytest.raises(FrameTooLarge) as info:
                await b.recv_until(b"\n", max_bytes=10)
            assert info.value.limit == 10
            with pytest.raises(FrameTooLarge):
                await b.readline(max_bytes=19)
            assert await b.readline(max_bytes=20) == b"x" * 20 + b"\n"
            # A frame header announcing too much fails before its payload is sent.
            await a.sendall(struct.pack("!I", 1000))
            with pytest.raises(FrameTooLarge) as info:
                await b.recv_frame(max_size=999, timeout=5)
            assert info.value.size == 1000
            assert await b.recv_exactly(4) == struct.pack("!I", 1000)
            await a.sendall(b"y" * 50)
            a.shutdown_write()
            with pytest.raises(FrameTooLarge):
                await b.recv_all(max_bytes=49)
            assert await b.recv_all(max_bytes=50) == b"y" * 50

    run(main())


def test_closed_connection_refuses_use(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        await a.aclose()
        await a.aclose()  # idempotent
        assert a.closed
        with pytest.raises(ConnectionClosed):
            await a.recv()
        with pytest.raises(ConnectionClosed):
            await a.sendall(b"x")
        assert await b.recv() == b""
        await b.aclose()

    run(main())


def test_one_reader_at_a_time(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            first = asyncio.ensure_future(b.recv())
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="already reading"):
                await b.recv()
            await a.sendall(b"z")
            assert await first == b"z"

    run(main())


# -- cancellation ----------------------------------------------------------------------


def test_cancelled_recv_exactly_keeps_bytes(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            reader = asyncio.ensure_future(b.recv_exactly(10))
            await a.sendall(b"0123")
            await wait_until(lambda: b.buffered == 4)
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            assert b._protocol.read_waiter is None  # a new read may start
            await a.sendall(b"456789")
            assert await b.recv_exactly(10, timeout=5) == b"0123456789"
            # Cancelling a frame read half way through the payload loses nothing either.
            frame = encode_frame(b"payload")
            reader = asyncio.ensure_future(b.recv_frame())
            await a.sendall(frame[:6])
            await wait_until(lambda: b.buffered == 6)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await a.sendall(frame[6:])
            assert await b.recv_frame(timeout=5) == b"payload"

    run(main())


def _feed(protocol: StreamProtocol, data: bytes, buffered: bool) -> None:
    """Deliver *data* as the transport would: data_received, or the buffered protocol."""
    if buffered:
        view = protocol.get_buffer(-1)
        view[: len(data)] = data
        protocol.buffer_updated(len(data))
    else:
        protocol.data_received(data)


@pytest.mark.parametrize("buffered", [False, True], ids=["data_received", "buffer_updated"])
@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-deadline", "deadline"])
def test_cancel_after_chunk_handed_over_keeps_it(buffered: bool, timeout: float | None) -> None:
    """A recv cancelled after data reached it, but before it ran, loses nothing."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocol = StreamProtocol(loop)
        protocol.connection_made(_FakeTransport())
        conn = TcpConnection(protocol.transport, protocol)  # type: ignore[arg-type]
        reader = asyncio.ensure_future(conn.recv(timeout=timeout))
        await asyncio.sleep(0)  # the reader is now waiting
        _feed(protocol, b"first", buffered)  # handed straight to the waiting recv
        assert not protocol.buffer  # it went to the reader, not into the buffer
        _feed(protocol, b"second", buffered)  # buffered behind it
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert await conn.recv() == b"firstsecond"

    run_on(asyncio.new_event_loop, main())


@pytest.mark.parametrize("waiting", [True, False], ids=["while-waiting", "before-recv"])
@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-deadline", "deadline"])
def test_recv_on_a_reset_connection_raises_connection_closed(
    waiting: bool, timeout: float | None
) -> None:
    """A reset is not a clean EOF: recv raises (with the cause), it does not return b""."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocol = StreamProtocol(loop)
        protocol.connection_made(_FakeTransport())
        conn = TcpConnection(protocol.transport, protocol)  # type: ignore[arg-type]
        reset = ConnectionResetError(104, "Connection reset by peer")
        if waiting:
            reader = asyncio.ensure_future(conn.recv(timeout=timeout))
            await asyncio.sleep(0)
            protocol.connection_lost(reset)
            with pytest.raises(ConnectionClosed, match="connection lost") as info:
                await reader
        else:
            protocol.connection_lost(reset)
            with pytest.raises(ConnectionClosed, match="connection lost") as info:
                await conn.recv(timeout=timeout)
        assert info.value.__cause__ is reset
        assert protocol.read_waiter is None

    run_on(asyncio.new_event_loop, main())


def test_recv_checks_max_bytes_with_data_buffered() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocol = StreamProtocol(loop)
        protocol.connection_made(_FakeTransport())
        conn = TcpConnection(protocol.transport, protocol)  # type: ignore[arg-type]
        protocol.data_received(b"kept")
        with pytest.raises(ValueError, match="max_bytes must be >= 0"):
            await conn.recv(-1)
        with pytest.raises(TypeError, match="max_bytes"):
            await conn.recv("4")  # type: ignore[arg-type]
        assert await conn.recv(0) == b""
        assert await conn.recv() == b"kept"  # nothing was consumed by the bad calls

    run_on(asyncio.new_event_loop, main())


@pytest.mark.parametrize("max_bytes", [3, 2])
def test_chunk_handed_to_recv_is_a_copy_of_the_scratch_area(max_bytes: int) -> None:
    """The scratch area is reused by the next receive: what recv returned must not change.

    With ``max_bytes=2`` the chunk does not fit, goes through the buffer, and the rest
    stays buffered for the next read.
    """

    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocol = StreamProtocol(loop)
        protocol.connection_made(_FakeTransport())
        conn = TcpConnection(protocol.transport, protocol)  # type: ignore[arg-type]
        reader = asyncio.ensure_future(conn.recv(max_bytes))
        await asyncio.sleep(0)
        _feed(protocol, b"abc", True)
        _feed(protocol, b"xyz", True)  # overwrites the scratch area
        first = await reader
        assert first == b"abc"[:max_bytes]
        assert first + await conn.recv() == b"abcxyz"
        assert not protocol.buffer

    run_on(asyncio.new_event_loop, main())


# -- flow control ----------------------------------------------------------------------


def test_sendall_blocks_when_peer_does_not_read(run: Run) -> None:
    async def main() -> None:
        # Kernel buffers on loopback hold a few MiB; the payload is far larger. (A tiny
        # SO_RCVBUF would make the final drain crawl through delayed ACKs.)
        a, b = await connection_pair()
        async with a, b:
            payload = bytes(64 * 1024 * 1024)
            with pytest.raises(NetkitTimeout, match=r"^timed out sending$"):
                await a.sendall(payload, timeout=0.3)
            # What waits in user space stays bounded: one chunk plus the high-water mark.
            assert a.transport.get_write_buffer_size() <= 2 * 256 * 1024 + WRITE_HIGH_WATER
            # A writer task stays blocked (it does not complete into memory)...
            writer = asyncio.ensure_future(a.sendall(b"q" * (4 * 1024 * 1024)))
            done, _ = await asyncio.wait([writer], timeout=0.2)
            assert not done
            assert a.transport.get_write_buffer_size() <= 2 * 256 * 1024 + WRITE_HIGH_WATER
            # ...and completes once the peer reads.
            total = 0
            while not writer.done() or total < 1:
                chunk = await b.recv(1 << 20, timeout=5)
                assert chunk
                total += len(chunk)
            await writer

    run(main())


def test_reading_pauses_above_high_water(run: Run) -> None:
    async def main() -> None:
        a, b = await connection_pair()
        async with a, b:
            size = 32 * READ_HIGH_WATER  # far more than the kernel buffers hold
            writer = asyncio.ensure_future(a.sendall(b"r" * size))
            await wait_until(lambda: b._protocol.reading_paused and a._protocol.write_paused)
            assert b.buffered <= READ_HIGH_WATER + 1024 * 1024
            assert not writer.done()
            got = await b.recv_exactly(size, timeout=10)
            assert got == b"r" * size
            await writer
            assert not b._protocol.reading_paused

    run(main())


# -- the twin promise: the same bad argument gets the same error ---------------------------

BAD_CONNECTION_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("recv", (-1,), {}),
    ("recv", ("1",), {}),
    ("recv", (), {"timeout": -1}),
    ("recv_exactly", (-1,), {}),
    ("recv_exactly", ("3",), {}),
    ("recv_exactly", (True,), {}),
    ("recv_exactly", (5,), {"timeout": float("nan")}),
    ("recv_until", (b"",), {}),
    ("recv_until", ("\n",), {}),
    ("recv_until", (b"\n",), {"max_bytes": -1}),
    ("readline", (), {"max_bytes": "x"}),
    ("readline", (), {"timeout": "x"}),
    ("recv_all", (), {"max_bytes": -1}),
    ("recv_frame", (), {"max_size": -1}),
    ("sendall", ("text",), {}),
    ("sendall", (5,), {}),
    ("sendall", ("text",), {"timeout": 1}),
    ("sendall", (b"x",), {"timeout": -1}),
    ("sendall", (b"x",), {"timeout": "1"}),
    ("send_frame", ("text",), {}),
    ("send_frame", (b"x",), {"timeout": -1}),
]


@pytest.mark.parametrize("buffered", [False, True], ids=["empty", "data-buffered"])
@pytest.mark.parametrize(("method", "args", "kwargs"), BAD_CONNECTION_CALLS, ids=repr)
def test_bad_arguments_fail_like_the_sync_connection(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any], buffered: bool
) -> None:
    from netkit import TcpConnection as SyncConnection

    def sync_call() -> None:
        a, b = loopback_pair()
        with SyncConnection(a) as conn, b:
            if buffered:
                b.sendall(b"data\n")
                assert conn.recv_exactly(1) == b"d"  # the rest is now in the buffer
            getattr(conn, method)(*args, **kwargs)

    async def aio_call() -> None:
        a, b = loopback_pair()
        conn = await TcpConnection.from_socket(a)
        with b:
            try:
                if buffered:
                    b.sendall(b"data\n")
                    assert await conn.recv_exactly(1, timeout=5) == b"d"
                await asyncio.wait_for(getattr(conn, method)(*args, **kwargs), 5)
            finally:
                await conn.aclose()

    assert_same_error(sync_call, aio_call)
