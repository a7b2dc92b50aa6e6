"""A threaded multi-client chat server, and a client for it.

Every line a client sends is broadcast to every other client as ``name: text``. The
server keeps a set of members behind a lock and gives each member its own send lock, so
two broadcasts never interleave their bytes on one connection. netkit's TcpServer runs
one thread per client and, on stop, wakes the handlers blocked in ``readline``.

    python examples/chat.py                       # server + three scripted clients, exits
    python examples/chat.py server 7000           # just the server, until Ctrl-C
    python examples/chat.py client 127.0.0.1 7000 ada   # type lines; Ctrl-D leaves
"""

from __future__ import annotations

import contextlib
import sys
import threading

from netkit import NetkitError, TcpClient, TcpConnection, TcpServer

TIMEOUT = 5.0


class Room:
    """The chat room: members, and a broadcast that skips the sender."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.members: dict[TcpConnection, tuple[str, threading.Lock]] = {}

    def broadcast(self, line: str, sender: TcpConnection | None) -> None:
        data = line.encode() + b"\n"
        with self.lock:
            targets = [(c, lock) for c, (_, lock) in self.members.items() if c is not sender]
        for conn, send_lock in targets:
            try:
                with send_lock:
                    conn.sendall(data, timeout=TIMEOUT)  # a stuck reader cannot stall us
            except (NetkitError, OSError):
                pass  # that member is leaving; its own handler cleans up

    def handle(self, conn: TcpConnection) -> None:
        """One member: the first line is the name, every later line is broadcast."""
        try:
            name = conn.readline(max_bytes=64, timeout=TIMEOUT).decode().strip() or "anon"
        except (NetkitError, OSError, UnicodeDecodeError):
            return
        send_lock = threading.Lock()
        with self.lock:
            self.members[conn] = (name, send_lock)
            online = len(self.members)
        try:
            with send_lock:
                conn.sendall(f"* welcome {name}, {online} online\n".encode(), timeout=TIMEOUT)
            self.broadcast(f"* {name} joined", conn)
            for raw in conn:  # lines until the member closes
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if text:
                    self.broadcast(f"{name}: {text}", conn)
        except (NetkitError, OSError):
            pass
        finally:
            with self.lock:
                del self.members[conn]
            self.broadcast(f"* {name} left", None)


def demo() -> int:
    room = Room()
    names = ["ada", "grace", "linus"]
    with TcpServer(room.handle, host="127.0.0.1", port=0) as server:
        print(f"chat server on {server.address}")
        clients = {}
        try:
            for name in names:
                conn = TcpClient.connect("127.0.0.1", server.address.port, timeout=TIMEOUT)
                clients[name] = conn
                conn.sendall(name.encode() + b"\n")
                # The welcome line means we are in the room: safe to start talking.
                print(f"{name:>6} got   {conn.readline(timeout=TIMEOUT).decode().rstrip()}")
            ok = True
            for speaker in names:
                clients[speaker].sendall(f"hi from {speaker}\n".encode())
                for listener in names:
                    if listener == speaker:
                        continue
                    while True:
                        line = clients[listener].readline(timeout=TIMEOUT).decode().rstrip()
                        if not line.startswith("* "):  # skip join notices
                            break
                    print(f"{listener:>6} sees  {line}")
                    ok = ok and line == f"{speaker}: hi from {speaker}"
        finally:
            for conn in clients.values():
                conn.close()
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


def interactive(host: str, port: int, name: str) -> int:
    """Type lines to send; lines from others are printed as they arrive."""
    with TcpClient.connect(host, port, timeout=TIMEOUT) as conn:
        conn.sendall(name.encode() + b"\n")

        def show() -> None:
            try:
                for line in conn:
                    print(line.decode("utf-8", "replace"), end="", flush=True)
            except (NetkitError, OSError):
                pass

        threading.Thread(target=show, daemon=True).start()
        for line in sys.stdin:
            conn.sendall(line.encode())
        conn.shutdown_write()
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        return demo()
    if argv[0] == "server" and len(argv) == 2:
        server = TcpServer(Room().handle, host="127.0.0.1", port=int(argv[1])).start()
        print(f"listening on {server.address}; Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()  # Ctrl-C stops it gracefully
        return 0
    if argv[0] == "client" and len(argv) == 4:
        return interactive(argv[1], int(argv[2]), argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
