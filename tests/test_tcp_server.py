"""TcpServer: lifecycle, echo on every family, load, faults, limits, TLS."""

from __future__ import annotations

import _thread
import errno
import itertools
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from netkit import AddressError, SocketOptions, TcpConnection, TcpServer

DEADLINE = 10.0  # generous: the machine is shared and has two cores


def echo(conn: TcpConnection) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")


def connect(host: str, port: int) -> socket.socket:
    return socket.create_connection((host, port), timeout=DEADLINE)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        data = sock.recv(n - len(chunks))
        if not data:
            raise AssertionError(f"EOF after {len(chunks)} of {n} bytes")
        chunks += data
    return bytes(chunks)


def round_trip(host: str, port: int, payload: bytes = b"hello netkit") -> bytes:
    with connect(host, port) as sock:
        sock.sendall(payload)
        return recv_exactly(sock, len(payload))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def serve() -> Iterator[Callable[..., TcpServer]]:
    """Start servers for a test; stop every one at the end, whatever happened."""
    started: list[TcpServer] = []

    def factory(handler: Callable[[TcpConnection], None] = echo, **kwargs: object) -> TcpServer:
        server = TcpServer(handler, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        server.stop(timeout=1)


# ----------------------------------------------------------------------- echo, families


def test_echo_ipv4(serve: Callable[..., TcpServer]) -> None:
    server = serve()
    assert server.address.host == "127.0.0.1"
    assert server.address.port != 0
    assert round_trip("127.0.0.1", server.address.port) == b"hello netkit"


@needs_ipv6
def test_echo_ipv6(serve: Callable[..., TcpServer]) -> None:
    server = serve(host="::1")
    assert server.address.host == "::1"
    assert round_trip("::1", server.address.port, b"six") == b"six"


@needs_ipv6
def test_dual_stack_serves_both_families(serve: Callable[..., TcpServer]) -> None:
    server = serve(host="::")
    assert server.address.family == socket.AF_INET6
    port = server.address.port
    assert round_trip("127.0.0.1", port, b"four") == b"four"
    assert round_trip("::1", port, b"six") == b"six"


def test_handler_gets_connection_with_addresses(serve: Callable[..., TcpServer]) -> None:
    seen: list[tuple[str, str]] = []

    def handler(conn: TcpConnection) -> None:
        seen.append((str(conn.local_address), str(conn.remote_address)))
        conn.sendall(b"ok")

    server = serve(handler)
    with connect("127.0.0.1", server.address.port) as sock:
        assert recv_exactly(sock, 2) == b"ok"
        client_side = f"127.0.0.1:{sock.getsockname()[1]}"
    assert seen == [(str(server.address), client_side)]


def test_200_concurrent_clients_every_byte_checked(serve: Callable[..., TcpServer]) -> None:
    server = serve(backlog=256)
    port = server.address.port
    clients = [connect("127.0.0.1", port) for _ in range(200)]
    failures: list[str] = []
    try:
        # every client is connected at once; 20 threads drive 10 clients each
        def drive(group: list[socket.socket], seed: int) -> None:
            try:
                for rnd in range(3):
                    for i, sock in enumerate(group):
                        payload = bytes([(seed + i + rnd) % 256]) * (1000 + 37 * i) + os.urandom(
                            64
                        )
                        sock.sendall(payload)
                        if recv_exactly(sock, len(payload)) != payload:
                            failures.append(f"mismatch client {seed}/{i}")
            except Exception as exc:
                failures.append(repr(exc))

        threads = [
            threading.Thread(target=drive, args=(clients[k::20], k), daemon=True)
            for k in range(20)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 40
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "clients did not finish in time"
        assert failures == []
        assert server.active_connections == 200
    finally:
        for sock in clients:
            sock.close()


# ----------------------------------------------------------------------- lifecycle


def test_context_manager_starts_and_stops() -> None:
    with TcpServer(echo) as server:
        port = server.address.port
        assert round_trip("127.0.0.1", port) == b"hello netkit"
    with pytest.raises(ConnectionRefusedError):
        connect("127.0.0.1", port).close()


def test_stop_is_idempotent_and_fine_before_start() -> None:
    never = TcpServer(echo)
    never.stop()
    never.stop(timeout=0)
    with pytest.raises(RuntimeError):
        never.start()
    server = TcpServer(echo).start()
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError):
        server.start()


def test_address_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        _ = TcpServer(echo).address


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"port": -1}, ValueError),
        ({"port": 70000}, AddressError),
        ({"port": "80"}, TypeError),
        ({"max_connections": 0}, ValueError),
        ({"idle_timeout": 0}, ValueError),
        ({"idle_timeout": "1"}, TypeError),
        ({"options": {"reuse_port": True}}, TypeError),
        ({"tls": object()}, TypeError),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        TcpServer(echo, **kwargs)  # type: ignore[arg-type]


