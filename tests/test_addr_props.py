"""Property tests for netkit.addr: round trips, agreement with inet_pton and ipaddress."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from netkit import addr
from netkit.addr import (
    Endpoint,
    is_ip,
    is_ipv4,
    is_ipv6,
    normalize_ip,
    pack_ip,
    parse_endpoint,
    unpack_ip,
)
from netkit.errors import AddressError

# --- strategies -----------------------------------------------------------------------

ipv4_text = st.integers(0, 2**32 - 1).map(lambda n: socket.inet_ntoa(n.to_bytes(4, "big")))

# Words biased towards zeros, so '::' runs, ties and mapped/compatible forms show up.
_word = st.one_of(st.just(0), st.just(0xFFFF), st.integers(0, 0xFFFF))


def pack_words(words: list[int]) -> bytes:
    return b"".join(w.to_bytes(2, "big") for w in words)


@st.composite
def ipv6_text(draw: st.DrawFn) -> str:
    """Any valid spelling of an IPv6 address: case, padding, '::' choice, dotted tail."""
    words = draw(st.lists(_word, min_size=8, max_size=8))
    if draw(st.booleans()):
        words[:5] = [0] * 5
        words[5] = draw(st.sampled_from([0, 0xFFFF]))

    def group(w: int) -> str:
        digits = f"{w:x}".zfill(draw(st.integers(1, 4)))
        return digits.upper() if draw(st.booleans()) else digits

    dotted = draw(st.booleans())
    tail: list[str] = []
    if dotted:
        tail = [".".join(str(b) for b in pack_words(words[6:]))]
        words = words[:6]
    parts = [group(w) for w in words]
    # Optionally compress one run of zero groups (any length >= 1) into '::'.
    runs = [
        (i, j)
        for i in range(len(words))
        for j in range(i + 1, len(words) + 1)
        if all(w == 0 for w in words[i:j])
    ]
    compress = draw(st.booleans())
    if runs and compress:
        i, j = draw(st.sampled_from(runs))
        return ":".join(parts[:i]) + "::" + ":".join(parts[j:] + tail)
    return ":".join(parts + tail)


zone = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="%/[]"),
    min_size=1,
    max_size=64,
).filter(lambda z: not z.isdigit() or int(z) <= 0xFFFFFFFF)  # an index fits 32 bits
valid_ip = st.one_of(ipv4_text, ipv6_text())
valid_zoned = st.builds(lambda a, z: f"{a}%{z}", ipv6_text(), zone)

_noise = st.sampled_from(
    [
        *"0123456789abcdefABCDEF:.%x/[] \t\n\r\x00\x0b\u00a0\u0661\uff11\u2028-+_",
        *["00", "::", ".0", "0x", "%eth0", "255", "256", "ffff", "12345"],
    ]
)


@st.composite
def near_miss(draw: st.DrawFn) -> str:
    """A valid address with a few insertions, deletions, replacements or padding."""
    text = draw(st.one_of(valid_ip, valid_zoned))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "pad", "zero"]))
        pos = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:pos] + draw(_noise) + text[pos:]
        elif op == "delete" and text:
            text = text[: max(pos - 1, 0)] + text[pos:]
        elif op == "replace" and pos < len(text):
            text = text[:pos] + draw(_noise) + text[pos + 1 :]
        elif op == "pad":
            text = draw(st.sampled_from([" ", "\n", "\t", "\x00"])) + text
        elif op == "zero":
            text = text.replace(".", ".0", 1) if draw(st.booleans()) else "0" + text
    return text


def _pton_ok(family: int, text: str) -> bool:
    try:
        socket.inet_pton(family, text)
    except (OSError, ValueError):
        return False
    return True


def _strict_zoned(text: str) -> bool:
    """The spec for zoned IPv6, written independently of netkit's code."""
    address, pct, z = text.partition("%")
    return (
        bool(pct)
        and 1 <= len(z) <= 64
        and all(0x21 <= ord(c) <= 0x7E and c not in "%/[]" for c in z)
        # a numeric zone is an interface index, which the kernel keeps in 32 bits
        and not (z.isascii() and z.isdigit() and int(z) > 0xFFFFFFFF)
        and _pton_ok(socket.AF_INET6, address)
    )


