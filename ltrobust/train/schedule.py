"""Optimiser and learning-rate schedule (docs/METHODS.md §4).

SGD (momentum 0.9, lr 0.1) with the step schedule ``lr x 0.1`` at 75% and 93.75% of the epochs
(60 and 75 of 80), stepped once per epoch. Mixed precision is :mod:`ltrobust.runtime.precision`.
"""

from __future__ import annotations

import torch
from torch import nn

MILESTONE_FRACTIONS = (0.75, 0.9375)
LR_DECAY = 0.1


def milestones(epochs: int) -> list[int]:
    """Epoch counts after which the lr decays: ``round(f * epochs)`` (half up), deduplicated."""
    out = [int(f * epochs + 0.5) for f in MILESTONE_FRACTIONS]
    return sorted({m for m in out if 0 < m})


def build_optimizer(
    model: nn.Module, *, lr: float, momentum: float, weight_decay: float, epochs: int
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.MultiStepLR]:
    """SGD over all parameters and its MultiStepLR (call ``scheduler.step()`` per epoch)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones(epochs), gamma=LR_DECAY)
    return opt, sched
