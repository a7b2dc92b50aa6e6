"""The ``netkit`` logger: a NullHandler only, silent unless the application configures logging."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

import netkit.aio
import netkit.tcp

# A server whose handler fails, run in a fresh interpreter (pytest installs handlers of
# its own); {setup} is the application's logging configuration, if any.
PROGRAM = """
import logging, socket
{setup}
from netkit import TcpServer

def handler(conn):
    raise RuntimeError("boom")

with TcpServer(handler) as server:
    with socket.create_connection(("127.0.0.1", server.address.port), timeout=10) as c:
        assert c.recv(1) == b""  # the server closed the connection: the handler ran
print("served")
"""


def _run(setup: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM.format(setup=setup)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("module", [netkit.tcp, netkit.aio])
def test_the_netkit_logger_has_only_a_null_handler(module: object) -> None:
    logger = logging.getLogger("netkit")
    assert [type(h) for h in logger.handlers] == [logging.NullHandler]
    assert logger.propagate
    assert logger.level == logging.NOTSET  # the application decides


def test_nothing_is_printed_without_logging_configured() -> None:
    # Without the NullHandler, logging's last-resort handler would print the ERROR line.
    done = _run(setup="")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "served\n"
    assert done.stderr == ""


def test_configured_logging_gets_the_error_with_its_traceback() -> None:
    done = _run(setup="logging.basicConfig(format='%(levelname)s %(name)s %(message)s')")
    assert done.returncode == 0, done.stderr
    assert "ERROR netkit netkit server: handler failed for 127.0.0.1:" in done.stderr
    assert "Traceback" in done.stderr
    assert "RuntimeError: boom" in done.stderr
