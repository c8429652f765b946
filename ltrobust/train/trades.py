"""TRADES (Zhang et al., ICML 2019), the baseline of RoBal's tables.

Inner maximisation: PGD on ``KL(p(x) || p(x'))`` with the clean distribution ``p(x)`` computed
once in eval mode. TRADES starts from ``x + 0.001 N(0, 1)``; our attack core has one random-start
rule, a uniform point of the eps-ball (a start at ``x`` itself would have a zero KL gradient).
Outer loss: ``CE(f(x), y) + beta * KL(p(x) || p(x_adv))``, batch mean, beta 6; wd 2e-4 and batch
128 as in the TRADES code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.train.base import TrainMethod, classifier
from ltrobust.train.losses import KLToReference, kl_per_sample
from ltrobust.train.method_options import TradesOptions


class Trades(TrainMethod[TradesOptions]):
    """``trades``: KL inner attack; natural CE + beta KL(clean || adversarial)."""

    name = "trades"

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        net = classifier(model)
        was_training = net.training
        net.eval()
        with torch.no_grad():
            clean_ref = net(x).float()
        net.train(was_training)
        attack = self.make_attack(KLToReference(clean_ref))
        x_adv = attack(net, x, y, generator=self.generator)
        logits_nat = model(x)
        logits_adv = model(x_adv)
        natural = F.cross_entropy(logits_nat.float(), y)
        robust = kl_per_sample(logits_nat, logits_adv).mean()
        loss = natural + self.options.beta * robust
        return {
            "loss": loss,
            "logits": logits_adv.detach(),
            "natural_ce": natural.detach(),
            "robust_kl": robust.detach(),
        }
