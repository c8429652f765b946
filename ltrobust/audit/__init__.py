"""The audit: clean and attacked evaluation with per-sample worst case, per class and group.

This package is itself callable, so ``ltrobust.audit(model, dataset=..., attacks=...)`` works
as the Python API while ``ltrobust.audit.run_audit`` etc. stay importable.
"""

import sys
import types

from ltrobust.audit.api import audit
from ltrobust.audit.runner import DEFAULT_ATTACKS, AuditConfig, run_audit, worst_case_predictions

__all__ = ["DEFAULT_ATTACKS", "AuditConfig", "audit", "run_audit", "worst_case_predictions"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Same as :func:`ltrobust.audit.api.audit`."""
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
