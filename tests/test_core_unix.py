"""The IO-free Unix rules: addresses, datagram and SEQPACKET errors and messages,
tested with plain values (no socket)."""

from __future__ import annotations

import errno
import os
import pathlib

import pytest

from netkit._core import seqpacket, unixdatagram, unixpath
from netkit._core.datagram import SEND_RETRY_FIRST, next_send_retry
from netkit.errors import (
    AddressError,
    ConnectFailed,
    ConnectionClosed,
    ConnectionRefused,
    FrameTooLarge,
)


def test_check_path_accepts_every_form() -> None:
    assert unixpath.check_path("/run/a.sock") == "/run/a.sock"
    assert unixpath.check_path(pathlib.Path("rel.sock")) == "rel.sock"
    assert unixpath.check_path(b"/run/b.sock") == "/run/b.sock"
    undecodable = os.fsdecode(b"/tmp/\xff.sock")
    assert unixpath.check_path(os.fsencode(undecodable)) == undecodable
    assert unixpath.sockaddr(undecodable) == b"/tmp/\xff.sock"
    assert unixpath.check_path("\0name") == "\0name"


def test_check_path_limits_are_exact() -> None:
    assert unixpath.check_path("a" * 107) == "a" * 107
    assert unixpath.check_path("\0" + "a" * 107) == "\0" + "a" * 107
    with pytest.raises(AddressError, match="is 108 bytes; the limit is 107"):
        unixpath.check_path("a" * 108)
    with pytest.raises(AddressError, match="is 109 bytes; the limit is 108"):
        unixpath.check_path("\0" + "a" * 108)
    # Bytes count, not characters: "é" is two bytes in UTF-8.
    with pytest.raises(AddressError, match="is 108 bytes"):
        unixpath.check_path("é" * 54)


