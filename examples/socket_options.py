"""A tour of the socket options people reach for, set with netkit and read back.

* timeouts: ``SocketOptions(timeout=...)`` sets the socket's own timeout, but netkit's
  ``timeout=`` arguments are better: a deadline for the whole call;
* buffer sizes: Linux doubles what you ask for (and clamps it), so read it back;
* blocking mode: ``timeout=0`` makes a socket non-blocking;
* ``SO_REUSEADDR``: why a restarted server can bind its port again at once while the
  old connections sit in TIME_WAIT.

    python examples/socket_options.py
"""

from __future__ import annotations

import math
import socket
import sys

from netkit import (
    KeepAlive,
    NetkitTimeout,
    SocketOptions,
    TcpClient,
    TcpConnection,
    TcpServer,
)

TIMEOUT = 5.0


def show(title: str, sock: socket.socket) -> SocketOptions:
    opts = SocketOptions.read(sock)
    print(f"{title}:")
    for name in ("reuse_addr", "nodelay", "keepalive", "recv_buffer", "send_buffer", "timeout"):
        print(f"  {name:12} {getattr(opts, name)!r}")
    return opts


def buffers_and_keepalive() -> bool:
    asked = SocketOptions(
        nodelay=True,
        keepalive=KeepAlive(idle=30, interval=5, count=3),
        recv_buffer=32768,
        send_buffer=32768,
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        asked.apply(sock)
        got = show("TCP socket after apply()", sock)
    print(
        f"  asked for a {asked.recv_buffer}-byte receive buffer, the kernel holds "
        f"{got.recv_buffer} (Linux doubles it for bookkeeping)"
    )
    return got.nodelay is True and got.keepalive == asked.keepalive


def blocking_modes() -> bool:
    with socket.socket() as sock:
        SocketOptions(timeout=0).apply(sock)  # non-blocking
        nonblocking = sock.getblocking() is False
        SocketOptions(timeout=math.inf).apply(sock)  # blocking, no timeout
        blocking = sock.gettimeout() is None
        SocketOptions(timeout=1.5).apply(sock)
        timed = sock.gettimeout() == 1.5
    print(
        f"timeout=0 -> non-blocking: {nonblocking}; math.inf -> blocking: {blocking}; "
        f"1.5 -> gettimeout() == 1.5: {timed}"
    )
    return nonblocking and blocking and timed


def deadline_timeout() -> bool:
    """A read that waits for data that never comes ends at its deadline."""

    def silent(conn: TcpConnection) -> None:
        conn.recv(1, timeout=TIMEOUT)  # wait for the client to leave

    with (
        TcpServer(silent) as server,
        TcpClient.connect("127.0.0.1", server.address.port, timeout=TIMEOUT) as client,
    ):
        try:
            client.recv_exactly(10, timeout=0.2)
        except NetkitTimeout as exc:
            print(f"recv_exactly(10, timeout=0.2) on a silent peer -> NetkitTimeout: {exc}")
            return True
    return False


def restart_on_same_port() -> bool:
    """Close a server with a connection open, then bind the same port again at once.

    The side that closes first keeps the connection in TIME_WAIT for a minute; without
    SO_REUSEADDR a new listener on that port fails with EADDRINUSE. netkit's
    TcpServer sets it for you; here it is done by hand to show the difference.
    """
    first = socket.socket()
    SocketOptions(reuse_addr=True).apply(first)
    first.bind(("127.0.0.1", 0))
    first.listen()
    port = first.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    accepted, _ = first.accept()
    accepted.close()  # the server side closes first: its end goes to TIME_WAIT
    client.recv(1)  # see the EOF
    client.close()
    first.close()

    without = socket.socket()
    try:
        without.bind(("127.0.0.1", port))
        plain = "bound (no TIME_WAIT left on this system)"
    except OSError as exc:
        plain = f"refused: {exc.strerror}"
    finally:
        without.close()
    again = socket.socket()
    try:
        SocketOptions(reuse_addr=True).apply(again)
        again.bind(("127.0.0.1", port))
        again.listen()
        reused = True
    except OSError:
        reused = False
    finally:
        again.close()
    print(
        f"rebinding port {port} right after a close: without SO_REUSEADDR {plain}; "
        f"with it: {'bound' if reused else 'refused'}"
    )

    # The same with netkit: TcpServer sets SO_REUSEADDR, so a restart just works.
    with TcpServer(lambda conn: None, port=port) as server:
        TcpClient.connect("127.0.0.1", port, timeout=TIMEOUT).close()
    with TcpServer(lambda conn: None, port=port) as server:
        print(f"TcpServer stopped and started again on {server.address} at once")
    return reused


def main(argv: list[str]) -> int:
    results = [
        buffers_and_keepalive(),
        blocking_modes(),
        deadline_timeout(),
        restart_on_same_port(),
    ]
    ok = all(results)
    print("ok" if ok else f"FAILED: {results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
