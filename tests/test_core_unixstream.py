"""The IO-free Unix stream rules: addresses in logs, credentials, fd arguments, binds and
connects, listener arguments, and socket activation. (Paths themselves: unixpath.)"""

from __future__ import annotations

import errno
import os
import socket

import pytest

from netkit import ConnectFailed, FrameTooLarge, NetkitTimeout
from netkit._core import activation, unix, unixpath
from netkit._core.server import check_unix_server_args, peer_text
from netkit._core.sockaddr import check_stream_socket, family_error


def test_addresses_in_logs() -> None:
    assert unixpath.address(b"\0abstract") == "\0abstract"
    assert unix.unix_text("") == "unix:(unnamed)"
    assert unix.unix_text("/run/x") == "unix:/run/x"
    assert unix.unix_text("\0name\n") == "unix:@name\\n"
    assert peer_text("") == "unix:(unnamed)"
    assert peer_text(("127.0.0.1", 5)) == "127.0.0.1:5"


def test_credentials_decode() -> None:
    raw = (1234).to_bytes(4, "little") + (1000).to_bytes(4, "little") + (100).to_bytes(4, "little")
    if socket.htons(1) == 1:  # pragma: no cover - big-endian hosts
        raw = b"".join(x.to_bytes(4, "big") for x in (1234, 1000, 100))
    assert unix.peer_credentials(raw) == unix.PeerCredentials(pid=1234, uid=1000, gid=100)


def test_fd_arguments() -> None:
    assert unix.check_fds([0, 1]) == [0, 1]
    assert unix.check_fds(()) == []
    with pytest.raises(TypeError, match="fds must be a list of ints, not int"):
        unix.check_fds(3)
    with pytest.raises(TypeError, match=r"fds\[1\] must be an int, not bool"):
        unix.check_fds([0, True])
    with pytest.raises(ValueError, match=r"fds\[0\] must be >= 0, not -1"):
        unix.check_fds([-1])
    with pytest.raises(ValueError, match="at most 253 fds"):
        unix.check_fds([0] * 254)
    assert unix.check_recv_fds(10, 1000) == (10, 253)
    with pytest.raises(ValueError, match="max_bytes must be >= 1, not 0"):
        unix.check_recv_fds(0, 1)
    with pytest.raises(ValueError, match="max_fds must be >= 1, not 0"):
        unix.check_recv_fds(1, 0)
    error = unix.fds_over_limit(2, 3)
    assert isinstance(error, FrameTooLarge)
    assert (error.limit, error.size) == (2, 3)
    assert str(error).startswith("3 file descriptors arrived, over max_fds=2")
    assert str(unix.fds_over_limit(2, None)).startswith("more file descriptors arrived")


def test_mode_argument() -> None:
    assert unix.check_mode(None) is None
    assert unix.check_mode(0o600) == 0o600
    with pytest.raises(TypeError, match="mode must be an int"):
        unix.check_mode("600")
    with pytest.raises(ValueError, match="0o1000"):
        unix.check_mode(0o1000)


def test_errors_name_the_path() -> None:
    error = unix.connect_failed("/run/x", FileNotFoundError(errno.ENOENT, "No such file"))
    assert isinstance(error, ConnectFailed)
    assert str(error) == "cannot connect to '/run/x': no such file (nothing listens there)"
    assert error.errno == errno.ENOENT
    refused = unix.connect_failed("/run/x", ConnectionRefusedError(errno.ECONNREFUSED, "x"))
    assert "connection refused" in str(refused)
    timeout = unix.connect_timed_out("/run/x", 0.5)
    assert isinstance(timeout, NetkitTimeout)
    assert str(timeout) == "connect to '/run/x' timed out after 0.5 s"
    in_use = unix.in_use("/run/x")
    assert in_use.errno == errno.EADDRINUSE
    assert str(in_use) == "[Errno 98] cannot bind to '/run/x': a live socket holds it"
    assert unix.not_a_socket("/run/x").errno == errno.EADDRINUSE
    bound = unix.bind_failed("/run/x", PermissionError(errno.EACCES, "Permission denied"))
    assert isinstance(bound, PermissionError)
    assert str(bound) == "[Errno 13] cannot bind to '/run/x': Permission denied"
    missing = unix.bind_failed("/no/x", FileNotFoundError(errno.ENOENT, "No such file"))
    assert isinstance(missing, FileNotFoundError)
    assert str(missing) == "[Errno 2] cannot bind to '/no/x': directory '/no' does not exist"


