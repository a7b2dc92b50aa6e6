"""netkit.aio.testing.memory_pair: asyncio TcpConnections over memory, on every loop.

The conformance table over memory pairs with every knob combination, outcome for
outcome equal to asyncio TCP's; each knob on its own; the reset as over TCP; and the
transport's asyncio contract (flow control both ways, close, abort, write_eof).
"""

from __future__ import annotations

import asyncio
import errno
import io
import socket
import struct
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import pytest

import netkit.aio.testing as aio_testing
import netkit.testing as sync_testing
from _aio_util import connection_pair, run  # noqa: F401  (run: the fixture)
from netkit import ConnectionClosed, Endpoint, NetkitTimeout
from netkit import TcpConnection as SyncConnection
from netkit._core.conformance import CASES
from netkit.aio import TcpConnection
from netkit.aio._protocol import READ_HIGH_WATER, WRITE_HIGH_WATER, WRITE_LOW_WATER
from netkit.aio.testing import MemoryConnection, MemoryTransport, memory_pair

pytestmark = pytest.mark.timeout(60)
Run = Callable[..., Any]

T = 0.05  # a deadline that only has to pass
WAIT = 10.0  # a deadline that must not pass

# asyncio's write() never blocks, so even max_buffer=1 runs the single-task table.
KNOBS = [
    {},
    {"chunk_size": 1},
    {"chunk_size": 2},
    {"chunk_size": 7},
    {"max_buffer": 1},
    {"max_buffer": 17},
    {"chunk_size": 1, "max_buffer": 1},
    {"chunk_size": 3, "max_buffer": 20},
]


def _ids(knobs: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in knobs.items()) or "defaults"


