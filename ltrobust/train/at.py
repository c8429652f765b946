"""PGD adversarial training (Madry et al., ICLR 2018) with a long-tailed outer loss.

Inner maximisation: PGD on CE (docs/METHODS.md §4: CIFAR 10 steps of 2/255 in the 8/255 ball, random
start), model in eval mode. Outer loss on the adversarial batch, chosen with ``--loss``:
``ce``; ``bsl`` (Balanced Softmax, CE on ``z + ln n``; AT-BSL); ``la`` (logit adjustment, CE on
``z + tau ln pi``); ``ldam`` (margins ``max_m n^(-1/4)``, logits times ``ldam_scale``); ``cb``
(class-balanced weights by effective number, beta 0.9999); ``focal`` (softmax focal, gamma 2).
"""

from __future__ import annotations

import torch
from torch import nn

from ltrobust.attacks.losses import CrossEntropy
from ltrobust.train.base import TrainMethod, classifier
from ltrobust.train.losses import build_outer_loss
from ltrobust.train.options import LossOptions


class AdversarialTraining(TrainMethod[LossOptions]):
    """``at``: PGD-CE inner attack, ``--loss`` outer loss on the adversarial batch."""

    name = "at"

    def setup(self, net: nn.Module) -> None:
        self.outer = build_outer_loss(self.options, self.counts)
        self.attack = self.make_attack(CrossEntropy())

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        x_adv = self.attack(classifier(model), x, y, generator=self.generator)
        logits = model(x_adv)
        loss = self.outer(logits, y).mean()
        return {"loss": loss, "logits": logits.detach()}
