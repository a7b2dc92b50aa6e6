"""The in-memory stream behind both faces' ``memory_pair``: what a socket call would do.

A :class:`Link` is a connected pair of stream "sockets", ends ``0`` and ``1``, with no
descriptor, no lock and no clock: each call either completes (bytes, a count), says it
would block (``None``), or raises the ``OSError`` a Linux TCP socket raises in the same
state (``ECONNRESET`` once after a reset, then ``EPIPE`` on sends; ``EBADF`` after
``close``; ``ENOTCONN`` from ``shutdown`` once the connection is over). The sync face
(:mod:`netkit.testing._memory`) waits on a condition until a call stops saying
``None``; the asyncio face (:mod:`netkit.aio._memory`) calls in when the loop runs its
transport, so both replay the same decisions.

The model, per direction (a :class:`_Wire` from a writer end to a reader end):

* bytes a writer sends have *arrived* (the reader may take them) unless the direction
  is stalled, in which case they are *held* (as if still in the sender's queue) until
  it is unstalled; the EOF of ``shutdown(SHUT_WR)``/``close()`` queues behind them;
* ``max_buffer`` bounds arrived + held bytes: a send finds no room and would block;
* ``chunk_size`` caps what one receive returns, so readers meet every split point;
* ``close(reset=True)`` (SO_LINGER 0) drops held bytes and reaches the peer at once:
  it reads what had arrived, then its next call fails with ``ECONNRESET`` (a send at
  once), then receives return ``b""`` and sends fail with ``EPIPE``;
* a plain ``close()`` never resets, even with unread bytes (a kernel would): a reset is
  always asked for, so a test's outcome never depends on what was read in time. The
  peer's first send after it is accepted and dropped, later ones fail with ``EPIPE``,
  as on Linux.
"""

from __future__ import annotations

import errno
import os
import socket

from netkit._core.checks import check_size
from netkit.addr import Endpoint
from netkit.errors import describe

__all__ = ["DEFAULT_ADDRESSES", "Link", "check_knobs"]

#: The addresses of a memory pair's two ends unless ``addresses=`` says otherwise:
#: loopback, so code that parses or classifies ``remote_address`` works, with ports 1 and
#: 2, which no real loopback connection uses (ports below 1024 need privileges), so a
#: log line from a test is never mistaken for a real connection.
DEFAULT_ADDRESSES = (Endpoint("127.0.0.1", 1), Endpoint("127.0.0.1", 2))


def _os_error(code: int) -> OSError:
    # OSError(code, ...) builds the subclass a socket raises (ConnectionResetError, ...).
    return OSError(code, os.strerror(code))


def check_knobs(
    chunk_size: object, max_buffer: object, addresses: object
) -> tuple[int | None, int | None, tuple[Endpoint, Endpoint]]:
    """The knobs of ``memory_pair``, checked (one rule and message for both faces).

    Raises:
        TypeError: a knob of the wrong type.
        ValueError: *chunk_size* or *max_buffer* below 1, or an address is a hostname.
    """
    chunk = None if chunk_size is None else check_size("chunk_size", chunk_size, 1)
    limit = None if max_buffer is None else check_size("max_buffer", max_buffer, 1)
    if addresses is None:
        return chunk, limit, DEFAULT_ADDRESSES
    if (
        not isinstance(addresses, tuple)
        or len(addresses) != 2
        or not all(isinstance(a, Endpoint) for a in addresses)
    ):
        raise TypeError(f"addresses must be a tuple of two Endpoints, not {describe(addresses)}")
    for address in addresses:
        if address.family is None:
            raise ValueError(f"addresses must be IP endpoints, not the hostname {address}")
    return chunk, limit, (addresses[0], addresses[1])


class _Wire:
    """One direction: bytes from a writer end to a reader end."""

    __slots__ = ("arrived", "data", "eof", "eof_held", "reader_gone", "stalled")

    def __init__(self) -> None:
        self.data = bytearray()  # arrived bytes first, then held ones
        self.arrived = 0  # how many of `data` the reader may take
        self.stalled = False
        self.eof = False  # the writer sent EOF (after all of `data`)
        self.eof_held = False  # ... while stalled: it waits for unstall like the bytes
        self.reader_gone = False  # the reader closed: what is sent is dropped

    def release(self) -> None:
        self.arrived = len(self.data)
        self.eof_held = False


class _End:
    """One end's own state (what its socket would know)."""

    __slots__ = ("closed", "dead", "error", "shut_rd", "shut_wr")

    def __init__(self) -> None:
        self.closed = False  # closed by its owner: every call fails with EBADF
        self.shut_rd = False
        self.shut_wr = False
        self.error: OSError | None = None  # a pending error, reported by the next call
        self.dead = False  # reset (or answered by a reset): nothing more flows


