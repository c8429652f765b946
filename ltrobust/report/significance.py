"""Exact McNemar test and Wilson intervals at any level, with the standard library only."""

from __future__ import annotations

import math
from statistics import NormalDist

from ltrobust.metrics.stats import wilson_interval


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under the null each discordant pair goes either way with probability 1/2, so the smaller
    count is Binomial(b + c, 1/2): ``p = min(1, 2 * sum_{k <= min(b, c)} C(b+c, k) / 2^(b+c))``.
    No discordant pairs give p = 1. Exact integer arithmetic, one rounding at the end.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def z_for(alpha: float) -> float:
    """Two-sided normal quantile: 1.96 for alpha = 0.05."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return NormalDist().inv_cdf(1 - alpha / 2)


def wilson_at(k: int, n: int, alpha: float) -> tuple[float | None, float | None]:
    """Wilson score interval at confidence ``1 - alpha``."""
    return wilson_interval(k, n, z=z_for(alpha))
