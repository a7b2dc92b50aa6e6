"""docs/design.md: its example runs, and its module table matches netkit._core."""

from __future__ import annotations

import re
from pathlib import Path

import netkit._core

DOC = Path(__file__).resolve().parent.parent / "docs" / "design.md"


def test_the_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2  # the stream table's checker, then the message table's
    for block in blocks:
        exec(compile(block, "design.md", "exec"), {"__name__": "__snippet__"})


def test_the_module_table_names_every_core_module() -> None:
    listed = set(re.findall(r"^\| `(\w+)` \|", DOC.read_text(), re.M))
    core = Path(netkit._core.__file__).parent
    modules = {p.stem for p in core.glob("*.py") if p.stem != "__init__"}
    assert listed == modules