@pytest.mark.parametrize(
    ("path", "error", "text"),
    [
        ("", AddressError, "must not be empty"),
        ("/tmp/a\0b", AddressError, "NUL"),
        (None, TypeError, "path must be a str"),
        (5, TypeError, "not int"),
        (["/tmp/x"], TypeError, "not list"),
    ],
)
def test_check_path_refusals(path: object, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        unixpath.check_path(path)
    with pytest.raises(error, match="source" if error is TypeError else text):
        unixpath.check_path(path, name="source")


def test_kernel_addresses_become_text() -> None:
    assert unixpath.address(None) == ""
    assert unixpath.address("") == ""
    assert unixpath.address("/run/a") == "/run/a"
    assert unixpath.address(b"\0abstract") == "\0abstract"
    assert unixpath.address(bytearray(b"\0x")) == "\0x"
    with pytest.raises(TypeError, match="not a Unix socket address"):
        unixpath.address(("127.0.0.1", 80))
    assert unixpath.show("") == "an unnamed socket"
    assert unixpath.show("/a") == "'/a'"
    assert unixpath.is_abstract("\0a")
    assert not unixpath.is_abstract("/a")


def test_datagram_sizes_and_messages() -> None:
    assert unixdatagram.send_limit(212992) == 212960
    assert unixdatagram.send_limit(10) == 0
    assert unixdatagram.check_max_size(10**6) == 10**6  # not clamped, unlike UDP
    with pytest.raises(ValueError, match="max_size must be >= 0"):
        unixdatagram.check_max_size(-1)
    big = unixdatagram.too_large_to_send(300, 200, "/p")
    assert (big.size, big.limit) == (300, 200)
    assert str(big).startswith("datagram of 300 bytes to '/p' exceeds this socket's 200-byte")
    cut = unixdatagram.truncated(10, 3, "")
    assert (
        str(cut)
        == "datagram of 10 bytes from an unnamed socket exceeds max_size=3 (it was dropped)"
    )
    assert str(unixdatagram.truncated(10, 3, None)) == (
        "datagram of 10 bytes exceeds max_size=3 (it was dropped)"
    )


def test_senders_are_cached_but_not_unnamed_ones() -> None:
    cache: dict[object, str] = {}
    assert unixdatagram.sender(cache, "/a", is_closed=False) == "/a"
    assert unixdatagram.sender(cache, b"\0b", is_closed=False) == "\0b"
    assert unixdatagram.sender(cache, None, is_closed=False) == ""
    assert cache == {"/a": "/a", b"\0b": "\0b"}  # None never: a later close must show
    with pytest.raises(ConnectionClosed, match="UnixDatagramEndpoint is closed"):
        unixdatagram.sender(cache, None, is_closed=True)


def _os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def test_datagram_error_table() -> None:
    def error(code: int, **kwargs: object) -> BaseException:
        options: dict[str, object] = {"is_closed": False, "target": None, "peer": None}
        options.update(kwargs)
        return unixdatagram.datagram_error(_os_error(code), **options)  # type: ignore[arg-type]

    assert isinstance(error(errno.EPIPE, is_closed=True), ConnectionClosed)
    assert isinstance(error(errno.EBADF), ConnectionClosed)
    missing = error(errno.ENOENT, target="/p")
    assert isinstance(missing, ConnectionRefused)
    assert missing.errno == errno.ENOENT
    assert isinstance(missing.__cause__, OSError)
    stale = error(errno.ECONNREFUSED, target="/p")
    assert isinstance(stale, ConnectionRefused)
    assert "nothing is bound there" in str(stale)
    gone = error(errno.ENOTCONN, peer="/srv")
    assert isinstance(gone, ConnectionRefused)
    assert "the peer at '/srv' is gone" in str(gone)
    assert "the unnamed peer is gone" in str(error(errno.ECONNREFUSED, peer=""))
    assert isinstance(error(errno.ENOTCONN), AddressError)  # never connected
    wrong = error(errno.EPROTOTYPE, target="/s")
    assert type(wrong) is OSError
    assert "not a datagram socket" in str(wrong)
    other = _os_error(errno.EACCES)
    assert unixdatagram.datagram_error(other, is_closed=False, target="/p", peer=None) is other


def test_bind_and_connect_messages() -> None:
    missing_dir = unixdatagram.bind_failed("/no/dir/x.sock", _os_error(errno.ENOENT))
    assert isinstance(missing_dir, FileNotFoundError)
    assert str(missing_dir).endswith("directory '/no/dir' does not exist")
    relative = unixdatagram.bind_failed("x.sock", _os_error(errno.ENOENT))
    assert "directory '.' does not exist" in str(relative)
    denied = unixdatagram.bind_failed("/x", _os_error(errno.EACCES))
    assert isinstance(denied, PermissionError)
    assert unixdatagram.in_use("/x").errno == errno.EADDRINUSE
    assert "not a socket" in str(unixdatagram.not_a_socket("/x"))
    for code, text in (
        (errno.ENOENT, "no such file"),
        (errno.ECONNREFUSED, "connection refused"),
        (errno.EPROTOTYPE, "another type"),
        (errno.EACCES, os.strerror(errno.EACCES)),
    ):
        failed = unixdatagram.connect_failed("/x", _os_error(code))
        assert isinstance(failed, ConnectFailed)
        assert failed.errno == code
        assert text in str(failed)
        assert str(failed).startswith("cannot connect to '/x': ")


def test_seqpacket_rules() -> None:
    assert isinstance(seqpacket.closed(), ConnectionClosed)
    assert str(seqpacket.timeout_error(True)) == "timed out sending"
    assert str(seqpacket.timeout_error(False)) == "timed out waiting for data"
    cut = seqpacket.truncated(100, 10)
    assert isinstance(cut, FrameTooLarge)
    assert (cut.size, cut.limit) == (100, 10)
    assert "empty SEQPACKET message" in str(seqpacket.empty_message())
    lost = seqpacket.message_error(_os_error(errno.EPIPE), is_closed=False)
    assert isinstance(lost, ConnectionClosed)
    assert str(lost).startswith("connection lost")
    closed = seqpacket.message_error(_os_error(errno.EPIPE), is_closed=True)
    assert str(closed) == "connection is closed"
    other = _os_error(errno.EACCES)
    assert seqpacket.message_error(other, is_closed=False) is other
    assert str(seqpacket.connect_timed_out("/s", 0.5)) == "connect to '/s' timed out after 0.5 s"


def test_send_retry_pauses_grow_and_stay_bounded() -> None:
    pause = SEND_RETRY_FIRST
    seen = []
    for _ in range(20):
        seen.append(pause)
        pause = next_send_retry(pause)
    assert seen[0] == 0.001
    assert seen == sorted(seen)
    assert max(seen) == 0.05
