"""The binary file object of :meth:`netkit.tcp.connection.StreamConnection.makefile`.

A :class:`StreamFile` has no buffer of its own: every read takes from the connection's
receive buffer first (bytes that ``readline`` or ``recv_until`` left there are never
skipped) and receives more through the connection, so the file and the connection's
own read methods can be mixed freely, and what the file returns is gone from the
connection. Writes are ``sendall``. What a file read returns at the end of the stream
(a short read, a partial line) is decided by :mod:`netkit._core.stream`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, cast

from netkit._core import stream
from netkit._core.checks import buffer_size
from netkit.tcp._socketstream import CHUNK

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

    from netkit.tcp.connection import StreamConnection

__all__ = ["StreamFile"]


class StreamFile(io.BufferedIOBase):
    """A binary file over a stream connection, from :meth:`TcpConnection.makefile`.

    An :class:`io.BufferedIOBase` (``read``, ``read1``, ``readinto``, ``readline``,
    iteration, ``write``), for code that wants a file: :func:`json.load`,
    :class:`io.TextIOWrapper`, :mod:`csv`, :mod:`pickle`. Reads go through the
    connection's receive buffer (none of its own), so nothing is skipped or held back
    when file reads and the connection's reads are mixed.

    Each call has the deadline given to ``makefile(timeout=...)`` (default: the
    connection's :attr:`~netkit.TcpConnection.timeout`) and raises
    :class:`~netkit.NetkitTimeout` when it passes, leaving what arrived buffered. A
    short ``read`` or a partial ``readline`` means the end of the stream, as with any
    file; a lost or closed connection raises :class:`~netkit.ConnectionClosed`.
    Closing the file leaves the connection open.
    """

    def __init__(
        self, conn: StreamConnection, reading: bool, writing: bool, timeout: float | None
    ) -> None:
        super().__init__()
        self._conn = conn
        self._reading = reading
        self._writing = writing
        self._timeout = timeout

    @property
    def connection(self) -> StreamConnection:
        """The connection this file reads from and writes to."""
        return self._conn

    @property
    def mode(self) -> str:
        """``"rb"``, ``"wb"`` or ``"rwb"``."""
        return ("r" if self._reading else "") + ("w" if self._writing else "") + "b"

    @property
    def name(self) -> int:
        """The connection's file descriptor, as a socket file's ``name`` is."""
        return self._conn.fileno()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<StreamFile mode={self.mode!r}{state} {self._conn!r}>"

    # -- what the file can do -----------------------------------------------------------

    def _check(self, reading: bool) -> None:
        if self.closed:
            raise stream.file_closed()
        if not (self._reading if reading else self._writing):
            raise stream.file_unsupported(reading)

    def readable(self) -> bool:
        """True when opened with ``r`` in the mode."""
        if self.closed:
            raise stream.file_closed()
        return self._reading

    def writable(self) -> bool:
        """True when opened with ``w`` in the mode."""
        if self.closed:
            raise stream.file_closed()
        return self._writing

    def seekable(self) -> bool:
        """False: a stream cannot seek."""
        return False

    def fileno(self) -> int:
        """The connection's file descriptor (for ``select``; do not read from it)."""
        return self._conn.fileno()

    # -- reading ------------------------------------------------------------------------

    def read(self, size: int | None = -1) -> bytes:
        """Read *size* bytes, fewer only at the end of the stream; to the end with -1.

        Raises:
            NetkitTimeout: the deadline passed (what arrived stays buffered).
            ConnectionClosed: the connection was lost or closed.
        """
        self._check(True)
        return self._conn._file_read(stream.file_read(size), self._timeout)

    def read1(self, size: int = -1) -> bytes:
        """Read up to *size* bytes with at most one receive (what is buffered first)."""
        self._check(True)
        if size is None or size < 0:
            size = CHUNK
        if size == 0:
            return b""
        return self._conn.recv(size, timeout=self._timeout)

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill *buffer*; fewer bytes only at the end of the stream. Returns the count."""
        with memoryview(buffer) as raw, raw.cast("B") as view:
            data = self.read(len(view))
            view[: len(data)] = data
            return len(data)

    def readinto1(self, buffer: WriteableBuffer) -> int:
        """Read into *buffer* with at most one receive. Returns the count."""
        self._check(True)
        with memoryview(buffer) as raw, raw.cast("B") as view:
            if not len(view):
                return 0
            return self._conn.recv_into(view, timeout=self._timeout)

    def readline(self, size: int | None = -1) -> bytes:
        """Read through the next ``\\n`` (at most *size* bytes); partial at the end."""
        self._check(True)
        return self._conn._file_read(stream.file_line(size), self._timeout)

    # -- writing ------------------------------------------------------------------------

    def write(self, data: ReadableBuffer) -> int:
        """Send all of *data* now (``sendall``) and return its length.

        Raises:
            TypeError: *data* is not bytes-like.
            NetkitTimeout: the deadline passed; an unknown prefix may have been sent.
            ConnectionClosed: the connection was lost or closed.
        """
        self._check(False)
        size = buffer_size(data)
        self._conn.sendall(cast("bytes", data), timeout=self._timeout)
        return size

    def flush(self) -> None:
        """Nothing to do: writes are sent at once (raises ValueError once closed)."""
        if self.closed:
            raise stream.file_closed()

    def detach(self) -> Any:
        """Not supported: there is no raw stream underneath."""
        raise stream.file_unsupported(None)
