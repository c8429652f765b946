"""The exact binomial interval of the protocols' wrongly credited share (issue 25, item 3),
checked against closed forms and the issue's own example."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltrobust.report.significance import beta_cdf, clopper_pearson


def test_known_values():
    lo, hi = clopper_pearson(9, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.042, 0.164)
    # k = 0 and k = n have closed forms: (alpha / 2) ** (1 / n)
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(1 - 0.025**0.1, abs=1e-12))
    assert clopper_pearson(10, 10) == (pytest.approx(0.025**0.1, abs=1e-12), 1.0)
    assert clopper_pearson(0, 0) == (None, None)
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_beta_cdf_matches_the_binomial_tail():
    """P(Bin(n, p) >= k) = I_p(k, n - k + 1), computed term by term."""
    for n, k, p in ((20, 3, 0.1), (100, 50, 0.47), (7, 7, 0.9), (1000, 12, 0.02)):
        tail = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))
        assert beta_cdf(p, k, n - k + 1) == pytest.approx(tail, rel=1e-9, abs=1e-14)


@given(st.integers(1, 400), st.data())
def test_the_interval_holds_the_share_and_its_ends_have_the_right_tail(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = clopper_pearson(k, n)
    assert lo is not None and hi is not None and 0 <= lo <= k / n <= hi <= 1
    if k > 0:  # P(Bin(n, lo) >= k) = alpha / 2
        assert beta_cdf(lo, k, n - k + 1) == pytest.approx(0.025, abs=1e-9)
    if k < n:  # P(Bin(n, hi) <= k) = alpha / 2
        assert 1 - beta_cdf(hi, k + 1, n - k) == pytest.approx(0.025, abs=1e-9)
