"""Tools for testing code built on netkit (sync face).

:func:`check_connection_pair` runs netkit's stream conformance table
(:mod:`netkit._core.conformance`) over pairs of connected connections that *make_pair*
builds: netkit runs it over TCP, TLS and every stream transport, and you can run it over
your own wrappers or transports. The asyncio twin is
:func:`netkit.aio.testing.check_connection_pair`. :func:`check_message_pair` is the
same for connections that keep message boundaries (SEQPACKET connections, connected
datagram endpoints), with the table of :mod:`netkit._core.messages`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from netkit._core.conformance import ANY, CASES, Case, Outcome, deviation, outcome_of
from netkit._core.messages import check_kind, message_cases
from netkit._fake_resolver import FakeResolver, fake_resolver
from netkit.testing._memory import MemoryConnection, MemorySocket, memory_pair
from netkit.testing._network import FakeDatagramEndpoint, FakeDatagramNetwork

__all__ = [
    "FakeDatagramEndpoint",
    "FakeDatagramNetwork",
    "FakeResolver",
    "MemoryConnection",
    "MemorySocket",
    "check_connection_pair",
    "check_message_pair",
    "fake_resolver",
    "memory_pair",
    "run_case",
]

PairFactory = Callable[[], "tuple[Any, Any]"]


def _call(target: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return getattr(target, method)(*args, **kwargs)


def run_case(case: Case, a: Any, b: Any) -> list[tuple[int, Outcome]]:
    """Play *case* on the pair ``(a, b)``; return ``(step index, outcome)`` per step.

    Stops after the first step that raised unexpectedly (later steps would only report
    the same deviation again).
    """
    results: list[tuple[int, Outcome]] = []
    for index, step in enumerate(case.steps):
        target = a if step.side == "a" else b
        # getattr inside the call: a missing method is a deviation, as in the aio twin
        outcome = outcome_of(partial(_call, target, step.method, step.args, step.kwargs))
        results.append((index, outcome))
        if outcome.error is not None and (step.expect is ANY or step.expect.error is None):
            break
    return results


def check_connection_pair(
    make_pair: PairFactory, *, half_close: bool = True, cases: Iterable[Case] = CASES
) -> None:
    """Check that connections behave as netkit's stream contract says.

    Parameters:
        make_pair: called once per situation; returns two connected connections
            ``(a, b)`` with netkit's stream API (``TcpConnection.pair``-like). Both are
            closed after each situation.
        half_close: False for transports that cannot half-close (TLS): situations that
            need ``shutdown_write`` are skipped.
        cases: the situations to run (default: all of them).

    Raises:
        AssertionError: naming the first situation and step that deviates, what
            happened and what the contract requires.
    """
    for case in cases:
        if case.half_close and not half_close:
            continue
        a, b = make_pair()
        try:
            problem = deviation(case, run_case(case, a, b))
        finally:
            a.close()
            b.close()
        if problem is not None:
            raise AssertionError(problem)


def check_message_pair(make_pair: PairFactory, *, kind: str = "seqpacket") -> None:
    """Check that message connections behave as netkit's message contract says.

    The situations: messages keep their boundaries; a message over ``max_size`` raises
    ``FrameTooLarge`` and is consumed while the next one is intact; receive deadlines;
    the peer closing (``b""`` at the end of a connection, a refused datagram); an empty
    message (refused on a connection, delivered as a datagram); ``shutdown``; every
    call after ``close()``; bad arguments.

    Parameters:
        make_pair: called once per situation; returns two connected message
            connections ``(a, b)`` (``SeqpacketConnection.pair``-like). Both are closed
            after each situation.
        kind: which contract: ``"seqpacket"`` (``send_message``/``recv_message``,
            :class:`~netkit.SeqpacketConnection`), ``"unix_datagram"`` (connected
            :class:`~netkit.UnixDatagramEndpoint` s) or ``"udp"`` (connected
            :class:`~netkit.UdpEndpoint` s; ``send``/``recv``).

    Raises:
        AssertionError: naming the first situation and step that deviates, what
            happened and what the contract requires.
        TypeError, ValueError: *kind* is not one of the three.
    """
    spec = check_kind(kind)
    for index in range(len(message_cases(spec, ""))):
        a, b = make_pair()
        try:
            case = message_cases(spec, a.remote_address)[index]
            problem = deviation(case, run_case(case, a, b))
        finally:
            a.close()
            b.close()
        if problem is not None:
            raise AssertionError(problem)
