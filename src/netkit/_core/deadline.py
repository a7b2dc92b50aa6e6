"""Whole-call deadlines: one rule for turning ``timeout=`` into an instant.

A face passes its clock's *now* (``time.monotonic()`` or ``loop.time()``); the result
is compared with the same clock. ``timeout=None`` means the connection's default
(its ``timeout`` property), and a default of ``None`` means no limit.
"""

from __future__ import annotations

from netkit._core.checks import check_timeout
from netkit.errors import NetkitTimeout

__all__ = ["deadline", "idle_error"]


def deadline(now: float, timeout: object, default: float | None) -> float | None:
    """The instant a call made at *now* with *timeout* must finish by (None: never).

    Raises:
        TypeError, ValueError: *timeout* is not a number of seconds >= 0 or None.
    """
    if timeout is None:
        if default is None:
            return None
        return now + default
    seconds = check_timeout("timeout", timeout)
    return None if seconds is None else now + seconds


def idle_error(idle: float) -> NetkitTimeout:
    """The error for a read that waited *idle* seconds with nothing received."""
    return NetkitTimeout(f"idle: nothing received for {idle:g} s")
