"""docs/proxy-protocol.md: its runnable snippet prints what the page says; the others
at least compile (they bind public ports or serve forever)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "proxy-protocol.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_page_has_its_snippets() -> None:
    assert len(SNIPPETS) == 3


def test_the_first_snippet_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = SNIPPETS[0]
    exec(compile(code, "proxy-protocol.md snippet 0", "exec"), {"__name__": "__doc__"})
    expected = re.findall(r"print\(.*\)\s+# (.+)", code)
    assert expected == ["hello 203.0.113.7:40000"]
    assert capsys.readouterr().out.splitlines() == expected


@pytest.mark.parametrize("index", [1, 2])
def test_the_other_snippets_compile(index: int) -> None:
    compile(SNIPPETS[index], f"proxy-protocol.md snippet {index}", "exec")