def test_handler_must_be_callable() -> None:
    with pytest.raises(TypeError):
        TcpServer("echo")  # type: ignore[arg-type]


def test_serve_forever_returns_after_stop() -> None:
    server = TcpServer(echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE
    while server._state == "new" and time.monotonic() < deadline:  # wait for start()
        time.sleep(0.005)
    assert round_trip("127.0.0.1", server.address.port) == b"hello netkit"
    server.stop()
    thread.join(DEADLINE)
    assert not thread.is_alive()


def test_serve_forever_stops_on_ctrl_c() -> None:
    server = TcpServer(echo)

    def interrupt_when_serving() -> None:
        deadline = time.monotonic() + DEADLINE
        while server._state != "serving" and time.monotonic() < deadline:
            time.sleep(0.005)  # polling for readiness, bounded
        _thread.interrupt_main()

    helper = threading.Thread(target=interrupt_when_serving, daemon=True)
    helper.start()
    with pytest.raises(KeyboardInterrupt):
        server.serve_forever()
    helper.join(DEADLINE)
    assert server._state == "stopped"
    assert server.active_connections == 0


def test_ctrl_c_while_starting_still_stops_the_server() -> None:
    # The interrupt lands once start() has the server serving, before serve_forever's
    # wait: the server must not be left running behind the KeyboardInterrupt.
    class Interrupted(TcpServer):
        def start(self) -> TcpServer:
            super().start()
            raise KeyboardInterrupt

    server = Interrupted(echo)
    with pytest.raises(KeyboardInterrupt):
        server.serve_forever()
    assert server._state == "stopped"


def test_graceful_stop_lets_in_flight_handler_finish() -> None:
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    def handler(conn: TcpConnection) -> None:
        entered.set()
        assert release.wait(DEADLINE)
        conn.sendall(b"done")
        finished.set()

    server = TcpServer(handler).start()
    port = server.address.port
    with connect("127.0.0.1", port) as sock:
        assert entered.wait(DEADLINE)
        stopper = threading.Thread(target=server.stop, kwargs={"timeout": DEADLINE})
        stopper.start()
        # stop() closes the listener at once, while the handler is still running
        deadline = time.monotonic() + DEADLINE
        refused = False
        while not refused and time.monotonic() < deadline:
            try:
                connect("127.0.0.1", port).close()
                time.sleep(0.01)
            except OSError:
                refused = True
        assert refused
        assert stopper.is_alive()  # still waiting for the handler
        assert not finished.is_set()
        release.set()
        stopper.join(DEADLINE)
        assert not stopper.is_alive()
        assert finished.is_set()
        assert recv_exactly(sock, 4) == b"done"
    assert server.active_connections == 0


def test_stop_wakes_handler_blocked_in_recv() -> None:
    entered, returned = threading.Event(), threading.Event()
    got: list[object] = []

    def handler(conn: TcpConnection) -> None:
        entered.set()
        try:
            got.append(conn.recv(100))
        except Exception as exc:
            got.append(exc)
        returned.set()

    server = TcpServer(handler).start()
    with connect("127.0.0.1", server.address.port):
        assert entered.wait(DEADLINE)
        start = time.monotonic()
        server.stop(timeout=0.2)
        elapsed = time.monotonic() - start
    assert returned.is_set()  # stop() returned only after the handler did
    assert got in ([b""],) or isinstance(got[0], OSError)
    assert elapsed < DEADLINE


def test_no_thread_or_fd_left_after_stop() -> None:
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    entered = threading.Event()

    def handler(conn: TcpConnection) -> None:
        entered.set()
        while data := conn.recv(1024):
            conn.sendall(data)

    server = TcpServer(handler).start()
    port = server.address.port
    for _ in range(5):
        assert round_trip("127.0.0.1", port) == b"hello netkit"
    # one connection still open (handler blocked in recv) when stop() is called
    with connect("127.0.0.1", port) as sock:
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        server.stop(timeout=0.1)
    assert set(threading.enumerate()) == threads_before
    assert open_fds() == fds_before


# ----------------------------------------------------------------------- faults


def test_handler_exception_is_logged_once_with_peer_and_server_keeps_serving(
    serve: Callable[..., TcpServer], caplog: pytest.LogCaptureFixture
) -> None:
    done = threading.Event()

    def handler(conn: TcpConnection) -> None:
        if conn.recv(1) == b"!":
            done.set()
            raise RuntimeError("boom")
        echo(conn)

    server = serve(handler)
    with caplog.at_level(logging.INFO, logger="netkit"):
        with connect("127.0.0.1", server.address.port) as sock:
            peer = f"127.0.0.1:{sock.getsockname()[1]}"
            sock.sendall(b"!")
            assert done.wait(DEADLINE)
            assert sock.recv(10) == b""  # the failed handler's connection is closed
        # the next connection is served as usual
        with connect("127.0.0.1", server.address.port) as sock:
            sock.sendall(b"-ping")
            assert recv_exactly(sock, 4) == b"ping"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].name == "netkit"
    assert peer in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], RuntimeError)


