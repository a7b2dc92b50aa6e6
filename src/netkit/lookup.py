"""Name, address and service lookups: typed wrappers over the system resolver.

Every failure to find something raises :class:`~netkit.errors.LookupFailed` (an
``OSError``) naming the input, with the resolver's error chained as ``__cause__`` and
its code kept in ``errno``; input that cannot be a host, IP address or port at all
raises :class:`~netkit.errors.AddressError` (a ``ValueError``) before any lookup.

Two safety rules on top of the system resolver:

* Names under the reserved ``.invalid`` top-level domain (RFC 6761, section 6.4) fail
  at once, without asking DNS, as that RFC asks of resolver libraries.
* A host whose last label is all digits or ``0x`` plus hex (``127.1``, ``2130706433``,
  ``0x7f.1``) and is not a valid IP address is refused with ``AddressError``: the C
  resolver would read it as an IPv4 address in a legacy shorthand, which is how a
  check of the text and the address actually used disagree (the SSRF trap).

Service lookups ask the system (``/etc/services``) first and fall back to a built-in
table of well-known IANA ports, so ``service_port("https")`` works in slim containers.
"""

from __future__ import annotations

import re
import socket
from typing import NamedTuple, TypeAlias

from netkit import _services
from netkit._core.checks import check_port, parse_port_text
from netkit.addr import Endpoint, is_ip, normalize_ip
from netkit.errors import AddressError, LookupFailed, describe

__all__ = [
    "AddrInfo",
    "HostInfo",
    "host_address",
    "hostname",
    "resolve",
    "reverse",
    "service_name",
    "service_port",
]

_FAMILIES = (socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6)
_TYPES = (0, socket.SOCK_STREAM, socket.SOCK_DGRAM)
_PROTOCOLS = ("tcp", "udp")
# A DNS name is at most 253 characters; leave room for a trailing dot and a zone.
_MAX_HOST = 255
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_NOT_IN_HOSTNAMES = frozenset(":[]/@")
# Service names as in /etc/services and the IANA registry (letters, digits, "-",
# plus a few historic characters); anything else cannot name a service.
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+/-]{0,63}")

SockAddr: TypeAlias = tuple[str, int] | tuple[str, int, int, int]


class AddrInfo(NamedTuple):
    """One address from :func:`resolve`, ready for ``socket(family, type, proto)``.

    The five fields are those of :func:`socket.getaddrinfo`, in the same order, so
    code that unpacks ``family, type, proto, canonname, sockaddr`` keeps working;
    ``sockaddr`` is what ``connect``/``bind`` take (with the IPv6 flow info and scope
    id), and :attr:`endpoint` is the same address as an :class:`~netkit.Endpoint`.
    """

    family: socket.AddressFamily
    type: socket.SocketKind
    proto: int
    canonname: str
    sockaddr: SockAddr

    @property
    def endpoint(self) -> Endpoint:
        """The address and port as an :class:`~netkit.Endpoint`."""
        return Endpoint.from_sockaddr(self.sockaddr)


class HostInfo(NamedTuple):
    """The answer of :func:`reverse`: primary name, other names, addresses."""

    name: str
    aliases: tuple[str, ...]
    addresses: tuple[str, ...]


def _show(value: object) -> str:
    # describe() calls repr(), which raises for ints over 4300 digits; name the size.
    if isinstance(value, int) and value.bit_length() > 128:
        return f"{'-' if value < 0 else ''}<{value.bit_length()}-bit integer>"
    return describe(value)


def _failed(what: str, value: object, exc: OSError) -> LookupFailed:
    reason = exc.strerror or str(exc)
    error = LookupFailed(f"{what} {describe(value)}: {reason}")
    error.errno = exc.errno
    return error


