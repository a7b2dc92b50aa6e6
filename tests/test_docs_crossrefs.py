"""The griffe extension that turns docstring roles into reference links (docs/hooks).

``mkdocs build --strict`` proves that every link it makes resolves; this checks what it
makes: a link to the canonical path of a role's target, resolved in the scope of the
documented object, plain code for what is not netkit's, an optional link for what the
reference may not show. Needs griffe (the ``docs`` extra); skipped without it.
"""

from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType
from typing import Any

import pytest

griffe = pytest.importorskip("griffe")

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "netkit_docs_crossrefs", ROOT / "docs" / "hooks" / "crossrefs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup() -> tuple[ModuleType, Any, set[str]]:
    hook = _load_hook()
    loader = griffe.GriffeLoader(search_paths=[str(ROOT / "src")])
    loader.load("netkit")
    loader.resolve_aliases(implicit=False, external=False)
    shown: set[str] = set()
    for identifier in hook._documented():
        hook._shown(loader.modules_collection[identifier], shown)
    return hook, loader, shown


@pytest.mark.parametrize(
    ("where", "text", "expected"),
    [
        # ~ shows the last part; the link goes to the canonical path
        (
            "netkit.tcp.client.TcpClient",
            ":class:`~netkit.TcpConnection`",
            "[`TcpConnection`][netkit.tcp.connection.TcpConnection]",
        ),
        (
            "netkit.tcp.client.TcpClient.connect",
            ":func:`netkit.tls.client_context`",
            "[`netkit.tls.client_context`][netkit.tls.client_context]",
        ),
        # a bare name is looked up in the documented object's scope, then outwards
        (
            "netkit.tcp.connection.StreamConnection.recv_into",
            ":meth:`recv`",
            "[`recv`][netkit.tcp.connection.StreamConnection.recv]",
        ),
        (
            "netkit.lookup.resolve",
            ":func:`get_resolver`",
            "[`get_resolver`][netkit.lookup.get_resolver]",
        ),
        # an inherited member of the enclosing class counts (a property of the base)
        (
            "netkit.aio.connection.StreamConnection.recv_until",
            ":attr:`timeout`",
            "[`timeout`][netkit.aio._stream.AioStream.timeout]",
        ),
        # not netkit's, or not found: plain code, no link
        ("netkit.tcp.client.TcpClient.connect", ":class:`ssl.SSLContext`", "`ssl.SSLContext`"),
        ("netkit.lookup.resolve", ":func:`no_such_name`", "`no_such_name`"),
    ],
)
def test_roles_become_links(
    setup: tuple[ModuleType, Any, set[str]], where: str, text: str, expected: str
) -> None:
    hook, loader, shown = setup
    assert hook.rewrite(loader.modules_collection[where], loader, text, shown) == expected


def test_a_target_the_reference_does_not_show_is_an_optional_link(
    setup: tuple[ModuleType, Any, set[str]],
) -> None:
    hook, loader, shown = setup
    obj = loader.modules_collection["netkit.tcp.connection"]
    out = hook.rewrite(obj, loader, ":mod:`netkit._core.stream`", shown)
    assert out == (
        '<autoref identifier="netkit._core.stream" optional><code>netkit._core.stream</code>'
        "</autoref>"
    )


def test_the_shown_set_holds_reference_members(setup: tuple[ModuleType, Any, set[str]]) -> None:
    _, _, shown = setup
    assert "netkit.tcp.connection.TcpConnection" in shown
    assert "netkit.addr.parse_endpoint" in shown
    assert not any(path.startswith("netkit.cli") for path in shown)
