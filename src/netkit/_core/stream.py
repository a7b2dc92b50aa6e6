"""The stream reader's decisions: read requests, EOF policy, limits, and their errors.

A stream connection in either face owns one :class:`~netkit.framing.ReceiveBuffer`.
Every framed read method builds a request here (:func:`exactly`, :func:`until`,
:func:`line`, :func:`frame`, :func:`to_eof`) and runs the same loop::

    while (result := request.attempt(buffer)) is None:
        wait for more bytes   # the face's only job: poll+recv, or the event loop
        if the stream ended: return request.at_eof(buffer)

``attempt`` returns the message once it is whole (or raises ``FrameTooLarge``, having
consumed nothing); ``want`` says how many buffered bytes are worth waking up for;
``at_eof`` decides what the end of the stream means for this read: ``b""`` for a clean
EOF where the contract allows it, else ``ConnectionClosed`` carrying what was buffered
in ``.partial``. The messages are written once, here, for every face and transport.
"""

from __future__ import annotations

import io
import sys

from netkit._core.checks import check_delimiter, check_size, check_timeout
from netkit._core.oserrors import lost
from netkit.errors import ConnectionClosed, FrameTooLarge, describe
from netkit.framing import ReceiveBuffer

__all__ = [
    "FRAME_PREFIX",
    "MAX_FRAME_PAYLOAD",
    "Read",
    "closed_by_peer",
    "exactly",
    "failed",
    "file_closed",
    "file_line",
    "file_mode",
    "file_read",
    "file_unsupported",
    "frame",
    "frame_too_large_to_send",
    "line",
    "to_eof",
    "until",
]

FRAME_PREFIX = 4
MAX_FRAME_PAYLOAD = 0xFFFFFFFF


def closed_by_peer(what: str, buffer: ReceiveBuffer) -> ConnectionClosed:
    """``ConnectionClosed("connection closed by peer <what>")`` with the buffer's bytes."""
    return ConnectionClosed(f"connection closed by peer {what}", buffer.take_all())


def failed(exc: BaseException, buffer: ReceiveBuffer) -> ConnectionClosed:
    """The error for a read whose stream was lost with *exc*; takes the buffered bytes."""
    return lost(exc, buffer.take_all())


def frame_too_large_to_send(size: int) -> FrameTooLarge:
    """The error for a payload that a 4-byte length prefix cannot announce."""
    return FrameTooLarge(
        f"payload of {size} bytes does not fit a 4-byte length prefix",
        limit=MAX_FRAME_PAYLOAD,
        size=size,
    )


class Read:
    """One framed read: what completes it, what to wait for, what EOF means."""

    __slots__ = ()

    def attempt(self, buffer: ReceiveBuffer) -> bytes | None:
        """The message if the buffer holds it whole (consumed), else None."""
        raise NotImplementedError

    def want(self, buffer: ReceiveBuffer) -> int:
        """How many buffered bytes are worth waking the reader for."""
        return len(buffer) + 1

    def at_eof(self, buffer: ReceiveBuffer) -> bytes:
        """The result at the end of the stream, or raise ``ConnectionClosed``."""
        raise NotImplementedError


class Exactly(Read):
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def attempt(self, buffer: ReceiveBuffer) -> bytes | None:
        return buffer.try_exactly(self.n)

    def want(self, buffer: ReceiveBuffer) -> int:
        return self.n

    def at_eof(self, buffer: ReceiveBuffer) -> bytes:
        raise closed_by_peer(f"after {len(buffer)} of {self.n} bytes", buffer)


class Until(Read):
    __slots__ = ("delimiter", "keep", "max_bytes")

    def __init__(self, delimiter: bytes, max_bytes: int, keep: bool) -> None:
        self.delimiter = delimiter
        self.max_bytes = max_bytes
        self.keep = keep

    def attempt(self, buffer: ReceiveBuffer) -> bytes | None:
        return buffer.try_until(self.delimiter, max_bytes=self.max_bytes, keep_delimiter=self.keep)

    def at_eof(self, buffer: ReceiveBuffer) -> bytes:
        raise closed_by_peer(f"before {describe(self.delimiter)}", buffer)


class Line(Until):
    __slots__ = ()

    def at_eof(self, buffer: ReceiveBuffer) -> bytes:
        if not buffer:
            return b""  # a clean EOF between lines
        raise closed_by_peer("mid-line", buffer)


class Frame(Read):
    __slots__ = ("max_size",)

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size

    def attempt(self, buffer: ReceiveBuffer) -> bytes | None:
        return buffer.try_frame(max_size=self.max_size)

    def want(self, buffer: ReceiveBuffer) -> int:
        return len(buffer) + buffer.frame_bytes_needed()

    def at_eof(self, buffer: ReceiveBuffer) -> bytes:
        if not buffer:
            raise closed_by_peer("before the next frame", buffer)
        raise closed_by_peer(f"mid-frame after {len(buffer)} bytes", buffer)


class ToEof(Read):
    __slots__ = ("max_bytes",)

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def attempt(self, buffer: ReceiveBuffer) -> bytes | None:
        if len(buffer) > self.max_bytes:
            raise FrameTooLarge(
                f"stream longer than the limit of {self.max_bytes} bytes",
                limit=self.max_bytes,
                size=len(buffer),
            )
        return None  # only the end of the stream completes it

    def want(self, buffer: ReceiveBuffer) -> int:
        return self.max_bytes + 1

    def at_eof(self, buffer: ReceiveBuffer) -> bytes:
        return buffer.take_all()


