"""netkit.aio.UdpEndpoint: round trips, truncation, limits, deadlines, close, multicast."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

import netkit
import netkit.udp
from _aio_util import assert_same_error, open_fds, run, run_on, wait_until
from netkit.addr import Endpoint
from netkit.aio import Datagram, UdpEndpoint
from netkit.errors import (
    AddressError,
    ConnectionClosed,
    ConnectionRefused,
    FrameTooLarge,
    NetkitTimeout,
)

__all__ = ["run"]  # the fixture, imported for pytest

Run = Callable[..., Any]


def test_round_trip(run: Run) -> None:
    async def main() -> None:
        before = open_fds()
        async with await UdpEndpoint.bind("127.0.0.1", 0) as server:
            async with await UdpEndpoint.bind() as client:
                await client.sendto(b"ping", server.address)
                got = await server.recvfrom(timeout=5)
                assert got == Datagram(b"ping", client.address)
                await server.sendto(b"pong", (got.sender.host, got.sender.port))
                data, sender = await client.recvfrom(timeout=5)
                assert (data, sender) == (b"pong", server.address)
                await client.sendto(b"text", f"127.0.0.1:{server.address.port}")
                assert (await server.recvfrom(timeout=5)).data == b"text"
        assert server.closed
        assert open_fds() <= before

    run(main())


def test_connected_endpoint(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind() as server:
            port = server.address.port
            async with await UdpEndpoint.connect("127.0.0.1", port) as client:
                assert client.remote_address == Endpoint("127.0.0.1", port)
                await client.send(b"hello")
                data, sender = await server.recvfrom(timeout=5)
                await server.sendto(data.upper(), sender)
                assert await client.recv(timeout=5) == b"HELLO"

    run(main())


def test_connected_endpoint_reports_refusal_once(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind() as gone:
            port = gone.address.port  # closed when this block ends: nothing listens
        async with await UdpEndpoint.connect("127.0.0.1", port) as conn:
            await conn.send(b"anyone?")
            with pytest.raises(ConnectionRefused) as info:
                await conn.recv(timeout=5)
            assert isinstance(info.value, ConnectionRefusedError)
            assert str(conn.remote_address) in str(info.value)
            # Reported once; the endpoint stays usable.
            with pytest.raises(NetkitTimeout):
                await conn.recv(timeout=0.05)

    run(main())


def test_connected_send_checks_size_and_properties_pass_through(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind() as server:
            conn = await UdpEndpoint.connect("127.0.0.1", server.address.port)
            with pytest.raises(FrameTooLarge) as info:
                await conn.send(b"z" * 65508)
            assert info.value.limit == 65507
            with pytest.raises(NetkitTimeout):  # nothing was sent
                await server.recvfrom(timeout=0.05)
            assert conn.family == socket.AF_INET
            assert conn.fileno() == conn.socket.fileno()
            assert repr(conn).startswith("<aio.UdpEndpoint ")
            conn.multicast_loop = False
            assert conn.multicast_loop is False
            await conn.aclose()
            assert conn.closed
            with pytest.raises(ConnectionClosed):
                await conn.send(b"late")

    run(main())


def test_oversized_datagram_is_never_cut(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind() as server, await UdpEndpoint.bind() as client:
            await client.sendto(b"x" * 2000, server.address)
            await client.sendto(b"next", server.address)
            with pytest.raises(FrameTooLarge) as info:
                await server.recvfrom(max_size=1000, timeout=5)
            assert info.value.size == 2000
            assert info.value.limit == 1000
            # The oversized one was dropped; the one behind it is intact.
            assert (await server.recvfrom(max_size=1000, timeout=5)).data == b"next"

    run(main())


def test_too_large_to_send_raises_before_sending(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind() as server, await UdpEndpoint.bind() as client:
            with pytest.raises(FrameTooLarge):
                await client.sendto(b"y" * 65508, server.address)
            with pytest.raises(NetkitTimeout):
                await server.recvfrom(timeout=0.05)

    run(main())


def test_deadline_cancel_and_close(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind() as server, await UdpEndpoint.bind() as client:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(NetkitTimeout):
                await server.recvfrom(timeout=0.1)
            assert loop.time() - start >= 0.09
            # A cancelled receive loses nothing: the next one gets the datagram.
            waiting = asyncio.ensure_future(server.recvfrom())
            await asyncio.sleep(0)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await client.sendto(b"kept", server.address)
            assert (await server.recvfrom(timeout=5)).data == b"kept"
            # Two receivers may wait at once; one datagram wakes one of them.
            first = asyncio.ensure_future(server.recvfrom(timeout=5))
            second = asyncio.ensure_future(server.recvfrom(timeout=5))
            await asyncio.sleep(0)
            await client.sendto(b"a", server.address)
            await client.sendto(b"b", server.address)
            got = sorted([(await first).data, (await second).data])
            assert got == [b"a", b"b"]
            # close() wakes a pending receive with ConnectionClosed.
            pending = asyncio.ensure_future(server.recvfrom())
            await asyncio.sleep(0)
            server.close()
            with pytest.raises(ConnectionClosed):
                await pending
            with pytest.raises(ConnectionClosed):
                await server.sendto(b"z", client.address)

    run(main())


def test_bad_targets(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind() as client:
            with pytest.raises(AddressError):
                await client.sendto(b"x", "not a target:port")
            with pytest.raises(TypeError):
                await client.sendto("text", ("127.0.0.1", 9))  # type: ignore[arg-type]
            with pytest.raises(AddressError):
                await client.send(b"x")  # not connected

    run(main())


def test_multicast_membership(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind("0.0.0.0", 0) as member:
            try:
                member.join_multicast("239.255.12.34", "127.0.0.1")
            except OSError as exc:
                pytest.skip(f"no multicast here: {exc}")
            member.leave_multicast("239.255.12.34", "127.0.0.1")
            with pytest.raises(AddressError):
                member.join_multicast("10.0.0.1")
            member.multicast_ttl = 0
            assert member.multicast_ttl == 0

    run(main())


def test_many_datagrams(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind() as server, await UdpEndpoint.bind() as client:
            received: list[bytes] = []

            async def reader() -> None:
                while len(received) < 200:
                    received.append((await server.recvfrom(timeout=5)).data)

            task = asyncio.ensure_future(reader())
            for i in range(200):
                await client.sendto(b"%d" % i, server.address)
                if i % 50 == 49:  # stay under the socket buffer: UDP drops on overflow
                    await wait_until(lambda i=i: len(received) > i)  # type: ignore[misc]
            await task
            assert received == [b"%d" % i for i in range(200)]

    run(main())


def test_hostname_bind_and_send_resolve_off_the_loop(run: Run) -> None:
    async def main() -> None:
        async with await UdpEndpoint.bind("localhost", 0) as server:
            async with await UdpEndpoint.bind(server.address.host, 0) as client:
                await client.sendto(b"named", ("localhost", server.address.port))
                assert (await server.recvfrom(timeout=5)).data == b"named"

    run(main())


# -- the twin promise: the same bad input gets the same error ---------------------------

BAD_UDP_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("bind", ("127.0.0.1", -1), {}),
    ("bind", ("127.0.0.1", "1"), {}),
    ("bind", (5, 0), {}),
    ("bind", ("bad host", 0), {}),
    ("connect", ("127.0.0.1", 0), {}),
    ("connect", ("127.0.0.1", 70000), {}),
    ("connect", (None, 5), {}),
    ("sendto", (b"x", "nope"), {}),
    ("sendto", (b"x", ("127.0.0.1",)), {}),
    ("sendto", (b"x", ("127.0.0.1", 0)), {}),
    ("sendto", (b"x", "127.0.0.1:0"), {}),
    ("sendto", (b"x", ("::1", 5)), {}),  # IPv6 target from an IPv4 endpoint
    ("sendto", (b"x", 5), {}),
    ("sendto", ("text", ("127.0.0.1", 9)), {}),
    ("sendto", (None, ("127.0.0.1", 9)), {}),
    ("sendto", (b"x" * 65508, ("127.0.0.1", 9)), {}),
    ("recvfrom", (), {"max_size": -1}),
    ("recvfrom", (), {"max_size": "1"}),
    ("recvfrom", (), {"timeout": -1}),
    ("recvfrom", (), {"max_size": True}),
    ("bind", ("", 0), {}),
    ("bind", ("[127.0.0.1]", 0), {}),
    ("connect", ("127.0.0.1", 9), {"source": ("::1", 0)}),
    ("connect", ("127.0.0.1", 9), {"source": 5}),
    ("connect", ("127.0.0.1", 9), {"options": "fast"}),
    ("join_multicast", ("10.0.0.1",), {}),
    ("join_multicast", ("ff02::1",), {}),  # an IPv6 group on an IPv4 endpoint
    ("join_multicast", ("239.1.2.3", True), {}),
    ("join_multicast", ("239.1.2.3", "no such interface!"), {}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), BAD_UDP_CALLS, ids=repr)
def test_bad_input_fails_like_the_sync_endpoint(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    import netkit

    def sync_call() -> None:
        if method in ("bind", "connect"):
            getattr(netkit.UdpEndpoint, method)(*args, **kwargs).close()
            return
        with netkit.UdpEndpoint.bind() as ep:
            getattr(ep, method)(*args, **kwargs)

    async def aio_call() -> None:
        if method in ("bind", "connect"):
            (await getattr(UdpEndpoint, method)(*args, **kwargs)).close()
            return
        async with await UdpEndpoint.bind() as ep:
            await getattr(ep, method)(*args, **kwargs)

    assert_same_error(sync_call, aio_call)


@pytest.mark.parametrize("timeout", [-1, "1", float("nan")])
def test_bad_timeout_is_refused_even_when_no_wait_is_needed(timeout: Any) -> None:
    """A datagram is ready (or the send buffer has room): a bad timeout= still fails."""
    import netkit

    def sync_call() -> None:
        with netkit.UdpEndpoint.bind() as ep:
            ep.sendto(b"ready", ep.address)
            ep.recvfrom(timeout=timeout)

    async def aio_call() -> None:
        async with await UdpEndpoint.bind() as ep:
            await ep.sendto(b"ready", ep.address)
            try:
                await ep.recvfrom(timeout=timeout)
            finally:
                # Nothing was consumed by the refused call.
                assert (await ep.recvfrom(timeout=5)).data == b"ready"

    assert_same_error(sync_call, aio_call)

    async def aio_send() -> None:
        async with await UdpEndpoint.bind() as ep:
            try:
                await ep.sendto(b"x", ep.address, timeout=timeout)
            finally:
                with pytest.raises(NetkitTimeout):  # nothing was sent
                    await ep.recvfrom(timeout=0.05)

    with pytest.raises((TypeError, ValueError), match="timeout"):
        run_on(asyncio.new_event_loop, aio_send())


def _same_failure(
    sync_call: Callable[[netkit.UdpEndpoint], object],
    aio_call: Callable[[UdpEndpoint], Any],
    expected: type[BaseException],
) -> BaseException:
    """Run one situation on a fresh endpoint of each face: same type, same message."""

    def sync_side() -> None:
        with netkit.UdpEndpoint.bind() as ep:
            sync_call(ep)

    async def aio_side() -> None:
        async with await UdpEndpoint.bind() as ep:
            await aio_call(ep)

    return assert_same_error(sync_side, aio_side, expected)


def test_receive_timeout_has_one_message() -> None:
    error = _same_failure(
        lambda ep: ep.recvfrom(timeout=0.01), lambda ep: ep.recvfrom(timeout=0.01), NetkitTimeout
    )
    assert str(error) == "no datagram received within 0.01 s"
    _same_failure(
        lambda ep: ep.recv(max_size=5, timeout=0),
        lambda ep: ep.recv(max_size=5, timeout=0),
        NetkitTimeout,
    )


def test_use_after_close_has_one_message() -> None:
    def sync_call(ep: netkit.UdpEndpoint) -> None:
        ep.close()
        ep.sendto(b"x", ("127.0.0.1", 9))

    async def aio_call(ep: UdpEndpoint) -> None:
        ep.close()
        await ep.sendto(b"x", ("127.0.0.1", 9))

    assert str(_same_failure(sync_call, aio_call, ConnectionClosed)) == "UdpEndpoint is closed"

    def sync_join(ep: netkit.UdpEndpoint) -> None:
        ep.close()
        ep.join_multicast("239.1.2.3")

    async def aio_join(ep: UdpEndpoint) -> None:
        ep.close()
        ep.join_multicast("239.1.2.3")

    _same_failure(sync_join, aio_join, ConnectionClosed)


def test_send_unconnected_and_oversized_receive_have_one_message() -> None:
    _same_failure(lambda ep: ep.send(b"x"), lambda ep: ep.send(b"x"), AddressError)

    def sync_call() -> str:
        with netkit.UdpEndpoint.bind() as ep:
            ep.sendto(b"x" * 10, ep.address)
            with pytest.raises(FrameTooLarge) as info:
                ep.recvfrom(max_size=3, timeout=5)
            return str(info.value).replace(str(ep.address.port), "PORT")

    async def aio_call() -> str:
        async with await UdpEndpoint.bind() as ep:
            await ep.sendto(b"x" * 10, ep.address)
            with pytest.raises(FrameTooLarge) as info:
                await ep.recvfrom(max_size=3, timeout=5)
            return str(info.value).replace(str(ep.address.port), "PORT")

    # Each face has its own endpoint (and port): compare the messages without it.
    message = sync_call()
    assert message == run_on(asyncio.new_event_loop, aio_call())
    assert (
        message == "datagram of 10 bytes from 127.0.0.1:PORT exceeds max_size=3 (it was dropped)"
    )


def test_refusal_has_one_message() -> None:
    port = 0

    def sync_side() -> None:
        with netkit.UdpEndpoint.connect("127.0.0.1", port) as conn:
            conn.send(b"anyone?")
            conn.recv(timeout=5)

    async def aio_side() -> None:
        async with await UdpEndpoint.connect("127.0.0.1", port) as conn:
            await conn.send(b"anyone?")
            await conn.recv(timeout=5)

    with netkit.UdpEndpoint.bind() as gone:
        port = gone.address.port  # closed when this block ends: nothing listens
    error = assert_same_error(sync_side, aio_side, ConnectionRefused)
    assert f"127.0.0.1:{port} refused a datagram" in str(error)


def test_datagram_is_one_class() -> None:
    assert Datagram is netkit.Datagram is netkit.udp.Datagram
    assert Datagram.__module__ == "netkit.udp"