async def outcome(call: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[Any, ...]:
    """What a call gave, comparable across transports: value, or type/message/errno."""
    try:
        return ("ok", await call())
    except ConnectionClosed as exc:
        return (type(exc), str(exc), exc.errno, exc.partial)
    except Exception as exc:
        return (type(exc), str(exc))


async def closing(*conns: TcpConnection) -> None:
    for conn in conns:
        await conn.aclose()


# -- the conformance table -----------------------------------------------------------------


@pytest.mark.parametrize("knobs", KNOBS, ids=_ids)
def test_memory_pairs_conform(run: Run, knobs: dict[str, int]) -> None:  # noqa: F811
    run(aio_testing.check_connection_pair(partial(memory_pair, **knobs)))


def test_memory_outcomes_equal_tcp_outcomes(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        for case in CASES:
            results = []
            for make in (connection_pair, memory_pair):
                a, b = await make()
                try:
                    results.append(await aio_testing.run_case(case, a, b))
                finally:
                    await closing(a, b)
            assert results[0] == results[1], case.name

    run(main())


# -- what a memory connection is -----------------------------------------------------------


def test_they_are_asyncio_tcp_connections(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair()
        assert isinstance(a, TcpConnection)
        assert isinstance(b, MemoryConnection)
        assert not isinstance(a, SyncConnection)
        assert repr(a) == "<aio.MemoryConnection 127.0.0.1:1 -> 127.0.0.1:2 open>"
        assert a.socket is None
        assert a.fileno() == -1
        assert a.is_tls is False
        assert isinstance(a.transport, MemoryTransport)
        assert a.transport.get_extra_info("peername") == ("127.0.0.1", 2)
        assert a.transport.get_extra_info("sockname") == ("127.0.0.1", 1)
        assert a.local_address == b.remote_address == Endpoint("127.0.0.1", 1)
        assert a.remote_address == b.local_address == Endpoint("127.0.0.1", 2)
        await closing(a, b)
        assert a.closed
        assert repr(a) == "<aio.MemoryConnection 127.0.0.1:1 -> 127.0.0.1:2 closed>"
        assert a.remote_address == Endpoint("127.0.0.1", 2)

    run(main())


def test_addresses_knob(run: Run) -> None:  # noqa: F811
    ends = (Endpoint("fe80::1%7", 5000), Endpoint("2001:db8::2", 443))

    async def main() -> None:
        a, b = await memory_pair(addresses=ends)
        assert (a.local_address, a.remote_address) == ends
        assert (b.local_address, b.remote_address) == ends[::-1]
        assert a.transport.get_extra_info("sockname") == ("fe80::1", 5000, 0, 7)
        await closing(a, b)

    run(main())


@pytest.mark.parametrize(
    "knobs",
    [
        {"chunk_size": 0},
        {"chunk_size": "1"},
        {"max_buffer": -5},
        {"addresses": ("127.0.0.1", 1)},
        {"addresses": (Endpoint("example.com", 1), Endpoint("127.0.0.1", 2))},
    ],
)
def test_bad_knobs_fail_as_in_sync(knobs: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)) as sync_error:
        sync_testing.memory_pair(**knobs)
    with pytest.raises((TypeError, ValueError)) as aio_error:
        asyncio.run(memory_pair(**knobs))
    assert type(aio_error.value) is type(sync_error.value)
    assert str(aio_error.value) == str(sync_error.value)


# -- chunk_size ------------------------------------------------------------------------------


def test_chunk_size_one_gives_one_byte_per_receive(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair(chunk_size=1)
        await b.sendall(b"hello")
        assert [await a.recv(100) for _ in range(5)] == [b"h", b"e", b"l", b"l", b"o"]
        await closing(a, b)

    run(main())


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 13])
def test_every_read_method_reassembles_every_split(run: Run, chunk: int) -> None:  # noqa: F811
    message = b"GET / HTTP/1.1\r\n" + struct.pack(">I", 11) + b"hello world" + b"tail;rest"

    async def main() -> None:
        a, b = await memory_pair(chunk_size=chunk)
        await b.sendall(message)
        b.shutdown_write()
        assert await a.recv_until(b"\r\n", timeout=WAIT) == b"GET / HTTP/1.1"
        assert await a.recv_frame(timeout=WAIT) == b"hello world"
        assert await a.recv_until(b";") == b"tail"
        assert await a.recv_exactly(2) == b"re"
        assert await a.recv_all() == b"st"
        await closing(a, b)

    run(main())


def test_a_big_transfer_in_small_chunks_both_ways_at_once(run: Run) -> None:  # noqa: F811
    data = bytes(range(256)) * 3000  # 768 KiB: past the write high-water mark

    async def main() -> None:
        a, b = await memory_pair(chunk_size=4093, max_buffer=1000)
        got = await asyncio.gather(
            a.sendall(data),
            b.sendall(data),
            a.recv_exactly(len(data)),
            b.recv_exactly(len(data)),
        )
        assert got[2:] == [data, data]
        await closing(a, b)

    run(main())


def test_a_cancelled_read_loses_nothing(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair(chunk_size=1)
        await b.sendall(b"abc")
        with pytest.raises(NetkitTimeout):
            await a.recv_exactly(4, timeout=T)
        reader = asyncio.ensure_future(a.recv_exactly(5))
        await asyncio.sleep(0)  # let it start waiting (an ordering point, not a delay)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await b.sendall(b"de")
        assert await a.recv_exactly(5, timeout=WAIT) == b"abcde"
        await closing(a, b)

    run(main())


# -- stall -----------------------------------------------------------------------------------


def test_stall_holds_bytes_and_eof_until_unstall(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair()
        await b.sendall(b"before ")
        b.stall()
        assert b.stalled
        await b.sendall(b"held")
        b.shutdown_write()
        assert await a.recv(timeout=WAIT) == b"before "
        with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
            await a.recv(timeout=T)
        await a.sendall(b"other way")  # one direction only
        assert await b.recv_exactly(9, timeout=WAIT) == b"other way"
        b.unstall()
        assert not b.stalled
        assert await a.recv_all(timeout=WAIT) == b"held"
        await closing(a, b)

    run(main())


def test_stall_with_max_buffer_makes_sendall_wait(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair(max_buffer=1000)
        b.stall()
        # The link holds 1000 bytes; the rest waits in the transport's buffer, and
        # sendall waits once that passes the high-water mark.
        data = b"x" * (WRITE_HIGH_WATER * 2)
        with pytest.raises(NetkitTimeout) as info:
            await b.sendall(data, timeout=T)
        assert str(info.value) == "timed out sending"
        waiting = b.transport.get_write_buffer_size()
        assert waiting > WRITE_HIGH_WATER
        b.unstall()
        await b.sendall(b"!", timeout=WAIT)  # the buffer drains as a reads
        got = await a.recv_exactly(1000 + waiting + 1, timeout=WAIT)
        assert got.endswith(b"x!")
        await closing(a, b)

    run(main())


# -- backpressure as over TCP ----------------------------------------------------------------


def test_a_reader_that_does_not_read_stops_the_writer(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair(max_buffer=65536)
        data = bytes(range(256)) * (12 * 1024)  # 3 MiB
        with pytest.raises(NetkitTimeout, match=r"^timed out sending$"):
            await a.sendall(data, timeout=0.5)
        # b read ahead up to its high-water mark, then stopped reading, as over TCP.
        assert READ_HIGH_WATER < b.buffered <= READ_HIGH_WATER + 256 * 1024
        assert not b.transport.is_reading()
        queued = a.transport.get_write_buffer_size()
        assert queued > WRITE_LOW_WATER  # the writer is paused until it drains below
        got = await b.recv_exactly(b.buffered + 65536 + queued, timeout=WAIT)
        assert data.startswith(got)
        assert b.transport.is_reading()
        await closing(a, b)

    run(main())


# -- abort (reset) ---------------------------------------------------------------------------


async def _reset_script(a: TcpConnection) -> list[tuple[Any, ...]]:
    return [
        await outcome(partial(a.recv, 10, timeout=WAIT)),
        await outcome(partial(a.recv, 10, timeout=WAIT)),
        await outcome(partial(a.recv_exactly, 3, timeout=WAIT)),
        await outcome(partial(a.sendall, b"x")),
    ]


def test_a_reset_looks_as_over_tcp(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        x, y = await connection_pair()
        await y.sendall(b"data")
        await x.recv_exactly(1, timeout=WAIT)
        y.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        y.abort()  # closes the socket with SO_LINGER 0: a reset
        over_tcp = await _reset_script(x)
        await closing(x, y)
        a, b = await memory_pair()
        await b.sendall(b"data")
        await a.recv_exactly(1, timeout=WAIT)
        b.abort()
        in_memory = await _reset_script(a)
        await closing(a, b)
        assert in_memory == over_tcp
        assert in_memory[1][:3] == (
            ConnectionClosed,
            "connection lost: Connection reset by peer",
            errno.ECONNRESET,
        )

    run(main())


def test_abort_drops_held_bytes_and_keeps_partial_reads(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair()
        await b.sendall(b"\x00\x00\x00\x09part")
        b.stall()
        await b.sendall(b"never")
        reader = asyncio.ensure_future(a.recv_frame())
        b.abort()
        with pytest.raises(ConnectionClosed) as info:
            await reader
        assert info.value.partial == b"\x00\x00\x00\x09part"
        assert info.value.errno == errno.ECONNRESET
        assert isinstance(info.value.__cause__, ConnectionResetError)
        await closing(a, b)

    run(main())


def test_aclose_that_cannot_flush_aborts(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair(max_buffer=10)
        b.stall()
        await b.sendall(b"x" * 100)  # 90 bytes stay in b's transport buffer
        await b.aclose(timeout=T)  # cannot flush: aborted, so the peer sees a reset
        assert b.closed
        with pytest.raises(ConnectionClosed, match="reset by peer"):
            await a.recv(timeout=WAIT)
        await a.aclose()

    run(main())


# -- close and shutdown ----------------------------------------------------------------------


def test_close_sends_eof_behind_the_data(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair(chunk_size=2)
        await b.sendall(b"bye")
        await b.aclose()
        assert await a.recv_all(timeout=WAIT) == b"bye"
        await a.sendall(b"lost")  # accepted and dropped, as over TCP
        await a.sendall(b"x")  # fails in the transport, which ends the connection...
        await asyncio.sleep(0)  # ...from a loop callback (an ordering point), as over TCP
        with pytest.raises(ConnectionClosed, match=r"^connection lost: Broken pipe$"):
            await a.sendall(b"x")
        await a.aclose()

    run(main())


def test_close_wakes_a_reader_in_another_task(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair()
        reader = asyncio.ensure_future(a.recv())
        await asyncio.sleep(0)  # an ordering point: the reader is waiting
        a.close()
        with pytest.raises(ConnectionClosed, match=r"^connection is closed$"):
            await reader
        await closing(a, b)

    run(main())


def test_shutdown_read_ends_a_waiting_read(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair()
        reader = asyncio.ensure_future(a.recv_exactly(3))
        await asyncio.sleep(0)
        a.shutdown(socket.SHUT_RD)
        with pytest.raises(ConnectionClosed, match=r"^connection closed by peer after 0 of 3"):
            await reader
        await closing(a, b)

    run(main())


def test_timeout_property_and_sendfile(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair(chunk_size=1000)
        a.timeout = T
        with pytest.raises(NetkitTimeout, match=r"^timed out waiting for data$"):
            await a.readline()
        data = bytes(range(256)) * 600
        assert await b.sendfile(io.BytesIO(data), 10, 5000) == 5000
        a.timeout = None
        assert await a.recv_exactly(5000) == data[10:5010]
        await closing(a, b)

    run(main())


# -- the transport's asyncio contract ----------------------------------------------------------


def test_the_transport_as_asyncio_defines_it(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair()
        transport = a.transport
        assert transport.can_write_eof()
        assert transport.get_write_buffer_limits() == (64 * 1024, WRITE_HIGH_WATER)
        transport.set_write_buffer_limits(high=100)
        assert transport.get_write_buffer_limits() == (25, 100)
        with pytest.raises(ValueError, match="must be >= low"):
            transport.set_write_buffer_limits(high=1, low=2)
        assert transport.get_extra_info("socket") is None
        assert transport.get_extra_info("nothing", "default") == "default"
        assert transport.is_reading()
        transport.pause_reading()
        assert not transport.is_reading()
        transport.resume_reading()
        transport.writelines([b"a", b"b"])
        assert await b.recv_exactly(2, timeout=WAIT) == b"ab"
        transport.write_eof()
        with pytest.raises(RuntimeError, match="write_eof"):
            transport.write(b"late")
        assert await b.recv_all(timeout=WAIT) == b""
        await closing(a, b)

    run(main())


class Collect(asyncio.Protocol):
    """A plain (not buffered) protocol that records what the transport gave it."""

    def __init__(self, keep_open: bool) -> None:
        self.data = b""
        self.eofs = 0
        self.keep_open = keep_open
        self.done = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.eofs += 1
        if not self.done.done():
            self.done.set_result(None)
        return self.keep_open


@pytest.mark.parametrize("keep_open", [False, True])
def test_the_transport_feeds_a_plain_protocol(run: Run, keep_open: bool) -> None:  # noqa: F811
    async def main() -> None:
        a, b = await memory_pair(chunk_size=3)
        collect = Collect(keep_open)
        a.transport.set_protocol(collect)
        assert a.transport.get_protocol() is collect
        await b.sendall(b"plain protocol")
        b.shutdown_write()
        await asyncio.wait_for(collect.done, WAIT)
        assert collect.data == b"plain protocol"
        # A false answer closes the transport, as asyncio's; a true one keeps it open,
        # and EOF is delivered once however reading is paused and resumed afterwards.
        assert a.transport.is_closing() is not keep_open
        a.transport.pause_reading()
        a.transport.resume_reading()
        await asyncio.sleep(0)  # an ordering point: a receive would run now
        await asyncio.sleep(0)
        assert collect.eofs == 1
        a.transport.abort()
        await b.aclose()

    run(main())
