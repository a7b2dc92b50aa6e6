"""A transport that attaches its socket to the event loop only when it has to wait.

:class:`LazyTransport` stands for the loop's transport of a connection until the
connection first has to wait for bytes (``resume_reading``). Until then it works on
the socket directly: a write is one non-blocking ``send``, and what the kernel cannot
take at once is queued here and sent when the socket has room (a duplicate of its
descriptor watched with ``loop.add_writer``), so that waiting to write never starts a
read. Once a reader waits, it makes the real transport with
``loop.create_connection(sock=...)``, hands it what is still queued, and forwards every
call to it.

Why: a loop may start reading a new transport's socket on its own. uvloop starts
reading right after ``connection_made`` whatever the protocol asked, so the first
bytes a Unix peer sends (and the file descriptors attached to them, which a plain read
makes the kernel close) would be consumed before ``recv_fds`` could ask for them.
Attached lazily, the transport starts reading only when a reader waits for bytes.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import socket
from typing import Any

from netkit.aio._protocol import WRITE_HIGH_WATER, WRITE_LOW_WATER, StreamProtocol

__all__ = ["LazyTransport"]

# The most queued pieces one sendmsg takes (far below IOV_MAX).
_GATHER = 64


class LazyTransport(asyncio.Transport):
    """A connection's transport: the socket itself until the loop's transport is needed.

    Takes ownership of *sock*, which must be connected and non-blocking. The
    *protocol* sees ``connection_made`` twice: with this object at once, and with the
    real transport when it is attached.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: StreamProtocol
    ) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._real: asyncio.Transport | None = None
        self._attaching: asyncio.Task[None] | None = None
        # Written and not yet taken by the kernel (or written while attaching), in order.
        self._queue: collections.deque[bytes | memoryview] = collections.deque()
        self._queued = 0  # bytes in _queue
        self._watched: int | None = None  # a duplicate descriptor, watched for room
        self._closing = False
        self._then: str | None = None  # "close" or "abort", asked for while attaching or flushing
        self._eof = False
        self._limits = (WRITE_HIGH_WATER, WRITE_LOW_WATER)
        self._names: dict[str, Any] = {}

    # -- before attaching: the socket itself ---------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self._real is not None:
            return self._real.get_extra_info(name, default)
        if name == "socket":
            return self._sock
        if name in ("sockname", "peername"):
            if name not in self._names:
                try:
                    self._names[name] = getattr(self._sock, "get" + name)()
                except OSError:
                    return default
            return self._names[name]
        return default

    def is_closing(self) -> bool:
        if self._real is not None:
            return self._real.is_closing()
        return self._closing

    def close(self) -> None:
        self._end("close")

    def abort(self) -> None:
        self._end("abort")

    def _end(self, how: str) -> None:
        if self._real is not None:
            self._real.close() if how == "close" else self._real.abort()
            return
        if self._closing:
            if how == "abort" and self._then == "close":
                if self._watched is not None:
                    self._drop(None)  # stop flushing: now
                else:
                    self._then = "abort"
            return
        self._closing = True
        if self._attaching is not None or (self._watched is not None and how == "close"):
            self._then = how  # done once attached, or once the queue is flushed
            return
        self._drop(None)

    def _drop(self, exc: OSError | None) -> None:
        """Close the socket now, dropping what is queued; the connection is lost."""
        self._closing = True
        self._then = None
        self._unwatch()
        self._queue.clear()
        self._queued = 0
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, exc)

    def write(self, data: Any) -> None:
        if self._real is not None:
            self._real.write(data)
            return
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._closing or not data:
            return
        view = memoryview(data).cast("B")
        if not self._queue:
            try:
                sent = self._sock.send(view)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fail(exc)
                return
            view = view[sent:]
            if not view:
                return
        # The kernel's buffer is full: queued here (bytes are immutable, kept as they
        # are; anything else is copied, as the caller may reuse it) and sent when there
        # is room (or handed to the loop's transport a reader is attaching), the writer
        # held back (sendall drains) above the high-water mark, as a transport does.
        chunk = view if type(data) is bytes else bytes(view)
        self._queue.append(chunk)
        self._queued += len(chunk)
        if self._attaching is None:
            self._watch()
        self._maybe_pause()

    def _maybe_pause(self) -> None:
        if self._queued > self._limits[0] and not self._protocol.write_paused:
            self._protocol.pause_writing()

    def write_eof(self) -> None:
        if self._real is not None:
            self._real.write_eof()
            return
        if self._closing or self._eof:
            return
        self._eof = True
        if self._attaching is None and not self._queue:  # else once the queue is sent
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self._fail(exc)

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        if self._real is not None:
            self._real.pause_reading()

    def resume_reading(self) -> None:
        if self._real is not None:
            self._real.resume_reading()
        elif not self._closing:
            self._unwatch()  # the loop's transport sends what is queued from now on
            self._attach()  # a reader waits: now the loop reads

    def is_reading(self) -> bool:
        return self._real is not None and self._real.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if self._real is not None:
            self._real.set_write_buffer_limits(high, low)
            return
        high = WRITE_HIGH_WATER if high is None else high
        self._limits = (high, high // 4 if low is None else low)
        self._maybe_pause()  # (as a transport does: a lower mark may pause the writer)

    def get_write_buffer_size(self) -> int:
        if self._real is not None:
            return self._real.get_write_buffer_size()
        return self._queued

    def get_write_buffer_limits(self) -> tuple[int, int]:
        if self._real is not None:
            return self._real.get_write_buffer_limits()
        return (self._limits[1], self._limits[0])

    def _fail(self, exc: OSError) -> None:
        """A send or shutdown failed: the connection is lost with *exc* (as a transport does)."""
        if self._closing and self._watched is None:
            return  # closed already (or the attaching task reports it)
        self._drop(exc)

    # -- waiting for room, without the loop's transport ----------------------------------

    def _watch(self) -> None:
        if self._watched is None:
            # A duplicate: a loop may refuse, or keep, a watch on a descriptor that a
            # transport takes over later.
            self._watched = os.dup(self._sock.fileno())
            self._loop.add_writer(self._watched, self._send_queued)

    def _unwatch(self) -> None:
        if self._watched is not None:
            self._loop.remove_writer(self._watched)
            os.close(self._watched)
            self._watched = None

    def _send_queued(self) -> None:
        """The socket has room: send what is queued, in order (up to 64 pieces in one
        ``sendmsg``)."""
        queue = self._queue
        while queue:
            batch = list(itertools.islice(queue, _GATHER))
            try:
                sent = self._sock.sendmsg(batch)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._fail(exc)
                return
            self._queued -= sent
            full = sent == sum(map(len, batch))
            while sent:
                head = queue[0]
                if sent < len(head):
                    queue[0] = memoryview(head)[sent:]  # the rest, without a copy
                    break
                sent -= len(head)
                queue.popleft()
            if not full:
                break  # the kernel's buffer is full again
        else:
            self._unwatch()
        protocol = self._protocol
        if protocol.write_paused and self.get_write_buffer_size() <= self._limits[1]:
            protocol.resume_writing()
        if queue:
            return
        if self._then is not None:  # close() came while the queue was flushed
            self._drop(None)
        elif self._eof:
            self._shutdown_write()

    # -- attaching ------------------------------------------------------------------------

    def _attach(self) -> None:
        if self._attaching is None and self._real is None:
            self._attaching = self._loop.create_task(self._attach_now())

    async def _attach_now(self) -> None:
        protocol = self._protocol
        try:
            real, _ = await self._loop.create_connection(lambda: protocol, sock=self._sock)
        except BaseException as exc:  # the socket is gone, the loop is closing...
            self._attaching = None
            self._closing = True
            self._sock.close()
            protocol.connection_lost(exc if isinstance(exc, Exception) else None)
            return  # nobody awaits this task: its error goes to the protocol
        self._real = real
        self._attaching = None
        for chunk in self._queue:
            real.write(chunk)
        self._queue.clear()
        self._queued = 0
        if self._eof:
            real.write_eof()
        if (
            protocol.write_paused
            and real.get_write_buffer_size() <= real.get_write_buffer_limits()[1]
        ):
            # We paused the writer; the real transport only resumes what it paused
            # itself (when it took more than its high-water mark).
            protocol.resume_writing()
        if self._then == "close":
            real.close()
        elif self._then == "abort":
            real.abort()
