"""Strict IP address validation, canonical text, packing and endpoint parsing.

This layer is pure: no IO. ``socket.inet_pton`` and ``socket.inet_ntop`` are used as
the fast path because they are pure C functions that are already strict on the C
libraries netkit targets (no leading zeros, no shortforms, no hex or octal, no
whitespace). An import-time self-test checks that; if the platform's functions turn
out to be lax (or print canonical text differently), netkit switches to its own
pure-Python parser and formatter, so the behaviour is the same everywhere.

The rules (see docs/addresses.md for the full story):

- IPv4 is exactly four dotted decimal octets 0..255 in ASCII, without leading zeros.
- IPv6 is RFC 4291 text (an embedded IPv4 part follows the IPv4 rules); a ``%zone``
  suffix (RFC 4007) is accepted only where asked for, and is 1 to 64 printable ASCII
  characters other than whitespace, ``%``, ``/``, ``[`` and ``]``.
- Canonical text is RFC 5952; IPv4-mapped addresses print as ``::ffff:1.2.3.4`` and
  every other IPv6 address in hex.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from netkit._addrtext import MAX_ZONE_LENGTH as MAX_ZONE_LENGTH
from netkit._addrtext import _c_library_is_strict as _c_library_is_strict
from netkit._addrtext import _format_ipv6_py as _format_ipv6_py
from netkit._addrtext import _ip_problem as _ip_problem
from netkit._addrtext import _ipv4_problem as _ipv4_problem
from netkit._addrtext import _ipv6_problem as _ipv6_problem
from netkit._addrtext import _parse_ipv4_py as _parse_ipv4_py
from netkit._addrtext import _parse_ipv6_py as _parse_ipv6_py
from netkit._addrtext import _strict_ntop as _strict_ntop
from netkit._addrtext import _strict_pton as _strict_pton
from netkit._addrtext import _zone_ok as _zone_ok
from netkit._addrtext import _zone_problem as _zone_problem
from netkit._core.checks import check_port, parse_port_text
from netkit.errors import AddressError, describe

__all__ = [
    "Endpoint",
    "classify",
    "ip_version",
    "is_global",
    "is_ip",
    "is_ipv4",
    "is_ipv6",
    "is_loopback",
    "is_private",
    "normalize_ip",
    "pack_ip",
    "parse_endpoint",
    "unpack_ip",
    "why_invalid",
]

_AF4 = socket.AF_INET
_AF6 = socket.AF_INET6

#: Longest hostname accepted (RFC 1123 / RFC 1035), not counting one trailing dot.
MAX_HOSTNAME_LENGTH = 253

_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Labels joined by dots, one optional trailing dot. Labels cannot contain dots, so the
# match is linear; the total length is checked before matching.
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?"
)
# A last label that a resolver (inet_aton) would read as a number: 127.1, 0x7f, 0x.
_NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")


# The pure-Python reference parser and formatter, the self-test and the diagnostics live
# in netkit._addrtext (imported above under their names here). Every function that
# reads _pton/_ntop stays in this module, so that swapping them here (as the tests do
# to run the fallback) reaches all of them.

#: True when the C library's inet_pton/inet_ntop are used as the fast path.
C_LIBRARY_STRICT = _c_library_is_strict()
_pton: Callable[[int, str], bytes] = socket.inet_pton if C_LIBRARY_STRICT else _strict_pton
_ntop: Callable[[int, bytes], str] = socket.inet_ntop if C_LIBRARY_STRICT else _strict_ntop


# ---------------------------------------------------------------------------------------
# Diagnostics (error path only: may be slow, must be bounded; reasons in _addrtext)
# ---------------------------------------------------------------------------------------


def _type_error(value: object) -> TypeError:
    return TypeError(f"expected an address as str, got {type(value).__name__}")


def _invalid(text: str, *, allow_zone: bool = True, want: int = 0) -> AddressError:
    kind = {0: "IP", 4: "IPv4", 6: "IPv6"}[want]
    reason = _ip_problem(text, allow_zone=allow_zone, want=want)
    return AddressError(f"invalid {kind} address {describe(text)}: {reason}")


# ---------------------------------------------------------------------------------------
# Validation (hot path: keep these tiny)
# ---------------------------------------------------------------------------------------


def _is_zoned_ipv6(text: str) -> bool:
    addr, pct, zone = text.partition("%")
    if not pct or not _zone_ok(zone):
        return False
    try:
        _pton(_AF6, addr)
    except (OSError, ValueError):
        return False
    return True


def is_ipv4(text: str) -> bool:
    """True if *text* is a strict dotted-quad IPv4 address (``inet_pton`` rules).

    Args:
        text: the candidate address.

    Returns:
        Whether *text* is an IPv4 address; False for anything else, IPv6 included.

    Raises:
        TypeError: *text* is not a ``str``.
    """
    try:
        if ":" in text:  # IPv6 or garbage: skip the costlier exception path
            if isinstance(text, str):
                return False
            raise TypeError
        _pton(_AF4, text)
    except (OSError, ValueError):  # ValueError covers NUL and UnicodeEncodeError
        return False
    except TypeError:
        raise _type_error(text) from None
    return True


def is_ipv6(text: str, *, allow_zone: bool = False) -> bool:
    """True if *text* is RFC 4291 IPv6 text; a ``%zone`` suffix only with *allow_zone*.

    Args:
        text: the candidate address.
        allow_zone: accept a ``%zone`` suffix (RFC 4007).

    Returns:
        Whether *text* is an IPv6 address; False for anything else, IPv4 included.

    Raises:
        TypeError: *text* is not a ``str``.
    """
    try:
        if ":" not in text:  # IPv4 or garbage: skip the costlier exception path
            if isinstance(text, str):
                return False
            raise TypeError
        _pton(_AF6, text)
    except (OSError, ValueError):
        return allow_zone and _is_zoned_ipv6(text)
    except TypeError:
        raise _type_error(text) from None
    return True


def is_ip(text: str, *, allow_zone: bool = False) -> bool:
    """True if *text* is a strict IPv4 or IPv6 address (zoned IPv6 with *allow_zone*).

    Args:
        text: the candidate address.
        allow_zone: accept an IPv6 ``%zone`` suffix.

    Returns:
        Whether *text* is an IP address.

    Raises:
        TypeError: *text* is not a ``str``.
    """
    try:
        _pton(_AF6 if ":" in text else _AF4, text)
    except (OSError, ValueError):
        return allow_zone and _is_zoned_ipv6(text)
    except TypeError:
        raise _type_error(text) from None
    return True


def ip_version(text: str, *, allow_zone: bool = False) -> Literal[4, 6] | None:
    """4 or 6 for a valid address of that version, None for anything else.

    Args:
        text: the candidate address.
        allow_zone: accept an IPv6 ``%zone`` suffix.

    Returns:
        4 or 6, or None when *text* is not an address.

    Raises:
        TypeError: *text* is not a ``str``.
    """
    try:
        if ":" in text:
            _pton(_AF6, text)
            return 6
        _pton(_AF4, text)
        return 4
    except (OSError, ValueError):
        return 6 if allow_zone and _is_zoned_ipv6(text) else None
    except TypeError:
        raise _type_error(text) from None


# ---------------------------------------------------------------------------------------
# Canonical text and packing
# ---------------------------------------------------------------------------------------


def _canonical6(packed: bytes) -> str:
    out = _ntop(_AF6, packed)
    # glibc prints IPv4-compatible addresses (::1.2.3.4, deprecated) with a dotted tail;
    # netkit keeps the dotted form for IPv4-mapped addresses only (one spelling each).
    if "." in out and not out.startswith("::ffff:"):
        return _format_ipv6_py(packed)
    return out


def normalize_ip(text: str) -> str:
    """Canonical text for an IP address: RFC 5952 for IPv6, zone kept as given.

    Args:
        text: an IPv4 or IPv6 address, optionally with a ``%zone``.

    Returns:
        The canonical spelling (a dotted quad is returned as given).

    Raises:
        TypeError: *text* is not a ``str``.
        AddressError: *text* is not a valid address.
    """
    try:
        if ":" in text:
            return _canonical6(_pton(_AF6, text))
        _pton(_AF4, text)
        return str(text)  # a strict dotted quad is already canonical
    except (OSError, ValueError):
        pass
    except TypeError:
        raise _type_error(text) from None
    addr, pct, zone = text.partition("%")
    if pct and ":" in addr and _zone_ok(zone):
        try:
            return _canonical6(_pton(_AF6, addr)) + "%" + zone
        except (OSError, ValueError):
            pass
    raise _invalid(text)


def pack_ip(text: str) -> bytes:
    """The 4 (IPv4) or 16 (IPv6) network-order bytes of an address.

    A zone cannot be packed (it is not part of the address bytes), so a zoned address
    raises AddressError rather than silently losing its zone.

    Args:
        text: an IPv4 or IPv6 address without a zone.

    Returns:
        4 bytes for IPv4, 16 for IPv6.

    Raises:
        TypeError: *text* is not a ``str``.
        AddressError: *text* is not a valid address, or has a zone.
    """
    try:
        return _pton(_AF6 if ":" in text else _AF4, text)
    except (OSError, ValueError):
        pass
    except TypeError:
        raise _type_error(text) from None
    if _is_zoned_ipv6(text):
        raise AddressError(
            f"cannot pack zoned address {describe(text)}: packed addresses carry no zone"
        )
    raise _invalid(text, allow_zone=False)


def unpack_ip(data: bytes | bytearray | memoryview) -> str:
    """Canonical text for 4 or 16 packed network-order bytes.

    Args:
        data: 4 bytes (IPv4) or 16 bytes (IPv6).

    Returns:
        The address in canonical text.

    Raises:
        TypeError: *data* is not bytes-like.
        AddressError: *data* is neither 4 nor 16 bytes long.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) == 4:
        return _ntop(_AF4, raw)
    if len(raw) == 16:
        return _canonical6(raw)
    raise AddressError(f"packed address must be 4 or 16 bytes, got {len(raw)}: {describe(raw)}")


