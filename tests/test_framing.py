"""netkit.framing: the sans-IO buffer, decoders and encoders (bytes only, no sockets)."""

from __future__ import annotations

import doctest
import pathlib
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netkit.errors import FrameTooLarge
from netkit.framing import (
    DEFAULT_MAX_FRAME,
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_READ,
    DelimiterDecoder,
    LengthPrefixDecoder,
    LineDecoder,
    ReceiveBuffer,
    encode_delimited,
    encode_frame,
    encode_frames,
)

PREFIX_SIZES = (1, 2, 4, 8)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut *data* at the given offsets (any values; taken modulo len + 1, sorted)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = []
    start = 0
    for p in [*points, len(data)]:
        pieces.append(data[start:p])
        start = p
    return pieces


def without(data: bytes, delimiter: bytes) -> bytes:
    """*data* with every occurrence of *delimiter* removed (repeatedly, as removal can
    join two halves into a new one)."""
    while delimiter in data:
        data = data.replace(delimiter, b"")
    return data


def feed_all(decoder: DelimiterDecoder | LengthPrefixDecoder, pieces: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    return out


# -- defaults ---------------------------------------------------------------------------


def test_default_limits() -> None:
    assert DEFAULT_MAX_LINE == 64 * 1024
    assert DEFAULT_MAX_FRAME == 1024 * 1024
    assert DEFAULT_MAX_READ == 1024 * 1024


# -- ReceiveBuffer ----------------------------------------------------------------------


def test_buffer_take_and_take_all() -> None:
    buf = ReceiveBuffer(b"abcdef")
    assert len(buf) == 6
    assert buf
    assert buf.take(2) == b"ab"
    assert buf.peek() == b"cdef"
    assert buf.take(100) == b"cdef"
    assert not buf
    assert buf.take(5) == b""
    buf.feed(memoryview(b"xyz"))
    buf.feed(bytearray(b"!"))
    assert buf.take_all() == b"xyz!"
    assert "0 bytes" in repr(buf)


def test_buffer_try_exactly() -> None:
    buf = ReceiveBuffer()
    buf.feed(b"ab")
    assert buf.try_exactly(3) is None
    assert len(buf) == 2  # nothing consumed
    buf.feed(b"cd")
    assert buf.try_exactly(3) == b"abc"
    assert buf.try_exactly(0) == b""
    assert buf.take_all() == b"d"


def test_buffer_try_until_split_delimiter() -> None:
    buf = ReceiveBuffer()
    buf.feed(b"hello\r")
    assert buf.try_until(b"\r\n", max_bytes=100) is None
    buf.feed(b"\nworld\r\n")
    assert buf.try_until(b"\r\n", max_bytes=100) == b"hello"
    assert buf.try_until(b"\r\n", max_bytes=100, keep_delimiter=True) == b"world\r\n"
    assert not buf


def test_buffer_multibyte_delimiter_fed_byte_by_byte() -> None:
    buf = ReceiveBuffer()
    stream = b"abc--END--def--END--"
    got = []
    for i in range(len(stream)):
        buf.feed(stream[i : i + 1])
        msg = buf.try_until(b"--END--", max_bytes=10)
        if msg is not None:
            got.append(msg)
    assert got == [b"abc", b"def"]


def test_buffer_delimiter_overlapping_prefix() -> None:
    # "aab" inside "aaab": a naive resume point would skip the real match.
    buf = ReceiveBuffer()
    buf.feed(b"xaa")
    assert buf.try_until(b"aab", max_bytes=100) is None
    buf.feed(b"ab")
    assert buf.try_until(b"aab", max_bytes=100) == b"xa"


def test_buffer_changing_delimiter_rescans() -> None:
    buf = ReceiveBuffer(b"a;b,c")
    assert buf.try_until(b"!", max_bytes=100) is None
    assert buf.try_until(b",", max_bytes=100) == b"a;b"
    buf.feed(b";")
    assert buf.try_until(b";", max_bytes=100) == b"c"


def test_buffer_try_until_limit() -> None:
    buf = ReceiveBuffer(b"12345")
    # Exactly max_bytes before the delimiter is allowed...
    buf.feed(b"\n")
    assert buf.try_until(b"\n", max_bytes=5) == b"12345"
    # ...one more is not, and it is certain once max_bytes + len(delimiter) have arrived.
    buf.feed(b"12345")
    assert buf.try_until(b"\n", max_bytes=5) is None
    buf.feed(b"6")
    with pytest.raises(FrameTooLarge) as info:
        buf.try_until(b"\n", max_bytes=5)
    assert info.value.limit == 5
    assert info.value.size == 6
    assert buf.peek() == b"123456"  # nothing consumed


def test_buffer_try_until_limit_multibyte_delimiter() -> None:
    buf = ReceiveBuffer(b"abc\r")
    # The delimiter could still complete at index 3: not yet too large.
    assert buf.try_until(b"\r\n", max_bytes=3) is None
    buf.feed(b"\n")
    assert buf.try_until(b"\r\n", max_bytes=3) == b"abc"
    buf.feed(b"abcd\r")
    with pytest.raises(FrameTooLarge):
        buf.try_until(b"\r\n", max_bytes=3)
    assert len(buf) == 5


def test_buffer_scan_resumes_where_it_stopped() -> None:
    # The resume point is what keeps a long line fed byte by byte linear: check it directly.
    buf = ReceiveBuffer()
    for i in range(1, 200):
        buf.feed(b"x")
        assert buf.try_until(b"END", max_bytes=10_000) is None
        assert buf._scanned == max(0, i - 2)  # a match could only start in the last 2 bytes
    buf.feed(b"END")
    assert buf.try_until(b"END", max_bytes=10_000) == b"x" * 199
    assert buf._scanned == 0


def test_buffer_megabyte_one_byte_at_a_time_is_linear() -> None:
    buf = ReceiveBuffer()
    n = 1 << 20
    start = time.perf_counter()
    for _ in range(n):
        buf.feed(b"a")
        assert buf.try_until(b"\n\n", max_bytes=2 * n) is None
    buf.feed(b"\n\n")
    assert buf.try_until(b"\n\n", max_bytes=2 * n) == b"a" * n
    # About 1 s of Python loop on a slow machine; a rescan from the start each time
    # would do ~5e11 byte comparisons. The bound is generous for a shared machine.
    assert time.perf_counter() - start < 30


def test_buffer_try_frame() -> None:
    buf = ReceiveBuffer()
    assert buf.try_frame() is None
    assert buf.frame_bytes_needed() == 4
    buf.feed(b"\x00\x00")
    assert buf.frame_bytes_needed() == 2
    buf.feed(b"\x00\x03ab")
    assert buf.frame_bytes_needed() == 1
    assert buf.try_frame() is None
    buf.feed(b"c\x00")
    assert buf.try_frame() == b"abc"
    assert buf.take_all() == b"\x00"


def test_buffer_try_frame_too_large_before_payload() -> None:
    buf = ReceiveBuffer(b"\x00\x00\x01\x00")  # announces 256 bytes, none buffered
    with pytest.raises(FrameTooLarge) as info:
        buf.try_frame(max_size=255)
    assert info.value.limit == 255
    assert info.value.size == 256
    assert len(buf) == 4  # nothing consumed
    assert buf.try_frame(max_size=256) is None


@pytest.mark.parametrize("prefix_size", PREFIX_SIZES)
def test_buffer_try_frame_prefix_sizes(prefix_size: int) -> None:
    buf = ReceiveBuffer(encode_frame(b"xyz", prefix_size=prefix_size) + b"tail")
    assert buf.try_frame(prefix_size=prefix_size) == b"xyz"
    assert buf.peek() == b"tail"


@pytest.mark.parametrize("bad", [0, 3, 16, -1, "4", None])
def test_bad_prefix_size(bad: object) -> None:
    with pytest.raises(ValueError, match="prefix_size"):
        ReceiveBuffer(b"\x00" * 20).try_frame(prefix_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix_size"):
        LengthPrefixDecoder(prefix_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix_size"):
        encode_frame(b"", prefix_size=bad)  # type: ignore[arg-type]


# -- decoders ---------------------------------------------------------------------------


def test_line_decoder_basic() -> None:
    dec = LineDecoder()
    assert dec.feed(b"one\ntw") == [b"one"]
    assert dec.buffered == 2
    assert dec.feed(b"o\n\nthree\n") == [b"two", b"", b"three"]
    assert dec.buffered == 0
    keep = LineDecoder(keep_newline=True)
    assert keep.feed(b"a\nb\n") == [b"a\n", b"b\n"]


def test_delimiter_decoder_validation() -> None:
    with pytest.raises(ValueError, match="empty"):
        DelimiterDecoder(b"")
    with pytest.raises(TypeError):
        DelimiterDecoder("\n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_size"):
        DelimiterDecoder(max_size=-1)
    with pytest.raises(TypeError):
        DelimiterDecoder(max_size=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        LengthPrefixDecoder(max_size=True)


def test_delimiter_decoder_too_large_then_refuses() -> None:
    dec = DelimiterDecoder(b"\r\n", max_size=4)
    assert dec.feed(b"abcd\r\n") == [b"abcd"]
    assert dec.feed(b"abcd\r") == []  # could still be a 4-byte message
    with pytest.raises(FrameTooLarge):
        dec.feed(b"x")
    assert dec.buffered == 0  # the oversized tail is not kept
    with pytest.raises(FrameTooLarge, match="already failed"):
        dec.feed(b"ok\r\n")


def test_length_prefix_decoder_too_large_before_payload() -> None:
    dec = LengthPrefixDecoder(max_size=10)
    assert dec.feed(encode_frame(b"0123456789")) == [b"0123456789"]
    # The prefix alone is enough to refuse: no payload byte needs to arrive.
    with pytest.raises(FrameTooLarge) as info:
        dec.feed(b"\x00\x00\x00\x0b")
    assert info.value.size == 11
    with pytest.raises(FrameTooLarge, match="already failed"):
        dec.feed(b"")


def test_length_prefix_decoder_does_not_buffer_oversized_payload() -> None:
    dec = LengthPrefixDecoder(prefix_size=2, max_size=100)
    frame = b"\xff\xff" + b"x" * 65535
    with pytest.raises(FrameTooLarge):
        dec.feed(frame)
    assert dec.buffered == 0


def test_length_prefix_decoder_empty_frames_and_tails() -> None:
    dec = LengthPrefixDecoder(prefix_size=1)
    assert dec.feed(b"\x00\x00\x02a") == [b"", b""]
    assert dec.buffered == 2
    assert dec.feed(b"b\x01") == [b"ab"]
    assert dec.feed(b"") == []
    assert dec.feed(memoryview(b"z")) == [b"z"]


# -- encoders ---------------------------------------------------------------------------


def test_encode_frame() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"", prefix_size=1) == b"\x00"
    assert encode_frame(bytearray(b"x"), prefix_size=8) == b"\x00" * 7 + b"\x01x"
    assert encode_frame(memoryview(b"xy"), prefix_size=2) == b"\x00\x02xy"
    assert encode_frames([b"a", b"bc"], prefix_size=2) == b"\x00\x01a\x00\x02bc"


def test_encode_frame_refuses_oversize() -> None:
    assert len(encode_frame(b"x" * 255, prefix_size=1)) == 256
    with pytest.raises(FrameTooLarge) as info:
        encode_frame(b"x" * 256, prefix_size=1)
    assert info.value.limit == 255
    assert info.value.size == 256
    with pytest.raises(FrameTooLarge):
        encode_frame(b"x" * 65536, prefix_size=2)
    with pytest.raises(FrameTooLarge):
        encode_frame(b"abcd", max_size=3)
    assert encode_frame(b"abc", max_size=3) == b"\x00\x00\x00\x03abc"


def test_encode_delimited() -> None:
    assert encode_delimited(b"abc") == b"abc\n"
    assert encode_delimited(b"abc", b"\r\n") == b"abc\r\n"
    with pytest.raises(ValueError, match="delimiter"):
        encode_delimited(b"a\nb")
    with pytest.raises(FrameTooLarge):
        encode_delimited(b"abcd", max_size=3)
    with pytest.raises(ValueError, match="empty"):
        encode_delimited(b"abc", b"")


def test_error_messages_stay_short_for_huge_input() -> None:
    with pytest.raises(ValueError, match="contains the delimiter") as info:
        encode_delimited(b"\n" * 1_000_000, b"\n" * 500_000)
    assert len(str(info.value)) < 300


# -- properties: encode, re-split anywhere, decode ---------------------------------------

messages = st.lists(st.binary(max_size=300), max_size=12)
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)


@given(messages, cuts, st.sampled_from(PREFIX_SIZES))
def test_length_prefix_round_trip_any_split(
    payloads: list[bytes], cut: list[int], prefix_size: int
) -> None:
    payloads = [p[: (1 << (8 * prefix_size)) - 1] for p in payloads]  # fit 1-byte prefixes
    stream = encode_frames(payloads, prefix_size=prefix_size)
    dec = LengthPrefixDecoder(prefix_size=prefix_size, max_size=300)
    assert feed_all(dec, split_at(stream, cut)) == payloads
    assert dec.buffered == 0


@given(
    st.lists(st.binary(max_size=200), max_size=12),
    cuts,
    st.sampled_from([b"\n", b"\r\n", b"\x00", b"--END--", b"aa"]),
    st.booleans(),
)
def test_delimiter_round_trip_any_split(
    raw: list[bytes], cut: list[int], delimiter: bytes, keep: bool
) -> None:
    # Messages must not contain the delimiter, nor end with a proper prefix of it that
    # would combine with the delimiter into an earlier match (b"a" + b"aa").
    payloads = [without(m, delimiter) for m in raw]
    payloads = [
        m for m in payloads if not any(m.endswith(delimiter[:k]) for k in range(1, len(delimiter)))
    ]
    stream = b"".join(encode_delimited(m, delimiter) for m in payloads)
    dec = DelimiterDecoder(delimiter, max_size=200, keep_delimiter=keep)
    expected = [m + delimiter for m in payloads] if keep else payloads
    assert feed_all(dec, split_at(stream, cut)) == expected
    assert dec.buffered == 0


@given(st.lists(st.binary(max_size=50).map(lambda b: b.replace(b"\n", b"")), max_size=10), cuts)
def test_receive_buffer_mixed_reads_any_split(lines: list[bytes], cut: list[int]) -> None:
    # A line, then a frame carrying it, then its length in raw bytes: one buffer serves
    # every kind of read, whatever the chunking.
    stream = b"".join(
        line + b"\n" + encode_frame(line) + len(line).to_bytes(2, "big") for line in lines
    )
    buf = ReceiveBuffer()
    pending = split_at(stream, cut)
    out: list[tuple[bytes, bytes, bytes]] = []
    stage = 0
    parts: list[bytes] = []

    def step() -> bytes | None:
        if stage == 0:
            return buf.try_until(b"\n", max_bytes=100)
        if stage == 1:
            return buf.try_frame(max_size=100)
        return buf.try_exactly(2)

    while True:
        result = step()
        if result is None:
            if not pending:
                break
            buf.feed(pending.pop(0))
            continue
        parts.append(result)
        stage += 1
        if stage == 3:
            out.append((parts[0], parts[1], parts[2]))
            parts, stage = [], 0
    assert out == [(line, line, len(line).to_bytes(2, "big")) for line in lines]
    assert not buf


@given(st.binary(min_size=1, max_size=400), st.integers(min_value=0, max_value=300), cuts)
def test_oversized_line_detected_in_any_split(body: bytes, limit: int, cut: list[int]) -> None:
    body = body.replace(b"\n", b"")
    stream = body + b"\n"
    dec = LineDecoder(max_size=limit)
    if len(body) <= limit:
        assert feed_all(dec, split_at(stream, cut)) == [body]
    else:
        with pytest.raises(FrameTooLarge):
            feed_all(dec, split_at(stream, cut))


def test_docs_examples_run() -> None:
    docs = pathlib.Path(__file__).resolve().parent.parent / "docs" / "framing.md"
    result = doctest.testfile(str(docs), module_relative=False)
    assert result.attempted > 0
    assert result.failed == 0
