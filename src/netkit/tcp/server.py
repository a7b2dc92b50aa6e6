"""TcpServer: a threaded TCP server that calls ``handler(conn)`` once per connection.

The engine (accept thread, pooled workers, limits, stop) is
:class:`netkit.tcp._server.StreamServer`, shared with :class:`netkit.UnixServer`;
this module adds what is TCP's: where to listen, socket options and TLS.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

from netkit._core.limits import SEND_TIMEOUT, SYNC_MAX_CONNECTIONS
from netkit._core.proxyserve import DEFAULT_HEADER_TIMEOUT, tcp_proxy_policy
from netkit._core.server import (
    check_server_args,
    check_slow_client_args,
    connection_options,
    listener_conflict,
    listener_kind_error,
    peer_text,
)
from netkit._sockets.listen import default_backlog, listen_address, listen_socket
from netkit.addr import Endpoint
from netkit.options import SocketOptions
from netkit.tcp._server import StreamServer, _Worker
from netkit.tcp.connection import TcpConnection
from netkit.tcp.listener import TcpListener
from netkit.tls import handshake_timeout

__all__ = ["TcpServer"]

Handler = Callable[[TcpConnection], None]

_DEFAULT_HOST = "127.0.0.1"


class TcpServer(StreamServer):
    """A TCP server calling ``handler(conn)`` for each connection, in a worker thread.

    ``start()`` binds and serves in the background; ``serve_forever()`` blocks;
    ``stop(timeout)`` stops accepting at once, lets running handlers finish until the
    timeout, then shuts down what is left (waking handlers blocked in ``recv``) and
    returns when every handler has returned and every thread and socket of the server is
    gone. ``with TcpServer(...) as server:`` starts and stops.

    ``host="::"`` serves IPv6 and IPv4 (IPV6_V6ONLY off unless ``options.v6only``).
    SO_REUSEADDR is on for the listener unless ``options.reuse_addr`` is ``False``;
    ``options.reuse_port=True`` lets several servers share one port. TCP_NODELAY is on
    for accepted connections unless ``options.nodelay`` is ``False``: a server answers
    requests, and Nagle's algorithm would hold back small answers.
    ``tls`` is a server :class:`ssl.SSLContext`: the handshake runs in the worker thread,
    bounded by ``tls_handshake_timeout`` seconds, so a silent client cannot hold the
    accept loop or a slot for long.

    The limits have finite defaults, chosen by measurement (``bench/bench_limits.py``;
    the reasoning is in ``docs/internet.md``):

    * ``max_connections=1000`` connections are served at once; the rest wait in the
      listen backlog (never accepted and dropped). The engine runs a thread per
      connection: one echo round over 1000 busy connections took about 0.1 s on a
      2-core machine, over 2000 0.35 s, and over 4000 it collapsed to 5 s (p99 7 s).
      ``None`` lifts the cap.
    * ``backlog=None`` listens with 4096, capped by the kernel's ``somaxconn``: a
      burst of 2000 connects then completed with a p99 of 48 ms (with 128: 2 s, in
      SYN retransmits).
    * ``send_timeout=60.0``: a send that waits that long with the peer taking
      nothing (a peer that stopped reading) raises :class:`~netkit.NetkitTimeout` in
      the handler, and the connection is closed with a reset. ``None``: no limit.
    * ``idle_timeout`` (default None) closes a connection whose read waits that many
      seconds with nothing received; it restarts on every byte, so it stops silent
      clients, not slow ones.
    * ``message_timeout`` (default None) ends a read of a message (a line, a frame,
      ``recv_exactly``...) still incomplete that many seconds after the read first had
      part of it: clients that drip bytes to hold a slot are cut off. With
      ``max_connections=100, message_timeout=1``, 100 clients sending a byte a second
      could not keep a legitimate client waiting more than about a second.

    ``listener=`` (a :class:`~netkit.TcpListener`, or a listening ``socket.socket`` such
    as one a supervisor passed in) replaces *host*, *port* and *backlog*: the server
    accepts on it, owns it (``stop()`` closes it) and exposes it as :attr:`listener`.
    The listener options of *options* then do not apply; the connection options do.

    ``proxy_protocol`` (trusted networks, e.g. ``["127.0.0.1/32", "10.0.0.0/8"]``: ``str``
    or ``ipaddress`` networks) puts the server behind a load balancer that speaks the
    PROXY protocol (v1 or v2, as HAProxy's ``send-proxy``/``send-proxy-v2``). A peer in
    a trusted network (an IPv4-mapped IPv6 peer matches the IPv4 networks) must open
    with a header, within ``proxy_header_timeout`` seconds (default 5); the handler's
    connection then reports the client's address as ``remote_address`` and the address
    it asked for as ``local_address`` (``proxy_header`` holds the whole header). A
    missing, bad or late header drops the connection without calling the handler,
    logged at a bounded rate. A peer from any other network is served as it is: its
    bytes are data, never parsed. Only the header's bytes are read, so ``tls`` works
    after it (the proxy passes TLS through).

    Args:
        handler: ``handler(conn)``, called in a worker thread for each connection; the
            connection is closed when it returns.
        host: the address to listen on (``"::"``: IPv6 and IPv4), or a host name.
        port: the port; 0 for one the system picks (see :attr:`address`).
        backlog: the listen backlog; None: 4096, capped by the kernel's ``somaxconn``.
        max_connections: connections served at once (the rest wait in the backlog); None: no
            cap.
        idle_timeout: seconds a read may wait with nothing received; None: no limit.
        options: socket options for the listener and each accepted connection.
        tls: a server ``ssl.SSLContext``: each connection's handshake runs in its worker
            thread.
        tls_handshake_timeout: seconds a client has to finish the TLS handshake.
        listener: a :class:`~netkit.TcpListener` or listening socket to serve instead of
            binding (replaces *host*, *port* and *backlog*; the server owns it).
        send_timeout: seconds a send may wait with the peer taking nothing; None: no limit.
        message_timeout: seconds a read of one message may take once it has part of it;
            None: no limit.
        proxy_protocol: trusted networks whose peers must open with a PROXY protocol header;
            None: no PROXY protocol.
        proxy_header_timeout: seconds a trusted peer has to send its whole header.

    Raises:
        TypeError: a wrong argument type, a *listener* that is not TCP, or *host*,
            *port* or *backlog* given with *listener*.
        ValueError: a bad argument value (a negative limit or timeout, a string in
            *proxy_protocol* that is not a network...).
        AddressError: an out-of-range *port*.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = _DEFAULT_HOST,
        port: int = 0,
        *,
        backlog: int | None = None,
        max_connections: int | None = SYNC_MAX_CONNECTIONS,
        idle_timeout: float | None = None,
        options: SocketOptions | None = None,
        tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
        listener: TcpListener | socket.socket | None = None,
        send_timeout: float | None = SEND_TIMEOUT,
        message_timeout: float | None = None,
        proxy_protocol: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network]
        | None = None,
        proxy_header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    ) -> None:
        check_server_args(
            handler, host, port, backlog, max_connections, idle_timeout, options, tls,
            tls_handshake_timeout,
        )  # fmt: skip
        check_slow_client_args(send_timeout, message_timeout)
        proxy = tcp_proxy_policy(proxy_protocol, proxy_header_timeout)
        taken: TcpListener | None = None
        if listener is not None:
            if host != _DEFAULT_HOST or port != 0 or backlog is not None:
                raise TypeError(listener_conflict("host, port and backlog"))
            taken = _as_listener(listener)
        super().__init__(
            handler,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            listener=taken,
            send_timeout=send_timeout,
            message_timeout=message_timeout,
            proxy=proxy,
        )
        self._host = host
        self._port = port
        self._backlog = backlog
        self._options = options or SocketOptions()
        self._tls = tls
        self._tls_handshake_timeout = float(tls_handshake_timeout)
        self._conn_options = connection_options(self._options)
        # The usual case, nodelay alone, costs one setsockopt instead of a full apply()
        # (10 us, measurable in connection churn).
        self._nodelay_only = self._conn_options == SocketOptions(nodelay=True)

    @property
    def address(self) -> Endpoint:
        """The bound address (with the real port when port 0 was asked)."""
        if self._address is None:
            raise RuntimeError("the server is not started")
        address: Endpoint = self._address
        return address

    @property
    def listener(self) -> TcpListener:
        """The :class:`~netkit.TcpListener` the server accepts on (closed by ``stop()``).

        Raises:
            RuntimeError: not started, and no ``listener=`` was given.
        """
        listener: TcpListener = super().listener
        return listener

    def __repr__(self) -> str:
        where = self._address if self._address is not None else f"{self._host}:{self._port}"
        return f"<TcpServer {where} {self._state} active={len(self._connections)}>"

    # ------------------------------------------------------------------ listening

    def _bind(self) -> socket.socket:
        """The listening socket (tests override this to wrap it)."""
        family, sockaddr = listen_address(self._host, self._port)
        backlog = default_backlog() if self._backlog is None else self._backlog
        return listen_socket(family, sockaddr, backlog, self._options)

    def _open_listener(self) -> TcpListener:
        sock = self._bind()
        try:
            return TcpListener(sock)
        except BaseException:  # pragma: no cover - _bind returns a listening socket
            sock.close()
            raise

    def _open(self, sock: socket.socket, peer: object, worker: _Worker) -> TcpConnection | None:
        if self._nodelay_only:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self._conn_options.apply(sock)
        if self._tls is not None:
            tls_sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            # wrap_socket() detached the plain socket: stop() must see the TLS one
            if not self._track(worker, tls_sock):
                return None
            # bounded, so a client that never speaks cannot hold this slot for long
            tls_sock.settimeout(self._tls_handshake_timeout)
            try:
                tls_sock.do_handshake()
            except TimeoutError as exc:
                if exc.errno is not None:
                    raise
                raise handshake_timeout(peer_text(peer), self._tls_handshake_timeout) from None
            tls_sock.settimeout(None)
            sock = tls_sock
        return TcpConnection(
            sock,
            idle_timeout=self._idle_timeout,
            send_timeout=self._send_timeout,
            message_timeout=self._message_timeout,
        )


def _as_listener(listener: Any) -> TcpListener:
    """``listener=`` as a TcpListener: one already, or a listening socket to wrap."""
    if isinstance(listener, TcpListener):
        return listener
    if isinstance(listener, socket.socket):
        return TcpListener(listener)
    raise listener_kind_error("TcpServer", "TcpListener", listener)
