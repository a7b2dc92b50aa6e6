"""netkit.proxy against the real HAProxy: send-proxy and send-proxy-v2, IPv4 and IPv6."""

from __future__ import annotations

import socket

import pytest

from _haproxy import haproxy, has_ipv6_loopback
from netkit import Endpoint
from netkit.proxy import ProxyHeaderReader

pytestmark = pytest.mark.timeout(60)

CLIENTS = ["127.0.0.1"] + (["::1"] if has_ipv6_loopback() else [])


@pytest.mark.parametrize("mode", ["send-proxy", "send-proxy-v2"])
@pytest.mark.parametrize("client_host", CLIENTS)
def test_the_reader_parses_what_haproxy_sends(mode: str, client_host: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as backend:
        backend.settimeout(20)
        with haproxy(backend.getsockname()[1], send_proxy=mode) as proxy:
            front = proxy.frontends[client_host]
            with socket.create_connection((client_host, front), timeout=20) as client:
                client_port = client.getsockname()[1]
                client.sendall(b"hello")
                conn, _ = backend.accept()
                with conn:
                    conn.settimeout(20)
                    reader = ProxyHeaderReader()
                    header = None
                    while header is None:
                        data = conn.recv(4096)
                        assert data, "haproxy closed before a whole header"
                        header = reader.feed(data)
                    rest = reader.rest
                    while len(rest) < 5:
                        rest += conn.recv(4096)
    assert header.version == (2 if mode.endswith("v2") else 1)
    assert header.command == "PROXY"
    assert header.source == Endpoint(client_host, client_port)
    assert header.destination == Endpoint(client_host, front)
    assert rest == b"hello"
