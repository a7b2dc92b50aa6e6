"""The message conformance table: situations every message connection must pass.

The twin of :mod:`netkit._core.conformance` (streams) for connections that keep
message boundaries: a SEQPACKET connection, and a *connected* datagram endpoint (Unix
datagrams, UDP) where the situation applies. Face-neutral data, played by
:func:`netkit.testing.check_message_pair` and :func:`netkit.aio.testing.check_message_pair`
with the same :class:`~netkit._core.conformance.Case` and
:class:`~netkit._core.conformance.Step` as the stream table, so both faces are held to
the same results, exception types and messages.

Each kind (:data:`KINDS`) names its send and receive methods and what differs by
nature: a SEQPACKET connection has an end (``b""``) and refuses an empty message,
which a datagram endpoint delivers; a datagram peer that is gone is refused instead.
The messages that name the peer (a datagram's sender) are written with the peer's
address, so :func:`message_cases` takes it.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netkit._core.conformance import ANY, Case, Outcome, Step
from netkit._core.unixpath import show
from netkit.errors import (
    ConnectionClosed,
    ConnectionRefused,
    FrameTooLarge,
    NetkitTimeout,
    describe,
)

__all__ = ["KINDS", "MessageKind", "check_kind", "message_cases"]

_T = 0.05  # a deadline that only has to pass: no upper bound is ever asserted on it
_WAIT = 10.0  # a deadline that must not pass


@dataclass(frozen=True)
class MessageKind:
    """What the table needs to know about a kind of message connection.

    Attributes:
        name: the kind's name in :data:`KINDS`.
        send: the method sending one message (``send_message``, ``send``).
        recv: the method receiving one (``recv_message``, ``recv``).
        connection: True for a connection (an end that reads ``b""``, ``shutdown``, an
            empty message refused); False for a connected datagram endpoint.
        send_timeout: whether *send* takes ``timeout=``.
        closed: the message of any call after ``close()``.
        timeout: the message of a receive whose deadline (in seconds) passed.
        too_large: the message of a received message over ``max_size``, from its
            size, the limit and the peer.
        gone: the steps after the peer closed (on side ``a``), from the peer.
    """

    name: str
    send: str
    recv: str
    connection: bool
    send_timeout: bool
    closed: str
    timeout: Callable[[float], str]
    too_large: Callable[[int, int, Any], str]
    gone: Callable[[Any], tuple[Step, ...]]


def _raises(error: type[BaseException], message: str, partial: bytes | None = None) -> Outcome:
    return Outcome(error=error, message=message, partial=partial)


def _ok(value: Any) -> Outcome:
    return Outcome(value=value)


def _seqpacket_gone(peer: Any) -> tuple[Step, ...]:
    return (
        Step("a", "recv_message", (), {"timeout": _WAIT}, _ok(b"last")),
        Step("a", "recv_message", (), {"timeout": _WAIT}, _ok(b"")),
        Step("a", "recv_message", (), {"timeout": _WAIT}, _ok(b"")),  # the end stays
        Step(
            "a",
            "send_message",
            (b"x",),
            {},
            _raises(ConnectionClosed, "connection lost: Broken pipe", b""),
        ),
    )


def _unix_gone(peer: Any) -> tuple[Step, ...]:
    who = f"the peer at {describe(peer)}" if peer else "the unnamed peer"
    refused = f"[Errno {errno.ECONNREFUSED}] {who} is gone (it closed)"
    return (
        Step("a", "recv", (), {"timeout": _WAIT}, _ok(b"last")),  # what it sent first
        Step("a", "send", (b"x",), {}, _raises(ConnectionRefused, refused)),
        Step("a", "recv", (), {"timeout": _T}, _raises(NetkitTimeout, _no_datagram(_T))),
    )


def _udp_gone(peer: Any) -> tuple[Step, ...]:
    refused = f"[Errno {errno.ECONNREFUSED}] {peer} refused a datagram (ICMP port unreachable)"
    return (
        Step("a", "recv", (), {"timeout": _WAIT}, _ok(b"last")),
        Step("a", "send", (b"x",), {}, _ok(None)),  # UDP sends; the ICMP answer comes back
        Step("a", "recv", (), {"timeout": _WAIT}, _raises(ConnectionRefused, refused)),
    )


def _no_datagram(seconds: float) -> str:
    return f"no datagram received within {seconds:g} s"


#: The kinds of message connection, by name.
KINDS: dict[str, MessageKind] = {
    "seqpacket": MessageKind(
        name="seqpacket",
        send="send_message",
        recv="recv_message",
        connection=True,
        send_timeout=True,
        closed="connection is closed",
        timeout=lambda seconds: "timed out waiting for data",
        too_large=lambda size, limit, peer: (
            f"message of {size} bytes exceeds max_size={limit} (it was dropped)"
        ),
        gone=_seqpacket_gone,
    ),
    "unix_datagram": MessageKind(
        name="unix_datagram",
        send="send",
        recv="recv",
        connection=False,
        send_timeout=True,
        closed="UnixDatagramEndpoint is closed",
        timeout=_no_datagram,
        too_large=lambda size, limit, peer: (
            f"datagram of {size} bytes from {show(peer)} exceeds max_size={limit} (it was dropped)"
        ),
        gone=_unix_gone,
    ),
    "udp": MessageKind(
        name="udp",
        send="send",
        recv="recv",
        connection=False,
        send_timeout=False,
        closed="UdpEndpoint is closed",
        timeout=_no_datagram,
        too_large=lambda size, limit, peer: (
            f"datagram of {size} bytes from {peer} exceeds max_size={limit} (it was dropped)"
        ),
        gone=_udp_gone,
    ),
}


def check_kind(kind: object) -> MessageKind:
    """The :class:`MessageKind` named *kind*.

    Raises:
        TypeError: *kind* is not a str.
        ValueError: no kind has that name.
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, not {type(kind).__name__}")
    found = KINDS.get(kind)
    if found is None:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
    return found


