"""The strict address grammar in pure Python: netkit.addr's reference and its reasons.

Private to :mod:`netkit.addr`, which imports what it and its tests use back under the
same names (``addr._parse_ipv4_py`` and so on). Pure: no IO, imports only
:mod:`netkit.errors`.

- The reference parser and formatter define the grammar (see :mod:`netkit.addr` and
  docs/addresses.md). They back the fast path on platforms whose ``inet_pton`` /
  ``inet_ntop`` disagree with it (:func:`_c_library_is_strict` decides at import) and
  are the oracle the tests compare the fast path against.
- The diagnostics say why a text is not an address, for error messages and
  :func:`netkit.addr.why_invalid`; they run on the error path only.

Nothing here reads ``netkit.addr._pton``/``_ntop`` (the fast path the tests swap out):
the functions that do stay in :mod:`netkit.addr`.
"""

from __future__ import annotations

import re
import socket

from netkit.errors import describe

_AF4 = socket.AF_INET
_AF6 = socket.AF_INET6

#: Longest zone (RFC 4007 scope) accepted after ``%``.
MAX_ZONE_LENGTH = 64

# Printable ASCII (0x21..0x7e: no space, no controls) minus '%', '/', '[' and ']'.
_ZONE_RE = re.compile(r"[!-$&-.0-Z\\^-~]{1,64}")
_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}")
_HEX_GROUP_RE = re.compile(r"[0-9A-Fa-f]{1,4}")
_SPACE_OR_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")  # on ASCII text


# ---------------------------------------------------------------------------------------
# Pure-Python reference parser and formatter.
#
# They define the strict grammar. They back the fast path on platforms whose
# inet_pton/inet_ntop disagree with it, produce the reasons in error messages, and are
# the oracle the tests compare the fast path against.
# ---------------------------------------------------------------------------------------


def _parse_ipv4_py(text: str) -> bytes | None:
    """Return the 4 packed bytes of a strict dotted quad, or None."""
    if _IPV4_RE.fullmatch(text) is None:
        return None
    return bytes(int(part) for part in text.split("."))


def _parse_ipv6_py(text: str) -> bytes | None:
    """Return the 16 packed bytes of RFC 4291 IPv6 text (no zone), or None."""
    if not text or len(text) > 45 or not text.isascii():
        return None
    head, sep, tail = text.partition("::")
    if sep and "::" in tail:
        return None  # at most one '::'
    tail_v4 = b""

    def groups(part: str, *, last: bool) -> list[int] | None:
        nonlocal tail_v4
        if not part:
            return []
        items = part.split(":")
        if last and "." in items[-1]:
            v4 = _parse_ipv4_py(items[-1])
            if v4 is None:
                return None
            tail_v4 = v4
            items.pop()
        out = []
        for item in items:
            if _HEX_GROUP_RE.fullmatch(item) is None:
                return None  # empty group (stray ':'), too long, or not hex
            out.append(int(item, 16))
        return out

    if sep:
        left = groups(head, last=False)
        right = groups(tail, last=True)
        if left is None or right is None:
            return None
        used = len(left) + len(right) + (2 if tail_v4 else 0)
        if used > 7:
            return None  # '::' must stand for at least one zero group
        words = left + [0] * (8 - used) + right
    else:
        only = groups(head, last=True)
        if only is None:
            return None
        words = only
        if len(words) + (2 if tail_v4 else 0) != 8:
            return None
    return b"".join(w.to_bytes(2, "big") for w in words) + tail_v4


def _format_ipv6_py(packed: bytes) -> str:
    """RFC 5952 text for 16 packed bytes (IPv4-mapped as ``::ffff:1.2.3.4``)."""
    if packed[:12] == b"\0\0\0\0\0\0\0\0\0\0\xff\xff":
        return "::ffff:" + ".".join(str(b) for b in packed[12:])
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    best_start, best_len, start = -1, 0, -1
    for i, word in enumerate([*words, 1]):  # the sentinel closes a trailing run
        if word == 0:
            if start < 0:
                start = i
        elif start >= 0:
            if i - start > best_len:  # strictly longer: the first run wins a tie
                best_start, best_len = start, i - start
            start = -1
    if best_len < 2:
        return ":".join(f"{w:x}" for w in words)
    left = ":".join(f"{w:x}" for w in words[:best_start])
    right = ":".join(f"{w:x}" for w in words[best_start + best_len :])
    return f"{left}::{right}"


def _strict_pton(family: int, text: str) -> bytes:
    """Drop-in for ``socket.inet_pton`` that follows netkit's grammar exactly."""
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    packed = _parse_ipv4_py(text) if family == _AF4 else _parse_ipv6_py(text)
    if packed is None:
        raise OSError("illegal IP address string")
    return packed


def _strict_ntop(family: int, packed: bytes) -> str:
    """Drop-in for ``socket.inet_ntop`` producing netkit's canonical text."""
    if family == _AF4:
        return ".".join(str(b) for b in bytes(packed))
    return _format_ipv6_py(bytes(packed))