def _check_host(host: object) -> str:
    """Refuse what cannot be a host name or IP address; return it unchanged."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not host:
        raise AddressError("host must not be empty")
    if len(host) > _MAX_HOST:
        raise AddressError(f"host {describe(host)} is longer than {_MAX_HOST} characters")
    if is_ip(host, allow_zone=True):
        return host
    if any(ch.isspace() or not ch.isprintable() for ch in host):
        raise AddressError(f"host {describe(host)} contains whitespace or control characters")
    if any(ch in _NOT_IN_HOSTNAMES for ch in host):
        # A colon means an IPv6 literal (which failed to parse), brackets or a slash an
        # endpoint or URL passed where a bare host belongs.
        raise AddressError(f"host {describe(host)} is neither an IP address nor a host name")
    last = host[:-1] if host.endswith(".") else host
    last = last.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.fullmatch(last):
        raise AddressError(
            f"host {describe(host)} is neither an IP address nor a host name "
            "(resolvers read a numeric last label as a legacy IPv4 shorthand)"
        )
    return host


def _is_invalid_tld(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "invalid" or name.endswith(".invalid")


def _check_port(port: object, protocol: str) -> int:
    """An int port (the rule in check_port), a decimal string or a service name."""
    if isinstance(port, str):
        return service_port(port, protocol)  # decimal strings are their own port
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int or a str, not {type(port).__name__}")
    return check_port(port, allow_zero=True)


def _check_protocol(protocol: object) -> str:
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol must be 'tcp' or 'udp', not {_show(protocol)}")
    assert isinstance(protocol, str)
    return protocol


def _getaddrinfo(
    host: str, port: int, family: int, type: int, flags: int
) -> list[tuple[int, int, int, str, SockAddr]]:
    # Module-level so tests can swap in a fake resolver.
    return socket.getaddrinfo(host, port, family, type, 0, flags)  # type: ignore[return-value]


def hostname() -> str:
    """Return this machine's host name (:func:`socket.gethostname`)."""
    return socket.gethostname()


def resolve(
    host: str,
    port: int | str | None = None,
    *,
    family: int = socket.AF_UNSPEC,
    type: int = socket.SOCK_STREAM,
    canonical: bool = False,
) -> list[AddrInfo]:
    """Resolve *host* (and *port*) to the addresses to connect to or bind.

    *port* is an int, a decimal string (``"080"`` is 80) or a service name
    (``"https"``, looked up for ``udp`` when *type* is ``SOCK_DGRAM``); ``None`` gives
    port 0. *family* is ``AF_UNSPEC`` (both), ``AF_INET`` or ``AF_INET6``; *type* is
    ``SOCK_STREAM``, ``SOCK_DGRAM`` or ``0`` for every kind. With *canonical*, the
    first result carries the canonical name (``AI_CANONNAME``).

    The result is in the resolver's order (RFC 6724 preference on Linux), without
    duplicates, and never empty: no address raises :class:`LookupFailed`.
    """
    host = _check_host(host)
    if family not in _FAMILIES:
        raise ValueError(f"family must be AF_UNSPEC, AF_INET or AF_INET6, not {_show(family)}")
    if type not in _TYPES:
        raise ValueError(f"type must be 0, SOCK_STREAM or SOCK_DGRAM, not {_show(type)}")
    protocol = "udp" if type == socket.SOCK_DGRAM else "tcp"
    number = 0 if port is None else _check_port(port, protocol)
    if _is_invalid_tld(host):
        raise LookupFailed(f"cannot resolve {describe(host)}: the .invalid domain never resolves")
    flags = socket.AI_CANONNAME if canonical else 0
    if is_ip(host, allow_zone=True):
        flags |= socket.AI_NUMERICHOST  # a literal needs no resolver, and must not use one
    try:
        answers = _getaddrinfo(host, number, family, type, flags)
    except socket.gaierror as exc:
        raise _failed("cannot resolve", host, exc) from exc
    except UnicodeError as exc:
        # The IDNA codec refuses labels over 63 characters or with invalid code points.
        raise AddressError(f"host {describe(host)} is not a valid host name: {exc}") from exc
    results: list[AddrInfo] = []
    seen: set[tuple[int, int, int, SockAddr]] = set()
    for fam, kind, proto, canonname, sockaddr in answers:
        if fam not in (socket.AF_INET, socket.AF_INET6) or kind not in _TYPES[1:]:
            continue  # SOCK_RAW answers for type=0, odd families from unusual NSS modules
        key = (fam, kind, proto, sockaddr)
        if key in seen:
            continue
        seen.add(key)
        results.append(
            AddrInfo(
                socket.AddressFamily(fam),
                socket.SocketKind(kind),
                proto,
                canonname,
                sockaddr,
            )
        )
    if not results:
        raise LookupFailed(f"cannot resolve {describe(host)}: no IPv4 or IPv6 address")
    return results


