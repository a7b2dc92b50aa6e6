"""Example tests for netkit.addr: the tricky inputs, endpoints, classification."""

from __future__ import annotations

import dataclasses
import ipaddress
import pickle
import socket
from collections.abc import Callable
from typing import Any

import pytest

import netkit
from netkit import addr
from netkit._core import checks
from netkit.addr import (
    Endpoint,
    classify,
    ip_version,
    is_global,
    is_ip,
    is_ipv4,
    is_ipv6,
    is_loopback,
    is_private,
    normalize_ip,
    pack_ip,
    parse_endpoint,
    unpack_ip,
    why_invalid,
)
from netkit.errors import AddressError, NetkitError


@pytest.fixture(params=["c", "python"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the C fast path and on the pure-Python fallback."""
    if request.param == "python":
        monkeypatch.setattr(addr, "_pton", addr._strict_pton)
        monkeypatch.setattr(addr, "_ntop", addr._strict_ntop)
    return str(request.param)


def test_c_library_is_strict_here() -> None:
    # The fast path is only used where the self-test passed; on glibc it does.
    assert addr.C_LIBRARY_STRICT is True
    assert addr._pton is socket.inet_pton


def test_top_level_exports() -> None:
    assert netkit.Endpoint is Endpoint
    assert netkit.parse_endpoint is parse_endpoint
    assert netkit.normalize_ip is normalize_ip


# --- the seed cases -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("::", True),
        ("aaaa:bbbb:cccc:dddd::1", True),
        ("1:2:3:4:5:6:7:8:9:10", False),
        ("12:10", False),
    ],
)
def test_validip6addr_examples(backend: str, text: str, expected: bool) -> None:
    assert is_ipv6(text) is expected


@pytest.mark.parametrize("text", ["127.0.0.1", "0.0.0.0", "255.255.255.255", "10.1.2.3"])
def test_inet_aton_ntoa_round_trip(backend: str, text: str) -> None:
    assert pack_ip(text) == socket.inet_aton(text)
    assert unpack_ip(socket.inet_aton(text)) == socket.inet_ntoa(pack_ip(text)) == text


# --- tricky inputs: (text, is_ipv4, is_ipv6, is_ipv6 with zones) ------------------------

TRICKY = [
    ("127.0.0.1", True, False, False),
    ("127.1", False, False, False),
    ("0127.0.0.1", False, False, False),
    ("010.8.8.8", False, False, False),  # CVE-2021-29921: octal to some, decimal to others
    ("1.2.3.04", False, False, False),
    ("0x7f.0.0.1", False, False, False),
    ("2130706433", False, False, False),
    ("256.1.1.1", False, False, False),
    ("1.2.3", False, False, False),
    ("1.2.3.4.", False, False, False),
    ("1.2.3.4\n", False, False, False),
    (" 1.2.3.4", False, False, False),
    ("1.2.3.4 ", False, False, False),
    ("1.2.3.4\x00", False, False, False),
    ("\u0661\u0662\u0667.0.0.1", False, False, False),  # Arabic-Indic digits
    ("\uff11.2.3.4", False, False, False),  # fullwidth digit one
    ("", False, False, False),
    ("::ffff:1.2.3.4", False, True, True),
    ("::1.2.3.4", False, True, True),
    ("::ffff:01.2.3.4", False, False, False),
    ("1::2::3", False, False, False),
    ("12345::", False, False, False),
    ("1:2:3:4:5:6:7:8::", False, False, False),
    ("1:2:3:4:5:6:7::", False, True, True),
    ("1.2.3.4::", False, False, False),
    (":1::", False, False, False),
    ("fe80::1%eth0", False, False, True),
    ("fe80::1%1", False, False, True),
    ("fe80::1%eth0\n", False, False, False),
    ("fe80::1%", False, False, False),
    ("fe80::1%eth 0", False, False, False),
    ("fe80::1%a/b", False, False, False),
    ("fe80::1%a%b", False, False, False),
    ("fe80::1%[x]", False, False, False),
    ("fe80::1%" + "a" * 64, False, False, True),
    ("fe80::1%" + "a" * 65, False, False, False),
    ("fe80::1%\u00e9", False, False, False),
    ("[::1]", False, False, False),
    ("::1\x00", False, False, False),
]


@pytest.mark.parametrize(("text", "v4", "v6", "v6_zone"), TRICKY)
def test_tricky_inputs(backend: str, text: str, v4: bool, v6: bool, v6_zone: bool) -> None:
    assert is_ipv4(text) is v4
    assert is_ipv6(text) is v6
    assert is_ipv6(text, allow_zone=True) is v6_zone
    assert is_ip(text) is (v4 or v6)
    assert is_ip(text, allow_zone=True) is (v4 or v6_zone)
    assert ip_version(text) == (4 if v4 else 6 if v6 else None)
    assert (why_invalid(text, allow_zone=True) is None) is (v4 or v6_zone)
    if v4 or v6_zone:
        normalize_ip(text)
    else:
        with pytest.raises(AddressError):
            normalize_ip(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("010.8.8.8", "leading zero"),
        ("127.1", "4 dotted parts"),
        ("1.2.3.4\n", "'\\n'"),
        ("\uff11.2.3.4", "non-ASCII character '\\uff11'"),
        ("1::2::3", "'::' appears more than once"),
        ("12345::", "more than 4 hex digits"),
        ("::ffff:01.2.3.4", "embedded IPv4 part '01' has a leading zero"),
        ("fe80::1%eth0", "zone ('%...') not allowed"),
        ("1.2.3.4%eth0", "only valid on IPv6"),
        ("not-an-ip", "not an IPv4 or IPv6 address"),
        ("", "empty"),
    ],
)
def test_reasons(text: str, reason: str) -> None:
    message = why_invalid(text)
    assert message is not None
    assert reason in message


def test_zone_accepted_only_when_asked() -> None:
    assert why_invalid("fe80::1%eth0", allow_zone=True) is None
    assert ip_version("fe80::1%eth0") is None
    assert ip_version("fe80::1%eth0", allow_zone=True) == 6


@pytest.mark.parametrize("bad", [b"1.2.3.4", 1234, None, ["1.2.3.4"], bytearray(b"::1")])
def test_non_str_is_type_error(bad: Any) -> None:
    funcs: list[Callable[[Any], object]] = [is_ipv4, is_ipv6, is_ip, ip_version, normalize_ip]
    funcs += [pack_ip, is_loopback, is_private, is_global, classify, parse_endpoint]
    for func in funcs:
        with pytest.raises(TypeError):
            func(bad)


def test_surrogates_and_huge_input_are_just_false() -> None:
    huge = "1" * 1_000_000
    for text in ("\ud800", "1.2.3.4\udcff", huge, "::" + huge, "\x00" * 1000):
        assert is_ipv4(text) is False
        assert is_ipv6(text, allow_zone=True) is False
        assert is_ip(text, allow_zone=True) is False


@pytest.mark.parametrize(
    "text", ["x" * 1_000_000, "1." * 500_000, "::" + "a" * 1_000_000, "fe80::1%" + "z" * 10**6]
)
def test_error_messages_are_bounded(text: str) -> None:
    for func in (normalize_ip, pack_ip, is_global, parse_endpoint):
        with pytest.raises(AddressError) as info:
            func(text)
        assert len(str(info.value)) < 300
    with pytest.raises(AddressError) as info:
        Endpoint(text, 80)
    assert len(str(info.value)) < 300


def test_address_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="leading zero"):
        normalize_ip("010.8.8.8")
    assert issubclass(AddressError, NetkitError)


# --- canonical text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2001:DB8::0:1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),  # the longest run
        ("1:0:0:1:0:0:1:1", "1::1:0:0:1:1"),  # first on a tie
        ("1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"),  # a single zero group is not compressed
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("0:0:0:0:0:0:0:0", "::"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::FFFF:0102:0304", "::ffff:1.2.3.4"),
        ("::ffff:0.0.0.0", "::ffff:0.0.0.0"),
        ("::1.2.3.4", "::102:304"),  # IPv4-compatible (deprecated): hex, unlike glibc
        ("::0.1.0.0", "::1:0"),
        ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),  # SIIT, not mapped: hex
        ("64:ff9b::1.2.3.4", "64:ff9b::102:304"),
        ("1::1.2.3.4", "1::102:304"),
        ("FE80::1%Eth0", "fe80::1%Eth0"),  # the zone is kept exactly
        ("fe80:0::1%1", "fe80::1%1"),
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
    ],
)
def test_normalize_ip(backend: str, text: str, canonical: str) -> None:
    assert normalize_ip(text) == canonical
    assert normalize_ip(canonical) == canonical


def test_pack_unpack() -> None:
    assert pack_ip("::1") == b"\0" * 15 + b"\1"
    assert pack_ip("1.2.3.4") == b"\1\2\3\4"
    assert unpack_ip(bytearray(b"\1\2\3\4")) == "1.2.3.4"
    assert unpack_ip(memoryview(b"\0" * 12 + b"\1\2\3\4")) == "::102:304"
    assert unpack_ip(b"\0" * 10 + b"\xff\xff\1\2\3\4") == "::ffff:1.2.3.4"
    for size in (0, 3, 5, 15, 17):
        with pytest.raises(AddressError):
            unpack_ip(b"\1" * size)
    for bad in ("1.2.3.4", 16, None):
        with pytest.raises(TypeError):
            unpack_ip(bad)  # type: ignore[arg-type]


def test_pack_refuses_a_zone() -> None:
    # A packed address has nowhere to keep the zone; dropping it silently would
    # change which interface traffic goes out of.
    with pytest.raises(AddressError, match="zone"):
        pack_ip("fe80::1%eth0")
    with pytest.raises(AddressError):
        pack_ip("010.1.1.1")


# --- classification -------------------------------------------------------------------

# (address, loopback, private, global, category)
CLASSES = [
    ("127.0.0.1", True, False, False, "loopback"),
    ("127.255.255.254", True, False, False, "loopback"),
    ("::1", True, False, False, "loopback"),
    ("::ffff:127.0.0.1", True, False, False, "loopback"),
    ("169.254.169.254", False, False, False, "link-local"),  # cloud metadata
    ("::ffff:169.254.169.254", False, False, False, "link-local"),
    ("fe80::1", False, False, False, "link-local"),
    ("fe80::1%eth0", False, False, False, "link-local"),
    ("100.64.0.1", False, False, False, "shared"),
    ("192.0.2.1", False, False, False, "documentation"),
    ("198.51.100.7", False, False, False, "documentation"),
    ("203.0.113.9", False, False, False, "documentation"),
    ("2001:db8::1", False, False, False, "documentation"),
    ("198.18.0.1", False, False, False, "benchmarking"),
    ("10.0.0.1", False, True, False, "private"),
    ("172.16.0.1", False, True, False, "private"),
    ("172.31.255.255", False, True, False, "private"),
    ("172.32.0.1", False, False, True, "global"),
    ("192.168.1.1", False, True, False, "private"),
    ("::ffff:10.1.1.1", False, True, False, "private"),
    ("fd00::1", False, True, False, "private"),
    ("fc00::1", False, True, False, "private"),
    ("0.0.0.0", False, False, False, "unspecified"),
    ("0.1.2.3", False, False, False, "this-network"),
    ("::", False, False, False, "unspecified"),
    ("255.255.255.255", False, False, False, "broadcast"),
    ("240.0.0.1", False, False, False, "reserved"),
    ("224.0.0.1", False, False, False, "multicast"),
    ("ff02::1", False, False, False, "multicast"),
    ("8.8.8.8", False, False, True, "global"),
    ("1.1.1.1", False, False, True, "global"),
    ("::ffff:8.8.8.8", False, False, True, "global"),
    ("2606:4700::1111", False, False, True, "global"),
    ("2001:4860:4860::8888", False, False, True, "global"),
    ("192.0.0.9", False, False, True, "global"),  # PCP anycast: an exception in 192.0.0/24
    ("192.0.0.8", False, False, False, "reserved"),
    ("64:ff9b::808:808", False, False, True, "global"),  # NAT64 to 8.8.8.8
    ("64:ff9b::a00:1", False, False, False, "private"),  # NAT64 to 10.0.0.1
    ("64:ff9b::7f00:1", False, False, False, "loopback"),
    ("64:ff9b:1::1", False, False, False, "reserved"),
    ("2002:c000:201::1", False, False, False, "reserved"),  # 6to4: IANA says N/A
    ("2001::1", False, False, False, "reserved"),  # Teredo
    ("2001:2::1", False, False, False, "benchmarking"),
    ("2001:4:112::1", False, False, True, "global"),
    ("3fff::1", False, False, False, "documentation"),
    ("::1.2.3.4", False, False, False, "reserved"),  # IPv4-compatible: deprecated
    ("4000::1", False, False, False, "reserved"),  # outside 2000::/3
    ("fec0::1", False, False, False, "reserved"),
]


@pytest.mark.parametrize(("text", "loopback", "private", "global_", "category"), CLASSES)
def test_classification(
    text: str, loopback: bool, private: bool, global_: bool, category: str
) -> None:
    assert is_loopback(text) is loopback
    assert is_private(text) is private
    assert is_global(text) is global_
    assert classify(text) == category
    assert (category == "global") is global_


@pytest.mark.parametrize("text", ["010.0.0.1", "127.1", "2130706433", "localhost", ""])
def test_classification_of_invalid_text_raises(text: str) -> None:
    for func in (is_loopback, is_private, is_global, classify):
        with pytest.raises(AddressError):
            func(text)


def test_classification_agrees_with_ipaddress_for_ipv4_globals() -> None:
    # Spot check against the standard library on plain IPv4 (it has no multicast rule).
    for text in ("8.8.8.8", "10.0.0.1", "100.64.0.1", "192.0.2.1", "169.254.1.1"):
        assert is_global(text) == ipaddress.ip_address(text).is_global


# --- Endpoint ---------------------------------------------------------------------------


def test_endpoint_str_and_family() -> None:
    assert str(Endpoint("1.2.3.4", 80)) == "1.2.3.4:80"
    assert str(Endpoint("::1", 80)) == "[::1]:80"
    assert str(Endpoint("fe80::1%eth0", 80)) == "[fe80::1%eth0]:80"
    assert str(Endpoint("example.com", 443)) == "example.com:443"
    assert Endpoint("1.2.3.4", 80).family == socket.AF_INET
    assert Endpoint("::1", 80).family == socket.AF_INET6
    assert Endpoint("example.com", 80).family is None
    assert repr(Endpoint("::1", 8)) == "Endpoint(host='::1', port=8)"


def test_endpoint_canonical_and_hashable() -> None:
    assert Endpoint("2001:DB8::0:1", 80).host == "2001:db8::1"
    assert Endpoint("2001:DB8::0:1", 80) == Endpoint("2001:db8::1", 80)
    assert Endpoint("Example.COM", 1) == Endpoint("example.com", 1)
    assert len({Endpoint("::1", 1), Endpoint("0::1", 1), Endpoint("::1", 2)}) == 2
    assert pickle.loads(pickle.dumps(Endpoint("::1", 9))) == Endpoint("::1", 9)


def test_endpoint_is_frozen() -> None:
    e = Endpoint("::1", 80)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.port = 81  # type: ignore[misc]
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
        e.extra = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("host", "port", "error"),
    [
        ("1.2.3.4", -1, AddressError),
        ("1.2.3.4", 65536, AddressError),
        ("1.2.3.4", True, TypeError),
        ("1.2.3.4", 80.0, TypeError),
        ("1.2.3.4", "80", TypeError),
        (b"1.2.3.4", 80, TypeError),
        ("", 80, AddressError),
        ("[::1]", 80, AddressError),
        ("127.1", 80, AddressError),
        ("010.8.8.8", 80, AddressError),
        ("1.2.3.4 ", 80, AddressError),
        ("fe80::1%", 80, AddressError),
        ("bad_name", 80, AddressError),
        ("a..b", 80, AddressError),
    ],
)
def test_endpoint_validates(host: object, port: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        Endpoint(host, port)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("port", "error", "message"),
    [
        (-1, AddressError, "port -1 is out of range 0..65535"),
        (65536, AddressError, "port 65536 is out of range 0..65535"),
        (10**400, AddressError, "port <1329-bit integer> is out of range 0..65535"),
        (True, TypeError, "port must be an int, not bool"),
        (80.0, TypeError, "port must be an int, not float"),
        ("80", TypeError, "port must be an int, not str"),
    ],
)
def test_endpoint_port_messages(port: object, error: type[Exception], message: str) -> None:
    # One rule, one wording: Endpoint, parse_endpoint's default_port and check_port.
    for call in (
        lambda: Endpoint("1.2.3.4", port),  # type: ignore[arg-type]
        lambda: parse_endpoint("h", default_port=port),  # type: ignore[arg-type]
        lambda: checks.check_port(port, allow_zero=True),
    ):
        with pytest.raises(error) as caught:
            call()
        assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("h:65536", "port 65536 is out of range 0..65535"),
        ("h:99999", "port 99999 is out of range 0..65535"),
        ("h:123456", "port '123456' is not 1 to 5 decimal digits"),
        ("h:", "port '' is not 1 to 5 decimal digits"),
        ("h:+80", "port '+80' is not 1 to 5 decimal digits"),
        ("h:\uff18\uff10", "port '\uff18\uff10' is not 1 to 5 decimal digits"),
    ],
)
def test_endpoint_port_text_messages(text: str, message: str) -> None:
    with pytest.raises(AddressError) as caught:
        parse_endpoint(text)
    assert str(caught.value) == f"invalid endpoint {text!r}: {message}"
    assert checks.parse_port_text(text[2:], allow_zero=True) == message


def test_port_text_rule() -> None:
    assert checks.parse_port_text("080", allow_zero=True) == 80
    assert checks.parse_port_text("0", allow_zero=True) == 0
    assert checks.parse_port_text("00000", allow_zero=True) == 0
    assert checks.parse_port_text("65535", allow_zero=False) == 65535
    assert checks.parse_port_text("0", allow_zero=False) == "port 0 is out of range 1..65535"
    assert checks.parse_port_text("x" * 100, allow_zero=True) == (
        "port 'xxxxxxxxxxxxxxxxxxx... (100 chars) is not 1 to 5 decimal digits"
    )
    with pytest.raises(AddressError, match=r"^port 0 is out of range 1\.\.65535$"):
        checks.check_port(0, allow_zero=False)


def test_endpoint_port_zero_and_max() -> None:
    assert Endpoint("0.0.0.0", 0).port == 0
    assert Endpoint("::", 65535).port == 65535


def test_sockaddr_round_trip() -> None:
    assert Endpoint("1.2.3.4", 80).to_sockaddr() == ("1.2.3.4", 80)
    assert Endpoint("::1", 80).to_sockaddr() == ("::1", 80, 0, 0)
    assert Endpoint("fe80::1%7", 80).to_sockaddr() == ("fe80::1", 80, 0, 7)
    lo = socket.if_nameindex()[0]
    assert Endpoint(f"fe80::1%{lo[1]}", 80).to_sockaddr() == ("fe80::1", 80, 0, lo[0])
    with pytest.raises(AddressError, match="unknown interface"):
        Endpoint("fe80::1%nosuchif0", 80).to_sockaddr()
    assert Endpoint.from_sockaddr(("127.0.0.1", 5)) == Endpoint("127.0.0.1", 5)
    assert Endpoint.from_sockaddr(("::1", 5, 0, 0)) == Endpoint("::1", 5)
    assert Endpoint.from_sockaddr(("fe80::1", 5, 0, 3)).host == "fe80::1%3"
    assert Endpoint.from_sockaddr(("fe80::1%lo", 5, 0, 1)).host == "fe80::1%lo"
    with pytest.raises(TypeError):
        Endpoint.from_sockaddr("127.0.0.1:5")  # type: ignore[arg-type]


def test_sockaddr_from_a_real_socket() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback")
        local = Endpoint.from_sockaddr(s.getsockname())
        assert local.host == "::1"
        assert local.port == s.getsockname()[1]
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as c:
            c.sendto(b"x", local.to_sockaddr())
            assert s.recv(10) == b"x"


# --- parse_endpoint ---------------------------------------------------------------------

GOOD_ENDPOINTS = [
    ("1.2.3.4:80", None, Endpoint("1.2.3.4", 80)),
    ("1.2.3.4:080", None, Endpoint("1.2.3.4", 80)),
    ("1.2.3.4:00000", None, Endpoint("1.2.3.4", 0)),
    ("1.2.3.4:65535", None, Endpoint("1.2.3.4", 65535)),
    ("1.2.3.4", 7, Endpoint("1.2.3.4", 7)),
    ("[::1]:80", None, Endpoint("::1", 80)),
    ("[::1]", 53, Endpoint("::1", 53)),
    ("::1", 53, Endpoint("::1", 53)),
    ("::1:80", 53, Endpoint("::1:80", 53)),  # bare IPv6: the whole text is the host
    ("fe80::1%eth0", 53, Endpoint("fe80::1%eth0", 53)),
    ("[fe80::1%eth0]:80", None, Endpoint("fe80::1%eth0", 80)),
    ("[2001:DB8::0:1]:80", None, Endpoint("2001:db8::1", 80)),
    ("[::ffff:1.2.3.4]:1", None, Endpoint("::ffff:1.2.3.4", 1)),
    ("example.com:443", None, Endpoint("example.com", 443)),
    ("EXAMPLE.com:443", None, Endpoint("example.com", 443)),
    ("example.com.:443", None, Endpoint("example.com.", 443)),
    ("localhost", 8080, Endpoint("localhost", 8080)),
    ("a-b.c1:1", None, Endpoint("a-b.c1", 1)),
    ("1.2.3.4a:1", None, Endpoint("1.2.3.4a", 1)),  # last label not numeric: a name
    ("0xg:1", None, Endpoint("0xg", 1)),
    ("a" * 63 + ".com:1", None, Endpoint("a" * 63 + ".com", 1)),
    (".".join(["a" * 49] * 5) + ":1", None, Endpoint(".".join(["a" * 49] * 5), 1)),  # 249
]


@pytest.mark.parametrize(("text", "default", "expected"), GOOD_ENDPOINTS)
def test_parse_endpoint_good(text: str, default: int | None, expected: Endpoint) -> None:
    got = parse_endpoint(text, default_port=default)
    assert got == expected
    assert parse_endpoint(str(got)) == got


BAD_ENDPOINTS = [
    "",
    ":80",
    "host:",
    "host:+80",
    "host:-1",
    "host: 80",
    "host:80 ",
    " host:80",
    "host:8_0",
    "host:65536",
    "host:123456",
    "host:\uff18\uff10",  # fullwidth digits
    "host:0x50",
    "[::1",
    "[::1]80",
    "[::1]:",
    "[::1]:x",
    "[1.2.3.4]:80",
    "[host]:80",
    "[fe80::1%]:80",
    "[]:80",
    "127.1:80",
    "0x7f000001:80",
    "2130706433",
    "0x7f.1",
    "1.2.3.4.5:80",
    "1.2.3.256:80",
    "010.8.8.8:80",
    "0x:1",
    "a" * 254,
    "-bad.example:80",
    "bad-.example:80",
    "a" * 64 + ".com:80",
    "a..b:80",
    "a.b..:80",
    "under_score.com:80",
    "b\u00fccher.de:80",
    "1:2:3",
    "1::2::3",
    "1.2.3.4%eth0:80",
    "::1%eth0\n",
    "host:80:90",
    "[::1]:80:90",
]


@pytest.mark.parametrize("text", BAD_ENDPOINTS)
def test_parse_endpoint_bad(text: str) -> None:
    with pytest.raises(AddressError):
        parse_endpoint(text, default_port=1)


def test_parse_endpoint_needs_a_port() -> None:
    for text in ("[::1]", "::1", "localhost", "1.2.3.4"):
        with pytest.raises(AddressError, match="no port"):
            parse_endpoint(text)


def test_parse_endpoint_checks_default_port() -> None:
    with pytest.raises(AddressError):
        parse_endpoint("h:1", default_port=70000)
    with pytest.raises(TypeError):
        parse_endpoint("h:1", default_port="80")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_endpoint(b"h:1")  # type: ignore[arg-type]


def test_hostname_length_limits() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters
    assert len(name) == 253
    assert parse_endpoint(name + ":1").host == name
    assert parse_endpoint(name + ".:1").host == name + "."  # trailing dot not counted
    with pytest.raises(AddressError, match="longer than 253"):
        parse_endpoint(name + "d:1")


def test_self_test_rejects_a_lax_c_library(monkeypatch: pytest.MonkeyPatch) -> None:
    # A C library that reads shortforms like inet_aton must not be used as the fast path.
    real = socket.inet_pton

    def lax(family: int, text: str) -> bytes:
        if family == socket.AF_INET:
            return socket.inet_aton(text)
        return real(family, text)

    monkeypatch.setattr(socket, "inet_pton", lax)
    assert addr._c_library_is_strict() is False


def test_self_test_rejects_a_different_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.inet_ntop

    def uncompressed(family: int, packed: bytes) -> str:
        if family == socket.AF_INET6:
            return ":".join(packed[i : i + 2].hex() for i in range(0, 16, 2))
        return real(family, packed)

    monkeypatch.setattr(socket, "inet_ntop", uncompressed)
    assert addr._c_library_is_strict() is False


@pytest.mark.parametrize("zone", ["4294967296", "4294967297", "99999999999", "0" + "9" * 20])
def test_a_numeric_zone_must_fit_32_bits(zone: str) -> None:
    # fe80::1%4294967297 used to be accepted and wrap to interface 1 in the kernel.
    text = f"fe80::1%{zone}"
    assert not addr.is_ipv6(text, allow_zone=True)
    assert not addr.is_ip(text, allow_zone=True)
    with pytest.raises(AddressError, match="is over 32 bits"):
        addr.normalize_ip(text)
    with pytest.raises(AddressError, match="is over 32 bits"):
        addr.parse_endpoint(f"[{text}]:80")
    with pytest.raises(AddressError):
        addr.Endpoint(text, 80)


def test_the_largest_numeric_zone_is_kept() -> None:
    text = "fe80::1%4294967295"
    assert addr.is_ip(text, allow_zone=True)
    assert addr.Endpoint(text, 80).to_sockaddr() == ("fe80::1", 80, 0, 4294967295)
    assert addr.is_ip("fe80::1%0004", allow_zone=True)  # leading zeros: still 4
