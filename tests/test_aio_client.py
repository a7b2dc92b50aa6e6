"""netkit.aio.TcpClient: Happy Eyeballs, ConnectFailed.attempts, deadlines, TLS."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from _aio_util import assert_same_error, open_fds, run, wait_until
from _resolver_util import answering, stuck
from netkit import tls
from netkit._core.connect import HappyEyeballs, Target, check_connect_args, literal_targets
from netkit.addr import Endpoint
from netkit.aio import TcpClient, TcpConnection, TcpServer
from netkit.aio import client as aio_client
from netkit.errors import (
    AddressError,
    ConnectFailed,
    ConnectionClosed,
    LookupFailed,
    NetkitTimeout,
)
from netkit.options import SocketOptions
from netkit.tcp import client as sync_client

__all__ = ["run"]  # the fixture, imported for pytest

Run = Callable[..., Any]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 whose SYNs are dropped: a listener with a full backlog."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        # Fill the accept queue; once it is full the kernel drops further SYNs.
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


def _target(host: str, port: int) -> Target:
    [target] = literal_targets(host, port) or []
    return target


def _local_port(fd: int) -> int:
    with socket.socket(fileno=os.dup(fd)) as sock:
        return int(sock.getsockname()[1])


def _plan(targets: list[Target], delay: float) -> HappyEyeballs:
    args = check_connect_args("example.test", 80, None, None, None, None, None)
    return HappyEyeballs(args, targets, None, delay)


def test_connect_refused_lists_attempt(run: Run) -> None:
    port = _closed_port()

    async def main() -> None:
        before = open_fds()
        with pytest.raises(ConnectFailed) as info:
            await TcpClient.connect("127.0.0.1", port, timeout=5)
        assert len(info.value.attempts) == 1
        endpoint, error = info.value.attempts[0]
        assert endpoint == Endpoint("127.0.0.1", port)
        assert isinstance(error, ConnectionRefusedError)
        assert open_fds() <= before

    run(main())


def test_happy_eyeballs_moves_on_from_a_silent_address(run: Run, blackhole: int) -> None:
    async def main() -> None:
        async def greet(conn: TcpConnection) -> None:
            await conn.sendall(b"hello")

        async with TcpServer(greet) as server:
            good = server.address.port
            targets = [_target("127.0.0.1", blackhole), _target("127.0.0.1", good)]
            before = open_fds()
            loop = asyncio.get_running_loop()
            start = loop.time()
            plan = _plan(targets, 0.1)
            sock = await aio_client._race(plan)
            assert sock is not None
            assert plan.winner is not None
            # The first attempt hung; the second started after the delay and won.
            assert plan.winner.endpoint.port == good
            assert 0.09 <= loop.time() - start < 3
            assert not plan.timed_out
            # The hung loser was closed before _race returned: what is new is the
            # winner and, once the server has accepted it, the server's end.
            new = open_fds() - before
            assert sock.fileno() in new
            assert {_local_port(fd) for fd in new - {sock.fileno()}} <= {good}
            sock.close()
            await wait_until(lambda: open_fds() <= before)  # the server closes its end

    run(main())


def test_all_attempts_fail_in_start_order(run: Run) -> None:
    a, b = _closed_port(), _closed_port()

    async def main() -> None:
        targets = [_target("127.0.0.1", a), _target("127.0.0.1", b)]
        plan = _plan(targets, 5.0)
        assert await aio_client._race(plan) is None
        assert plan.winner is None
        assert not plan.timed_out
        attempts = plan.attempts
        assert [ep.port for ep, _ in attempts] == [a, b]
        assert all(isinstance(err, ConnectionRefusedError) for _, err in attempts)

    run(main())


def test_hostname_resolution_interleaves(run: Run) -> None:
    refused = _closed_port()

    async def main() -> None:
        async with TcpServer(lambda conn: conn.sendall(b"ok")) as server:
            port = server.address.port
            # Two addresses of one family first: the connect must fall through.
            with answering(("127.0.0.1", refused), ("127.0.0.1", port)) as resolver:
                async with await TcpClient.connect("example.test", port, timeout=5) as client:
                    assert await client.recv_exactly(2, timeout=5) == b"ok"
            assert [call[0] for call in resolver.calls] == ["example.test"]

    run(main())


def test_connect_deadline(run: Run, blackhole: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        before = open_fds()
        start = loop.time()
        with pytest.raises(NetkitTimeout) as info:
            await TcpClient.connect("127.0.0.1", blackhole, timeout=0.2)
        assert loop.time() - start < 2
        cause = info.value.__cause__
        assert isinstance(cause, ConnectFailed)
        assert len(cause.attempts) == 1
        assert open_fds() <= before

    run(main())


def test_cancelled_connect_leaves_nothing(run: Run, blackhole: int) -> None:
    async def main() -> None:
        before = open_fds()
        attempt = asyncio.ensure_future(TcpClient.connect("127.0.0.1", blackhole))
        await asyncio.sleep(0.05)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        assert open_fds() <= before

    run(main())


def test_bad_arguments(run: Run) -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            await TcpClient.connect(1234, 80)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="port"):
            await TcpClient.connect("127.0.0.1", 0)
        with pytest.raises(TypeError):
            await TcpClient.connect("127.0.0.1", 80, tls="yes")  # type: ignore[arg-type]

    run(main())


BAD_CONNECT_ARGUMENTS = [
    {"host": 1234},
    {"host": ""},
    {"host": "bad host"},
    {"port": 0},
    {"port": 70000},
    {"port": "80"},
    {"port": True},
    {"host": "[1.2.3.4]"},
    {"host": "[::1"},
    {"host": "127.1"},
    {"timeout": -1},
    {"timeout": "1"},
    {"timeout": float("nan")},
    {"timeout": True},
    {"tls": "yes"},
    {"tls": 1},
    {"options": {"nodelay": True}},
    {"server_hostname": "example.test"},  # without tls=
    {"server_hostname": 5, "tls": True},
    {"source": "127.0.0.1"},
    {"source": ("localhost", 0)},
    {"source": (b"127.0.0.1", 0)},
    {"source": ("127.0.0.1", "0")},
    {"source": ("127.0.0.1", True)},
    {"source": ("127.0.0.1", 70000)},
    {"source": ("127.0.0.1", 0, 0)},
]


@pytest.mark.parametrize("kwargs", BAD_CONNECT_ARGUMENTS, ids=repr)
def test_bad_arguments_fail_like_the_sync_client(kwargs: dict[str, Any]) -> None:
    """The twin promise: the same bad argument gets the same error, before any I/O."""
    args = dict(kwargs)
    host, port = args.pop("host", "127.0.0.1"), args.pop("port", 9)

    async def main() -> None:
        await TcpClient.connect(host, port, **args)

    # TypeError/ValueError only: a call that got as far as connecting would not match.
    assert_same_error(lambda: sync_client.TcpClient.connect(host, port, **args), main)


# -- the same outcome on both faces -------------------------------------------------------


def _attempts(exc: BaseException) -> list[tuple[str, type[BaseException]]]:
    return [(str(ep), type(err)) for ep, err in getattr(exc, "attempts", [])]


def _outcome(exc: BaseException | None) -> tuple[object, ...]:
    """What a user sees of a failed connect: type, message, attempts, and the cause's."""
    if exc is None:
        return ()
    cause = exc.__cause__ if isinstance(exc, NetkitTimeout) else None
    return (type(exc), str(exc), _attempts(exc), _outcome(cause))


