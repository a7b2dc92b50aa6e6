"""proxy_protocol= on every server of both faces: trusted peers send a header, others don't.

Headers come from netkit.proxy's encoders, sent by plain client sockets (in one piece,
or one byte at a time); each scenario runs on the sync server and on the aio one
(asyncio and uvloop), with the same outcome and the same log lines.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import pathlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netkit
import netkit.aio
from _aio_util import open_fds
from _haproxy import has_ipv6_loopback
from _proxy_util import DEADLINE, FACES, serving
from netkit import Endpoint
from netkit._core.proxyserve import (
    HeaderIntake,
    ProxyRefusals,
    proxied_addresses,
    tcp_proxy_policy,
    unix_proxy_policy,
)
from netkit.errors import ProxyProtocolError
from netkit.proxy import ProxyHeaderReader, Tlv, encode_v1, encode_v2

pytestmark = pytest.mark.timeout(120)

CLIENT = Endpoint("203.0.113.7", 40000)
PROXY = Endpoint("198.51.100.1", 443)
CLIENT6 = Endpoint("2001:db8::7", 40000)
PROXY6 = Endpoint("2001:db8::1", 443)
LOOPBACK = ["127.0.0.0/8"]
needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")


def _send(sock: socket.socket, data: bytes, *, pieces: bool) -> None:
    if not pieces:
        sock.sendall(data)
        return
    for byte in data:
        sock.sendall(bytes([byte]))


def _talk(port: int, data: bytes, *, pieces: bool = False, host: str = "127.0.0.1") -> bytes:
    """Send *data*, then return everything the server sends until it closes."""
    with socket.create_connection((host, port), DEADLINE) as sock:
        _send(sock, data, pieces=pieces)
        return _read_all(sock)


def _read_all(sock: Any) -> bytes:
    received = b""
    while True:
        try:
            data = sock.recv(4096)
        except ConnectionResetError:  # dropped with our bytes unread: the kernel resets
            return received
        if not data:
            return received
        received += data


def _drops(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if ": dropped " in r.getMessage()]


# --------------------------------------------------------------- the arguments


BAD_TCP: list[tuple[object, type[Exception], str]] = [
    (
        True,
        TypeError,
        r"^proxy_protocol must be a list of trusted networks, not True \(to trust every "
        r"peer, give \['0.0.0.0/0', '::/0'\]\)$",
    ),
    (
        "10.0.0.0/8",
        TypeError,
        r"^proxy_protocol must be a list of trusted networks, not a single str "
        r"\(write \['10.0.0.0/8'\]\)$",
    ),
    (8, TypeError, r"^proxy_protocol must be a list of trusted networks or None, not int$"),
    (
        [10],
        TypeError,
        r"^proxy_protocol networks must be str or ipaddress networks, not int$",
    ),
    (
        ["10.0.0.1/8"],
        ValueError,
        r"^proxy_protocol: '10.0.0.1/8' is not a network: 10.0.0.1/8 has host bits set$",
    ),
    (["nope"], ValueError, r"^proxy_protocol: 'nope' is not a network: "),
]


@pytest.mark.parametrize("cls", [netkit.TcpServer, netkit.aio.TcpServer])
@pytest.mark.parametrize(("value", "error", "message"), BAD_TCP)
def test_tcp_proxy_protocol_is_checked_alike(
    cls: Any, value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        cls(lambda conn: None, proxy_protocol=value)


@pytest.mark.parametrize("cls", [netkit.UnixServer, netkit.aio.UnixServer])
@pytest.mark.parametrize("value", [["127.0.0.1/32"], None, 1])
def test_unix_proxy_protocol_is_a_bool(cls: Any, value: object) -> None:
    with pytest.raises(
        TypeError,
        match=r"^a UnixServer's proxy_protocol is True or False \(every peer of a Unix "
        r"socket is trusted: the file's permissions decide who connects\), not ",
    ):
        cls(lambda conn: None, "/tmp/never-bound", proxy_protocol=value)


@pytest.mark.parametrize(
    "cls", [netkit.TcpServer, netkit.aio.TcpServer, netkit.UnixServer, netkit.aio.UnixServer]
)
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, r"^proxy_header_timeout must be > 0 seconds, not 0$"),
        (None, ValueError, r"^proxy_header_timeout must be > 0 seconds, not None$"),
        (-1, ValueError, r"^proxy_header_timeout must be >= 0 seconds or None, not -1$"),
        ("5", TypeError, r"^proxy_header_timeout must be a number of seconds or None"),
    ],
)
def test_header_timeout_is_checked_alike(
    cls: Any, value: object, error: type[Exception], message: str
) -> None:
    where = ("127.0.0.1",) if "Tcp" in cls.__name__ else ("/tmp/never-bound",)
    with pytest.raises(error, match=message):
        cls(lambda conn: None, *where, proxy_header_timeout=value)


def test_networks_may_be_strings_hosts_or_ipaddress_objects() -> None:
    policy = tcp_proxy_policy(
        [" 10.0.0.0/8", "192.168.1.5", ipaddress.ip_network("fd00::/8"), "::1"], 2
    )
    assert policy is not None
    assert policy.header_timeout == 2.0
    assert [str(n) for n in policy.v4] == ["10.0.0.0/8", "192.168.1.5/32"]
    assert [str(n) for n in policy.v6] == ["fd00::/8", "::1/128"]
    assert tcp_proxy_policy(None, 5) is None
    assert unix_proxy_policy(False, 5) is None
    unix = unix_proxy_policy(True, 5)
    assert unix is not None
    assert unix.trusts("")


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        (("10.1.2.3", 5), True),
        (("11.0.0.1", 5), False),
        (("127.0.0.1", 5), False),
        (("::ffff:10.9.9.9", 5, 0, 0), True),  # IPv4-mapped: matches the IPv4 network
        (("::ffff:11.9.9.9", 5, 0, 0), False),
        (("fd00::1", 5, 0, 0), True),
        (("fe80::1%lo", 5, 0, 1), True),  # the zone does not hide the address
        (("::1", 5, 0, 0), False),
        ("/a/unix/path", False),
        (("not an address", 5), False),
    ],
)
def test_which_peers_are_trusted(peer: object, trusted: bool) -> None:
    policy = tcp_proxy_policy(["10.0.0.0/8", "fd00::/8", "fe80::/10"], 5)
    assert policy is not None
    assert policy.trusts(peer) is trusted


def test_an_empty_list_trusts_no_one() -> None:
    policy = tcp_proxy_policy([], 5)
    assert policy is not None
    assert not policy.trusts(("127.0.0.1", 1))


# --------------------------------------------------------------- the intake (no IO)


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    rest=st.binary(max_size=64),
    cuts=st.lists(st.integers(min_value=1, max_value=200), max_size=20),
)
def test_the_intake_takes_exactly_the_header(version: int, rest: bytes, cuts: list[int]) -> None:
    """Peeking at what a kernel would hold after each arrival, in any split, the intake
    takes the header's bytes and never one of the stream after it."""
    header = encode_v1(CLIENT, PROXY) if version == 1 else encode_v2(CLIENT, PROXY)
    wire = header + rest
    arrived = 0
    taken = 0
    intake = HeaderIntake()
    for cut in [*cuts, len(wire)]:
        arrived = min(len(wire), arrived + cut)
        queued = wire[taken:arrived]
        if not queued:
            continue
        taken += intake.peeked(queued)
        if intake.header is not None:
            break
    assert intake.header is not None
    assert intake.header.source == CLIENT
    assert taken == len(header)


