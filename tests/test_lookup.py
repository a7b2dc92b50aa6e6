"""netkit.lookup: loopback names only (no external DNS); the resolver hook
(netkit.lookup.use_resolver, netkit.testing.fake_resolver) stands in for the resolver's
answers and errors."""

from __future__ import annotations

import doctest
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import netkit
from _resolver_util import NoServicesFile, Refusing, Scripted
from netkit import lookup
from netkit._services import BY_NAME, BY_PORT
from netkit.addr import Endpoint, is_loopback, normalize_ip
from netkit.errors import AddressError, LookupFailed
from netkit.lookup import (
    AddrInfo,
    HostInfo,
    SystemResolver,
    host_address,
    hostname,
    resolve,
    reverse,
    service_name,
    service_port,
    use_resolver,
)
from netkit.testing import fake_resolver


@pytest.fixture
def no_resolver() -> Iterator[None]:
    """Fail the test if any lookup reaches the resolver."""
    with use_resolver(Refusing()):
        yield


@pytest.fixture
def no_services_file() -> Iterator[None]:
    """Act as a slim container without /etc/services."""
    with use_resolver(NoServicesFile()):
        yield


def scripted(answers: list[tuple[Any, ...]] | BaseException) -> Any:
    """A use_resolver block in which getaddrinfo gives *answers* (or raises it)."""
    return use_resolver(Scripted(answers))