# ---------------------------------------------------------------------------------------
# Classification (the SSRF use case)
# ---------------------------------------------------------------------------------------

# (network, prefix length, globally reachable, category). The most specific match wins;
# globally reachable follows the IANA special-purpose registries, with "N/A" read as
# not reachable (the safe answer for a gate in front of outgoing connections).
_V4_TABLE_SRC: tuple[tuple[str, int, bool, str], ...] = (
    ("0.0.0.0", 8, False, "this-network"),
    ("0.0.0.0", 32, False, "unspecified"),
    ("10.0.0.0", 8, False, "private"),
    ("100.64.0.0", 10, False, "shared"),
    ("127.0.0.0", 8, False, "loopback"),
    ("169.254.0.0", 16, False, "link-local"),
    ("172.16.0.0", 12, False, "private"),
    ("192.0.0.0", 24, False, "reserved"),
    ("192.0.0.9", 32, True, "global"),
    ("192.0.0.10", 32, True, "global"),
    ("192.0.2.0", 24, False, "documentation"),
    ("192.31.196.0", 24, True, "global"),
    ("192.52.193.0", 24, True, "global"),
    ("192.88.99.0", 24, False, "reserved"),
    ("192.168.0.0", 16, False, "private"),
    ("198.18.0.0", 15, False, "benchmarking"),
    ("198.51.100.0", 24, False, "documentation"),
    ("203.0.113.0", 24, False, "documentation"),
    ("224.0.0.0", 4, False, "multicast"),
    ("240.0.0.0", 4, False, "reserved"),
    ("255.255.255.255", 32, False, "broadcast"),
)
_V6_TABLE_SRC: tuple[tuple[str, int, bool, str], ...] = (
    ("::", 0, False, "reserved"),  # outside 2000::/3 nothing is allocated for unicast
    ("::", 128, False, "unspecified"),
    ("::1", 128, False, "loopback"),
    ("64:ff9b:1::", 48, False, "reserved"),
    ("100::", 64, False, "reserved"),
    ("100:0:0:1::", 64, False, "reserved"),
    ("2000::", 3, True, "global"),
    ("2001::", 23, False, "reserved"),
    ("2001:1::1", 128, True, "global"),
    ("2001:1::2", 128, True, "global"),
    ("2001:1::3", 128, True, "global"),
    ("2001:2::", 48, False, "benchmarking"),
    ("2001:3::", 32, True, "global"),
    ("2001:4:112::", 48, True, "global"),
    ("2001:20::", 28, True, "global"),
    ("2001:30::", 28, True, "global"),
    ("2001:db8::", 32, False, "documentation"),
    ("2002::", 16, False, "reserved"),  # 6to4: IANA says N/A
    ("3fff::", 20, False, "documentation"),
    ("5f00::", 16, False, "reserved"),
    ("fc00::", 7, False, "private"),
    ("fe80::", 10, False, "link-local"),
    ("fec0::", 10, False, "reserved"),  # deprecated site-local
    ("ff00::", 8, False, "multicast"),
)


