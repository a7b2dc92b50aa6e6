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

Every lookup netkit makes, here and in the clients, servers and UDP endpoints of both
faces, goes through one process-wide :class:`Resolver`: the system's by default
(:class:`SystemResolver`). :func:`set_resolver` replaces it for good (a caching or
DNS-over-HTTPS resolver, say), :func:`use_resolver` for a ``with`` block, and
:func:`netkit.testing.fake_resolver` answers from a dict in tests. IP literals are
parsed, never looked up, so they reach no resolver.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol, TypeAlias, runtime_checkable

from netkit import _services
from netkit._core.checks import check_port, parse_port_text
from netkit._protocols import protocol_name, protocol_number
from netkit.addr import Endpoint, is_ip, normalize_ip
from netkit.errors import AddressError, LookupFailed, NetkitError, describe

__all__ = [
    "AddrInfo",
    "HostInfo",
    "Resolver",
    "SystemResolver",
    "get_resolver",
    "host_address",
    "hostname",
    "protocol_name",
    "protocol_number",
    "resolve",
    "reverse",
    "service_name",
    "service_port",
    "set_resolver",
    "use_resolver",
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
    :attr:`endpoint` is the same address as an :class:`~netkit.Endpoint`.

    Attributes:
        family: ``AF_INET`` or ``AF_INET6``.
        type: ``SOCK_STREAM`` or ``SOCK_DGRAM``.
        proto: the protocol number (``IPPROTO_TCP``, ``IPPROTO_UDP``).
        canonname: the canonical name, in the first result when asked for, else ``""``.
        sockaddr: what ``connect``/``bind`` take (with the IPv6 flow info and scope id).
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
    """The answer of :func:`reverse`: primary name, other names, addresses.

    Attributes:
        name: the primary host name.
        aliases: the other names.
        addresses: the addresses of the host, as the resolver gave them.
    """

    name: str
    aliases: tuple[str, ...]
    addresses: tuple[str, ...]


#: One answer of :meth:`Resolver.getaddrinfo`: ``(family, type, proto, canonname,
#: sockaddr)``, as :func:`socket.getaddrinfo` gives.
AddrInfoTuple: TypeAlias = tuple[int, int, int, str, tuple[Any, ...]]


@runtime_checkable
class Resolver(Protocol):
    """What netkit asks to turn names into addresses, addresses into names and service
    names into ports: the five lookups of the :mod:`socket` module, with their
    arguments, answers and errors, so that :class:`SystemResolver` is those functions.

    netkit checks its input before asking: a resolver only sees valid host names (never
    an IP literal, which is parsed instead of looked up, nor a name under ``.invalid``),
    ports as ints, and ``"tcp"`` or ``"udp"``. It turns the answers into its own types
    and drops what it cannot use (families other than IPv4 and IPv6, raw sockets,
    duplicates). To fail, raise what the :mod:`socket` module raises
    (:class:`socket.gaierror`, :class:`socket.herror`, or any ``OSError``): netkit
    reports it as :class:`~netkit.LookupFailed` with the error as ``__cause__`` and its
    code in ``errno``. A ``LookupFailed`` raised by the resolver is passed on as it is.

    netkit calls a resolver from whichever thread resolves (the asyncio face runs the
    calls in the loop's executor), concurrently: an implementation must be thread-safe,
    and may block. Subclass :class:`SystemResolver` to change some lookups and keep the
    others.
    """

    def getaddrinfo(
        self,
        host: str,
        port: int,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> Sequence[AddrInfoTuple]:
        """The addresses of the name *host*, as :func:`socket.getaddrinfo`.

        Parameters:
            host: a host name (never an IP literal).
            port: the port to put in each sockaddr.
            family: ``AF_UNSPEC`` (0), ``AF_INET`` or ``AF_INET6``.
            type: ``SOCK_STREAM``, ``SOCK_DGRAM`` or 0 for both.
            proto: always 0 from netkit.
            flags: ``AI_*`` flags; netkit uses ``AI_CANONNAME``, ``AI_PASSIVE`` and
                ``AI_V4MAPPED`` (IPv4 answers as ``::ffff:a.b.c.d`` for ``AF_INET6``).

        Returns:
            ``(family, type, proto, canonname, sockaddr)`` tuples, most preferred first.

        Raises:
            socket.gaierror: the name has no address (``EAI_NONAME``, ``EAI_AGAIN``...).
        """

    def gethostbyname(self, name: str) -> str:
        """One IPv4 address of the name *name*, as :func:`socket.gethostbyname`.

        Args:
            name: a host name.

        Returns:
            An IPv4 address in dotted-quad text.

        Raises:
            socket.gaierror: the name has no IPv4 address.
        """

    def gethostbyaddr(self, ip: str) -> tuple[str, Sequence[str], Sequence[str]]:
        """The names of the IP address *ip*, as :func:`socket.gethostbyaddr`.

        Args:
            ip: an IP address in canonical text.

        Returns:
            ``(name, aliases, addresses)``.

        Raises:
            socket.herror: no name for the address.
        """

    def getservbyname(self, name: str, protocol: str) -> int:
        """The port of the service *name*, as :func:`socket.getservbyname`.

        Args:
            name: a service name (``"https"``).
            protocol: ``"tcp"`` or ``"udp"``.

        Returns:
            The port number.

        Raises:
            OSError: unknown service; netkit then looks in its built-in table.
        """

    def getservbyport(self, port: int, protocol: str) -> str:
        """The service name of *port*, as :func:`socket.getservbyport`.

        Args:
            port: a port number.
            protocol: ``"tcp"`` or ``"udp"``.

        Returns:
            The service name.

        Raises:
            OSError: no service on that port; netkit then looks in its built-in table.
        """


class SystemResolver:
    """The system's resolver, netkit's default :class:`Resolver`: the :mod:`socket`
    functions (``/etc/hosts``, DNS and the rest of the system's name service, and
    ``/etc/services``), which block until they have an answer.

    Subclass it to replace some lookups and keep the others, for example to log or cache
    ``getaddrinfo``.
    """

    __slots__ = ()

    def getaddrinfo(
        self,
        host: str,
        port: int,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> Sequence[AddrInfoTuple]:
        """:func:`socket.getaddrinfo`; see :meth:`Resolver.getaddrinfo`.

        Args:
            host: a host name.
            port: the port to put in each sockaddr.
            family: ``AF_UNSPEC`` (0), ``AF_INET`` or ``AF_INET6``.
            type: ``SOCK_STREAM``, ``SOCK_DGRAM`` or 0 for both.
            proto: the protocol, 0 for any.
            flags: ``AI_*`` flags.

        Returns:
            ``(family, type, proto, canonname, sockaddr)`` tuples, most preferred first.

        Raises:
            socket.gaierror: the name has no address.
        """
        return socket.getaddrinfo(host, port, family, type, proto, flags)

    def gethostbyname(self, name: str) -> str:
        """:func:`socket.gethostbyname`.

        Args:
            name: a host name.

        Returns:
            An IPv4 address in dotted-quad text.

        Raises:
            socket.gaierror: the name has no IPv4 address.
        """
        return socket.gethostbyname(name)

    def gethostbyaddr(self, ip: str) -> tuple[str, Sequence[str], Sequence[str]]:
        """:func:`socket.gethostbyaddr`.

        Args:
            ip: an IP address.

        Returns:
            ``(name, aliases, addresses)``.

        Raises:
            socket.herror: no name for the address.
        """
        return socket.gethostbyaddr(ip)

    def getservbyname(self, name: str, protocol: str) -> int:
        """:func:`socket.getservbyname`.

        Args:
            name: a service name.
            protocol: ``"tcp"`` or ``"udp"``.

        Returns:
            The port number.

        Raises:
            OSError: unknown service.
        """
        return socket.getservbyname(name, protocol)

    def getservbyport(self, port: int, protocol: str) -> str:
        """:func:`socket.getservbyport`.

        Args:
            port: a port number.
            protocol: ``"tcp"`` or ``"udp"``.

        Returns:
            The service name.

        Raises:
            OSError: no service on that port.
        """
        return socket.getservbyport(port, protocol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_SYSTEM = SystemResolver()
_registry_lock = threading.Lock()
_default: Resolver = _SYSTEM
# The resolvers of the use_resolver() blocks still open, oldest first, each with the
# token its block removes it by (blocks opened in different threads may end in any order).
_scoped: list[tuple[object, Resolver]] = []
# The resolver in force: the newest open block's, else the default. Rebuilt under the
# lock at every change and read without it (one attribute read), so a lookup costs
# no lock.
_current: Resolver = _SYSTEM


def _as_resolver(resolver: object) -> Resolver:
    if resolver is None:
        return _SYSTEM
    if not isinstance(resolver, Resolver):
        raise TypeError(
            "resolver must have the methods getaddrinfo, gethostbyname, gethostbyaddr, "
            f"getservbyname and getservbyport; {type(resolver).__name__} does not"
        )
    return resolver


def _refresh() -> None:
    global _current
    _current = _scoped[-1][1] if _scoped else _default


def get_resolver() -> Resolver:
    """Return the resolver netkit uses now, in every thread.

    Returns:
        The resolver of the innermost :func:`use_resolver` block still open, else the
        one set by :func:`set_resolver` (a :class:`SystemResolver` unless replaced).
    """
    return _current


def set_resolver(resolver: Resolver | None) -> Resolver:
    """Make *resolver* the one every netkit lookup uses, in every thread, from now on.

    A :func:`use_resolver` block that is open when this is called keeps its own resolver
    until it ends.

    Parameters:
        resolver: a :class:`Resolver`, or ``None`` for the system's.

    Returns:
        The resolver that was set before (to restore it later).

    Raises:
        TypeError: *resolver* lacks a method of :class:`Resolver`.
    """
    global _default
    checked = _as_resolver(resolver)
    with _registry_lock:
        previous = _default
        _default = checked
        _refresh()
    return previous


@contextmanager
def use_resolver(resolver: Resolver) -> Iterator[Resolver]:
    """Use *resolver* for every netkit lookup, in every thread, until the block ends.

    The setting is process-wide, not local to a thread or task, because lookups run in
    other threads (the asyncio face's executor, ``TcpClient.connect``'s resolving thread
    under a timeout). Blocks nest: the innermost open block wins, and the one outside
    it is back in force when it ends, also through an exception. Ending a block removes
    its own resolver even if blocks opened in other threads end in another order.

    Parameters:
        resolver: the :class:`Resolver` to use.

    Returns:
        A context manager that gives *resolver*.

    Raises:
        TypeError: *resolver* lacks a method of :class:`Resolver`.
    """
    if resolver is None:
        raise TypeError("use_resolver needs a resolver, not None")
    checked = _as_resolver(resolver)
    token = object()
    with _registry_lock:
        _scoped.append((token, checked))
        _refresh()
    try:
        yield checked
    finally:
        with _registry_lock:
            for index, (owner, _) in enumerate(_scoped):
                if owner is token:
                    del _scoped[index]
                    break
            _refresh()


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


def _never_resolves(host: str) -> LookupFailed:
    return LookupFailed(f"cannot resolve {describe(host)}: the .invalid domain never resolves")


def _invalid_name_error(host: str) -> LookupFailed | None:
    """The error for a name under ``.invalid`` (which no resolver is asked), or None.

    For the UDP set-up in :mod:`netkit._sockets.datagram`, which asks the resolver
    itself (with flags :func:`resolve` has no argument for) but keeps this rule.
    """
    return _never_resolves(host) if _is_invalid_tld(host) else None


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


def hostname() -> str:
    """Return this machine's host name (:func:`socket.gethostname`).

    Returns:
        The host name, as the system has it.
    """
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

    A name is asked of the resolver in force (:func:`get_resolver`); an IP literal is
    parsed (``AI_NUMERICHOST``) and asks nobody. The result is in the resolver's order
    (RFC 6724 preference on Linux), without duplicates, and never empty.

    Args:
        host: a host name or an IP literal (IPv6 may carry a ``%zone``).
        port: an int, a decimal string (``"080"`` is 80) or a service name (``"https"``,
            looked up for ``udp`` when *type* is ``SOCK_DGRAM``); ``None`` gives port 0.
        family: ``AF_UNSPEC`` (both), ``AF_INET`` or ``AF_INET6``.
        type: ``SOCK_STREAM``, ``SOCK_DGRAM`` or ``0`` for every kind.
        canonical: put the canonical name in the first result (``AI_CANONNAME``).

    Returns:
        The addresses, most preferred first.

    Raises:
        LookupFailed: the resolver found no IPv4 or IPv6 address (its error is the
            ``__cause__``, its code the ``errno``), or *port* is an unknown service.
        AddressError: *host* cannot be a host name or IP address, or *port* is out of
            range.
        TypeError: a *host* or *port* of the wrong type.
        ValueError: a *family* or *type* other than those above.
    """
    host = _check_host(host)
    if family not in _FAMILIES:
        raise ValueError(f"family must be AF_UNSPEC, AF_INET or AF_INET6, not {_show(family)}")
    if type not in _TYPES:
        raise ValueError(f"type must be 0, SOCK_STREAM or SOCK_DGRAM, not {_show(type)}")
    protocol = "udp" if type == socket.SOCK_DGRAM else "tcp"
    number = 0 if port is None else _check_port(port, protocol)
    if _is_invalid_tld(host):
        raise _never_resolves(host)
    flags = socket.AI_CANONNAME if canonical else 0
    if is_ip(host, allow_zone=True):
        # A literal needs no resolver, and must not use one: parse it (zone included).
        flags |= socket.AI_NUMERICHOST
        ask: Any = socket.getaddrinfo
    else:
        ask = _current.getaddrinfo
    try:
        answers = ask(host, number, family, type, 0, flags)
    except NetkitError:
        raise
    except OSError as exc:
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

    A name is asked of the resolver in force (:func:`get_resolver`); an IPv4 literal
    comes back as it is, without asking. For IPv6 or every address, use :func:`resolve`.

    Args:
        name: a host name or an IPv4 literal.

    Returns:
        An IPv4 address in dotted-quad text.

    Raises:
        LookupFailed: no IPv4 address (an IPv6 literal has none).
        AddressError: *name* cannot be a host name or IP address.
        TypeError: *name* is not a ``str``.
    """
    name = _check_host(name)
    if _is_invalid_tld(name):
        raise _never_resolves(name)
    # A literal is parsed (an IPv6 one fails: not IPv4), a name goes to the resolver.
    ask = socket.gethostbyname if is_ip(name, allow_zone=True) else _current.gethostbyname
    try:
        return ask(name)
    except NetkitError:
        raise
    except OSError as exc:
        raise _failed("cannot resolve", name, exc) from exc
    except UnicodeError as exc:
        raise AddressError(f"host {describe(name)} is not a valid host name: {exc}") from exc


def reverse(ip: str) -> HostInfo:
    """Return the names of the IP address *ip* (:func:`socket.gethostbyaddr`).

    As ``gethostbyaddr`` does, *ip* may also be a host name, resolved first (the first
    address of :func:`resolve`). Both lookups ask the resolver in force
    (:func:`get_resolver`), the reverse one with the address's canonical text.

    Parameters:
        ip: an IPv4 or IPv6 address (without a ``%zone``), or a host name.

    Returns:
        ``HostInfo(name, aliases, addresses)``.

    Raises:
        LookupFailed: no name for the address, or the host name does not resolve.
        AddressError: *ip* is neither an IP address nor a host name.
        TypeError: *ip* is not a str.
    """
    if not isinstance(ip, str):
        raise TypeError(f"ip must be a str, not {type(ip).__name__}")
    if is_ip(ip):
        address = normalize_ip(ip)
    elif is_ip(ip, allow_zone=True):
        raise AddressError(f"not an IP address without a zone: {describe(ip)}")
    else:  # resolve() raises AddressError for what cannot be a host name either
        first = resolve(ip)[0]
        address = normalize_ip(str(first.sockaddr[0]).split("%", 1)[0])
    try:
        name, aliases, addresses = _current.gethostbyaddr(address)
    except NetkitError:
        raise
    except OSError as exc:
        raise _failed("no name for", ip, exc) from exc
    return HostInfo(name, tuple(aliases), tuple(addresses))


def _check_service(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"service name must be a str, not {type(name).__name__}")
    if not _SERVICE_NAME.fullmatch(name) or not name.isascii():
        raise AddressError(f"not a service name: {describe(name)}")
    return name


def _resolver_port(name: str, protocol: str) -> int | None:
    """The resolver's port for *name* (the system's: /etc/services), or None."""
    try:
        return _current.getservbyname(name, protocol)
    except OSError:
        return None


def _resolver_name(port: int, protocol: str) -> str | None:
    """The resolver's name for *port* (the system's: /etc/services), or None."""
    try:
        return _current.getservbyport(port, protocol)
    except OSError:
        return None


def service_port(name: str, protocol: str = "tcp") -> int:
    """Return the port of the service *name* for *protocol* (``"tcp"`` or ``"udp"``).

    Asks the resolver in force first (the system's reads ``/etc/services``), then
    netkit's built-in table of well-known ports. Matching is case-insensitive. A decimal
    string is its own port (``"8080"`` gives 8080).

    Args:
        name: a service name, or a port in decimal.
        protocol: ``"tcp"`` or ``"udp"``.

    Returns:
        The port number.

    Raises:
        LookupFailed: neither knows the service.
        AddressError: *name* cannot be a service name, or is a port out of range.
        TypeError: *name* is not a ``str``.
        ValueError: *protocol* is not ``"tcp"`` or ``"udp"``.
    """
    protocol = _check_protocol(protocol)
    name = _check_service(name)
    if name.isdigit():  # ASCII digits only, as _check_service allowed no others
        number = parse_port_text(name, allow_zero=True)
        if isinstance(number, str):
            raise AddressError(number)
        return number
    port = _resolver_port(name, protocol)
    if port is None and name != name.lower():
        port = _resolver_port(name.lower(), protocol)
    if port is None:
        port = _services.BY_NAME.get((name.lower(), protocol))
    if port is None:
        raise LookupFailed(f"unknown {protocol} service {describe(name)}")
    return port


def service_name(port: int, protocol: str = "tcp") -> str:
    """Return the name of the service on *port* for *protocol* (``"tcp"`` or ``"udp"``).

    Asks the resolver in force first (the system's reads ``/etc/services``), then
    netkit's built-in table of well-known ports.

    Args:
        port: a port number.
        protocol: ``"tcp"`` or ``"udp"``.

    Returns:
        The service name.

    Raises:
        LookupFailed: neither knows a service on *port*.
        AddressError: *port* is out of range 0..65535.
        TypeError: *port* is not an ``int``.
        ValueError: *protocol* is not ``"tcp"`` or ``"udp"``.
    """
    protocol = _check_protocol(protocol)
    port = check_port(port, allow_zero=True)
    name = _resolver_name(port, protocol)
    if name is None:
        name = _services.BY_PORT.get((port, protocol))
    if name is None:
        raise LookupFailed(f"no well-known {protocol} service on port {port}")
    return name
