"""Shared test configuration: hypothesis profiles and resource-leak helpers."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
