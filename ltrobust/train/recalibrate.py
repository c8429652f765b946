"""AFR's re-calibrated training set (docs/METHODS.md §4.7): majority samples moved towards their
own class's minority features by a targeted attack.

The paper fine-tunes "the PGD model" on the minority samples without defining it. ltrobust's
choice: a 2C-way linear head on the frozen features of the current model, one output per
(class, majority) and (class, minority) cell, initialised with both cells of class c equal to the
model's own class-c weights and fitted with Adam (lr 0.01, full batch) on the over-sampled
set's embeddings with the Balanced Softmax of the cell counts (so small minority cells are not
ignored). The attack is then targeted PGD on that head: from x itself (no random start),
``steps`` sign-gradient steps of ``step`` that lower ``CE(head(features(x')), 2y + 1)``, the
class's minority cell, with the model in eval mode; the budget is ``steps * step`` in L-inf
(the paper's eps = 0.6 can never be reached by three steps of 1/255, so no projection acts),
pixels clipped to [0, 1]. The attack is :class:`ltrobust.attacks.IterativeAttack`, the attack
core of the audit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.attacks.iterative import IterativeAttack
from ltrobust.attacks.threat import ThreatModel
from ltrobust.models.base import ImageClassifier
from ltrobust.train.afr_split import (
    choose_perturbed,
    class_accuracy,
    class_cosines,
    oversample,
    split_minority,
    thresholds,
)
from ltrobust.train.augment import Augmentation

HEAD_LR = 0.01
CHUNK = 4096


@dataclass(frozen=True)
class RecalibrationSettings:
    """AFR's values: threshold, split rule, adaptive level, perturbed share, attack, head fit."""

    lam: float = 0.8
    rule: str = "text"
    adapt_at: float = 0.6
    share: float = 0.5
    steps: int = 3
    step: float = 1 / 255
    head_steps: int = 100
    batch_size: int = 256


@dataclass
class Recalibrated:
    """The inter- and intra-class balanced set (``x`` on the CPU), which samples were
    perturbed, and what the split found (``stats``, for the history)."""

    x: torch.Tensor
    y: torch.Tensor
    perturbed: torch.Tensor
    minority: torch.Tensor
    stats: dict[str, float]


class SplitHead(nn.Linear):
    """2C outputs, cell ``2c`` = class c's majority, ``2c + 1`` its minority; initialised from
    a C-way linear ``head`` (both cells of class c start as its class-c row)."""

    def __init__(self, head: nn.Linear) -> None:
        super().__init__(head.in_features, 2 * head.out_features, bias=head.bias is not None)
        with torch.no_grad():
            self.weight.copy_(head.weight.repeat_interleave(2, dim=0))
            if head.bias is not None:
                self.bias.copy_(head.bias.repeat_interleave(2))
        self.to(head.weight.device)


class FeaturesThen(nn.Module):
    """``head(net.features(x))``: the model the targeted attack runs on."""

    def __init__(self, net: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.net, self.head = cast(ImageClassifier, net), head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net.features(x))


@dataclass(frozen=True, eq=False)
class TowardsMinority:
    """Per-sample ``-CE(z, 2y + 1)``: maximising it moves an input towards its class's minority
    cell of a :class:`SplitHead`."""

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -F.cross_entropy(logits.float(), 2 * y + 1, reduction="none")

    def __repr__(self) -> str:
        return "towards-minority"


def embed(
    net: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features (N x D, float32, on ``device``) and predicted classes (N, CPU) of
    ``x`` in eval mode."""
    model = cast(ImageClassifier, net)
    was_training = model.training
    model.eval()
    feats, preds = [], []
    try:
        with torch.no_grad():
            for s in range(0, len(x), batch_size):
                f = model.features(x[s : s + batch_size].to(device)).float()
                feats.append(f)
                preds.append(model.head(f).argmax(dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(feats), torch.cat(preds)


def fit_split_head(
    head: SplitHead, features: torch.Tensor, cells: torch.Tensor, steps: int
) -> float:
    """Fit ``head`` to the cells (N) of ``features`` (N x D) by ``steps`` full-batch Adam steps
    on the Balanced Softmax of the cell counts; returns the head's accuracy on them."""
    cells = cells.to(features.device)
    prior = torch.log(torch.bincount(cells, minlength=head.out_features).clamp_min(1).float())
    opt = torch.optim.Adam(head.parameters(), lr=HEAD_LR)
    for _ in range(steps):
        loss = F.cross_entropy(head(features) + prior, cells)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((head(features).argmax(dim=1) == cells).float().mean())


def towards_minority(
    net: nn.Module,
    head: SplitHead,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: RecalibrationSettings,
    device: torch.device,
) -> tuple[torch.Tensor, float]:
    """``x`` (CPU) moved towards the minority cells of its labels, and the share of samples the
    head then assigns to that cell."""
    attack = IterativeAttack(
        ThreatModel("linf", settings.steps * settings.step),
        TowardsMinority(),
        steps=settings.steps,
        step_size=settings.step,
        random_start=False,
        name=f"afr-pgd{settings.steps}",
    )
    model = FeaturesThen(net, head)
    out, hits = [], 0
    for s in range(0, len(x), settings.batch_size):
        xb, yb = (
            x[s : s + settings.batch_size].to(device),
            y[s : s + settings.batch_size].to(device),
        )
        adv = attack(model, xb, yb)
        with torch.no_grad():
            hits += int((model(adv).argmax(dim=1) == 2 * yb + 1).sum())
        out.append(adv.cpu())
    moved = torch.cat(out) if out else x.clone()
    return moved, hits / max(len(x), 1)


def recalibrate(
    net: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    counts: torch.Tensor,
    augmentation: Augmentation,
    settings: RecalibrationSettings,
    generator: torch.Generator,
    device: torch.device,
) -> Recalibrated:
    """AFR §3.1-3.3 with ``net`` as it is now: over-sample and augment the training ``data``
    (x, y on the CPU), embed, split, fit the split head, perturb the chosen majority samples."""
    t0 = time.perf_counter()
    num_classes = len(counts)
    idx = oversample(data[1], num_classes, generator)
    x = torch.cat([augmentation(data[0][part], generator) for part in idx.split(CHUNK)])
    y = data[1][idx]
    emb, pred = embed(net, x, device, settings.batch_size)
    acc = class_accuracy(pred, y, num_classes)
    train_acc = float((acc.nan_to_num(0.0) * counts).sum() / counts.sum())
    thresh, adaptive = thresholds(settings.lam, acc, train_acc, settings.adapt_at)
    cos = class_cosines(emb, y.to(emb.device), num_classes).cpu()
    minority = split_minority(cos, y, thresh, settings.rule)
    chosen = choose_perturbed(minority, y, num_classes, settings.share, generator)
    head = SplitHead(cast(nn.Linear, cast(ImageClassifier, net).head))
    head_acc = fit_split_head(head, emb, (2 * y + minority.long()), settings.head_steps)
    moved, hits = towards_minority(net, head, x[chosen], y[chosen], settings, device)
    linf = float((moved - x[chosen]).abs().max()) if len(moved) else 0.0
    x[chosen] = moved
    stats = {
        "afr_train_acc": train_acc,
        "afr_adaptive": float(adaptive),
        "afr_threshold_mean": float(thresh.mean()),
        "afr_minority_share": float(minority.float().mean()),
        "afr_perturbed": float(chosen.sum()),
        "afr_head_acc": head_acc,
        "afr_moved_to_minority": hits,
        "afr_linf": linf,
        "afr_seconds": time.perf_counter() - t0,
    }
    return Recalibrated(x, y, chosen, minority, stats)