def test_handler_system_exit_does_not_kill_the_worker(
    serve: Callable[..., TcpServer], caplog: pytest.LogCaptureFixture
) -> None:
    def handler(conn: TcpConnection) -> None:
        if conn.recv(1) == b"x":
            raise SystemExit(3)
        echo(conn)

    server = serve(handler)
    with caplog.at_level(logging.ERROR, logger="netkit"):
        for _ in range(3):
            with connect("127.0.0.1", server.address.port) as sock:
                sock.sendall(b"x")
                assert sock.recv(1) == b""
        with connect("127.0.0.1", server.address.port) as sock:
            sock.sendall(b"-ok")
            assert recv_exactly(sock, 2) == b"ok"
    assert len(caplog.records) == 3
    assert all(isinstance(r.exc_info[1], SystemExit) for r in caplog.records if r.exc_info)


def _until(predicate: Callable[[], bool], what: str) -> None:
    """Poll *predicate* until it holds; fail after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _workers() -> int:
    return sum(t.name == "netkit-worker" for t in threading.enumerate())


def test_workers_are_reused_not_started_per_connection(
    serve: Callable[..., TcpServer],
) -> None:
    seen: set[int] = set()

    def handler(conn: TcpConnection) -> None:
        seen.add(threading.get_ident())
        echo(conn)

    before = _workers()
    server = serve(handler)
    for i in range(20):
        assert round_trip("127.0.0.1", server.address.port, b"n%d" % i) == b"n%d" % i
        # The worker goes back to the idle pool in the same step as the count drops.
        _until(lambda: server.active_connections == 0, "the handler to return")
    assert len(seen) == 1, f"{len(seen)} worker threads served 20 sequential connections"
    assert _workers() == before + 1


def test_idle_workers_retire_and_the_pool_regrows(
    serve: Callable[..., TcpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    import netkit.tcp._server

    monkeypatch.setattr(netkit.tcp._server, "_WORKER_IDLE", 0.05)
    before = _workers()
    server = serve()
    clients = [connect("127.0.0.1", server.address.port) for _ in range(3)]
    _until(lambda: server.active_connections == 3, "three connections")
    assert _workers() == before + 3
    for client in clients:
        client.close()
    _until(lambda: _workers() == before, "idle workers to exit")
    # The server is still serving: a new connection starts a new worker.
    assert round_trip("127.0.0.1", server.address.port) == b"hello netkit"
    assert server.active_connections in (0, 1)


def test_client_reset_mid_read_does_not_stop_server(serve: Callable[..., TcpServer]) -> None:
    server = serve()
    port = server.address.port
    for _ in range(3):
        sock = connect("127.0.0.1", port)
        sock.sendall(b"partial")
        # RST instead of FIN: SO_LINGER with a zero timeout
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    assert round_trip("127.0.0.1", port) == b"hello netkit"


def test_emfile_at_accept_backs_off_and_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = threading.Event()
    failing.set()
    calls = {"accept": 0}

    class FlakyListener(socket.socket):
        def accept(self) -> tuple[socket.socket, object]:
            if failing.is_set():
                calls["accept"] += 1
                raise OSError(errno.EMFILE, "Too many open files")
            return super().accept()

    waits: list[float] = []
    enough = threading.Event()

    class Server(TcpServer):
        def _bind(self) -> socket.socket:
            real = super()._bind()
            return FlakyListener(real.family, real.type, real.proto, fileno=real.detach())

        def _backoff_wait(self, seconds: float) -> None:
            waits.append(seconds)
            if len(waits) >= 10:
                enough.set()
            super()._backoff_wait(seconds)

    server = Server(echo).start()
    try:
        assert enough.wait(DEADLINE)
        # each failure waited, with a growing wait capped at 0.1 s: no busy loop
        assert calls["accept"] <= len(waits) + 1
        assert waits[:4] == [0.001, 0.002, 0.004, 0.008]
        assert max(waits) <= 0.1
        assert all(b >= a for a, b in itertools.pairwise(waits))
        failing.clear()
        assert round_trip("127.0.0.1", server.address.port) == b"hello netkit"
    finally:
        server.stop()


# ----------------------------------------------------------------------- limits


def test_max_connections_waits_in_backlog(serve: Callable[..., TcpServer]) -> None:
    started = [threading.Event() for _ in range(3)]
    release = [threading.Event() for _ in range(3)]
    lock = threading.Lock()
    order: list[int] = []

    def handler(conn: TcpConnection) -> None:
        index = conn.recv(1)[0] - ord("0")
        with lock:
            order.append(index)
        started[index].set()
        release[index].wait(DEADLINE)
        conn.sendall(b"bye")

    server = serve(handler, max_connections=2)
    port = server.address.port
    socks = []
    try:
        for i in range(2):
            sock = connect("127.0.0.1", port)
            sock.sendall(str(i).encode())
            socks.append(sock)
            assert started[i].wait(DEADLINE)
        # the third connect completes in the kernel (backlog) but is not accepted
        third = connect("127.0.0.1", port)
        socks.append(third)
        third.sendall(b"2")
        assert not started[2].wait(0.3)
        assert server.active_connections == 2
        release[0].set()
        assert recv_exactly(socks[0], 3) == b"bye"
        assert started[2].wait(DEADLINE)  # a slot freed: the third handler runs
        assert order == [0, 1, 2]
        release[1].set()
        release[2].set()
        assert recv_exactly(third, 3) == b"bye"
    finally:
        for event in release:
            event.set()
        for sock in socks:
            sock.close()


def test_idle_timeout_closes_silent_client(serve: Callable[..., TcpServer]) -> None:
    server = serve(idle_timeout=0.3)
    port = server.address.port
    with connect("127.0.0.1", port) as talker:
        talker.sendall(b"alive")  # a client that talks is served as usual
        assert recv_exactly(talker, 5) == b"alive"
    with connect("127.0.0.1", port) as silent:
        start = time.monotonic()
        assert silent.recv(10) == b""  # closed by the server
        elapsed = time.monotonic() - start
    assert 0.2 <= elapsed < DEADLINE
    deadline = time.monotonic() + DEADLINE
    while server.active_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.active_connections == 0


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_reuse_port_shares_a_port(serve: Callable[..., TcpServer]) -> None:
    hits: list[str] = []

    def tagged(tag: str) -> Callable[[TcpConnection], None]:
        def handler(conn: TcpConnection) -> None:
            hits.append(tag)
            echo(conn)

        return handler

    opts = SocketOptions(reuse_port=True)
    first = serve(tagged("a"), options=opts)
    second = serve(tagged("b"), port=first.address.port, options=opts)
    assert second.address.port == first.address.port
    for i in range(20):
        assert round_trip("127.0.0.1", first.address.port, b"%d" % i) == b"%d" % i
    assert set(hits) <= {"a", "b"}
    assert len(hits) == 20


def test_port_in_use_without_reuse_port_fails(serve: Callable[..., TcpServer]) -> None:
    first = serve()
    with pytest.raises(OSError, match="in use"):
        TcpServer(echo, port=first.address.port).start()


# ----------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


def test_tls_round_trip(
    serve: Callable[..., TcpServer], tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls_contexts
    seen: list[bool] = []

    def handler(conn: TcpConnection) -> None:
        seen.append(isinstance(conn.socket, ssl.SSLSocket))
        echo(conn)

    server = serve(handler, tls=server_ctx)
    raw = connect("127.0.0.1", server.address.port)
    with client_ctx.wrap_socket(raw, server_hostname="localhost") as sock:
        payload = os.urandom(100_000)
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
    assert seen == [True]


def test_tls_handshake_timeout_frees_the_slot(
    serve: Callable[..., TcpServer], tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls_contexts
    server = serve(tls=server_ctx, max_connections=1, tls_handshake_timeout=0.3)
    port = server.address.port
    with connect("127.0.0.1", port) as silent:  # never starts the handshake
        assert silent.recv(10) == b""  # the server gave up on it
    with client_ctx.wrap_socket(connect("127.0.0.1", port), server_hostname="localhost") as sock:
        sock.sendall(b"secure")
        assert recv_exactly(sock, 6) == b"secure"


def test_stop_with_tls_connection_open(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls_contexts
    fds_before = open_fds()
    server = TcpServer(echo, tls=server_ctx).start()
    raw = connect("127.0.0.1", server.address.port)
    with client_ctx.wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"
        server.stop(timeout=0.1)
    assert server.active_connections == 0
    assert open_fds() == fds_before


_EMFILE_CHILD = """
import os, resource, sys, time
from netkit import TcpServer

