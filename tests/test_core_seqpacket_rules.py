"""The core rules behind SeqpacketServer, SeqpacketListener and socket activation of
SEQPACKET sockets, with plain values: the idle deadline of a receive, which inherited
sockets are listeners, the listener checks and the errors of wrong listeners."""

from __future__ import annotations

import socket

import pytest

from netkit._core.activation import not_a_listener, usable
from netkit._core.messages import KINDS, check_kind
from netkit._core.seqpacket import check_listener_socket, idle_error, receive_timeout
from netkit._core.server import check_idle_timeout, check_unix_server_args, listener_kind_error

SEQ = socket.SOCK_SEQPACKET


@pytest.mark.parametrize(
    ("timeout", "default", "idle", "expected"),
    [
        (None, None, None, (None, False)),
        (None, 5.0, None, (5.0, False)),
        (2.0, 5.0, None, (2.0, False)),
        (None, None, 1.0, (1.0, True)),  # no deadline: the idle one
        (None, 5.0, 1.0, (1.0, True)),  # the default is longer
        (0.5, None, 1.0, (0.5, False)),  # the call's is shorter
        (1.0, None, 1.0, (1.0, False)),  # equal: the call's own deadline, as for streams
        (0, None, 1.0, (0.0, False)),
    ],
)
def test_the_shorter_deadline_wins(
    timeout: float | None, default: float | None, idle: float | None, expected: object
) -> None:
    assert receive_timeout(timeout, default, idle) == expected


def test_receive_timeout_checks_the_call_s_timeout() -> None:
    with pytest.raises(ValueError, match="timeout must be >= 0 seconds or None, not -1"):
        receive_timeout(-1, None, 1.0)
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        receive_timeout("1", None, 1.0)
    assert str(idle_error(0.25)) == "idle: nothing received for 0.25 s"
    assert check_idle_timeout(None) is None
    assert check_idle_timeout(2) == 2
    with pytest.raises(ValueError, match="idle_timeout must be > 0, not 0"):
        check_idle_timeout(0)


@pytest.mark.parametrize(
    ("family", "kind", "listening", "expected"),
    [
        (socket.AF_INET, socket.SOCK_STREAM, True, True),
        (socket.AF_INET6, socket.SOCK_STREAM, True, True),
        (socket.AF_UNIX, socket.SOCK_STREAM, True, True),
        (socket.AF_UNIX, SEQ, True, True),
        (socket.AF_UNIX, SEQ, False, False),
        (socket.AF_INET, SEQ, True, False),  # SCTP: not ours
        (socket.AF_UNIX, socket.SOCK_DGRAM, False, False),
        (socket.AF_INET, socket.SOCK_DGRAM, False, False),
    ],
)
def test_which_inherited_sockets_are_listeners(
    family: int, kind: int, listening: bool, expected: bool
) -> None:
    assert usable(family, kind, listening) is expected


def test_the_refusal_says_what_the_socket_is() -> None:
    error = not_a_listener(3, "ctl", socket.AF_UNIX, SEQ, False)
    assert str(error) == (
        "inherited fd 3 ('ctl') is not a listening TCP, Unix stream or Unix SEQPACKET "
        "socket: AF_UNIX, SOCK_SEQPACKET, not listening"
    )


def test_listener_socket_checks() -> None:
    with socket.socket(socket.AF_UNIX, SEQ) as ok:
        check_listener_socket(ok, "SeqpacketListener")  # listening is checked later
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dgram:
        with pytest.raises(ValueError, match=r"needs a SOCK_SEQPACKET socket, not <.*DGRAM.*>$"):
            check_listener_socket(dgram, "SeqpacketListener")
    with pytest.raises(TypeError, match=r"sock must be a socket\.socket, not NoneType"):
        check_listener_socket(None, "SeqpacketListener")


def test_wrong_listener_errors_name_the_right_server() -> None:
    class SeqpacketListener:
        pass

    class UnixListener:
        pass

    assert str(listener_kind_error("UnixServer", "UnixListener", SeqpacketListener())) == (
        "listener must be a UnixListener or a listening socket.socket, not "
        "SeqpacketListener; use SeqpacketServer"
    )
    assert str(listener_kind_error("SeqpacketServer", "SeqpacketListener", UnixListener())) == (
        "listener must be a SeqpacketListener or a listening socket.socket, not "
        "UnixListener; use UnixServer"
    )
    assert str(listener_kind_error("SeqpacketServer", "SeqpacketListener", 3)) == (
        "listener must be a SeqpacketListener or a listening socket.socket, not int"
    )
    with pytest.raises(TypeError, match=r"^SeqpacketServer needs a path or a listener=$"):
        check_unix_server_args(print, None, None, 5, None, None, False, "SeqpacketServer")


def test_message_kinds() -> None:
    assert set(KINDS) == {"seqpacket", "unix_datagram", "udp"}
    assert check_kind("udp").send == "send"
    assert check_kind("seqpacket").recv == "recv_message"
    with pytest.raises(ValueError, match="kind must be one of"):
        check_kind("sctp")
