"""What a type checker sees of the public API (run through mypy, like a user's code)."""

from __future__ import annotations

import pathlib

import pytest

api = pytest.importorskip("mypy.api")

USER_CODE = """
from netkit import ConnectFailed, Endpoint

def first_attempt(exc: ConnectFailed) -> tuple[Endpoint, int, BaseException]:
    endpoint, error = exc.attempts[0]
    return endpoint, exc.attempts[0][0].port, error
"""


def test_connect_failed_attempts_are_endpoint_pairs(tmp_path: pathlib.Path) -> None:
    code = tmp_path / "user.py"
    code.write_text(USER_CODE)
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", str(code)]
    )
    assert status == 0, out + err