def message_cases(kind: MessageKind, peer: Any) -> tuple[Case, ...]:
    """Every situation for *kind*, in order; *peer* is side ``a``'s peer address (its
    ``remote_address``), which the messages naming a sender quote.

    Side ``a`` is the connection under test, ``b`` its peer; each case starts on a
    fresh pair.
    """
    send, recv = kind.send, kind.recv

    def a(method: str, *args: Any, expect: Any = ANY, **kwargs: Any) -> Step:
        return Step("a", method, args, kwargs, expect)

    def b(method: str, *args: Any, expect: Any = ANY, **kwargs: Any) -> Step:
        return Step("b", method, args, kwargs, expect)

    def got(data: bytes, **kwargs: Any) -> Step:
        return a(recv, timeout=_WAIT, expect=_ok(data), **kwargs)

    def too_large(size: int, limit: int) -> Outcome:
        return _raises(FrameTooLarge, kind.too_large(size, limit, peer))

    cases = [
        Case(
            "messages keep their boundaries",
            (b(send, b"a"), b(send, b"bc"), b(send, b"def"), got(b"a"), got(b"bc"), got(b"def")),
        ),
        Case(
            "any bytes-like message",
            (b(send, bytearray(b"ab")), b(send, memoryview(b"xcde")[1:]), got(b"ab"), got(b"cde")),
        ),
        Case(
            "both directions",
            (
                a(send, b"ping"),
                b(recv, timeout=_WAIT, expect=_ok(b"ping")),
                b(send, b"pong"),
                got(b"pong"),
            ),
        ),
        Case(
            "a message over max_size is consumed, the next one is intact",
            (
                b(send, b"abcdef"),
                b(send, b"gh"),
                a(recv, max_size=3, timeout=_WAIT, expect=too_large(6, 3)),
                got(b"gh", max_size=3),
            ),
        ),
        Case("a message of exactly max_size", (b(send, b"abc"), got(b"abc", max_size=3))),
        Case(
            "max_size=0 takes no message",
            (b(send, b"x"), a(recv, max_size=0, timeout=_WAIT, expect=too_large(1, 0))),
        ),
        Case(
            "receive times out, then receives",
            (
                a(recv, timeout=_T, expect=_raises(NetkitTimeout, kind.timeout(_T))),
                b(send, b"x"),
                got(b"x"),
            ),
        ),
        Case("the peer closes", (b(send, b"last"), b("close"), *kind.gone(peer))),
    ]
    if kind.connection:
        empty = _raises(
            ValueError,
            "cannot send an empty SEQPACKET message: the peer reads it as the end of the"
            " connection (b''); send at least one byte",
        )
        cases += [
            Case(
                "an empty message is refused, and nothing is sent",
                (b(send, b"", expect=empty), b(send, b"x"), got(b"x")),
            ),
            Case(
                "shutdown: the peer reads the end and can still send",
                (
                    b(send, b"m"),
                    b("shutdown", socket.SHUT_WR),
                    got(b"m"),
                    got(b""),
                    a(send, b"x"),
                    b(recv, timeout=_WAIT, expect=_ok(b"x")),
                ),
            ),
        ]
    else:
        cases.append(
            Case(
                "an empty datagram is delivered",
                (b(send, b""), got(b""), b(send, b"x"), got(b"x")),
            )
        )
    cases += _closed_cases(kind) + _argument_cases(kind)
    return tuple(cases)


