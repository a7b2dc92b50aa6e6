"""A resolver that answers from a mapping: :func:`fake_resolver` and :class:`FakeResolver`.

Public as :func:`netkit.testing.fake_resolver` and :func:`netkit.aio.testing.fake_resolver`
(the same function: the resolver hook is process-wide, so one fake serves both faces).
It lives here rather than in :mod:`netkit.testing` because :mod:`netkit.aio.testing`
sits below that module in the package's layers and may not import it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypeAlias

from netkit.addr import Endpoint, is_ip, normalize_ip
from netkit.errors import AddressError, describe
from netkit.lookup import AddrInfoTuple, use_resolver

__all__ = ["FakeResolver", "fake_resolver"]

#: What a name (or, for ``reverse=``, an address) maps to: one text or several.
Answers: TypeAlias = str | Iterable[str]

_UNKNOWN = "unknown name (not in the fake resolver's mapping)"
# glibc's answer for a name that exists without an address of the family asked.
_NO_DATA = getattr(socket, "EAI_NODATA", socket.EAI_NONAME)
_HOST_NOT_FOUND = 1  # h_errno HOST_NOT_FOUND, what gethostbyaddr raises for no name
_KINDS = {
    0: ((socket.SOCK_STREAM, socket.IPPROTO_TCP), (socket.SOCK_DGRAM, socket.IPPROTO_UDP)),
    socket.SOCK_STREAM: ((socket.SOCK_STREAM, socket.IPPROTO_TCP),),
    socket.SOCK_DGRAM: ((socket.SOCK_DGRAM, socket.IPPROTO_UDP),),
}


def _key(name: str) -> str:
    # DNS names compare case-insensitively, and "db.test." is "db.test".
    return name.lower().removesuffix(".")


def _texts(answers: object, what: str) -> list[str]:
    if isinstance(answers, str):
        return [answers]  # one answer, not its characters
    if not isinstance(answers, Iterable):
        raise TypeError(f"{what} must be a str or an iterable of str, not {describe(answers)}")
    texts = list(answers)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"{what} must be a str or an iterable of str, not {describe(text)}")
    return texts


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"names in a fake resolver's mapping must be str, not {describe(name)}")
    if is_ip(name, allow_zone=True):
        raise AddressError(
            f"{describe(name)} is an IP address: IP literals are parsed, never looked up, "
            "so map host names only"
        )
    Endpoint(name, 0)  # the host name rules every netkit lookup applies (AddressError)
    return name.removesuffix(".")


def _check_ips(answers: object, what: str) -> tuple[str, ...]:
    ips = []
    for text in _texts(answers, what):
        if not is_ip(text, allow_zone=True):
            raise AddressError(f"{what} must be IP addresses; {describe(text)} is not one")
        ips.append(normalize_ip(text))
    return tuple(ips)


class FakeResolver:
    """A :class:`~netkit.lookup.Resolver` that answers host lookups from a mapping and
    never asks the system, so tests resolve any name they like with no DNS.

    * ``getaddrinfo``: the addresses of the name, in the order given (so a test decides
      what Happy Eyeballs sees), filtered by *family*; with ``AF_INET6`` and
      ``AI_V4MAPPED``, IPv4 addresses come as ``::ffff:a.b.c.d`` when the name has no
      IPv6 one (all of them with ``AI_ALL``). ``type=0`` gives a stream and a datagram
      answer per address; ``AI_CANONNAME`` puts the name in the first answer.
    * ``gethostbyname``: the name's first IPv4 address.
    * ``gethostbyaddr``: the names of an address, as ``/etc/hosts`` gives them: every
      name the mapping maps to that address (the first is the primary name, the rest
      aliases), unless *reverse* lists the address.
    * A name that is not in the mapping fails as an unknown name does with the system
      (:class:`socket.gaierror` with ``EAI_NONAME``, which netkit reports as
      :class:`~netkit.LookupFailed`), a known name without an address of the family asked
      as a name without one (``EAI_NODATA``), and an address without a name as
      :class:`socket.herror`. Nothing falls through to the system resolver.
    * IP literals, should anything pass them, are parsed (``AI_NUMERICHOST``) as the
      system resolver does, and services come from the system (``/etc/services``, a
      local file; then netkit's built-in table): neither asks DNS.

    Parameters:
        mapping: host name to its IP addresses (one text or an iterable of them; none is
            a name that exists without an address). Names are matched
            case-insensitively, with or without a final dot.
        reverse: IP address to its names (one text, or the primary name then aliases),
            replacing the names the mapping gives that address.

    Raises:
        AddressError: a name that is not a valid host name (or is an IP literal), or an
            answer that is not an IP address (or a host name, in *reverse*).
        TypeError: a name or answer that is not text.
        ValueError: a name twice in *mapping* (compared case-insensitively).
    """

    def __init__(
        self, mapping: Mapping[str, Answers], *, reverse: Mapping[str, Answers] | None = None
    ) -> None:
        self._forward: dict[str, tuple[str, tuple[str, ...]]] = {}  # key -> (name, ips)
        backward: dict[str, list[str]] = {}
        for name, answers in mapping.items():
            shown = _check_name(name)
            key = _key(shown)
            if key in self._forward:
                raise ValueError(f"{describe(name)} is in the mapping twice")
            ips = _check_ips(answers, f"the addresses of {describe(name)}")
            self._forward[key] = (shown, ips)
            for ip in ips:
                names = backward.setdefault(ip, [])
                if shown not in names:
                    names.append(shown)
        for ip, answers in (reverse or {}).items():
            if not isinstance(ip, str) or not is_ip(ip, allow_zone=True):
                raise AddressError(f"reverse entries are keyed by IP address, not {describe(ip)}")
            names = [_check_name(name) for name in _texts(answers, f"the names of {ip}")]
            backward[normalize_ip(ip)] = names
        self._backward = {ip: tuple(names) for ip, names in backward.items() if names}
        self._lock = threading.Lock()
        self._asked: list[str] = []

    @property
    def asked(self) -> list[str]:
        """The host names and addresses looked up so far, in order (a copy)."""
        with self._lock:
            return list(self._asked)

    def __repr__(self) -> str:
        return f"<FakeResolver of {len(self._forward)} names>"

    def _record(self, query: str) -> None:
        with self._lock:  # lookups come from many threads at once
            self._asked.append(query)

    def _addresses(self, name: str) -> tuple[str, tuple[str, ...]]:
        found = self._forward.get(_key(name))
        if found is None:
            raise socket.gaierror(socket.EAI_NONAME, _UNKNOWN)
        return found

    def getaddrinfo(
        self,
        host: str,
        port: int,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> Sequence[AddrInfoTuple]:
        """The addresses of *host* from the mapping.

        See :meth:`netkit.lookup.Resolver.getaddrinfo`.

        Args:
            host: a host name (an IP literal is parsed, as the system would).
            port: the port to put in each sockaddr.
            family: ``AF_UNSPEC`` (0), ``AF_INET`` or ``AF_INET6``.
            type: ``SOCK_STREAM``, ``SOCK_DGRAM`` or 0 for both.
            proto: the protocol, 0 for any.
            flags: ``AI_*`` flags.

        Returns:
            ``(family, type, proto, canonname, sockaddr)`` tuples, in the mapping's order.

        Raises:
            socket.gaierror: *host* is not in the mapping (``EAI_NONAME``), has no
                address of *family* (``EAI_NODATA``), or *family* / *type* is not one
                netkit uses.
        """
        if is_ip(host, allow_zone=True):
            return socket.getaddrinfo(
                host, port, family, type, proto, flags | socket.AI_NUMERICHOST
            )
        self._record(host)
        if flags & socket.AI_NUMERICHOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        name, ips = self._addresses(host)
        v4 = [ip for ip in ips if ":" not in ip]
        if family == socket.AF_INET:
            chosen = v4
        elif family == socket.AF_INET6:
            chosen = [ip for ip in ips if ":" in ip]
            if flags & socket.AI_V4MAPPED and (not chosen or flags & socket.AI_ALL):
                chosen += ["::ffff:" + ip for ip in v4]
        elif family == socket.AF_UNSPEC:
            chosen = list(ips)
        else:
            raise socket.gaierror(socket.EAI_FAMILY, "ai_family not supported")
        kinds = [kind for kind in _KINDS.get(type, ()) if proto in (0, kind[1])]
        if not kinds:
            raise socket.gaierror(socket.EAI_SOCKTYPE, "ai_socktype not supported")
        if not chosen:
            raise socket.gaierror(_NO_DATA, "No address associated with hostname")
        answers: list[AddrInfoTuple] = []
        for ip in chosen:
            inet = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sockaddr = Endpoint(ip, port).to_sockaddr()
            for kind, protocol in kinds:
                canonname = name if flags & socket.AI_CANONNAME and not answers else ""
                answers.append((inet, kind, protocol, canonname, sockaddr))
        return answers

    def gethostbyname(self, name: str) -> str:
        """The first IPv4 address of *name* in the mapping.

        Args:
            name: a host name (an IP literal is parsed).

        Returns:
            An IPv4 address in dotted-quad text.

        Raises:
            socket.gaierror: *name* is not in the mapping, or has no IPv4 address.
        """
        if is_ip(name, allow_zone=True):
            return socket.gethostbyname(name)
        self._record(name)
        for ip in self._addresses(name)[1]:
            if ":" not in ip:
                return ip
        raise socket.gaierror(_NO_DATA, "No address associated with hostname")

    def gethostbyaddr(self, ip: str) -> tuple[str, list[str], list[str]]:
        """The names of *ip*: from *reverse*, else every name mapped to it.

        Args:
            ip: an IP address (or a name from the mapping, resolved first).

        Returns:
            ``(name, aliases, [ip])``.

        Raises:
            socket.herror: no name for *ip*.
            socket.gaierror: *ip* is a name that is not in the mapping.
        """
        self._record(ip)
        if is_ip(ip, allow_zone=True):
            address = normalize_ip(ip)
        else:  # socket.gethostbyaddr takes a name too: its first address
            ips = self._addresses(ip)[1]
            if not ips:
                raise socket.gaierror(_NO_DATA, "No address associated with hostname")
            address = ips[0]
        names = self._backward.get(address)
        if names is None:
            raise socket.herror(_HOST_NOT_FOUND, "Unknown host")
        return names[0], list(names[1:]), [address]

    def getservbyname(self, name: str, protocol: str) -> int:
        """:func:`socket.getservbyname`: services are read from a local file, not DNS.

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
        """:func:`socket.getservbyport`: services are read from a local file, not DNS.

        Args:
            port: a port number.
            protocol: ``"tcp"`` or ``"udp"``.

        Returns:
            The service name.

        Raises:
            OSError: no service on that port.
        """
        return socket.getservbyport(port, protocol)


@contextmanager
def fake_resolver(
    mapping: Mapping[str, Answers] | None = None, *, reverse: Mapping[str, Answers] | None = None
) -> Iterator[FakeResolver]:
    """Resolve host names from *mapping*, never from the system, until the block ends.

    Under it every netkit lookup (:func:`~netkit.lookup.resolve`,
    :func:`~netkit.lookup.host_address`, :func:`~netkit.lookup.reverse`, the clients'
    ``connect``, the servers' listen address, UDP ``bind`` / ``connect`` / ``sendto``, in
    both faces) answers from a :class:`FakeResolver`. A name that is not in *mapping*
    raises :class:`~netkit.LookupFailed` as an unknown name does; IP literals work as
    always (they are never looked up). Outside the block nothing changes.

    The fake is process-wide, not local to a thread or task: lookups run in other
    threads (the asyncio face's executor, the thread that bounds ``connect``'s timeout),
    and those must see it too. So do not run tests that use it in parallel threads of
    one process (pytest-xdist runs them in processes: fine). Blocks nest: the inner one
    wins until it ends, also through an exception. Built on
    :func:`netkit.lookup.use_resolver`.

    Parameters:
        mapping: host name to its IP addresses (one text or several, in the order the
            resolver returns them); ``None`` or empty: no name resolves.
        reverse: IP address to its names for :func:`~netkit.lookup.reverse`; by default
            each address has the names the mapping gives it.

    Returns:
        A context manager giving the :class:`FakeResolver`, whose :attr:`~FakeResolver.asked`
        lists the lookups made.

    Raises:
        AddressError: a name that is not a valid host name, or an answer that is not
            an IP address (see :class:`FakeResolver`), before anything changes.
        TypeError: a name or answer that is not text, before anything changes.
        ValueError: a name twice in *mapping*, before anything changes.
    """
    with use_resolver(FakeResolver(mapping or {}, reverse=reverse)) as resolver:
        assert isinstance(resolver, FakeResolver)
        yield resolver
