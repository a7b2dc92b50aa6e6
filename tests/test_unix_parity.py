"""The twin promise for Unix datagrams and SEQPACKET: every situation (EOF, timeout,
oversize, after close, bad arguments, missing path, refused, peer gone) ends the same
way in both faces: the same result, or the same exception type, message and errno."""

from __future__ import annotations

import asyncio
import inspect
import math
import pathlib
import socket
from collections.abc import Callable
from typing import Any

import pytest

import netkit
import netkit.aio
from _aio_util import uvloop
from _unix_util import open_sockets, sock_dir
from netkit.errors import (
    AddressError,
    ConnectFailed,
    ConnectionClosed,
    ConnectionRefused,
    FrameTooLarge,
    NetkitTimeout,
)

__all__ = ["sock_dir"]  # the fixture, imported for pytest

Dir = pathlib.Path
Run = Callable[[Any], Any]
Situation = Callable[[Any, Run, Dir], object]

_LOOPS: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]
if uvloop is not None:  # pragma: no branch
    _LOOPS.append(uvloop.new_event_loop)


def _outcome(api: Any, run: Run, situation: Situation, folder: Dir) -> tuple[Any, ...]:
    try:
        return ("returned", situation(api, run, folder))
    except Exception as exc:
        return (type(exc), str(exc), getattr(exc, "errno", None))


def _outcomes(situation: Situation, folder: Dir) -> list[tuple[Any, ...]]:
    """The outcome in the sync face, then on each event loop."""
    found = [_outcome(netkit, lambda value: value, situation, folder)]
    for factory in _LOOPS:
        loop = factory()
        try:

            def run(value: Any, loop: asyncio.AbstractEventLoop = loop) -> Any:
                if inspect.isawaitable(value):
                    return loop.run_until_complete(asyncio.wait_for(value, 30))
                return value

            found.append(_outcome(netkit.aio, run, situation, folder))
        finally:
            loop.close()
    return found


# -- situations: each builds what it needs under `folder` and leaves nothing behind -----


def _dgram(api: Any, run: Run, folder: Dir, name: str = "ep") -> Any:
    return run(api.UnixDatagramEndpoint.bind(str(folder / name)))


def _call_on_dgram(method: str, *args: Any, **kwargs: Any) -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        with _dgram(api, run, folder) as ep:
            return run(getattr(ep, method)(*args, **kwargs))

    return situation


def _dgram_after_close(method: str, *args: Any, **kwargs: Any) -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        ep = _dgram(api, run, folder)
        ep.close()
        return run(getattr(ep, method)(*args, **kwargs))

    return situation


def _dgram_bind(path: Any, **kwargs: Any) -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        target = path(folder) if callable(path) else path
        run(api.UnixDatagramEndpoint.bind(target, **kwargs)).close()
        return None

    return situation


def _dgram_connect(path: Any, **kwargs: Any) -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        target = path(folder) if callable(path) else path
        try:
            run(api.UnixDatagramEndpoint.connect(target, **kwargs)).close()
        finally:
            if target.startswith(str(folder)):
                pathlib.Path(target).unlink(missing_ok=True)
        return None

    return situation


def _stale(folder: Dir, name: str, kind: int = socket.SOCK_DGRAM) -> str:
    path = str(folder / name)
    with socket.socket(socket.AF_UNIX, kind) as sock:
        sock.bind(path)
    return path  # the socket is closed, its file stays


def _sendto(where: Callable[[Dir], str], payload: bytes = b"x") -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        target = where(folder)
        try:
            with _dgram(api, run, folder) as ep:
                return run(ep.sendto(payload, target))
        finally:
            pathlib.Path(target).unlink(missing_ok=True)

    return situation


def _sendto_live_stream(api: Any, run: Run, folder: Dir) -> object:
    path = str(folder / "stream")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen()
        try:
            with _dgram(api, run, folder) as ep:
                return run(ep.sendto(b"x", path))
        finally:
            pathlib.Path(path).unlink()


def _oversized_datagram(api: Any, run: Run, folder: Dir) -> object:
    with _dgram(api, run, folder, "r") as r, _dgram(api, run, folder, "s") as s:
        run(s.sendto(b"x" * 10, r.address))
        return run(r.recvfrom(max_size=3, timeout=5))


def _oversized_send(api: Any, run: Run, folder: Dir) -> object:
    one, two = run(api.UnixDatagramEndpoint.pair())
    with one, two:
        one.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 5000)
        return run(one.send(b"x" * 20_000))


def _peer_gone(api: Any, run: Run, folder: Dir) -> object:
    one, two = run(api.UnixDatagramEndpoint.pair())
    two.close()
    with one:
        for _ in range(2):
            try:
                run(one.send(b"x"))
            except ConnectionRefused:
                pass
        return run(one.send(b"x"))


def _bind_taken(api: Any, run: Run, folder: Dir) -> object:
    with _dgram(api, run, folder):
        return _dgram(api, run, folder).close()