def _closed_cases(kind: MessageKind) -> list[Case]:
    closed = _raises(ConnectionClosed, kind.closed, b"")
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        (kind.recv, (), {}),
        (kind.recv, (), {"timeout": _WAIT}),
        (kind.recv, (), {"max_size": -1}),  # closed is checked first
        (kind.send, (b"x",), {}),
        (kind.send, (b"",), {}),
    ]
    if kind.send_timeout:
        calls.append((kind.send, (b"x",), {"timeout": _WAIT}))
    cases = [
        Case(
            f"{method}({', '.join(map(repr, args))}"
            f"{''.join(f', {k}={v!r}' for k, v in kwargs.items())}) after close",
            (Step("a", "close"), Step("a", method, args, kwargs, closed)),
        )
        for method, args, kwargs in calls
    ]
    cases.append(Case("close twice", (Step("a", "close"), Step("a", "close", (), {}, _ok(None)))))
    return cases


def _argument_cases(kind: MessageKind) -> list[Case]:
    def bad(
        method: str, args: tuple[Any, ...], kwargs: dict[str, Any], error: type, message: str
    ) -> Case:
        return Case(
            f"{method}{args!r} {kwargs!r}",
            (Step("a", method, args, kwargs, _raises(error, message)),),
        )

    recv, send = kind.recv, kind.send
    cases = [
        bad(recv, (), {"max_size": -1}, ValueError, "max_size must be >= 0, not -1"),
        bad(recv, (), {"max_size": "9"}, TypeError, "max_size must be an int, not str"),
        bad(recv, (), {"max_size": True}, TypeError, "max_size must be an int, not bool"),
        bad(recv, (), {"max_size": 1.5}, TypeError, "max_size must be an int, not float"),
        bad(recv, (), {"timeout": -1}, ValueError, "timeout must be >= 0 seconds or None, not -1"),
        bad(recv, (), {"timeout": "1"}, TypeError,
            "timeout must be a number of seconds or None, not '1'"),
        bad(recv, (), {"timeout": float("nan")}, ValueError,
            "timeout must be >= 0 seconds or None, not nan"),
        bad(send, ("text",), {}, TypeError, "data must be bytes-like, not str (encode it first)"),
        bad(send, (123,), {}, TypeError, "data must be bytes-like, not int"),
    ]  # fmt: skip
    if kind.send_timeout:
        cases.append(
            bad(send, (b"x",), {"timeout": -1}, ValueError,
                "timeout must be >= 0 seconds or None, not -1")
        )  # fmt: skip
    return cases