def _build_table(
    src: tuple[tuple[str, int, bool, str], ...], family: int, bits: int
) -> list[tuple[int, int, bool, str]]:
    rows = []
    for text, length, reachable, category in src:
        mask = ((1 << length) - 1) << (bits - length)
        value = int.from_bytes(socket.inet_pton(family, text), "big")
        rows.append((length, value & mask, mask, reachable, category))
    rows.sort(key=lambda row: -row[0])  # most specific first
    return [(value, mask, reachable, category) for _, value, mask, reachable, category in rows]


_V4_TABLE = _build_table(_V4_TABLE_SRC, _AF4, 32)
_V6_TABLE = _build_table(_V6_TABLE_SRC, _AF6, 128)
_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"
_NAT64_PREFIX = b"\x00\x64\xff\x9b" + b"\0" * 8


def _lookup(packed: bytes) -> tuple[bool, str]:
    """(globally reachable, category) for packed bytes, seeing through mapped/NAT64."""
    if len(packed) == 16:
        if packed[:12] == _MAPPED_PREFIX:
            packed = packed[12:]
        elif packed[:12] == _NAT64_PREFIX:
            # 64:ff9b::/96 reaches the embedded IPv4 address through a NAT64 gateway,
            # so it is only as global as that address.
            return _lookup(packed[12:])
    value = int.from_bytes(packed, "big")
    for net, mask, reachable, category in _V4_TABLE if len(packed) == 4 else _V6_TABLE:
        if value & mask == net:
            return reachable, category
    return True, "global"  # IPv4 outside every special-purpose block


