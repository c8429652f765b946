"""ltrobust: audit and train adversarially robust classifiers on long-tailed data.

``ltrobust.audit(model, dataset=..., attacks=...)`` returns an
:class:`ltrobust.report.AuditReport`. Heavy modules (torch) load on first use, so reading
reports stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    if name == "audit":
        return importlib.import_module("ltrobust.audit")
    raise AttributeError(f"module 'ltrobust' has no attribute {name!r}")
