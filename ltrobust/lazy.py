"""Lazy re-exports for package ``__init__`` modules (PEP 562).

The packages that hold torch code (attacks, models, data, audit, train, bench) re-export their
public names lazily, so that importing a torch-free module inside them (a registry table, a
config dataclass) does not load torch: the CLI builds ``--help`` and validates names, and the
report side reads, renders and gates, without it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(
    package: str, namespace: dict[str, Any], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: name ``n`` is imported from module
    ``where[n]`` on first access and then cached in the package's ``namespace``."""

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *where})

    return getattr_, dir_
