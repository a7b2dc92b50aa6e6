"""The asyncio protocol behind :class:`netkit.aio.TcpConnection`: a receive buffer fed by the loop.

A small :class:`asyncio.BufferedProtocol` that feeds every received chunk into a
:class:`netkit.framing.ReceiveBuffer` and wakes one waiting reader through a future (a
``recv()`` waiting on an empty buffer gets the chunk handed over directly). The engine
was chosen by ``bench/bench_aio.py``: a protocol with a waiter future costs less per
message than asyncio streams, and lets reading pause above a high-water mark.
"""

from __future__ import annotations

import asyncio
import threading
from typing import cast

from netkit.framing import ReceiveBuffer

__all__ = [
    "ON_DEMAND_CHUNK",
    "READ_HIGH_WATER",
    "READ_LOW_WATER",
    "WRITE_HIGH_WATER",
    "WRITE_LOW_WATER",
    "OnDemandProtocol",
    "StreamProtocol",
]

#: Buffered-but-unread bytes above which reading from the socket is paused.
READ_HIGH_WATER = 1024 * 1024
#: Reading resumes once a read leaves no more than this many bytes buffered.
READ_LOW_WATER = 256 * 1024
#: Transport write-buffer limits: ``sendall`` waits while more than the high mark is queued.
WRITE_HIGH_WATER = 256 * 1024
WRITE_LOW_WATER = 64 * 1024
# Size of the per-thread receive scratch area (asyncio's own read size).
_SCRATCH_SIZE = 256 * 1024
#: The most a receive of an on-demand protocol reads ahead (the sync face's chunk).
ON_DEMAND_CHUNK = 64 * 1024
#: Larger writes are cut into pieces of this size, each one waiting for the drain, so a
#: single huge sendall never copies its whole payload into the transport's buffer.
WRITE_CHUNK = 256 * 1024


def expire(fut: asyncio.Future[bool] | asyncio.Future[bool | bytes]) -> None:
    """A deadline timer's callback: complete the waiter with False ("timed out")."""
    if not fut.done():
        fut.set_result(False)


_scratch = threading.local()


def scratch_view() -> memoryview:
    """This thread's receive scratch area (one per thread, so one per event loop)."""
    view: memoryview | None = getattr(_scratch, "view", None)
    if view is None:
        view = _scratch.view = memoryview(bytearray(_SCRATCH_SIZE))
    return view


