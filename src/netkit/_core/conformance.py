"""The stream conformance table: situations and the outcome the contract requires.

Face-neutral data, run by :func:`netkit.testing.check_connection_pair` (sync) and
:func:`netkit.aio.testing.check_connection_pair` (asyncio) over any pair of connected
stream connections, so every transport in both faces is held to the same results,
exception types and messages. Each :class:`Case` is a script of :class:`Step` s played on
a fresh pair ``(a, b)``: a step calls one method on one side and, when it says so,
compares what came back (or what was raised) with :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from netkit.errors import ConnectionClosed, FrameTooLarge, NetkitTimeout

__all__ = [
    "ANY",
    "CASES",
    "Case",
    "Outcome",
    "Step",
    "describe_outcome",
    "deviation",
    "outcome_of",
]


class Outcome(NamedTuple):
    """What a call gave: a value, or an exception's type, message and ``.partial``."""

    value: Any = None
    error: type[BaseException] | None = None
    message: str | None = None
    partial: bytes | None = None


def outcome_of(call: Callable[[], Any]) -> Outcome:
    """Run *call* and record what it returned or raised."""
    try:
        return Outcome(value=call())
    except Exception as exc:  # recorded, then compared with the table
        return error_outcome(exc)


def error_outcome(exc: BaseException) -> Outcome:
    """The :class:`Outcome` of a raised exception."""
    partial = exc.partial if isinstance(exc, ConnectionClosed) else None
    return Outcome(error=type(exc), message=str(exc), partial=partial)


def describe_outcome(outcome: Outcome) -> str:
    """Readable text for an assertion message."""
    if outcome.error is None:
        return f"returned {outcome.value!r}"
    text = f"raised {outcome.error.__name__}({outcome.message!r})"
    if outcome.partial is not None:
        text += f" with partial={outcome.partial!r}"
    return text


ANY = object()  #: a step whose result is not compared (it must not raise)


@dataclass(frozen=True)
class Step:
    """Call ``side.method(*args, **kwargs)``; compare with *expect* unless it is ANY.

    *side* is ``"a"`` (the connection under test) or ``"b"`` (its peer). An expected
    exception matches on its exact type (a subclass is a deviation: users catch the
    documented type), message and, for ``ConnectionClosed``, ``.partial``.
    """

    side: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    expect: Any = ANY


@dataclass(frozen=True)
class Case:
    """One situation: a name for the report, its steps, and what it needs."""

    name: str
    steps: tuple[Step, ...]
    half_close: bool = False  # needs shutdown_write (not on TLS)


def _raises(error: type[BaseException], message: str, partial: bytes | None = None) -> Outcome:
    return Outcome(error=error, message=message, partial=partial)


def _ok(value: Any) -> Outcome:
    return Outcome(value=value)


def _a(method: str, *args: Any, expect: Any = ANY, **kwargs: Any) -> Step:
    return Step("a", method, args, kwargs, expect)


def _b(method: str, *args: Any, expect: Any = ANY, **kwargs: Any) -> Step:
    return Step("b", method, args, kwargs, expect)


_CLOSED = _raises(ConnectionClosed, "connection is closed", b"")
_TIMEOUT = _raises(NetkitTimeout, "timed out waiting for data")
_FRAME5 = b"\x00\x00\x00\x05"
_T = 0.05  # a deadline that only has to pass: no upper bound is ever asserted on it
_WAIT = 10.0  # a deadline that must not pass


def _eof_cases() -> list[Case]:
    def after(data: bytes, *steps: Step) -> tuple[Step, ...]:
        sends = (_b("sendall", data),) if data else ()
        return (*sends, _b("close"), *steps)

    return [
        Case(
            "recv at EOF",
            # recv(1) first: a transport may deliver "ab" in two pieces (the contract's
            # recv returns what is available), but whatever the split the rest is b"b".
            after(
                b"ab",
                _a("recv", 1, expect=_ok(b"a")),
                _a("recv", expect=_ok(b"b")),
                _a("recv", expect=_ok(b"")),
            ),
        ),
        Case(
            "recv_exactly at EOF",
            after(
                b"ab",
                _a(
                    "recv_exactly", 5, timeout=_WAIT,
                    expect=_raises(ConnectionClosed, "connection closed by peer after 2 of 5 bytes", b"ab"),
                ),
            ),
        ),
        Case(
            "recv_until at EOF",
            after(
                b"ab",
                _a(
                    "recv_until", b";", timeout=_WAIT,
                    expect=_raises(ConnectionClosed, "connection closed by peer before b';'", b"ab"),
                ),
            ),
        ),
        Case(
            "readline at EOF mid-line",
            after(
                b"ab",
                _a(
                    "readline", timeout=_WAIT,
                    expect=_raises(ConnectionClosed, "connection closed by peer mid-line", b"ab"),
                ),
            ),
        ),
        Case(
            "readline at a clean EOF",
            after(b"x\n", _a("readline", expect=_ok(b"x\n")), _a("readline", expect=_ok(b""))),
        ),
        Case(
            "recv_frame at EOF between frames",
            after(
                b"",
                _a(
                    "recv_frame", timeout=_WAIT,
                    expect=_raises(ConnectionClosed, "connection closed by peer before the next frame", b""),
                ),
            ),
        ),
        Case(
            "recv_frame at EOF mid-frame",
            after(
                _FRAME5 + b"ab",
                _a(
                    "recv_frame", timeout=_WAIT,
                    expect=_raises(
                        ConnectionClosed, "connection closed by peer mid-frame after 6 bytes", _FRAME5 + b"ab"
                    ),
                ),
            ),
        ),
        Case("recv_all to EOF", after(b"abc", _a("recv_all", timeout=_WAIT, expect=_ok(b"abc")))),
        Case("recv_exactly(0)", after(b"", _a("recv_exactly", 0, expect=_ok(b"")))),
    ]  # fmt: skip


