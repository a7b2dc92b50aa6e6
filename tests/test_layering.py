"""The package's layering, read from the imports of every module (CONTRACT.md "Layers",
"One core, two faces"): a lower layer never imports a higher one, the IO-free core never
imports a face, and neither face imports the other."""

from __future__ import annotations

import ast
import pathlib

import netkit

SRC = pathlib.Path(netkit.__file__).parent

# Longest matching prefix wins; a module may import its own rank or lower.
_RANK = {
    "netkit.errors": 0,
    "netkit._version": 0,
    "netkit.addr": 1,
    "netkit._addrtext": 1,
    "netkit.byteorder": 1,
    "netkit._services": 1,
    "netkit._protocols": 1,
    "netkit._core.checks": 1,
    "netkit._core.limits": 1,
    "netkit.framing": 2,
    "netkit.proxy": 2,
    "netkit.lookup": 2,
    "netkit._fake_resolver": 2,
    "netkit.options": 2,
    "netkit.tls": 2,
    "netkit._core": 3,
    "netkit._sockets": 4,
    "netkit.tcp": 5,
    "netkit.udp": 5,
    "netkit.unix": 5,
    "netkit.icmp": 5,
    "netkit.aio": 5,
    "netkit.testing": 6,
    "netkit.aio.testing": 5,
    "netkit.cli": 7,
    "netkit.__main__": 7,
}
# The two faces over the core; a module of one never imports a module of the other.
_FACE = {
    "netkit.tcp": "sync",
    "netkit.udp": "sync",
    "netkit.unix": "sync",
    "netkit.icmp": "sync",
    "netkit.aio": "aio",
}


def _lookup(table: dict[str, object], module: str) -> object:
    best = None
    for prefix in table:
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best)
        ):
            best = prefix
    return None if best is None else table[best]


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (no import at run time)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def _imports(path: pathlib.Path) -> list[str]:
    names: list[str] = []
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return [n for n in names if n == "netkit" or n.startswith("netkit.")]


def _modules() -> list[tuple[str, pathlib.Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def _violations() -> list[str]:
    found = []
    for module, path in _modules():
        rank = _lookup(_RANK, module)
        if rank is None:
            continue
        face = _lookup(_FACE, module)
        for target in _imports(path):
            target_rank = _lookup(_RANK, target)
            if target_rank is not None and target_rank > rank:  # type: ignore[operator]
                found.append(f"{module} imports {target} (a higher layer)")
            target_face = _lookup(_FACE, target)
            if face is not None and target_face is not None and target_face != face:
                found.append(f"{module} imports {target} (the other face)")
    return found


def test_every_module_has_a_layer() -> None:
    unranked = [m for m, _ in _modules() if m != "netkit" and _lookup(_RANK, m) is None]
    assert unranked == [], f"give these modules a layer in _RANK: {unranked}"


def test_layering() -> None:
    assert _violations() == []


def test_the_checker_sees_violations(tmp_path: pathlib.Path) -> None:
    # The rules themselves: a face importing the other face, the core importing a face.
    assert _lookup(_FACE, "netkit.aio.client") == "aio"
    assert _lookup(_RANK, "netkit._core.checks") == 1
    assert _lookup(_RANK, "netkit._core.stream") == 3
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "from netkit.tcp import client\nimport netkit.aio.server\n"
        "if TYPE_CHECKING:\n    from netkit.cli import main\n"
    )
    assert _imports(bad) == ["netkit.tcp", "netkit.tcp.client", "netkit.aio.server"]
