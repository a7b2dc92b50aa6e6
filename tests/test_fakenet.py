"""netkit.testing.FakeDatagramNetwork and its asyncio twin: seeded faults, UDP's errors."""

from __future__ import annotations

import asyncio
import errno
import threading
from collections.abc import Callable
from typing import Any

import pytest

from _aio_util import run  # noqa: F401  (the fixture)
from netkit import AddressError, ConnectionClosed, Endpoint, FrameTooLarge, NetkitTimeout
from netkit import UdpEndpoint as RealUdp
from netkit.aio.testing import FakeDatagramNetwork as AioNetwork
from netkit.testing import FakeDatagramNetwork

Run = Callable[..., Any]


def _sync_exchange(seed: int, **faults: float) -> tuple[list[bytes], Any]:
    net = FakeDatagramNetwork(seed=seed, **faults)
    with net.bind() as rx, net.bind() as tx:
        for i in range(200):
            tx.sendto(b"%d" % i, rx.address)
        got = []
        while True:
            try:
                got.append(rx.recv(timeout=0))
            except NetkitTimeout:
                break
    return got, net.stats


def test_delivery_and_stats() -> None:
    net = FakeDatagramNetwork()
    with net.bind("127.0.0.1", 5000) as rx, net.bind() as tx:
        assert rx.address == Endpoint("127.0.0.1", 5000)
        assert tx.address.port >= 49152
        tx.sendto(b"ping", rx.address)
        tx.sendto(b"to nobody", ("127.0.0.1", 9))
        datagram = rx.recvfrom(timeout=5)
        assert (datagram.data, datagram.sender) == (b"ping", tx.address)
    assert (net.stats.sent, net.stats.delivered, net.stats.unreachable) == (2, 1, 1)


def test_faults_are_deterministic_under_a_seed() -> None:
    faults = {"loss": 0.2, "duplicate": 0.2, "reorder": 0.3}
    first, stats = _sync_exchange(7, **faults)
    again, _ = _sync_exchange(7, **faults)
    other, _ = _sync_exchange(8, **faults)
    assert first == again
    assert first != other
    assert stats.lost > 0
    assert stats.duplicated > 0
    assert stats.reordered > 0
    assert len(first) == 200 - stats.lost + stats.duplicated
    clean, clean_stats = _sync_exchange(7)
    assert clean == [b"%d" % i for i in range(200)]
    assert (clean_stats.lost, clean_stats.duplicated, clean_stats.reordered) == (0, 0, 0)


def test_every_fault_at_its_extreme() -> None:
    assert _sync_exchange(1, loss=1.0)[0] == []
    assert len(_sync_exchange(1, duplicate=1.0)[0]) == 400
    shuffled = _sync_exchange(1, reorder=1.0)[0]
    assert shuffled != sorted(shuffled, key=int)
    assert sorted(shuffled, key=int) == [b"%d" % i for i in range(200)]


def test_errors_are_udp_endpoints_errors() -> None:
    net = FakeDatagramNetwork(max_size=1200)
    with net.bind() as rx, net.bind() as tx, RealUdp.bind("127.0.0.1", 0) as real:
        with pytest.raises(NetkitTimeout) as fake_timeout:
            rx.recvfrom(timeout=0.05)
        with pytest.raises(NetkitTimeout) as real_timeout:
            real.recvfrom(timeout=0.05)
        assert str(fake_timeout.value) == str(real_timeout.value)
        with pytest.raises(AddressError) as fake_send:
            rx.send(b"x")
        with pytest.raises(AddressError) as real_send:
            real.send(b"x")
        assert str(fake_send.value) == str(real_send.value)
        with pytest.raises(FrameTooLarge, match=r"datagram of 1201 bytes to .* exceeds the 1200"):
            tx.sendto(bytes(1201), rx.address)
        tx.sendto(bytes(100), rx.address)
        tx.sendto(b"next", rx.address)
        with pytest.raises(FrameTooLarge, match=r"max_size=10 \(it was dropped\)"):
            rx.recvfrom(max_size=10, timeout=5)
        assert rx.recv(timeout=5) == b"next"  # the oversize datagram was consumed
        with pytest.raises(OSError, match="cannot bind UDP to") as taken:
            net.bind(rx.address.host, rx.address.port)
        assert taken.value.errno == errno.EADDRINUSE
        with pytest.raises(AddressError, match="no resolver"):
            net.bind("localhost", 0)
        with pytest.raises(ValueError, match="loss must be from 0 to 1"):
            FakeDatagramNetwork(loss=1.5)
    rx.close()
    with pytest.raises(ConnectionClosed, match=r"^UdpEndpoint is closed$"):
        rx.recv(timeout=0)


def test_a_connected_endpoint_hears_only_its_peer() -> None:
    net = FakeDatagramNetwork()
    with net.bind() as server, net.bind() as stranger:
        with net.connect(server.address.host, server.address.port) as client:
            assert client.remote_address == server.address
            stranger.sendto(b"noise", client.address)
            server.sendto(b"answer", client.address)
            client.send(b"question")
            assert server.recv(timeout=5) == b"question"
            assert client.recv(timeout=5) == b"answer"


def test_close_wakes_a_waiting_receive() -> None:
    net = FakeDatagramNetwork()
    endpoint = net.bind()
    errors: list[BaseException] = []
    ready = threading.Event()

    def wait() -> None:
        ready.set()
        try:
            endpoint.recv(timeout=30)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    ready.wait(5)
    endpoint.close()
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(errors[0], ConnectionClosed)


def test_the_aio_twin_sees_the_same_faults(run: Run) -> None:  # noqa: F811
    faults = {"loss": 0.2, "duplicate": 0.2, "reorder": 0.3}
    expected, _ = _sync_exchange(7, **faults)

    async def main() -> list[bytes]:
        net = AioNetwork(seed=7, **faults)
        async with await net.bind() as rx, await net.bind() as tx:
            for i in range(200):
                await tx.sendto(b"%d" % i, rx.address)
            got = []
            while True:
                try:
                    got.append(await rx.recv(timeout=0))
                except NetkitTimeout:
                    return got

    assert run(main()) == expected


def test_aio_waiting_timeout_and_close(run: Run) -> None:  # noqa: F811
    async def main() -> None:
        net = AioNetwork()
        rx = await net.bind()
        tx = await net.bind()
        waiting = asyncio.ensure_future(rx.recvfrom(timeout=30))
        await asyncio.sleep(0)
        await tx.sendto(b"hi", rx.address)
        datagram = await waiting
        assert (datagram.data, datagram.sender) == (b"hi", tx.address)
        with pytest.raises(NetkitTimeout, match=r"^no datagram received within 0.05 s$"):
            await rx.recv(timeout=0.05)
        waiting2 = asyncio.ensure_future(rx.recv(timeout=30))
        await asyncio.sleep(0)
        rx.close()
        with pytest.raises(ConnectionClosed):
            await waiting2
        with pytest.raises(AddressError):
            await tx.send(b"x")
        await tx.aclose()

    run(main())
