"""A fake datagram network for testing ``UdpEndpoint``-style code (sync face).

The decisions (addresses, faults, errors) are :class:`netkit._core.fakenet.FakeNetworkModel`;
this module only waits, on one condition variable per network.
"""

from __future__ import annotations

import threading
from time import monotonic
from types import TracebackType

from netkit._core import datagram as rules
from netkit._core.checks import check_timeout
from netkit._core.fakenet import FakeNetworkModel, NetworkStats, not_connected
from netkit.addr import Endpoint

__all__ = ["FakeDatagramEndpoint", "FakeDatagramNetwork"]


class FakeDatagramNetwork:
    """An in-memory datagram network with seeded loss, duplication and reordering.

    Endpoints made by :meth:`bind` and :meth:`connect` have the receiving and sending
    API of :class:`netkit.UdpEndpoint` (``sendto``, ``send``, ``recvfrom``, ``recv``,
    ``address``, ``close``) and raise the same errors with the same messages; nothing
    touches a socket. Faults are drawn from a :class:`random.Random` seeded with *seed*,
    so a run that sends the same datagrams in the same order sees the same faults.

    Parameters:
        seed: the seed of the fault generator.
        loss: probability (0 to 1) that a datagram is dropped.
        duplicate: probability that it is delivered twice.
        reorder: probability that it is queued ahead of datagrams not yet received.
        max_size: the largest payload the network carries; larger sends raise
            ``FrameTooLarge`` before anything is sent (default: UDP over IPv4's 65,507).

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: a probability outside 0..1, a negative seed or size.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        max_size: int = rules.MAX_PAYLOAD_IPV4,
    ) -> None:
        self._model = FakeNetworkModel(
            seed=seed, loss=loss, duplicate=duplicate, reorder=reorder, max_size=max_size
        )
        self._changed = threading.Condition()

    @property
    def stats(self) -> NetworkStats:
        """Counts of what the network did (sent, delivered, lost, duplicated, ...)."""
        return self._model.stats

    def bind(self, host: str = "127.0.0.1", port: int = 0) -> FakeDatagramEndpoint:
        """An endpoint bound to *host* and *port* (0: a free port).

        Args:
            host: an IP address (the fake network has no resolver).
            port: the port, 0 for a free one.

        Returns:
            The bound endpoint.

        Raises:
            AddressError: *host* is not an IP address, or *port* is out of range.
            OSError: the address is taken (``EADDRINUSE``).
        """
        with self._changed:
            address = self._model.bind(host, port)
        return FakeDatagramEndpoint(self, address, None)

    def connect(self, host: str, port: int, *, source: str = "127.0.0.1") -> FakeDatagramEndpoint:
        """An endpoint on a free port of *source*, connected to *host*:*port*.

        It sends with :meth:`FakeDatagramEndpoint.send` and receives only from its peer.

        Args:
            host: the peer's IP address.
            port: the peer's port.
            source: the local IP address.

        Returns:
            The connected endpoint.

        Raises:
            AddressError: *host* or *source* is not an IP address, or *port* is out of range.
        """
        peer = rules.host_endpoint(host, port, allow_zero=False)
        with self._changed:
            address = self._model.bind(source, 0)
        return FakeDatagramEndpoint(self, address, peer)


class FakeDatagramEndpoint:
    """One endpoint of a :class:`FakeDatagramNetwork` (see there)."""

    def __init__(
        self, network: FakeDatagramNetwork, address: Endpoint, peer: Endpoint | None
    ) -> None:
        """Built by :meth:`FakeDatagramNetwork.bind` and :meth:`FakeDatagramNetwork.connect`.

        Args:
            network: the network the endpoint is on.
            address: its bound address.
            peer: the peer of a connected endpoint, else None.
        """
        self._network = network
        self._address = address
        self._peer = peer
        self._closed = False

    @property
    def address(self) -> Endpoint:
        """The bound address."""
        return self._address

    @property
    def remote_address(self) -> Endpoint | None:
        """The peer of a connected endpoint, else None."""
        return self._peer

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def sendto(self, data: bytes | bytearray | memoryview, endpoint: rules.Target) -> None:
        """Send one datagram to *endpoint* (an Endpoint, ``(host, port)`` or text).

        Args:
            data: the payload.
            endpoint: the destination (an IP address: the fake network has no resolver).

        Raises:
            FrameTooLarge: *data* is over the network's ``max_size``.
            TypeError: *data* is not bytes-like, or *endpoint* is not a target.
            AddressError: a malformed *endpoint*.
            ConnectionClosed: the endpoint is closed.
        """
        if self._closed:
            raise rules.closed()
        network = self._network
        with network._changed:
            woken = network._model.send(self._address, endpoint, data)
            if woken is not None:
                network._changed.notify_all()

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send one datagram to the peer of a connected endpoint.

        Args:
            data: the payload.

        Raises:
            AddressError: the endpoint is not connected.
            FrameTooLarge: *data* is over the network's ``max_size``.
            ConnectionClosed: the endpoint is closed.
        """
        if self._peer is None:
            if self._closed:
                raise rules.closed()
            raise not_connected()
        self.sendto(data, self._peer)

    def recvfrom(
        self, *, max_size: int = rules.DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> rules.Datagram:
        """The next datagram and its sender; waits up to *timeout* seconds.

        Args:
            max_size: the largest payload accepted.
            timeout: seconds to wait; None for no limit.

        Returns:
            The datagram.

        Raises:
            FrameTooLarge: the datagram is over *max_size* (it is consumed).
            NetkitTimeout: nothing arrived in time.
            ConnectionClosed: the endpoint is closed (also while waiting).
            TypeError: a *max_size* or *timeout* of the wrong type.
            ValueError: a *max_size* or *timeout* out of range.
        """
        limit = rules.check_max_size(max_size)
        seconds = check_timeout("timeout", timeout)
        network = self._network
        deadline = None if seconds is None else monotonic() + seconds
        with network._changed:
            while True:
                if self._closed:
                    raise rules.closed()
                datagram = network._model.take(self._address, limit, self._peer)
                if datagram is not None:
                    return datagram
                left = None if deadline is None else deadline - monotonic()
                if left is not None and left <= 0:
                    raise rules.timed_out(seconds)
                network._changed.wait(left)

    def recv(
        self, *, max_size: int = rules.DEFAULT_MAX_SIZE, timeout: float | None = None
    ) -> bytes:
        """The next datagram's payload (see :meth:`recvfrom`).

        Args:
            max_size: the largest payload accepted.
            timeout: seconds to wait; None for no limit.

        Returns:
            The payload.

        Raises:
            FrameTooLarge: the datagram is over *max_size* (it is consumed).
            NetkitTimeout: nothing arrived in time.
            ConnectionClosed: the endpoint is closed (also while waiting).
        """
        return self.recvfrom(max_size=max_size, timeout=timeout).data

    def close(self) -> None:
        """Release the address; a receive waiting in another thread raises
        ``ConnectionClosed``. Idempotent."""
        network = self._network
        with network._changed:
            if not self._closed:
                self._closed = True
                network._model.unbind(self._address)
                network._changed.notify_all()

    def __enter__(self) -> FakeDatagramEndpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else str(self._address)
        return f"<FakeDatagramEndpoint {state}>"