def _packed_for_classification(text: str) -> bytes:
    try:
        return _pton(_AF6 if ":" in text else _AF4, text)
    except (OSError, ValueError):
        pass
    except TypeError:
        raise _type_error(text) from None
    if _is_zoned_ipv6(text):
        return _pton(_AF6, text.partition("%")[0])  # the zone does not change the class
    raise _invalid(text)


def classify(text: str) -> str:
    """The special-purpose category of an address, or ``"global"``.

    One of: global, loopback, private, link-local, shared, documentation, benchmarking,
    unspecified, this-network, broadcast, multicast, reserved. IPv4-mapped and NAT64
    (64:ff9b::/96) addresses are classified by the IPv4 address they carry.

    Args:
        text: an IPv4 or IPv6 address (a zone is ignored).

    Returns:
        The category name.

    Raises:
        TypeError: *text* is not a ``str``.
        AddressError: *text* is not a valid address.
    """
    return _lookup(_packed_for_classification(text))[1]


def is_loopback(text: str) -> bool:
    """True for 127.0.0.0/8 and ::1 (also as ``::ffff:127.x.y.z``).

    Args:
        text: an IPv4 or IPv6 address (a zone is ignored).

    Returns:
        Whether the address is a loopback address.

    Raises:
        TypeError: *text* is not a ``str``.
        AddressError: *text* is not a valid address.
    """
    packed = _packed_for_classification(text)
    if packed[:12] == _MAPPED_PREFIX:
        packed = packed[12:]
    if len(packed) == 4:
        return packed[0] == 127
    return packed == b"\0" * 15 + b"\x01"


def is_private(text: str) -> bool:
    """True for RFC 1918 (10/8, 172.16/12, 192.168/16) and fc00::/7, nothing else.

    Args:
        text: an IPv4 or IPv6 address (a zone is ignored).

    Returns:
        Whether the address is in private space.

    Raises:
        TypeError: *text* is not a ``str``.
        AddressError: *text* is not a valid address.
    """
    packed = _packed_for_classification(text)
    if packed[:12] == _MAPPED_PREFIX:
        packed = packed[12:]
    if len(packed) == 4:
        a, b = packed[0], packed[1]
        return a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168)
    return packed[0] & 0xFE == 0xFC


def is_global(text: str) -> bool:
    """True if the IANA special-purpose registries call the address globally reachable.

    False for loopback, private, link-local (169.254.169.254 included), shared
    (100.64/10), documentation, benchmarking, unspecified, broadcast, multicast and
    reserved space. Mapped and NAT64 addresses are judged by their IPv4 address.

    Args:
        text: an IPv4 or IPv6 address (a zone is ignored).

    Returns:
        Whether the address is globally reachable.

    Raises:
        TypeError: *text* is not a ``str``.
        AddressError: *text* is not a valid address.
    """
    return _lookup(_packed_for_classification(text))[0]


