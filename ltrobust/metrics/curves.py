"""Robustness curves from per-sample minimal radii (a minimal-norm attack's output).

Torch-free. A sample's radius ``r`` is the norm of the smallest adversarial perturbation the
attack found: 0 for a sample misclassified clean, ``inf`` where the attack found none. The
sample counts as robust at budget ``eps`` when ``r > eps`` (an adversarial point at distance
``r <= eps`` exists). Since an attack only finds upper bounds of the true radii, every curve is
an upper bound of the true robust recall (docs/METHODS.md §5.8).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ltrobust.metrics.stats import wilson_interval


@dataclass(frozen=True)
class CurvePoint:
    """Robust recall at one budget: ``robust`` of ``n`` samples, with a Wilson 95% interval."""

    eps: float
    n: int
    robust: int
    recall: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class RobustCurves:
    """Robust recall against ``eps_grid`` per class and per group (pooled over the group's
    samples), and the median radius per class (None for a class without samples)."""

    eps_grid: list[float]
    per_class: list[list[CurvePoint]]
    groups: dict[str, list[CurvePoint]]
    median_radius: list[float | None]


def eps_grid_to(eps: float, points: int = 21, factor: float = 2.0) -> list[float]:
    """``points`` evenly spaced budgets from 0 to ``factor * eps`` (the audit's curve range)."""
    if points < 2 or not eps > 0:
        raise ValueError("need eps > 0 and at least 2 points")
    return [factor * eps * i / (points - 1) for i in range(points)]


def _point(eps: float, radii: Sequence[float]) -> CurvePoint:
    robust = sum(1 for r in radii if r > eps)
    lo, hi = wilson_interval(robust, len(radii))
    recall = robust / len(radii) if radii else None
    return CurvePoint(eps, len(radii), robust, recall, lo, hi)


def _check(radii: Sequence[float], y: Sequence[int], num_classes: int) -> None:
    if len(radii) != len(y):
        raise ValueError(f"{len(radii)} radii for {len(y)} labels")
    for r in radii:
        if math.isnan(r) or r < 0:
            raise ValueError(f"a radius must be >= 0 (inf for none found), got {r}")
    for c in y:
        if not 0 <= int(c) < num_classes:
            raise ValueError(f"label {c} outside 0..{num_classes - 1}")


def robust_curve(
    radii: Sequence[float],
    y: Sequence[int],
    num_classes: int,
    groups: Mapping[str, Sequence[int]],
    eps_grid: Sequence[float],
) -> RobustCurves:
    """Robust recall at every budget of ``eps_grid``, per class and per group.

    Args:
        radii: per-sample minimal radius (0 misclassified clean, ``inf`` none found).
        y: per-sample true class.
        num_classes: C.
        groups: class groups; a group's recall is pooled over its samples (§5.2).
        eps_grid: the budgets, in the attack's norm.

    The median radius of a class is the usual median of its samples' radii (the mean of the
    two middle values for an even count; ``inf`` when at least half were never broken).
    """
    _check(radii, y, num_classes)
    by_class: list[list[float]] = [[] for _ in range(num_classes)]
    for r, c in zip(radii, y, strict=True):
        by_class[int(c)].append(float(r))
    grid = [float(e) for e in eps_grid]
    per_class = [[_point(e, rs) for e in grid] for rs in by_class]
    group_curves = {}
    for g, classes in groups.items():
        pooled = [r for c in classes for r in by_class[c]]
        group_curves[g] = [_point(e, pooled) for e in grid]
    medians = [statistics.median(rs) if rs else None for rs in by_class]
    return RobustCurves(grid, per_class, group_curves, medians)


def minimal_norm_misses(
    radii: Sequence[float],
    broken: Sequence[bool],
    eps: float,
    y: Sequence[int],
    groups: Mapping[str, Sequence[int]],
) -> dict[str, int]:
    """Samples a fixed-``eps`` attack broke (``broken``: misclassified at ``eps`` though
    correct clean) whose minimal radius lies above ``eps``: there the minimal-norm attack
    missed an adversarial point inside the budget. Counted overall and per group."""
    if not len(radii) == len(broken) == len(y):
        raise ValueError("radii, broken and y must have one entry per sample")
    missed = [b and r > eps for r, b in zip(radii, broken, strict=True)]
    out = {"overall": sum(missed)}
    for g, classes in groups.items():
        members = set(int(c) for c in classes)
        out[g] = sum(1 for m, c in zip(missed, y, strict=True) if m and int(c) in members)
    return out
