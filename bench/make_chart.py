"""Draw the benchmark results as charts for the documentation.

Reads every ``bench/results/*.json`` written by ``bench/_harness.py`` (``{"meta": ...,
"results": {scenario: {server: {"median": ..., "unit": ..., "spread": ...}}}}``) and
writes one PNG per file to ``docs/img/<name>.png``: one panel per scenario, one bar per
server (netkit's bars highlighted), each labelled with its median. Files in another shape are skipped with a note,
and a missing results folder is not an error: the script draws what exists.

    python bench/make_chart.py                  # all results
    python bench/make_chart.py bench/results/tcp.json --out docs/img

Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "docs" / "img"

NETKIT_COLOUR = "#3f51b5"
OTHER_COLOUR = "#b0b7c3"


def load(path: Path) -> dict[str, Any] | None:
    """The parsed file if it has the harness's shape, else None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"skip {path}: {exc}", file=sys.stderr)
        return None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not results:
        print(f"skip {path}: no 'results' table", file=sys.stderr)
        return None
    for row in results.values():
        if not isinstance(row, dict) or not all(
            isinstance(m, dict) and isinstance(m.get("median"), (int, float)) for m in row.values()
        ):
            print(f"skip {path}: not in the bench/_harness.py format", file=sys.stderr)
            return None
    return data


def _is_netkit(server: str) -> bool:
    """netkit's own entries: "netkit ...", "netkit.aio ...", "threads, TcpConnection"."""
    return "netkit" in server.lower() or any(
        name in server for name in ("TcpConnection", "TcpServer", "TcpClient")
    )


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1e6:.2f}M"
    if value >= 10_000:
        return f"{value / 1e3:.0f}k"
    if value >= 1000:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def draw(data: dict[str, Any], name: str, title: str, out: Path) -> Path:
    """Write one chart for one results file; returns the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    results: dict[str, dict[str, dict[str, Any]]] = data["results"]
    scenarios = list(results)
    servers = max((list(row) for row in results.values()), key=len)
    height = 0.9 + sum(0.32 * len(results[s]) + 0.55 for s in scenarios)
    fig, axes = plt.subplots(
        len(scenarios),
        1,
        figsize=(8.0, height),
        squeeze=False,
        gridspec_kw={"height_ratios": [len(results[s]) + 1 for s in scenarios]},
    )
    for ax, scenario in zip(axes[:, 0], scenarios, strict=True):
        row = results[scenario]
        names = [name for name in servers if name in row]
        values = [float(row[name]["median"]) for name in names]
        unit = next((str(m.get("unit", "")) for m in row.values()), "")
        colours = [
            NETKIT_COLOUR if n.lower().startswith("netkit") else OTHER_COLOUR for n in names
        ]
        positions = list(range(len(names)))[::-1]
        ax.barh(positions, values, color=colours, height=0.7)
        ax.set_yticks(positions, names, fontsize=8)
        ax.set_title(f"{scenario}  ({unit}, higher is better)", fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: _fmt(x) if x else "0"))
        ax.spines[["top", "right"]].set_visible(False)
        top = max(values) if values and max(values) > 0 else 1.0
        ax.set_xlim(0, top * 1.22)
        for pos, value in zip(positions, values, strict=True):
            ax.text(value + top * 0.01, pos, _fmt(value), va="center", fontsize=7)
    meta = data.get("meta", {})
    machine = ", ".join(
        str(part)
        for part in (
            f"{meta['nproc']} cores" if "nproc" in meta else None,
            meta.get("cpu"),
            f"Python {meta['python']}" if "python" in meta else None,
            # The benchmark itself keeps both cores busy (load about 2): above that,
            # something else was running too.
            f"load average {meta['loadavg'][0]:.1f} (shared machine)"
            if isinstance(meta.get("loadavg"), list) and meta["loadavg"][0] >= 3
            else None,
        )
        if part
    )
    fig.suptitle(title, fontsize=11, x=0.02, ha="left")
    if machine:
        fig.text(0.02, 0.005, f"median of runs; {machine}", fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.02, 1, 0.98))
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.png"
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


TITLES = {
    "addr": "addr: address validation, operations per second",
    "tcp": "tcp: sync TCP servers, echo on loopback",
    "aio": "aio: asyncio TCP servers, echo on loopback",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="results files (default: all)")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (docs/img)")
    args = parser.parse_args(argv)
    files = args.files or sorted(RESULTS.glob("*.json"))
    if not files:
        print(f"no results in {RESULTS}: run the benchmarks first", file=sys.stderr)
        return 0
    written = 0
    for path in files:
        data = load(path)
        if data is None:
            continue
        title = TITLES.get(path.stem, f"{path.stem}: benchmark results")
        print(f"{path} -> {draw(data, path.stem, title, args.out)}")
        written += 1
    return 0 if written or not args.files else 1


if __name__ == "__main__":
    sys.exit(main())
