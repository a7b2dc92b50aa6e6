"""Server rules both faces share: arguments, which options go where, what is logged.

* :func:`check_server_args` / :func:`check_unix_server_args` /
  :func:`check_slow_client_args`: the constructors' argument checks and their
  messages, and :func:`listener_conflict` for ``listener=``; the defaults they fill in
  are :mod:`netkit._core.limits`';
* :func:`listener_options` / :func:`connection_options`: a :class:`SocketOptions`
  split between the listening socket and each accepted one, with the servers' defaults;
* :func:`handler_error`: how an exception that ended a connection is logged (level,
  text, traceback or not), the same in both faces;
* :data:`logger`: the ``netkit`` logger every server writes to, with a
  :class:`logging.NullHandler` (the one place that creates it).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl

from netkit._core.checks import check_port, check_size, check_timeout
from netkit._core.sockaddr import endpoint_or_none
from netkit._core.unix import check_mode, unix_text
from netkit._core.unixpath import check_path
from netkit.errors import NetkitTimeout
from netkit.options import SocketOptions

__all__ = [
    "CONNECTION_FIELDS",
    "LISTENER_FIELDS",
    "check_idle_timeout",
    "check_listen_args",
    "check_options",
    "check_send_timeout",
    "check_server_args",
    "check_slow_client_args",
    "check_unix_server_args",
    "connection_options",
    "handler_error",
    "listener_conflict",
    "listener_kind_error",
    "listener_options",
    "logger",
    "peer_text",
    "pick",
]

#: The logger of every server (both faces): handler errors, failed connections, accept
#: errors. As a library's logger should, it has a NullHandler and nothing else: records
#: propagate to the application's handlers, and an application that configures no
#: logging gets no output (not even logging's "last resort" WARNING lines on stderr).
logger: logging.Logger = logging.getLogger("netkit")
logger.addHandler(logging.NullHandler())

#: Options set on the listening socket (accepted sockets inherit the buffer sizes on
#: Linux, and the receive buffer must be set before listen() to size the TCP window).
LISTENER_FIELDS = ("reuse_addr", "reuse_port", "v6only", "recv_buffer", "send_buffer")
#: Options set on each accepted connection.
CONNECTION_FIELDS = ("nodelay", "keepalive", "linger", "ttl")


def check_server_args(
    handler: object,
    host: object,
    port: object,
    backlog: object,
    max_connections: object,
    idle_timeout: object,
    options: object,
    tls: object,
    tls_handshake_timeout: object,
) -> None:
    """Validate a TcpServer's arguments: TypeError, ValueError or AddressError."""
    _check_handler(handler)
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    check_port(port, allow_zero=True)
    _check_limits(backlog, max_connections, idle_timeout)
    if check_timeout("tls_handshake_timeout", tls_handshake_timeout) == 0 or (
        tls_handshake_timeout is None
    ):
        raise ValueError(f"tls_handshake_timeout must be > 0, not {tls_handshake_timeout!r}")
    check_options(options)
    if tls is not None and not isinstance(tls, ssl.SSLContext):
        raise TypeError(f"tls must be an ssl.SSLContext or None, not {type(tls).__name__}")


