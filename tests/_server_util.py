"""Helpers for the server tests of both faces: many plain-socket clients with big replies.

The clients are blocking sockets on 127.0.0.1 (a loopback connect completes in the
kernel's backlog, so it works even from an event loop's own thread) and are read all
at once by one thread with a selector.
"""

from __future__ import annotations

import selectors
import socket
import time

REPLY_SIZE = 256 * 1024
# Small buffers on both ends keep most of each reply queued in the server, not in flight.
SMALL_BUFFER = 4096
_PATTERN = bytes(range(256)) * (REPLY_SIZE // 256)


def reply_for(index: int) -> bytes:
    """The reply client *index* expects: its index, then a fixed pattern, byte-exact."""
    return index.to_bytes(4, "big") + _PATTERN[4:]


def open_clients(port: int, count: int, timeout: float) -> list[socket.socket]:
    """*count* clients of 127.0.0.1:*port*, each with a small receive buffer, each having
    sent its 4-byte index as its request."""
    clients: list[socket.socket] = []
    try:
        for index in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            clients.append(sock)
            # Before connect(), so the window the client offers is small from the start.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
            sock.sendall(index.to_bytes(4, "big"))
    except BaseException:
        for sock in clients:
            sock.close()
        raise
    return clients


def read_to_eof(clients: list[socket.socket], timeout: float) -> list[bytes]:
    """Read every client until EOF (or reset, or *timeout*); return what each received."""
    received = [bytearray() for _ in clients]
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for index, sock in enumerate(clients):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, index)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in selector.select(left):
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except ConnectionError:
                    data = b""  # a reset ends this client; the caller sees a short reply
                if data:
                    received[key.data] += data
                else:
                    selector.unregister(key.fileobj)
    return [bytes(data) for data in received]


def describe_losses(replies: list[bytes]) -> list[str]:
    """One line per client whose reply is not byte-exact (empty when all are)."""
    return [
        f"client {index}: {len(reply)} of {REPLY_SIZE} bytes"
        + ("" if len(reply) != REPLY_SIZE else " (wrong bytes)")
        for index, reply in enumerate(replies)
        if reply != reply_for(index)
    ]
