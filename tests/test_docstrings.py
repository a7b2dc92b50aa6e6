"""Every public callable documents itself in Google style, as the reference renders it.

The public surface is what the API reference shows: the modules named by ``:::`` lines in
docs/reference/*.md (members: the module's ``__all__``), plus ``netkit.__all__`` and
``netkit.aio.__all__``; for each class, its public methods and properties, inherited ones
from netkit's own base classes included (the reference shows them too). For each:

- a docstring (a method that only fills in a standard-library interface, such as
  ``asyncio.Transport.write``, may go without: the reference leaves it out);
- an ``Args:`` section when it takes parameters (``self``/``cls`` aside), naming only
  parameters that exist (for a class: its constructor's; a dataclass or named tuple may
  list its fields under ``Attributes:`` instead);
- a ``Returns:`` section (``Yields:`` for a generator) when the annotated return is not
  None; a property's first line says what it returns, which is enough;
- a ``Raises:`` section whose entries name exception classes.

Sections are parsed with the standard library, so this runs with the ``test`` extra only.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import importlib
import inspect
import pathlib
import re
import types
from collections.abc import Iterator
from typing import Any

import pytest

import netkit

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"

# Modules allowed to miss sections for a while (say, a branch that converts them later);
# each must still have a problem (see the test below), so the list only shrinks.
ALLOWED_UNCONVERTED: frozenset[str] = frozenset()

_SECTION = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
_KNOWN_SECTIONS = {
    "Args": "args",
    "Arguments": "args",
    "Parameters": "args",
    "Params": "args",
    "Keyword Args": "args",
    "Keyword Arguments": "args",
    "Other Parameters": "args",
    "Returns": "returns",
    "Return": "returns",
    "Yields": "yields",
    "Raises": "raises",
    "Attributes": "attributes",
    "Examples": "other",
    "Example": "other",
    "Note": "other",
    "Notes": "other",
    "Warning": "other",
    "Warnings": "other",
    "Warns": "other",
    "See Also": "other",
    "Receives": "other",
}
_ITEM = re.compile(r"^(\*{0,2}[A-Za-z_][\w.]*)(?:\s*\([^)]*\))?\s*:(?:\s|$)")


def parse_sections(doc: str) -> dict[str, list[str]]:
    """Map section kind (args, returns, raises, ...) to its item names (or lines).

    A section starts at an unindented ``Title:`` line that follows a blank line (or opens
    the docstring), as griffe's Google parser wants; its items are the lines indented one
    level deeper than the title.
    """
    lines = inspect.cleandoc(doc).splitlines()
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for index, line in enumerate(lines):
        match = _SECTION.match(line)
        starts = match is not None and match.group(1) in _KNOWN_SECTIONS
        if starts and (index == 0 or not lines[index - 1].strip()):
            assert match is not None
            current = _KNOWN_SECTIONS[match.group(1)]
            sections.setdefault(current, [])
            continue
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = None
            continue
        if current is None:
            continue
        body = line[4:] if line.startswith("    ") else line.lstrip()
        if body.startswith(" "):
            continue  # a continuation line
        if current in ("args", "attributes", "raises"):
            item = _ITEM.match(body)
            sections[current].append(item.group(1) if item else "<malformed: " + body + ">")
        else:
            sections[current].append(body)
    return sections


def _documented_modules() -> list[str]:
    names: list[str] = []
    for page in sorted(REFERENCE.glob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith(":::"):
                names.append(line[3:].strip())
    return names


def _import_object(path: str) -> Any:
    """The module or object a ``:::`` identifier names."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, attr = path.rpartition(".")
        return getattr(_import_object(module), attr)


def _is_netkit(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "")).startswith("netkit")


