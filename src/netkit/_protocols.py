"""IP protocol numbers by name and back, for systems without /etc/protocols.

:func:`protocol_number` and :func:`protocol_name` are public in :mod:`netkit.lookup`
(and at the top level); they live here, beside their table, to keep that module short.
The system's ``/etc/protocols`` is asked first (through :func:`socket.getprotobyname`,
and read directly the other way, as Python has no ``getprotobynumber``); slim container
images ship none, so a built-in table of the IANA "Assigned Internet Protocol Numbers"
a program meets follows, with the names ``/etc/protocols`` uses.
"""

from __future__ import annotations

import re
import socket
from typing import Final

from netkit.errors import LookupFailed, describe

__all__ = ["protocol_name", "protocol_number"]

PROTOCOLS_FILE: Final = "/etc/protocols"
# The protocol field of IPv4 (and IPv6's next header) is 8 bits, but Linux numbers
# some socket protocols past it (IPPROTO_MPTCP is 262), as /etc/protocols lists.
_MAX_NUMBER: Final = 65535
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")

# name, number, aliases; the first name of a number is what protocol_name() returns.
_TABLE = """
ip 0 IP
hopopt 0 HOPOPT
icmp 1 ICMP
igmp 2 IGMP
ggp 3 GGP
ipencap 4 IP-ENCAP IPV4
st 5 ST
tcp 6 TCP
egp 8 EGP
igp 9 IGP
pup 12 PUP
udp 17 UDP
hmp 20 HMP
xns-idp 22 XNS-IDP
rdp 27 RDP
iso-tp4 29 ISO-TP4
dccp 33 DCCP
xtp 36 XTP
ddp 37 DDP
idpr-cmtp 38 IDPR-CMTP
ipv6 41 IPv6
ipv6-route 43 IPv6-Route
ipv6-frag 44 IPv6-Frag
idrp 45 IDRP
rsvp 46 RSVP
gre 47 GRE
esp 50 IPSEC-ESP
ah 51 IPSEC-AH
skip 57 SKIP
ipv6-icmp 58 IPv6-ICMP ICMPV6
ipv6-nonxt 59 IPv6-NoNxt
ipv6-opts 60 IPv6-Opts
rspf 73 RSPF CPHB
vmtp 81 VMTP
eigrp 88 EIGRP
ospf 89 OSPFIGP
ax.25 93 AX.25
ipip 94 IPIP
etherip 97 ETHERIP
encap 98 ENCAP
pim 103 PIM
ipcomp 108 IPCOMP
vrrp 112 VRRP
l2tp 115 L2TP
isis 124 ISIS
sctp 132 SCTP
fc 133 FC
mobility-header 135 Mobility-Header
udplite 136 UDPLite
mpls-in-ip 137 MPLS-in-IP
manet 138
hip 139 HIP
shim6 140 Shim6
wesp 141 WESP
rohc 142 ROHC
ethernet 143 Ethernet
raw 255 RAW
mptcp 262 MPTCP
"""


def _parse(text: str) -> tuple[dict[str, int], dict[int, str]]:
    """``(name or alias, lower case -> number, number -> first name)`` of a file in
    the format of /etc/protocols (``#`` starts a comment)."""
    by_name: dict[str, int] = {}
    by_number: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or not fields[1].isdigit():
            continue
        number = int(fields[1])
        by_number.setdefault(number, fields[0])
        for name in (fields[0], *fields[2:]):
            by_name.setdefault(name.lower(), number)
    return by_name, by_number


_BY_NAME, _BY_NUMBER = _parse(_TABLE)


def _system_name(number: int) -> str | None:
    """The first name /etc/protocols gives *number*, or None (no file, no entry)."""
    try:
        with open(PROTOCOLS_FILE, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    return _parse(text)[1].get(number)


def protocol_number(name: str) -> int:
    """Return the IP protocol number of *name* (:func:`socket.getprotobyname`).

    Asks the system (``/etc/protocols``) first, then netkit's built-in table of the IANA
    numbers; matching is case-insensitive there. A decimal string is its own number
    (``"6"`` gives 6), as :func:`~netkit.lookup.service_port` does for ports.

    Parameters:
        name: a protocol name or alias (``"tcp"``, ``"ipv6-icmp"``, ``"ICMPv6"``).

    Returns:
        The number, as ``socket(family, SOCK_RAW, number)`` takes it.

    Raises:
        LookupFailed: neither the system nor the table knows *name*.
        ValueError: *name* cannot be a protocol name (empty, spaces), or is a decimal
            number out of range 0..65535.
        TypeError: *name* is not a str.
    """
    if not isinstance(name, str):
        raise TypeError(f"protocol name must be a str, not {type(name).__name__}")
    if not _NAME.fullmatch(name) or not name.isascii():
        raise ValueError(f"not a protocol name: {describe(name)}")
    if name.isdigit():
        return _check_number(int(name))
    try:
        return socket.getprotobyname(name)
    except OSError:
        pass  # no /etc/protocols, or no entry there: the table
    number = _BY_NAME.get(name.lower())
    if number is None:
        raise LookupFailed(f"unknown protocol {describe(name)}")
    return number


def _check_number(number: object) -> int:
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError(f"protocol number must be an int, not {type(number).__name__}")
    if not 0 <= number <= _MAX_NUMBER:
        raise ValueError(f"protocol number {describe(number)} is out of range 0..{_MAX_NUMBER}")
    return int(number)


def protocol_name(number: int) -> str:
    """Return the name of the IP protocol *number* (``getprotobynumber``).

    Reads the system's ``/etc/protocols`` first, then netkit's built-in table of the
    IANA numbers. The name is the first one listed for the number, in lower case as
    the file writes it (``6`` gives ``"tcp"``, ``58`` gives ``"ipv6-icmp"``).

    Parameters:
        number: a protocol number, 0..65535.

    Returns:
        The protocol's name.

    Raises:
        LookupFailed: neither the system nor the table names *number*.
        ValueError: *number* is out of range 0..65535.
        TypeError: *number* is not an int.
    """
    number = _check_number(number)
    name = _system_name(number)
    if name is None:
        name = _BY_NUMBER.get(number)
    if name is None:
        raise LookupFailed(f"no known protocol has number {number}")
    return name


protocol_name.__module__ = "netkit.lookup"  # where users import them from (and docs point)
protocol_number.__module__ = "netkit.lookup"