def host_address(name: str) -> str:
    """Return one IPv4 address of *name*, as :func:`socket.gethostbyname` does.

    An IPv4 literal comes back canonical. For IPv6 or every address, use :func:`resolve`.
    """
    name = _check_host(name)
    if _is_invalid_tld(name):
        raise LookupFailed(f"cannot resolve {describe(name)}: the .invalid domain never resolves")
    try:
        return socket.gethostbyname(name)
    except socket.gaierror as exc:
        raise _failed("cannot resolve", name, exc) from exc
    except UnicodeError as exc:
        raise AddressError(f"host {describe(name)} is not a valid host name: {exc}") from exc


def reverse(ip: str) -> HostInfo:
    """Return the names of the IP address *ip* (:func:`socket.gethostbyaddr`).

    *ip* must be an IPv4 or IPv6 address (``AddressError`` otherwise: a host name is
    not looked up forward first). No name found raises :class:`LookupFailed`.
    """
    if not isinstance(ip, str):
        raise TypeError(f"ip must be a str, not {type(ip).__name__}")
    if not is_ip(ip):
        raise AddressError(f"not an IP address: {describe(ip)}")
    address = normalize_ip(ip)
    try:
        name, aliases, addresses = socket.gethostbyaddr(address)
    except (socket.herror, socket.gaierror) as exc:
        raise _failed("no name for", ip, exc) from exc
    return HostInfo(name, tuple(aliases), tuple(addresses))


def _check_service(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"service name must be a str, not {type(name).__name__}")
    if not _SERVICE_NAME.fullmatch(name) or not name.isascii():
        raise AddressError(f"not a service name: {describe(name)}")
    return name


def _system_port(name: str, protocol: str) -> int | None:
    """The system's port for *name* (/etc/services via getservbyname), or None."""
    try:
        return socket.getservbyname(name, protocol)
    except OSError:
        return None


def _system_name(port: int, protocol: str) -> str | None:
    """The system's name for *port* (/etc/services via getservbyport), or None."""
    try:
        return socket.getservbyport(port, protocol)
    except OSError:
        return None


def service_port(name: str, protocol: str = "tcp") -> int:
    """Return the port of the service *name* for *protocol* (``"tcp"`` or ``"udp"``).

    Asks the system first, then netkit's built-in table of well-known ports. Matching
    is case-insensitive. A decimal string is its own port (``"8080"`` gives 8080).
    """
    protocol = _check_protocol(protocol)
    name = _check_service(name)
    if name.isdigit():  # ASCII digits only, as _check_service allowed no others
        number = parse_port_text(name, allow_zero=True)
        if isinstance(number, str):
            raise AddressError(number)
        return number
    port = _system_port(name, protocol)
    if port is None and name != name.lower():
        port = _system_port(name.lower(), protocol)
    if port is None:
        port = _services.BY_NAME.get((name.lower(), protocol))
    if port is None:
        raise LookupFailed(f"unknown {protocol} service {describe(name)}")
    return port


def service_name(port: int, protocol: str = "tcp") -> str:
    """Return the name of the service on *port* for *protocol* (``"tcp"`` or ``"udp"``).

    Asks the system first, then netkit's built-in table of well-known ports.
    """
    protocol = _check_protocol(protocol)
    port = check_port(port, allow_zero=True)
    name = _system_name(port, protocol)
    if name is None:
        name = _services.BY_PORT.get((port, protocol))
    if name is None:
        raise LookupFailed(f"no well-known {protocol} service on port {port}")
    return name
