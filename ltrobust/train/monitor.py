"""The per-epoch monitoring evaluation: clean and PGD-20 recall on a fixed test subset, per group
(the audit's default groups: shot groups when the training counts span them, else thirds).

The subset is a class-stratified sample of ``monitor_n`` test images (``seed`` 0), the same in
every epoch; PGD's random starts are per-sample seeds, so every epoch sees the same starts. It
only watches training: nothing is ever selected on it (the last epoch is the result).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from ltrobust.attacks.base import Attack
from ltrobust.attacks.registry import build_attack
from ltrobust.attacks.rng import salt_of, sample_seeds
from ltrobust.attacks.threat import ThreatModel
from ltrobust.data.loading import load_eval_data
from ltrobust.data.profile import class_groups
from ltrobust.data.specs import is_custom, resolve_threat
from ltrobust.metrics.collapse import collapse_of
from ltrobust.metrics.recall import ConfusionAccumulator, summarize
from ltrobust.runtime.progress import Progress
from ltrobust.train.config import TrainConfig


@dataclass
class MonitorSet:
    """The fixed test subset and the attack that watches it."""

    x: torch.Tensor
    y: torch.Tensor
    indices: torch.Tensor
    groups: dict[str, list[int]]
    class_names: list[str]
    attack: Attack
    seed: int


def load_monitor(
    config: TrainConfig, class_counts: list[int], data_dir: str | None
) -> MonitorSet | None:
    """The monitoring set, or None when ``monitor_n`` is 0 or custom data has no test set.

    The attack is ``monitor_attack`` at the training eps with the test set's step/eps ratio.
    """
    test = config.test_dataset or (None if is_custom(config.dataset) else config.dataset)
    if config.monitor_n == 0 or test is None:
        return None
    data = load_eval_data(
        test,
        data_dir=data_dir,
        class_counts=class_counts,
        n=config.monitor_n,
        seed=0,
    )
    _, step = resolve_threat(data.spec.name if data.spec else None, "linf", config.eps)
    threat = ThreatModel("linf", config.eps)
    attack = build_attack(config.monitor_attack, threat, step, seed=config.seed)
    groups = class_groups(class_counts, "auto")
    return MonitorSet(data.x, data.y, data.indices, groups, data.class_names, attack, config.seed)


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(dim=1).cpu()


def evaluate(
    model: nn.Module,
    mset: MonitorSet,
    device: torch.device,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> dict[str, float | None]:
    """``monitor_clean_acc``, ``monitor_<attack>_acc`` and per-group recalls (fractions), and
    ``monitor_seconds``, for ``model`` (the deployed logits) in eval mode."""
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    name = mset.attack.name
    num_classes = len(mset.class_names)
    clean, adv = ConfusionAccumulator(num_classes), ConfusionAccumulator(num_classes)
    if progress is not None:
        progress.start(name, len(mset.y))
    try:
        for s in range(0, len(mset.y), batch_size):
            xb = mset.x[s : s + batch_size].to(device)
            yb = mset.y[s : s + batch_size].to(device)
            seeds = sample_seeds(mset.seed, salt_of(name), mset.indices[s : s + batch_size])
            clean.update(yb, _predict(model, xb))
            adv.update(yb, _predict(model, mset.attack(model, xb, yb, seeds=seeds)))
            if progress is not None:
                progress.advance(name, len(yb), adv.correct(), s + len(yb))
    finally:
        model.train(was_training)
    if progress is not None:
        progress.finish(name)
    clean_cm = clean.compute()
    row: dict[str, float | None] = _collapse_fields(clean_cm.tolist())
    for label, cm in (("clean", clean_cm), (name, adv.compute())):
        summary = summarize(cm, mset.groups, mset.class_names)
        row[f"monitor_{label}_acc"] = summary.accuracy
        for g, stat in summary.groups.items():
            row[f"monitor_{label}_{g}"] = stat.recall
    row["monitor_seconds"] = time.perf_counter() - t0
    return row


def _collapse_fields(confusion: list[list[int]]) -> dict[str, float | None]:
    """The monitor's collapse statistics of the clean predictions (:mod:`ltrobust.metrics.
    collapse`): the most predicted class's share, balanced recall and whether it collapsed."""
    stats = collapse_of(confusion)
    if stats is None:
        return {}
    return {
        "monitor_top_share": stats.top_share,
        "monitor_balanced": stats.balanced,
        "monitor_collapsed": float(stats.collapsed),
    }
