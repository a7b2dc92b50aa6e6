"""Tools for testing code built on :mod:`netkit.aio`: the twin of :mod:`netkit.testing`.

:func:`check_connection_pair` runs the same conformance table as the sync one, awaiting
every call, so both faces are held to identical outcomes; :func:`check_message_pair`
does the same with the message table.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from netkit._core.conformance import (
    ANY,
    CASES,
    Case,
    Outcome,
    deviation,
    error_outcome,
)
from netkit._core.messages import check_kind, message_cases
from netkit._fake_resolver import FakeResolver, fake_resolver
from netkit.aio._fakenet import FakeDatagramEndpoint, FakeDatagramNetwork
from netkit.aio._memory import MemoryConnection, MemoryTransport, memory_pair

__all__ = [
    "FakeDatagramEndpoint",
    "FakeDatagramNetwork",
    "FakeResolver",
    "MemoryConnection",
    "MemoryTransport",
    "check_connection_pair",
    "check_message_pair",
    "fake_resolver",
    "memory_pair",
    "run_case",
]

PairFactory = Callable[[], Awaitable["tuple[Any, Any]"]]


async def _close(conn: Any) -> None:
    closer = getattr(conn, "aclose", None)
    if closer is not None:
        await closer()
    else:
        conn.close()


async def run_case(case: Case, a: Any, b: Any) -> list[tuple[int, Outcome]]:
    """Play *case* on ``(a, b)``, awaiting what returns an awaitable; see the sync twin."""
    results: list[tuple[int, Outcome]] = []
    for index, step in enumerate(case.steps):
        target = a if step.side == "a" else b
        try:
            value = getattr(target, step.method)(*step.args, **step.kwargs)
            if inspect.isawaitable(value):
                value = await value
            outcome = Outcome(value=value)
        except Exception as exc:  # recorded, then compared with the table
            outcome = error_outcome(exc)
        results.append((index, outcome))
        if outcome.error is not None and (step.expect is ANY or step.expect.error is None):
            break
    return results


async def check_connection_pair(
    make_pair: PairFactory, *, half_close: bool = True, cases: Iterable[Case] = CASES
) -> None:
    """Check that asyncio connections behave as netkit's stream contract says.

    Parameters:
        make_pair: a coroutine function returning two connected connections ``(a, b)``.
        half_close: False for transports that cannot half-close (TLS).
        cases: the situations to run (default: all of them).

    Raises:
        AssertionError: naming the first situation and step that deviates.
    """
    for case in cases:
        if case.half_close and not half_close:
            continue
        a, b = await make_pair()
        try:
            problem = deviation(case, await run_case(case, a, b))
        finally:
            await _close(a)
            await _close(b)
        if problem is not None:
            raise AssertionError(problem)


async def check_message_pair(make_pair: PairFactory, *, kind: str = "seqpacket") -> None:
    """Check that asyncio message connections behave as netkit's message contract says.

    The twin of :func:`netkit.testing.check_message_pair`, awaiting every call.

    Parameters:
        make_pair: a coroutine function returning two connected message connections
            ``(a, b)``.
        kind: ``"seqpacket"``, ``"unix_datagram"`` or ``"udp"``.

    Raises:
        AssertionError: naming the first situation and step that deviates.
        TypeError, ValueError: *kind* is not one of the three.
    """
    spec = check_kind(kind)
    for index in range(len(message_cases(spec, ""))):
        a, b = await make_pair()
        try:
            case = message_cases(spec, a.remote_address)[index]
            problem = deviation(case, await run_case(case, a, b))
        finally:
            await _close(a)
            await _close(b)
        if problem is not None:
            raise AssertionError(problem)