# --- agreement with the C library and the reference parser -----------------------------


@given(st.one_of(valid_ip, valid_zoned, near_miss(), st.text(max_size=60)))
@example("::ffff:01.2.3.4")
@example("1:2:3:4:5:6:7::")
@example("1.2.3.4\n")
@example("\u0661.2.3.4")
def test_is_functions_agree_with_inet_pton(text: str) -> None:
    # No intentional difference on this platform: glibc's inet_pton is already strict
    # (the self-test in addr checks the cases where other C libraries are known to be lax).
    v4 = _pton_ok(socket.AF_INET, text)
    v6 = _pton_ok(socket.AF_INET6, text)
    assert is_ipv4(text) is v4
    assert is_ipv6(text) is v6
    assert is_ip(text) is (v4 or v6)
    assert is_ipv6(text, allow_zone=True) is (v6 or _strict_zoned(text))
    # ... and with netkit's pure-Python reference parser (the fallback on lax platforms).
    assert (addr._parse_ipv4_py(text) is not None) is v4
    ref6 = addr._parse_ipv6_py(text)
    assert (ref6 is not None) is v6
    if v6:
        assert ref6 == socket.inet_pton(socket.AF_INET6, text)


@given(st.one_of(valid_ip, near_miss()))
def test_fallback_backend_matches_fast_path(text: str) -> None:
    expected = normalize_or_none(text)
    saved = addr._pton, addr._ntop
    addr._pton, addr._ntop = addr._strict_pton, addr._strict_ntop
    try:
        assert normalize_or_none(text) == expected
    finally:
        addr._pton, addr._ntop = saved


def normalize_or_none(text: str) -> str | None:
    try:
        return normalize_ip(text)
    except AddressError:
        return None


# --- canonical text -------------------------------------------------------------------


@given(valid_ip)
def test_pack_unpack_round_trip(text: str) -> None:
    assert unpack_ip(pack_ip(text)) == normalize_ip(text)


@given(st.one_of(valid_ip, valid_zoned))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_ip(text)
    assert normalize_ip(once) == once


@given(st.one_of(valid_ip, valid_zoned))
def test_normalize_matches_ipaddress(text: str) -> None:
    ours = normalize_ip(text)
    theirs = ipaddress.ip_address(text)
    if isinstance(theirs, ipaddress.IPv6Address) and theirs.ipv4_mapped is not None:
        # The documented difference: RFC 5952 section 5 prints mapped addresses dotted;
        # ipaddress on 3.11 prints them in hex (newer releases dotted: gh-87799).
        zone = f"%{theirs.scope_id}" if theirs.scope_id else ""
        assert ours == f"::ffff:{theirs.ipv4_mapped}{zone}"
    else:
        assert ours == str(theirs)


@given(st.binary(min_size=16, max_size=16))
def test_unpack_matches_reference_formatter(data: bytes) -> None:
    assert unpack_ip(data) == addr._format_ipv6_py(data)
    assert pack_ip(unpack_ip(data)) == data


# --- endpoints ------------------------------------------------------------------------

_label = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?", fullmatch=True)
_last_label = _label.filter(lambda s: not s.isdigit() and not s.lower().startswith("0x"))
hostname = st.builds(
    lambda labels, last, dot: ".".join([*labels, last]) + dot,
    st.lists(_label, max_size=4),
    _last_label,
    st.sampled_from(["", "."]),
)
port = st.integers(0, 65535)


