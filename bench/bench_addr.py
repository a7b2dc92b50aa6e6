"""Address validation speed: netkit.addr vs ipaddress vs the bare inet_pton floor.

Run by hand (never in the test suite):

    .venv/bin/python bench/bench_addr.py            # full run, about 20 s
    .venv/bin/python bench/bench_addr.py --quick    # a few seconds
    .venv/bin/python bench/bench_addr.py --json bench/results/addr.json
    .venv/bin/python bench/bench_addr.py --table    # the table in docs/addresses.md

Every row times one pass over a fixed corpus and reports operations per second (best of
several repeats, so a busy machine shows its least-disturbed run) and the ratios that
matter: netkit over ``ipaddress`` (the speedup; targets: validation >= 10x, canonical
text >= 8x) and the bare C call over netkit (the price of netkit's checks and call).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import socket
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from netkit import addr
from netkit.errors import AddressError

# Typical user input: mostly well formed, with the mistakes people and attackers make.
VALID_V4 = [
    "127.0.0.1", "10.0.0.1", "192.168.1.254", "8.8.8.8", "255.255.255.255", "0.0.0.0",
    "169.254.169.254", "203.0.113.7", "100.64.0.1", "1.2.3.4",
]  # fmt: skip
VALID_V6 = [
    "::1", "::", "fe80::1", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "::ffff:192.0.2.1",
    "2606:4700:4700::1111", "fd00::abcd:1", "1:2:3:4:5:6:7:8", "64:ff9b::808:808",
]  # fmt: skip
INVALID = [
    "", "localhost", "example.com", "127.1", "010.8.8.8", "1.2.3.4\n", " 1.2.3.4",
    "256.1.1.1", "1.2.3", "0x7f.0.0.1", "1::2::3", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0",
    "12345::", "::ffff:01.2.3.4", "not an ip", "1.2.3.4:80", "[::1]", "\u0661.2.3.4",
    "1.2.3.4\x00",
]  # fmt: skip
MIXED = VALID_V4 + VALID_V6 + INVALID
VALID = VALID_V4 + VALID_V6

_AF4, _AF6 = socket.AF_INET, socket.AF_INET6
_pton, _ntop = socket.inet_pton, socket.inet_ntop


def _loop_call(func: Callable[[str], object], corpus: list[str]) -> Callable[[], None]:
    def run() -> None:
        for text in corpus:
            func(text)

    return run


def _loop_raising(func: Callable[[str], object], corpus: list[str]) -> Callable[[], None]:
    def run() -> None:
        for text in corpus:
            try:
                func(text)
            except ValueError:  # ipaddress's error and netkit's AddressError
                pass

    return run


def _bare_v4(corpus: list[str]) -> Callable[[], None]:
    def run() -> None:
        for text in corpus:
            try:
                _pton(_AF4, text)
            except (OSError, ValueError):
                pass

    return run


def _bare_v6(corpus: list[str]) -> Callable[[], None]:
    def run() -> None:
        for text in corpus:
            try:
                _pton(_AF6, text)
            except (OSError, ValueError):
                pass

    return run


def _bare_ip(corpus: list[str]) -> Callable[[], None]:
    def run() -> None:
        for text in corpus:
            try:
                _pton(_AF6 if ":" in text else _AF4, text)
            except (OSError, ValueError):
                pass

    return run


def _bare_text(corpus: list[str]) -> Callable[[], None]:
    def run() -> None:
        for text in corpus:
            try:
                if ":" in text:
                    _ntop(_AF6, _pton(_AF6, text))
                else:
                    _ntop(_AF4, _pton(_AF4, text))
            except (OSError, ValueError):
                pass

    return run


def _calibrate(run: Callable[[], None], seconds: float) -> int:
    """How many calls of *run* take about *seconds*."""
    loops = 1
    while True:
        elapsed = timeit.timeit(run, number=loops)
        if elapsed >= seconds / 4 or loops >= 1 << 20:
            return max(1, int(loops * seconds / max(elapsed, 1e-9)))
        loops *= 2


def _rates(
    runs: list[Callable[[], None]], count: int, seconds: float, repeats: int
) -> list[list[float]]:
    """Operations per second of each run, one rate per repeat, the runs interleaved.

    Interleaving means a burst of load from other processes hits every peer alike,
    so the ratios stay meaningful on a shared machine.
    """
    loops = [_calibrate(run, seconds) for run in runs]
    rates: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            rates[i].append(count * loops[i] / timeit.timeit(run, number=loops[i]))
    return rates


def _machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}, "
        f"load average {load:.2f} at start"
    )


TABLE_INPUTS = [
    "127.0.0.1", "127.1", "0127.0.0.1", "010.8.8.8", "0x7f.0.0.1", "2130706433",
    "256.1.1.1", "1.2.3.4\n", " 1.2.3.4", "1.2.3.4 junk", "1.2.3.4\x00",
    "\u0661\u0662\u0667.0.0.1", "\uff11\uff12\uff17.0.0.1", "2001:DB8::0:1",
    "::ffff:1.2.3.4", "::1.2.3.4", "::ffff:01.2.3.4", "1::2::3", "12345::",
    "fe80::1%eth0", "fe80::1%eth0\n", "fe80::1%",
]  # fmt: skip


def _outcome(func: Callable[[str], str], text: str) -> str:
    try:
        result = func(text)
    except (OSError, ValueError) as exc:
        return "error" if not isinstance(exc, AddressError) else "**refused**"
    return f"`{result}`" if result.isprintable() else f"`{result!a}` (sic)"


def _aton(text: str) -> str:
    return socket.inet_ntoa(socket.inet_aton(text))


def _pton_either(text: str) -> str:
    family = _AF6 if ":" in text else _AF4
    return _ntop(family, _pton(family, text))


def print_table() -> None:
    """The tricky-input table of docs/addresses.md, computed on this machine."""
    print(f"Python {platform.python_version()}, {platform.libc_ver()[0]} {platform.libc_ver()[1]}")
    print()
    print("| input | netkit `normalize_ip` | `inet_aton` | `inet_pton` | `ipaddress.ip_address` |")
    print("|---|---|---|---|---|")
    for text in TABLE_INPUTS:
        shown = ascii(text).replace("|", "\\|")
        cells = [
            _outcome(addr.normalize_ip, text),
            _outcome(_aton, text),
            _outcome(_pton_either, text),
            _outcome(lambda t: str(ipaddress.ip_address(t)), text),
        ]
        print(f"| `{shown}` | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (a few seconds)")
    parser.add_argument(
        "--table", action="store_true", help="print the tricky-input table for the docs instead"
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the rates as JSON to PATH"
    )
    args = parser.parse_args(argv)
    if args.table:
        print_table()
        return 0
    seconds, repeats = (0.03, 3) if args.quick else (0.1, 15)

    print(f"machine: {_machine()}")
    print(f"netkit fast path on the C library: {addr.C_LIBRARY_STRICT}")
    print(
        f"corpus: {len(MIXED)} inputs ({len(VALID_V4)} IPv4, {len(VALID_V6)} IPv6, "
        f"{len(INVALID)} invalid); canonical text on the {len(VALID)} valid ones"
    )
    print(f"timing: best of {repeats} interleaved repeats of ~{seconds}s each\n")

    rows: list[tuple[str, str, Callable[[], None], Callable[[], None], Callable[[], None]]] = [
        (
            "is_ipv4",
            "ipaddress.IPv4Address",
            _loop_call(addr.is_ipv4, MIXED),
            _loop_raising(ipaddress.IPv4Address, MIXED),
            _bare_v4(MIXED),
        ),
        (
            "is_ipv6",
            "ipaddress.IPv6Address",
            _loop_call(addr.is_ipv6, MIXED),
            _loop_raising(ipaddress.IPv6Address, MIXED),
            _bare_v6(MIXED),
        ),
        (
            "is_ip",
            "ipaddress.ip_address",
            _loop_call(addr.is_ip, MIXED),
            _loop_raising(ipaddress.ip_address, MIXED),
            _bare_ip(MIXED),
        ),
        (
            "normalize_ip (valid)",
            "str(ipaddress.ip_address)",
            _loop_call(addr.normalize_ip, VALID),
            _loop_call(lambda t: str(ipaddress.ip_address(t)), VALID),
            _bare_text(VALID),
        ),
        (
            "normalize_ip (mixed)",
            "str(ipaddress.ip_address)",
            _loop_raising(addr.normalize_ip, MIXED),
            _loop_raising(lambda t: str(ipaddress.ip_address(t)), MIXED),
            _bare_text(MIXED),
        ),
    ]
    header = (
        f"{'operation':<22} {'netkit/s':>11} {'ipaddress/s':>12} {'bare C/s':>11}"
        f" {'netkit/ipaddress':>17} {'bare/netkit':>12}  peer"
    )
    print(header)
    print("-" * len(header))
    start = time.monotonic()
    results: dict[str, dict[str, dict[str, object]]] = {}
    for name, peer, ours, theirs, bare in rows:
        count = len(VALID) if "(valid)" in name else len(MIXED)
        all_rates = _rates([ours, theirs, bare], count, seconds, repeats)
        r_ours, r_theirs, r_bare = (max(r) for r in all_rates)  # best of the repeats
        results[name] = {
            who: {
                "median": statistics.median(r),
                "best": max(r),
                "unit": "ops/s",
                "spread": round((max(r) - min(r)) / statistics.median(r), 4),
                "runs": r,
            }
            for who, r in zip(("netkit", peer, "bare inet_pton"), all_rates, strict=True)
        }
        print(
            f"{name:<22} {r_ours:>11,.0f} {r_theirs:>12,.0f} {r_bare:>11,.0f}"
            f" {r_ours / r_theirs:>16.1f}x {r_bare / r_ours:>11.2f}x  {peer}",
            flush=True,
        )
    print(f"\ntotal {time.monotonic() - start:.1f}s; command: {' '.join(sys.argv)}")
    if args.json:
        meta = {"machine": _machine(), "command": " ".join(sys.argv), "corpus": len(MIXED)}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
