"""Disparity metrics and robustness curves against references computed another way.

The references are explicit formulas on hand-made data (plain Python loops, ``statistics``),
including a class without samples and a class with a single sample.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys

import numpy as np
import pytest

from ltrobust.metrics.curves import eps_grid_to, minimal_norm_misses, robust_curve
from ltrobust.metrics.disparity import (
    DIRECTION,
    METRICS,
    default_worst_k,
    disparity,
    disparity_from_counts,
    gini,
)
from ltrobust.metrics.stats import wilson_interval

# 6 classes: class 3 has no samples, class 5 has one (correct); groups head / body / tail
Y = [0, 0, 0, 0, 1, 1, 1, 2, 2, 4, 4, 4, 4, 5]
OK = [1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1]
GROUPS = {"head": [0, 1], "body": [2, 3], "tail": [4, 5]}


def reference_recalls() -> dict[int, float]:
    """Per-class recall over the classes with samples, by counting."""
    out = {}
    for c in range(6):
        flags = [ok for ok, yy in zip(OK, Y, strict=True) if yy == c]
        if flags:
            out[c] = sum(flags) / len(flags)
    return out


def reference_gini(values: list[float]) -> float:
    """Mean absolute difference over all ordered pairs / (2 mean), times m / (m - 1)."""
    m = len(values)
    mean = sum(values) / m
    if mean == 0 or m == 1:
        return 0.0
    mad = sum(abs(a - b) for a in values for b in values) / (m * m)
    return mad / (2 * mean) * m / (m - 1)


def test_point_estimates_match_explicit_formulas():
    r = reference_recalls()
    assert r == {0: 0.75, 1: 1 / 3, 2: 0.0, 4: 0.5, 5: 1.0}
    vals = list(r.values())
    d = disparity(OK, Y, 6, GROUPS, replicates=0)
    got = {name: d.metrics[name].value for name in METRICS}
    assert d.classes == 5 and d.empty_classes == [3] and d.k == 3
    assert got["balanced"] == pytest.approx(sum(vals) / 5)
    assert got["worst_k"] == pytest.approx((0.0 + 1 / 3 + 0.5) / 3)
    assert got["std"] == pytest.approx(statistics.pstdev(vals))
    assert got["gini"] == pytest.approx(reference_gini(vals))
    head = (3 + 1) / (4 + 3)  # pooled: correct over samples of classes 0 and 1
    tail = (2 + 1) / (4 + 1)
    assert got["head_tail_gap"] == pytest.approx(head - tail)
    assert got["head_tail_ratio"] == pytest.approx(tail / head)
    # no bootstrap: no intervals
    assert all(d.metrics[n].ci_low is None for n in METRICS)


def test_counts_and_flags_agree_and_other_groups_can_be_chosen():
    hits, totals = [3, 1, 0, 0, 2, 1], [4, 3, 2, 0, 4, 1]
    a = disparity(OK, Y, 6, GROUPS, seed=3, replicates=200)
    b = disparity_from_counts(hits, totals, GROUPS, seed=3, replicates=200)
    assert a == b
    c = disparity_from_counts(hits, totals, GROUPS, head="tail", tail="head", k=1, replicates=0)
    assert c.metrics["worst_k"].value == 0.0 and c.k == 1
    assert c.metrics["head_tail_ratio"].value == pytest.approx((4 / 7) / (3 / 5))
    # body's recall is 0: the ratio head/body would be undefined, the gap is not
    d = disparity_from_counts(hits, totals, GROUPS, head="body", tail="tail", replicates=0)
    assert d.metrics["head_tail_ratio"].value is None
    assert d.metrics["head_tail_gap"].value == pytest.approx(0.0 - 3 / 5)


def test_gini_reference_values():
    assert gini([0.0, 0.0, 1.0]) == pytest.approx(1.0)  # one class holds all the recall
    assert gini([0.4, 0.4, 0.4, 0.4]) == 0.0
    assert gini([0.0, 0.0]) == 0.0  # all-zero recall: no disparity
    assert gini([0.7]) == 0.0 and gini([]) is None
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = rng.random(int(rng.integers(2, 30))).tolist()
        assert gini(v) == pytest.approx(reference_gini(v))


def test_worst_k_rule():
    assert [default_worst_k(m) for m in (0, 1, 2, 3, 10, 29, 31, 100, 1000)] == [
        0, 1, 2, 3, 3, 3, 4, 10, 100,
    ]  # fmt: skip
    d = disparity_from_counts([1, 2, 3], [2, 2, 4], {"all": [0, 1, 2]}, k=10, replicates=0)
    assert d.k == 3  # capped at the classes with samples
    assert d.metrics["worst_k"].value == pytest.approx((0.5 + 1.0 + 0.75) / 3)


def test_one_sample_class_and_no_samples():
    d = disparity([True], [2], 3, {"head": [0], "tail": [1, 2]}, replicates=50)
    assert d.classes == 1 and d.empty_classes == [0, 1]
    assert d.metrics["balanced"].value == 1.0 and d.metrics["std"].value == 0.0
    assert d.metrics["gini"].value == 0.0
    assert d.metrics["head_tail_gap"].value is None  # the head has no samples
    # a one-sample class resampled is always itself: a degenerate interval
    assert d.metrics["balanced"].ci_low == d.metrics["balanced"].ci_high == 1.0
    none = disparity([], [], 4, {"all": [0, 1, 2, 3]})
    assert none.classes == 0 and all(none.metrics[n].value is None for n in METRICS)


def test_bootstrap_is_deterministic_by_seed_and_brackets_the_estimate():
    a = disparity(OK, Y, 6, GROUPS, seed=7, replicates=300)
    b = disparity(OK, Y, 6, GROUPS, seed=7, replicates=300)
    c = disparity(OK, Y, 6, GROUPS, seed=8, replicates=300)
    assert a == b and a != c
    for name in METRICS:
        e = a.metrics[name]
        assert e.value is not None and e.ci_low is not None and e.ci_high is not None
        assert e.ci_low <= e.ci_high


def test_bootstrap_coverage_is_near_nominal():
    """Balanced recall and the head-tail gap: the 95% interval covers the truth in most of 200
    simulated test sets (the percentile bootstrap of a mean of binomials)."""
    rng = np.random.default_rng(1)
    p = np.linspace(0.3, 0.8, 10)
    n = np.full(10, 60)
    groups = {"head": [0, 1, 2], "body": [3, 4, 5, 6], "tail": [7, 8, 9]}
    truth = {"balanced": p.mean(), "head_tail_gap": p[:3].mean() - p[7:].mean()}
    covered = dict.fromkeys(truth, 0)
    trials = 200
    for t in range(trials):
        hits = rng.binomial(n, p).tolist()
        d = disparity_from_counts(hits, n.tolist(), groups, replicates=400, seed=t)
        for name, value in truth.items():
            e = d.metrics[name]
            covered[name] += e.ci_low <= value <= e.ci_high
    for name in truth:
        assert 0.88 <= covered[name] / trials <= 0.99, (name, covered[name])


def test_directions_and_bad_input():
    assert set(DIRECTION) == set(METRICS)
    assert DIRECTION["gini"] == "lower-is-better" and DIRECTION["worst_k"] == "higher-is-better"
    with pytest.raises(ValueError, match="unknown group"):
        disparity(OK, Y, 6, GROUPS, head="many")
    with pytest.raises(ValueError, match="outside"):
        disparity([True], [6], 6, GROUPS)
    with pytest.raises(ValueError, match="flags"):
        disparity([True, False], [0], 6, GROUPS)
    with pytest.raises(ValueError, match="hits"):
        disparity_from_counts([3], [2], {"a": [0]})


def test_disparity_and_curves_do_not_load_torch():
    code = (
        "import sys, ltrobust.metrics.disparity, ltrobust.metrics.curves\n"
        "assert 'torch' not in sys.modules, 'torch loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# robustness curves ---------------------------------------------------------------------------

RADII = [0.0, 0.02, 0.05, math.inf, 0.01, 0.03, math.inf, 0.04]
RY = [0, 0, 0, 0, 1, 1, 1, 2]
RGROUPS = {"head": [0], "tail": [1, 2, 3]}


def test_robust_curve_counts_and_wilson_bands():
    grid = [0.0, 0.02, 0.04]
    out = robust_curve(RADII, RY, 4, RGROUPS, grid)
    # class 0 radii 0, .02, .05, inf: robust iff radius > eps
    assert [p.robust for p in out.per_class[0]] == [3, 2, 2]
    assert [p.robust for p in out.per_class[1]] == [3, 2, 1]
    assert [p.robust for p in out.per_class[2]] == [1, 1, 0]
    assert all(p.n == 0 and p.recall is None for p in out.per_class[3])
    tail = out.groups["tail"]
    assert [(p.robust, p.n) for p in tail] == [(4, 4), (3, 4), (1, 4)]
    assert (tail[1].ci_low, tail[1].ci_high) == wilson_interval(3, 4)
    assert out.per_class[0][1].recall == 0.5
    assert out.median_radius == [(0.02 + 0.05) / 2, 0.03, 0.04, None]


def test_median_radius_with_unbroken_samples_and_grid():
    out = robust_curve([math.inf, math.inf, 0.1], [0, 0, 0], 1, {"all": [0]}, [0.0])
    assert out.median_radius == [math.inf]
    assert eps_grid_to(0.1, points=5) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    with pytest.raises(ValueError):
        robust_curve([-1.0], [0], 1, {"all": [0]}, [0.0])
    with pytest.raises(ValueError):
        eps_grid_to(0.0)


def test_minimal_norm_misses_per_group():
    broken = [False, True, True, False, True, False, False, True]
    # broken at eps .03: samples 1 (r .02, fine), 2 (r .05, missed), 4 (r .01), 7 (r .04, missed)
    out = minimal_norm_misses(RADII, broken, 0.03, RY, RGROUPS)
    assert out == {"overall": 2, "head": 1, "tail": 1}
