"""Untrusted text never drives the operator's terminal: ``safe_text`` and its uses.

Peer data that ``netkit connect``/``listen`` pass through is a pipe and stays raw (the
tests of those commands check it byte for byte); names, chat lines, log lines and
error lines are shown through :func:`netkit.cli._common.safe_text`.
"""

from __future__ import annotations

import signal
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _cli_util import WAIT, background
from netkit.cli._common import log, safe_text

ATTACKS = {
    "ESC sequence (clear screen, retitle)": (
        "\x1b[2J\x1b]0;pwned\x07",
        "\\x1b[2J\\x1b]0;pwned\\x07",
    ),
    "carriage return overwrites the line": ("ok\rFAKE", "ok\\x0dFAKE"),
    "backspaces erase": ("admin\b\b\b\b\buser", "admin\\x08\\x08\\x08\\x08\\x08user"),
    "C1 CSI": ("\x9b31m", "\\x9b31m"),
    "DEL": ("a\x7fb", "a\\x7fb"),
    "bidi override reverses text": ("file\u202etxt.exe", "file\\u202etxt.exe"),
    "bidi isolate": ("\u2066x\u2069", "\\u2066x\\u2069"),
    "newline starts a fake log line": (
        "bob\n+ 10.0.0.1 connected",
        "bob\\x0a+ 10.0.0.1 connected",
    ),
    "line separator": ("a\u2028b", "a\\u2028b"),
    "tag character": ("x\U000e0041", "x\\U000e0041"),
}


@pytest.mark.parametrize(("text", "shown"), list(ATTACKS.values()), ids=list(ATTACKS))
def test_control_characters_are_made_visible(text: str, shown: str) -> None:
    assert safe_text(text) == shown


@pytest.mark.parametrize("text", ["plain", "Zoë 東京 مرحبا 🙂", "", "tab-free: a b"])
def test_printable_text_is_unchanged(text: str) -> None:
    assert safe_text(text) == text


@given(st.text())
def test_the_result_is_always_printable_and_one_line(text: str) -> None:
    shown = safe_text(text)
    assert shown.isprintable()
    assert (shown == text) == text.isprintable()
    assert len(shown.splitlines()) <= 1


def test_log_lines_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    log("chat: \x1b[31mred\x1b[0m joined")
    assert capsys.readouterr().err == "chat: \\x1b[31mred\\x1b[0m joined\n"


def test_chat_names_and_lines_reach_nobody_raw() -> None:
    """A member named with escape codes: the operator's log and the other members see
    them made visible (the chat is text for people's terminals)."""
    with background(["serve", "chat"]) as (server, host, port):
        a = socket.create_connection((host, port), timeout=WAIT)
        b = socket.create_connection((host, port), timeout=WAIT)
        with a, b:
            fa, fb = a.makefile("rb"), b.makefile("rb")
            assert fa.readline().startswith(b"* welcome")
            a.sendall(b"ann\n")
            assert fa.readline() == b"* hello ann, 1 online\n"
            assert fb.readline().startswith(b"* welcome")
            b.sendall(b"\x1b]0;owned\x07evil\xe2\x80\xae\n")
            assert fb.readline() == b"* hello \\x1b]0;owned\\x07evil\\u202e, 2 online\n"
            assert fa.readline() == b"* \\x1b]0;owned\\x07evil\\u202e joined\n"
            b.sendall(b"\x1b[2Jhi\rfake\n")
            assert fa.readline() == b"\\x1b]0;owned\\x07evil\\u202e: \\x1b[2Jhi\\x0dfake\n"
            fa.close()
            fb.close()
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=WAIT)
    assert server.returncode == 0
    assert b"\x1b" not in err
    assert b"\xe2\x80\xae" not in err
    assert b"chat: \\x1b]0;owned\\x07evil\\u202e joined" in err
