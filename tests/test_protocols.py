"""protocol_number / protocol_name: the system's /etc/protocols first, then netkit's
built-in table of IANA protocol numbers (also where the file is missing)."""

from __future__ import annotations

import socket

import pytest

import netkit
from netkit import _protocols
from netkit.errors import LookupFailed
from netkit.lookup import protocol_name, protocol_number

# What a program meets: the numbers Python has constants for, where it has them.
_KNOWN = {
    "ip": 0,
    "icmp": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "ipv6": 41,
    "ipv6-icmp": 58,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "sctp": 132,
    "udplite": 136,
    "raw": 255,
}


@pytest.fixture(params=["system", "no-protocols-file"])
def where(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with the system's /etc/protocols, and as on a slim image without one."""
    if request.param == "no-protocols-file":

        def missing(name: str) -> int:
            raise OSError("protocol not found")

        monkeypatch.setattr(_protocols.socket, "getprotobyname", missing)
        monkeypatch.setattr(_protocols, "PROTOCOLS_FILE", "/nonexistent/protocols")
    return str(request.param)


@pytest.mark.parametrize(("name", "number"), sorted(_KNOWN.items()))
def test_numbers(where: str, name: str, number: int) -> None:
    assert protocol_number(name) == number
    assert protocol_number(name.upper()) == number
    assert protocol_name(number) == name


def test_python_constants_agree() -> None:
    assert protocol_number("icmp") == socket.IPPROTO_ICMP
    assert protocol_number("ipv6-icmp") == socket.IPPROTO_ICMPV6
    assert protocol_number("raw") == socket.IPPROTO_RAW
    assert protocol_number("ICMPv6") == 58


def test_system_answers_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_protocols.socket, "getprotobyname", lambda name: 200)
    assert protocol_number("tcp") == 200


def test_name_from_a_protocols_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    path = f"{tmp_path}/protocols"
    with open(path, "w", encoding="utf-8") as file:
        file.write("# comment\n\nbogus\nmyproto\t253\tMYPROTO\t# experiment\ntcp 6 TCP\n")
    monkeypatch.setattr(_protocols, "PROTOCOLS_FILE", path)
    assert protocol_name(253) == "myproto"
    assert protocol_name(6) == "tcp"
    assert protocol_name(17) == "udp"  # not in the file: the table


def test_decimal_text_is_its_own_number() -> None:
    assert protocol_number("6") == 6
    assert protocol_number("0") == 0
    with pytest.raises(ValueError, match=r"out of range 0\.\.65535"):
        protocol_number("70000")


def test_unknown(where: str) -> None:
    with pytest.raises(LookupFailed, match="unknown protocol 'no-such-proto'"):
        protocol_number("no-such-proto")
    with pytest.raises(LookupFailed, match="no known protocol has number 254"):
        protocol_name(254)


@pytest.mark.parametrize(
    ("call", "value", "error", "message"),
    [
        (protocol_number, 6, TypeError, "protocol name must be a str, not int"),
        (protocol_number, b"tcp", TypeError, "must be a str, not bytes"),
        (protocol_number, "", ValueError, "not a protocol name: ''"),
        (protocol_number, "t cp", ValueError, "not a protocol name"),
        (protocol_number, "tcp\n", ValueError, "not a protocol name"),
        (protocol_number, "x" * 10_000, ValueError, "not a protocol name"),
        (protocol_name, "6", TypeError, "protocol number must be an int, not str"),
        (protocol_name, True, TypeError, "must be an int, not bool"),
        (protocol_name, -1, ValueError, "out of range 0..65535"),
        (protocol_name, 65536, ValueError, "out of range 0..65535"),
        pytest.param(protocol_name, 10**5000, ValueError, "bit integer", id="huge"),
    ],
)
def test_bad_input(call: object, value: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        call(value)  # type: ignore[operator]
    assert len(str(caught.value)) < 300


def test_exported_at_the_top_level() -> None:
    assert netkit.protocol_number is protocol_number
    assert netkit.protocol_name is protocol_name
    assert protocol_number.__module__ == "netkit.lookup"