# ---------------------------------------------------------------------------------------
# Hostnames, ports and endpoints
# ---------------------------------------------------------------------------------------


def _hostname_problem(host: str) -> str | None:
    """None if *host* is an RFC 1123 hostname netkit accepts, else the reason."""
    if not host:
        return "empty host"
    name = host[:-1] if host.endswith(".") else host  # one trailing dot: absolute name
    if len(name) > MAX_HOSTNAME_LENGTH:
        return f"hostname longer than {MAX_HOSTNAME_LENGTH} characters"
    if not name.isascii():
        return "hostname is not ASCII (use the IDNA 'xn--' form)"
    labels = name.split(".")
    for label in labels:
        if not label:
            return "empty label in hostname"
        if len(label) > 63:
            return f"label {describe(label, 20)} longer than 63 characters"
        if _LABEL_RE.fullmatch(label) is None:
            return f"label {describe(label, 20)} is not letters, digits and inner hyphens"
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]) is not None:
        return "numeric last label: resolvers would read this name as an IPv4 address"
    return None


def _canonical_host(host: str) -> str:
    """Canonical form of an endpoint host (IP literal or hostname) or AddressError."""
    try:  # the common cases first: a plain IP literal, then a well-formed hostname
        if ":" in host:
            return _canonical6(_pton(_AF6, host))
        _pton(_AF4, host)
        return host
    except (OSError, ValueError):
        pass
    except TypeError:
        raise TypeError(f"host must be str, got {type(host).__name__}") from None
    if ":" in host:
        if _is_zoned_ipv6(host):
            return normalize_ip(host)
        raise _invalid(host, want=6)
    if (
        len(host) <= MAX_HOSTNAME_LENGTH + 1
        and _HOSTNAME_RE.fullmatch(host) is not None
        and len(host.removesuffix(".")) <= MAX_HOSTNAME_LENGTH
        and _NUMERIC_LABEL_RE.fullmatch(host.removesuffix(".").rpartition(".")[2]) is None
    ):
        return host.lower()
    problem = _hostname_problem(host) or "not a hostname"
    raise AddressError(f"invalid host {describe(host)}: {problem}")


_set = object.__setattr__


@dataclass(frozen=True, slots=True, init=False)
class Endpoint:
    """A validated (host, port) pair: an IP literal in canonical form or a hostname.

    IP literals are stored in canonical text (``normalize_ip``) and hostnames in
    lowercase, so equal endpoints compare and hash equal. Construction validates, so
    an Endpoint is always valid.

    Args:
        host: an IP literal (IPv6 may carry a ``%zone``) or an RFC 1123 hostname.
        port: 0..65535.

    Attributes:
        host: the canonical IP text or the lowercase hostname.
        port: the port number.

    Raises:
        TypeError: *host* is not a ``str`` or *port* is not an ``int``.
        AddressError: a bad host, or a port outside 0..65535.
    """

    host: str
    port: int

    def __init__(self, host: str, port: int) -> None:
        _set(self, "host", _canonical_host(host))
        if port.__class__ is not int or not 0 <= port <= 65535:  # the fast path inline
            port = check_port(port, allow_zero=True)  # the rule and its messages
        _set(self, "port", port)

    def __reduce__(self) -> tuple[type[Endpoint], tuple[str, int]]:
        return (type(self), (self.host, self.port))

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    @property
    def family(self) -> socket.AddressFamily | None:
        """AF_INET or AF_INET6 for an IP literal, None for a hostname."""
        if ":" in self.host:
            return socket.AF_INET6
        if is_ipv4(self.host):
            return socket.AF_INET
        return None

    def to_sockaddr(self) -> tuple[str, int] | tuple[str, int, int, int]:
        """The address tuple ``socket.connect``/``bind``/``sendto`` expect.

        IPv6 gives ``(address, port, 0, scope_id)``; a numeric zone is the scope id, an
        interface name is looked up with ``socket.if_nametoindex`` (a local query).

        Returns:
            ``(host, port)`` for IPv4 and hostnames, ``(address, port, 0, scope_id)`` for IPv6.

        Raises:
            AddressError: the zone names an interface this machine does not have.
        """
        if ":" not in self.host:
            return (self.host, self.port)
        addr, _, zone = self.host.partition("%")
        if not zone:
            return (addr, self.port, 0, 0)
        if zone.isdigit():
            return (addr, self.port, 0, int(zone))
        try:
            scope_id = socket.if_nametoindex(zone)
        except OSError:
            raise AddressError(f"unknown interface {describe(zone)} in {self}") from None
        return (addr, self.port, 0, scope_id)

    @classmethod
    def from_sockaddr(cls, sockaddr: tuple[Any, ...]) -> Endpoint:
        """Build from ``(host, port)`` or ``(host, port, flowinfo, scope_id)``.

        A non-zero scope id becomes a numeric zone unless the host already has one.

        Args:
            sockaddr: a socket address as ``getpeername``, ``recvfrom`` or ``getaddrinfo``
                give it.

        Returns:
            The endpoint.

        Raises:
            TypeError: *sockaddr* is not a 2- or 4-tuple, or holds values of the wrong type.
            AddressError: a bad host or port.
        """
        if sockaddr.__class__ is tuple and len(sockaddr) == 2:
            return cls(*sockaddr)  # the common case: AF_INET, or a user's (host, port)
        if not isinstance(sockaddr, tuple) or len(sockaddr) not in (2, 4):
            raise TypeError(
                f"expected a (host, port[, flowinfo, scope_id]) tuple, got {describe(sockaddr)}"
            )
        host, port = sockaddr[0], sockaddr[1]
        if len(sockaddr) == 4 and isinstance(host, str) and sockaddr[3] and "%" not in host:
            host = f"{host}%{int(sockaddr[3])}"
        return cls(host, port)


