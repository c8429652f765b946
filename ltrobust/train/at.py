"""PGD adversarial training (Madry et al., ICLR 2018) with a long-tailed outer loss.

Inner maximisation: PGD on CE (METHODS §4: CIFAR 10 steps of 2/255 in the 8/255 ball, random
start), model in eval mode. Outer loss on the adversarial batch, chosen with ``--loss``:
``ce``; ``bsl`` (Balanced Softmax, CE on ``z + ln n``; AT-BSL); ``la`` (logit adjustment, CE on
``z + tau ln pi``); ``ldam`` (margins ``max_m n^(-1/4)``, logits times ``ldam_scale``); ``cb``
(class-balanced weights by effective number, beta 0.9999); ``focal`` (softmax focal, gamma 2).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ltrobust.attacks import CrossEntropy
from ltrobust.attacks.iterative import LossFn
from ltrobust.errors import ConfigError
from ltrobust.train.base import TrainMethod, classifier
from ltrobust.train.losses import (
    ClassWeightedCE,
    FocalLoss,
    LDAMLoss,
    LogitAdjustedCE,
    class_balanced_weights,
)

LOSS_NAMES = ("ce", "bsl", "la", "ldam", "cb", "focal")
LOSS_OPTIONS: dict[str, Any] = {
    "loss": "ce",
    "la_tau": 1.0,
    "ldam_max_m": 0.5,
    "ldam_scale": 1.0,
    "cb_beta": 0.9999,
    "focal_gamma": 2.0,
}


def check_loss_options(options: dict[str, Any]) -> None:
    """ConfigError for an unknown loss or an out-of-range loss hyper-parameter."""
    if options["loss"] not in LOSS_NAMES:
        raise ConfigError(f"unknown loss {options['loss']!r}; valid: {', '.join(LOSS_NAMES)}")
    if not 0.0 <= float(options["cb_beta"]) < 1.0:
        raise ConfigError(f"--cb-beta must be in [0, 1), got {options['cb_beta']}")
    if float(options["ldam_max_m"]) < 0 or float(options["ldam_scale"]) <= 0:
        raise ConfigError("--ldam-max-m must be >= 0 and --ldam-scale > 0")
    if float(options["focal_gamma"]) < 0:
        raise ConfigError(f"--focal-gamma must be >= 0, got {options['focal_gamma']}")


def build_outer_loss(options: dict[str, Any], counts: torch.Tensor) -> LossFn:
    """The per-sample outer loss named ``options["loss"]`` for class counts (C)."""
    name = options["loss"]
    if name == "ce":
        return CrossEntropy()
    if name == "bsl":
        return LogitAdjustedCE(counts, 1.0, "bsl")
    if name == "la":
        return LogitAdjustedCE(counts, float(options["la_tau"]), "la")
    if name == "ldam":
        return LDAMLoss(counts, float(options["ldam_max_m"]), float(options["ldam_scale"]))
    if name == "cb":
        return ClassWeightedCE(class_balanced_weights(counts, float(options["cb_beta"])), "cb")
    if name == "focal":
        return FocalLoss(float(options["focal_gamma"]))
    raise ConfigError(f"unknown loss {name!r}; valid: {', '.join(LOSS_NAMES)}")


class AdversarialTraining(TrainMethod):
    """``at``: PGD-CE inner attack, ``--loss`` outer loss on the adversarial batch."""

    name = "at"
    batch_size = 128
    weight_decay = 5e-4
    attack_steps = 10
    option_defaults = dict(LOSS_OPTIONS)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        super().check_options(options)
        check_loss_options(options)

    def setup(self, net: nn.Module) -> None:
        self.outer = build_outer_loss(self.options, self.counts)
        self.attack = self.make_attack(CrossEntropy())

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        x_adv = self.attack(classifier(model), x, y, generator=self.generator)
        logits = model(x_adv)
        loss = self.outer(logits, y).mean()
        return {"loss": loss, "logits": logits.detach()}
