"""HTTP/1.1 GET over a raw TCP connection, the way the protocol actually works.

Two ways to know where a response ends:

* ``Connection: close``: the server closes after the response, so read to EOF
  (``recv_all``), then split the head from the body at the first blank line.
* keep-alive: the connection stays open for the next request, so the body's length
  must come from the ``Content-Length`` header (this example refuses chunked bodies
  rather than pretend to handle them) and exactly that many bytes are read
  (``recv_exactly``).

Getting the request right matters as much: the path (with its query) goes on the
request line, never the whole URL; ``Host`` is mandatory in HTTP/1.1 and carries the
port when it is not the default one; IPv6 hosts are bracketed; lines end in CRLF.

    python examples/http_get.py                     # starts a tiny server on loopback
    python examples/http_get.py http://127.0.0.1:8000/index.html

With no argument it serves a temporary folder with ``http.server`` on 127.0.0.1 in a
thread, fetches two pages both ways, checks them, and exits.
"""

from __future__ import annotations

import http.server
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

from netkit import TcpClient, TcpConnection, is_ipv6

TIMEOUT = 5.0
MAX_HEAD = 64 * 1024  # bytes of status line + headers we accept
MAX_BODY = 16 * 1024 * 1024


def request_target(url: str) -> tuple[str, int, str, str]:
    """Split *url* into (host to connect to, port, Host header value, request path)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// URLs are supported here, not {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    host = parts.hostname
    port = parts.port or 80
    shown = f"[{host}]" if is_ipv6(host) else host
    host_header = shown if port == 80 else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return host, port, host_header, path


def build_request(host_header: str, path: str, *, keep_alive: bool) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host_header}",
        "User-Agent: netkit-example/1",
        "Accept: */*",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and headers (names lowercased) from the bytes before the blank line."""
    status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
    version, code, *_ = status_line.split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x response: {status_line!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(code), headers


def get_close(url: str) -> tuple[int, dict[str, str], bytes]:
    """One request with ``Connection: close``: the body ends where the stream ends."""
    host, port, host_header, path = request_target(url)
    with TcpClient.connect(host, port, timeout=TIMEOUT) as conn:
        conn.sendall(build_request(host_header, path, keep_alive=False))
        response = conn.recv_all(max_bytes=MAX_HEAD + MAX_BODY, timeout=TIMEOUT)
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("the response has no end of headers")
    status, headers = parse_head(head)
    return status, headers, body


def read_response(conn: TcpConnection) -> tuple[int, dict[str, str], bytes]:
    """Read one response from a kept-alive connection, using Content-Length."""
    head = conn.recv_until(b"\r\n\r\n", max_bytes=MAX_HEAD, timeout=TIMEOUT)
    status, headers = parse_head(head)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise ValueError("chunked bodies are not handled by this example")
    length = int(headers.get("content-length", "0"))
    if length > MAX_BODY:
        raise ValueError(f"body of {length} bytes is over the limit")
    body = conn.recv_exactly(length, timeout=TIMEOUT)
    return status, headers, body


def get_keep_alive(base: str, paths: list[str]) -> list[tuple[int, dict[str, str], bytes]]:
    """Several requests on one connection; each response sized by Content-Length."""
    host, port, host_header, _ = request_target(base)
    results = []
    with TcpClient.connect(host, port, timeout=TIMEOUT) as conn:
        for path in paths:
            conn.sendall(build_request(host_header, path, keep_alive=True))
            results.append(read_response(conn))
    return results


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so that keep-alive works

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the example's output readable


def demo() -> int:
    with tempfile.TemporaryDirectory() as root:
        Path(root, "index.html").write_text("<h1>hello from loopback</h1>\n")
        Path(root, "data.txt").write_bytes(b"0123456789" * 1000)

        def handler(*args: object) -> _Handler:
            return _Handler(*args, directory=root)  # type: ignore[arg-type]

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            status, headers, body = get_close(base + "/index.html?lang=en")
            print(f"Connection: close  -> {status}, {len(body)} bytes: {body[:28]!r}")
            ok = status == 200 and body == b"<h1>hello from loopback</h1>\n"
            paths = ["/data.txt", "/index.html", "/missing"]
            responses = get_keep_alive(base, paths)
            for path, (status, headers, body) in zip(paths, responses, strict=True):
                print(
                    f"keep-alive {path:12} -> {status}, Content-Length "
                    f"{headers.get('content-length')}, read {len(body)}"
                )
            ok = ok and [r[0] for r in responses] == [200, 200, 404]
            ok = ok and responses[0][2] == b"0123456789" * 1000
        finally:
            server.shutdown()
            server.server_close()
            thread.join(TIMEOUT)
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if not argv:
        return demo()
    status, headers, body = get_close(argv[0])
    print(status, headers.get("content-type", ""), file=sys.stderr)
    sys.stdout.buffer.write(body)
    return 0 if status < 400 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
