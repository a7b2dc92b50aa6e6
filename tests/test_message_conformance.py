"""The message conformance table (netkit._core.messages) over both faces and every
message connection: SEQPACKET pairs and server-made connections, connected Unix
datagram endpoints (unnamed pairs and named ones), connected UDP endpoints (IPv4 and
IPv6). Each outcome must be the table's, and the faces' outcomes are compared case
by case (asyncio and uvloop)."""

from __future__ import annotations

import itertools
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import netkit
import netkit.aio as aio
import netkit.aio.testing as aio_testing
import netkit.testing as sync_testing
from _aio_util import run
from netkit._core.conformance import Case, Outcome, Step
from netkit._core.messages import KINDS, check_kind, message_cases

__all__ = ["run"]  # the fixture, imported for pytest

pytestmark = pytest.mark.timeout(120)
Run = Callable[..., Any]
WAIT = 10.0
_names = itertools.count()


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="nkm") as name:  # short: sun_path
        yield Path(name)


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _udp_sockets(host: str = "127.0.0.1") -> tuple[socket.socket, socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    x = socket.socket(family, socket.SOCK_DGRAM)
    y = socket.socket(family, socket.SOCK_DGRAM)
    x.bind((host, 0))
    y.bind((host, 0))
    x.connect(y.getsockname())
    y.connect(x.getsockname())
    return x, y


def _named_unix_sockets(folder: Path) -> tuple[socket.socket, socket.socket]:
    n = next(_names)
    x = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    y = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    x.bind(str(folder / f"x{n}"))
    y.bind(str(folder / f"y{n}"))
    x.connect(str(folder / f"y{n}"))
    y.connect(str(folder / f"x{n}"))
    return x, y


def _seq_server_pair(space: Any, folder: Path) -> Any:
    """A connection a SeqpacketListener accepted, against a client (sync face)."""
    path = str(folder / f"s{next(_names)}")
    with space.SeqpacketListener.bind(path) as listener:
        client = space.SeqpacketClient.connect(path, timeout=WAIT)
        return listener.accept(timeout=WAIT), client


async def _aio_seq_server_pair(folder: Path) -> Any:
    path = str(folder / f"s{next(_names)}")
    async with await aio.SeqpacketListener.bind(path) as listener:
        client = await aio.SeqpacketClient.connect(path, timeout=WAIT)
        return await listener.accept(timeout=WAIT), client


def _sync_pairs(folder: Path) -> dict[str, tuple[str, Callable[[], Any]]]:
    return {
        "seqpacket pair": ("seqpacket", netkit.SeqpacketConnection.pair),
        "seqpacket accepted": ("seqpacket", lambda: _seq_server_pair(netkit, folder)),
        "unix datagram pair": ("unix_datagram", netkit.UnixDatagramEndpoint.pair),
        "unix datagram named": (
            "unix_datagram",
            lambda: tuple(map(netkit.UnixDatagramEndpoint, _named_unix_sockets(folder))),
        ),
        "udp ipv4": ("udp", lambda: tuple(map(netkit.UdpEndpoint, _udp_sockets()))),
        "udp ipv6": ("udp", lambda: tuple(map(netkit.UdpEndpoint, _udp_sockets("::1")))),
    }


def _aio_pairs(folder: Path) -> dict[str, tuple[str, Callable[[], Awaitable[Any]]]]:
    async def wrap(kind: Any, socks: tuple[socket.socket, socket.socket]) -> Any:
        return kind(socks[0]), kind(socks[1])

    return {
        "seqpacket pair": ("seqpacket", aio.SeqpacketConnection.pair),
        "seqpacket accepted": ("seqpacket", lambda: _aio_seq_server_pair(folder)),
        "unix datagram pair": ("unix_datagram", aio.UnixDatagramEndpoint.pair),
        "unix datagram named": (
            "unix_datagram",
            lambda: wrap(aio.UnixDatagramEndpoint, _named_unix_sockets(folder)),
        ),
        "udp ipv4": ("udp", lambda: wrap(aio.UdpEndpoint, _udp_sockets())),
        "udp ipv6": ("udp", lambda: wrap(aio.UdpEndpoint, _udp_sockets("::1"))),
    }


PAIRS = [
    pytest.param(
        name,
        marks=[pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")]
        if "ipv6" in name
        else [],
    )
    for name in [
        "seqpacket pair",
        "seqpacket accepted",
        "unix datagram pair",
        "unix datagram named",
        "udp ipv4",
        "udp ipv6",
    ]
]


@pytest.mark.parametrize("name", PAIRS)
def test_sync_conforms(name: str, folder: Path) -> None:
    kind, make = _sync_pairs(folder)[name]
    sync_testing.check_message_pair(make, kind=kind)


@pytest.mark.parametrize("name", PAIRS)
def test_aio_conforms(name: str, folder: Path, run: Run) -> None:
    kind, make = _aio_pairs(folder)[name]
    run(aio_testing.check_message_pair(make, kind=kind), timeout=90)


def _normalised(outcomes: list[tuple[int, Outcome]], peer: Any) -> list[tuple[int, Outcome]]:
    """Outcomes with the peer's address (a port, a path) written as ``<peer>``: each
    face makes its own pair, so only that may differ."""
    text = str(peer)
    found = []
    for index, outcome in outcomes:
        if outcome.message is not None and text:
            outcome = outcome._replace(message=outcome.message.replace(text, "<peer>"))
        found.append((index, outcome))
    return found


@pytest.mark.parametrize("name", PAIRS)
def test_both_faces_give_identical_outcomes(name: str, folder: Path, run: Run) -> None:
    # Not only "each matches the table": the recorded outcomes are equal case by case.
    kind, make = _sync_pairs(folder)[name]
    spec = check_kind(kind)
    count = len(message_cases(spec, ""))
    mine = []
    for index in range(count):
        a, b = make()
        with a, b:
            case = message_cases(spec, a.remote_address)[index]
            mine.append(_normalised(sync_testing.run_case(case, a, b), a.remote_address))

    aio_kind, aio_make = _aio_pairs(folder)[name]

    async def aio_side() -> list[list[tuple[int, Outcome]]]:
        out = []
        for index in range(count):
            a, b = await aio_make()
            try:
                case = message_cases(spec, a.remote_address)[index]
                out.append(_normalised(await aio_testing.run_case(case, a, b), a.remote_address))
            finally:
                a.close()
                b.close()
        return out

    theirs = run(aio_side(), timeout=90)
    names = [case.name for case in message_cases(spec, "")]
    for case_name, one, other in zip(names, mine, theirs, strict=True):
        assert one == other, case_name
    assert aio_kind == kind
    assert count >= 20


def test_the_table_covers_each_kind() -> None:
    for kind in KINDS.values():
        names = [case.name for case in message_cases(kind, "")]
        assert len(names) == len(set(names)), kind.name  # each situation once
        assert "a message over max_size is consumed, the next one is intact" in names
        assert ("shutdown: the peer reads the end and can still send" in names) is (
            kind.connection
        )
        assert any(name.endswith("after close") for name in names)


def test_a_deviation_is_named_and_bad_kinds_refused() -> None:
    # The checker itself: a connection that hides a truncation is caught and named.
    class Sloppy(netkit.SeqpacketConnection):
        def recv_message(self, *, max_size: int = 65535, timeout: float | None = None) -> bytes:
            try:
                return super().recv_message(max_size=max_size, timeout=timeout)
            except netkit.FrameTooLarge:
                return b""

    def make() -> tuple[netkit.SeqpacketConnection, netkit.SeqpacketConnection]:
        x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return Sloppy(x), netkit.SeqpacketConnection(y)

    with pytest.raises(AssertionError, match=r"over max_size is consumed.*returned b''"):
        sync_testing.check_message_pair(make)
    # a datagram pair checked against the SEQPACKET contract deviates too
    with pytest.raises(AssertionError, match="conformance case"):
        sync_testing.check_message_pair(netkit.UnixDatagramEndpoint.pair, kind="seqpacket")
    with pytest.raises(
        ValueError, match="kind must be one of 'seqpacket', 'unix_datagram', 'udp'"
    ):
        sync_testing.check_message_pair(netkit.SeqpacketConnection.pair, kind="tcp")
    with pytest.raises(TypeError, match="kind must be a str, not int"):
        sync_testing.check_message_pair(netkit.SeqpacketConnection.pair, kind=3)  # type: ignore[arg-type]
    only = Case("one", (Step("b", "send_message", (b"x",)),))
    assert only.steps[0].method == "send_message"
