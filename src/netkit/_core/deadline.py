"""Whole-call deadlines: one rule for turning ``timeout=`` into an instant.

A face passes its clock's *now* (``time.monotonic()`` or ``loop.time()``); the result
is compared with the same clock. ``timeout=None`` means the connection's default
(its ``timeout`` property), and a default of ``None`` means no limit.

Three limits of a connection (set by servers) bound a wait besides the call's deadline,
and each has its own error, the same in both faces:

* ``idle_timeout``: a read waits that long with no byte arriving (:func:`idle_error`);
  restarts on every byte, so it catches silent peers, not slow ones;
* ``message_timeout``: a read (of a line, a frame, an exact count, up to a delimiter or
  to EOF) may take that long from the moment it first has part of its message
  (:func:`message_error`); it does not restart, so a peer dripping bytes is cut off;
* ``send_timeout``: a send waits that long with the peer taking nothing
  (:func:`stalled_error`); restarts whenever the peer makes room, so a slow but reading
  peer is served and one that stopped reading is not.
"""

from __future__ import annotations

from netkit._core.checks import check_timeout
from netkit.errors import NetkitTimeout

__all__ = ["deadline", "idle_error", "message_error", "stalled_error"]


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


def stalled_error(seconds: float) -> NetkitTimeout:
    """The error for a send that waited *seconds* (``send_timeout``) with the peer taking
    nothing: a peer that stopped reading. Both faces then close the connection with a
    reset, since an unknown prefix of the data was sent."""
    return NetkitTimeout(f"send stalled: the peer took nothing for {seconds:g} s")


def message_error(seconds: float) -> NetkitTimeout:
    """The error for a read whose message was still incomplete *seconds*
    (``message_timeout``) after the read first had part of it: a client dripping bytes."""
    return NetkitTimeout(f"message incomplete {seconds:g} s after its first byte")