def _entries() -> Iterator[tuple[str, str, Any, Any]]:
    """Yield (defining module, qualified name, raw object, owner class or None)."""
    seen: set[str] = set()
    roots: list[Any] = []
    for name in ["netkit", "netkit.aio", *_documented_modules()]:
        target = _import_object(name)
        if isinstance(target, types.ModuleType):
            roots.extend(getattr(target, attr) for attr in target.__all__)
        else:
            roots.append(target)  # a page may document one object of a module

    def emit(obj: Any, owner: Any) -> Iterator[tuple[str, str, Any, Any]]:
        func = obj.fget if isinstance(obj, property) else obj
        func = getattr(func, "__func__", func)
        module = getattr(func, "__module__", None) or ""
        qualname = getattr(func, "__qualname__", None) or ""
        if not module.startswith("netkit") or not qualname:
            return
        key = f"{module}.{qualname}"
        if key in seen:
            return
        seen.add(key)
        yield module, qualname, obj, owner

    for root in roots:
        if isinstance(root, type):
            if not _is_netkit(root):
                continue
            yield from emit(root, None)
            for klass in root.__mro__:
                if not _is_netkit(klass):
                    continue
                for attr, raw in vars(klass).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(raw, (types.FunctionType, staticmethod, classmethod, property)):
                        yield from emit(raw, klass)
        elif callable(root):
            yield from emit(root, None)


def _constructor_class(cls: type) -> type | None:
    """The class whose ``__init__`` (or ``__new__``) builds instances of *cls*."""
    for klass in cls.__mro__:
        if "__init__" in vars(klass) or "__new__" in vars(klass):
            return klass if _is_netkit(klass) else None
    return None


def _signature_names(obj: Any, owner: Any) -> list[str] | None:
    """The documented-parameter names of *obj* (``*args`` spelled with its stars)."""
    target = obj
    skip_first = False
    if isinstance(obj, type):
        if issubclass(obj, enum.Enum) or getattr(obj, "_is_protocol", False):
            return []  # not built by calling the class with arguments
        if _constructor_class(obj) is None:
            return []  # a builtin constructor (an exception's message)
    elif isinstance(obj, staticmethod):
        target = obj.__func__
    elif isinstance(obj, classmethod):
        target, skip_first = obj.__func__, True
    elif owner is not None:
        skip_first = True
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # pragma: no cover - no signature to check
        return None
    params = list(signature.parameters.values())
    if skip_first and params:
        params = params[1:]
    names = []
    for param in params:
        if param.kind is param.VAR_POSITIONAL:
            names.append("*" + param.name)
        elif param.kind is param.VAR_KEYWORD:
            names.append("**" + param.name)
        else:
            names.append(param.name)
    return names


def _init_doc(cls: type) -> str:
    """The docstring of the ``__init__`` that builds *cls* (maybe inherited), or ``""``."""
    maker = _constructor_class(cls)
    init = None if maker is None else vars(maker).get("__init__")
    return inspect.cleandoc(init.__doc__) if init is not None and init.__doc__ else ""


def _doc_of(obj: Any) -> str:
    if isinstance(obj, type):
        # What the reference shows: the class's docstring, then its constructor's
        # (merge_init_into_class; an inherited __init__ included).
        parts = [inspect.cleandoc(obj.__doc__ or ""), _init_doc(obj)]
        return "\n\n".join(part for part in parts if part)
    func = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    return func.__doc__ or ""


def _returns_something(obj: Any) -> tuple[bool, bool]:
    """(returns a value, is a generator) from the annotation."""
    func = getattr(obj, "__func__", obj)
    annotation = inspect.signature(func).return_annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if annotation is inspect.Signature.empty or annotation is None or text in ("None",):
        return False, False
    generator = inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func)
    if text in ("NoReturn", "Never"):
        return False, False
    return True, generator


