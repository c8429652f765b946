"""RoBal (Wu et al., CVPR 2021): cosine classifier, margins and bias in training, bias at inference.

* Head: ``cos_j = <f/||f||, W_j / (||W_j|| + gamma)>``, logits ``s cos_j`` (s = 10), no bias.
* Inner attack: PGD-5 (eps 8/255, step 2/255) on CE of the unscaled cosines (no margin, bias).
* Outer loss on x_adv: CE over ``s cos_j - 1[j=y] (s m0 + tau_m ln(n_y/n_min)) + tau_b ln pi_j``
  plus ``beta KL(softmax(cos(x)) || softmax(cos(x_adv)))`` on the unscaled cosines (Eq. 8-12).
* Deployed logits: ``s cos_j - tau_p ln pi_j``; the bias is stored as the checkpoint's
  ``logit_adjustment``, so ``ltrobust audit`` attacks exactly those logits.
* wd 2e-4, batch 64. Presets from the official configs (docs/METHODS.md §4); without ``--preset`` the
  values default to the dataset's ``N`` preset (``cifar10-N`` for datasets other than CIFAR).
  We use the paper's step schedule; the official code's decay compounds after the first
  milestone.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.attacks.losses import CrossEntropy
from ltrobust.errors import ConfigError
from ltrobust.models.heads import CosineHead
from ltrobust.train.base import CosineView, TrainMethod, classifier
from ltrobust.train.losses import kl_per_sample, log_prior, robal_logits, robal_margins
from ltrobust.train.method_options import RobalOptions


class RoBal(TrainMethod[RobalOptions]):
    """``robal``: cosine head, RoBal margins/bias + KL outer loss, PGD-5 on cosines."""

    name = "robal"

    def model_kwargs(self) -> dict[str, Any]:
        o = self.options
        return {"head": "cosine", "head_scale": o.head_scale, "head_gamma": o.head_gamma}

    def setup(self, net: nn.Module) -> None:
        if not isinstance(getattr(net, "head", None), CosineHead):
            raise ConfigError("RoBal needs a model with a cosine head (head='cosine')")
        o = self.options
        self.scale = o.head_scale
        self.margins = robal_margins(self.counts, self.scale, o.m0, o.tau_m)
        self.bias = o.tau_b * log_prior(self.counts)
        self.attack = self.make_attack(CrossEntropy())

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        x_adv = self.attack(CosineView(classifier(model)), x, y, generator=self.generator)
        adv = model(x_adv, parts=True)
        nat = model(x, parts=True)
        z = robal_logits(adv["cosine"], y, scale=self.scale, margins=self.margins, bias=self.bias)
        ce = F.cross_entropy(z, y)
        kl = kl_per_sample(nat["cosine"], adv["cosine"]).mean()
        loss = ce + self.options.beta * kl
        return {
            "loss": loss,
            "logits": adv["logits"].detach(),
            "margin_ce": ce.detach(),
            "kl": kl.detach(),
        }

    def logit_adjustment(self) -> list[float] | None:
        tau_p = self.options.tau_p
        if tau_p == 0.0:
            return None
        return (-tau_p * log_prior(self.counts)).tolist()
