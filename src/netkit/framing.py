"""Sans-IO framing: bytes in, messages out, and back.

Nothing here touches a socket. :class:`ReceiveBuffer` is the one receive buffer behind
every read method of :class:`netkit.TcpConnection` and its asyncio twin: the IO layer
feeds it what the socket returned and asks it, without blocking, whether a complete
message is there yet (``try_*`` methods return ``None`` when more bytes are needed).
The decoders and encoders are the same logic packaged for callers who do their own IO.

Size limits are checked as soon as they are certain: a length prefix announcing more
than ``max_size`` raises :class:`~netkit.errors.FrameTooLarge` before any of its payload
is buffered, and a delimiter search gives up once ``max_size`` bytes have passed without
one. A failed ``try_*`` call consumes nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import netkit._core.limits as limits
from netkit._core.checks import check_delimiter, check_size
from netkit.errors import FrameTooLarge, describe

__all__ = [
    "DEFAULT_MAX_FRAME",
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_READ",
    "DelimiterDecoder",
    "LengthPrefixDecoder",
    "LineDecoder",
    "ReceiveBuffer",
    "encode_delimited",
    "encode_frame",
    "encode_frames",
]

# The limits are chosen in netkit._core.limits (worst-case memory of a server at its
# default connection cap); these are their public names.
#: Default limit for a line or delimited message, delimiter excluded (64 KiB).
DEFAULT_MAX_LINE = limits.MAX_LINE
#: Default limit for a length-prefixed frame's payload (1 MiB).
DEFAULT_MAX_FRAME = limits.MAX_FRAME
#: Default limit for reading a whole stream to EOF (1 MiB).
DEFAULT_MAX_READ = limits.MAX_READ

_PREFIX: dict[int, struct.Struct] = {
    1: struct.Struct("!B"),
    2: struct.Struct("!H"),
    4: struct.Struct("!I"),
    8: struct.Struct("!Q"),
}


def _prefix_struct(prefix_size: int) -> struct.Struct:
    try:
        return _PREFIX[prefix_size]
    except (KeyError, TypeError):
        msg = f"prefix_size must be 1, 2, 4 or 8, not {describe(prefix_size)}"
        raise ValueError(msg) from None


class ReceiveBuffer:
    """Bytes received from a stream and not yet handed to the caller.

    The ``try_*`` methods either return a complete message (consuming it) or ``None``
    when more bytes are needed; on a size violation they raise ``FrameTooLarge`` and
    consume nothing. Removing from the front of a ``bytearray`` is amortised O(1) in
    CPython, so draining message by message stays linear.

    Args:
        data: bytes to start with.
    """

    __slots__ = ("_buf", "_scan_delim", "_scanned")

    def __init__(self, data: bytes = b"") -> None:
        # Only ever changed in place (never rebound): TcpConnection keeps a reference
        # to test for emptiness without a Python-level call.
        self._buf = bytearray(data)
        # Where the last unsuccessful delimiter search stopped, so that feeding a long
        # line one byte at a time does not rescan it from the start (no quadratic cost).
        self._scanned = 0
        self._scan_delim = b""

    def __len__(self) -> int:
        return len(self._buf)

    def __bool__(self) -> bool:
        return bool(self._buf)

    def __repr__(self) -> str:
        return f"<ReceiveBuffer {len(self._buf)} bytes>"

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes.

        Args:
            data: the bytes, as the socket returned them.
        """
        self._buf += data

    def _consume(self, n: int) -> bytes:
        # Through a view: one copy. ``bytes(buf[:n])`` copies twice (the slice is a new
        # bytearray), which costs a bulk transfer more than anything else it does.
        with memoryview(self._buf) as view:
            out = view[:n].tobytes()
        del self._buf[:n]
        self._scanned = 0
        return out

    def take(self, max_bytes: int) -> bytes:
        """Remove and return up to *max_bytes* bytes (``b""`` if empty).

        Args:
            max_bytes: the most bytes to return.

        Returns:
            The oldest buffered bytes, at most *max_bytes* of them.
        """
        if max_bytes >= len(self._buf):
            return self.take_all()
        return self._consume(max_bytes)

    def take_all(self) -> bytes:
        """Remove and return everything buffered.

        Returns:
            Every buffered byte (``b""`` if empty).
        """
        out = bytes(self._buf)
        self._buf.clear()
        self._scanned = 0
        return out

    def peek(self) -> bytes:
        """Return a copy of everything buffered without consuming it.

        Returns:
            Every buffered byte.
        """
        return bytes(self._buf)

    def try_exactly(self, n: int) -> bytes | None:
        """Return exactly *n* bytes if buffered, else ``None``.

        Args:
            n: how many bytes.

        Returns:
            The oldest *n* bytes, or None (nothing consumed) when fewer are buffered.
        """
        if len(self._buf) < n:
            return None
        return self._consume(n)

    def try_until(
        self, delimiter: bytes, *, max_bytes: int, keep_delimiter: bool = False
    ) -> bytes | None:
        """Return the bytes before the first *delimiter* (consuming the delimiter too).

        Args:
            delimiter: the bytes that end a message.
            max_bytes: the longest message, delimiter excluded.
            keep_delimiter: end the returned bytes with the delimiter.

        Returns:
            The message, or None (nothing consumed) when no delimiter is buffered yet.

        Raises:
            FrameTooLarge: more than *max_bytes* bytes are buffered without a delimiter;
                nothing is consumed.
        """
        buf = self._buf
        dlen = len(delimiter)
        if delimiter != self._scan_delim:
            self._scan_delim = delimiter
            self._scanned = 0
        # The delimiter may start at most at index max_bytes.
        end = max_bytes + dlen
        idx = buf.find(delimiter, self._scanned, end)
        if idx < 0:
            if len(buf) >= end:
                raise FrameTooLarge(
                    f"no {describe(delimiter)} within {max_bytes} bytes",
                    limit=max_bytes,
                    size=len(buf),
                )
            # Next search starts where a delimiter split across feeds could begin.
            self._scanned = max(0, len(buf) - dlen + 1)
            return None
        out = bytes(buf[: idx + dlen] if keep_delimiter else buf[:idx])
        del buf[: idx + dlen]
        self._scanned = 0
        return out

    def try_frame(
        self, *, prefix_size: int = 4, max_size: int = DEFAULT_MAX_FRAME
    ) -> bytes | None:
        """Return one length-prefixed frame's payload, or ``None`` if incomplete.

        Args:
            prefix_size: bytes in the big-endian length prefix: 1, 2, 4 or 8.
            max_size: the largest payload accepted.

        Returns:
            The payload (prefix removed), or None (nothing consumed) while incomplete.

        Raises:
            ValueError: *prefix_size* is not 1, 2, 4 or 8.
            FrameTooLarge: the prefix announces more than *max_size* bytes (raised as soon
                as the prefix is buffered, before any payload is waited for); nothing is
                consumed.
        """
        header = _prefix_struct(prefix_size)
        buf = self._buf
        if len(buf) < prefix_size:
            return None
        (length,) = header.unpack_from(buf)
        if length > max_size:
            raise FrameTooLarge(
                f"frame of {length} bytes is over the limit of {max_size}",
                limit=max_size,
                size=length,
            )
        total = prefix_size + length
        if len(buf) < total:
            return None
        out = bytes(buf[prefix_size:total])
        del buf[:total]
        self._scanned = 0
        return out

    def frame_bytes_needed(self, *, prefix_size: int = 4) -> int:
        """How many more bytes the next frame needs (a hint for sizing reads).

        Args:
            prefix_size: bytes in the length prefix: 1, 2, 4 or 8.

        Returns:
            The bytes missing to complete the prefix, or else the whole frame; 0 if complete.

        Raises:
            ValueError: *prefix_size* is not 1, 2, 4 or 8.
        """
        if len(self._buf) < prefix_size:
            return prefix_size - len(self._buf)
        (length,) = _prefix_struct(prefix_size).unpack_from(self._buf)
        return max(0, prefix_size + int(length) - len(self._buf))


