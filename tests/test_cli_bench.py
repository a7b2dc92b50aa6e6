"""`netkit bench`: bounded, prints a summary table, exit 0."""

from __future__ import annotations

import json

from _cli_util import run


def test_bench_quick_prints_a_table_for_both_servers() -> None:
    result = run(["bench", "--quick", "--clients", "2"], timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    for expected in ("requests/s", "MB/s", "sync TcpServer", "aio TcpServer"):
        assert expected in out
    # Not a terminal: plain progress lines, no carriage-return redraws.
    assert b"\r" not in result.stderr
    assert b"measuring sync TcpServer" in result.stderr


def test_bench_json_only_aio() -> None:
    result = run(
        [
            "bench",
            "--seconds",
            "0.3",
            "--clients",
            "1",
            "--size",
            "1000",
            "--only",
            "aio",
            "--json",
        ]
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data["results"]) == ["aio"]
    aio = data["results"]["aio"]
    assert aio["requests_per_s"] > 0
    assert aio["errors"] == 0
    assert abs(aio["mb_per_s"] - aio["requests_per_s"] * 1000 / 1e6) < 1e-6


def test_bench_misuse() -> None:
    assert run(["bench", "--seconds", "0"]).returncode == 2
    assert run(["bench", "--only", "trio"]).returncode == 2