def _exception_named(name: str, obj: Any) -> bool:
    func = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    if isinstance(obj, type):
        namespace = vars(importlib.import_module(obj.__module__))
    else:
        namespace = getattr(func, "__globals__", {})
    head, _, rest = name.partition(".")
    candidates: list[Any] = []
    for source in (namespace, vars(builtins), vars(netkit.errors)):
        if head in source:
            candidates.append(source[head])
    if not candidates:
        try:
            candidates.append(importlib.import_module(head))
        except ImportError:
            return False
    for found in candidates:
        for part in rest.split(".") if rest else []:
            found = getattr(found, part, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            return True
    return False


def _implements_foreign(obj: Any, owner: Any) -> bool:
    """True for a method that fills in a standard-library interface (``asyncio.Transport``)."""
    if owner is None or isinstance(obj, type):
        return False
    func = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    name = getattr(func, "__name__", "")
    if name.startswith("__"):
        return False  # a constructor: every class has one
    return any(not _is_netkit(klass) and hasattr(klass, name) for klass in owner.__mro__[1:])


def problems_of(module: str, qualname: str, obj: Any, owner: Any) -> list[str]:
    """What is missing or wrong in the docstring of one public object."""
    where = f"{module}.{qualname}"
    doc = _doc_of(obj)
    if not doc.strip():
        if _implements_foreign(obj, owner):
            return []  # documented by the interface; the reference skips it
        return [f"{where}: no docstring"]
    if isinstance(obj, property):
        return []
    out: list[str] = []
    sections = parse_sections(doc)
    names = _signature_names(obj, owner)
    documented = sections.get("args", [])
    if isinstance(obj, type) and (dataclasses.is_dataclass(obj) or hasattr(obj, "_fields")):
        documented = documented + sections.get("attributes", [])
    if (
        isinstance(obj, type)
        and "args" in parse_sections(_init_doc(obj))
        and "args" in parse_sections(inspect.cleandoc(obj.__doc__ or ""))
    ):
        out.append(f"{where}: Args both in the class and in its __init__ (shown twice)")
    if names:
        if not documented:
            out.append(f"{where}: takes {', '.join(names)} but has no Args section")
        else:
            missing = [name for name in names if name not in documented]
            if missing:
                out.append(f"{where}: Args misses {', '.join(missing)}")
    if names is not None:
        unknown = [name for name in sections.get("args", []) if name not in names]
        if unknown:
            out.append(f"{where}: Args names what the signature lacks: {', '.join(unknown)}")
    if not isinstance(obj, type):
        value, generator = _returns_something(obj)
        wanted = "yields" if generator else "returns"
        if value and not sections.get(wanted):
            out.append(f"{where}: returns a value but has no {wanted.capitalize()} section")
    for name in sections.get("raises", []):
        if not _exception_named(name, obj):
            out.append(f"{where}: Raises entry {name!r} is not an exception class")
    return out


def test_the_public_surface_is_found() -> None:
    found = {f"{module}.{qualname}" for module, qualname, _, _ in _entries()}
    for name in (
        "netkit.addr.parse_endpoint",
        "netkit.tcp.client.TcpClient.connect",
        "netkit.aio.client.TcpClient.connect",
        "netkit.framing.ReceiveBuffer",
        "netkit.testing.check_connection_pair",
    ):
        assert name in found
    assert len(found) > 300


def test_every_public_callable_has_google_sections() -> None:
    problems: list[str] = []
    for module, qualname, obj, owner in _entries():
        if module in ALLOWED_UNCONVERTED:
            continue
        problems.extend(problems_of(module, qualname, obj, owner))
    assert not problems, f"{len(problems)} docstring problems:\n" + "\n".join(problems)


def test_the_allow_list_names_only_modules_with_problems() -> None:
    """An allow-listed module that is done leaves the list (so the list only shrinks)."""
    failing = {
        module
        for module, qualname, obj, owner in _entries()
        if module in ALLOWED_UNCONVERTED and problems_of(module, qualname, obj, owner)
    }
    assert failing == ALLOWED_UNCONVERTED


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            """Summary.

            Args:
                host: the host.
                    More about it.
                *args: extra.
                port (int): the port.

            Returns:
                The thing.

            Raises:
                ValueError: when bad.
            """,
            {
                "args": ["host", "*args", "port"],
                "returns": ["The thing."],
                "raises": ["ValueError"],
            },
        ),
        # A section title glued to the paragraph above is prose to griffe: not a section.
        ("Summary.\nArgs:\n    host: the host.\n", {}),
        ("Summary.\n\nArgs:\nnot indented\n", {"args": []}),
    ],
)
def test_parse_sections(doc: str, expected: dict[str, list[str]]) -> None:
    assert parse_sections(doc) == expected


def test_problems_are_reported() -> None:
    def undocumented(host: str, port: int) -> int:
        """Do a thing.

        Args:
            host: the host.
            nothing: not a parameter.

        Raises:
            NotAnError: never.
        """
        return port

    found = problems_of("m", "undocumented", undocumented, None)
    assert any("Args misses port" in p for p in found)
    assert any("nothing" in p for p in found)
    assert any("no Returns section" in p for p in found)
    assert any("NotAnError" in p for p in found)
