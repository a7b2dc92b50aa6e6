"""Puts the hermetic guard (tests/_hermetic.py) into every Python subprocess of the tests.

tests/conftest.py adds this directory to ``PYTHONPATH``, so ``python -m netkit ...``,
the examples and the README snippets run with the same audit hook as the tests. Loaded
by path, so the test helpers do not become importable in the subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import sys

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_hermetic.py")
_spec = importlib.util.spec_from_file_location("_netkit_hermetic", _PATH)
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _module
    _spec.loader.exec_module(_module)
    _module.install(child=True)