def test_the_intake_errors() -> None:
    with pytest.raises(ProxyProtocolError, match=r"^closed before sending a PROXY header$"):
        HeaderIntake().peeked(b"")
    intake = HeaderIntake()
    assert intake.peeked(b"PROXY TCP4") == 10
    with pytest.raises(
        ProxyProtocolError,
        match=r"^closed in the middle of its PROXY header \(10 bytes received\)$",
    ):
        intake.peeked(b"")
    assert str(HeaderIntake().timed_out(2.5)) == "no PROXY header within 2.5 s"
    assert str(intake.timed_out(3)) == "PROXY header incomplete after 3 s (10 bytes received)"
    assert HeaderIntake().want >= 4096


def test_proxied_addresses_by_kind() -> None:
    def parse(data: bytes) -> Any:
        reader = ProxyHeaderReader()
        return reader.feed(data)

    tcp = parse(encode_v2(CLIENT, PROXY))
    assert proxied_addresses(tcp, unix=False) == (PROXY, CLIENT)
    assert proxied_addresses(tcp, unix=True) is None
    local = parse(encode_v2(None, None))
    assert proxied_addresses(local, unix=False) is None
    unknown = parse(b"PROXY UNKNOWN\r\n")
    assert proxied_addresses(unknown, unix=False) is None
    unix = parse(_v2_unix("/run/client.sock", "/run/front.sock"))
    assert proxied_addresses(unix, unix=True) == ("/run/front.sock", "/run/client.sock")
    assert proxied_addresses(unix, unix=False) is None


