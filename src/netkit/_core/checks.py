"""Argument checks shared by every layer, so each rule and its message live in one place.

Pure: imports only :mod:`netkit.errors` (and :mod:`netkit.addr` inside
:func:`check_host`, so that :mod:`netkit.addr` can use the port rules here).
"""

from __future__ import annotations

import math

from netkit.errors import AddressError, describe

__all__ = [
    "FOREVER",
    "buffer_size",
    "check_delimiter",
    "check_host",
    "check_port",
    "check_size",
    "check_timeout",
    "parse_port_text",
]

#: Timeouts longer than this (about 31 years, or math.inf) mean "no limit": they cannot
#: be told apart from forever, and time.monotonic() arithmetic stays exact below it.
FOREVER = 1e9


def check_size(name: str, value: object, low: int = 0) -> int:
    """An int count or limit of at least *low* (bool refused): TypeError / ValueError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, not {describe(value)}")
    return int(value)


def check_timeout(name: str, value: object) -> float | None:
    """Seconds as a float, or ``None`` for no limit (``None``, ``math.inf`` or huge)."""
    if value is None:
        return None
    if type(value) is float and 0.0 <= value <= FOREVER:
        return value  # the commonest case, checked once per connection (NaN is not)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds or None, not {describe(value)}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be >= 0 seconds or None, not {describe(value)}")
    return None if value > FOREVER else float(value)


def check_delimiter(delimiter: object) -> bytes:
    """A non-empty bytes-like delimiter, as bytes."""
    if not isinstance(delimiter, (bytes, bytearray)):
        raise TypeError(f"delimiter must be bytes, not {type(delimiter).__name__}")
    if not delimiter:
        raise ValueError("delimiter must not be empty")
    return bytes(delimiter)


def check_port(port: object, *, allow_zero: bool, name: str = "port") -> int:
    """A port number: int in 1..65535 (0..65535 with *allow_zero*).

    The one home of the port rule and its messages: TypeError for anything but an int
    (bool refused), AddressError outside the range. An int subclass (an IntEnum member)
    comes back as a plain int. *name* is what the messages call it (``"source port"``).
    """
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"{name} must be an int, not {type(port).__name__}")
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise AddressError(_out_of_range(port, allow_zero, name))
    return int(port)


def parse_port_text(text: str, *, allow_zero: bool) -> int | str:
    """The port that *text* writes, or why it is not one (for the caller to raise).

    A port in text is 1 to 5 ASCII decimal digits (``080`` is 80; no sign, space or
    other digits) with a value in the range :func:`check_port` allows.
    """
    if len(text) <= 5 and text.isascii() and text.isdigit():
        port = int(text)
        if port <= 65535 and (allow_zero or port):
            return port
        return _out_of_range(port, allow_zero)
    return f"port {describe(text, 20)} is not 1 to 5 decimal digits"


def _out_of_range(port: object, allow_zero: bool, name: str = "port") -> str:
    return f"{name} {describe(port)} is out of range {0 if allow_zero else 1}..65535"


def check_host(host: object) -> str:
    """A host to connect to or listen on: a non-empty str; ``[v6]`` loses its brackets.

    Raises TypeError for a non-str and AddressError for an empty host or a bracketed
    text that is not an IPv6 address. Names are checked by the resolver, not here.
    """
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if host.startswith("[") and host.endswith("]"):
        from netkit.addr import is_ip  # here: netkit.addr imports this module

        inner = host[1:-1]
        if ":" not in inner or not is_ip(inner, allow_zone=True):
            raise AddressError(f"invalid bracketed host {describe(host)}")
        host = inner
    if not host:
        raise AddressError("host must not be empty")
    return host


def buffer_size(data: object) -> int:
    """Size in bytes of a bytes-like object; TypeError for anything else (str too)."""
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    if isinstance(data, str):
        raise TypeError("data must be bytes-like, not str (encode it first)")
    try:
        with memoryview(data) as view:  # type: ignore[arg-type]
            return view.nbytes
    except TypeError:
        raise TypeError(f"data must be bytes-like, not {type(data).__name__}") from None
