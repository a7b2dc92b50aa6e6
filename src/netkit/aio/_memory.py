"""asyncio memory pairs: two connected :class:`netkit.aio.TcpConnection` objects, no socket.

:func:`memory_pair` joins two :class:`MemoryTransport` objects over one
:class:`netkit._core.memory.Link` and gives each a
:class:`~netkit.aio._protocol.StreamProtocol`, the protocol a TCP connection uses, so
everything above the transport (read requests, deadlines, backpressure, errors and
their messages) is :class:`netkit.aio.TcpConnection`'s own code.

The transport behaves as the loop's socket transport does: ``write`` hands bytes to
the link at once and keeps what does not fit (``max_buffer``) in its own buffer, with
``pause_writing``/``resume_writing`` around its write-buffer limits; bytes reach the
peer's protocol from a ``call_soon`` callback, one receive per loop iteration (at most
``chunk_size`` bytes), while the peer reads (``pause_reading`` stops it); EOF and a
reset arrive behind the bytes sent before them; ``close`` flushes, then ends with
``connection_lost(None)``; ``abort`` drops the buffer and resets the peer.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

from netkit._core.memory import Link, check_knobs
from netkit.addr import Endpoint
from netkit.aio._protocol import StreamProtocol
from netkit.aio.connection import TcpConnection

__all__ = ["MemoryConnection", "MemoryTransport", "memory_pair"]

# What one receive asks for when the protocol is not a BufferedProtocol (asyncio's size).
_READ_SIZE = 256 * 1024
# asyncio's default write-buffer high-water mark.
_DEFAULT_HIGH = 64 * 1024


class MemoryTransport(asyncio.Transport):
    """One end of a memory pair as an :class:`asyncio.Transport` (built by memory_pair).

    ``get_extra_info`` knows ``"sockname"`` and ``"peername"`` (socket address tuples);
    ``"socket"`` and ``"sslcontext"`` are None: there is no socket.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        link: Link,
        side: int,
        protocol: asyncio.BaseProtocol,
    ) -> None:
        """Built by :func:`memory_pair`, not by hand.

        Args:
            loop: the event loop both ends run on.
            link: the pair's shared state.
            side: 0 or 1, which end this is.
            protocol: the protocol this end feeds.
        """
        super().__init__(
            extra={
                "sockname": link.addresses[side].to_sockaddr(),
                "peername": link.addresses[1 - side].to_sockaddr(),
                "socket": None,
                "sslcontext": None,
            }
        )
        self._loop = loop
        self._link = link
        self._side = side
        self._protocol = protocol
        self._peer: MemoryTransport | None = None
        self._buffer = bytearray()  # written, not yet taken by the link
        self._high = _DEFAULT_HIGH
        self._low = _DEFAULT_HIGH // 4
        self._writing_paused = False  # the protocol was told pause_writing()
        self._reading = True  # not paused (asyncio's is_reading)
        self._at_eof = False  # EOF was delivered: no more receives, as the loop does
        self._read_scheduled = False
        self._closing = False
        self._lost = False  # connection_lost is scheduled (or done)
        self._eof_asked = False  # write_eof() was called
        self._eof_sent = False

    # -- asyncio.BaseTransport ------------------------------------------------------------

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading, send what is buffered, then EOF; ``connection_lost(None)`` follows."""
        if self._closing:
            return
        self._closing = True
        self._reading = False
        if not self._buffer:
            self._finish_close()

    # -- asyncio.ReadTransport ------------------------------------------------------------

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if self._closing or self._reading:
            return
        self._reading = True
        self._schedule_read()

    # -- asyncio.WriteTransport -----------------------------------------------------------

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = _DEFAULT_HIGH if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_asked:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data or self._lost:
            return  # as a socket transport: writes after the connection was lost vanish
        self._buffer += data
        self._flush()
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        if self._closing or self._eof_asked:
            return
        self._eof_asked = True
        if not self._buffer:
            self._send_eof()

    def can_write_eof(self) -> bool:
        return True

    def abort(self) -> None:
        """Close at once: drop the buffer; the peer sees a reset (``ECONNRESET``)."""
        self._force_close(None, reset=True)

    # -- the test knobs -------------------------------------------------------------------

    def stall(self, stalled: bool) -> None:
        """Hold back (True) or release (False) what this end sends; see MemoryConnection.

        Args:
            stalled: hold back (True) or release (False).
        """
        self._link.stall(self._side, stalled)
        if not stalled and self._peer is not None:
            self._peer._schedule_read()

    def stalled(self) -> bool:
        """True while what this end sends is held back.

        Returns:
            Whether this end's sending is held back.
        """
        return self._link.stalled(self._side)

    # -- moving bytes ---------------------------------------------------------------------

    def _flush(self) -> None:
        """Hand the buffer to the link while it takes bytes; finish a close or EOF."""
        if self._lost:
            return
        buffer = self._buffer
        while buffer:
            try:
                with memoryview(buffer) as view:
                    taken = self._link.send(self._side, view)
            except OSError as exc:
                self._force_close(exc)
                return
            if taken is None:
                break  # no room: the peer's next receive calls _flush again
            del buffer[:taken]
            self._poke_peer()
        if not buffer:
            if self._closing and not self._lost:
                self._finish_close()
            elif self._eof_asked and not self._eof_sent:
                try:
                    self._send_eof()
                except OSError as exc:  # the connection ended meanwhile
                    self._force_close(exc)
                    return
        self._maybe_resume_protocol()

    def _send_eof(self) -> None:
        self._eof_sent = True
        self._link.shutdown(self._side, socket.SHUT_WR)
        self._poke_peer()

    def _schedule_read(self) -> None:
        if self._reading and not (self._closing or self._at_eof or self._read_scheduled):
            self._read_scheduled = True
            self._loop.call_soon(self._read_ready)

    def _read_ready(self) -> None:
        """One receive, as the loop's reader callback does when the socket is readable."""
        self._read_scheduled = False
        if not self._reading or self._closing or self._at_eof:
            return
        protocol = self._protocol
        target = None
        if isinstance(protocol, asyncio.BufferedProtocol):
            # Receive into the protocol's buffer, as the loop does for such a protocol.
            target = memoryview(protocol.get_buffer(-1)).cast("B")
        try:
            data = self._link.recv(self._side, _READ_SIZE if target is None else len(target))
        except OSError as exc:
            self._force_close(exc)
            return
        if data is None:
            return  # nothing yet: the peer's next send schedules this again
        receiver = cast("asyncio.Protocol | asyncio.BufferedProtocol", protocol)
        if not data:
            self._at_eof = True
            if not receiver.eof_received():
                self.close()
            return
        if target is not None:
            target[: len(data)] = data
            cast(asyncio.BufferedProtocol, protocol).buffer_updated(len(data))
        else:
            cast(asyncio.Protocol, protocol).data_received(data)
        peer = self._peer
        if peer is not None and (peer._buffer or peer._closing) and not peer._lost:
            peer._flush()  # room in the link: the peer's waiting bytes move on
        self._schedule_read()  # the next receive in the next loop iteration

    def _poke_peer(self) -> None:
        if self._peer is not None:
            self._peer._schedule_read()

    # -- ending ---------------------------------------------------------------------------

    def _finish_close(self) -> None:
        self._link.close(self._side)
        self._after_close(None)

    def _force_close(self, exc: Exception | None, *, reset: bool = False) -> None:
        if self._lost:
            return
        self._buffer.clear()
        self._closing = True
        self._reading = False
        self._link.close(self._side, reset=reset)
        self._after_close(exc)

    def _after_close(self, exc: Exception | None) -> None:
        # No resume_writing here: a sendall waiting for the drain must learn from
        # connection_lost that its bytes are gone, as with a socket transport.
        self._lost = True
        peer = self._peer
        if peer is not None:
            peer._schedule_read()  # to see our EOF or reset
            if peer._buffer:
                peer._flush()  # its bytes to us are dropped now, or fail
        self._loop.call_soon(self._protocol.connection_lost, exc)

    def _maybe_pause_protocol(self) -> None:
        if not self._writing_paused and len(self._buffer) > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def _maybe_resume_protocol(self) -> None:
        if self._writing_paused and len(self._buffer) <= self._low:
            self._writing_paused = False
            self._protocol.resume_writing()