def _limit_cases() -> list[Case]:
    return [
        Case(
            "recv_until over its limit consumes nothing",
            (
                _b("sendall", b"abcdef;"),
                _a(
                    "recv_until", b";", max_bytes=3, timeout=_WAIT,
                    expect=_raises(FrameTooLarge, "no b';' within 3 bytes"),
                ),
                _a("recv_exactly", 7, timeout=_WAIT, expect=_ok(b"abcdef;")),
            ),
        ),
        Case(
            "readline over its limit consumes nothing",
            (
                _b("sendall", b"abcdef\n"),
                _a(
                    "readline", max_bytes=3, timeout=_WAIT,
                    expect=_raises(FrameTooLarge, "no b'\\n' within 3 bytes"),
                ),
                _a("readline", timeout=_WAIT, expect=_ok(b"abcdef\n")),
            ),
        ),
        Case(
            "recv_frame over its limit consumes nothing",
            (
                _b("sendall", b"\x00\x00\x00\x0a"),
                _a(
                    "recv_frame", max_size=3, timeout=_WAIT,
                    expect=_raises(FrameTooLarge, "frame of 10 bytes is over the limit of 3"),
                ),
                _a("recv_exactly", 4, timeout=_WAIT, expect=_ok(b"\x00\x00\x00\x0a")),
            ),
        ),
        Case(
            "recv_all over its limit",
            (
                _b("sendall", b"abcdef"),
                _b("close"),
                _a(
                    "recv_all", max_bytes=3, timeout=_WAIT,
                    expect=_raises(FrameTooLarge, "stream longer than the limit of 3 bytes"),
                ),
            ),
        ),
    ]  # fmt: skip


def _split_cases() -> list[Case]:
    return [
        Case(
            "a line in two pieces",
            (
                _b("sendall", b"he"),
                _a("recv_exactly", 1, timeout=_WAIT, expect=_ok(b"h")),
                _b("sendall", b"llo\nrest"),
                _a("readline", timeout=_WAIT, expect=_ok(b"ello\n")),
                _a("recv_exactly", 4, timeout=_WAIT, expect=_ok(b"rest")),
            ),
        ),
        Case(
            "frames both ways",
            (
                _b("send_frame", b"abc"),
                _b("send_frame", b""),
                _a("recv_frame", timeout=_WAIT, expect=_ok(b"abc")),
                _a("recv_frame", timeout=_WAIT, expect=_ok(b"")),
                _a("send_frame", b"xyz"),
                _b("recv_frame", timeout=_WAIT, expect=_ok(b"xyz")),
            ),
        ),
        Case(
            "mixed reads share one buffer",
            (
                _b("sendall", b"line\n" + _FRAME5 + b"hello" + b"a;b"),
                _a("readline", timeout=_WAIT, expect=_ok(b"line\n")),
                _a("recv_frame", timeout=_WAIT, expect=_ok(b"hello")),
                _a("recv_until", b";", timeout=_WAIT, expect=_ok(b"a")),
                _a("recv", 10, timeout=_WAIT, expect=_ok(b"b")),
            ),
        ),
        Case(
            "half-close: the peer still reads after our EOF",
            (
                _a("sendall", b"bye"),
                _a("shutdown_write"),
                _b("recv_all", timeout=_WAIT, expect=_ok(b"bye")),
                _b("sendall", b"ok"),
                _a("recv_exactly", 2, timeout=_WAIT, expect=_ok(b"ok")),
            ),
            half_close=True,
        ),
        Case(
            "sendall after shutdown_write",
            (
                _a("shutdown_write"),
                _a(
                    "sendall",
                    b"late",
                    expect=_raises(ConnectionClosed, "connection lost: Broken pipe", b""),
                ),
                _a("shutdown_write"),  # twice is harmless, as with the socket call
                _b("recv_all", timeout=_WAIT, expect=_ok(b"")),
            ),
            half_close=True,
        ),
    ]


