"""The resolver hook (netkit.lookup: Resolver, get/set/use_resolver) and the fake resolver
(netkit.testing.fake_resolver): every lookup of both faces goes through the hook, the
fake answers from its mapping and nothing else, and it is gone when its block ends."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pytest

import netkit.aio.testing
import netkit.testing
from _aio_util import run
from _resolver_util import Refusing
from netkit import aio, lookup
from netkit.addr import Endpoint
from netkit.cli import main
from netkit.errors import AddressError, LookupFailed
from netkit.lookup import (
    AddrInfoTuple,
    HostInfo,
    Resolver,
    SystemResolver,
    get_resolver,
    host_address,
    resolve,
    reverse,
    set_resolver,
    use_resolver,
)
from netkit.tcp import TcpClient, TcpConnection, TcpServer
from netkit.testing import FakeResolver, fake_resolver
from netkit.udp import UdpEndpoint

__all__ = ["run"]  # the fixture, imported for pytest

Run = Callable[..., Any]
TCP, UDP = socket.SOCK_STREAM, socket.SOCK_DGRAM
V4, V6 = socket.AF_INET, socket.AF_INET6


def _has_ipv6() -> bool:
    try:
        with socket.socket(V6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")


@pytest.fixture(autouse=True)
def _system_resolver_before_and_after() -> Iterator[None]:
    # Each test starts with the default, and must leave it so.
    assert type(get_resolver()) is SystemResolver
    yield
    assert type(get_resolver()) is SystemResolver


def _look_up_then_fail(block: AbstractContextManager[Any], name: str, seen: list[str]) -> None:
    with block:
        seen.append(host_address(name))
        raise RuntimeError("boom")


def _echo(conn: TcpConnection) -> None:
    conn.sendall(conn.recv(100, timeout=5))


# -- the hook ---------------------------------------------------------------------------


def test_the_default_is_the_system_resolver() -> None:
    resolver = get_resolver()
    assert isinstance(resolver, SystemResolver)
    assert isinstance(resolver, Resolver)
    assert repr(resolver) == "SystemResolver()"
    assert resolver.getservbyname("https", "tcp") == socket.getservbyname("https", "tcp")


def test_set_resolver_returns_the_previous_and_none_restores_the_system() -> None:
    system = get_resolver()
    fake = FakeResolver({"db.test": "127.0.0.1"})
    try:
        assert set_resolver(fake) is system
        assert get_resolver() is fake
        assert resolve("db.test", 5432)[0].sockaddr == ("127.0.0.1", 5432)
        assert set_resolver(None) is fake
        assert type(get_resolver()) is SystemResolver
    finally:
        set_resolver(system)


def test_the_socket_module_is_a_resolver() -> None:
    # The protocol is the socket module's five functions, with their signatures.
    with use_resolver(socket):
        assert host_address("localhost") == socket.gethostbyname("localhost")


class _OnlyGetaddrinfo:
    def getaddrinfo(self, *args: Any) -> list[AddrInfoTuple]:
        return []


@pytest.mark.parametrize("bad", [object(), "resolver", 42, _OnlyGetaddrinfo()])
def test_a_resolver_needs_every_method(bad: object) -> None:
    with pytest.raises(TypeError, match="getaddrinfo, gethostbyname"):
        set_resolver(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="getaddrinfo, gethostbyname"):
        with use_resolver(bad):  # type: ignore[arg-type]
            pass
    assert type(get_resolver()) is SystemResolver


def test_use_resolver_needs_a_resolver() -> None:
    with pytest.raises(TypeError, match="not None"):
        with use_resolver(None):  # type: ignore[arg-type]
            pass


def test_use_resolver_nests_and_restores_through_exceptions() -> None:
    outer, inner = FakeResolver({"a.test": "127.0.0.1"}), FakeResolver({"a.test": "127.0.0.2"})
    with use_resolver(outer) as given:
        assert given is outer
        seen: list[str] = []
        with pytest.raises(RuntimeError, match="boom"):
            _look_up_then_fail(use_resolver(inner), "a.test", seen)
        assert seen == ["127.0.0.2"]
        assert get_resolver() is outer
        assert host_address("a.test") == "127.0.0.1"
    assert type(get_resolver()) is SystemResolver


def test_set_resolver_inside_a_block_takes_effect_after_it() -> None:
    system = get_resolver()
    scoped, default = FakeResolver({}), FakeResolver({})
    try:
        with use_resolver(scoped):
            assert set_resolver(default) is system
            assert get_resolver() is scoped  # the open block keeps its own
        assert get_resolver() is default
    finally:
        set_resolver(system)


def test_blocks_of_two_threads_may_end_in_any_order() -> None:
    first, second = FakeResolver({}), FakeResolver({})
    entered, leave_first = threading.Event(), threading.Event()
    seen: list[object] = []

    def other_thread() -> None:
        with use_resolver(first):
            entered.set()
            leave_first.wait(5)
        seen.append(get_resolver())

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert entered.wait(5)
    with use_resolver(second):
        leave_first.set()  # the older block ends first
        thread.join(5)
        assert seen == [second]  # the newer one stays in force
        assert get_resolver() is second
    assert type(get_resolver()) is SystemResolver  # and nothing is left behind


def test_the_resolver_is_process_wide() -> None:
    # Another thread (an executor, connect's helper thread) sees the block's resolver.
    results: list[object] = []
    with fake_resolver({"db.test": "127.0.0.9"}):
        thread = threading.Thread(target=lambda: results.append(host_address("db.test")))
        thread.start()
        thread.join(5)
    assert results == ["127.0.0.9"]


class _Raising(SystemResolver):
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def getaddrinfo(self, *args: Any, **kwargs: Any) -> Sequence[AddrInfoTuple]:
        raise self.error

    def gethostbyname(self, name: str) -> str:
        raise self.error

    def gethostbyaddr(self, ip: str) -> tuple[str, list[str], list[str]]:
        raise self.error


def test_any_oserror_of_a_resolver_is_lookup_failed() -> None:
    error = OSError(110, "DNS-over-HTTPS server timed out")
    with use_resolver(_Raising(error)):
        for call in (
            lambda: resolve("db.test", 80),
            lambda: host_address("db.test"),
            lambda: reverse("127.0.0.1"),
            lambda: UdpEndpoint.connect("db.test", 53),
        ):
            with pytest.raises(LookupFailed, match="DNS-over-HTTPS server timed out") as caught:
                call()
            assert caught.value.__cause__ is error
    with use_resolver(_Raising(error)), pytest.raises(LookupFailed) as failed:
        resolve("db.test", 80)
    assert failed.value.errno == 110
    assert str(failed.value) == "cannot resolve 'db.test': DNS-over-HTTPS server timed out"


def test_lookup_failed_from_a_resolver_passes_through() -> None:
    error = LookupFailed("db.test is blocked by policy")
    with use_resolver(_Raising(error)):
        for call in (
            lambda: resolve("db.test", 80),
            lambda: host_address("db.test"),
            lambda: reverse("127.0.0.1"),
            lambda: UdpEndpoint.connect("db.test", 53),
            lambda: TcpClient.connect("db.test", 80, timeout=5),
        ):
            with pytest.raises(LookupFailed) as caught:
                call()
            assert caught.value is error


def test_ip_literals_and_invalid_names_never_reach_the_resolver() -> None:
    with use_resolver(Refusing()):
        assert resolve("127.0.0.1", 80)[0].sockaddr == ("127.0.0.1", 80)
        assert resolve("::1", 80)[0].sockaddr == ("::1", 80, 0, 0)
        assert host_address("127.0.0.1") == "127.0.0.1"
        with TcpServer(_echo, "127.0.0.1") as server, UdpEndpoint.bind("127.0.0.1") as udp:
            with TcpClient.connect("127.0.0.1", server.address.port, timeout=5) as conn:
                conn.sendall(b"hi")
                assert conn.recv_exactly(2, timeout=5) == b"hi"
            udp.sendto(b"self", Endpoint("127.0.0.1", udp.address.port))
            udp.sendto(b"self", ("127.0.0.1", udp.address.port))
            assert udp.recv_many(2, timeout=5)
        for call in (
            lambda: resolve("db.invalid", 80),
            lambda: host_address("db.invalid"),
            lambda: TcpClient.connect("db.invalid", 80, timeout=5),
            lambda: UdpEndpoint.bind("db.invalid", 0),
        ):
            with pytest.raises(LookupFailed, match=r"\.invalid domain never resolves"):
                call()


# -- the fake resolver: what it answers -------------------------------------------------


def test_fake_resolver_is_the_same_in_both_faces() -> None:
    assert netkit.aio.testing.fake_resolver is netkit.testing.fake_resolver
    assert netkit.aio.testing.FakeResolver is netkit.testing.FakeResolver


@needs_ipv6
def test_resolve_gives_the_mapping_in_its_order() -> None:
    mapping = {"db.test": ["::1", "127.0.0.1", "127.0.0.2"]}
    with fake_resolver(mapping) as resolver:
        infos = resolve("db.test", 5432)
        assert [info.sockaddr for info in infos] == [
            ("::1", 5432, 0, 0),
            ("127.0.0.1", 5432),
            ("127.0.0.2", 5432),
        ]
        assert {(info.type, info.proto) for info in infos} == {(TCP, socket.IPPROTO_TCP)}
        assert [i.sockaddr for i in resolve("db.test", 1, family=V4)] == [
            ("127.0.0.1", 1),
            ("127.0.0.2", 1),
        ]
        assert [i.sockaddr for i in resolve("db.test", 1, family=V6)] == [("::1", 1, 0, 0)]
        both = resolve("db.test", "domain", type=0)
        assert [(i.type, i.endpoint) for i in both[:2]] == [
            (TCP, Endpoint("::1", 53)),
            (UDP, Endpoint("::1", 53)),
        ]
        canonical = resolve("DB.Test.", 80, canonical=True)
        assert [i.canonname for i in canonical] == ["db.test", "", ""]
    assert resolver.asked == ["db.test", "db.test", "db.test", "db.test", "DB.Test."]


def test_unknown_names_fail_as_unknown_names_do() -> None:
    with fake_resolver({"db.test": "127.0.0.1"}):
        for name in ("other.test", "localhost"):  # never falls through to the system
            with pytest.raises(LookupFailed) as caught:
                resolve(name, 80)
            assert caught.value.errno == socket.EAI_NONAME
            assert isinstance(caught.value.__cause__, socket.gaierror)
            assert str(caught.value) == (
                f"cannot resolve {name!r}: unknown name (not in the fake resolver's mapping)"
            )
            with pytest.raises(LookupFailed, match=repr(name)):
                host_address(name)
            with pytest.raises(LookupFailed, match=repr(name)):
                TcpClient.connect(name, 80, timeout=5)


def test_a_name_without_an_address_of_the_family() -> None:
    with fake_resolver({"v6only.test": "::1", "nothing.test": []}):
        with pytest.raises(LookupFailed, match="No address associated"):
            resolve("v6only.test", 80, family=V4)
        with pytest.raises(LookupFailed, match="No address associated"):
            host_address("v6only.test")  # IPv4 only, as gethostbyname
        with pytest.raises(LookupFailed, match="No address associated"):
            resolve("nothing.test", 80)


def test_host_address_gives_the_first_ipv4() -> None:
    with fake_resolver({"db.test": ["::1", "127.0.0.3", "127.0.0.4"]}):
        assert host_address("db.test") == "127.0.0.3"
        assert host_address("127.0.0.1") == "127.0.0.1"  # literals still work


def test_reverse_from_the_mapping_and_from_reverse_entries() -> None:
    mapping = {"db.test": "127.0.0.5", "db-alias.test": ["127.0.0.5"], "v6.test": "::1"}
    with fake_resolver(mapping, reverse={"127.0.0.6": ["gw.test", "router.test"]}) as fake:
        assert reverse("127.0.0.5") == HostInfo("db.test", ("db-alias.test",), ("127.0.0.5",))
        assert reverse("0:0::1") == HostInfo("v6.test", (), ("::1",))
        assert reverse("127.0.0.6") == HostInfo("gw.test", ("router.test",), ("127.0.0.6",))
        with pytest.raises(LookupFailed, match=r"no name for '127\.0\.0\.7': Unknown host"):
            reverse("127.0.0.7")
        # socket.gethostbyaddr takes a name too; the fake follows it.
        assert fake.gethostbyaddr("db.test") == ("db.test", ["db-alias.test"], ["127.0.0.5"])


def test_ipv4_mapped_answers_for_an_ipv6_udp_endpoint() -> None:
    # An IPv6 endpoint sending to a name with IPv4 addresses only asks AI_V4MAPPED.
    with UdpEndpoint.bind("0.0.0.0") as receiver, UdpEndpoint.bind("::") as sender:
        with fake_resolver({"v4only.test": "127.0.0.1"}) as fake:
            sender.sendto(b"mapped", f"v4only.test:{receiver.address.port}")
            assert receiver.recvfrom(timeout=5).data == b"mapped"
            answers = fake.getaddrinfo("v4only.test", 9, V6, UDP, 0, socket.AI_V4MAPPED)
            assert [a[4] for a in answers] == [("::ffff:127.0.0.1", 9, 0, 0)]
            with pytest.raises(socket.gaierror):
                fake.getaddrinfo("v4only.test", 9, V6, UDP)  # no mapping asked
        assert fake.asked == ["v4only.test", "v4only.test", "v4only.test"]


def test_the_fake_resolver_as_a_resolver_of_its_own() -> None:
    fake = FakeResolver({"Db.Test.": "127.0.0.1", "both.test": ["::1", "127.0.0.2"]})
    assert repr(fake) == "<FakeResolver of 2 names>"
    assert fake.gethostbyname("db.test") == "127.0.0.1"
    # A literal is parsed, as the system resolver does; a name with AI_NUMERICHOST fails.
    assert fake.getaddrinfo("127.0.0.1", 80, V4, TCP)[0][4] == ("127.0.0.1", 80)
    assert fake.gethostbyname("127.0.0.1") == "127.0.0.1"
    with pytest.raises(socket.gaierror):
        fake.getaddrinfo("db.test", 80, 0, TCP, 0, socket.AI_NUMERICHOST)
    with pytest.raises(socket.gaierror):
        fake.getaddrinfo("db.test", 80, socket.AF_UNIX, TCP)
    with pytest.raises(socket.gaierror):
        fake.getaddrinfo("db.test", 80, 0, socket.SOCK_RAW)
    assert [a[1:3] for a in fake.getaddrinfo("db.test", 80, 0, 0, socket.IPPROTO_UDP)] == [
        (UDP, socket.IPPROTO_UDP)
    ]
    all_mapped = fake.getaddrinfo("both.test", 7, V6, TCP, 0, socket.AI_V4MAPPED | socket.AI_ALL)
    assert [a[4][0] for a in all_mapped] == ["::1", "::ffff:127.0.0.2"]
    assert fake.getservbyname("https", "tcp") == 443  # services: the system's
    assert fake.asked == ["db.test", "db.test", "db.test", "db.test", "db.test", "both.test"]


@pytest.mark.parametrize(
    ("mapping", "reverse_entries", "error", "message"),
    [
        ({"127.0.0.1": "127.0.0.1"}, None, AddressError, "IP literals are parsed"),
        ({"bad name": "127.0.0.1"}, None, AddressError, "bad name"),
        ({"db.test": "db2.test"}, None, AddressError, "'db2.test' is not one"),
        ({"db.test": ["127.0.0.1", 7]}, None, TypeError, "iterable of str"),
        ({"db.test": 7}, None, TypeError, "iterable of str"),
        ({b"db.test": "127.0.0.1"}, None, TypeError, "must be str"),
        ({"db.test": "127.0.0.1", "DB.test.": "127.0.0.2"}, None, ValueError, "twice"),
        ({}, {"db.test": "x.test"}, AddressError, "keyed by IP address"),
        ({}, {"127.0.0.1": "not a name"}, AddressError, "not a name"),
    ],
)
def test_a_malformed_mapping_is_refused_before_anything_changes(
    mapping: Any, reverse_entries: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        with fake_resolver(mapping, reverse=reverse_entries):
            pass  # pragma: no cover
    assert type(get_resolver()) is SystemResolver


def test_one_text_is_one_address() -> None:
    with fake_resolver({"db.test": "127.0.0.1"}):
        assert [i.sockaddr for i in resolve("db.test", 1)] == [("127.0.0.1", 1)]


# -- the fake resolver: in force, then gone ----------------------------------------------


def test_outside_the_block_nothing_changes() -> None:
    with use_resolver(Refusing()) as outer:
        with fake_resolver({"db.test": "127.0.0.1"}):
            assert host_address("db.test") == "127.0.0.1"
        assert get_resolver() is outer
        with pytest.raises(AssertionError, match="the resolver was asked"):
            host_address("db.test")  # the fake is gone: the outer resolver answers
    # and with the system resolver back, the hosts file answers as before
    assert host_address("localhost") == socket.gethostbyname("localhost")


def test_nested_fakes_and_an_exception_inside() -> None:
    with fake_resolver({"db.test": "127.0.0.1"}):
        seen: list[str] = []
        with pytest.raises(RuntimeError, match="boom"):
            _look_up_then_fail(fake_resolver({"db.test": "127.0.0.2"}), "db.test", seen)
        assert seen == ["127.0.0.2"]
        assert host_address("db.test") == "127.0.0.1"
        with fake_resolver():  # nothing resolves
            with pytest.raises(LookupFailed):
                host_address("db.test")
        assert host_address("db.test") == "127.0.0.1"


def test_an_empty_fake_proves_nothing_is_resolved() -> None:
    with fake_resolver() as fake, TcpServer(_echo) as server:
        with TcpClient.connect("127.0.0.1", server.address.port, timeout=5):
            pass
    assert fake.asked == []


# -- every lookup of both faces goes through it -----------------------------------------


def test_sync_client_and_server_by_name() -> None:
    mapping = {"svc.test": "127.0.0.1", "db.test": ["127.0.0.1"]}
    with fake_resolver(mapping) as fake, TcpServer(_echo, "svc.test") as server:
        assert server.address.host == "127.0.0.1"
        for timeout in (None, 5.0):  # resolving in this thread, or in a helper thread
            with TcpClient.connect("db.test", server.address.port, timeout=timeout) as conn:
                conn.sendall(b"by name")
                assert conn.recv_exactly(7, timeout=5) == b"by name"
    assert fake.asked == ["svc.test", "db.test", "db.test"]


def test_aio_client_and_server_by_name(run: Run) -> None:
    async def main() -> list[str]:
        async def echo(conn: aio.TcpConnection) -> None:
            await conn.sendall(await conn.recv(100, timeout=5))

        with fake_resolver({"svc.test": "127.0.0.1", "db.test": "127.0.0.1"}) as fake:
            async with aio.TcpServer(echo, "svc.test") as server:
                assert server.address.host == "127.0.0.1"
                for timeout in (None, 5.0):
                    port = server.address.port
                    async with await aio.TcpClient.connect("db.test", port, timeout=timeout) as c:
                        await c.sendall(b"aio")
                        assert await c.recv_exactly(3, timeout=5) == b"aio"
                with pytest.raises(LookupFailed, match=r"'other\.test'"):
                    await aio.TcpClient.connect("other.test", port, timeout=5)
        return fake.asked

    # The executor's threads saw the fake: every name was asked of it.
    assert run(main()) == ["svc.test", "db.test", "db.test", "other.test"]


def test_sync_udp_by_name() -> None:
    # "localhost" is in the hosts file as 127.0.0.1; the fake says 127.0.0.2. Only a
    # datagram that went through netkit's resolver reaches the receiver on 127.0.0.2
    # (socket.sendto given a name would have resolved it itself).
    mapping = {"localhost": "127.0.0.2", "peer.test": "127.0.0.2", "me.test": "127.0.0.3"}
    with fake_resolver(mapping) as fake, UdpEndpoint.bind("me.test") as receiver:
        assert receiver.address.host == "127.0.0.3"
        with UdpEndpoint.bind("127.0.0.2") as peer, UdpEndpoint.bind("127.0.0.1") as sender:
            port = peer.address.port
            sender.sendto(b"1", Endpoint("localhost", port))
            sender.sendto(b"2", ("peer.test", port))
            sender.sendto(b"3", f"peer.test:{port}")
            assert sender.send_many([(b"4", Endpoint("localhost", port))]) == 1
            assert [peer.recvfrom(timeout=5).data for _ in range(4)] == [b"1", b"2", b"3", b"4"]
            with UdpEndpoint.connect("peer.test", port) as connected:
                assert connected.remote_address == Endpoint("127.0.0.2", port)
                connected.send(b"5")
                assert peer.recv(timeout=5) == b"5"
    names = ["me.test", "localhost", "peer.test", "peer.test", "localhost", "peer.test"]
    assert fake.asked == names


def test_aio_udp_by_name(run: Run) -> None:
    async def main() -> list[str]:
        with fake_resolver({"peer.test": "127.0.0.2", "me.test": "127.0.0.3"}) as fake:
            async with await aio.UdpEndpoint.bind("127.0.0.2") as peer:
                port = peer.address.port
                async with await aio.UdpEndpoint.bind("me.test") as sender:
                    assert sender.address.host == "127.0.0.3"
                    await sender.sendto(b"1", Endpoint("peer.test", port))
                    await sender.sendto(b"2", f"peer.test:{port}")
                    assert (await peer.recvfrom(timeout=5)).data == b"1"
                    assert (await peer.recvfrom(timeout=5)).data == b"2"
                async with await aio.UdpEndpoint.connect("peer.test", port) as connected:
                    await connected.send(b"3")
                    assert (await peer.recvfrom(timeout=5)).data == b"3"
                with pytest.raises(LookupFailed, match=r"'other\.test'"):
                    await aio.UdpEndpoint.connect("other.test", port)
        return fake.asked

    assert run(main()) == ["me.test", "peer.test", "peer.test", "peer.test", "other.test"]


class _ThreadNoting(FakeResolver):
    """A fake that notes the thread of each getaddrinfo call."""

    def __init__(self, mapping: dict[str, str]) -> None:
        super().__init__(mapping)
        self.threads: list[threading.Thread] = []

    def getaddrinfo(self, *args: Any, **kwargs: Any) -> Sequence[AddrInfoTuple]:
        self.threads.append(threading.current_thread())
        return super().getaddrinfo(*args, **kwargs)


def test_aio_udp_resolves_a_source_name_off_the_loop(run: Run) -> None:
    # The host is a literal but the source a name: the lookup still runs in the executor.
    resolver = _ThreadNoting({"me.test": "127.0.0.3"})

    async def main() -> threading.Thread:
        async with await aio.UdpEndpoint.bind("127.0.0.2") as peer:
            port = peer.address.port
            with use_resolver(resolver):
                async with await aio.UdpEndpoint.connect(
                    "127.0.0.2", port, source="me.test:0"
                ) as connected:
                    assert connected.address.host == "127.0.0.3"
        return threading.current_thread()

    loop_thread = run(main())
    assert resolver.asked == ["me.test"]
    assert resolver.threads
    assert loop_thread not in resolver.threads


def test_asyncio_executor_threads_see_it() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, host_address, "db.test")

    with fake_resolver({"db.test": "127.0.0.8"}):
        assert asyncio.run(main()) == "127.0.0.8"


def test_the_command_line_lookups(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_resolver({"db.test": ["127.0.0.1", "::1"]}):
        assert main(["lookup", "resolve", "-4", "db.test", "5432"]) == 0
        assert capsys.readouterr().out == "127.0.0.1:5432\tIPv4\ttcp\n"
        assert main(["lookup", "address", "db.test"]) == 0
        assert capsys.readouterr().out == "127.0.0.1\n"
        assert main(["lookup", "reverse", "::1"]) == 0
        assert capsys.readouterr().out.splitlines()[0] == "db.test"
        assert main(["lookup", "address", "nope.test"]) == 1
        assert "not in the fake resolver's mapping" in capsys.readouterr().err


def test_lookup_module_documents_the_hook() -> None:
    for name in ("Resolver", "SystemResolver", "get_resolver", "set_resolver", "use_resolver"):
        assert name in lookup.__all__
        assert getattr(lookup, name).__doc__
