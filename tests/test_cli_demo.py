"""`netkit demo` as a user runs it: a subprocess, loopback only, a few seconds."""

from __future__ import annotations

import re

import pytest

from _cli_util import call, run


def test_demo_runs_every_step_and_exits_0() -> None:
    result = run(["demo"])
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert result.stderr == b""
    for number in range(1, 6):
        assert re.search(rf"^{number}\. ", out, re.MULTILINE), f"step {number} missing"
    assert out.count("   ok (") == 5
    assert "All 5 steps passed" in out
    # The things the README promises the demo shows:
    assert "hello, ada!" in out
    assert "bob, carol" in out  # alice's message went to the two others
    assert "echoed whole" in out
    assert "131,072" in out or "SO_RCVBUF: the kernel holds" in out
    assert re.search(r"'127\.1' +refused", out)
    assert "\033[" not in out  # no colour codes when stdout is not a terminal


@pytest.mark.parametrize("step", ["1", "2", "3", "4", "5"])
def test_demo_single_step(step: str, capsys: pytest.CaptureFixture[str]) -> None:
    # In-process (the full subprocess run is above): same code, much faster.
    assert call(["demo", "--step", step]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^{step}\. ", out, re.MULTILINE)
    assert out.count("   ok (") == 1


def test_demo_bad_step_is_misuse() -> None:
    result = run(["demo", "--step", "9"])
    assert result.returncode == 2
    assert b"invalid choice" in result.stderr


def test_demo_failure_is_exit_1_with_a_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process: make the address step see the wrong thing and check the reporting.
    import argparse

    from netkit.cli import demo

    monkeypatch.setattr(demo, "TRICKY", [("127.0.0.1", "refused", "wrong on purpose")])
    status = demo.run(argparse.Namespace(step=5))
    assert status == 1