class StreamProtocol(asyncio.BufferedProtocol):
    """Feeds a ReceiveBuffer and wakes the (single) waiting reader and the writers.

    A buffered protocol: the transport receives straight into a scratch area shared
    by every connection of the thread (``get_buffer``, ``recv_into``, ``buffer_updated``
    run back to back, so sharing is safe). The plain ``Protocol`` interface makes the
    loop allocate a fresh 256 KiB ``bytes`` per receive and shrink it, which glibc
    serves with mmap/mremap/munmap system calls once the object outlives the callback,
    as it does whenever a coroutine, not the callback, consumes the data.
    """

    __slots__ = (
        "buffer",
        "close_waiters",
        "direct",
        "drain_waiters",
        "eof",
        "error",
        "gathered",
        "gathered_size",
        "loop",
        "lost",
        "pending",
        "read_waiter",
        "reading_paused",
        "scratch",
        "streaming",
        "tls",
        "transport",
        "want",
        "write_paused",
    )

    #: True for :class:`OnDemandProtocol`: reading stays paused between reads.
    on_demand = False
    #: Whether small writes may be gathered while streaming (see :meth:`gather`).
    may_gather = True

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop: asyncio.AbstractEventLoop = loop
        self.buffer: ReceiveBuffer = ReceiveBuffer()
        # The buffer's bytearray itself (ReceiveBuffer only ever changes it in place),
        # for C-level emptiness and length tests on the hot paths, as the sync face does.
        self.pending: bytearray = self.buffer._buf
        self.transport: asyncio.Transport | None = None
        self.eof: bool = False  # no more bytes will arrive
        self.lost: bool = False  # connection_lost was called
        self.error: BaseException | None = None  # why the connection was lost, if not cleanly
        self.read_waiter: asyncio.Future[bool | bytes] | None = None
        self.want: int = 1  # wake the reader once this many bytes are buffered
        # While a recv() waits on an empty buffer: it takes a chunk of up to this many
        # bytes as is. Any chunk that arrives while it waits completes its waiter, so
        # the buffer is still empty whenever this is non-zero and the waiter pending.
        self.direct: int = 0
        self.reading_paused: bool = False
        self.write_paused: bool = False
        self.drain_waiters: list[asyncio.Future[bool]] = []
        # Futures of aclose() calls waiting for connection_lost.
        self.close_waiters: list[asyncio.Future[None]] = []
        self.scratch: memoryview = scratch_view()
        self.tls: bool = False
        # The last recv() filled its max_bytes: more is probably buffered or on the way.
        # Whatever is gathered is written before this turns False, so sendall() need
        # not look at `gathered` unless it is True.
        self.streaming: bool = False
        # Small writes held back while streaming, written in one go (see gather()).
        self.gathered: list[bytes] = []
        self.gathered_size: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.tls = transport.get_extra_info("sslcontext") is not None
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.scratch

    def buffer_updated(self, nbytes: int) -> None:
        waiter = self.read_waiter
        direct = self.direct
        if waiter is not None and direct and not waiter.done():
            # A recv() is waiting (so the buffer is empty, see `direct`).
            if nbytes <= direct:
                # The hot path of a request/response server: the chunk fits: hand it
                # over as is.
                waiter.set_result(bytes(self.scratch[:nbytes]))
                return
            if nbytes:
                # Streaming: the waiting recv() gets a full piece straight from the
                # scratch area and only the rest goes through the buffer, which saves
                # a copy and a larger allocation in the buffer per receive.
                waiter.set_result(bytes(self.scratch[:direct]))
                self.buffer.feed(self.scratch[direct:nbytes])
                return
        self.data_received(self.scratch[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        buffer = self.buffer
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            if 0 < len(data) <= self.direct:
                # A recv() is waiting (and `direct` is only set while the buffer is
                # empty): hand the chunk over directly, one copy instead of two.
                waiter.set_result(bytes(data))
                return
            buffer.feed(data)
            if len(self.pending) >= self.want:
                waiter.set_result(True)
            return
        buffer.feed(data)
        if waiter is None and len(self.pending) > READ_HIGH_WATER and not self.reading_paused:
            self.pause()

    def eof_received(self) -> bool:
        self.eof = True
        self.wake_reader()
        # Keep our side open: the peer only half-closed. TLS cannot half-close, and
        # asyncio logs a warning per connection when a TLS protocol returns True.
        return not self.tls

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.lost = True
        self.error = exc
        self.wake_reader()
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(True)
        self.drain_waiters.clear()
        for closing in self.close_waiters:
            if not closing.done():
                closing.set_result(None)
        self.close_waiters.clear()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(True)
        self.drain_waiters.clear()

    def gather(self, data: bytes, size: int) -> None:
        """Hold *data* back to be written with the writes that follow it.

        A streaming echo or proxy (``recv()`` filling its *max_bytes* each time, then
        ``sendall()`` of what it got) would otherwise make one ``send`` system call per
        piece; gathered, the pieces of one receive go out in one call when the task
        next waits for bytes (:meth:`flush`), or at the latest on the loop's next turn.
        """
        if not self.gathered:
            self.loop.call_soon(self.flush)
        self.gathered.append(data)
        self.gathered_size += size

    def stop_streaming(self) -> None:
        """A recv() came back short of its max_bytes: write what was gathered, stop."""
        self.streaming = False
        self.flush()

    def flush(self) -> None:
        """Hand the gathered writes to the transport (in order, in one call)."""
        gathered = self.gathered
        if gathered:
            self.gathered = []
            self.gathered_size = 0
            transport = self.transport
            if transport is None or transport.is_closing():
                return  # lost meanwhile: dropped, as what the transport held
            if len(gathered) == 1:
                transport.write(gathered[0])
            else:
                transport.writelines(gathered)

    def put_back(self, waiter: asyncio.Future[bool | bytes]) -> None:
        """The reader was cancelled: keep a chunk handed to *waiter* it never took."""
        if waiter.done() and not waiter.cancelled():
            chunk = waiter.result()
            if type(chunk) is bytes:
                # Handed over but the reader never ran: put it back in front of anything
                # that arrived since, so nothing is lost.
                rest = self.buffer.take_all()
                self.buffer.feed(chunk)
                self.buffer.feed(rest)

    def wake_reader(self) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def pause(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.reading_paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        self.reading_paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


class OnDemandProtocol(StreamProtocol):
    """A :class:`StreamProtocol` that lets the transport read only while a reader waits.

    As the sync face does, which reads the socket only inside a read call: reading is
    paused from the start (where the loop allows it in ``connection_made``) and again
    as soon as the waiting reader's future is complete, and a read that needs bytes
    resumes it. Unix connections use it, so that no byte (and no file descriptor
    attached to it) is read before ``recv_fds`` asks for it. The cost is a pause and
    a resume (two ``epoll_ctl`` calls) per read that waits.

    Each receive asks for no more than the waiting read can use, as the sync face's
    reads do: ``recv(n)`` up to *n* bytes, a read that still needs more than
    :data:`ON_DEMAND_CHUNK` bytes exactly what it needs, anything else (a line, a
    small frame) up to :data:`ON_DEMAND_CHUNK` bytes.
    """

    __slots__ = ()

    on_demand = True
    # Unix connections pass descriptors beside the bytes: every write goes out at once.
    may_gather = False

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.direct:
            return self.scratch[: self.direct]
        need = self.want - len(self.buffer)
        return self.scratch[: max(need, ON_DEMAND_CHUNK)]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.settle()

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        self.settle()

    def data_received(self, data: bytes | memoryview) -> None:
        super().data_received(data)
        self.settle()

    def settle(self) -> None:
        """Pause reading unless a reader still waits for more."""
        waiter = self.read_waiter
        if (waiter is None or waiter.done()) and not self.reading_paused:
            self.pause()