def _parse_endpoint(text: str, default_port: int | None) -> Endpoint | str:
    """The endpoint *text* denotes, or the reason it is invalid."""
    port_text: str | None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return "missing ']'"
        host, rest = text[1:close], text[close + 1 :]
        if not is_ipv6(host, allow_zone=True):
            return "in brackets: " + _ip_problem(host, allow_zone=True, want=6)
        if rest and rest[0] != ":":
            return "unexpected text after ']'"
        port_text = rest[1:] if rest else None
        host = normalize_ip(host)
    elif text.count(":") > 1:
        if not is_ipv6(text, allow_zone=True):
            reason = _ip_problem(text, allow_zone=True, want=6)
            return f"{reason} (an IPv6 address with a port needs brackets: [v6]:port)"
        host, port_text = normalize_ip(text), None
    else:
        host, colon, port_text_or_empty = text.partition(":")
        port_text = port_text_or_empty if colon else None
        if not is_ipv4(host):
            problem = _hostname_problem(host)
            if problem is not None:
                return problem
            host = host.lower()
    if port_text is None:
        if default_port is None:
            return "no port given and no default port"
        port = default_port
    else:
        parsed = parse_port_text(port_text, allow_zero=True)
        if isinstance(parsed, str):
            return parsed
        port = parsed
    endpoint = object.__new__(Endpoint)  # host and port are already canonical
    object.__setattr__(endpoint, "host", host)
    object.__setattr__(endpoint, "port", port)
    return endpoint


def parse_endpoint(text: str, *, default_port: int | None = None) -> Endpoint:
    """Parse ``host:port``, ``[v6]:port``, ``[v6%zone]:port``, bare IPv6 or a hostname.

    IP literals come back canonical, hostnames lowercase.

    Args:
        text: the endpoint text.
        default_port: the port for ``[v6]``, bare IPv6 and a host without ``:port``.

    Returns:
        The endpoint.

    Raises:
        TypeError: *text* is not a ``str``, or *default_port* is not an ``int``.
        AddressError: *text* is malformed, has no port and there is no *default_port*,
            or *default_port* is outside 0..65535.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected an endpoint as str, got {type(text).__name__}")
    if default_port is not None:
        check_port(default_port, allow_zero=True)
    result = _parse_endpoint(text, default_port)
    if isinstance(result, str):
        raise AddressError(f"invalid endpoint {describe(text)}: {result}")
    return result


def why_invalid(text: str, *, allow_zone: bool = False) -> str | None:
    """None if *text* is a valid IP address, else a short reason (for messages and UIs).

    Args:
        text: the candidate address.
        allow_zone: accept an IPv6 ``%zone`` suffix.

    Returns:
        None for a valid address, else why it is not one.

    Raises:
        TypeError: *text* is not a ``str``.
    """
    if is_ip(text, allow_zone=allow_zone):
        return None
    return _ip_problem(text, allow_zone=allow_zone)
