"""Host and service lookups with netkit, on names every machine has (no network).

``resolve`` is getaddrinfo with typed, deduplicated results; ``host_address`` is
gethostbyname; ``reverse`` is gethostbyaddr; ``service_port``/``service_name`` read
/etc/services, with a built-in table of well-known ports for slim containers that have
none. Every failure is a ``LookupFailed`` (an ``OSError``), with the name in the message.

    python examples/lookups.py
"""

from __future__ import annotations

import sys

from netkit import (
    LookupFailed,
    host_address,
    hostname,
    resolve,
    reverse,
    service_name,
    service_port,
)


def main(argv: list[str]) -> int:
    ok = True
    print(f"this machine is called {hostname()!r}")

    for info in resolve("localhost", 80):
        family = "IPv6" if ":" in info.sockaddr[0] else "IPv4"
        print(f"resolve('localhost', 80) -> {family} {info.sockaddr[0]} port {info.sockaddr[1]}")
    print(f"host_address('localhost') -> {host_address('localhost')}")

    try:
        host_info = reverse("127.0.0.1")
        print(f"reverse('127.0.0.1') -> {host_info.name!r}")
    except LookupFailed as exc:  # a container may have no name for it: not an error here
        print(f"reverse('127.0.0.1') -> no name: {exc}")

    for name in ("http", "https", "ssh", "domain"):
        print(f"service {name!r:9} -> port {service_port(name)}")
    print(f"port 443/tcp is {service_name(443)!r}; port 53/udp is {service_name(53, 'udp')!r}")
    ok = ok and service_port("https") == 443 and service_name(22) == "ssh"

    try:
        service_port("no-such-service")
        ok = False
    except LookupFailed as exc:
        print(f"service_port('no-such-service') -> LookupFailed: {exc}")
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
