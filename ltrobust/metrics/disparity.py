"""Disparity of per-class recall for one outcome (clean, an attack or the worst case).

Torch-free: per-sample correctness flags and true labels in, numbers out (docs/METHODS.md §5.7).
Every statistic is computed over the classes that have test samples; classes without samples
are left out (and listed in :attr:`Disparity.empty_classes`), never counted as recall 0.

The metrics (``r_c`` the recall of class c, over the ``m`` classes with samples):

- ``balanced``: the mean of ``r_c`` (FRL's and CFA's "balanced"/"average" robustness);
- ``worst_k``: the mean of the ``k`` smallest ``r_c`` (see :func:`default_worst_k`);
- ``std``: the population standard deviation of ``r_c`` (divisor ``m``, not ``m - 1``);
- ``gini``: the Gini coefficient of ``r_c`` normalised by ``m / (m - 1)``, so that one class
  holding all the recall gives 1 and equal recalls give 0 (all-zero recall: 0; m = 1: 0);
- ``head_tail_gap``: pooled recall of the head group minus that of the tail group;
- ``head_tail_ratio``: tail over head pooled recall (``None`` when the head's recall is 0).

Intervals come from a stratified bootstrap over samples (:func:`disparity`): in each replicate
every class's samples are resampled with replacement, within the class, and every metric is
recomputed; the interval is the percentile interval of the replicates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: which way is better for each metric (what a gate must treat as "worse")
DIRECTION: dict[str, str] = {
    "balanced": "higher-is-better",
    "worst_k": "higher-is-better",
    "std": "lower-is-better",
    "gini": "lower-is-better",
    "head_tail_gap": "lower-is-better",
    "head_tail_ratio": "higher-is-better",
}
METRICS = tuple(DIRECTION)
#: bootstrap replicates and two-sided level used unless the caller says otherwise
DEFAULT_REPLICATES = 1000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap percentile interval (all ``None`` if undefined)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Disparity:
    """The disparity metrics of one outcome.

    ``classes`` is the number of classes with samples, ``empty_classes`` those without;
    ``k`` the number of classes ``worst_k`` averages; ``head`` and ``tail`` the groups the gap
    and ratio compare; ``replicates`` and ``seed`` the bootstrap's settings.
    """

    metrics: dict[str, Estimate]
    classes: int
    empty_classes: list[int]
    k: int
    head: str
    tail: str
    replicates: int
    seed: int


def default_worst_k(classes: int) -> int:
    """``k`` for ``worst_k`` when none is given: ``max(3, ceil(0.1 m))`` classes, capped at the
    ``m`` classes with samples (3 of 10 classes, 10 of 100, 100 of 1000); 0 when m = 0."""
    return min(classes, max(3, math.ceil(0.1 * classes)))


def _gini_rows(recall: np.ndarray) -> np.ndarray:
    """Normalised Gini coefficient of each row of ``recall`` (B x m), vectorised."""
    m = recall.shape[1]
    total = recall.sum(axis=1)
    if m < 2:
        return np.zeros(len(recall))
    # sum over pairs i < j of (v_j - v_i) for sorted v = sum_i (2i - m + 1) v_i, i from 0
    weights = 2.0 * np.arange(m) - m + 1
    pair_sum = np.sort(recall, axis=1) @ weights
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, pair_sum / (m * safe) * m / (m - 1), 0.0)


def gini(values: Sequence[float]) -> float | None:
    """Normalised Gini coefficient ``G * m / (m - 1)`` of ``m`` non-negative values, where
    ``G = sum_i sum_j |v_i - v_j| / (2 m^2 mean)``: 1 when one value holds the whole sum, 0 when
    all are equal, when all are 0 or when m = 1; None for no values."""
    if len(values) == 0:
        return None
    return float(_gini_rows(np.asarray([values], dtype=np.float64))[0])


def _metric_rows(
    hits: np.ndarray, totals: np.ndarray, k: int, head_idx: np.ndarray, tail_idx: np.ndarray
) -> dict[str, np.ndarray]:
    """Every metric for each row of ``hits`` (B x m, classes with samples only); NaN where a
    metric is undefined (an empty head or tail group, a head recall of 0 for the ratio)."""
    recall = hits / totals
    with np.errstate(invalid="ignore", divide="ignore"):
        head = hits[:, head_idx].sum(axis=1) / totals[head_idx].sum()
        tail = hits[:, tail_idx].sum(axis=1) / totals[tail_idx].sum()
        ratio = np.where(head > 0, tail / np.where(head > 0, head, 1.0), np.nan)
    return {
        "balanced": recall.mean(axis=1),
        "worst_k": np.sort(recall, axis=1)[:, :k].mean(axis=1),
        "std": recall.std(axis=1),
        "gini": _gini_rows(recall),
        "head_tail_gap": head - tail,
        "head_tail_ratio": ratio,
    }


def _estimate(point: float, boot: np.ndarray, level: float) -> Estimate:
    """The point estimate with the percentile interval of its defined replicates."""
    if math.isnan(point):
        return Estimate(None, None, None)
    defined = boot[~np.isnan(boot)]
    if defined.size == 0:
        return Estimate(point, None, None)
    lo, hi = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(point, float(lo), float(hi))


def class_counts(
    correct: Sequence[bool], y: Sequence[int], num_classes: int
) -> tuple[list[int], list[int]]:
    """Per-class ``(hits, totals)`` from per-sample correctness flags and true labels."""
    if len(correct) != len(y):
        raise ValueError(f"{len(correct)} correctness flags for {len(y)} labels")
    hits, totals = [0] * num_classes, [0] * num_classes
    for ok, c in zip(correct, y, strict=True):
        if not 0 <= int(c) < num_classes:
            raise ValueError(f"label {c} outside 0..{num_classes - 1}")
        totals[int(c)] += 1
        hits[int(c)] += bool(ok)
    return hits, totals


def disparity(
    correct: Sequence[bool],
    y: Sequence[int],
    num_classes: int,
    groups: Mapping[str, Sequence[int]],
    *,
    k: int | None = None,
    head: str | None = None,
    tail: str | None = None,
    replicates: int = DEFAULT_REPLICATES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Disparity:
    """The disparity metrics of one outcome from per-sample ``correct`` flags and true labels
    ``y`` (arguments as :func:`disparity_from_counts`)."""
    hits, totals = class_counts(correct, y, num_classes)
    return disparity_from_counts(
        hits,
        totals,
        groups,
        k=k,
        head=head,
        tail=tail,
        replicates=replicates,
        level=level,
        seed=seed,
    )


def _check(
    hits: Sequence[int],
    totals: Sequence[int],
    groups: Mapping[str, Sequence[int]],
    names: tuple[str, str],
    k: int | None,
    replicates: int,
    level: float,
) -> None:
    if len(hits) != len(totals):
        raise ValueError("hits and totals must have one entry per class")
    if any(not 0 <= h <= n for h, n in zip(hits, totals, strict=True)):
        raise ValueError("every class needs 0 <= hits <= totals")
    for g in names:
        if g not in groups:
            raise ValueError(f"unknown group {g!r}; groups: {', '.join(groups)}")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if replicates < 0 or not 0 < level < 1:
        raise ValueError("replicates must be >= 0 and level in (0, 1)")


def disparity_from_counts(
    hits: Sequence[int],
    totals: Sequence[int],
    groups: Mapping[str, Sequence[int]],
    *,
    k: int | None = None,
    head: str | None = None,
    tail: str | None = None,
    replicates: int = DEFAULT_REPLICATES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Disparity:
    """The disparity metrics from per-class ``hits`` (correct samples) and ``totals``.

    Args:
        groups: class groups in order, head first and tail last (``head`` and ``tail`` default
            to the first and the last group); group recall is pooled as in §5.2.
        k: classes ``worst_k`` averages (default :func:`default_worst_k`; capped at the classes
            with samples).
        replicates: bootstrap replicates B (0: no intervals).
        level: two-sided level of the percentile intervals.
        seed: seed of the bootstrap's generator (numpy PCG64): the same seed, the same intervals.

    Resampling a class's ``n_c`` flags with replacement gives ``Binomial(n_c, hits_c / n_c)``
    correct samples, so each replicate draws those counts directly. A class whose recall is 0
    or 1 never varies, so the percentile interval is narrow when small or extreme classes
    dominate a metric. A ratio's interval uses the replicates where it is defined.
    """
    if not groups:
        raise ValueError("at least one class group is needed")
    names = list(groups)
    pair = (head or names[0], tail or names[-1])
    _check(hits, totals, groups, pair, k, replicates, level)
    present = [c for c, n in enumerate(totals) if n > 0]
    m = len(present)
    k_used = min(m, k if k is not None else default_worst_k(m))
    out = Disparity(
        metrics={},
        classes=m,
        empty_classes=[c for c, n in enumerate(totals) if n == 0],
        k=k_used,
        head=pair[0],
        tail=pair[1],
        replicates=replicates,
        seed=seed,
    )
    if m == 0:
        out.metrics.update(dict.fromkeys(METRICS, Estimate(None, None, None)))
        return out
    where = {c: i for i, c in enumerate(present)}
    h = np.asarray([[hits[c] for c in present]], dtype=np.float64)
    n = np.asarray([totals[c] for c in present], dtype=np.float64)
    idx = [np.asarray([where[c] for c in groups[g] if c in where], dtype=np.int64) for g in pair]
    point = _metric_rows(h, n, k_used, idx[0], idx[1])
    draws = np.random.default_rng(seed).binomial(n.astype(np.int64), h[0] / n, (replicates, m))
    boot = _metric_rows(draws.astype(np.float64), n, k_used, idx[0], idx[1])
    for name in METRICS:
        out.metrics[name] = _estimate(float(point[name][0]), boot[name], level)
    return out