def echo(conn):
    while data := conn.recv(100):
        conn.sendall(data)

server = TcpServer(echo, backlog=64).start()
used = len(os.listdir("/proc/self/fd"))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (used + 3, hard))
print(server.address.port, flush=True)
sys.stdin.readline()  # the parent has connected more clients than we have fds for
start_cpu, start = time.process_time(), time.monotonic()
time.sleep(1.0)  # a measurement window, not synchronisation
print(time.process_time() - start_cpu, server.active_connections, flush=True)
sys.stdin.readline()  # the parent closed its clients and checks we serve again
server.stop(timeout=1)
"""


def test_real_emfile_backs_off_without_spinning() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _EMFILE_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    clients: list[socket.socket] = []
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        port = int(child.stdout.readline())
        for _ in range(8):
            sock = connect("127.0.0.1", port)
            sock.sendall(b"a")
            clients.append(sock)
        assert recv_exactly(clients[0], 1) == b"a"  # the first fits in the fd limit
        child.stdin.write("measure\n")
        child.stdin.flush()
        cpu, active = child.stdout.readline().split()
        assert float(cpu) < 0.5  # backing off, not spinning on accept()
        assert 1 <= int(active) < 8  # some clients are waiting: accept() hit EMFILE
        for sock in clients:
            sock.close()
        clients.clear()
        # fds are free again: a new client is served
        assert round_trip("127.0.0.1", port, b"again") == b"again"
        child.stdin.write("done\n")
        child.stdin.flush()
        assert child.wait(DEADLINE) == 0
    finally:
        for sock in clients:
            sock.close()
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize(
    ("options", "nodelay", "keepalive"),
    [
        (None, True, False),
        (SocketOptions(nodelay=False), False, False),
        (SocketOptions(keepalive=True), True, True),
    ],
)
def test_connection_options(
    serve: Callable[..., TcpServer],
    options: SocketOptions | None,
    nodelay: bool,
    keepalive: bool,
) -> None:
    seen: list[tuple[bool, bool]] = []

    def handler(conn: TcpConnection) -> None:
        sock = conn.socket
        seen.append(
            (
                bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)),
                bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)),
            )
        )
        conn.sendall(b".")

    server = serve(handler, options=options)
    with connect("127.0.0.1", server.address.port) as sock:
        assert recv_exactly(sock, 1) == b"."
    assert seen == [(nodelay, keepalive)]


def test_listener_has_reuse_addr_by_default(serve: Callable[..., TcpServer]) -> None:
    default = serve()
    off = serve(options=SocketOptions(reuse_addr=False))
    assert default.listener.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    assert not off.listener.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
