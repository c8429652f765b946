"""Metrics: confusion-matrix accumulators, per-class/group/balanced/worst-class recall."""

from ltrobust.metrics.recall import (
    ClassStat,
    ConfusionAccumulator,
    GroupStat,
    RecallSummary,
    confusion_matrix,
    landing_by_group,
    summarize,
    wilson_interval,
)

__all__ = [
    "ClassStat",
    "ConfusionAccumulator",
    "GroupStat",
    "RecallSummary",
    "confusion_matrix",
    "landing_by_group",
    "summarize",
    "wilson_interval",
]
