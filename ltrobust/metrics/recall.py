"""Recall metrics from a confusion matrix: per class, per group, balanced, worst class.

Functional twins (``confusion_matrix``, ``summarize``) and an accumulator
(:class:`ConfusionAccumulator`) whose state lives on the CPU (after torchmetrics). Classes with no
samples have recall ``None``, never 0. Group recall is pooled: correct samples of the group's
classes over all samples of those classes (equal to the mean per-class recall on a balanced
test set), so that a Wilson interval applies to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ltrobust.metrics.stats import (  # noqa: F401 - re-exported, torch-free
    WILSON_Z,
    ClassStat,
    GroupStat,
    RecallSummary,
    wilson_interval,
)


def confusion_matrix(y: torch.Tensor, pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C x C int64 counts; row = true class, column = predicted class."""
    y = y.detach().to("cpu", torch.int64)
    pred = pred.detach().to("cpu", torch.int64)
    flat = torch.bincount(y * num_classes + pred, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes)


def _stat_fields(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    lo, hi = wilson_interval(k, n)
    return (k / n if n else None), lo, hi


def summarize(
    cm: torch.Tensor,
    groups: Mapping[str, Sequence[int]],
    class_names: Sequence[str],
    eligible: Sequence[bool] | None = None,
) -> RecallSummary:
    """Summarise a C x C confusion matrix (rows true, columns predicted).

    ``eligible`` (one flag per class) limits the worst class to the flagged classes (an attack's
    worst class is chosen among the classes recognised clean, see :func:`recognised_clean`);
    with no flagged class that has samples, ``worst_class`` and its recall are None.
    """
    cm = cm.to(torch.int64)
    totals = cm.sum(dim=1).tolist()
    hits = cm.diagonal().tolist()
    per_class = [
        ClassStat(c, class_names[c], totals[c], hits[c], *_stat_fields(hits[c], totals[c]))
        for c in range(cm.shape[0])
    ]
    present = [s for s in per_class if s.recall is not None]
    recalls = [s.recall for s in present if s.recall is not None]
    candidates = [s for s in present if eligible is None or eligible[s.cls]]
    worst = min(candidates, key=lambda s: (s.recall, s.cls)) if candidates else None
    group_stats = {}
    for gname, classes in groups.items():
        n = sum(totals[c] for c in classes)
        k = sum(hits[c] for c in classes)
        group_stats[gname] = GroupStat(gname, list(classes), n, k, *_stat_fields(k, n))
    n_all, k_all = sum(totals), sum(hits)
    return RecallSummary(
        n=n_all,
        correct=k_all,
        accuracy=k_all / n_all if n_all else None,
        balanced_accuracy=sum(recalls) / len(recalls) if recalls else None,
        worst_class_recall=worst.recall if worst else None,
        worst_class=worst.cls if worst else None,
        per_class=per_class,
        groups=group_stats,
        landing=landing_by_group(cm, groups),
    )


def recognised_clean(clean: RecallSummary) -> list[bool]:
    """Per class: is its clean recall above zero? (The classes an attack's worst class is
    chosen among; a class with no samples is not.)"""
    return [s.recall is not None and s.recall > 0 for s in clean.per_class]


def landing_by_group(
    cm: torch.Tensor, groups: Mapping[str, Sequence[int]]
) -> dict[str, dict[str, int]]:
    """Where misclassified samples land: ``{true group: {predicted group: count}}``.

    Only off-diagonal entries (wrong predictions) are counted.
    """
    off = cm.clone()
    off.fill_diagonal_(0)
    return {
        g_true: {
            g_pred: int(off[list(t_cls)][:, list(p_cls)].sum()) if t_cls and p_cls else 0
            for g_pred, p_cls in groups.items()
        }
        for g_true, t_cls in groups.items()
    }


def group_means(
    values: torch.Tensor, y: torch.Tensor, groups: Mapping[str, Sequence[int]]
) -> dict[str, Any]:
    """Per-sample ``values`` (N) averaged overall and over each group's samples (true class in
    the group): ``{"overall": mean, "groups": {g: mean or None for an empty group}}``."""
    y, values = y.cpu(), values.double().cpu()
    out: dict[str, float | None] = {}
    for g, classes in groups.items():
        mask = torch.isin(y, torch.tensor(list(classes), dtype=y.dtype))
        out[g] = float(values[mask].mean()) if bool(mask.any()) else None
    return {"overall": float(values.mean()) if len(values) else None, "groups": out}


def accuracy_by_group(
    pred: torch.Tensor, y: torch.Tensor, groups: Mapping[str, Sequence[int]]
) -> dict[str, Any]:
    """Accuracy overall and per group (pooled recall) from predictions."""
    return group_means((pred.cpu() == y.cpu()).float(), y, groups)


class ConfusionAccumulator:
    """Streaming confusion matrix: ``update`` per batch, ``compute`` at the end."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        self.cm = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)

    def update(self, y: torch.Tensor, pred: torch.Tensor) -> None:
        self.cm += confusion_matrix(y, pred, self.num_classes)

    def compute(self) -> torch.Tensor:
        return self.cm.clone()

    def correct(self) -> int:
        """Correct predictions so far (the trace)."""
        return int(self.cm.trace())