class DelimiterDecoder:
    """Split a byte stream into messages ended by *delimiter*.

    ``feed(data)`` accepts bytes in any split and returns the complete messages. A
    message longer than *max_size* raises ``FrameTooLarge`` as soon as that is certain;
    the decoder is then out of step with the stream and refuses further input.

    Args:
        delimiter: the non-empty bytes that end each message.
        max_size: the longest message, delimiter excluded.
        keep_delimiter: end each message with its delimiter (removed by default).

    Raises:
        TypeError: *delimiter* is not bytes, or *max_size* is not an ``int``.
        ValueError: *delimiter* is empty, or *max_size* is negative.
    """

    def __init__(
        self,
        delimiter: bytes = b"\n",
        *,
        max_size: int = DEFAULT_MAX_LINE,
        keep_delimiter: bool = False,
    ) -> None:
        self.delimiter: bytes = check_delimiter(delimiter)
        self.max_size: int = check_size("max_size", max_size)
        self.keep_delimiter = keep_delimiter
        self._buffer = ReceiveBuffer()
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet part of a complete message."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add *data*; return every message it completes, in order.

        Args:
            data: the next bytes of the stream, in any split.

        Returns:
            The completed messages (often none).

        Raises:
            FrameTooLarge: a message is over *max_size*, or the decoder already failed.
        """
        if self._failed:
            raise FrameTooLarge("decoder already failed on an oversized message")
        self._buffer.feed(data)
        out: list[bytes] = []
        try:
            while (
                msg := self._buffer.try_until(
                    self.delimiter, max_bytes=self.max_size, keep_delimiter=self.keep_delimiter
                )
            ) is not None:
                out.append(msg)
        except FrameTooLarge:
            self._failed = True
            self._buffer.take_all()  # drop the oversized tail rather than hold it
            raise
        return out


class LineDecoder(DelimiterDecoder):
    """A :class:`DelimiterDecoder` for ``\\n``-terminated lines.

    Args:
        max_size: the longest line, newline excluded.
        keep_newline: end each line with its newline (removed by default).

    Raises:
        TypeError: *max_size* is not an ``int``.
        ValueError: *max_size* is negative.
    """

    def __init__(self, *, max_size: int = DEFAULT_MAX_LINE, keep_newline: bool = False) -> None:
        super().__init__(b"\n", max_size=max_size, keep_delimiter=keep_newline)


class LengthPrefixDecoder:
    """Split a byte stream into length-prefixed frames (big-endian unsigned prefix).

    A prefix announcing more than *max_size* raises ``FrameTooLarge`` before its payload
    is buffered; the decoder then refuses further input.

    Args:
        prefix_size: bytes in the length prefix: 1, 2, 4 (the default) or 8.
        max_size: the largest payload accepted.

    Raises:
        ValueError: *prefix_size* is not 1, 2, 4 or 8, or *max_size* is negative.
        TypeError: *max_size* is not an ``int``.
    """

    def __init__(self, *, prefix_size: int = 4, max_size: int = DEFAULT_MAX_FRAME) -> None:
        _prefix_struct(prefix_size)
        self.prefix_size = prefix_size
        self.max_size: int = check_size("max_size", max_size)
        self._buffer = ReceiveBuffer()
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add *data*; return every frame payload it completes, in order.

        Args:
            data: the next bytes of the stream, in any split.

        Returns:
            The completed payloads (often none).

        Raises:
            FrameTooLarge: a frame is over *max_size*, or the decoder already failed.
        """
        if self._failed:
            raise FrameTooLarge("decoder already failed on an oversized frame")
        buffer = self._buffer
        out: list[bytes] = []
        view = memoryview(data).cast("B")
        try:
            while True:
                # Feed only up to the end of the current frame (or its header), so an
                # oversized frame is refused before its payload is stored.
                if len(buffer) < self.prefix_size:
                    want = self.prefix_size - len(buffer)
                else:
                    want = buffer.frame_bytes_needed(prefix_size=self.prefix_size)
                    if want == 0:
                        want = 1  # unreachable in practice; keeps the loop moving
                buffer.feed(view[:want])
                view = view[want:]
                frame = buffer.try_frame(prefix_size=self.prefix_size, max_size=self.max_size)
                if frame is not None:
                    out.append(frame)
                if not view:
                    return out
        except FrameTooLarge:
            self._failed = True
            buffer.take_all()
            raise


