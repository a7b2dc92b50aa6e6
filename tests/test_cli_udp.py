"""`netkit udp listen|send`, driven as subprocesses (loopback only)."""

from __future__ import annotations

import re
import signal

from _cli_util import WAIT, background, read_line, run
from netkit import UdpEndpoint


def test_send_with_reply_against_listen_echo() -> None:
    with background(["udp", "listen", "--echo", "--count", "2"]) as (server, host, port):
        first = run(["udp", "send", host, str(port), "hello", "there", "--reply"])
        assert first.returncode == 0, first.stderr
        assert first.stdout == b"hello there\n"
        assert re.fullmatch(
            rb"from 127\.0\.0\.1:\d+ \(11 bytes\): b'hello there'\n", read_line(server.stdout)
        )
        second = run(["udp", "send", host, str(port), "-", "--reply"], input=b"from stdin")
        assert second.stdout == b"from stdin\n"
        out, err = server.communicate(timeout=WAIT)
    assert server.returncode == 0  # --count 2 reached
    assert b"(10 bytes): b'from stdin'" in out
    assert b"Traceback" not in err


def test_listen_prints_each_datagram_with_its_sender() -> None:
    with background(["udp", "listen"]) as (server, host, port), UdpEndpoint.bind() as me:
        me.sendto(b"\x00binary\xff", (host, port))
        line = read_line(server.stdout).decode()
        payload = b"\x00binary\xff"
        assert line == f"from {me.address} (8 bytes): {payload!r}\n"
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=WAIT)
    assert server.returncode == 0
    assert b"Traceback" not in err


def test_send_without_reply_waits_for_nothing() -> None:
    with UdpEndpoint.bind() as sink:
        result = run(["udp", "send", "127.0.0.1", str(sink.address.port), "fire"])
        assert result.returncode == 0
        assert sink.recvfrom(timeout=WAIT).data == b"fire"
    assert b"sent 4 bytes" in result.stderr


def test_send_no_reply_is_exit_1() -> None:
    with UdpEndpoint.bind() as silent:
        result = run(
            ["udp", "send", "127.0.0.1", str(silent.address.port), "hi", "-r", "-w", "0.2"]
        )
    assert result.returncode == 1
    assert b"no reply within 0.2 s" in result.stderr


def test_udp_misuse() -> None:
    assert run(["udp"]).returncode == 2
    assert run(["udp", "send", "127.0.0.1", "70000", "x"]).returncode == 2
    bad = run(["udp", "send", "127.0.0.1", "9", "a", "-"])
    assert bad.returncode == 2
    assert b"'-' (stdin) must be the only MESSAGE" in bad.stderr


def test_oversized_datagram_is_exit_1() -> None:
    with UdpEndpoint.bind() as sink:
        result = run(["udp", "send", "127.0.0.1", str(sink.address.port), "-"], input=b"x" * 70000)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