def _timeout_cases() -> list[Case]:
    return [
        Case(
            "recv times out, then reads",
            (
                _a("recv", timeout=_T, expect=_TIMEOUT),
                _b("sendall", b"x"),
                _a("recv", timeout=_WAIT, expect=_ok(b"x")),
            ),
        ),
        Case(
            "recv_exactly times out and keeps what arrived",
            (
                _b("sendall", b"ab"),
                _a("recv_exactly", 1, timeout=_WAIT, expect=_ok(b"a")),
                _a("recv_exactly", 3, timeout=_T, expect=_TIMEOUT),
                _b("sendall", b"cd"),
                _a("recv_exactly", 3, timeout=_WAIT, expect=_ok(b"bcd")),
            ),
        ),
        Case(
            "readline times out and keeps what arrived",
            (
                _b("sendall", b"par"),
                _a("readline", timeout=_T, expect=_TIMEOUT),
                _b("sendall", b"tial\n"),
                _a("readline", timeout=_WAIT, expect=_ok(b"partial\n")),
            ),
        ),
        Case(
            "recv_frame times out mid-frame",
            (
                _b("sendall", _FRAME5 + b"he"),
                _a("recv_frame", timeout=_T, expect=_TIMEOUT),
                _b("sendall", b"llo"),
                _a("recv_frame", timeout=_WAIT, expect=_ok(b"hello")),
            ),
        ),
    ]


def _closed_cases() -> list[Case]:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("recv", (), {}),
        ("recv_exactly", (3,), {}),
        ("recv_until", (b";",), {}),
        ("readline", (), {}),
        ("recv_all", (), {}),
        ("recv_frame", (), {}),
        ("sendall", (b"x",), {}),
        ("send_frame", (b"x",), {}),
        ("recv", (), {"timeout": _WAIT}),
        ("sendall", (b"x",), {"timeout": _WAIT}),
    ]
    return [
        Case(
            f"{method}({', '.join(map(repr, args))}{', timeout' if kwargs else ''}) after close",
            (_a("close"), Step("a", method, args, kwargs, _CLOSED)),
        )
        for method, args, kwargs in calls
    ]


def _argument_cases() -> list[Case]:
    def bad(
        method: str, args: tuple[Any, ...], kwargs: dict[str, Any], error: type, message: str
    ) -> Case:
        return Case(
            f"{method}{args!r} {kwargs!r}",
            (Step("a", method, args, kwargs, _raises(error, message)),),
        )

    return [
        bad("recv", (-1,), {}, ValueError, "max_bytes must be >= 0, not -1"),
        bad("recv", ("x",), {}, TypeError, "max_bytes must be an int, not str"),
        bad("recv", (), {"timeout": -1}, ValueError, "timeout must be >= 0 seconds or None, not -1"),
        bad("recv", (), {"timeout": "1"}, TypeError, "timeout must be a number of seconds or None, not '1'"),
        bad("recv_exactly", (True,), {}, TypeError, "n must be an int, not bool"),
        bad("recv_exactly", (-1,), {}, ValueError, "n must be >= 0, not -1"),
        bad("recv_exactly", (2,), {"timeout": float("nan")}, ValueError,
            "timeout must be >= 0 seconds or None, not nan"),
        bad("recv_until", (b"",), {}, ValueError, "delimiter must not be empty"),
        bad("recv_until", (";",), {}, TypeError, "delimiter must be bytes, not str"),
        bad("recv_until", (b";",), {"max_bytes": -1}, ValueError, "max_bytes must be >= 0, not -1"),
        bad("readline", (), {"max_bytes": "9"}, TypeError, "max_bytes must be an int, not str"),
        bad("recv_all", (), {"max_bytes": -2}, ValueError, "max_bytes must be >= 0, not -2"),
        bad("recv_frame", (), {"max_size": 1.5}, TypeError, "max_size must be an int, not float"),
        bad("sendall", ("text",), {}, TypeError, "data must be bytes-like, not str (encode it first)"),
        bad("sendall", (123,), {}, TypeError, "data must be bytes-like, not int"),
        bad("sendall", (b"x",), {"timeout": -1}, ValueError,
            "timeout must be >= 0 seconds or None, not -1"),
    ]  # fmt: skip


#: Every situation, in the order they are checked.
CASES: tuple[Case, ...] = (
    *_eof_cases(),
    *_limit_cases(),
    *_split_cases(),
    *_timeout_cases(),
    *_closed_cases(),
    *_argument_cases(),
)


def deviation(case: Case, results: list[tuple[int, Outcome]]) -> str | None:
    """The first step of *case* whose outcome differs from the table, as text."""
    for index, outcome in results:
        step = case.steps[index]
        expected = step.expect
        if expected is ANY:
            if outcome.error is None:
                continue
        elif outcome == expected:
            continue
        call = f"{step.side}.{step.method}(*{step.args!r}, **{step.kwargs!r})"
        want = "no error" if expected is ANY else describe_outcome(expected)
        return (
            f"conformance case {case.name!r}, step {index + 1} {call}: "
            f"{describe_outcome(outcome)}, expected {want}"
        )
    return None
