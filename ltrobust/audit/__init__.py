"""The audit: clean and attacked evaluation with per-sample worst case, per class and group.

This package is itself callable, so ``ltrobust.audit(model, dataset=..., attacks=...)`` works
as the Python API (:func:`ltrobust.audit.api.audit`) while ``ltrobust.audit.AuditConfig`` etc.
stay importable. Names load lazily: :mod:`ltrobust.audit.config` is torch-free.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from ltrobust.lazy import exports

if TYPE_CHECKING:
    from ltrobust.attacks.registry import DEFAULT_ATTACKS
    from ltrobust.audit.api import audit
    from ltrobust.audit.config import AuditConfig, DiagnosticsConfig, Thresholds
    from ltrobust.audit.runner import AuditParts, run_audit, worst_case_predictions
    from ltrobust.audit.session import AuditSession, DataInfo

_WHERE = {
    "DEFAULT_ATTACKS": "ltrobust.attacks.registry",
    "audit": "ltrobust.audit.api",
    **dict.fromkeys(("AuditConfig", "DiagnosticsConfig", "Thresholds"), "ltrobust.audit.config"),
    **dict.fromkeys(("AuditParts", "run_audit", "worst_case_predictions"), "ltrobust.audit.runner"),
    **dict.fromkeys(("AuditSession", "DataInfo"), "ltrobust.audit.session"),
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, globals(), _WHERE)


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Same as :func:`ltrobust.audit.api.audit`."""
        return self.audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
