"""docs/unix.md: its Python snippets run as written and print what the page says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "unix.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_page_has_snippets() -> None:
    assert len(SNIPPETS) >= 4


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs(index: int, tmp_path: Path) -> None:
    code = SNIPPETS[index]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # Each print(...) is followed by "# <what it prints>": check the start of it.
    for expected in re.findall(r"print\(.*\)\s+# (.+)", code):
        head = expected.split(" (")[0].split(":")[0].strip()
        assert head in done.stdout, (expected, done.stdout)