class MemoryConnection(TcpConnection):
    """A :class:`netkit.aio.TcpConnection` over memory: one end of :func:`memory_pair`.

    Every stream method is the asyncio ``TcpConnection``'s own, with its errors and
    messages; a subclass, so that a handler typed ``conn: TcpConnection`` takes it.
    ``transport`` is a :class:`MemoryTransport`; ``socket`` is None and ``fileno()``
    -1; ``local_address``/``remote_address`` are the pair's (127.0.0.1:1 and
    127.0.0.1:2 by default). :meth:`abort` resets: the peer's reads end with
    ``ConnectionClosed("connection lost: Connection reset by peer")``. It adds
    :meth:`stall` and :meth:`unstall` for tests.
    """

    __slots__ = ()

    def __init__(self, transport: MemoryTransport, protocol: StreamProtocol) -> None:
        """Built by :func:`memory_pair`, not by hand.

        Args:
            transport: one end's :class:`MemoryTransport`.
            protocol: the stream protocol on it.

        Raises:
            TypeError: *transport* is not a :class:`MemoryTransport`.
        """
        if not isinstance(transport, MemoryTransport):
            raise TypeError("build memory connections with netkit.aio.testing.memory_pair()")
        super().__init__(transport, protocol)
        # The addresses as given (a socket address would turn a zone name into its index).
        link, side = transport._link, transport._side
        self._local = link.addresses[side]
        self._remote = link.addresses[1 - side]

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<aio.MemoryConnection {self._local} -> {self._remote} {state}>"

    @property
    def _memory_transport(self) -> MemoryTransport:
        transport = self._transport
        assert isinstance(transport, MemoryTransport)
        return transport

    @property
    def stalled(self) -> bool:
        """True while what this end sends is held back (see :meth:`stall`)."""
        return self._memory_transport.stalled()

    def stall(self) -> None:
        """Hold back everything this end sends from now on, as a stuck network would.

        The peer receives nothing more (not even EOF) until :meth:`unstall`, so its
        reads time out. ``sendall`` here keeps returning until ``max_buffer`` bytes
        are held and the transport's own buffer passes its high-water mark, then
        waits (``NetkitTimeout("timed out sending")`` with ``timeout=``). Bytes sent
        before the call stay readable.
        """
        self._memory_transport.stall(True)

    def unstall(self) -> None:
        """Release what :meth:`stall` held, in order (and EOF, if it was sent)."""
        self._memory_transport.stall(False)


