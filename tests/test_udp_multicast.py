"""netkit.udp: broadcast and multicast, really sent and received.

IPv4 runs on the host's loopback (Linux delivers IPv4 multicast through ``lo`` once the
sender picks it with IP_MULTICAST_IF, MULTICAST flag or not). IPv6 multicast cannot use
``lo`` (Linux refuses routes through the loopback device), so that test builds a private
network namespace with a veth pair and is skipped, with the reason, where it may not.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from _udp_util import NETNS_IFACE, netns_unavailable, private_netns, run_in_netns
from netkit.addr import Endpoint
from netkit.errors import AddressError, ConnectFailed, ConnectionClosed, NetkitTimeout
from netkit.options import SocketOptions
from netkit.udp import Datagram, UdpEndpoint


def random_group_v4() -> str:
    # 239.255.0.0/16: administratively scoped (organisation-local), never routed out.
    return f"239.255.{random.randrange(1, 255)}.{random.randrange(1, 255)}"


@pytest.fixture
def netns() -> Iterator[str]:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    try:
        with private_netns() as name:
            yield name
    except PermissionError as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")


# ---------------------------------------------------------------------------------------
# Broadcast


def test_broadcast_needs_the_option_and_then_arrives() -> None:
    # 127.255.255.255 is the loopback subnet's broadcast address: a real broadcast
    # route (see `ip route show table local`), and it never leaves the host.
    with UdpEndpoint.bind("0.0.0.0", 0) as receiver:
        port = receiver.address.port
        with UdpEndpoint.bind("127.0.0.1") as plain:
            assert SocketOptions.read(plain.socket).broadcast is False
            with pytest.raises(PermissionError):
                plain.sendto(b"no", ("127.255.255.255", port))
        options = SocketOptions(broadcast=True)
        with UdpEndpoint.bind("127.0.0.1", options=options) as sender:
            assert SocketOptions.read(sender.socket).broadcast is True
            sender.sendto(b"to all", ("127.255.255.255", port))
            got = receiver.recvfrom(timeout=5)
            assert got == Datagram(b"to all", sender.address)


# ---------------------------------------------------------------------------------------
# IPv4 multicast on loopback


def _ipv4_multicast_on_lo(group: str) -> tuple[UdpEndpoint, UdpEndpoint]:
    receiver = UdpEndpoint.bind("0.0.0.0", 0, options=SocketOptions(reuse_addr=True))
    try:
        receiver.join_multicast(group, "127.0.0.1")
    except OSError as exc:
        receiver.close()
        pytest.skip(f"cannot join an IPv4 group on loopback here: {exc}")
    sender = UdpEndpoint.bind("127.0.0.1")
    sender.set_multicast_interface("127.0.0.1")
    sender.multicast_ttl = 0  # never leaves this host, whatever the routes say
    sender.multicast_loop = True
    return receiver, sender


def test_ipv4_multicast_join_receive_leave() -> None:
    group = random_group_v4()
    receiver, sender = _ipv4_multicast_on_lo(group)
    with receiver, sender:
        assert sender.multicast_ttl == 0
        assert sender.multicast_loop is True
        port = receiver.address.port
        sender.sendto(b"hello group", (group, port))
        assert receiver.recvfrom(timeout=5) == Datagram(b"hello group", sender.address)
        # After leaving, group traffic no longer arrives: the next datagram is the
        # unicast marker sent after it (order is kept on loopback).
        receiver.leave_multicast(group, "127.0.0.1")
        sender.sendto(b"after leave", f"{group}:{port}")
        sender.sendto(b"marker", ("127.0.0.1", port))
        assert receiver.recvfrom(timeout=5).data == b"marker"
        with pytest.raises(NetkitTimeout):
            receiver.recvfrom(timeout=0)


def test_ipv4_multicast_join_by_interface_name_and_index() -> None:
    group = random_group_v4()
    with UdpEndpoint.bind("0.0.0.0") as receiver, UdpEndpoint.bind("127.0.0.1") as sender:
        try:
            receiver.join_multicast(group, "lo")
        except OSError as exc:
            pytest.skip(f"cannot join an IPv4 group on lo here: {exc}")
        sender.set_multicast_interface(socket.if_nametoindex("lo"))
        sender.multicast_ttl = 0
        sender.sendto(b"by name", (group, receiver.address.port))
        assert receiver.recvfrom(timeout=5).data == b"by name"
        receiver.leave_multicast(group, "lo")


def test_multicast_arguments_are_checked() -> None:
    with UdpEndpoint.bind("0.0.0.0") as v4, UdpEndpoint.bind("::") as v6:
        with pytest.raises(AddressError, match="not a multicast"):
            v4.join_multicast("10.0.0.1")
        with pytest.raises(AddressError, match="not a multicast"):
            v6.join_multicast("fe80::1")
        with pytest.raises(AddressError):
            v4.join_multicast("239.1")
        with pytest.raises(AddressError, match="IPv4 endpoint"):
            v4.join_multicast("ff12::1")
        with pytest.raises(AddressError, match="no network interface"):
            v4.join_multicast("239.255.0.1", "no-such-if0")
        with pytest.raises(AddressError, match="interface name or index"):
            v6.join_multicast("ff12::1", "::1")
        with pytest.raises(TypeError):
            v4.join_multicast(b"239.255.0.1")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            v4.join_multicast("239.255.0.1", 1.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"0\.\.255"):
            v4.multicast_ttl = 256
        with pytest.raises(TypeError):
            v4.multicast_loop = 1  # type: ignore[assignment]
        v6.multicast_ttl = 3
        assert v6.multicast_ttl == 3
        v6.multicast_loop = False
        assert v6.multicast_loop is False
    with pytest.raises(ConnectionClosed):
        v4.leave_multicast("239.255.0.1")


# ---------------------------------------------------------------------------------------
# IPv6 multicast (and IPv4 for good measure) in a private namespace


@pytest.mark.netns
def test_ipv6_multicast_in_private_namespace(netns: str) -> None:
    group = f"ff15::6e6b:{random.randrange(1, 0xFFFF):x}"  # site-local scope, transient

    def body() -> tuple[Datagram, Endpoint, bytes]:
        with UdpEndpoint.bind("::", 0) as receiver, UdpEndpoint.bind("::", 0) as sender:
            receiver.join_multicast(group, NETNS_IFACE)
            sender.set_multicast_interface(NETNS_IFACE)
            sender.multicast_ttl = 1
            sender.multicast_loop = True
            port = receiver.address.port
            sender.sendto(b"hello v6 group", f"[{group}]:{port}")
            got = receiver.recvfrom(timeout=5)
            # Leave; then group traffic stops and the unicast marker comes next.
            receiver.leave_multicast(group, socket.if_nametoindex(NETNS_IFACE))
            sender.sendto(b"after leave", (group, port))
            sender.sendto(b"marker", ("::1", port))
            return got, sender.address, receiver.recvfrom(timeout=5).data

    got, sender_address, after = run_in_netns(netns, body)
    assert got.data == b"hello v6 group"
    assert got.sender.port == sender_address.port
    assert got.sender.family == socket.AF_INET6
    assert after == b"marker"


@pytest.mark.netns
def test_ipv4_multicast_and_unreachable_connect_in_namespace(netns: str) -> None:
    group = random_group_v4()

    def body() -> tuple[bytes, BaseException | None]:
        with UdpEndpoint.bind("0.0.0.0") as receiver, UdpEndpoint.bind("127.0.0.1") as sender:
            receiver.join_multicast(group, "127.0.0.1")
            sender.set_multicast_interface("127.0.0.1")
            sender.multicast_ttl = 0
            sender.sendto(b"v4 in netns", (group, receiver.address.port))
            data = receiver.recvfrom(timeout=5).data
        # The namespace has no IPv4 route beyond loopback: connect() must fail typed.
        error: BaseException | None = None
        try:
            UdpEndpoint.connect("192.0.2.1", 9).close()
        except ConnectFailed as exc:
            error = exc
        return data, error

    data, error = run_in_netns(netns, body)
    assert data == b"v4 in netns"
    assert isinstance(error, ConnectFailed)
    assert len(error.attempts) == 1
    assert isinstance(error.attempts[0][1], OSError)
