"""netkit.proxy: the sans-IO PROXY protocol v1/v2 reader, bytes only."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netkit import Endpoint, ProxyProtocolError
from netkit.proxy import (
    SIGNATURE_V2,
    ProxyHeader,
    ProxyHeaderReader,
    SslInfo,
    Tlv,
    crc32c,
    encode_v1,
    encode_v2,
)

V4 = (Endpoint("198.51.100.7", 56324), Endpoint("127.0.0.1", 8080))
V6 = (Endpoint("2001:db8::7", 443), Endpoint("::1", 8443))


def read(data: bytes, **kwargs: int) -> tuple[ProxyHeader, bytes]:
    reader = ProxyHeaderReader(**kwargs)
    header = reader.feed(data)
    assert header is not None
    return header, reader.rest


def test_v1_tcp4_and_tcp6() -> None:
    header, rest = read(b"PROXY TCP4 198.51.100.7 127.0.0.1 56324 8080\r\nGET / HTTP/1.0\r\n")
    assert (header.version, header.command, header.transport) == (1, "PROXY", "stream")
    assert (header.source, header.destination) == V4
    assert rest == b"GET / HTTP/1.0\r\n"
    assert header.size == len(b"PROXY TCP4 198.51.100.7 127.0.0.1 56324 8080\r\n")
    header, rest = read(b"PROXY TCP6 2001:db8::7 ::1 443 8443\r\n")
    assert (header.source, header.destination, rest) == (*V6, b"")


def test_v1_unknown_ignores_the_rest_of_its_line() -> None:
    for line in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n"):
        header, rest = read(line + b"data")
        assert (header.source, header.destination, header.transport) == (None, None, None)
        assert rest == b"data"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\n", "not a PROXY protocol header: starts with b'GET / HTTP/1.1"),
        (b"PROXI", "not a PROXY protocol header"),
        (b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", "'TCP5' is not TCP4, TCP6 or UNKNOWN"),
        (b"PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n", "4 fields separated by single spaces"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", "4 fields"),
        (b"PROXY TCP4 127.1 1.2.3.4 1 2\r\n", "address '127.1' is invalid"),
        (b"PROXY TCP4 ::1 ::1 1 2\r\n", "address '::1' is invalid"),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "address '1.2.3.4' is invalid"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "is invalid"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n", "port '080' is not 0..65535"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", "port 65536 is out of range"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", "port '-1'"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", "no CRLF within 107 bytes"),
        (b"PROXY " + b"A" * 120, "no CRLF within 107 bytes"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.\xff 1 2\r\n", "not ASCII"),
    ],
)
def test_v1_errors(data: bytes, message: str) -> None:
    with pytest.raises(ProxyProtocolError) as info:
        ProxyHeaderReader().feed(data)
    assert message in str(info.value)
    assert len(str(info.value)) < 300


def test_plain_data_is_refused_at_its_first_byte() -> None:
    reader = ProxyHeaderReader()
    with pytest.raises(ProxyProtocolError):
        reader.feed(b"G")


def _v2(command: int, family_transport: int, body: bytes) -> bytes:
    return SIGNATURE_V2 + bytes([command, family_transport]) + len(body).to_bytes(2, "big") + body


def test_v2_inet_inet6_unix_local_unspec() -> None:
    header, rest = read(encode_v2(*V4) + b"hello")
    assert (header.version, header.command, header.transport) == (2, "PROXY", "stream")
    assert (header.source, header.destination, rest) == (*V4, b"hello")
    header, _ = read(encode_v2(*V6, transport="dgram"))
    assert (header.source, header.destination, header.transport) == (*V6, "dgram")
    unix = b"/run/client.sock".ljust(108, b"\0") + b"\0abstract".ljust(108, b"\0")
    header, _ = read(_v2(0x21, 0x31, unix))
    assert (header.source, header.destination) == ("/run/client.sock", "\0abstract")
    header, rest = read(encode_v2(None, None) + b"x")
    assert (header.command, header.source, header.destination, rest) == ("LOCAL", None, None, b"x")
    # LOCAL with an address block: the addresses are ignored (the proxy's own health check)
    header, _ = read(_v2(0x20, 0x11, encode_v2(*V4)[16:]))
    assert (header.command, header.source) == ("LOCAL", None)
    header, _ = read(_v2(0x21, 0x00, b""))
    assert (header.command, header.source, header.transport) == ("PROXY", None, None)


def test_v2_tlvs_are_typed() -> None:
    ssl_value = (
        bytes([0x07]) + (0).to_bytes(4, "big")
        + bytes([0x21, 0, 7]) + b"TLSv1.3"
        + bytes([0x22, 0, 11]) + b"example.com"
        + bytes([0x23, 0, 22]) + b"TLS_AES_128_GCM_SHA256"
    )  # fmt: skip
    tlvs = [
        Tlv(0x01, b"h2"),
        Tlv(0x02, b"example.com"),
        Tlv(0x05, b"id-1"),
        Tlv(0x20, ssl_value),
        Tlv(0x30, b"blue"),
        Tlv(0xE0, b"custom"),
    ]
    header, _ = read(encode_v2(*V4, tlvs=tlvs, checksum=True))
    assert header.alpn == b"h2"
    assert header.authority == "example.com"
    assert header.unique_id == b"id-1"
    assert header.netns == "blue"
    assert header.ssl == SslInfo(
        7, 0, "TLSv1.3", "example.com", "TLS_AES_128_GCM_SHA256", None, None
    )
    assert Tlv(0xE0, b"custom") in header.tlvs
    assert header.tlvs[-1].type == 0x03  # the checksum itself


def test_v2_checksum_is_verified() -> None:
    good = encode_v2(*V4, tlvs=[Tlv(0x02, b"example.com")], checksum=True)
    assert read(good)[0].authority == "example.com"
    bad = bytearray(good)
    bad[20] ^= 0xFF  # an address byte
    with pytest.raises(ProxyProtocolError, match="CRC32C"):
        ProxyHeaderReader().feed(bytes(bad))
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_v2(0x11, 0x11, bytes(12)), "version 1, not 2"),
        (_v2(0x22, 0x11, bytes(12)), "command 2 is not LOCAL or PROXY"),
        (_v2(0x21, 0x41, bytes(12)), "address family 4 is unknown"),
        (_v2(0x21, 0x13, bytes(12)), "transport 3 is unknown"),
        (_v2(0x21, 0x11, bytes(11)), "INET addresses need 12 bytes, the header has 11"),
        (_v2(0x21, 0x21, bytes(35)), "INET6 addresses need 36 bytes"),
        (_v2(0x21, 0x31, bytes(200)), "UNIX addresses need 216 bytes"),
        (_v2(0x21, 0x11, bytes(12) + b"\x01\x00"), "TLV truncated: 2 bytes left"),
        (_v2(0x21, 0x11, bytes(12) + b"\x01\x00\x05ab"), "announces 5 bytes, 2 are left"),
        (_v2(0x21, 0x11, bytes(12) + b"\x05\x00\x81" + bytes(129)), "unique ID of 129 bytes"),
        (_v2(0x21, 0x11, bytes(12) + b"\x20\x00\x02ab"), "SSL TLV of 2 bytes is under 5"),
        (_v2(0x21, 0x11, bytes(12) + b"\x03\x00\x02ab"), "CRC32C TLV has 2 bytes, not 4"),
        (SIGNATURE_V2[:5] + b"X", "not a PROXY protocol header"),
    ],
)
def test_v2_errors(data: bytes, message: str) -> None:
    with pytest.raises(ProxyProtocolError) as info:
        ProxyHeaderReader().feed(data)
    assert message in str(info.value)


def test_v2_size_is_bounded_before_the_bytes_arrive() -> None:
    reader = ProxyHeaderReader(max_size=300)
    with pytest.raises(ProxyProtocolError, match="header of 316 bytes is over the limit of 300"):
        reader.feed(SIGNATURE_V2 + b"\x21\x11" + struct.pack("!H", 300))
    with pytest.raises(ValueError, match="max_size must be >= 232"):
        ProxyHeaderReader(max_size=100)


def test_feeding_after_the_header_is_a_mistake() -> None:
    reader = ProxyHeaderReader()
    assert reader.feed(b"PROXY UNKNOWN\r\n") is not None
    assert reader.header is not None
    with pytest.raises(RuntimeError):
        reader.feed(b"more")


ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str).filter(lambda a: "." not in a)
ports = st.integers(0, 65535)
endpoint_pairs = st.one_of(
    st.tuples(st.builds(Endpoint, ipv4, ports), st.builds(Endpoint, ipv4, ports)),
    st.tuples(st.builds(Endpoint, ipv6, ports), st.builds(Endpoint, ipv6, ports)),
)


@given(endpoint_pairs, st.binary(max_size=40), st.data(), st.booleans())
def test_any_split_gives_the_same_header(
    pair: tuple[Endpoint, Endpoint], payload: bytes, data: st.DataObject, v2: bool
) -> None:
    wire = (encode_v2(*pair, checksum=True) if v2 else encode_v1(*pair)) + payload
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    reader = ProxyHeaderReader()
    header = None
    after = b""
    start = 0
    for cut in [*cuts, len(wire)]:
        piece, start = wire[start:cut], cut
        if header is None:
            header = reader.feed(piece)
            after = reader.rest
        else:
            after += piece
    assert header is not None
    assert (header.source, header.destination) == pair
    assert after == payload


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_header_or_proxy_protocol_error(data: bytes) -> None:
    errors: list[str] = []
    try:
        ProxyHeaderReader().feed(data)
    except ProxyProtocolError as exc:
        errors.append(str(exc))
    assert all(len(message) < 400 for message in errors)


@given(st.binary(max_size=200))
def test_arbitrary_v2_bodies_give_a_header_or_proxy_protocol_error(body: bytes) -> None:
    for command in (0x20, 0x21):
        for family in (0x00, 0x11, 0x21, 0x31, 0x12):
            try:
                header = ProxyHeaderReader().feed(_v2(command, family, body))
                if header is not None:
                    _ = header.ssl, header.authority, header.netns
            except ProxyProtocolError:
                pass


def test_encoders_refuse_what_the_protocol_cannot_carry() -> None:
    with pytest.raises(ValueError, match="one family"):
        encode_v1(V4[0], V6[1])
    with pytest.raises(ValueError, match="one family"):
        encode_v2(Endpoint("example.com", 1), V4[1])
    with pytest.raises(ValueError, match="both"):
        encode_v2(V4[0], None)
    assert encode_v1(None, None) == b"PROXY UNKNOWN\r\n"