def encode_frame(
    payload: bytes | bytearray | memoryview,
    *,
    prefix_size: int = 4,
    max_size: int | None = None,
) -> bytes:
    """Return *payload* preceded by its length as a big-endian unsigned integer.

    Args:
        payload: the bytes to frame.
        prefix_size: bytes in the length prefix: 1, 2, 4 or 8.
        max_size: the largest payload accepted; None for only the prefix's limit.

    Returns:
        The prefix followed by the payload.

    Raises:
        ValueError: *prefix_size* is not 1, 2, 4 or 8.
        FrameTooLarge: the payload is over *max_size* or does not fit the prefix (255
            bytes for a 1-byte prefix, 65535 for 2, ...).
    """
    header = _prefix_struct(prefix_size)
    size = memoryview(payload).nbytes
    limit = (1 << (8 * prefix_size)) - 1
    if max_size is not None:
        limit = min(limit, max_size)
    if size > limit:
        raise FrameTooLarge(
            f"payload of {size} bytes is over the frame limit of {limit}", limit=limit, size=size
        )
    return header.pack(size) + bytes(payload)


def encode_delimited(
    payload: bytes | bytearray | memoryview,
    delimiter: bytes = b"\n",
    *,
    max_size: int | None = None,
) -> bytes:
    """Return *payload* followed by *delimiter*.

    Args:
        payload: the message, which must not contain the delimiter.
        delimiter: the non-empty bytes that end the message.
        max_size: the longest message accepted, delimiter excluded; None for no limit.

    Returns:
        The payload followed by the delimiter.

    Raises:
        TypeError: *delimiter* is not bytes.
        ValueError: *delimiter* is empty, or the payload contains it (it would split
            into two messages).
        FrameTooLarge: the payload is over *max_size*.
    """
    delimiter = check_delimiter(delimiter)
    data = bytes(payload)
    if max_size is not None and len(data) > max_size:
        raise FrameTooLarge(
            f"message of {len(data)} bytes is over the limit of {max_size}",
            limit=max_size,
            size=len(data),
        )
    if delimiter in data:
        raise ValueError(f"message contains the delimiter {describe(delimiter)}")
    return data + delimiter


def encode_frames(payloads: Iterable[bytes], *, prefix_size: int = 4) -> bytes:
    """Encode several payloads back to back (one buffer, one send).

    Args:
        payloads: the payloads, each framed as by :func:`encode_frame`.
        prefix_size: bytes in each length prefix: 1, 2, 4 or 8.

    Returns:
        The frames, concatenated.

    Raises:
        ValueError: *prefix_size* is not 1, 2, 4 or 8.
        FrameTooLarge: a payload does not fit the prefix.
    """
    return b"".join(encode_frame(p, prefix_size=prefix_size) for p in payloads)