def _check_timeout(timeout: object) -> None:
    # Checked before anything is consumed, even when no wait turns out to be needed.
    if timeout is not None:
        check_timeout("timeout", timeout)


def exactly(n: object, timeout: object = None) -> Read:
    """``recv_exactly(n)``: exactly *n* bytes; EOF first is ``ConnectionClosed``."""
    size = check_size("n", n)
    _check_timeout(timeout)
    return Exactly(size)


def until(delimiter: object, max_bytes: object, timeout: object = None) -> Read:
    """``recv_until``: the bytes before *delimiter* (consumed, not returned)."""
    delim = check_delimiter(delimiter)
    limit = check_size("max_bytes", max_bytes)
    _check_timeout(timeout)
    return Until(delim, limit, False)


def line(max_bytes: object, timeout: object = None) -> Read:
    """``readline``: a line with its ``\\n``; ``b""`` at a clean EOF."""
    limit = check_size("max_bytes", max_bytes)
    _check_timeout(timeout)
    return Line(b"\n", limit, True)


def frame(max_size: object, timeout: object = None) -> Read:
    """``recv_frame``: one 4-byte big-endian length-prefixed payload."""
    limit = check_size("max_size", max_size)
    _check_timeout(timeout)
    return Frame(limit)


def to_eof(max_bytes: object, timeout: object = None) -> Read:
    """``recv_all``: everything until EOF; ``FrameTooLarge`` past *max_bytes*."""
    limit = check_size("max_bytes", max_bytes)
    _check_timeout(timeout)
    return ToEof(limit)


# -- file objects (``makefile``) ----------------------------------------------------------
# A file's reads follow io's rules, not the connection's: a short read (or a partial
# line) at EOF is a result, not an error.


class UpTo(Read):
    """A file's ``read(n)``: *n* bytes, or what is left at EOF (``b""`` once at EOF)."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def attempt(self, buffer: ReceiveBuffer) -> bytes | None:
        return buffer.try_exactly(self.n)

    def want(self, buffer: ReceiveBuffer) -> int:
        return self.n

    def at_eof(self, buffer: ReceiveBuffer) -> bytes:
        return buffer.take_all()


class FileLine(Read):
    """A file's ``readline(limit)``: through ``\n``, at most *limit* bytes, partial at EOF."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def attempt(self, buffer: ReceiveBuffer) -> bytes | None:
        if self.limit <= 0:
            return b""
        try:
            return buffer.try_until(b"\n", max_bytes=self.limit - 1, keep_delimiter=True)
        except FrameTooLarge:
            return buffer.take(self.limit)  # no newline within the limit: the limit's worth

    def at_eof(self, buffer: ReceiveBuffer) -> bytes:
        return buffer.take(self.limit)


def file_read(size: object) -> Read:
    """A file's ``read(size)``: *size* bytes or fewer at EOF; ``None`` or < 0: to EOF."""
    if size is None:
        return ToEof(sys.maxsize)
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int or None, not {type(size).__name__}")
    return ToEof(sys.maxsize) if size < 0 else UpTo(int(size))


def file_line(size: object) -> Read:
    """A file's ``readline(size)``: a line with its ``\n``; ``None`` or < 0: no limit."""
    if size is None:
        return FileLine(sys.maxsize)
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int or None, not {type(size).__name__}")
    return FileLine(sys.maxsize if size < 0 else int(size))


def file_mode(
    mode: object,
    buffering: object,
    encoding: object,
    errors: object,
    newline: object,
) -> tuple[bool, bool, bool]:
    """Check ``makefile``'s arguments as :meth:`socket.socket.makefile` and :func:`open` do.

    Returns:
        ``(reading, writing, text)``.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: a mode with other letters than ``r``, ``w``, ``b`` (or neither
            ``r`` nor ``w``), text arguments with a binary mode, or ``buffering=0``
            with a text mode.
    """
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, not {type(mode).__name__}")
    letters = set(mode)
    if not letters <= {"r", "w", "b"} or len(letters) != len(mode) or not letters & {"r", "w"}:
        raise ValueError(f"invalid mode {describe(mode)} (only r, w, b allowed, r or w needed)")
    if buffering is not None and (not isinstance(buffering, int) or isinstance(buffering, bool)):
        raise TypeError(f"buffering must be an int or None, not {type(buffering).__name__}")
    for name, value in (("encoding", encoding), ("errors", errors), ("newline", newline)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    text = "b" not in letters
    if not text:
        for name, value in (("encoding", encoding), ("errors", errors), ("newline", newline)):
            if value is not None:
                raise ValueError(f"binary mode {describe(mode)} does not take {name}")
    elif buffering == 0:
        raise ValueError("buffering=0 needs a binary mode (unbuffered text is not possible)")
    return "r" in letters, "w" in letters, text


def file_closed() -> ValueError:
    """The error of any call on a closed file (the :mod:`io` module's own message)."""
    return ValueError("I/O operation on closed file.")


def file_unsupported(reading: bool | None) -> io.UnsupportedOperation:
    """The error of a read on a file not opened for reading (a write: not for writing;
    None: ``detach``, which a connection's file cannot do)."""
    if reading is None:
        return io.UnsupportedOperation("detach: a connection's file has no raw stream")
    return io.UnsupportedOperation(
        "File not open for reading" if reading else "File not open for writing"
    )