async def memory_pair(
    *,
    chunk_size: int | None = None,
    max_buffer: int | None = None,
    addresses: tuple[Endpoint, Endpoint] | None = None,
) -> tuple[MemoryConnection, MemoryConnection]:
    """Two connected asyncio connections over memory, bound to the running loop.

    A coroutine, like every asyncio constructor that connects or pairs, so it is its
    own ``make_pair`` for :func:`netkit.aio.testing.check_connection_pair` (knobs with
    :func:`functools.partial`). Each connection is a :class:`MemoryConnection`, a
    :class:`netkit.aio.TcpConnection` with the whole stream API, errors and messages;
    use them on the loop that made them, and close them (``aclose``) when done.

    Parameters:
        chunk_size: the most bytes one receive delivers (one receive per loop
            iteration), so that ``chunk_size=1`` makes a reader meet every split
            point. None: whatever has arrived.
        max_buffer: the most bytes in flight per direction in the link (the kernel's
            part over TCP); what does not fit waits in the transport's buffer, and
            ``sendall`` waits once that passes its high-water mark (256 KiB). As over
            TCP the receiving connection first reads ahead up to 1 MiB while nothing
            reads it, unless the direction is stalled. None: no limit.
        addresses: ``(a's address, b's address)`` as IP ``Endpoint`` s; default
            127.0.0.1 ports 1 and 2.

    Returns:
        ``(a, b)``: ``a.remote_address == b.local_address`` and the other way round.

    Raises:
        TypeError: a knob of the wrong type.
        ValueError: *chunk_size* or *max_buffer* below 1, or an address that is a
            hostname.
        RuntimeError: no running event loop.
    """
    chunk, limit, ends = check_knobs(chunk_size, max_buffer, addresses)
    loop = asyncio.get_running_loop()
    link = Link(chunk_size=chunk, max_buffer=limit, addresses=ends)
    protocols = (StreamProtocol(loop), StreamProtocol(loop))
    transports = (
        MemoryTransport(loop, link, 0, protocols[0]),
        MemoryTransport(loop, link, 1, protocols[1]),
    )
    transports[0]._peer, transports[1]._peer = transports[1], transports[0]
    for transport, protocol in zip(transports, protocols, strict=True):
        protocol.connection_made(transport)
    return (
        MemoryConnection(transports[0], protocols[0]),
        MemoryConnection(transports[1], protocols[1]),
    )
