"""The snippets of docs/unix-datagrams.md run and print what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "unix-datagrams.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_page_has_snippets() -> None:
    assert len(SNIPPETS) >= 6


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_and_prints_its_comment(
    index: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = SNIPPETS[index]
    exec(compile(code, f"unix-datagrams.md snippet {index}", "exec"), {"__name__": "__doc__"})
    printed = capsys.readouterr().out
    # Each print(...) is followed by "# <what it prints>": check its start is printed.
    for expected in re.findall(r"print\(.*\)\s+# (.+)", code):
        head = expected.split("...")[0].split(" (")[0].strip()
        assert head in printed, (expected, printed)
