"""proxy_protocol= behind the real HAProxy: send-proxy and send-proxy-v2, IPv4 and IPv6
clients, both faces (asyncio and uvloop), TLS passed through, and a Unix backend."""

from __future__ import annotations

import pathlib
import socket
import ssl

import pytest

from _haproxy import haproxy, has_ipv6_loopback
from _proxy_util import DEADLINE, FACES, serving
from netkit import Endpoint

pytestmark = pytest.mark.timeout(120)

CLIENTS = ["127.0.0.1"] + (["::1"] if has_ipv6_loopback() else [])
MODES = ["send-proxy", "send-proxy-v2"]


def _round(client: socket.socket, line: bytes) -> bytes:
    client.sendall(line)
    received = b""
    while not received.endswith(b"\n"):
        data = client.recv(4096)
        assert data, f"closed after {received!r}"
        received += data
    return received


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client_host", CLIENTS)
def test_the_handler_sees_the_client_behind_haproxy(
    face: str, mode: str, client_host: str
) -> None:
    with serving(face, proxy_protocol=["127.0.0.1/32"]) as served:
        with haproxy(served.address.port, send_proxy=mode) as proxy:
            front = proxy.frontends[client_host]
            with socket.create_connection((client_host, front), DEADLINE) as client:
                me = Endpoint(client_host, client.getsockname()[1])
                assert _round(client, b"hello\n") == b"ok\n"
            report = served.report()
    assert report.remote == me
    assert report.local == Endpoint(client_host, front)
    assert report.line == b"hello\n"
    assert report.header is not None
    assert report.header.version == (2 if mode.endswith("v2") else 1)


@pytest.fixture(scope="module")
def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("mode", MODES)
def test_tls_through_haproxy_after_the_header(
    face: str, mode: str, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """HAProxy in TCP mode passes the client's TLS through, after its header."""
    server_ctx, client_ctx = tls_pair
    with serving(face, proxy_protocol=["127.0.0.1/32"], tls=server_ctx) as served:
        with haproxy(served.address.port, send_proxy=mode) as proxy:
            front = proxy.frontends["127.0.0.1"]
            with socket.create_connection(("127.0.0.1", front), DEADLINE) as raw:
                me = Endpoint("127.0.0.1", raw.getsockname()[1])
                with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    assert _round(tls, b"secret\n") == b"ok\n"
            report = served.report()
    assert report.remote == me
    assert report.line == b"secret\n"


@pytest.mark.parametrize("face", FACES)
def test_a_unix_backend_behind_haproxy(face: str, tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "backend.sock")
    if len(path.encode()) > 100:
        pytest.skip("temporary path too long for a socket")
    with serving(face, "unix", path=path, proxy_protocol=True) as served:
        with haproxy(0, send_proxy="send-proxy-v2", backend_unix=path) as proxy:
            front = proxy.frontends["127.0.0.1"]
            with socket.create_connection(("127.0.0.1", front), DEADLINE) as client:
                me = Endpoint("127.0.0.1", client.getsockname()[1])
                assert _round(client, b"unix\n") == b"ok\n"
            report = served.report()
    assert report.header is not None
    assert report.header.source == me
    assert report.header.destination == Endpoint("127.0.0.1", front)
    assert report.remote == ""  # a Unix connection's addresses stay paths
    assert report.line == b"unix\n"
