"""The package itself: version, exports, typing marker, layering."""

from __future__ import annotations

import importlib
import pathlib

import pytest

import netkit
import netkit.errors as errors

SRC = pathlib.Path(netkit.__file__).parent


def test_version_is_a_string() -> None:
    assert isinstance(netkit.__version__, str)
    assert netkit.__version__[0].isdigit()


def test_py_typed_is_shipped() -> None:
    assert (SRC / "py.typed").is_file()


def test_all_matches_the_lazy_table() -> None:
    eager = {name for name in errors.__all__ if name != "describe"} | {"__version__"}
    assert sorted(netkit.__all__) == sorted(eager | set(netkit._LAZY))


def test_every_public_name_resolves() -> None:
    for name in netkit.__all__:
        assert getattr(netkit, name) is not None, name
    assert set(netkit.__all__) <= set(dir(netkit))


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        netkit.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_error_hierarchy_keeps_builtin_catching() -> None:
    assert issubclass(errors.AddressError, ValueError)
    assert issubclass(errors.LookupFailed, OSError)
    assert issubclass(errors.ConnectFailed, ConnectionError)
    assert issubclass(errors.ConnectionClosed, ConnectionError)
    assert issubclass(errors.NetkitTimeout, TimeoutError)
    assert issubclass(errors.FrameTooLarge, ValueError)
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.NetkitError)


def test_error_payloads() -> None:
    closed = errors.ConnectionClosed("eof", partial=b"ab")
    assert closed.partial == b"ab"
    failed = errors.ConnectFailed("none", [("1.2.3.4:80", OSError("x"))])
    assert len(failed.attempts) == 1
    big = errors.FrameTooLarge("big", limit=3, size=4)
    assert (big.limit, big.size) == (3, 4)


def test_describe_is_bounded() -> None:
    huge = "x" * 1_000_000
    text = errors.describe(huge)
    assert len(text) < 200
    assert "1000000" in text
    assert errors.describe("ab") == "'ab'"
    assert len(errors.describe(b"\x00" * 10_000)) < 400
    assert errors.describe(10**5000).endswith("-bit integer>")
    assert errors.describe(12) == "12"


def test_modules_import() -> None:
    for mod in ("netkit.errors", "netkit.framing", "netkit.cli"):
        assert importlib.import_module(mod) is not None
