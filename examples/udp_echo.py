"""A UDP echo server and client.

UDP sends datagrams: each ``sendto`` arrives whole or not at all, possibly out of order
or twice, and nothing tells the sender. So the client waits a bounded time for each
reply and tries again a few times before giving up, the normal UDP pattern.

    python examples/udp_echo.py                    # server + client on loopback, exits
    python examples/udp_echo.py server 9999        # just the server, until Ctrl-C
    python examples/udp_echo.py client 127.0.0.1 9999 hello
"""

from __future__ import annotations

import sys
import threading

from netkit import FrameTooLarge, NetkitTimeout, UdpEndpoint


def serve(endpoint: UdpEndpoint, stop: threading.Event) -> None:
    """Echo every datagram to its sender until *stop* is set."""
    while not stop.is_set():
        try:
            datagram = endpoint.recvfrom(max_size=65535, timeout=0.2)
        except NetkitTimeout:
            continue  # wake up now and then to notice *stop*
        endpoint.sendto(datagram.data, datagram.sender)


def ask(host: str, port: int, message: bytes, *, tries: int = 3, wait: float = 1.0) -> bytes:
    """Send *message* and return the reply; resend up to *tries* times."""
    with UdpEndpoint.connect(host, port) as endpoint:
        for _ in range(tries):
            endpoint.send(message)
            try:
                return endpoint.recv(timeout=wait)
            except NetkitTimeout:
                continue  # lost on the way there or back: send again
    raise NetkitTimeout(f"no reply from {host}:{port} after {tries} tries")


def demo() -> int:
    stop = threading.Event()
    with UdpEndpoint.bind("127.0.0.1", 0) as server:
        print(f"UDP echo server on {server.address}")
        thread = threading.Thread(target=serve, args=(server, stop))
        thread.start()
        try:
            ok = True
            for message in (b"ping", b"hello, datagram", bytes(range(256)) * 4):
                reply = ask("127.0.0.1", server.address.port, message)
                print(f"sent {len(message):5} bytes, got {len(reply):5} back")
                ok = ok and reply == message
            try:
                ask("127.0.0.1", server.address.port, b"x" * 70_000)
            except FrameTooLarge as exc:
                print(f"too big for UDP, refused before sending: {exc}")
            else:
                ok = False
        finally:
            stop.set()
            thread.join(5)
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if not argv:
        return demo()
    if argv[0] == "server" and len(argv) == 2:
        stop = threading.Event()
        with UdpEndpoint.bind("127.0.0.1", int(argv[1])) as endpoint:
            print(f"listening on {endpoint.address}; Ctrl-C to stop", flush=True)
            try:
                serve(endpoint, stop)
            except KeyboardInterrupt:
                pass
        return 0
    if argv[0] == "client" and len(argv) == 4:
        print(ask(argv[1], int(argv[2]), argv[3].encode()).decode("utf-8", "replace"))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
