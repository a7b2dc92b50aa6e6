"""Griffe extension: turn Sphinx cross-reference roles in docstrings into links.

netkit's docstrings use reStructuredText roles (``:class:`~netkit.errors.X```,
``:meth:`recv```) because they read well in ``help()`` and IDEs. Before mkdocstrings
renders a docstring, each role becomes an mkdocs-autorefs reference to the object's
canonical path, resolved in the scope of the documented object (so ``:meth:`recv``` in a
method's docstring means the class's ``recv``), as Sphinx would:

- a target that the reference shows (an object named on a ``:::`` line of
  docs/reference/*.md, a member, by ``__all__``, of such a module, or a member of
  such a class) becomes
  ``[`X`][path]``, a required reference: if it is then not rendered after all (no
  docstring), ``mkdocs build --strict`` fails;
- any other target in netkit (``netkit._core...``, a private base class) becomes an
  optional reference: a link if the object turns out to be rendered, plain code if not;
- anything else (the standard library) stays plain code.

``~`` shows only the last dotted part, as in Sphinx. Configured in mkdocs.yml under the
python handler's ``extensions``.
"""

from __future__ import annotations

import html
import pathlib
import re
from typing import Any

from griffe import (
    AliasResolutionError,
    CyclicAliasError,
    Extension,
    GriffeLoader,
    Module,
    NameResolutionError,
    Object,
)

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(?P<tilde>[~!]?)(?P<target>[^`]+)`"
)


# docs/reference, next to this file's folder (whatever directory mkdocs runs from).
_REFERENCE = pathlib.Path(__file__).resolve().parent.parent / "reference"


def _documented() -> list[str]:
    """The identifiers of the ``:::`` lines of the reference pages."""
    names = []
    for page in sorted(_REFERENCE.glob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith(":::"):
                names.append(line[3:].strip())
    return names


def _shown(obj: Any, out: set[str]) -> None:
    """Add the canonical paths of *obj* and of the members the reference shows of it."""
    try:
        target = obj.final_target if obj.is_alias else obj
    except (AliasResolutionError, CyclicAliasError):
        return
    out.add(target.canonical_path)
    exports = None
    if target.is_module:
        exports = target.exports
        members = [
            member
            for name, member in target.members.items()
            if (name in exports if exports is not None else not member.is_alias)
        ]
    elif target.is_class:
        members = [m for name, m in target.all_members.items() if not name.startswith("_")]
    else:
        return
    for member in members:
        if not member.name.startswith("_") or member.name in (exports or ()):
            _shown(member, out)


def _lookup(obj: Object, loader: GriffeLoader, target: str) -> Any | None:
    """The griffe object *target* names in the scope of *obj*, or None."""
    target = target.lstrip(".")
    head, _, rest = target.partition(".")
    if head == "netkit":
        path = target
    else:
        # An enclosing class's member first, inherited ones included (``:attr:`timeout```
        # in a method of a subclass), as the reader of that class's page expects.
        scope: Any = obj
        while scope is not None and not scope.is_module:
            if scope.is_class and head in scope.all_members:
                found = scope.all_members[head]
                for part in rest.split(".") if rest else ():
                    found = found.all_members.get(part) if found.is_class else None
                    if found is None:
                        return None
                return found
            scope = scope.parent
        try:
            path = obj.resolve(head)
        except NameResolutionError:
            return None
        if rest:
            path = f"{path}.{rest}"
    try:
        return loader.modules_collection[path]
    except (KeyError, AliasResolutionError, CyclicAliasError, ValueError):
        return None


def _canonical(found: Any) -> str | None:
    try:
        path = found.canonical_path if not found.is_alias else found.final_target.canonical_path
    except (AliasResolutionError, CyclicAliasError):
        return None
    return path if path.startswith("netkit") else None


def rewrite(obj: Object, loader: GriffeLoader, text: str, shown: set[str]) -> str:
    """Replace every role in *text* (a docstring of *obj*) with a reference or code."""

    def replace(match: re.Match[str]) -> str:
        target = match.group("target")
        title = target.rsplit(".", 1)[-1] if match.group("tilde") == "~" else target
        found = _lookup(obj, loader, target)
        path = None if found is None else _canonical(found)
        if path is None:
            return f"`{title}`"
        if path not in shown:
            return (
                f'<autoref identifier="{html.escape(path)}" optional>'
                f"<code>{html.escape(title)}</code></autoref>"
            )
        return f"[`{title}`][{path}]"

    return _ROLE.sub(replace, text)


def _walk(obj: Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)  # type: ignore[arg-type]


class SphinxRolesToAutorefs(Extension):
    """Rewrite roles once the whole package is loaded (so every target can be found)."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        shown: set[str] = set()
        for identifier in _documented():
            try:
                _shown(loader.modules_collection[identifier], shown)
            except (KeyError, AliasResolutionError, CyclicAliasError):
                continue
        for obj in _walk(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = rewrite(obj, loader, obj.docstring.value, shown)