TCP4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))
TCP6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 80, 0, 0))
UDP4 = (socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", 80))


# --- hostname and resolve ---------------------------------------------------------------


def test_hostname_is_the_systems() -> None:
    assert hostname() == socket.gethostname()
    assert hostname()


def test_resolve_localhost_gives_loopback_addresses() -> None:
    infos = resolve("localhost", 8080)
    assert infos
    for info in infos:
        assert isinstance(info, AddrInfo)
        assert info.family in (socket.AF_INET, socket.AF_INET6)
        assert info.type == socket.SOCK_STREAM
        assert is_loopback(info.endpoint.host)
        assert info.endpoint.port == 8080
        assert info.sockaddr[1] == 8080
    assert len(set(infos)) == len(infos)


def test_resolve_an_ipv4_literal() -> None:
    [info] = resolve("127.0.0.1", 80)
    assert info == AddrInfo(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", TCP4[4])
    assert info.endpoint == Endpoint("127.0.0.1", 80)
    # Unpacks like a getaddrinfo tuple, and feeds socket() and connect() directly.
    family, kind, proto, _canonname, sockaddr = info
    with socket.socket(family, kind, proto) as sock:
        sock.bind((sockaddr[0], 0))
        assert sock.getsockname()[0] == "127.0.0.1"


def test_resolve_an_ipv6_literal_and_a_port_string() -> None:
    [info] = resolve("::1", "0443")
    assert info.family == socket.AF_INET6
    assert info.sockaddr == ("::1", 443, 0, 0)
    assert str(info.endpoint) == "[::1]:443"


def test_resolve_a_service_name_as_port() -> None:
    assert resolve("127.0.0.1", "https")[0].sockaddr == ("127.0.0.1", 443)
    [udp] = resolve("127.0.0.1", "domain", type=socket.SOCK_DGRAM)
    assert (udp.type, udp.proto, udp.sockaddr) == (socket.SOCK_DGRAM, 17, ("127.0.0.1", 53))


def test_resolve_without_a_port_gives_port_zero() -> None:
    assert resolve("127.0.0.1")[0].sockaddr == ("127.0.0.1", 0)


def test_resolve_any_type_gives_stream_and_datagram_only() -> None:
    infos = resolve("127.0.0.1", 7, type=0)
    assert {info.type for info in infos} == {socket.SOCK_STREAM, socket.SOCK_DGRAM}
    assert len(set(infos)) == len(infos)


def test_resolve_own_hostname() -> None:
    try:
        infos = resolve(hostname(), 9)
    except LookupFailed:
        pytest.skip("this machine's host name does not resolve here")
    assert all(info.family in (socket.AF_INET, socket.AF_INET6) for info in infos)


def test_resolve_with_canonical_name() -> None:
    infos = resolve("localhost", canonical=True)
    assert infos[0].canonname  # the resolver's canonical name for localhost


def test_resolve_filters_by_family() -> None:
    [info] = resolve("::1", family=socket.AF_INET6)
    assert info.family == socket.AF_INET6
    with pytest.raises(LookupFailed, match="'::1'") as caught:
        resolve("::1", family=socket.AF_INET)
    assert isinstance(caught.value.__cause__, socket.gaierror)
    assert caught.value.errno == caught.value.__cause__.errno


def test_resolve_zoned_link_local() -> None:
    [info] = resolve("fe80::1%1", 80)
    assert info.sockaddr[3] == 1  # type: ignore[misc]
    assert info.endpoint.host.startswith("fe80::1%")


def test_resolve_deduplicates_in_order() -> None:
    unix = (socket.AF_UNIX, socket.SOCK_STREAM, 0, "", "/tmp/x")
    raw = (socket.AF_INET, socket.SOCK_RAW, 0, "", ("127.0.0.1", 80))
    with scripted([TCP6, TCP4, TCP6, unix, raw, UDP4, TCP4]) as resolver:
        infos = resolve("example.test", 80, type=0)
    assert [tuple(info) for info in infos] == [TCP6, TCP4, UDP4]
    assert resolver.calls == [("example.test", 80, 0, 0, 0, 0)]


def test_resolve_with_nothing_usable_fails() -> None:
    with scripted([(socket.AF_UNIX, socket.SOCK_STREAM, 0, "", "/tmp/x")]):
        with pytest.raises(LookupFailed, match="no IPv4 or IPv6 address"):
            resolve("example.test")


def test_resolver_failure_is_lookup_failed() -> None:
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with scripted(error), pytest.raises(LookupFailed) as caught:
        resolve("nothing.example.test", 80)
    assert str(caught.value) == "cannot resolve 'nothing.example.test': Name or service not known"
    assert caught.value.__cause__ is error
    assert caught.value.errno == socket.EAI_NONAME
    assert isinstance(caught.value, OSError)
    assert isinstance(caught.value, netkit.NetkitError)


@pytest.mark.usefixtures("no_resolver")
@pytest.mark.parametrize("name", ["x.invalid", "INVALID", "a.b.Invalid.", "invalid."])
def test_invalid_domain_fails_at_once(name: str) -> None:
    with pytest.raises(LookupFailed, match=r"\.invalid domain never resolves"):
        resolve(name, 80)
    with pytest.raises(LookupFailed, match=re.escape(repr(name))):
        host_address(name)


def test_invalid_domain_fails_without_fakes() -> None:
    with pytest.raises(LookupFailed, match=r"'no-such-host\.invalid'"):
        resolve("no-such-host.invalid", 443)


@pytest.mark.usefixtures("no_resolver")
@pytest.mark.parametrize(
    "host",
    [
        "",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "10.0.0.010.",
        "host.0X1F",
        "a b",
        "a\tb",
        "nul\0here",
        "x" * 300,
        "1.2.3.4 ",
        "::1::2",
        "[::1]",
        "127.0.0.1:80",
        "http://example.test/",
        "user@example.test",
        "bell\x07",
    ],
)
def test_malformed_hosts_are_address_errors(host: str) -> None:
    with pytest.raises(AddressError) as caught:
        resolve(host, 80)
    assert len(str(caught.value)) < 300
    with pytest.raises(AddressError):
        host_address(host)


def test_over_long_label_is_an_address_error() -> None:
    with pytest.raises(AddressError, match="not a valid host name"):
        resolve("a" * 64 + ".example", 80)


@given(st.from_regex(r"([a-z0-9-]{1,10}\.){0,3}([0-9]{1,12}|0x[0-9a-f]{0,8})\.?", fullmatch=True))
def test_numeric_last_label_never_reaches_the_resolver(host: str) -> None:
    from netkit.addr import is_ip

    if is_ip(host):
        return  # a real address such as 1.2.3.4 is fine
    with pytest.raises(AddressError, match="legacy IPv4 shorthand"):
        resolve(host)


@pytest.mark.parametrize("host", [b"localhost", None, 127])
def test_non_str_host_is_a_type_error(host: object) -> None:
    with pytest.raises(TypeError, match="host must be a str"):
        resolve(host)  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_resolver")
@pytest.mark.parametrize(
    ("port", "error", "message"),
    [
        (-1, AddressError, r"^port -1 is out of range 0\.\.65535$"),
        (65536, AddressError, r"^port 65536 is out of range 0\.\.65535$"),
        ("65536", AddressError, r"^port 65536 is out of range 0\.\.65535$"),
        ("1234567", AddressError, r"^port '1234567' is not 1 to 5 decimal digits$"),
        (10**4000, AddressError, r"^port <13288-bit integer> is out of range 0\.\.65535$"),
        ("", AddressError, "not a service name"),
        ("+80", AddressError, "not a service name"),
        (" 80", AddressError, "not a service name"),
        ("8 0", AddressError, "not a service name"),
        ("١٢", AddressError, "not a service name"),  # Arabic-Indic digits
        (True, TypeError, "^port must be an int or a str, not bool$"),
        (80.0, TypeError, "^port must be an int or a str, not float$"),
        (b"80", TypeError, "^port must be an int or a str, not bytes$"),
    ],
)
def test_bad_ports(port: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        resolve("127.0.0.1", port)  # type: ignore[arg-type]
    assert len(str(caught.value)) < 300


def test_unknown_service_as_port_is_lookup_failed(no_services_file: None) -> None:
    with pytest.raises(LookupFailed, match="unknown tcp service 'no-such-service'"):
        resolve("127.0.0.1", "no-such-service")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": socket.AF_UNIX}, "family must be"),
        ({"family": 99}, "family"),
        ({"type": socket.SOCK_RAW}, "type must be"),
    ],
)
def test_bad_family_or_type(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve("127.0.0.1", **kwargs)  # type: ignore[arg-type]


@given(st.ip_addresses(), st.integers(0, 65535))
def test_any_ip_literal_resolves_to_itself(address: Any, port: int) -> None:
    text = str(address)
    [info] = resolve(text, port)
    assert info.endpoint == Endpoint(normalize_ip(text), port)
    assert info.family == (socket.AF_INET if address.version == 4 else socket.AF_INET6)


# --- host_address ------------------------------------------------------------------------


def test_host_address() -> None:
    assert host_address("localhost") == "127.0.0.1"
    assert host_address("127.0.0.1") == "127.0.0.1"
    with pytest.raises(LookupFailed, match="'::1'"):
        host_address("::1")  # IPv4 only, like gethostbyname


def test_host_address_failure_is_mapped() -> None:
    error = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    class Failing(Refusing):
        def gethostbyname(self, name: str) -> str:
            raise error

    with use_resolver(Failing()), pytest.raises(LookupFailed, match="Temporary") as caught:
        host_address("db.example.test")
    assert caught.value.__cause__ is error
    assert caught.value.errno == socket.EAI_AGAIN


# --- reverse -----------------------------------------------------------------------------


def test_reverse_loopback() -> None:
    info = reverse("127.0.0.1")
    assert isinstance(info, HostInfo)
    assert info.name
    assert "127.0.0.1" in info.addresses
    assert isinstance(info.aliases, tuple)
    assert isinstance(info.addresses, tuple)


def test_reverse_ipv6_loopback_answers_or_fails_cleanly() -> None:
    # ::1 has a name only where the hosts file lists it (not here: the system resolver
    # would ask DNS), so both outcomes come from a fake resolver.
    with fake_resolver({"localhost": ["127.0.0.1", "::1"]}) as resolver:
        assert reverse("::1") == HostInfo("localhost", (), ("::1",))
    assert resolver.asked == ["::1"]
    with fake_resolver({"localhost": "127.0.0.1"}), pytest.raises(LookupFailed) as caught:
        reverse("::1")
    assert str(caught.value) == "no name for '::1': Unknown host"
    assert isinstance(caught.value.__cause__, socket.herror)


def test_reverse_asks_with_the_canonical_address() -> None:
    reverse_entries = {"::ffff:127.0.0.1": ["mapped.example.test", "alias.example.test"]}
    with fake_resolver(reverse=reverse_entries) as resolver:
        info = reverse("::FFFF:127.0.0.1")
    assert resolver.asked == ["::ffff:127.0.0.1"]
    assert info == HostInfo("mapped.example.test", ("alias.example.test",), ("::ffff:127.0.0.1",))


def test_reverse_failure_is_lookup_failed() -> None:
    with fake_resolver(), pytest.raises(LookupFailed) as caught:
        reverse("192.0.2.1")
    assert str(caught.value) == "no name for '192.0.2.1': Unknown host"
    error = caught.value.__cause__
    assert isinstance(error, socket.herror)
    assert caught.value.errno == error.errno == 1


@pytest.mark.usefixtures("no_resolver")
@pytest.mark.parametrize(
    ("ip", "message"),
    [
        ("127.1", "legacy IPv4 shorthand"),
        ("", "must not be empty"),
        ("1.2.3.4.5", "neither an IP address nor a host name"),
        ("::1 ", "whitespace"),
        ("fe80::1%lo", "not an IP address without a zone"),
        pytest.param("x" * 10**6, "longer than", id="megabyte"),
    ],
)
def test_reverse_needs_an_ip_or_a_host_name(ip: str, message: str) -> None:
    with pytest.raises(AddressError, match=message) as caught:
        reverse(ip)
    assert len(str(caught.value)) < 300


def test_reverse_accepts_a_host_name_as_gethostbyaddr_does() -> None:
    # Resolved forward through the hook (its first address), then reversed through it.
    with fake_resolver(
        {"web.example.test": ["192.0.2.5", "2001:db8::5"]},
        reverse={"192.0.2.5": ["web.example.test", "www.example.test"]},
    ) as resolver:
        info = reverse("web.example.test")
        assert info == HostInfo("web.example.test", ("www.example.test",), ("192.0.2.5",))
        assert resolver.asked == ["web.example.test", "192.0.2.5"]
        with pytest.raises(LookupFailed, match=r"nowhere\.example\.test"):
            reverse("nowhere.example.test")
        with pytest.raises(LookupFailed, match="never resolves"):
            reverse("host.invalid")


def test_reverse_of_a_name_answers_as_the_hosts_file_would() -> None:
    with fake_resolver({"lonely.test": "192.0.2.9"}):
        assert reverse("lonely.test") == HostInfo("lonely.test", (), ("192.0.2.9",))


def test_reverse_of_localhost_matches_the_system() -> None:
    assert reverse("localhost").name == socket.gethostbyaddr("localhost")[0]


def test_reverse_type_error() -> None:
    with pytest.raises(TypeError, match="ip must be a str"):
        reverse(b"127.0.0.1")  # type: ignore[arg-type]


# --- services ----------------------------------------------------------------------------


@pytest.mark.parametrize("fallback", [False, True], ids=["system", "builtin"])
def test_services_both_ways(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    if fallback:
        request.getfixturevalue("no_services_file")
    assert service_port("http") == 80
    assert service_port("https") == 443
    assert service_port("HTTPS") == 443
    assert service_port("ssh") == 22
    assert service_port("domain", "udp") == 53
    assert service_port("8080") == 8080
    assert service_name(22) == "ssh"
    assert service_name(443) == "https"
    assert service_name(53, "udp") == "domain"


def test_builtin_table_is_used_without_a_services_file(
    no_services_file: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # If the system were asked, this would fail: the fixture makes it know nothing.
    assert service_port("www") == 80  # an alias
    assert service_port("postgresql") == 5432
    assert service_port("syslog", "udp") == 514
    assert service_name(514, "tcp") == "shell"
    assert service_name(514, "udp") == "syslog"
    with pytest.raises(LookupFailed, match="unknown udp service 'ssh-nope'"):
        service_port("ssh-nope", "udp")


def test_system_lookup_goes_through_getservbyname(monkeypatch: pytest.MonkeyPatch) -> None:
    # The system resolver's failure (the C library's OSError) means "not known here".
    def missing(name: str, protocol: str) -> int:
        raise OSError("service/proto not found")

    monkeypatch.setattr(socket, "getservbyname", missing)
    monkeypatch.setattr(socket, "getservbyport", missing)
    assert service_port("https") == 443  # from the table
    assert service_name(443) == "https"


def test_system_answer_wins_over_the_table() -> None:
    class Local(SystemResolver):
        def getservbyname(self, name: str, protocol: str) -> int:
            return 8443

        def getservbyport(self, port: int, protocol: str) -> str:
            return "local-name"

    with use_resolver(Local()):
        assert service_port("https") == 8443
        assert service_name(443) == "local-name"


def test_unknown_services(no_services_file: None) -> None:
    with pytest.raises(LookupFailed, match="unknown tcp service 'no-such-service'"):
        service_port("no-such-service")
    with pytest.raises(LookupFailed, match="no well-known tcp service on port 65000"):
        service_name(65000)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: service_port("http", "sctp"), ValueError, "protocol must be 'tcp' or 'udp'"),
        (lambda: service_name(80, "TCP"), ValueError, "protocol"),
        (lambda: service_port(""), AddressError, "not a service name"),
        (lambda: service_port("has space"), AddressError, "not a service name"),
        (lambda: service_port("caf\u00e9"), AddressError, "not a service name"),
        pytest.param(
            lambda: service_port("x" * 10**6), AddressError, "not a service name", id="megabyte"
        ),
        (
            lambda: service_port("99999"),
            AddressError,
            r"^port 99999 is out of range 0\.\.65535$",
        ),
        (
            lambda: service_port("000000443"),
            AddressError,
            r"^port '000000443' is not 1 to 5 decimal digits$",
        ),
        (lambda: service_port(80), TypeError, "service name must be a str"),  # type: ignore[arg-type]
        (lambda: service_name(-1), AddressError, r"^port -1 is out of range 0\.\.65535$"),
        (lambda: service_name(65536), AddressError, r"^port 65536 is out of range 0\.\.65535$"),
        (lambda: service_name("22"), TypeError, "^port must be an int, not str$"),  # type: ignore[arg-type]
        (lambda: service_name(True), TypeError, "^port must be an int, not bool$"),
    ],
)
def test_service_errors(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        call()
    assert len(str(caught.value)) < 300


def test_builtin_table_is_consistent() -> None:
    assert len(BY_PORT) >= 150
    for (port, protocol), name in BY_PORT.items():
        assert 0 < port <= 65535
        assert protocol in ("tcp", "udp")
        assert BY_NAME[(name, protocol)] == port
        assert lookup._SERVICE_NAME.fullmatch(name)
    for (name, protocol), port in BY_NAME.items():
        assert name == name.lower()
        assert (port, protocol) in BY_PORT


@pytest.mark.skipif(not Path("/etc/services").exists(), reason="no /etc/services to compare")
def test_builtin_table_agrees_with_the_system() -> None:
    compared = 0
    for (name, protocol), port in BY_NAME.items():
        try:
            system = socket.getservbyname(name, protocol)
        except OSError:
            continue  # not in /etc/services: nothing to compare
        compared += 1
        assert system == port, (name, protocol)
    assert compared > 50


@given(st.sampled_from(sorted(BY_PORT)))
def test_every_builtin_entry_round_trips(entry: tuple[int, str]) -> None:
    port, protocol = entry
    name = BY_PORT[entry]
    with use_resolver(NoServicesFile()):
        assert service_name(port, protocol) == name
        assert service_port(name, protocol) == port
        assert service_port(name.upper(), protocol) == port


def test_exported_from_the_package() -> None:
    assert netkit.resolve is resolve
    assert netkit.AddrInfo is AddrInfo
    assert netkit.HostInfo is HostInfo
    assert netkit.service_port is service_port


def test_docs_examples_run() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "lookups.md"
    if not docs.exists():
        pytest.skip("docs/ not shipped with these tests")
    if host_address("localhost") != "127.0.0.1":
        pytest.skip("the examples expect localhost to be 127.0.0.1")
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(docs), module_relative=False, optionflags=flags)
    assert result.failed == 0
    assert result.attempted > 10
