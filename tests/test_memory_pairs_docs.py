"""The memory-pair docs section runs: every python block, and it prints what it says.

Each ``print(...)`` in a block is followed by ``# <the line it prints>``; the printed
lines must be exactly those, in order.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "_memory_pairs_section.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)

pytestmark = pytest.mark.timeout(60)


def test_the_section_has_runnable_blocks() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_block_runs_and_prints_its_comments(
    index: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = BLOCKS[index]
    exec(compile(code, f"{DOC.name} block {index}", "exec"), {"__name__": "__doc_block__"})
    printed = capsys.readouterr().out.splitlines()
    expected = re.findall(r"print\(.*\)\s+# (.+)", code)
    assert printed == expected
