"""The model behind the fake datagram network of :mod:`netkit.testing` (both faces).

An in-memory network of datagram endpoints with seeded, deterministic faults: loss,
duplication, reordering and a size limit. It decides everything (addresses, what is
delivered where, the errors and their messages, which are those of a real
:class:`~netkit.UdpEndpoint`); the faces add only the waiting. No socket is involved
and nothing leaves the process.
"""

from __future__ import annotations

import errno
import os
import random
from collections import deque
from dataclasses import dataclass

from netkit._core import datagram as rules
from netkit._core.checks import buffer_size, check_size
from netkit.addr import Endpoint, is_ip
from netkit.errors import AddressError, describe

__all__ = ["FakeNetworkModel", "NetworkStats", "not_connected"]

_FIRST_PORT = 49152  # ports handed out for port 0, from the dynamic range


def _probability(name: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number from 0 to 1, not {describe(value)}")
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be from 0 to 1, not {describe(value)}")
    return float(value)


@dataclass
class NetworkStats:
    """What the network did: datagrams sent, delivered into a queue, and faults applied."""

    sent: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    unreachable: int = 0  # sent to an address nobody is bound to (dropped, as UDP does)


class FakeNetworkModel:
    """Endpoints, their queues and the seeded faults. Not thread-safe: the sync face
    holds a lock around every call, the asyncio face runs in one loop."""

    def __init__(
        self,
        *,
        seed: int = 0,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        max_size: int = rules.MAX_PAYLOAD_IPV4,
    ) -> None:
        self.loss = _probability("loss", loss)
        self.duplicate = _probability("duplicate", duplicate)
        self.reorder = _probability("reorder", reorder)
        self.max_size = check_size("max_size", max_size)
        self.random = random.Random(check_size("seed", seed))
        self.queues: dict[Endpoint, deque[rules.Datagram]] = {}
        self.stats = NetworkStats()
        self._next_port = _FIRST_PORT

    def bind(self, host: object, port: object) -> Endpoint:
        """Claim an address (port 0: a free one); OSError(EADDRINUSE) if it is taken."""
        endpoint = rules.host_endpoint(host, port, allow_zero=True)
        if not is_ip(endpoint.host):
            raise AddressError(
                f"the fake network has no resolver: {describe(endpoint.host)} is not an IP address"
            )
        if endpoint.port == 0:
            while Endpoint(endpoint.host, self._next_port) in self.queues:
                self._next_port += 1
            endpoint = Endpoint(endpoint.host, self._next_port)
            self._next_port += 1
        if endpoint in self.queues:
            raise rules.bind_failed(
                endpoint, OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
            )
        self.queues[endpoint] = deque()
        return endpoint

    def unbind(self, endpoint: Endpoint) -> None:
        """Release an address; datagrams still queued for it are dropped."""
        self.queues.pop(endpoint, None)

    def send(self, source: Endpoint, target: object, data: object) -> Endpoint | None:
        """Send one datagram; return the receiver to wake, if one got something.

        Raises:
            TypeError: *data* is not bytes-like.
            FrameTooLarge: *data* is over the network's ``max_size`` (nothing is sent).
            AddressError: *target* is not an address.
        """
        size = buffer_size(data)
        destination = rules.as_endpoint(target)
        if size > self.max_size:
            raise rules.too_large_to_send(size, self.max_size, destination)
        payload = bytes(data)  # type: ignore[call-overload]
        self.stats.sent += 1
        queue = self.queues.get(destination)
        if queue is None:
            self.stats.unreachable += 1
            return None
        rng = self.random
        if rng.random() < self.loss:
            self.stats.lost += 1
            return None
        copies = 1
        if rng.random() < self.duplicate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            datagram = rules.Datagram(payload, source)
            if queue and rng.random() < self.reorder:
                queue.insert(rng.randrange(len(queue)), datagram)
                self.stats.reordered += 1
            else:
                queue.append(datagram)
            self.stats.delivered += 1
        return destination

    def take(
        self, endpoint: Endpoint, max_size: int, peer: Endpoint | None = None
    ) -> rules.Datagram | None:
        """The next datagram for *endpoint* (from *peer* only, if given), or None.

        A connected endpoint only receives from its peer: datagrams from anyone else
        are dropped, as the kernel drops them.

        Raises:
            FrameTooLarge: the next datagram is over *max_size*; it is consumed (dropped),
                as a real endpoint's kernel drops it.
        """
        queue = self.queues.get(endpoint)
        while queue:
            datagram = queue.popleft()
            if peer is not None and datagram.sender != peer:
                continue
            if len(datagram.data) > max_size:
                raise rules.truncated(len(datagram.data), max_size, datagram.sender)
            return datagram
        return None


def not_connected() -> BaseException:
    """The error for ``send`` on an endpoint that is not connected (a real one's)."""
    error = OSError(errno.EDESTADDRREQ, os.strerror(errno.EDESTADDRREQ))
    return rules.datagram_error(error, is_closed=False, peer=None)