def assert_same_connect_error(
    run: Run, expected: type[BaseException], host: Any, port: Any, **kwargs: Any
) -> BaseException:
    """Both faces' connect(host, port, **kwargs) fail alike; return the sync error."""
    with pytest.raises(expected) as sync_error:
        sync_client.TcpClient.connect(host, port, **kwargs)

    async def main() -> BaseException:
        with pytest.raises(expected) as aio_error:
            await TcpClient.connect(host, port, **kwargs)
        return aio_error.value

    aio_value = run(main())
    assert _outcome(aio_value) == _outcome(sync_error.value)
    return sync_error.value


def test_refused_connect_fails_alike(run: Run) -> None:
    port = _closed_port()
    error = assert_same_connect_error(run, ConnectFailed, "127.0.0.1", port, timeout=5)
    assert _attempts(error) == [(f"127.0.0.1:{port}", ConnectionRefusedError)]
    assert (
        str(error) == f"cannot connect to 127.0.0.1:{port}: 127.0.0.1:{port}: Connection refused"
    )


def test_every_address_refused_fails_alike(run: Run) -> None:
    answers: list[tuple[Any, ...]] = [("127.0.0.1", _closed_port()) for _ in range(5)]
    if _has_ipv6():
        answers.insert(1, ("::1", _closed_port(), 0, 0))
    with answering(*answers):
        error = assert_same_connect_error(run, ConnectFailed, "many.test", 80, timeout=5)
    assert len(_attempts(error)) == len(answers)
    assert str(error).endswith(f"and {len(answers) - 3} more")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("", AddressError),
        ("[1.2.3.4]", AddressError),
        ("bad host", AddressError),
        ("127.1", AddressError),
        (123, TypeError),
        ("nothing.invalid", LookupFailed),
    ],
)
def test_bad_host_fails_alike(run: Run, host: Any, expected: type[BaseException]) -> None:
    assert_same_connect_error(run, expected, host, 80, timeout=5)