def _v2_unix(source: str, destination: str) -> bytes:
    body = source.encode().ljust(108, b"\0") + destination.encode().ljust(108, b"\0")
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x31]) + len(body).to_bytes(2, "big") + body


def test_drops_are_logged_at_a_bounded_rate() -> None:
    refusals = ProxyRefusals("127.0.0.1:80", interval=10.0)
    bad = ProxyProtocolError("not a PROXY protocol header: starts with b'GET'")
    assert refusals.dropped(bad, "127.0.0.1:1", 100.0, stopping=False) == (
        logging.WARNING,
        "netkit server 127.0.0.1:80: dropped 127.0.0.1:1: "
        "not a PROXY protocol header: starts with b'GET'",
    )
    for second in range(1, 5):
        assert (
            refusals.dropped(bad, f"127.0.0.1:{second + 1}", 100.0 + second, stopping=False)
            is None
        )
    late = ProxyProtocolError("no PROXY header within 5 s")
    assert refusals.dropped(late, "127.0.0.1:9", 111.0, stopping=False) == (
        logging.WARNING,
        "netkit server 127.0.0.1:80: dropped 5 connections for their PROXY header in "
        "10.0 s, last 127.0.0.1:9: no PROXY header within 5 s",
    )
    # Health checks (closed before a byte) and drops while stopping: DEBUG, not counted.
    try:
        HeaderIntake().peeked(b"")
    except ProxyProtocolError as exc:
        quiet = exc
    assert refusals.dropped(quiet, "127.0.0.1:10", 112.0, stopping=False) == (
        logging.DEBUG,
        "netkit server 127.0.0.1:80: dropped 127.0.0.1:10: closed before sending a PROXY header",
    )
    assert refusals.dropped(bad, "127.0.0.1:11", 112.0, stopping=True) is not None
    assert refusals.dropped(bad, "127.0.0.1:12", 130.0, stopping=False) == (
        logging.WARNING,
        "netkit server 127.0.0.1:80: dropped 127.0.0.1:12: "
        "not a PROXY protocol header: starts with b'GET'",
    )


# --------------------------------------------------------------- through the servers


