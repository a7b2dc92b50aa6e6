"""``conn.makefile()``: a file object that reads through the connection's receive buffer
(nothing skipped, nothing held back), on TCP, Unix and memory pairs split to single
bytes; usable with json.load and io.TextIOWrapper; deadlines, closing and bad
arguments."""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _tcpconn_util import tcp_pair
from netkit import ConnectionClosed, NetkitTimeout, TcpConnection, UnixConnection
from netkit.tcp.connection import StreamConnection, StreamFile
from netkit.testing import memory_pair

Pair = Callable[[], tuple[StreamConnection, StreamConnection]]


def _tcp() -> tuple[StreamConnection, StreamConnection]:
    a, b = tcp_pair()
    return TcpConnection(a), TcpConnection(b)


def _memory() -> tuple[StreamConnection, StreamConnection]:
    return memory_pair(chunk_size=1)


PAIRS: dict[str, Pair] = {"tcp": _tcp, "unix": UnixConnection.pair, "memory-split": _memory}


@pytest.fixture(params=list(PAIRS))
def pair(request: pytest.FixtureRequest) -> Any:
    a, b = PAIRS[request.param]()
    with a, b:
        yield a, b


def test_json_load(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    document = {"name": "netkit", "values": list(range(50)), "text": "h\u00e9llo \u2603"}
    a.sendall(json.dumps(document).encode())
    a.shutdown_write()
    with b.makefile("rb", timeout=30) as file:
        assert json.load(file) == document
    assert not b.closed  # closing the file leaves the connection open


def test_pickle_load(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    a.sendall(pickle.dumps({"x": [1, 2, 3]}) + b"after")
    file = b.makefile(timeout=30)
    assert pickle.load(file) == {"x": [1, 2, 3]}
    assert b.recv_exactly(5, timeout=30) == b"after"  # pickle read nothing past its end


def test_text_wrapper_lines(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    lines = ["first\n", "sn\u00f8w \u2603\n", "third, no newline"]
    a.sendall("".join(lines).encode("utf-8"))
    a.shutdown_write()
    with io.TextIOWrapper(b.makefile(timeout=30), encoding="utf-8") as text:
        assert list(text) == lines


def test_text_mode(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    writer = a.makefile("w", encoding="utf-8", timeout=30)
    writer.write("caf\u00e9\n")
    writer.write("two\n")
    writer.flush()
    writer.close()
    a.shutdown_write()
    reader = b.makefile("r", encoding="utf-8", newline="", timeout=30)
    assert isinstance(reader, io.TextIOWrapper)
    assert reader.mode == "r"
    assert reader.readline() == "caf\u00e9\n"
    assert reader.read() == "two\n"


def test_interleaving_with_the_connection(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    a.sendall(b"one\ntwo\nthree;four\nfive\nsix and the rest")
    a.shutdown_write()
    file = b.makefile("rb", timeout=30)
    assert b.readline(timeout=30) == b"one\n"
    assert file.readline() == b"two\n"
    assert b.recv_until(b";", timeout=30) == b"three"
    assert file.read(5) == b"four\n"
    assert b.recv_exactly(5, timeout=30) == b"five\n"
    assert file.read1(3) in (b"s", b"si", b"six")  # at most one receive
    rest = file.read()
    assert (b"six and the rest").endswith(rest)
    assert len(rest) >= len(b" and the rest")
    assert file.read() == b""
    assert b.recv(10) == b""  # the file took everything: nothing left behind
    assert b.buffered == 0


def test_bytes_buffered_by_the_connection_come_first() -> None:
    a, b = UnixConnection.pair()
    with a, b:
        a.sendall(b"header\r\nbody line 1\nbody line 2\n")
        a.shutdown_write()
        assert b.recv_until(b"\r\n", timeout=30) == b"header"
        file = b.makefile()
        assert list(file) == [b"body line 1\n", b"body line 2\n"]


def test_reads_at_the_end_of_the_stream(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    a.sendall(b"abcdef\nxyz")
    a.shutdown_write()
    file = b.makefile(timeout=30)
    assert file.readline(3) == b"abc"  # the limit cuts the line
    assert file.readline(0) == b""
    assert file.readline() == b"def\n"
    buffer = bytearray(10)
    assert file.readinto(buffer) == 3  # short: the end of the stream
    assert buffer[:3] == b"xyz"
    assert file.readline() == b""
    assert file.read(4) == b""
    assert file.read1() == b""
    assert file.readinto1(bytearray(4)) == 0


def test_partial_line_at_eof(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    a.sendall(b"no newline")
    a.shutdown_write()
    assert b.makefile(timeout=30).readline() == b"no newline"


def test_readinto1_and_write(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    out = a.makefile("wb", timeout=30)
    assert out.writable()
    assert not out.readable()
    assert out.write(memoryview(b"hello world")) == 11
    out.flush()
    file = b.makefile("rwb", timeout=30)
    buffer = bytearray(64)
    got = 0
    while got < 11:
        got += file.readinto1(memoryview(buffer)[got:])
    assert bytes(buffer[:11]) == b"hello world"
    assert file.write(b"back") == 4
    assert a.recv_exactly(4, timeout=30) == b"back"


def test_deadline_leaves_the_bytes(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    file = b.makefile(timeout=0.05)
    a.sendall(b"ab")
    with pytest.raises(NetkitTimeout):
        file.read(3)  # two bytes came, not three
    a.sendall(b"c\n")
    assert b.readline(timeout=30) == b"abc\n"  # nothing was lost to the timeout
    with pytest.raises(NetkitTimeout):
        file.readline()


def test_connection_timeout_is_the_default(
    pair: tuple[StreamConnection, StreamConnection],
) -> None:
    _a, b = pair
    b.timeout = 0.05
    with pytest.raises(NetkitTimeout):
        b.makefile().read(1)


def test_closing(pair: tuple[StreamConnection, StreamConnection]) -> None:
    a, b = pair
    file = b.makefile()
    file.close()
    assert file.closed
    with pytest.raises(ValueError, match="closed file"):
        file.read(1)
    with pytest.raises(ValueError, match="closed file"):
        file.readable()
    a.sendall(b"x")
    assert b.recv_exactly(1, timeout=30) == b"x"  # the connection is still open
    file = b.makefile("rwb")
    b.close()
    with pytest.raises(ConnectionClosed, match="connection is closed"):
        file.read(1)
    with pytest.raises(ConnectionClosed, match="connection is closed"):
        file.write(b"x")
    with pytest.raises(ConnectionClosed, match="connection is closed"):
        b.makefile()


def test_lost_connection_is_connection_closed() -> None:
    a, b = UnixConnection.pair()
    with a, b:
        file = b.makefile("wb")
        a.close()
        with pytest.raises(ConnectionClosed, match="connection lost"):
            file.write(b"x")  # a Unix peer that closed refuses at once (EPIPE)


def test_file_object_api() -> None:
    a, b = UnixConnection.pair()
    with a, b:
        file = b.makefile()
        assert isinstance(file, StreamFile)
        assert isinstance(file, io.BufferedIOBase)
        assert file.connection is b
        assert file.mode == "rb"
        assert file.name == b.fileno() == file.fileno()
        assert not file.seekable()
        assert not file.writable()
        assert "StreamFile mode='rb'" in repr(file)
        with pytest.raises(io.UnsupportedOperation, match="not open for writing"):
            file.write(b"x")
        with pytest.raises(io.UnsupportedOperation, match="not open for reading"):
            b.makefile("wb").read()
        with pytest.raises(io.UnsupportedOperation):
            file.detach()
        with pytest.raises(io.UnsupportedOperation):
            file.seek(0)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("x",), {}, ValueError, "invalid mode 'x'"),
        (("rbb",), {}, ValueError, "invalid mode 'rbb'"),
        (("b",), {}, ValueError, "invalid mode 'b'"),
        (("",), {}, ValueError, "invalid mode ''"),
        ((b"rb",), {}, TypeError, "mode must be a str, not bytes"),
        (("rb", "big"), {}, TypeError, "buffering must be an int or None, not str"),
        (("rb",), {"encoding": "utf-8"}, ValueError, "binary mode 'rb' does not take encoding"),
        (("wb",), {"newline": ""}, ValueError, "binary mode 'wb' does not take newline"),
        (("r", 0), {}, ValueError, "buffering=0 needs a binary mode"),
        (("r",), {"encoding": 8}, TypeError, "encoding must be a str or None, not int"),
        (("rb",), {"timeout": -1}, ValueError, "timeout must be >= 0 seconds"),
        (("rb",), {"timeout": "1"}, TypeError, "timeout must be a number of seconds"),
    ],
)
def test_bad_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    a, b = UnixConnection.pair()
    with a, b:
        with pytest.raises(error, match=message.replace("(", r"\(")):
            b.makefile(*args, **kwargs)


def test_bad_read_sizes() -> None:
    a, b = UnixConnection.pair()
    with a, b:
        file = b.makefile()
        with pytest.raises(TypeError, match="size must be an int or None, not str"):
            file.read("3")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="size must be an int or None, not float"):
            file.readline(2.0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="data must be bytes-like, not str"):
            b.makefile("wb").write("text")  # type: ignore[arg-type]


_OPS = st.lists(
    st.sampled_from(
        [
            "file.read",
            "file.read1",
            "file.readline",
            "file.readinto",
            "conn.readline",
            "conn.exact",
        ]
    )
    | st.integers(1, 9),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"\n")),
    ops=_OPS,
    chunk=st.integers(1, 7),
)
def test_mixed_reads_never_skip_a_byte(data: bytes, ops: list[Any], chunk: int) -> None:
    # Any interleaving of file reads and connection reads, over any split of the
    # stream, returns the stream's bytes exactly once and in order.
    a, b = memory_pair(chunk_size=chunk)
    with a, b:
        a.sendall(data)
        a.shutdown_write()
        file = b.makefile(timeout=30)
        got: list[bytes] = []
        size = 3
        for op in ops * 50:  # bounded: at most 2000 reads
            if isinstance(op, int):
                size = op
                continue
            try:
                if op == "file.read":
                    piece = file.read(size)
                elif op == "file.read1":
                    piece = file.read1(size)
                elif op == "file.readline":
                    piece = file.readline()
                elif op == "file.readinto":
                    buffer = bytearray(size)
                    piece = bytes(buffer[: file.readinto(buffer)])
                elif op == "conn.readline":
                    piece = b.readline(timeout=30)
                else:
                    piece = b.recv_exactly(size, timeout=30)
            except ConnectionClosed as exc:  # the end of the stream mid-message
                got.append(exc.partial)
                break
            got.append(piece)
            if not piece and b.buffered == 0 and len(b"".join(got)) == len(data):
                break
        rest = file.read()
        assert b"".join(got) + rest == data


def test_tls_connection() -> None:
    import ssl

    import trustme

    from netkit import TcpClient, TcpServer

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    def handler(conn: TcpConnection) -> None:
        with conn.makefile("rwb", timeout=30) as file:
            request = json.loads(file.readline())
            file.write(json.dumps({"echo": request}).encode() + b"\n")

    with TcpServer(handler, tls=server_ctx) as server:
        port = server.address.port
        with TcpClient.connect("127.0.0.1", port, tls=client_ctx, timeout=30) as conn:
            text = conn.makefile("rw", encoding="utf-8", timeout=30)
            text.write(json.dumps({"n": 1}) + "\n")
            text.flush()
            assert json.loads(text.readline()) == {"echo": {"n": 1}}