def test_source_of_the_wrong_family_fails_alike(run: Run) -> None:
    error = assert_same_connect_error(
        run, ConnectFailed, "127.0.0.1", 9, timeout=5, source=("::1", 0)
    )
    assert str(error) == "cannot connect to 127.0.0.1:9: no address of the source's family ('::1')"


def test_connect_timeout_fails_alike(run: Run, blackhole: int) -> None:
    error = assert_same_connect_error(run, NetkitTimeout, "127.0.0.1", blackhole, timeout=0.2)
    assert str(error) == f"connect to 127.0.0.1:{blackhole} timed out after 0.2 s"
    assert _attempts(error.__cause__) == [(f"127.0.0.1:{blackhole}", NetkitTimeout)]


def test_resolution_timeout_fails_alike(run: Run) -> None:
    with stuck():
        error = assert_same_connect_error(run, NetkitTimeout, "stuck.test", 80, timeout=0.1)
    assert str(error) == "resolving 'stuck.test' took longer than the timeout"


# -- TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    where: Path = tmp_path_factory.mktemp("aio-tls")
    ca_file = where / "ca.pem"
    chain = where / "chain.pem"
    key = where / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key))
    with open(chain, "wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    return tls.server_context(chain, key), tls.client_context(ca_file)


def test_tls_round_trip(run: Run, certs: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = certs

    async def handler(conn: TcpConnection) -> None:
        assert conn.is_tls
        frame = await conn.recv_frame()
        await conn.send_frame(frame[::-1])

    async def main() -> None:
        async with TcpServer(handler, tls=server_ctx) as server:
            port = server.address.port
            async with await TcpClient.connect(
                "127.0.0.1", port, tls=client_ctx, server_hostname="localhost", timeout=5
            ) as client:
                assert client.is_tls
                payload = bytes(range(256)) * 1000
                await client.send_frame(payload)
                assert await client.recv_frame(timeout=5) == payload[::-1]
                with pytest.raises(NotImplementedError):
                    client.shutdown_write()

    run(main())


def test_tls_wrong_name_is_connect_failed(
    run: Run, certs: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = certs

    async def handler(conn: TcpConnection) -> None:
        await conn.recv()

    async def main() -> None:
        before = open_fds()
        async with TcpServer(handler, tls=server_ctx) as server:
            with pytest.raises(ConnectFailed, match="rejected") as info:
                await TcpClient.connect(
                    "127.0.0.1",
                    server.address.port,
                    tls=client_ctx,
                    server_hostname="wrong.example",
                    timeout=5,
                )
            assert isinstance(info.value.attempts[0][1], ssl.SSLCertVerificationError)
        assert open_fds() <= before  # the client's socket and the server's are both gone

    run(main())


def test_plain_client_to_tls_server_does_not_hurt_it(
    run: Run, certs: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = certs

    async def handler(conn: TcpConnection) -> None:
        await conn.sendall(await conn.recv_exactly(2))

    async def main() -> None:
        async with TcpServer(handler, tls=server_ctx) as server:
            port = server.address.port
            async with await TcpClient.connect("127.0.0.1", port) as plain:
                await plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
                with pytest.raises(ConnectionClosed):
                    await plain.recv_exactly(10, timeout=5)
            async with await TcpClient.connect(
                "127.0.0.1", port, tls=client_ctx, server_hostname="localhost"
            ) as good:
                await good.sendall(b"ok")
                assert await good.recv_exactly(2, timeout=5) == b"ok"

    run(main())


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
def test_families_interleave_and_every_error_is_kept(run: Run) -> None:
    v6_refused = [_closed_port(), _closed_port()]
    v4_refused = _closed_port()

    async def main() -> None:
        with (
            answering(
                ("::1", v6_refused[0], 0, 0),
                ("::1", v6_refused[1], 0, 0),
                ("127.0.0.1", v4_refused),
            ),
            pytest.raises(ConnectFailed) as info,
        ):
            await TcpClient.connect("dual.test", 80, timeout=5)
        tried = [str(ep) for ep, _ in info.value.attempts]
        # RFC 8305 order: first family, other family, then the rest of the first.
        assert tried == [
            f"[::1]:{v6_refused[0]}",
            f"127.0.0.1:{v4_refused}",
            f"[::1]:{v6_refused[1]}",
        ]
        assert all(isinstance(err, ConnectionRefusedError) for _, err in info.value.attempts)

    run(main())


def test_source_and_default_timeout(run: Run) -> None:
    async def main() -> None:
        async def quiet(conn: TcpConnection) -> None:
            await conn.recv()

        async with TcpServer(quiet) as server:
            client = await TcpClient.connect(
                "127.0.0.1",
                server.address.port,
                source=("127.0.0.1", 0),
                options=SocketOptions(timeout=0.05),
            )
            async with client:
                assert client.local_address.host == "127.0.0.1"
                with pytest.raises(NetkitTimeout):
                    await client.recv()  # options.timeout is the default deadline

    run(main())