HEADERS: dict[str, Callable[[], bytes]] = {
    "v1": lambda: encode_v1(CLIENT, PROXY),
    "v2": lambda: encode_v2(CLIENT, PROXY),
    "v2-tlvs": lambda: encode_v2(
        CLIENT, PROXY, tlvs=[Tlv(0x02, b"example.test"), Tlv(0x05, b"id-1")], checksum=True
    ),
    "v1-ipv6": lambda: encode_v1(CLIENT6, PROXY6),
    "v2-ipv6": lambda: encode_v2(CLIENT6, PROXY6),
}


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("pieces", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("kind", HEADERS)
def test_a_trusted_peer_gets_the_header_addresses(face: str, pieces: bool, kind: str) -> None:
    header = HEADERS[kind]()
    with serving(face, proxy_protocol=LOOPBACK) as served:
        # The stream right after the header is the handler's, byte for byte.
        assert _talk(served.address.port, header + b"hello\n", pieces=pieces) == b"ok\n"
        report = served.report()
    source, destination = (CLIENT6, PROXY6) if "ipv6" in kind else (CLIENT, PROXY)
    assert report.remote == source
    assert report.local == destination
    assert report.line == b"hello\n"
    assert report.header is not None
    assert report.header.version == (1 if kind.startswith("v1") else 2)
    if kind == "v2-tlvs":
        assert report.header.authority == "example.test"
        assert report.header.unique_id == b"id-1"


@pytest.mark.parametrize("face", FACES)
def test_local_and_unknown_keep_the_socket_addresses(face: str) -> None:
    with serving(face, proxy_protocol=LOOPBACK) as served:
        port = served.address.port
        for header in (encode_v2(None, None), encode_v1(None, None)):
            with socket.create_connection(("127.0.0.1", port), DEADLINE) as sock:
                sock.sendall(header + b"health\n")
                assert _read_all(sock) == b"ok\n"
                mine = Endpoint("127.0.0.1", sock.getsockname()[1])
            report = served.report()
            assert report.remote == mine
            assert report.local == Endpoint("127.0.0.1", port)
            assert report.header is not None
            assert report.line == b"health\n"


@pytest.mark.parametrize("face", FACES)
def test_an_untrusted_peer_is_never_parsed(face: str) -> None:
    """From outside the trusted networks, bytes that look like a header are data."""
    header = encode_v1(CLIENT, PROXY)
    with serving(face, proxy_protocol=["10.0.0.0/8", "::1/128"]) as served:
        with socket.create_connection(("127.0.0.1", served.address.port), DEADLINE) as sock:
            sock.sendall(header)
            assert _read_all(sock) == b"ok\n"
            mine = Endpoint("127.0.0.1", sock.getsockname()[1])
        report = served.report()
    assert report.line == header  # the whole v1 line, as the handler's data
    assert report.remote == mine
    assert report.header is None


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"GET / HTTP/1.1\r\n\r\n",
         "not a PROXY protocol header: starts with b'GET / HTTP/1.1\\r\\n'"),
        (b"PROXY TCP4 1.2.3.4\r\n", "PROXY v1 TCP4 header needs 4 fields separated by single "
         "spaces: b'PROXY TCP4 1.2.3.4'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", "PROXY header incomplete after 0.5 s (30 bytes "
         "received)"),
    ],
    ids=["http", "short-v1", "no-crlf"],
)  # fmt: skip
def test_a_bad_header_drops_the_connection_unserved(
    face: str, payload: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="netkit"):
        with serving(face, proxy_protocol=LOOPBACK, proxy_header_timeout=0.5) as served:
            with socket.create_connection(("127.0.0.1", served.address.port), DEADLINE) as sock:
                peer = f"127.0.0.1:{sock.getsockname()[1]}"
                sock.sendall(payload)
                assert _read_all(sock) == b""
            where = served.address
            assert served.reports.empty()
    assert _drops(caplog) == [
        (logging.WARNING, f"netkit server {where}: dropped {peer}: {reason}")
    ]


@pytest.mark.parametrize("face", FACES)
def test_a_missing_header_is_dropped_at_the_deadline(
    face: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="netkit"):
        with serving(face, proxy_protocol=LOOPBACK, proxy_header_timeout=0.5) as served:
            with socket.create_connection(("127.0.0.1", served.address.port), DEADLINE) as sock:
                peer = f"127.0.0.1:{sock.getsockname()[1]}"
                started = time.monotonic()
                assert _read_all(sock) == b""
                waited = time.monotonic() - started
            where = served.address
            assert served.reports.empty()
    assert 0.4 <= waited < 15  # the deadline, with a wide margin for a loaded machine
    assert _drops(caplog) == [
        (logging.WARNING, f"netkit server {where}: dropped {peer}: no PROXY header within 0.5 s")
    ]