@given(st.one_of(ipv4_text, ipv6_text(), valid_zoned, hostname), port)
def test_parse_endpoint_round_trip(host: str, number: int) -> None:
    endpoint = Endpoint(host, number)
    assert parse_endpoint(str(endpoint)) == endpoint
    assert hash(parse_endpoint(str(endpoint))) == hash(endpoint)
    if endpoint.family is None:
        assert endpoint.host == host.lower()
    else:
        assert endpoint.host == normalize_ip(host)


@given(st.one_of(ipv6_text(), valid_zoned), port)
def test_bare_ipv6_takes_the_default_port(host: str, number: int) -> None:
    assert parse_endpoint(host, default_port=number) == Endpoint(host, number)
    assert parse_endpoint(f"[{host}]", default_port=number) == Endpoint(host, number)


@given(st.from_regex(r"[0-9]{1,5}", fullmatch=True))
def test_port_digits(digits: str) -> None:
    if int(digits) <= 65535:
        assert parse_endpoint(f"h:{digits}").port == int(digits)
    else:
        with pytest.raises(AddressError):
            parse_endpoint(f"h:{digits}")


# --- arbitrary text never escapes as anything but AddressError ---------------------------

_any_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from("0123456789abcdef:.[]%x \n\x00\u0661")),
    near_miss(),
    st.builds(lambda a, b: a + ":" + b, near_miss(), st.text(max_size=8)),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(1000, 50_000)),
)


@given(_any_text)
def test_arbitrary_text_only_raises_address_error(text: str) -> None:
    for check in (is_ipv4, is_ipv6, is_ip):
        assert check(text) in (True, False)
    assert is_ipv6(text, allow_zone=True) in (True, False)
    assert addr.ip_version(text, allow_zone=True) in (4, 6, None)
    for parse in (
        normalize_ip,
        pack_ip,
        parse_endpoint,
        addr.is_loopback,
        addr.is_private,
        addr.is_global,
        addr.classify,
    ):
        try:
            parse(text)
        except AddressError as exc:
            message = str(exc)
            assert len(message) < 300
    try:
        parse_endpoint(text, default_port=80)
    except AddressError:
        pass
    reason = addr.why_invalid(text, allow_zone=True)
    assert (reason is None) is is_ip(text, allow_zone=True)


_zone_chars = st.one_of(
    st.sampled_from("%/[] \t\n\x00\x7f\u00e9\u0661"),
    st.characters(min_codepoint=0x21, max_codepoint=0x7E),
)


@given(ipv6_text(), st.one_of(st.text(max_size=70), st.text(_zone_chars, max_size=70)))
@example("fe80::1", "a" * 65)
@example("fe80::1", "eth0\n")
@example("fe80::1", "4294967296")
@example("fe80::1", "4294967295")
def test_zone_rule(address: str, zone_text: str) -> None:
    text = f"{address}%{zone_text}"
    expected = _strict_zoned(text)
    assert is_ipv6(text, allow_zone=True) is expected
    assert is_ipv6(text) is False
    if expected:
        assert normalize_ip(text) == normalize_ip(address) + "%" + zone_text
    else:
        with pytest.raises(AddressError):
            normalize_ip(text)


_hostish = st.one_of(
    hostname,
    st.text(alphabet=st.sampled_from("aZ09-._x"), max_size=80),
    st.builds(lambda n, c: c * n, st.integers(60, 260), st.sampled_from(["a", "a.", "ab-"])),
)


@given(_hostish)
def test_endpoint_and_parser_agree_on_hostnames(text: str) -> None:
    # Endpoint() uses one regex on its fast path, parse_endpoint the label-by-label
    # checker that explains failures; they must accept exactly the same names.
    try:
        host = Endpoint(text, 1).host
    except AddressError:
        host = None
    try:
        parsed = parse_endpoint(text, default_port=1).host
    except AddressError:
        parsed = None
    assert host == parsed
    if host is not None and not is_ipv4(text):
        assert addr._hostname_problem(text) is None
        assert host == text.lower()