def check_listen_args(host: object, port: object, backlog: object, options: object) -> None:
    """Validate ``TcpListener.bind``'s arguments: TypeError, ValueError or AddressError."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    check_port(port, allow_zero=True)
    if backlog is not None:  # None: the default (netkit._core.limits.backlog_for)
        check_size("backlog", backlog)
    check_options(options)


def check_options(options: object) -> None:
    """``options=``: a :class:`SocketOptions` or None."""
    if options is not None and not isinstance(options, SocketOptions):
        raise TypeError(f"options must be SocketOptions or None, not {type(options).__name__}")


def check_unix_server_args(
    handler: object,
    path: object,
    mode: object,
    backlog: object,
    max_connections: object,
    idle_timeout: object,
    has_listener: bool,
    server: str = "UnixServer",
) -> str | None:
    """Validate a UnixServer's (or a SeqpacketServer's, named by *server*) arguments;
    return the checked path (None with a listener).

    Raises:
        TypeError: a wrong type, or neither (or both) of *path* and a listener.
        ValueError, AddressError: a bad value.
    """
    _check_handler(handler)
    _check_limits(backlog, max_connections, idle_timeout)
    check_mode(mode)
    if has_listener:
        if path is not None or mode is not None:
            raise TypeError(listener_conflict("path and mode"))
        return None
    if path is None:
        raise TypeError(f"{server} needs a path or a listener=")
    return check_path(path)


def listener_conflict(what: str) -> str:
    """The message for arguments that a server given ``listener=`` cannot use."""
    return f"{what} apply when the server binds; with listener= the socket is already listening"


#: Each listener class and the server that takes it (for the hint of a wrong one).
_SERVER_OF = {
    "TcpListener": "TcpServer",
    "UnixListener": "UnixServer",
    "SeqpacketListener": "SeqpacketServer",
}


def listener_kind_error(server: str, wanted: str, got: object) -> TypeError:
    """The error for a ``listener=`` that *server* cannot take (it wants *wanted*).

    Another server's listener (a UnixListener given to a TcpServer, a
    SeqpacketListener given to a UnixServer...) names the server that takes it.
    """
    kind = type(got).__name__
    other = _SERVER_OF.get(kind) if kind != wanted else None
    hint = f"; use {other}" if other else ""
    return TypeError(f"listener must be a {wanted} or a listening socket.socket, not {kind}{hint}")


def _check_handler(handler: object) -> None:
    if not callable(handler):
        raise TypeError(f"handler must be callable, not {type(handler).__name__}")


def check_slow_client_args(send_timeout: object, message_timeout: object) -> None:
    """Validate a server's ``send_timeout`` and ``message_timeout`` (None, or > 0).

    Raises:
        TypeError: not a number.
        ValueError: not > 0.
    """
    for name, value in (("send_timeout", send_timeout), ("message_timeout", message_timeout)):
        if value is not None and check_timeout(name, value) == 0:
            raise ValueError(f"{name} must be > 0, not {value!r}")


def _check_limits(backlog: object, max_connections: object, idle_timeout: object) -> None:
    if backlog is not None:  # None: the default (netkit._core.limits.backlog_for)
        check_size("backlog", backlog)
    if max_connections is not None:
        check_size("max_connections", max_connections, low=1)
    check_idle_timeout(idle_timeout)


def check_send_timeout(value: object) -> float | None:
    """``send_timeout=``: seconds > 0, or None (the message of :func:`check_slow_client_args`).

    Raises:
        TypeError, ValueError: not a number of seconds > 0 or None.
    """
    seconds = check_timeout("send_timeout", value)
    if seconds == 0:
        raise ValueError(f"send_timeout must be > 0, not {value!r}")
    return seconds


def check_idle_timeout(value: object) -> float | None:
    """``idle_timeout=``: seconds > 0, or None.

    Raises:
        TypeError, ValueError: not a number of seconds > 0 or None.
    """
    seconds = check_timeout("idle_timeout", value)
    if seconds == 0:
        raise ValueError(f"idle_timeout must be > 0, not {value!r}")
    return seconds


def pick(options: SocketOptions, names: tuple[str, ...]) -> SocketOptions:
    """*options* with every field not in *names* unset (``None``)."""
    values = {f.name: None for f in dataclasses.fields(options) if f.name not in names}
    return dataclasses.replace(options, **values)


def listener_options(options: SocketOptions, family: int, host: str) -> SocketOptions:
    """The options for a listening socket of *family* bound to *host*.

    SO_REUSEADDR is on unless the options say otherwise (a restarted server must not
    wait for TIME_WAIT), and ``"::"`` is dual stack whatever ``net.ipv6.bindv6only``
    says, unless ``v6only`` is set.
    """
    options = pick(options, LISTENER_FIELDS)
    if options.reuse_addr is None:
        options = dataclasses.replace(options, reuse_addr=True)
    if family == socket.AF_INET6 and options.v6only is None and host == "::":
        options = dataclasses.replace(options, v6only=False)
    return options


def connection_options(options: SocketOptions) -> SocketOptions:
    """The options for each accepted connection: TCP_NODELAY on unless asked otherwise
    (a server answers requests, and Nagle's algorithm would hold small answers back)."""
    options = pick(options, CONNECTION_FIELDS)
    if options.nodelay is None:
        options = dataclasses.replace(options, nodelay=True)
    return options


def peer_text(peer: object) -> str:
    """A peer's address for a log line (an ``Endpoint``, a sockaddr, or anything).

    A Unix peer (a ``str``; ``""`` when unnamed, as clients usually are) is written
    as :func:`netkit._core.unix.unix_text` writes it.
    """
    if isinstance(peer, str):
        return unix_text(peer)
    found = endpoint_or_none(peer) if isinstance(peer, tuple) else peer
    return repr(peer) if found is None else str(found)


def handler_error(exc: BaseException, peer: str, *, stopping: bool) -> tuple[int, str, bool]:
    """How to log *exc*, which ended the connection from *peer*: (level, message, traceback).

    A timeout or a failed connection (reset, bad TLS, any ``OSError``) is the peer's
    business: INFO, one line; while stopping, where the server cut connections itself,
    DEBUG. Anything else is a bug in the handler: ERROR with the traceback.
    """
    if isinstance(exc, NetkitTimeout):
        return logging.INFO, f"netkit server: closing {peer}: {exc}", False
    if isinstance(exc, OSError):  # ssl.SSLError, ConnectionError, TimeoutError among them
        level = logging.DEBUG if stopping else logging.INFO
        return level, f"netkit server: connection from {peer} failed: {exc}", False
    return logging.ERROR, f"netkit server: handler failed for {peer}", True
