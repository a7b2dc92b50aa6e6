"""UnixDatagramEndpoint in both faces: addresses, sizes, truncation, missing peers,
socket files, deadlines, close, and no descriptor leaked by a failure."""

from __future__ import annotations

import asyncio
import errno
import os
import pathlib
import socket
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netkit
import netkit.aio
from _unix_util import Face, face, open_sockets, sock_dir
from netkit.errors import (
    AddressError,
    ConnectFailed,
    ConnectionClosed,
    ConnectionRefused,
    FrameTooLarge,
    NetkitTimeout,
)
from netkit.options import SocketOptions
from netkit.udp import Datagram

__all__ = ["face", "sock_dir"]  # fixtures, imported for pytest

Dir = pathlib.Path


def _p(folder: Dir, name: str) -> str:
    return str(folder / name)


def test_round_trip_with_sender_paths(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    before = open_sockets()
    a = run(U.bind(_p(sock_dir, "a.sock")))
    b = run(U.bind(_p(sock_dir, "b.sock")))
    with a, b:
        assert a.address == _p(sock_dir, "a.sock")
        assert a.remote_address is None
        run(b.sendto(b"ping", a.address))
        got = run(a.recvfrom(timeout=5))
        assert got == Datagram(b"ping", b.address)
        assert isinstance(got, Datagram)
        assert type(got.sender) is str
        run(a.sendto(got.data.upper(), got.sender))  # answer the sender as received
        assert run(b.recv(timeout=5)) == b"PING"
        for data in (bytearray(b"ba"), memoryview(b"mv"), b""):
            run(b.sendto(data, pathlib.Path(a.address)))
            assert run(a.recvfrom(max_size=2, timeout=5)) == (bytes(data), b.address)
    assert a.closed
    assert b.closed
    assert not os.path.exists(_p(sock_dir, "a.sock"))  # close removed the files
    assert not os.path.exists(_p(sock_dir, "b.sock"))
    assert open_sockets() <= before


def test_connect_source_and_unnamed_senders(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    with run(U.bind(_p(sock_dir, "srv"))) as server:
        with run(U.connect(server.address)) as anonymous:
            assert anonymous.remote_address == server.address
            assert anonymous.address == ""
            run(anonymous.send(b"who"))
            assert run(server.recvfrom(timeout=5)) == (b"who", "")
            with pytest.raises(AddressError, match="unnamed socket"):
                run(server.sendto(b"answer", ""))
        with run(U.connect(server.address, source=_p(sock_dir, "cli"))) as named:
            assert named.address == _p(sock_dir, "cli")
            run(named.send(b"me"))
            data, sender = run(server.recvfrom(timeout=5))
            run(server.sendto(data * 2, sender))
            assert run(named.recv(timeout=5)) == b"meme"
            # A connected endpoint hears only its peer: others are refused (EPERM).
            with run(U.bind(_p(sock_dir, "other"))) as other:
                with pytest.raises(PermissionError):
                    run(other.sendto(b"intruder", named.address))
        assert not os.path.exists(_p(sock_dir, "cli"))


def test_pair_and_wrapping(face: Face) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    one, two = run(U.pair())
    with one, two:
        assert (one.address, one.remote_address) == ("", "")
        run(one.send(b"to two"))
        run(two.send(b"to one"))
        assert run(two.recvfrom(timeout=5)) == (b"to two", "")
        assert run(one.recv(timeout=5)) == b"to one"
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    left.settimeout(0.05)  # a socket's timeout becomes the default deadline of receives
    with U(left) as wrapped, U(right) as other:
        with pytest.raises(NetkitTimeout):
            run(wrapped.recv())
        run(other.send(b"fine"))
        assert run(wrapped.recv()) == b"fine"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        with pytest.raises(ValueError, match="AF_UNIX SOCK_DGRAM"):
            U(stream)
    with pytest.raises(TypeError):
        U("/tmp/x.sock")


def test_oversized_receive_is_consumed_and_reported(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    with run(U.bind(_p(sock_dir, "r"))) as r, run(U.bind(_p(sock_dir, "s"))) as s:
        run(s.sendto(b"x" * 100, r.address))
        run(s.sendto(b"next", r.address))
        with pytest.raises(FrameTooLarge) as info:
            run(r.recvfrom(max_size=10, timeout=5))
        assert (info.value.size, info.value.limit) == (100, 10)
        assert str(info.value) == (
            f"datagram of 100 bytes from {s.address!r} exceeds max_size=10 (it was dropped)"
        )
        assert run(r.recvfrom(max_size=10, timeout=5)) == (b"next", s.address)
        # Unix datagrams may be larger than UDP's: max_size is not clamped.
        big = bytes(range(256)) * 800  # 204800 bytes, under the default 212960 limit
        run(s.sendto(big, r.address))
        with pytest.raises(FrameTooLarge) as info:
            run(r.recv(timeout=5))  # the default max_size is UDP's 65535
        assert info.value.size == len(big)
        run(s.sendto(big, r.address))
        assert run(r.recv(max_size=len(big), timeout=5)) == big


def test_send_limit_is_checked_before_sending(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    with run(U.bind(_p(sock_dir, "r"))) as r, run(U.bind(_p(sock_dir, "s"))) as s:
        limit = s.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) - 32
        with pytest.raises(FrameTooLarge) as info:
            run(s.sendto(b"x" * (limit + 1), r.address))
        assert (info.value.size, info.value.limit) == (limit + 1, limit)
        assert "SO_SNDBUF" in str(info.value)
        with pytest.raises(NetkitTimeout):
            run(r.recv(timeout=0))  # nothing was sent
    # The buffer changed by hand afterwards: a smaller one turns the kernel's EMSGSIZE
    # into the same error; a larger one is seen before refusing.
    one, two = run(U.pair())
    with one, two:
        one.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        small = one.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) - 32
        with pytest.raises(FrameTooLarge) as info:
            run(one.send(b"y" * (small + 1)))
        assert info.value.limit == small
        run(one.send(b"y" * small))
        assert len(run(two.recv(max_size=small, timeout=5))) == small
    opts = SocketOptions(send_buffer=1 << 20)
    left = run(U.bind(_p(sock_dir, "big"), options=opts))
    with left, run(U.connect(left.address, source=_p(sock_dir, "src"), options=opts)) as right:
        payload = b"z" * 300_000
        run(right.send(payload))
        assert run(left.recv(max_size=len(payload), timeout=5)) == payload


def test_nobody_at_the_path_is_refused(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(_p(sock_dir, "stale"))
    stale.close()  # its file stays: a stale socket file
    (sock_dir / "plain").write_text("not a socket")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(_p(sock_dir, "stream"))
    listener.listen()
    before = open_sockets()
    with run(U.bind(_p(sock_dir, "me"))) as me, listener:
        with pytest.raises(ConnectionRefused) as info:
            run(me.sendto(b"x", _p(sock_dir, "missing")))
        assert info.value.errno == errno.ENOENT
        assert "no such file" in str(info.value)
        for name in ("stale", "plain"):
            with pytest.raises(ConnectionRefused) as info:
                run(me.sendto(b"x", _p(sock_dir, name)))
            assert info.value.errno == errno.ECONNREFUSED
        with pytest.raises(OSError, match="not a datagram socket") as oserr:
            run(me.sendto(b"x", _p(sock_dir, "stream")))
        assert oserr.value.errno == errno.EPROTOTYPE
        for name in ("missing", "stale", "plain", "stream"):
            with pytest.raises(ConnectFailed) as failed:
                run(U.connect(_p(sock_dir, name)))
            assert failed.value.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.EPROTOTYPE)
            assert repr(_p(sock_dir, name)) in str(failed.value)
    assert open_sockets() <= before


def test_a_peer_that_is_gone(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    one, two = run(U.pair())
    two.close()
    with one:
        for _ in range(2):  # ECONNREFUSED, then ENOTCONN: the same error
            with pytest.raises(ConnectionRefused, match="the unnamed peer is gone"):
                run(one.send(b"anyone?"))
    server = run(U.bind(_p(sock_dir, "gone")))
    with run(U.connect(server.address)) as client:
        server.close()
        with pytest.raises(ConnectionRefused, match="is gone") as info:
            run(client.send(b"x"))
        assert repr(_p(sock_dir, "gone")) in str(info.value)
    with run(U.bind(_p(sock_dir, "lone"))) as lone:
        with pytest.raises(AddressError, match="use sendto"):
            run(lone.send(b"x"))


def test_bound_files_stale_live_and_foreign(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    path = _p(sock_dir, "svc")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(path)
    stale.close()
    before = open_sockets()
    first = run(U.bind(path))  # the stale file is replaced
    with pytest.raises(OSError, match="a live socket holds it") as info:
        run(U.bind(path))
    assert info.value.errno == errno.EADDRINUSE
    with run(U.bind(_p(sock_dir, "probe"))) as probe:  # the live one still works
        run(probe.sendto(b"still here", path))
        assert run(first.recv(timeout=5)) == b"still here"
    # Someone replaces the file while the first endpoint lives: closing the first one
    # must not remove the newcomer's file.
    os.unlink(path)
    second = run(U.bind(path))
    first.close()
    assert os.path.exists(path)
    second.close()
    assert not os.path.exists(path)
    # A live socket of another type, and a file that is not a socket, are left alone.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        stream.bind(path)
        with pytest.raises(OSError, match="a live socket holds it"):
            run(U.bind(path))
    os.unlink(path)
    (sock_dir / "data").write_text("keep me")
    with pytest.raises(OSError, match="not a socket") as info:
        run(U.bind(_p(sock_dir, "data")))
    assert info.value.errno == errno.EADDRINUSE
    assert (sock_dir / "data").read_text() == "keep me"
    # A wrapped socket's file is not the endpoint's to remove.
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    raw.bind(_p(sock_dir, "raw"))
    U(raw).close()
    assert os.path.exists(_p(sock_dir, "raw"))
    assert open_sockets() <= before


def test_bad_paths_leak_nothing(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    before = open_sockets()
    too_long = _p(sock_dir, "x" * 120)
    cases: list[tuple[Any, type[BaseException], str]] = [
        ("", AddressError, "must not be empty"),
        (too_long, AddressError, "the limit is 107"),
        ("\0" + "a" * 108, AddressError, "the limit is 108"),
        (_p(sock_dir, "a\0b"), AddressError, "NUL"),
        (5, TypeError, "path must be a str"),
        (_p(sock_dir, "no/such/dir/x"), FileNotFoundError, "does not exist"),
    ]
    for path, error, text in cases:
        with pytest.raises(error, match=text):
            run(U.bind(path))
        with pytest.raises(error if error is not FileNotFoundError else ConnectFailed):
            run(U.connect(path))
    with pytest.raises(AddressError, match="source"):
        run(U.connect(_p(sock_dir, "anything"), source=""))
    with pytest.raises(TypeError, match="options"):
        run(U.bind(_p(sock_dir, "o"), options="fast"))
    with run(U.bind(_p(sock_dir, "peer"))) as peer:
        with pytest.raises(FileNotFoundError):
            run(U.connect(peer.address, source=_p(sock_dir, "no/dir/src")))
    assert open_sockets() <= before
    assert sorted(os.listdir(sock_dir)) == []


def test_abstract_names_and_path_forms(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    name = f"\0netkit-test-{os.getpid()}-{face.name}"
    with run(U.bind(name)) as abstract, run(U.bind(os.fsencode(_p(sock_dir, "b")))) as b:
        assert abstract.address == name
        assert b.address == _p(sock_dir, "b")
        run(b.sendto(b"hi", name))
        assert run(abstract.recvfrom(timeout=5)) == (b"hi", b.address)
        run(abstract.sendto(b"back", b.address))
        assert run(b.recvfrom(timeout=5)) == (b"back", name)
        with pytest.raises(OSError, match="a live socket holds it"):
            run(U.bind(name))
    with run(U.bind(name)) as again:  # nothing left behind: the name is free
        assert again.address == name


def test_deadlines_and_a_full_receiver_queue(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    with run(U.bind(_p(sock_dir, "r"))) as r, run(U.bind(_p(sock_dir, "s"))) as s:
        with pytest.raises(NetkitTimeout, match=r"no datagram received within 0\.01 s"):
            run(r.recvfrom(timeout=0.01))
        # Fill the receiver's queue (net.unix.max_dgram_qlen) from an unconnected
        # sender: a send with a deadline then times out, nothing lost or duplicated.
        sent: list[bytes] = []

        def fill() -> None:
            while len(sent) < 100_000:
                run(s.sendto(b"%d" % len(sent), r.address, timeout=0.05))
                sent.append(b"%d" % len(sent))

        with pytest.raises(NetkitTimeout, match=r"^no datagram sent within 0\.05 s$"):
            fill()
        assert 0 < len(sent) < 100_000
        got = []
        while True:
            try:
                got.append(run(r.recv(timeout=0)))
            except NetkitTimeout:
                break
        assert got == sent


def test_a_send_waits_for_room_and_then_goes(face: Face, sock_dir: Dir) -> None:
    """Many datagrams through a queue of a few: every send waits, none is lost."""
    U, run = face.UnixDatagramEndpoint, face.run
    count = 300
    with run(U.bind(_p(sock_dir, "r"))) as r, run(U.bind(_p(sock_dir, "s"))) as s:
        if face.aio:

            async def reader() -> list[bytes]:
                return [await r.recv(timeout=10) for _ in range(count)]

            async def main() -> list[bytes]:
                task = asyncio.ensure_future(reader())
                for i in range(count):
                    await s.sendto(b"%d" % i, r.address, timeout=10)
                return await task

            got = run(main())
        else:
            got = []

            def reader() -> None:
                got.extend(r.recv(timeout=10) for _ in range(count))

            thread = threading.Thread(target=reader)
            thread.start()
            for i in range(count):
                s.sendto(b"%d" % i, r.address)  # blocking: the kernel waits for room
            thread.join(20)
            assert not thread.is_alive()
        assert got == [b"%d" % i for i in range(count)]


def test_after_close(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    ep = run(U.bind(_p(sock_dir, "c")))
    peer = run(U.bind(_p(sock_dir, "p")))
    ep.close()
    ep.close()  # idempotent
    assert ep.closed
    assert ep.fileno() == -1
    calls = [
        lambda: ep.recvfrom(timeout=1),
        lambda: ep.recv(),
        lambda: ep.sendto(b"x", peer.address),
        lambda: ep.send(b"x"),
        lambda: ep.address,
    ]
    for call in calls:
        with pytest.raises(ConnectionClosed, match=r"^UnixDatagramEndpoint is closed$"):
            run(call())
    assert repr(ep).endswith("UnixDatagramEndpoint closed>")
    peer.close()


@pytest.mark.parametrize("connected", [False, True], ids=["sendto", "send"])
def test_close_wakes_a_send_waiting_for_room(face: Face, sock_dir: Dir, connected: bool) -> None:
    """A send waiting on a full receiver queue (where the kernel itself would block on
    the receiver, out of close()'s reach) ends with ConnectionClosed."""
    U, run = face.UnixDatagramEndpoint, face.run
    with run(U.bind(_p(sock_dir, "r"))) as r:
        ep = run(U.connect(r.address) if connected else U.bind(_p(sock_dir, "s")))

        def send(**kwargs: Any) -> Any:
            return ep.send(b"x", **kwargs) if connected else ep.sendto(b"x", r.address, **kwargs)

        def fill() -> None:
            for _ in range(10_000):
                run(send(timeout=0))

        with pytest.raises(NetkitTimeout):
            fill()  # the queue is full
        if face.aio:

            async def main() -> None:
                pending = asyncio.ensure_future(send())
                await asyncio.sleep(0)
                ep.close()
                with pytest.raises(ConnectionClosed):
                    await pending

            run(main())
            return
        errors: list[BaseException] = []

        def sender() -> None:
            try:
                send()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=sender)
        thread.start()
        ep.close()  # before or after the send starts waiting: either way it ends
        thread.join(10)
        assert not thread.is_alive()
        assert [type(e) for e in errors] == [ConnectionClosed]


def test_close_wakes_a_blocked_receive(face: Face, sock_dir: Dir) -> None:
    U, run = face.UnixDatagramEndpoint, face.run
    ep = run(U.bind(_p(sock_dir, "w")))
    if face.aio:

        async def main() -> None:
            pending = asyncio.ensure_future(ep.recvfrom())
            await asyncio.sleep(0)
            ep.close()
            with pytest.raises(ConnectionClosed):
                await pending

        run(main())
        return
    errors: list[BaseException] = []
    started = threading.Event()

    def receive() -> None:
        started.set()
        try:
            ep.recvfrom()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    started.wait(5)
    # Close until the receiver has left: close() before it blocks is fine too.
    ep.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], ConnectionClosed)


def test_names_and_types() -> None:
    assert netkit.UnixDatagramEndpoint is netkit.unix.datagram.UnixDatagramEndpoint
    assert netkit.aio.UnixDatagramEndpoint.__module__ == "netkit.aio.unix_datagram"
    assert Datagram[str] is not None  # subscriptable at run time
    assert Datagram[str](b"a", "x") == Datagram(b"a", "x")
    assert netkit.Datagram is netkit.aio.Datagram


@given(payload=st.binary(min_size=0, max_size=70_000))
@settings(max_examples=50)
def test_any_payload_round_trips_whole(payload: bytes) -> None:
    one, two = netkit.UnixDatagramEndpoint.pair()
    with one, two:
        one.send(payload)
        assert two.recv(max_size=len(payload), timeout=5) == payload
        if payload:
            one.send(payload)
            with pytest.raises(FrameTooLarge) as info:
                two.recv(max_size=len(payload) - 1, timeout=5)
            assert info.value.size == len(payload)
