"""An echo server that greets each client by name, and a client for it.

The first program most people write with sockets, done with netkit: the server reads a
name line, answers ``hello, NAME!``, then echoes every line until the client leaves.
netkit does the parts that are easy to get wrong by hand: reading a whole line however
TCP splits it, bounding every wait, a thread per client, and stopping cleanly.

    python examples/echo_greeting.py                # server + client on loopback, exits
    python examples/echo_greeting.py server 7000    # just the server, until Ctrl-C
    python examples/echo_greeting.py client 127.0.0.1 7000 ada
"""

from __future__ import annotations

import contextlib
import sys
import threading

from netkit import ConnectionClosed, NetkitTimeout, TcpClient, TcpConnection, TcpServer

TIMEOUT = 5.0  # seconds; every wait below is bounded by it


def handle(conn: TcpConnection) -> None:
    """Serve one client: greet it by name, then echo its lines back."""
    try:
        name = conn.readline(max_bytes=100, timeout=TIMEOUT).decode("utf-8", "replace").strip()
        conn.sendall(f"hello, {name or 'stranger'}!\n".encode())
        # Iterating a connection yields lines until the client closes.
        for line in conn:
            conn.sendall(b"echo: " + line)
    except (ConnectionClosed, NetkitTimeout):
        pass  # the client left mid-line or went quiet: nothing to answer


def client(host: str, port: int, name: str, lines: list[str]) -> list[str]:
    """Connect, introduce ourselves, send *lines*; return everything the server said."""
    answers = []
    with TcpClient.connect(host, port, timeout=TIMEOUT) as conn:
        conn.sendall(name.encode() + b"\n")
        answers.append(conn.readline(timeout=TIMEOUT).decode().rstrip("\n"))
        for line in lines:
            conn.sendall(line.encode() + b"\n")
            answers.append(conn.readline(timeout=TIMEOUT).decode().rstrip("\n"))
    return answers


def demo() -> int:
    """Start the server on a free loopback port, run two clients at once, stop."""
    with TcpServer(handle, host="127.0.0.1", port=0) as server:
        print(f"server listening on {server.address}")
        results: dict[str, list[str]] = {}

        def run(name: str) -> None:
            results[name] = client("127.0.0.1", server.address.port, name, ["one", "two"])

        threads = [threading.Thread(target=run, args=(name,)) for name in ("ada", "linus")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT * 2)
    for name in ("ada", "linus"):
        for answer in results.get(name, ["(no answer)"]):
            print(f"{name:>6} <- {answer}")
    ok = all(
        results.get(name) == [f"hello, {name}!", "echo: one", "echo: two"]
        for name in ("ada", "linus")
    )
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if not argv:
        return demo()
    if argv[0] == "server" and len(argv) == 2:
        server = TcpServer(handle, host="127.0.0.1", port=int(argv[1])).start()
        print(f"listening on {server.address}; Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()  # Ctrl-C stops it gracefully
        return 0
    if argv[0] == "client" and len(argv) == 4:
        for answer in client(argv[1], int(argv[2]), argv[3], ["hi there"]):
            print(answer)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
