"""The connect planner without sockets or clocks: RFC 8305 timing, errors, source rules."""

from __future__ import annotations

import socket

import pytest

from netkit import ConnectFailed, Endpoint, NetkitTimeout, SocketOptions
from netkit._core.connect import (
    DEFAULT_OPTIONS,
    HappyEyeballs,
    Start,
    Target,
    Wait,
    check_connect_args,
    literal_targets,
    socket_options,
)


def _t(host: str, port: int = 80) -> Target:
    [target] = literal_targets(host, port) or []
    return target


def _plan(
    targets: list[Target], timeout: float | None = None, source: object = None
) -> HappyEyeballs:
    args = check_connect_args("example.test", 80, timeout, None, None, None, source)
    return HappyEyeballs.plan(args, targets, args.deadline(100.0), delay=0.25)


def _start(step: object) -> Start:
    assert isinstance(step, Start)
    return step


def test_attempts_start_a_delay_apart_and_the_first_to_connect_wins() -> None:
    plan = _plan([_t("::1"), _t("::2"), _t("127.0.0.1")])
    # Interleaved: IPv6 (the resolver's first), then IPv4, then the other IPv6.
    assert [t.endpoint.host for t in plan.targets] == ["::1", "127.0.0.1", "::2"]
    first = _start(plan.step(100.0))
    assert (first.attempt, first.target.endpoint.host) == (0, "::1")
    assert plan.step(100.1) == Wait(pytest.approx(0.15))
    second = _start(plan.step(100.25))
    assert second.target.endpoint.host == "127.0.0.1"
    assert plan.step(100.3) == Wait(pytest.approx(0.2))
    assert plan.succeeded(second.attempt).endpoint == Endpoint("127.0.0.1", 80)
    assert plan.step(100.3) is None
    assert plan.winner is not None
    assert plan.attempts == []


def test_a_failure_starts_the_next_attempt_at_once() -> None:
    plan = _plan([_t("127.0.0.1"), _t("127.0.0.2"), _t("127.0.0.3")])
    first = _start(plan.step(100.0))
    plan.failed(first.attempt, ConnectionRefusedError(111, "Connection refused"))
    assert _start(plan.step(100.01)).target.endpoint.host == "127.0.0.2"
    # Nothing left to start: wait for the running attempt without a limit.
    third = _start(plan.step(100.3))
    assert plan.step(100.3) == Wait(None)
    assert third.attempt == 2


def test_every_attempt_failing_is_connect_failed_in_start_order() -> None:
    targets = [_t(f"127.0.0.{i}") for i in range(1, 6)]
    plan = _plan(targets)
    while (step := plan.step(100.0)) is not None:
        plan.failed(_start(step).attempt, ConnectionRefusedError(111, "Connection refused"))
    error = plan.error()
    assert isinstance(error, ConnectFailed)
    assert [ep for ep, _ in error.attempts] == [t.endpoint for t in targets]
    assert str(error) == (
        "cannot connect to example.test:80: 127.0.0.1:80: Connection refused; "
        "127.0.0.2:80: Connection refused; 127.0.0.3:80: Connection refused; and 2 more"
    )


def test_the_deadline_ends_every_running_attempt() -> None:
    plan = _plan([_t("127.0.0.1"), _t("127.0.0.2"), _t("127.0.0.3")], timeout=0.4)
    _start(plan.step(100.0))
    assert plan.step(100.1) == Wait(pytest.approx(0.15))  # the next start comes first
    _start(plan.step(100.25))
    assert plan.step(100.3) == Wait(pytest.approx(0.1))  # the deadline comes first
    assert plan.step(100.4) is None
    assert plan.timed_out
    error = plan.error()
    assert isinstance(error, NetkitTimeout)
    assert str(error) == "connect to example.test:80 timed out after 0.4 s"
    cause = error.__cause__
    assert isinstance(cause, ConnectFailed)
    assert str(cause) == "cannot connect to example.test:80: timed out"
    assert [(str(ep), type(e)) for ep, e in cause.attempts] == [
        ("127.0.0.1:80", NetkitTimeout),
        ("127.0.0.2:80", NetkitTimeout),
    ]


def test_source_keeps_only_its_family_and_is_bound() -> None:
    plan = _plan([_t("::1"), _t("127.0.0.1")], source=("127.0.0.1", 0))
    step = _start(plan.step(100.0))
    assert step.target.family == socket.AF_INET
    assert step.bind == ("127.0.0.1", 0)
    assert len(plan.targets) == 1
    with pytest.raises(ConnectFailed, match=r"no address of the source's family \('::1'\)"):
        _plan([_t("127.0.0.1")], source=("::1", 0))


def test_socket_options_per_family() -> None:
    assert socket_options(None, socket.AF_INET) is DEFAULT_OPTIONS
    asked = SocketOptions(v6only=True, timeout=3.0, keepalive=True)
    assert socket_options(asked, socket.AF_INET) == SocketOptions(nodelay=True, keepalive=True)
    assert socket_options(asked, socket.AF_INET6) == SocketOptions(
        nodelay=True, keepalive=True, v6only=True
    )
    off = SocketOptions(nodelay=False)
    assert socket_options(off, socket.AF_INET) == off


def test_no_address_at_all() -> None:
    plan = _plan([])
    assert plan.step(100.0) is None
    assert str(plan.error()) == "cannot connect to example.test:80: no address to try"
