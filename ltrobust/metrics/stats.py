"""Torch-free parts of the recall metrics: the Wilson interval and the result dataclasses.

They live apart from :mod:`ltrobust.metrics.recall` (which needs torch for confusion matrices)
so that reading, rendering, comparing and gating a JSON report never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WILSON_Z = 1.959963984540054  # two-sided 95%


def wilson_interval(k: int, n: int, z: float = WILSON_Z) -> tuple[float | None, float | None]:
    """Wilson score interval for ``k`` successes in ``n`` trials; ``(None, None)`` if n = 0."""
    if n == 0:
        return None, None
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class ClassStat:
    """Recall of one class: ``correct`` of ``n`` test samples, with a Wilson 95% interval."""

    cls: int
    name: str
    n: int
    correct: int
    recall: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass
class GroupStat:
    """Pooled recall of a class group (head/body/tail or many/medium/few)."""

    name: str
    classes: list[int]
    n: int
    correct: int
    recall: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass
class RecallSummary:
    """Everything derived from one confusion matrix."""

    n: int
    correct: int
    accuracy: float | None
    balanced_accuracy: float | None
    worst_class_recall: float | None
    worst_class: int | None
    per_class: list[ClassStat]
    groups: dict[str, GroupStat]
    landing: dict[str, dict[str, int]]