def _bind_not_a_socket(api: Any, run: Run, folder: Dir) -> object:
    (folder / "file").write_text("data")
    try:
        return _dgram(api, run, folder, "file")
    finally:
        (folder / "file").unlink()


def _seq_pair(api: Any, run: Run) -> tuple[Any, Any]:
    return run(api.SeqpacketConnection.pair())  # type: ignore[no-any-return]


def _call_on_seq(method: str, *args: Any, **kwargs: Any) -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        a, b = _seq_pair(api, run)
        with a, b:
            return run(getattr(a, method)(*args, **kwargs))

    return situation


def _seq_after_close(method: str, *args: Any, **kwargs: Any) -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        a, b = _seq_pair(api, run)
        b.close()
        a.close()
        attribute = getattr(a, method)
        return run(attribute(*args, **kwargs) if callable(attribute) else attribute)

    return situation


def _seq_eof(api: Any, run: Run, folder: Dir) -> object:
    a, b = _seq_pair(api, run)
    with a:
        b.close()
        return [run(a.recv_message(timeout=5)) for _ in range(2)]


def _seq_send_after_peer_closed(api: Any, run: Run, folder: Dir) -> object:
    a, b = _seq_pair(api, run)
    with a:
        b.close()
        return run(a.send_message(b"x"))


def _seq_oversized(api: Any, run: Run, folder: Dir) -> object:
    a, b = _seq_pair(api, run)
    with a, b:
        run(a.send_message(b"x" * 10))
        return run(b.recv_message(max_size=3, timeout=5))


def _seq_too_large(api: Any, run: Run, folder: Dir) -> object:
    a, b = _seq_pair(api, run)
    with a, b:
        size = a.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) - 31
        return run(a.send_message(b"x" * size))


def _seq_connect(path: Any, **kwargs: Any) -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        target = path(folder) if callable(path) else path
        try:
            run(api.SeqpacketClient.connect(target, **kwargs)).close()
        finally:
            if isinstance(target, str) and target.startswith(str(folder)):
                pathlib.Path(target).unlink(missing_ok=True)
        return None

    return situation


def _seq_backlog_full(api: Any, run: Run, folder: Dir) -> object:
    path = str(folder / "busy")
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        listener.bind(path)
        listener.listen(0)
        first = run(api.SeqpacketClient.connect(path))
        try:
            return run(api.SeqpacketClient.connect(path, timeout=0.02))
        finally:
            first.close()
            pathlib.Path(path).unlink()


def _seq_wrap(sock_factory: Callable[[], socket.socket]) -> Situation:
    def situation(api: Any, run: Run, folder: Dir) -> object:
        sock = sock_factory()
        try:
            return api.SeqpacketConnection(sock)
        finally:
            sock.close()

    return situation


_LONG = "x" * 200

