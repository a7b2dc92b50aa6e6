"""The IO-free ICMP echo rules (netkit._core.icmp), tested with bytes and a fake clock:
packets, checksums, the four kinds of socket, matching, the schedule, the report."""

from __future__ import annotations

import errno
import math
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netkit._core import icmp
from netkit._core.icmp import PingArgs, PingReply, PingReport, PingSession
from netkit.errors import AddressError, NetkitError, PingNotPermitted

V4, V6 = socket.AF_INET, socket.AF_INET6
TOKEN = bytes(range(1, 9))


def _words_checksum(data: bytes) -> int:
    """RFC 1071 the slow, obvious way: add 16-bit words, fold the carries, invert."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4_header(payload_len: int, *, ihl: int = 5, protocol: int = 1) -> bytes:
    header = bytearray(ihl * 4)
    header[0] = 0x40 | ihl
    header[2:4] = (ihl * 4 + payload_len).to_bytes(2, "big")
    header[8] = 64
    header[9] = protocol
    header[12:16] = bytes((127, 0, 0, 1))
    header[16:20] = bytes((127, 0, 0, 1))
    return bytes(header)


def _reply(family: int, ident: int, seq: int, payload: bytes, *, checksum: bool = True) -> bytes:
    kind = 0 if family == V4 else 129
    body = bytes((kind, 0, 0, 0)) + ident.to_bytes(2, "big") + seq.to_bytes(2, "big") + payload
    if checksum and family == V4:
        value = icmp.checksum(body)
        body = body[:2] + value.to_bytes(2, "big") + body[4:]
    return body


def _args(count: int = 3, timeout: float = 1.0, interval: float = 1.0, size: int = 56) -> PingArgs:
    return icmp.check_args(count, timeout, interval, size, socket.AF_UNSPEC)


def _session(
    family: int = V4, *, raw: bool = False, ident: int = 0x1234, args: PingArgs | None = None
) -> PingSession:
    address = "127.0.0.1" if family == V4 else "::1"
    return PingSession(
        args or _args(),
        family=family,
        address=address,
        raw=raw,
        identifier=ident,
        token=TOKEN,
        start=100.0,
    )


def _payload(size: int = 56) -> bytes:
    return icmp.make_payload(size, TOKEN)


# -- checksum and packets ----------------------------------------------------------------


def test_checksum_known_values() -> None:
    # RFC 1071's example words, and an all-zero packet (whose sum is +0, checksum 0xFFFF).
    assert icmp.checksum(bytes.fromhex("0001f203f4f5f6f7")) == _words_checksum(
        bytes.fromhex("0001f203f4f5f6f7")
    )
    assert icmp.checksum(b"\0\0\0\0") == 0xFFFF
    assert icmp.checksum(b"\xff\xff") == 0  # -0 in ones' complement
    assert icmp.checksum(b"\x01") == ~0x0100 & 0xFFFF  # odd length: padded with 0


@given(st.binary(max_size=300))
def test_checksum_matches_the_word_by_word_sum(data: bytes) -> None:
    assert icmp.checksum(data) == _words_checksum(data)


@given(st.binary(max_size=200))
def test_a_packet_with_its_checksum_sums_to_zero(data: bytes) -> None:
    packet = icmp.echo_request(V4, 7, 9, data)
    assert icmp.checksum(packet) == 0


def test_echo_request_bytes() -> None:
    v4 = icmp.echo_request(V4, 0xABCD, 1, b"hi")
    assert v4[0] == 8
    assert v4[1] == 0
    assert v4[4:8] == b"\xab\xcd\x00\x01"
    assert v4[8:] == b"hi"
    assert int.from_bytes(v4[2:4], "big") == _words_checksum(v4[:2] + b"\0\0" + v4[4:])
    v6 = icmp.echo_request(V6, 0xABCD, 2, b"hi")
    # ICMPv6's checksum covers the source address: the kernel fills it in.
    assert v6 == bytes((128, 0, 0, 0)) + b"\xab\xcd\x00\x02hi"


def test_payload_starts_with_the_token_then_counts() -> None:
    assert icmp.make_payload(0, TOKEN) == b""
    assert icmp.make_payload(3, TOKEN) == TOKEN[:3]
    assert icmp.make_payload(10, TOKEN) == TOKEN + b"\x10\x11"
    assert len(icmp.make_payload(65527, TOKEN)) == 65527


# -- parsing the four kinds --------------------------------------------------------------


@pytest.mark.parametrize(("family", "raw"), [(V4, False), (V6, False), (V6, True)])
def test_parse_without_ip_header(family: int, raw: bool) -> None:
    packet = _reply(family, 5, 6, b"data")
    assert icmp.parse_echo_reply(packet, family, raw) == (5, 6, b"data")


def test_parse_raw_ipv4_strips_the_header_of_its_length() -> None:
    body = _reply(V4, 5, 6, b"data")
    assert icmp.parse_echo_reply(_ipv4_header(len(body)) + body, V4, True) == (5, 6, b"data")
    # With IP options (IHL 6: a 24-byte header).
    with_options = _ipv4_header(len(body), ihl=6) + body
    assert icmp.parse_echo_reply(with_options, V4, True) == (5, 6, b"data")
    # A datagram socket gives no header: the same bytes would be misread, so kinds differ.
    assert icmp.parse_echo_reply(body, V4, True) is None


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x45" + b"\0" * 10,  # shorter than an IPv4 header
        _ipv4_header(8, protocol=17) + _reply(V4, 1, 1, b""),  # UDP, not ICMP
        _ipv4_header(8, ihl=4) + _reply(V4, 1, 1, b""),  # IHL below 5
        b"\x4f" + _ipv4_header(8)[1:] + _reply(V4, 1, 1, b""),  # IHL past the packet
        b"\x60" + b"\0" * 40,  # IPv6 version nibble
        _ipv4_header(4) + b"\0\0\0\0",  # ICMP shorter than its header
        _ipv4_header(10) + _reply(V4, 1, 1, b"xy", checksum=False),  # bad checksum
    ],
    ids=["empty", "short", "udp", "ihl4", "ihl15", "v6", "icmp-short", "checksum"],
)
def test_parse_raw_ipv4_rejects(packet: bytes) -> None:
    assert icmp.parse_echo_reply(packet, V4, True) is None


@pytest.mark.parametrize("family", [V4, V6])
def test_parse_rejects_requests_and_other_types(family: int) -> None:
    request = icmp.echo_request(family, 1, 1, b"x")  # a raw socket sees our own request
    assert icmp.parse_echo_reply(request, family, False) is None
    unreachable = bytes((3 if family == V4 else 1, 1, 0, 0)) + b"\0" * 4
    assert icmp.parse_echo_reply(unreachable, family, False) is None
    bad_code = bytearray(_reply(family, 1, 1, b""))
    bad_code[1] = 1
    assert icmp.parse_echo_reply(bytes(bad_code), family, False) is None
    assert icmp.parse_echo_reply(b"\0" * 7, family, False) is None


# -- matching ----------------------------------------------------------------------------


def _sent(session: PingSession, *times: float) -> None:
    for number, at in enumerate(times, 1):
        assert session.due(at) == number
        session.sent(number, at)


def test_a_matching_reply_counts_once() -> None:
    session = _session()
    _sent(session, 100.0)
    reply = _reply(V4, 0x1234, 1, _payload())
    assert session.received(reply, "127.0.0.1", 100.25) == PingReply("127.0.0.1", 1, 64, 0.25)
    assert session.received(reply, "127.0.0.1", 100.3) is None  # the duplicate
    assert session.report() == PingReport("127.0.0.1", 1, 1, (0.25,))


def test_stray_replies_do_not_count() -> None:
    session = _session()
    _sent(session, 100.0)
    payload = _payload()
    for packet, source in [
        (_reply(V4, 0x1235, 1, payload), "127.0.0.1"),  # another identifier
        (_reply(V4, 0x1234, 2, payload), "127.0.0.1"),  # a sequence not sent yet
        (_reply(V4, 0x1234, 0, payload), "127.0.0.1"),  # never sent
        (_reply(V4, 0x1234, 1, payload[:-1] + b"!"), "127.0.0.1"),  # another payload
        (_reply(V4, 0x1234, 1, payload[:-1]), "127.0.0.1"),  # shorter (or truncated)
        (_reply(V4, 0x1234, 1, payload), "127.0.0.2"),  # from another host
    ]:
        assert session.received(packet, source, 100.1) is None
    assert session.report().received == 0


def test_raw_ipv4_session_parses_headers_and_ignores_its_own_request() -> None:
    session = _session(raw=True)
    _sent(session, 100.0)
    request = session.request(1)
    assert session.received(_ipv4_header(len(request)) + request, "127.0.0.1", 100.1) is None
    body = _reply(V4, 0x1234, 1, _payload())
    got = session.received(_ipv4_header(len(body)) + body, "127.0.0.1", 100.1)
    assert got is not None
    assert got.size == 64


def test_datagram_socket_identifier_is_the_kernels() -> None:
    # On a datagram ICMP socket the kernel rewrote our identifier to the socket's port:
    # the session is given that port, and replies carry it.
    session = _session(ident=40000)
    _sent(session, 100.0)
    assert session.request(1)[4:6] == (40000).to_bytes(2, "big")
    assert session.received(_reply(V4, 40000, 1, _payload()), "127.0.0.1", 100.1) is not None


def test_ipv6_session_and_zone() -> None:
    session = PingSession(
        _args(count=1),
        family=V6,
        address="fe80::1%lo",
        raw=False,
        identifier=9,
        token=TOKEN,
        start=0.0,
    )
    _sent(session, 0.0)
    assert session.received(_reply(V6, 9, 1, _payload()), "fe80::1%1", 0.5) is not None


def test_a_late_reply_does_not_count() -> None:
    session = _session(args=_args(count=2, timeout=0.5, interval=1.0))
    _sent(session, 100.0)
    assert session.received(_reply(V4, 0x1234, 1, _payload()), "127.0.0.1", 100.6) is None
    assert session.report() == PingReport("127.0.0.1", 1, 0, ())


def test_rtts_are_in_sequence_order() -> None:
    session = _session(args=_args(count=2, interval=0.1))
    _sent(session, 100.0, 100.1)
    assert session.received(_reply(V4, 0x1234, 2, _payload()), "127.0.0.1", 100.2) is not None
    assert session.received(_reply(V4, 0x1234, 1, _payload()), "127.0.0.1", 100.5) is not None
    report = session.report()
    assert report.rtts == pytest.approx((0.5, 0.1))
    assert report.loss == 0.0


# -- schedule ----------------------------------------------------------------------------


def test_schedule_is_bounded_by_count_interval_and_timeout() -> None:
    session = _session(args=_args(count=3, timeout=0.5, interval=1.0))
    assert session.due(99.0) is None
    assert session.due(100.0) == 1
    session.sent(1, 100.0)
    assert session.due(100.5) is None
    assert session.wake_at(100.5) == 101.0  # the next request
    session.sent(2, 101.0)
    session.sent(3, 102.0)
    assert session.due(200.0) is None
    # Unanswered requests: wait for the last deadline, then the call is over.
    assert session.wake_at(102.1) == 102.5
    assert session.wake_at(102.5) is None
    assert session.report() == PingReport("127.0.0.1", 3, 0, ())


def test_the_call_ends_when_every_request_is_answered() -> None:
    session = _session(args=_args(count=1, timeout=5.0))
    _sent(session, 100.0)
    assert session.wake_at(100.0) == 105.0
    session.received(_reply(V4, 0x1234, 1, _payload()), "127.0.0.1", 100.01)
    assert session.wake_at(100.02) is None


def test_report_properties() -> None:
    report = PingReport("::1", 4, 2, (0.002, 0.004))
    assert report.loss == 0.5
    assert (report.rtt_min, report.rtt_avg, report.rtt_max) == (0.002, 0.003, 0.004)
    empty = PingReport("::1", 0, 0, ())
    assert (empty.loss, empty.rtt_min, empty.rtt_avg, empty.rtt_max) == (0.0, None, None, None)
    assert PingReport.__module__ == PingReply.__module__ == "netkit.icmp"


# -- arguments and errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"count": 0}, ValueError, "count must be >= 1"),
        ({"count": 65536}, ValueError, "count must be <= 65535"),
        ({"count": 1.5}, TypeError, "count must be an int"),
        ({"count": True}, TypeError, "count must be an int"),
        ({"timeout": 0}, ValueError, "timeout must be > 0"),
        ({"timeout": -1}, ValueError, "timeout must be a finite number"),
        ({"timeout": math.inf}, ValueError, "timeout must be a finite number"),
        ({"timeout": math.nan}, ValueError, "timeout must be a finite number"),
        ({"timeout": None}, TypeError, "timeout must be a number of seconds"),
        ({"interval": 0}, ValueError, "interval must be a finite number of seconds >= 0.002"),
        ({"interval": "1"}, TypeError, "interval must be a number"),
        ({"size": -1}, ValueError, "size must be >= 0"),
        ({"size": 65528}, ValueError, "size must be <= 65527"),
        ({"family": socket.AF_UNIX}, ValueError, "family must be AF_UNSPEC"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    values: dict[str, object] = {
        "count": 1,
        "timeout": 1.0,
        "interval": 1.0,
        "size": 56,
        "family": 0,
    }
    values.update(kwargs)
    with pytest.raises(error, match=message):
        icmp.check_args(**values)


def test_size_limit_depends_on_the_family() -> None:
    icmp.check_size_for(65507, V4, "127.0.0.1")
    icmp.check_size_for(65527, V6, "::1")
    with pytest.raises(ValueError, match="size must be <= 65507 bytes to ping IPv4"):
        icmp.check_size_for(65508, V4, "127.0.0.1")


def test_literal_family() -> None:
    assert icmp.literal_family("localhost", V4) is None
    assert icmp.literal_family("127.0.0.1", 0) == V4
    assert icmp.literal_family("::1", V6) == V6
    assert icmp.literal_family("::ffff:127.0.0.1", V4) == V4  # mapped: pinged over IPv4
    assert icmp.literal_family("fe80::1%lo", 0) == V6
    with pytest.raises(AddressError, match="cannot ping '::1' over IPv4"):
        icmp.literal_family("::1", V4)
    with pytest.raises(AddressError, match=r"cannot ping '127\.0\.0\.1' over IPv6"):
        icmp.literal_family("127.0.0.1", V6)


def test_target_maps_ipv4_mapped_addresses() -> None:
    assert icmp.target(V6, ("::ffff:127.0.0.1", 0, 0, 0)) == (V4, ("127.0.0.1", 0), "127.0.0.1")
    assert icmp.target(V6, ("::1", 7, 1, 2)) == (V6, ("::1", 0, 1, 2), "::1")
    assert icmp.target(V4, ("127.0.0.1", 7)) == (V4, ("127.0.0.1", 0), "127.0.0.1")


def test_not_permitted_names_the_sysctl() -> None:
    error = icmp.not_permitted(1000, "1 0")
    assert isinstance(error, PermissionError)
    assert isinstance(error, NetkitError)
    assert isinstance(error, PingNotPermitted)
    assert error.errno == errno.EPERM
    text = str(error)
    assert "net.ipv4.ping_group_range" in text
    assert "(1000)" in text
    assert "'1 0'" in text
    assert 'sysctl -w net.ipv4.ping_group_range="1000 1000"' in text
    assert "CAP_NET_RAW" in text
    assert "could not be read" in str(icmp.not_permitted(5, None))


def test_receive_errors_that_mean_a_lost_reply() -> None:
    assert icmp.is_lost_reply(OSError(errno.EHOSTUNREACH, "x"))
    assert not icmp.is_lost_reply(OSError(errno.EBADF, "x"))
    sent = icmp.send_failed("192.0.2.1", OSError(errno.ENETUNREACH, "Network is unreachable"))
    assert sent.errno == errno.ENETUNREACH
    assert "cannot send an echo request to 192.0.2.1" in str(sent)
    opened = icmp.unsupported_family(V6, OSError(errno.EAFNOSUPPORT, "not supported"))
    assert "ICMPv6" in str(opened)
    assert opened.errno == errno.EAFNOSUPPORT


def test_receive_size_leaves_room_for_the_ip_header() -> None:
    assert icmp.receive_size(56) == 60 + 8 + 56 + 1
    assert _session().buffer_size == icmp.receive_size(56)
