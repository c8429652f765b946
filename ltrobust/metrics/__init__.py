"""Metrics: confusion-matrix accumulators, per-class/group/balanced/worst-class recall, group
means of per-sample values, disparity metrics of per-class recall and robustness curves from
minimal radii.

Names load lazily (PEP 562): ``ltrobust.metrics.stats`` (the Wilson interval and the result
dataclasses), ``disparity`` and ``curves`` are torch-free, so reading a report never imports
torch; the torch-based accumulators load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # static names for type checkers; at run time they load lazily
    from ltrobust.metrics.curves import RobustCurves, minimal_norm_misses, robust_curve
    from ltrobust.metrics.disparity import Disparity, disparity, disparity_from_counts
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
    **dict.fromkeys(
        ("Disparity", "disparity", "disparity_from_counts"), "ltrobust.metrics.disparity"
    ),
    **dict.fromkeys(
        ("RobustCurves", "minimal_norm_misses", "robust_curve"), "ltrobust.metrics.curves"
    ),
}

__all__ = [
    "ClassStat",
    "ConfusionAccumulator",
    "Disparity",
    "RobustCurves",
    "disparity",
    "disparity_from_counts",
    "minimal_norm_misses",
    "robust_curve",
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