SITUATIONS: list[tuple[str, type[BaseException] | None, Situation]] = [
    # Unix datagrams: arguments
    ("dgram recvfrom max_size -1", ValueError, _call_on_dgram("recvfrom", max_size=-1)),
    ("dgram recvfrom max_size str", TypeError, _call_on_dgram("recvfrom", max_size="1")),
    ("dgram recv max_size bool", TypeError, _call_on_dgram("recv", max_size=True)),
    ("dgram recv timeout -1", ValueError, _call_on_dgram("recv", timeout=-1)),
    ("dgram recvfrom timeout nan", ValueError, _call_on_dgram("recvfrom", timeout=math.nan)),
    ("dgram sendto str data", TypeError, _call_on_dgram("sendto", "text", "/tmp/x")),
    ("dgram sendto int path", TypeError, _call_on_dgram("sendto", b"x", 5)),
    ("dgram sendto empty path", AddressError, _call_on_dgram("sendto", b"x", "")),
    ("dgram sendto NUL path", AddressError, _call_on_dgram("sendto", b"x", "/tmp/a\0b")),
    ("dgram sendto long path", AddressError, _call_on_dgram("sendto", b"x", "/" + _LONG)),
    ("dgram sendto timeout", ValueError, _call_on_dgram("sendto", b"x", "/x", timeout=-1)),
    ("dgram send unconnected", AddressError, _call_on_dgram("send", b"x")),
    ("dgram bind empty", AddressError, _dgram_bind("")),
    ("dgram bind long", AddressError, _dgram_bind("/tmp/" + _LONG)),
    ("dgram bind long abstract", AddressError, _dgram_bind("\0" + _LONG)),
    ("dgram bind type", TypeError, _dgram_bind(None)),
    ("dgram bind options", TypeError, _dgram_bind(lambda d: str(d / "o"), options=1)),
    ("dgram bind no dir", FileNotFoundError, _dgram_bind(lambda d: str(d / "no/x"))),
    ("dgram bind taken", OSError, _bind_taken),
    ("dgram bind not a socket", OSError, _bind_not_a_socket),
    ("dgram connect missing", ConnectFailed, _dgram_connect(lambda d: str(d / "none"))),
    ("dgram connect stale", ConnectFailed, _dgram_connect(lambda d: _stale(d, "old"))),
    ("dgram connect bad source", AddressError, _dgram_connect("/tmp/x", source="")),
    # Unix datagrams: the network
    ("dgram recvfrom timeout", NetkitTimeout, _call_on_dgram("recvfrom", timeout=0.01)),
    ("dgram recv timeout 0", NetkitTimeout, _call_on_dgram("recv", max_size=5, timeout=0)),
    ("dgram oversized receive", FrameTooLarge, _oversized_datagram),
    ("dgram oversized send", FrameTooLarge, _oversized_send),
    ("dgram sendto missing", ConnectionRefused, _sendto(lambda d: str(d / "missing"))),
    ("dgram sendto stale", ConnectionRefused, _sendto(lambda d: _stale(d, "gone"))),
    ("dgram sendto stream socket", OSError, _sendto_live_stream),
    ("dgram peer gone", ConnectionRefused, _peer_gone),
    # Unix datagrams: after close
    ("dgram closed recvfrom", ConnectionClosed, _dgram_after_close("recvfrom", timeout=1)),
    ("dgram closed recv bad", ConnectionClosed, _dgram_after_close("recv", max_size="1")),
    ("dgram closed sendto", ConnectionClosed, _dgram_after_close("sendto", b"x", "/tmp/x")),
    ("dgram closed send", ConnectionClosed, _dgram_after_close("send", b"x")),
    # SEQPACKET: arguments
    ("seq recv max_size -1", ValueError, _call_on_seq("recv_message", max_size=-1)),
    ("seq recv max_size str", TypeError, _call_on_seq("recv_message", max_size="1")),
    ("seq recv timeout str", TypeError, _call_on_seq("recv_message", timeout="1")),
    ("seq send empty", ValueError, _call_on_seq("send_message", b"")),
    ("seq send str", TypeError, _call_on_seq("send_message", "text")),
    ("seq send timeout", ValueError, _call_on_seq("send_message", b"x", timeout=-1)),
    ("seq shutdown how", ValueError, _call_on_seq("shutdown", 9)),
    ("seq connect empty", AddressError, _seq_connect("")),
    ("seq connect type", TypeError, _seq_connect(3.5)),
    ("seq connect timeout", ValueError, _seq_connect("/tmp/x", timeout=-1)),
    ("seq connect options", TypeError, _seq_connect("/tmp/x", options="o")),
    ("seq connect missing", ConnectFailed, _seq_connect(lambda d: str(d / "none"))),
    (
        "seq connect stale",
        ConnectFailed,
        _seq_connect(lambda d: _stale(d, "old", socket.SOCK_SEQPACKET)),
    ),
    ("seq connect datagram socket", ConnectFailed, _seq_connect(lambda d: _stale(d, "dg"))),
    (
        "seq wrap unconnected",
        ValueError,
        _seq_wrap(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)),
    ),
    ("seq wrap stream", ValueError, _seq_wrap(lambda: socket.socket(socket.AF_UNIX))),
    # SEQPACKET: the connection
    ("seq eof", None, _seq_eof),
    ("seq recv timeout", NetkitTimeout, _call_on_seq("recv_message", timeout=0.01)),
    ("seq oversized receive", FrameTooLarge, _seq_oversized),
    ("seq oversized send", FrameTooLarge, _seq_too_large),
    ("seq send after peer closed", ConnectionClosed, _seq_send_after_peer_closed),
    ("seq backlog full", NetkitTimeout, _seq_backlog_full),
    # SEQPACKET: after close
    ("seq closed recv", ConnectionClosed, _seq_after_close("recv_message")),
    ("seq closed recv bad", ConnectionClosed, _seq_after_close("recv_message", max_size=-1)),
    ("seq closed send", ConnectionClosed, _seq_after_close("send_message", b"x")),
    ("seq closed shutdown", ConnectionClosed, _seq_after_close("shutdown", socket.SHUT_WR)),
    ("seq closed credentials", ConnectionClosed, _seq_after_close("peer_credentials")),
]


@pytest.mark.parametrize(
    ("expected", "situation"),
    [pytest.param(e, s, id=name) for name, e, s in SITUATIONS],
)
def test_both_faces_end_the_same_way(
    expected: type[BaseException] | None, situation: Situation, sock_dir: Dir
) -> None:
    before = open_sockets()
    sync, *aio = _outcomes(situation, sock_dir)
    for outcome in aio:
        assert outcome == sync
    if expected is None:
        assert sync[0] == "returned"
    else:
        assert isinstance(sync[0], type), sync
        assert issubclass(sync[0], expected), sync
    assert open_sockets() <= before
    assert list(sock_dir.iterdir()) == []  # every socket file made was removed
