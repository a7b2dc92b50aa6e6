"""Shared test configuration: hypothesis profiles and the hermetic guard."""

from __future__ import annotations

import atexit
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import _hermetic

# A shell without job control starts a background command (`python -m pytest &`) with
# SIGINT ignored, and Python keeps it ignored: the Ctrl-C tests (interrupt_main, SIGINT
# sent to a command-line subprocess, which inherits the disposition) would then hang.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# CI runs on 2 cores; keep property tests thorough but bounded, and never flaky on time.
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=100, deadline=None)
_default = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))

# -- hermetic suite -----------------------------------------------------------------------
# No test may send anything off this machine or ask DNS (tests/_hermetic.py says what
# passes). The guard raises before the system call; a test whose code swallowed that
# exception still fails, below. Subprocesses load the same guard through
# _hermetic_site/sitecustomize.py and write their violations to a file read here.
_hermetic.install()
_fd, _LOG = tempfile.mkstemp(prefix="netkit-hermetic-", suffix=".log")
os.close(_fd)
atexit.register(lambda: Path(_LOG).unlink(missing_ok=True))
os.environ[_hermetic.LOG_VARIABLE] = _LOG
_SITE = str(Path(__file__).resolve().parent / "_hermetic_site")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SITE, os.environ.get("PYTHONPATH")) if p)


def _log_size() -> int:
    return os.path.getsize(_LOG)


def _log_since(offset: int) -> list[str]:
    with open(_LOG, encoding="utf-8") as file:
        file.seek(offset)
        return file.read().splitlines()


@pytest.fixture(autouse=True)
def _hermetic_guard() -> Iterator[None]:
    """Fail the test if it (or a subprocess it ran) reached beyond this machine."""
    start, offset = _hermetic.mark(), _log_size()
    yield
    problems = _hermetic.since(start) + _log_since(offset)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