@pytest.mark.parametrize("face", FACES)
def test_a_peer_closing_before_a_byte_is_logged_at_debug(
    face: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A TCP health check or a port probe connects and closes: not worth a warning."""
    with caplog.at_level(logging.DEBUG, logger="netkit"):
        with serving(face, proxy_protocol=LOOPBACK) as served:
            with socket.create_connection(("127.0.0.1", served.address.port), DEADLINE) as sock:
                peer = f"127.0.0.1:{sock.getsockname()[1]}"
            where = served.address
            deadline = time.monotonic() + DEADLINE
            while not _drops(caplog) and time.monotonic() < deadline:
                time.sleep(0.01)  # polling a condition (the log line), bounded
            assert served.reports.empty()
    assert _drops(caplog) == [
        (
            logging.DEBUG,
            f"netkit server {where}: dropped {peer}: closed before sending a PROXY header",
        )
    ]


@pytest.mark.parametrize("face", FACES)
def test_many_bad_headers_log_one_line(face: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="netkit"):
        with serving(face, proxy_protocol=LOOPBACK) as served:
            for _ in range(5):
                assert _talk(served.address.port, b"junk\n") == b""
    drops = _drops(caplog)
    assert len(drops) == 1
    assert drops[0][0] == logging.WARNING


@pytest.mark.parametrize("face", FACES)
def test_the_header_wait_holds_a_connection_slot(
    face: str, caplog: pytest.LogCaptureFixture
) -> None:
    """max_connections counts a peer that has not sent its header: the next one is
    served only once it is dropped at the header deadline."""
    with caplog.at_level(logging.DEBUG, logger="netkit"):
        with serving(
            face, proxy_protocol=LOOPBACK, proxy_header_timeout=1.0, max_connections=1
        ) as served:
            port = served.address.port
            with socket.create_connection(("127.0.0.1", port), DEADLINE) as silent:
                deadline = time.monotonic() + DEADLINE
                while served.server.active_connections != 1:
                    assert time.monotonic() < deadline, "the silent client was never accepted"
                    time.sleep(0.01)  # polling a condition, bounded
                reply = _talk(port, encode_v2(CLIENT, PROXY) + b"next\n")
                assert _read_all(silent) == b""
            report = served.report()
    assert reply == b"ok\n"
    assert report.remote == CLIENT
    (dropped,) = [r for r in caplog.records if ": dropped " in r.getMessage()]
    assert "no PROXY header within 1 s" in dropped.getMessage()
    assert dropped.created <= report.at


@pytest.mark.parametrize("face", FACES)
def test_stop_drops_a_connection_waiting_for_its_header_at_once(face: str) -> None:
    """A peer still sending its header has no handler to finish: stop() drops it without
    waiting for its own timeout (5 s) or for the header deadline (60 s)."""
    with socket.socket() as hold:
        with serving(face, proxy_protocol=LOOPBACK, proxy_header_timeout=60) as served:
            hold.settimeout(DEADLINE)
            hold.connect(("127.0.0.1", served.address.port))
            hold.sendall(b"PROXY ")  # half a header
            deadline = time.monotonic() + DEADLINE
            while served.server.active_connections != 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)  # polling a condition, bounded
            started = time.monotonic()
        stopped_in = time.monotonic() - started
        assert _read_all(hold) == b""
    assert stopped_in < 4  # below stop()'s 5 s: it did not wait for this connection
    assert served.reports.empty()


@pytest.mark.parametrize("face", FACES)
def test_dropped_connections_leave_nothing_open(face: str) -> None:
    """Drops of every kind (garbage, cut mid-header, late, stop) and served connections:
    once the server stopped, no socket of its is left."""
    before = open_fds()
    with serving(face, proxy_protocol=LOOPBACK, proxy_header_timeout=0.3) as served:
        port = served.address.port
        for payload in (b"junk", b"PROXY TCP4 ", b"", encode_v1(CLIENT, PROXY) + b"fine\n"):
            _talk(port, payload)
        with socket.create_connection(("127.0.0.1", port), DEADLINE) as sock:
            sock.sendall(b"PROXY ")  # then closes mid-header
        deadline = time.monotonic() + DEADLINE
        while served.server.active_connections != 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)  # polling a condition, bounded
        with socket.create_connection(("127.0.0.1", port), DEADLINE) as late:
            late.sendall(b"\r\n\r\n")  # still waiting when the server stops
            while served.server.active_connections != 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)  # polling a condition, bounded
    assert served.report().line == b"fine\n"
    assert served.reports.empty()
    assert open_fds() <= before


@pytest.mark.parametrize("face", FACES[1:])
def test_aio_stop_while_clients_connect_loses_no_socket(face: str) -> None:
    """stop() cancels the accept loop: a connection the kernel handed over just then is
    closed by the server, never left in a cancelled wait (and open until collected)."""
    before = open_fds()
    for _ in range(10):
        clients = []
        try:
            with serving(face, proxy_protocol=LOOPBACK) as served:
                port = served.address.port
                for _ in range(10):
                    client = socket.socket()
                    clients.append(client)
                    client.connect(("127.0.0.1", port))
                    client.sendall(b"PROXY ")
        finally:
            for client in clients:
                client.close()
        assert open_fds() <= before


@needs_ipv6
@pytest.mark.parametrize("face", FACES)
def test_ipv4_mapped_peers_match_ipv4_networks(face: str) -> None:
    """A dual-stack "::" listener sees 127.0.0.1 as ::ffff:127.0.0.1: still trusted."""
    with serving(face, host="::", proxy_protocol=["127.0.0.1/32"]) as served:
        port = served.address.port
        assert _talk(port, encode_v1(CLIENT, PROXY) + b"v4\n") == b"ok\n"
        assert served.report().remote == CLIENT
        # ::1 is not in the list: its bytes are data.
        with socket.create_connection(("::1", port), DEADLINE) as sock:
            sock.sendall(b"PROXY UNKNOWN\r\n")
            assert _read_all(sock) == b"ok\n"
        report = served.report()
        assert report.header is None
        assert report.line == b"PROXY UNKNOWN\r\n"


@needs_ipv6
@pytest.mark.parametrize("face", FACES)
def test_an_ipv6_trusted_network(face: str) -> None:
    with serving(face, host="::1", proxy_protocol=["::1/128"]) as served:
        reply = _talk(served.address.port, encode_v2(CLIENT6, PROXY6) + b"x\n", host="::1")
        report = served.report()
    assert reply == b"ok\n"
    assert (report.remote, report.local) == (CLIENT6, PROXY6)


# --------------------------------------------------------------- TLS after the header


@pytest.fixture(scope="module")
def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("version", [1, 2])
def test_tls_runs_after_the_header(
    face: str, version: int, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """The proxy passes TLS through: header in clear, then the handshake on one socket."""
    server_ctx, client_ctx = tls_pair
    header = encode_v1(CLIENT, PROXY) if version == 1 else encode_v2(CLIENT, PROXY)
    with serving(face, proxy_protocol=LOOPBACK, tls=server_ctx) as served:
        with socket.create_connection(("127.0.0.1", served.address.port), DEADLINE) as raw:
            raw.sendall(header)
            with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"secret\n")
                assert _read_all(tls) == b"ok\n"
        report = served.report()
    assert report.line == b"secret\n"
    assert report.remote == CLIENT


# --------------------------------------------------------------- Unix servers


@pytest.fixture
def sock_path(tmp_path: pathlib.Path) -> str:
    if len(os.fsencode(str(tmp_path))) <= 80:
        return str(tmp_path / "p.sock")
    return f"\0netkit-proxy-{os.getpid()}-{time.monotonic_ns()}"


def _talk_unix(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(DEADLINE)
        sock.connect(path)
        sock.sendall(data)
        return _read_all(sock)


@pytest.mark.parametrize("face", FACES)
def test_a_unix_server_reads_every_peers_header(face: str, sock_path: str) -> None:
    with serving(face, "unix", path=sock_path, proxy_protocol=True) as served:
        # TCP addresses (HAProxy's send-proxy to a unix@ server): in proxy_header.
        assert _talk_unix(sock_path, encode_v2(CLIENT, PROXY) + b"a\n") == b"ok\n"
        tcp = served.report()
        # Unix addresses: they replace the socket's own.
        assert _talk_unix(sock_path, _v2_unix("/run/c.sock", "/run/f.sock") + b"b\n") == b"ok\n"
        unix = served.report()
        # Without a header: dropped.
        assert _talk_unix(sock_path, b"c\n") == b""
        assert served.reports.empty()
    assert tcp.header is not None
    assert tcp.header.source == CLIENT
    assert (tcp.remote, tcp.line) == ("", b"a\n")
    assert (unix.remote, unix.local, unix.line) == ("/run/c.sock", "/run/f.sock", b"b\n")


@pytest.mark.parametrize("face", FACES)
def test_a_unix_server_without_proxy_protocol_parses_nothing(face: str, sock_path: str) -> None:
    with serving(face, "unix", path=sock_path) as served:
        assert _talk_unix(sock_path, b"PROXY UNKNOWN\r\n") == b"ok\n"
        report = served.report()
    assert report.header is None
    assert report.line == b"PROXY UNKNOWN\r\n"