def test_family_rules() -> None:
    assert family_error("TcpConnection", socket.AF_INET) is None
    assert family_error("UnixConnection", socket.AF_UNIX) is None
    assert str(family_error("TcpConnection", socket.AF_UNIX)) == (
        "TcpConnection needs an AF_INET or AF_INET6 socket, not AF_UNIX; use UnixConnection"
    )
    assert str(family_error("UnixConnection", socket.AF_INET)) == (
        "UnixConnection needs an AF_UNIX socket, not AF_INET; use TcpConnection"
    )
    with pytest.raises(TypeError, match=r"sock must be a socket\.socket, not str"):
        check_stream_socket("x", "UnixConnection", "UnixConnection")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dgram:
        with pytest.raises(ValueError, match="UnixConnection needs a stream socket"):
            check_stream_socket(dgram, "UnixConnection", "UnixConnection")


def test_unix_server_arguments() -> None:
    def handler(conn: object) -> None:
        pass

    assert check_unix_server_args(handler, "/x", None, 5, None, None, False) == "/x"
    assert check_unix_server_args(handler, None, None, 5, None, None, True) is None
    with pytest.raises(TypeError, match="needs a path or a listener="):
        check_unix_server_args(handler, None, None, 5, None, None, False)
    with pytest.raises(TypeError, match="with listener= the socket is already listening"):
        check_unix_server_args(handler, "/x", None, 5, None, None, True)
    with pytest.raises(TypeError, match="handler must be callable"):
        check_unix_server_args(None, "/x", None, 5, None, None, False)


# -- socket activation: the environment, read as sd_listen_fds_with_names does --------------


def test_nothing_without_listen_pid() -> None:
    assert activation.listen_fds({}, 100) == []
    assert activation.listen_fds({"LISTEN_FDS": "2"}, 100) == []


def test_meant_for_another_process() -> None:
    env = {"LISTEN_PID": "99", "LISTEN_FDS": "2"}
    assert activation.listen_fds(env, 100) == []
    same_pid = {"LISTEN_PID": "100", "LISTEN_PIDFDID": "7", "LISTEN_FDS": "1"}
    assert activation.listen_fds(same_pid, 100, pidfd_id=8) == []  # a reused pid
    assert activation.listen_fds(same_pid, 100, pidfd_id=7) == [(3, "unknown")]
    assert activation.listen_fds(same_pid, 100, pidfd_id=None) == [(3, "unknown")]


def test_descriptors_and_names() -> None:
    env = {"LISTEN_PID": "100", "LISTEN_FDS": "3"}
    assert activation.listen_fds(env, 100) == [(3, "unknown"), (4, "unknown"), (5, "unknown")]
    named = {**env, "LISTEN_FDNAMES": "web:admin:"}
    assert activation.listen_fds(named, 100) == [(3, "web"), (4, "admin"), (5, "")]
    assert activation.listen_fds({"LISTEN_PID": "100"}, 100) == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LISTEN_PID": "x", "LISTEN_FDS": "1"}, "LISTEN_PID='x' is not a number >= 1"),
        ({"LISTEN_PID": "+100", "LISTEN_FDS": "1"}, "LISTEN_PID='+100'"),
        ({"LISTEN_PID": "100", "LISTEN_FDS": "0"}, "LISTEN_FDS='0' is not a number >= 1"),
        ({"LISTEN_PID": "100", "LISTEN_FDS": " 1"}, "LISTEN_FDS=' 1'"),
        ({"LISTEN_PID": "100", "LISTEN_FDS": str(2**31)}, "too large"),
        ({"LISTEN_PID": "100", "LISTEN_PIDFDID": "-1", "LISTEN_FDS": "1"}, "LISTEN_PIDFDID"),
        (
            {"LISTEN_PID": "100", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a"},
            "LISTEN_FDNAMES='a' has 1 names for LISTEN_FDS=2 descriptors",
        ),
        (
            {"LISTEN_PID": "100", "LISTEN_FDS": "1", "LISTEN_FDNAMES": ""},
            "has 0 names",
        ),
    ],
)
def test_malformed_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        activation.listen_fds(env, 100)


def test_the_variables_to_unset() -> None:
    assert set(activation.LISTEN_VARS) == {
        "LISTEN_PID",
        "LISTEN_PIDFDID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
    }
    assert os.environ.get("LISTEN_PID") is None  # the test process itself has none
