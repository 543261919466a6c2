"""Names a package re-exports for older callers, loaded on first use (PEP 562 module ``__getattr__``).

A package split into modules keeps ``from package import name`` working; importing the names eagerly in its
``__init__`` would run every module of the package whenever one of them is imported, and could close an import
cycle through that file. ``lazy_exports`` gives the package a ``__getattr__`` and a ``__dir__`` that import the
module holding a name only when the name is first asked for.
"""
from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, homes: dict[str, tuple[str, str]]):
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``homes`` map each name to (module, attribute)."""

    def __getattr__(name: str):
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = homes[name]
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)   # asked once: later lookups find it directly
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(homes))

    return __getattr__, __dir__
