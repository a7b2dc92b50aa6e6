"""The IO-free server rules: the accept-error policy and the server argument rules."""

from __future__ import annotations

import errno
import itertools
import logging
import socket

import pytest

from netkit import AddressError, NetkitTimeout, SocketOptions
from netkit._core.accept import (
    BACKOFF_FIRST,
    BACKOFF_MAX,
    CLIENT_ERRNOS,
    LOG_INTERVAL,
    RESOURCE_ERRNOS,
    AcceptErrors,
)
from netkit._core.server import (
    check_server_args,
    connection_options,
    handler_error,
    listener_options,
)

EMFILE = OSError(errno.EMFILE, "Too many open files")
WHERE = "127.0.0.1:80"


def test_errno_tables() -> None:
    assert {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM} == RESOURCE_ERRNOS
    assert {errno.ECONNABORTED, errno.EPROTO, errno.EPERM} <= CLIENT_ERRNOS
    assert not RESOURCE_ERRNOS & CLIENT_ERRNOS


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ECONNABORTED, "aborted"),
        OSError(errno.EPERM, "firewall"),
        OSError(errno.EPROTO, "protocol"),
        ConnectionResetError(errno.ECONNRESET, "reset"),
        TimeoutError("timed out"),
    ],
    ids=repr,
)
def test_a_dead_client_is_skipped_at_once_unlogged(exc: OSError) -> None:
    errors = AcceptErrors(WHERE)
    assert errors.failed(exc, 0.0) == (0.0, None)
    assert not errors.failing


@pytest.mark.parametrize("exc", [EMFILE, OSError(errno.EINVAL, "Invalid argument")], ids=repr)
def test_resource_and_unknown_errors_back_off_doubling_to_a_cap(exc: OSError) -> None:
    errors = AcceptErrors(WHERE)
    waits = [errors.failed(exc, 0.0)[0] for _ in range(10)]
    assert waits[:4] == [BACKOFF_FIRST, 2 * BACKOFF_FIRST, 4 * BACKOFF_FIRST, 8 * BACKOFF_FIRST]
    assert waits[-1] == BACKOFF_MAX
    assert all(a <= b <= BACKOFF_MAX for a, b in itertools.pairwise(waits))
    assert errors.failing


def test_a_successful_accept_resets_the_back_off() -> None:
    errors = AcceptErrors(WHERE)
    for _ in range(5):
        errors.failed(EMFILE, 0.0)
    errors.recovered(0.0)
    assert errors.failed(EMFILE, 0.0)[0] == BACKOFF_FIRST


def test_logging_is_one_line_per_interval_with_a_count() -> None:
    errors = AcceptErrors(WHERE)
    lines: list[tuple[float, str]] = []
    for step in range(int(300 * LOG_INTERVAL)):  # a failure every 10 ms, three intervals
        now = step / 100
        line = errors.failed(EMFILE, now)[1]
        if line is not None:
            lines.append((now, line))
    assert len(lines) == 3
    assert lines[0] == (
        0.0,
        f"netkit server {WHERE}: accept failed: Too many open files; backing off",
    )
    assert lines[1] == (
        LOG_INTERVAL,
        f"netkit server {WHERE}: accept failed 1000 times in 10.0 s, "
        "last: Too many open files; backing off",
    )
    assert all(b[0] - a[0] >= LOG_INTERVAL for a, b in itertools.pairwise(lines))


def test_failures_not_yet_logged_are_reported_after_recovery() -> None:
    errors = AcceptErrors(WHERE)
    assert errors.failed(EMFILE, 0.0)[1] is not None
    assert errors.failed(EMFILE, 1.0)[1] is None
    assert errors.failed(EMFILE, 2.0)[1] is None
    assert errors.recovered(3.0) is None  # within the interval: still counted
    assert errors.failing
    assert errors.recovered(LOG_INTERVAL + 1) == (
        f"netkit server {WHERE}: accept failed 2 more times, last: Too many open files; "
        "accepting again"
    )
    assert not errors.failing
    assert errors.recovered(100.0) is None


def test_flapping_stays_within_one_line_per_interval() -> None:
    errors = AcceptErrors(WHERE)
    lines = 0
    for step in range(2000):  # fail, accept, fail, accept... over 20 s
        now = step * 0.01
        lines += errors.failed(EMFILE, now)[1] is not None
        lines += errors.recovered(now + 0.005) is not None
    assert lines <= 3


def _args(**changes: object) -> list[object]:
    args: dict[str, object] = {
        "handler": print,
        "host": "127.0.0.1",
        "port": 0,
        "backlog": 128,
        "max_connections": None,
        "idle_timeout": None,
        "options": None,
        "tls": None,
        "tls_handshake_timeout": 10.0,
    }
    args.update(changes)
    return list(args.values())


def test_server_args_port_is_an_address_error_like_everywhere() -> None:
    check_server_args(*_args())
    check_server_args(*_args(port=65535))
    for port in (-1, 65536, 70000):
        with pytest.raises(AddressError, match="port"):
            check_server_args(*_args(port=port))
    with pytest.raises(TypeError, match="port"):
        check_server_args(*_args(port="80"))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"handler": "echo"}, TypeError),
        ({"host": 5}, TypeError),
        ({"backlog": -1}, ValueError),
        ({"max_connections": 0}, ValueError),
        ({"idle_timeout": 0}, ValueError),
        ({"tls_handshake_timeout": None}, ValueError),
        ({"tls_handshake_timeout": 0}, ValueError),
        ({"options": {}}, TypeError),
        ({"tls": "x"}, TypeError),
    ],
    ids=repr,
)
def test_server_args_refused(changes: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        check_server_args(*_args(**changes))


def test_options_split_between_listener_and_connections() -> None:
    options = SocketOptions(nodelay=False, keepalive=True, send_buffer=4096, reuse_port=True)
    listener = listener_options(options, socket.AF_INET, "127.0.0.1")
    assert listener == SocketOptions(reuse_addr=True, reuse_port=True, send_buffer=4096)
    assert connection_options(options) == SocketOptions(nodelay=False, keepalive=True)
    assert connection_options(SocketOptions()) == SocketOptions(nodelay=True)
    assert listener_options(SocketOptions(), socket.AF_INET6, "::").v6only is False
    assert listener_options(SocketOptions(), socket.AF_INET6, "::1").v6only is None
    assert (
        listener_options(SocketOptions(reuse_addr=False), socket.AF_INET, "").reuse_addr is False
    )


def test_handler_error_levels() -> None:
    peer = "127.0.0.1:5"
    assert handler_error(NetkitTimeout("idle"), peer, stopping=False) == (
        logging.INFO,
        "netkit server: closing 127.0.0.1:5: idle",
        False,
    )
    reset = ConnectionResetError("reset")
    assert handler_error(reset, peer, stopping=False) == (
        logging.INFO,
        "netkit server: connection from 127.0.0.1:5 failed: reset",
        False,
    )
    assert handler_error(reset, peer, stopping=True)[0] == logging.DEBUG
    assert handler_error(ValueError("bug"), peer, stopping=False) == (
        logging.ERROR,
        "netkit server: handler failed for 127.0.0.1:5",
        True,
    )
    assert handler_error(SystemExit(3), peer, stopping=True)[0] == logging.ERROR
