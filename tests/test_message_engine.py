"""The message engines shared by UDP, Unix datagrams and SEQPACKET, in both faces:
a receive with max_size=0 still reads (and reports) the message it finds."""

from __future__ import annotations

from typing import Any

import pytest

import netkit
import netkit.aio
from _unix_util import Face, face
from netkit.errors import FrameTooLarge

__all__ = ["face"]  # the fixture, imported for pytest


def _udp_pair(face: Face) -> tuple[Any, Any]:
    space: Any = netkit.aio if face.aio else netkit
    a = face.run(space.UdpEndpoint.bind())
    b = face.run(space.UdpEndpoint.connect("127.0.0.1", a.address.port))
    return a, b


@pytest.mark.parametrize("kind", ["udp", "unix", "seqpacket"])
def test_max_size_zero_reads_the_message(face: Face, kind: str) -> None:
    # sock.recv(0) would return b"" without reading: the message would stay queued and
    # pass for an empty one (or, on a connection, for the end).
    run = face.run
    if kind == "udp":
        receiver, sender = _udp_pair(face)
        send, recv = sender.send, receiver.recv
    elif kind == "unix":
        sender, receiver = run(face.UnixDatagramEndpoint.pair())
        send, recv = sender.send, receiver.recv
    else:
        sender, receiver = run(face.SeqpacketConnection.pair())
        send, recv = sender.send_message, receiver.recv_message
    with sender, receiver:
        run(send(b"hello"))
        run(send(b"next"))
        with pytest.raises(FrameTooLarge) as info:
            run(recv(max_size=0, timeout=5))
        assert info.value.size == 5
        assert run(recv(max_size=4, timeout=5)) == b"next"
        if kind != "seqpacket":  # an empty datagram is one (SEQPACKET refuses to send it)
            run(send(b""))
            assert run(recv(max_size=0, timeout=5)) == b""
