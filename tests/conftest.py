"""Shared test configuration: hypothesis profiles and resource-leak helpers."""

from __future__ import annotations

import os
import signal

from hypothesis import HealthCheck, settings

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