class Link:
    """Two connected in-memory stream ends, ``0`` and ``1``; see the module docstring.

    Every method takes the end it acts for. Not thread-safe: the sync face holds a lock
    around each call, the asyncio face runs on one loop.

    Parameters:
        chunk_size: the most one receive returns, or None.
        max_buffer: the most bytes in flight per direction (arrived + held), or None.
        addresses: the ``Endpoint`` of end 0 and of end 1.
    """

    __slots__ = ("_ends", "_wires", "addresses", "chunk_size", "max_buffer")

    def __init__(
        self,
        *,
        chunk_size: int | None = None,
        max_buffer: int | None = None,
        addresses: tuple[Endpoint, Endpoint] = DEFAULT_ADDRESSES,
    ) -> None:
        self.chunk_size: int | None = chunk_size
        self.max_buffer: int | None = max_buffer
        self.addresses: tuple[Endpoint, Endpoint] = addresses
        self._ends = (_End(), _End())
        self._wires = (_Wire(), _Wire())  # _wires[i]: from end i to end 1 - i

    # -- the socket calls ---------------------------------------------------------------

    def send(self, side: int, data: memoryview) -> int | None:
        """Accept a prefix of *data* (a byte view); its length, or None if it must wait.

        Raises:
            OSError: EBADF after close, the pending error, or EPIPE (shut down, reset,
                or the peer closed and one send was already dropped).
        """
        end = self._check_open(side)
        if end.error is not None:
            raise self._report(end)
        if end.dead or end.shut_wr:
            raise _os_error(errno.EPIPE)
        size = len(data)
        if not size:
            return 0
        wire = self._wires[side]
        if wire.reader_gone:
            # The peer's kernel would answer this segment with a reset: the bytes are
            # lost and the next send fails (Linux reports EPIPE, not ECONNRESET).
            end.dead = True
            return size
        if self.max_buffer is not None:
            size = min(size, self.max_buffer - len(wire.data))
            if size <= 0:
                return None
        wire.data += data[:size]
        if not wire.stalled:
            wire.arrived = len(wire.data)
        return size

    def recv(self, side: int, size: int, *, peek: bool = False) -> bytes | None:
        """Up to *size* arrived bytes (at most ``chunk_size``); ``b""`` at EOF; None: wait.

        Raises:
            OSError: EBADF after close, or the pending error (ECONNRESET) once every
                arrived byte has been read.
        """
        end = self._check_open(side)
        if size == 0:
            return b""
        wire = self._wires[1 - side]
        if wire.arrived:
            take = min(size, wire.arrived)
            if self.chunk_size is not None:
                take = min(take, self.chunk_size)
            data = bytes(wire.data[:take])
            if not peek:
                del wire.data[:take]
                wire.arrived -= take
            return data
        if end.error is not None:
            raise self._report(end)
        if end.shut_rd or end.dead or (wire.eof and not wire.eof_held and not wire.data):
            return b""
        return None

    def shutdown(self, side: int, how: int) -> None:
        """``socket.shutdown``: SHUT_WR queues EOF behind what was sent; SHUT_RD stops waits.

        Raises:
            ValueError: *how* is not SHUT_RD, SHUT_WR or SHUT_RDWR.
            OSError: EBADF after close; ENOTCONN once the connection is over (reset, or
                both directions have ended).
        """
        if how not in (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR):
            raise _os_error(errno.EINVAL)
        end = self._check_open(side)
        incoming = self._wires[1 - side]
        if end.dead or (end.shut_wr and incoming.eof and not incoming.eof_held):
            raise _os_error(errno.ENOTCONN)
        if how != socket.SHUT_WR:
            end.shut_rd = True
        if how != socket.SHUT_RD and not end.shut_wr:
            end.shut_wr = True
            self._send_eof(side)

    def close(self, side: int, *, reset: bool = False) -> None:
        """Close end *side* (idempotent); with *reset*, as with SO_LINGER 0.

        A plain close sends EOF behind what was sent. A reset drops what is held and
        gives the peer a pending ECONNRESET (after the bytes that had arrived).
        """
        end = self._ends[side]
        if end.closed:
            return
        end.closed = True
        peer = self._ends[1 - side]
        outgoing = self._wires[side]
        incoming = self._wires[1 - side]
        incoming.reader_gone = True
        del incoming.data[:]  # nobody will read them
        incoming.arrived = 0
        if reset and not end.dead and not peer.closed:
            del outgoing.data[outgoing.arrived :]
            peer.error = _os_error(errno.ECONNRESET)
            peer.dead = True
        elif not end.shut_wr:
            self._send_eof(side)
        end.dead = True

    # -- knobs --------------------------------------------------------------------------

    def stall(self, side: int, stalled: bool) -> None:
        """Hold (True) or release (False) what end *side* sends from now on."""
        wire = self._wires[side]
        wire.stalled = stalled
        if not stalled:
            wire.release()

    def stalled(self, side: int) -> bool:
        """True while what end *side* sends is held."""
        return self._wires[side].stalled

    # -- for the faces ------------------------------------------------------------------

    def in_flight(self, side: int) -> int:
        """Bytes end *side* sent that the peer has not received (arrived + held)."""
        return len(self._wires[side].data)

    def closed(self, side: int) -> bool:
        """True once end *side* was closed."""
        return self._ends[side].closed

    def _check_open(self, side: int) -> _End:
        end = self._ends[side]
        if end.closed:
            raise _os_error(errno.EBADF)
        return end

    def _report(self, end: _End) -> OSError:
        error = end.error
        assert error is not None
        end.error = None  # a socket error is reported once
        return error

    def _send_eof(self, side: int) -> None:
        wire = self._wires[side]
        wire.eof = True
        wire.eof_held = wire.stalled
