"""docs/testing.md: every code block runs as written, and prints what its comments say.

Blocks that define pytest tests run under pytest in a subprocess (with this suite's
hermetic guard, through PYTHONPATH); the others run here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from netkit.lookup import SystemResolver, get_resolver

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
SCRIPTS = [block for block in BLOCKS if "def test_" not in block]
PYTEST_FILES = [block for block in BLOCKS if "def test_" in block]


def test_the_page_has_its_examples() -> None:
    assert len(SCRIPTS) >= 4
    assert len(PYTEST_FILES) >= 1
    text = DOC.read_text(encoding="utf-8")
    for heading in ("## Names without DNS", "## Checking a connection", "## Memory pairs"):
        assert heading in text


@pytest.mark.parametrize("index", range(len(SCRIPTS)))
def test_script_prints_its_comments(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = SCRIPTS[index]
    exec(compile(code, f"testing.md block {index}", "exec"), {"__name__": "__snippet__"})
    printed = capsys.readouterr().out.splitlines()
    # Each print(...) is followed by "# <exactly what it prints>".
    assert printed == re.findall(r"print\(.*\)\s+# (.+)$", code, re.M)
    assert type(get_resolver()) is SystemResolver  # no fake left behind


@pytest.mark.parametrize("index", range(len(PYTEST_FILES)))
def test_pytest_example_passes(index: int, tmp_path: Path) -> None:
    (tmp_path / "test_example.py").write_text(PYTEST_FILES[index], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b[1-9]\d* passed", done.stdout), done.stdout
