"""Every program in examples/ runs to completion on loopback and says "ok"."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _haproxy import require_haproxy

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = sorted(path.stem for path in EXAMPLES.glob("*.py"))


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_examples_are_all_there() -> None:
    assert set(NAMES) >= {
        "chat",
        "echo_greeting",
        "http_get",
        "lookups",
        "proxy_reuse_port",
        "socket_options",
        "udp_echo",
        "validate_ipv6",
    }


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_a_full_round_and_exits_0(name: str) -> None:
    if name == "proxy_reuse_port":
        require_haproxy()  # skipped without haproxy, except in CI
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    assert out.rstrip().splitlines()[-1] == "ok"
    assert b"Traceback" not in done.stderr


def test_proxy_reuse_port_spreads_clients_and_cleans_up() -> None:
    """Both worker processes answer, each saw the client's own address, and every
    process the example started is gone when it exits."""
    require_haproxy()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "proxy_reuse_port.py")],
        capture_output=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    pids = [int(pid) for pid in re.findall(r"^worker [ab] \(pid (\d+)\) served \d+", out, re.M)]
    assert len(pids) == 2
    assert "every worker saw each client's own address" in out
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped by the example: no such process any more


def test_example_usage_error_is_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "echo_greeting.py"), "bogus"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert b"python examples/echo_greeting.py" in done.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com", ("example.com", 80, "example.com", "/")),
        ("http://example.com/a/b?x=1&y=2", ("example.com", 80, "example.com", "/a/b?x=1&y=2")),
        ("http://127.0.0.1:8080/p", ("127.0.0.1", 8080, "127.0.0.1:8080", "/p")),
        ("http://[::1]:8000/", ("::1", 8000, "[::1]:8000", "/")),
        ("http://[2001:db8::1]/x#frag", ("2001:db8::1", 80, "[2001:db8::1]", "/x")),
    ],
)
def test_http_request_target(url: str, expected: tuple[str, int, str, str]) -> None:
    assert load("http_get").request_target(url) == expected


def test_http_request_bytes() -> None:
    http_get = load("http_get")
    request = http_get.build_request("[::1]:8000", "/a?b=c", keep_alive=False)
    assert request == (
        b"GET /a?b=c HTTP/1.1\r\nHost: [::1]:8000\r\nUser-Agent: netkit-example/1\r\n"
        b"Accept: */*\r\nConnection: close\r\n\r\n"
    )
    with pytest.raises(ValueError, match="only http://"):
        http_get.request_target("https://example.com/")


_validate = load("validate_ipv6")


@given(st.text(max_size=200))
def test_ipv6_form_field_never_raises_and_stores_canonical_text(raw: str) -> None:
    result = _validate.clean_ipv6_field(raw, public_only=False)
    assert (result.value is None) != (result.error is None)
    if result.value is not None:
        from netkit import normalize_ip

        assert normalize_ip(result.value) == result.value
