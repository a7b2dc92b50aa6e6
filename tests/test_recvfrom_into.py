"""recvfrom_into on UdpEndpoint and UnixDatagramEndpoint, in both faces: the datagram
lands in the caller's buffer; one too long for it raises FrameTooLarge with its real
size (it is consumed, never silently cut); the errors are recvfrom's."""

from __future__ import annotations

import array
import pathlib
import socket
import threading
from typing import Any

import pytest

import netkit
import netkit.aio
from _unix_util import Face, face, sock_dir
from netkit.addr import Endpoint
from netkit.errors import ConnectionClosed, FrameTooLarge, NetkitTimeout

__all__ = ["face", "sock_dir"]  # fixtures, imported for pytest


def _space(face: Face) -> Any:
    return netkit.aio if face.aio else netkit


def _udp_pair(face: Face) -> tuple[Any, socket.socket]:
    endpoint = face.run(_space(face).UdpEndpoint.bind("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    return endpoint, sender


def _send(sender: socket.socket, endpoint: Any, data: bytes) -> None:
    sender.sendto(data, (endpoint.address.host, endpoint.address.port))


def test_udp_into_buffer(face: Face) -> None:
    endpoint, sender = _udp_pair(face)
    with sender:
        try:
            buffer = bytearray(16)
            _send(sender, endpoint, b"hello")
            nbytes, who = face.run(endpoint.recvfrom_into(buffer, timeout=5))
            assert (nbytes, bytes(buffer[:nbytes])) == (5, b"hello")
            assert who == Endpoint("127.0.0.1", sender.getsockname()[1])
            # Exactly the buffer's size fits; an empty datagram is 0 bytes.
            _send(sender, endpoint, b"x" * 16)
            assert face.run(endpoint.recvfrom_into(buffer, timeout=5))[0] == 16
            _send(sender, endpoint, b"")
            assert face.run(endpoint.recvfrom_into(bytearray(), timeout=5))[0] == 0
            # A memoryview slice, an array: written at their start.
            _send(sender, endpoint, b"abc")
            view = memoryview(buffer)[4:8]
            assert face.run(endpoint.recvfrom_into(view, timeout=5))[0] == 3
            assert bytes(buffer[4:7]) == b"abc"
            view.release()
            numbers = array.array("H", [0, 0])
            _send(sender, endpoint, b"\x01\x00\x02\x00")
            assert face.run(endpoint.recvfrom_into(numbers))[0] == 4
            assert numbers.tolist() == [1, 2]
            buffer.append(0)  # no view of it is left held
        finally:
            endpoint.close()


def test_udp_too_long_is_consumed_and_reported(face: Face) -> None:
    endpoint, sender = _udp_pair(face)
    with sender:
        try:
            _send(sender, endpoint, b"y" * 100)
            _send(sender, endpoint, b"next")
            with pytest.raises(FrameTooLarge) as caught:
                face.run(endpoint.recvfrom_into(bytearray(10), timeout=5))
            assert (caught.value.size, caught.value.limit) == (100, 10)
            assert "datagram of 100 bytes from 127.0.0.1:" in str(caught.value)
            assert "exceeds the 10-byte buffer (it was dropped)" in str(caught.value)
            buffer = bytearray(10)
            assert face.run(endpoint.recvfrom_into(buffer, timeout=5))[0] == 4
            assert bytes(buffer[:4]) == b"next"
            # The empty buffer: any payload is too long.
            _send(sender, endpoint, b"z")
            with pytest.raises(FrameTooLarge):
                face.run(endpoint.recvfrom_into(bytearray(), timeout=5))
        finally:
            endpoint.close()


def test_udp_errors_are_recvfroms(face: Face) -> None:
    endpoint, sender = _udp_pair(face)
    sender.close()
    try:
        with pytest.raises(NetkitTimeout, match=r"no datagram received within 0\.05 s"):
            face.run(endpoint.recvfrom_into(bytearray(10), timeout=0.05))
        sync = Face("sync", None)
        for bad in (b"read-only", "text", 5, memoryview(b"ro")):
            with pytest.raises(TypeError) as caught:
                face.run(endpoint.recvfrom_into(bad))
            with pytest.raises(TypeError) as expected, netkit.UdpEndpoint.bind() as other:
                sync.run(other.recvfrom_into(bad))
            assert str(caught.value) == str(expected.value)
        with pytest.raises(ValueError, match="timeout"):
            face.run(endpoint.recvfrom_into(bytearray(1), timeout=-1))
    finally:
        endpoint.close()
    with pytest.raises(ConnectionClosed):
        face.run(endpoint.recvfrom_into(bytearray(10)))


def test_sync_close_wakes_a_blocked_receive() -> None:
    endpoint = netkit.UdpEndpoint.bind("127.0.0.1", 0)
    errors: list[BaseException] = []
    started = threading.Event()

    def receive() -> None:
        started.set()
        try:
            endpoint.recvfrom_into(bytearray(10))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    started.wait(5)
    endpoint.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], ConnectionClosed)


def test_unix_datagram_into_buffer(face: Face, sock_dir: pathlib.Path) -> None:
    space = _space(face)
    server = face.run(space.UnixDatagramEndpoint.bind(str(sock_dir / "s")))
    client = face.run(space.UnixDatagramEndpoint.bind(str(sock_dir / "c")))
    try:
        face.run(client.sendto(b"hello", str(sock_dir / "s")))
        buffer = bytearray(8)
        assert face.run(server.recvfrom_into(buffer, timeout=5)) == (5, str(sock_dir / "c"))
        assert bytes(buffer[:5]) == b"hello"
        face.run(client.sendto(b"w" * 20, str(sock_dir / "s")))
        with pytest.raises(
            FrameTooLarge, match=r"datagram of 20 bytes from .* exceeds the 8-byte buffer"
        ):
            face.run(server.recvfrom_into(buffer, timeout=5))
        with pytest.raises(NetkitTimeout):
            face.run(server.recvfrom_into(buffer, timeout=0.05))
    finally:
        server.close()
        client.close()
