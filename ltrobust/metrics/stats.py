"""Torch-free parts of the recall metrics: the Wilson interval and the result dataclasses.

They live apart from :mod:`ltrobust.metrics.recall` (which needs torch for confusion matrices)
so that reading, rendering, comparing and gating a JSON report never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import ConfigDict

from ltrobust.metrics.fields import ClassIndex, Count, Fraction, Text

#: how the report's validation reads these dataclasses: unknown keys and NaN refused
STRICT_RECORD = ConfigDict(extra="forbid", allow_inf_nan=False)

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

    __pydantic_config__ = STRICT_RECORD

    cls: ClassIndex
    name: Text
    n: Count
    correct: Count
    recall: Fraction
    ci_low: Fraction
    ci_high: Fraction


@dataclass
class GroupStat:
    """Pooled recall of a class group (head/body/tail or many/medium/few)."""

    __pydantic_config__ = STRICT_RECORD

    name: Text
    classes: list[ClassIndex]
    n: Count
    correct: Count
    recall: Fraction
    ci_low: Fraction
    ci_high: Fraction


@dataclass
class RecallSummary:
    """Everything derived from one confusion matrix."""

    __pydantic_config__ = STRICT_RECORD

    n: Count
    correct: Count
    accuracy: Fraction
    balanced_accuracy: Fraction
    worst_class_recall: Fraction
    worst_class: ClassIndex | None
    per_class: list[ClassStat]
    groups: dict[str, GroupStat]
    landing: dict[str, dict[str, Count]]
