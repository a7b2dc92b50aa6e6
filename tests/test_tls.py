"""netkit.tls contexts and TLS through TcpClient / TcpConnection (trustme certificates)."""

from __future__ import annotations

import io
import pathlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import trustme

from _tcpconn_util import EchoServer, has_ipv6, open_fd_count, wait_for
from netkit import ConnectFailed, ConnectionClosed, NetkitTimeout, TcpClient, TcpConnection
from netkit.tls import client_context, server_context


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certs(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """Files: the CA, a server chain+key for localhost/127.0.0.1/::1, a client cert."""
    root = tmp_path_factory.mktemp("certs")
    paths = {
        "ca": root / "ca.pem",
        "server": root / "server.pem",
        "other": root / "other.pem",
        "client": root / "client.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    ca.issue_cert("localhost", "127.0.0.1", "::1").private_key_and_cert_chain_pem.write_to_path(
        str(paths["server"])
    )
    ca.issue_cert("other.example.test").private_key_and_cert_chain_pem.write_to_path(
        str(paths["other"])
    )
    ca.issue_cert("client@example.test").private_key_and_cert_chain_pem.write_to_path(
        str(paths["client"])
    )
    return paths


@pytest.fixture
def tls_server(certs: dict[str, pathlib.Path]) -> Iterator[EchoServer]:
    with EchoServer(tls=server_context(certs["server"])) as server:
        yield server


# -- the context builders ---------------------------------------------------------------


def test_client_context_defaults(certs: dict[str, pathlib.Path]) -> None:
    ctx = client_context(certs["ca"])
    assert ctx.check_hostname
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.protocol == ssl.PROTOCOL_TLS_CLIENT
    ctx13 = client_context(cadata=certs["ca"].read_text(), minimum_version=ssl.TLSVersion.TLSv1_3)
    assert ctx13.minimum_version == ssl.TLSVersion.TLSv1_3


def test_server_context_defaults(certs: dict[str, pathlib.Path]) -> None:
    ctx = server_context(certs["server"])
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    optional = server_context(certs["server"], cafile=certs["ca"])
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    required = server_context(certs["server"], cafile=certs["ca"], require_client_cert=True)
    assert required.verify_mode == ssl.CERT_REQUIRED


def test_context_argument_errors(certs: dict[str, pathlib.Path]) -> None:
    with pytest.raises(ValueError, match=r"TLS 1\.2"):
        client_context(minimum_version=ssl.TLSVersion.TLSv1_1)
    with pytest.raises(ValueError, match=r"TLS 1\.2"):
        server_context(certs["server"], minimum_version=ssl.TLSVersion.MINIMUM_SUPPORTED)
    with pytest.raises(TypeError, match="TLSVersion"):
        client_context(minimum_version=771)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cafile"):
        server_context(certs["server"], require_client_cert=True)
    with pytest.raises(ValueError, match="certfile"):
        client_context(keyfile=certs["server"])
    with pytest.raises(TypeError, match="alpn"):
        client_context(alpn="h2")
    with pytest.raises(ValueError, match="ALPN"):
        client_context(alpn=[""])
    with pytest.raises(FileNotFoundError):
        server_context(certs["server"].parent / "missing.pem")


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_tls_round_trip(certs: dict[str, pathlib.Path], host: str) -> None:
    if host == "::1" and not has_ipv6():
        pytest.skip("no IPv6 loopback")
    listen = "::1" if host == "::1" else "127.0.0.1"
    with EchoServer(listen, tls=server_context(certs["server"])) as server:
        ctx = client_context(certs["ca"])
        with TcpClient.connect(host, server.port, tls=ctx, timeout=5) as conn:
            assert conn.is_tls
            assert isinstance(conn.socket, ssl.SSLSocket)
            assert conn.socket.version() in ("TLSv1.2", "TLSv1.3")
            conn.sendall(b"hello over tls\n")
            assert conn.readline(timeout=5) == b"hello over tls\n"
            conn.send_frame(b"frame")
            assert conn.recv_frame(timeout=5) == b"frame"
            # TLS connections are used from one thread at a time: echo in lockstep.
            for i in range(16):
                chunk = bytes([i]) * 32768
                conn.sendall(chunk, timeout=10)
                assert conn.recv_exactly(len(chunk), timeout=10) == chunk
            assert conn.sendfile(io.BytesIO(b"file data")) == 9
            assert conn.recv_exactly(9, timeout=5) == b"file data"
            assert conn.sendfile(io.BytesIO(b"timed"), timeout=5) == 5
            assert conn.recv_exactly(5, timeout=5) == b"timed"
            with pytest.raises(NotImplementedError):
                conn.shutdown_write()
        assert not server.errors


def test_alpn_and_client_certificate(certs: dict[str, pathlib.Path]) -> None:
    seen: list[object] = []

    def handler(sock: socket.socket) -> None:
        assert isinstance(sock, ssl.SSLSocket)
        seen.append(sock.getpeercert())
        seen.append(sock.selected_alpn_protocol())
        sock.sendall(b"ok")

    server_ctx = server_context(
        certs["server"], cafile=certs["ca"], require_client_cert=True, alpn=["netkit/1"]
    )
    with EchoServer(tls=server_ctx, handler=handler) as server:
        ctx = client_context(certs["ca"], certfile=certs["client"], alpn=["netkit/1", "h2"])
        with TcpClient.connect("localhost", server.port, tls=ctx, timeout=5) as conn:
            assert conn.recv_exactly(2, timeout=5) == b"ok"
            assert isinstance(conn.socket, ssl.SSLSocket)
            assert conn.socket.selected_alpn_protocol() == "netkit/1"
    peer_cert, alpn = seen
    assert peer_cert
    assert alpn == "netkit/1"


def test_tls_true_uses_the_system_store(tls_server: EchoServer) -> None:
    # The trustme CA is not in the system store, so verification fails cleanly.
    with pytest.raises(ConnectFailed) as info:
        TcpClient.connect("localhost", tls_server.port, tls=True, timeout=5)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


# -- failures ---------------------------------------------------------------------------


def test_untrusted_certificate(tls_server: EchoServer) -> None:
    other_ca = trustme.CA()
    ctx = client_context(cadata=other_ca.cert_pem.bytes().decode())
    baseline = open_fd_count()
    with pytest.raises(ConnectFailed) as info:
        TcpClient.connect("localhost", tls_server.port, tls=ctx, timeout=5)
    assert "certificate" in str(info.value)
    [(endpoint, error)] = info.value.attempts
    assert endpoint.port == tls_server.port
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert info.value.__cause__ is error
    assert wait_for(lambda: open_fd_count() == baseline)


def test_wrong_hostname(certs: dict[str, pathlib.Path]) -> None:
    with EchoServer(tls=server_context(certs["other"])) as server:
        ctx = client_context(certs["ca"])
        with pytest.raises(ConnectFailed) as info:
            TcpClient.connect("localhost", server.port, tls=ctx, timeout=5)
        [(_, error)] = info.value.attempts
        assert isinstance(error, ssl.SSLCertVerificationError)
        assert "localhost" in str(info.value) or "hostname" in str(info.value).lower()
        # The same certificate is accepted when asked for by its own name.
        with TcpClient.connect(
            "127.0.0.1", server.port, tls=ctx, timeout=5, server_hostname="other.example.test"
        ) as conn:
            conn.sendall(b"x")
            assert conn.recv_exactly(1, timeout=5) == b"x"


def test_handshake_timeout(certs: dict[str, pathlib.Path]) -> None:
    # A server that accepts TCP but never speaks TLS.
    def silent(sock: socket.socket) -> None:
        while sock.recv(65536):  # swallow the ClientHello, answer nothing, until EOF
            pass

    with EchoServer(handler=silent) as server:
        baseline = open_fd_count()
        start = time.monotonic()
        with pytest.raises(NetkitTimeout, match="TLS"):
            TcpClient.connect(
                "localhost", server.port, tls=client_context(certs["ca"]), timeout=0.5
            )
        assert time.monotonic() - start < 1.5
        assert wait_for(lambda: open_fd_count() == baseline)


def test_not_tls_on_the_other_side(certs: dict[str, pathlib.Path]) -> None:
    def garbage(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" * 4)

    with EchoServer(handler=garbage) as server:
        with pytest.raises(ConnectFailed, match="TLS") as info:
            TcpClient.connect("localhost", server.port, tls=client_context(certs["ca"]), timeout=5)
        assert isinstance(info.value.__cause__, ssl.SSLError)


# -- deadlines over TLS -----------------------------------------------------------------


def test_tls_slow_drip_deadline(certs: dict[str, pathlib.Path]) -> None:
    stop = threading.Event()

    def drip(sock: socket.socket) -> None:
        for _ in range(40):  # one byte per 100 ms, at most 4 s
            if stop.wait(0.1):
                return
            sock.sendall(b"d")

    with EchoServer(tls=server_context(certs["server"]), handler=drip) as server:
        ctx = client_context(certs["ca"])
        try:
            with TcpClient.connect("localhost", server.port, tls=ctx, timeout=5) as conn:
                start = time.monotonic()
                with pytest.raises(NetkitTimeout):
                    conn.recv_exactly(1000, timeout=1)
                elapsed = time.monotonic() - start
                assert 0.9 <= elapsed < 1.9
                kept = conn.buffered
                assert 3 <= kept <= 15
                # Retry: the bytes kept come first, nothing lost.
                assert conn.recv_exactly(kept + 2, timeout=5) == b"d" * (kept + 2)
        finally:
            stop.set()


def test_tls_timeout_then_blocking_read(
    tls_server: EchoServer, certs: dict[str, pathlib.Path]
) -> None:
    ctx = client_context(certs["ca"])
    with TcpClient.connect("localhost", tls_server.port, tls=ctx, timeout=5) as conn:
        with pytest.raises(NetkitTimeout):
            conn.recv(timeout=0.1)
        assert conn.socket.gettimeout() is not None  # left set by the timed call...
        conn.sendall(b"back to blocking\n")
        assert conn.readline() == b"back to blocking\n"
        assert conn.socket.gettimeout() is None  # ...and put back by the untimed one


def test_tls_peer_close_is_eof(certs: dict[str, pathlib.Path]) -> None:
    def once(sock: socket.socket) -> None:
        sock.sendall(b"bye\npartial")

    with EchoServer(tls=server_context(certs["server"]), handler=once) as server:
        ctx = client_context(certs["ca"])
        with TcpClient.connect("localhost", server.port, tls=ctx, timeout=5) as conn:
            assert conn.readline(timeout=5) == b"bye\n"
            with pytest.raises(ConnectionClosed) as info:
                conn.readline(timeout=5)
            assert info.value.partial == b"partial"


def test_wrapping_an_existing_tls_socket(
    tls_server: EchoServer, certs: dict[str, pathlib.Path]
) -> None:
    ctx = client_context(certs["ca"])
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    tls_sock = ctx.wrap_socket(raw, server_hostname="localhost")
    with TcpConnection(tls_sock) as conn:
        assert conn.is_tls
        conn.sendall(b"wrapped\n")
        assert conn.readline(timeout=5) == b"wrapped\n"


def test_round_trip_through_tcp_server(certs: dict[str, pathlib.Path]) -> None:
    from netkit import TcpServer

    def handler(conn: TcpConnection) -> None:
        assert conn.is_tls
        for line in conn:
            conn.sendall(line.upper())

    with TcpServer(handler, tls=server_context(certs["server"])) as server:
        ctx = client_context(certs["ca"])
        with TcpClient.connect("localhost", server.address.port, tls=ctx, timeout=5) as conn:
            for word in (b"alpha\n", b"beta\n"):
                conn.sendall(word)
                assert conn.readline(timeout=5) == word.upper()
