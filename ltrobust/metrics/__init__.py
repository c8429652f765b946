"""Metrics: confusion-matrix accumulators, per-class/group/balanced/worst-class recall, group
means of per-sample values.

Names load lazily (PEP 562): ``ltrobust.metrics.stats`` (the Wilson interval and the result
dataclasses) is torch-free, so reading a report never imports torch; the torch-based
accumulators load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # static names for type checkers; at run time they load lazily
    from ltrobust.metrics.recall import (
        ConfusionAccumulator,
        accuracy_by_group,
        confusion_matrix,
        group_means,
        landing_by_group,
        summarize,
    )
    from ltrobust.metrics.stats import ClassStat, GroupStat, RecallSummary, wilson_interval

_WHERE = {
    "ClassStat": "ltrobust.metrics.stats",
    "GroupStat": "ltrobust.metrics.stats",
    "RecallSummary": "ltrobust.metrics.stats",
    "wilson_interval": "ltrobust.metrics.stats",
    "ConfusionAccumulator": "ltrobust.metrics.recall",
    "confusion_matrix": "ltrobust.metrics.recall",
    "accuracy_by_group": "ltrobust.metrics.recall",
    "group_means": "ltrobust.metrics.recall",
    "landing_by_group": "ltrobust.metrics.recall",
    "summarize": "ltrobust.metrics.recall",
}

__all__ = [
    "ClassStat",
    "ConfusionAccumulator",
    "GroupStat",
    "accuracy_by_group",
    "group_means",
    "RecallSummary",
    "confusion_matrix",
    "landing_by_group",
    "summarize",
    "wilson_interval",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'ltrobust.metrics' has no attribute {name!r}")
