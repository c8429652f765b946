"""Metrics against an independent reference (plain Python loops), empty classes included."""

from __future__ import annotations

import random

import pytest
import torch

from ltrobust.audit import worst_case_predictions
from ltrobust.metrics import ConfusionAccumulator, confusion_matrix, summarize, wilson_interval

GROUPS = {"head": [0, 1], "body": [2], "tail": [3, 4]}
NAMES = ["a", "b", "c", "d", "e"]


def _reference(y, pred, C):
    per_class = {}
    for c in range(C):
        idx = [i for i in range(len(y)) if y[i] == c]
        per_class[c] = None if not idx else sum(pred[i] == c for i in idx) / len(idx)
    return per_class


def _random_case(seed, n=300, C=5, empty=(4,)):
    rnd = random.Random(seed)
    y = [rnd.choice([c for c in range(C) if c not in empty]) for _ in range(n)]
    pred = [yy if rnd.random() < 0.6 + 0.05 * yy else rnd.randrange(C) for yy in y]
    return y, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_summary_matches_reference_with_empty_class(seed):
    y, pred = _random_case(seed)
    cm = confusion_matrix(torch.tensor(y), torch.tensor(pred), 5)
    s = summarize(cm, GROUPS, NAMES)
    ref = _reference(y, pred, 5)
    for stat in s.per_class:
        assert stat.recall == (pytest.approx(ref[stat.cls]) if ref[stat.cls] is not None else None)
    assert s.per_class[4].recall is None and s.per_class[4].ci_low is None
    present = [v for v in ref.values() if v is not None]
    assert s.balanced_accuracy == pytest.approx(sum(present) / len(present))
    assert s.worst_class_recall == pytest.approx(min(present))
    assert s.accuracy == pytest.approx(sum(a == b for a, b in zip(y, pred, strict=True)) / len(y))
    tail = [i for i in range(len(y)) if y[i] in (3, 4)]
    assert s.groups["tail"].recall == pytest.approx(sum(pred[i] == y[i] for i in tail) / len(tail))
    assert s.groups["tail"].n == len(tail)
    wrong_head_to_tail = sum(1 for i in range(len(y)) if y[i] in (0, 1) and pred[i] in (3, 4))
    assert s.landing["head"]["tail"] == wrong_head_to_tail
    assert s.landing["body"]["body"] == 0  # class 2 is alone in body: no off-diagonal


def test_group_of_only_empty_classes_is_none():
    cm = confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), 5)
    s = summarize(cm, GROUPS, NAMES)
    assert s.groups["tail"].recall is None and s.groups["tail"].n == 0
    assert s.groups["head"].recall == 0.5


def test_accumulator_equals_functional():
    y, pred = _random_case(7)
    acc = ConfusionAccumulator(5)
    for s in range(0, len(y), 37):
        acc.update(torch.tensor(y[s : s + 37]), torch.tensor(pred[s : s + 37]))
    assert torch.equal(acc.compute(), confusion_matrix(torch.tensor(y), torch.tensor(pred), 5))
    acc.reset()
    assert int(acc.compute().sum()) == 0


def test_wilson_against_known_values():
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)


def test_worst_case_is_per_sample_not_min_of_means():
    y = torch.tensor([0, 0, 1, 1])
    clean = torch.tensor([0, 0, 1, 0])
    adv = {"a": torch.tensor([1, 0, 1, 0]), "b": torch.tensor([0, 1, 1, 0])}
    pred, robust = worst_case_predictions(y, clean, adv)
    # each attack alone leaves 2/4 correct; per sample only sample 2 survives both
    assert robust.tolist() == [False, False, True, False]
    assert pred.tolist() == [1, 1, 1, 0]  # first wrong prediction, clean first