def _c_library_is_strict() -> bool:
    """Whether this platform's inet_pton/inet_ntop agree with the strict grammar."""
    lax = (
        "01.2.3.4", "1.2.3.04", "127.1", "0x7f.0.0.1", "1.2.3.4 ", " 1.2.3.4", "256.1.1.1",
        "1.2.3.4.", "00000::1", "::ffff:01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1.2.3.4::", "fe80::1%eth0", ":1::",
        "1::2:", "\u0661.2.3.4", "1.2.3.4\n",
    )  # fmt: skip
    for text in lax:
        for family in (_AF4, _AF6):
            try:
                socket.inet_pton(family, text)
            except (OSError, ValueError):
                continue
            return False
    vectors = (
        "::", "::1", "1::", "1:0:0:1:0:0:0:1", "1:0:0:1:0:0:1:1", "0:1:0:0:1:0:0:0",
        "2001:DB8:0:0:0:0:0:1", "::ffff:1.2.3.4", "::ffff:0.0.0.0", "0:0:0:0:0:0:0:1:",
        "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "abcd:ef01:2345:6789:abcd:ef01:2345:6789",
        "1::1.2.3.4", "::ffff:0:1.2.3.4",
    )  # fmt: skip
    for text in vectors:
        packed = _parse_ipv6_py(text)
        if packed is None:
            continue
        try:
            if socket.inet_pton(_AF6, text) != packed:
                return False
            out = socket.inet_ntop(_AF6, packed)
        except (OSError, ValueError):
            return False
        if "." in out and not out.startswith("::ffff:"):
            continue  # IPv4-compatible forms are rewritten in hex by normalize_ip
        if out != _format_ipv6_py(packed):
            return False
    return True


# ---------------------------------------------------------------------------------------
# Diagnostics (error path only: may be slow, must be bounded)
# ---------------------------------------------------------------------------------------


#: The largest numeric zone: the kernel's scope id is 32 bits, and a larger number
#: would wrap to another interface (4294967297 is interface 1).
MAX_SCOPE_ID = 0xFFFFFFFF


def _zone_ok(zone: str) -> bool:
    """The one zone rule: RFC 4007 text, and a numeric zone that fits 32 bits."""
    if _ZONE_RE.fullmatch(zone) is None:
        return False
    return not zone.isdigit() or int(zone) <= MAX_SCOPE_ID


def _zone_problem(zone: str) -> str | None:
    if _zone_ok(zone):
        return None
    if _ZONE_RE.fullmatch(zone) is not None:
        return f"numeric zone {zone} is over 32 bits (at most {MAX_SCOPE_ID})"
    if not zone:
        return "empty zone after '%'"
    if len(zone) > MAX_ZONE_LENGTH:
        return f"zone longer than {MAX_ZONE_LENGTH} characters"
    bad = next(ch for ch in zone if _ZONE_RE.fullmatch(ch) is None)
    return f"zone contains {bad!a}"


def _ipv4_problem(text: str) -> str:
    parts = text.split(".")
    if len(parts) != 4:
        return f"an IPv4 address has 4 dotted parts, this has {len(parts)}"
    for part in parts:
        if not part:
            return "empty IPv4 part"
        if not (part.isascii() and part.isdigit()):
            return f"IPv4 part {describe(part, 20)} is not decimal"
        if len(part) > 1 and part[0] == "0":
            return f"IPv4 part {describe(part, 20)} has a leading zero"
        if int(part) > 255:
            return f"IPv4 part {describe(part, 20)} is over 255"
    return "not a valid IPv4 address"  # pragma: no cover - all cases named above


def _ipv6_problem(text: str) -> str:
    if text.count("::") > 1:
        return "'::' appears more than once"
    head, sep, tail = text.partition("::")
    items = [i for part in (head, tail) if part for i in part.split(":")]
    for item in items:
        if not item:
            return "empty group (stray ':')"
        if "." in item:
            if item is not items[-1] or not text.endswith(item):
                return "an embedded IPv4 part may only come last"
            if _parse_ipv4_py(item) is None:
                return "embedded " + _ipv4_problem(item)
            continue
        if len(item) > 4:
            return f"group {describe(item, 20)} has more than 4 hex digits"
        if _HEX_GROUP_RE.fullmatch(item) is None:
            return f"group {describe(item, 20)} is not hexadecimal"
    if text.startswith(":") and not text.startswith("::"):
        return "starts with a single ':'"
    if text.endswith(":") and not text.endswith("::"):
        return "ends with a single ':'"
    count = len(items) + (1 if items and "." in items[-1] else 0)
    if sep and count > 7:
        return "too many groups for '::'"
    if not sep and count != 8:
        return f"an IPv6 address has 8 groups (or '::'), this has {count}"
    return "not a valid IPv6 address"


def _ip_problem(text: str, *, allow_zone: bool, want: int = 0) -> str:
    """Why *text* is not a valid address (of version *want*, 0 for either)."""
    if not text:
        return "empty"
    if len(text) > 45 + 1 + MAX_ZONE_LENGTH:
        return f"too long for an address ({len(text)} characters)"
    if not text.isascii():
        bad = next(ch for ch in text if not ch.isascii())
        return f"non-ASCII character {bad!a}"
    if "\x00" in text:
        return "contains a NUL character"
    bad_char = _SPACE_OR_CONTROL_RE.search(text)
    if bad_char is not None:
        return f"contains whitespace or a control character {bad_char.group()!a}"
    if ":" in text and want != 4:
        address, pct, zone = text.partition("%")
        if pct:
            if not allow_zone:
                return "zone ('%...') not allowed here"
            problem = _zone_problem(zone)
            if problem:
                return problem
        return _ipv6_problem(address)
    if want == 6:
        return "not an IPv6 address (no ':')"
    if "%" in text:
        return "a zone ('%...') is only valid on IPv6 addresses"
    if text.strip("0123456789.") == "" or text[:2].lower() == "0x":
        return _ipv4_problem(text)
    return "not an IPv4 or IPv6 address"
