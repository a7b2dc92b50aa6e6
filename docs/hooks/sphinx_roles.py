"""MkDocs hook: show Sphinx cross-reference roles in docstrings as plain code.

netkit's docstrings use reStructuredText roles (``:class:`~netkit.errors.X```) that read
well in ``help()`` and IDEs; mkdocstrings renders docstrings as Markdown, which leaves
``:class:`` in front of the code. This drops the role and, for ``~``, keeps the last
dotted part, as Sphinx would.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(~?)([^<]*)</code>"
)


def _replace(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(_replace, html)
