"""The runnable snippets of docs/asyncio.md run and print what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "asyncio.md"
SNIPPETS = [
    block
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    if "async def main" in block
]


def test_the_page_has_runnable_snippets() -> None:
    assert len(SNIPPETS) >= 4


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_and_prints_its_comment(
    index: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = SNIPPETS[index]
    exec(compile(code, f"asyncio.md snippet {index}", "exec"), {"__name__": "__snippet__"})
    printed = capsys.readouterr().out
    # Each print(...) in a snippet is followed by "# <what it prints>"; check the start.
    for expected in re.findall(r"print\(.*\)\s+# (.+)", code):
        head = expected.split("...")[0].split(" (")[0].strip()
        assert head in printed
