"""Empirical risk minimisation on clean images (``ce``): the clean long-tailed baseline.

No attack: the training forward runs on the augmented batch and the outer loss is ``--loss``
(``ce``; ``bsl`` is Balanced Softmax, Ren et al. 2020; every loss of docs/METHODS.md §4.2). The
defaults follow the CIFAR recipe of LDAM-DRW and CMO (batch 128, wd 2e-4, 200 epochs, 5 warm-up
epochs, lr x0.01 and x0.0001 after 80% and 90%). The monitor still measures PGD robustness.
"""

from __future__ import annotations

import torch
from torch import nn

from ltrobust.train.base import TrainMethod
from ltrobust.train.losses import build_outer_loss
from ltrobust.train.options import LossOptions


class CleanTraining(TrainMethod[LossOptions]):
    """``ce``: ``--loss`` on the clean (augmented) batch."""

    name = "ce"
    inner_attack = False

    def setup(self, net: nn.Module) -> None:
        self.outer = build_outer_loss(self.options, self.counts)

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        logits = model(x)
        loss = self.outer(logits, y).mean()
        return {"loss": loss, "logits": logits.detach()}
