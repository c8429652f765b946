"""One plan per audit: the attack list is parsed once and each attack is built once, however
many parts of the audit (the resume key, the baseline check, the protocol merge, the run) need
it."""

from __future__ import annotations

from collections import Counter

import pytest

import ltrobust
from ltrobust.attacks import base

from .conftest import EPS, TRAIN_COUNTS


@pytest.fixture()
def built(monkeypatch) -> Counter[str]:
    """Counts every attack object constructed, by name."""
    counts: Counter[str] = Counter()
    original = base.Attack.__init__

    def counting(self, threat, name) -> None:  # noqa: ANN001
        counts[name] += 1
        original(self, threat, name)

    monkeypatch.setattr(base.Attack, "__init__", counting)
    return counts


def test_each_attack_is_built_once_per_audit(built, tmp_path, trained_cnn, balanced_test) -> None:
    x, y = balanced_test
    options = {
        "data": (x[::40], y[::40]),
        "class_counts": TRAIN_COUNTS,
        "attacks": "fgsm,pgd20,cw20",
        "worst_only": "cw20",
        "protocols": "strict,robal",
        "eps": EPS,
        "step": 0.02,
        "diagnose": False,
        "device": "cpu",
    }
    first = ltrobust.audit(trained_cnn, cache_dir=tmp_path / "a", **options)
    built.clear()
    ltrobust.audit(trained_cnn, cache_dir=tmp_path / "b", baseline=first, **options)
    ran = ["fgsm", "pgd20", "cw20", "robal-fgsm", "robal-pgd20", "robal-mim20", "robal-cw20"]
    ran.append("robal-aa")
    assert dict(built) == dict.fromkeys(ran, 1)
