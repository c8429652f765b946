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
from ltrobust.train.registry import PRESETS


def preset_dataset(preset: str) -> str:
    """The dataset a preset was tuned for: ``cifar10-R`` -> ``cifar10-lt``."""
    return preset.split("-", 1)[0] + "-lt"


def find_preset(name: str) -> str:
    """The canonical preset name (case-insensitive match) or ConfigError listing them."""
    for key in PRESETS:
        if key.lower() == name.strip().lower():
            return key
    raise ConfigError(f"unknown RoBal preset {name!r}; valid: {', '.join(PRESETS)}")


class RoBal(TrainMethod):
    """``robal``: cosine head, RoBal margins/bias + KL outer loss, PGD-5 on cosines."""

    name = "robal"

    @classmethod
    def resolve_options(
        cls, defaults: dict[str, Any], given: dict[str, Any], dataset: str
    ) -> dict[str, Any]:
        preset = given.get("preset")
        if preset is not None:
            preset = find_preset(str(preset))
            if preset_dataset(preset) != dataset:
                raise ConfigError(
                    f"RoBal preset {preset} is for {preset_dataset(preset)}, not {dataset}; "
                    "give the hyper-parameters as options instead"
                )
            base = PRESETS[preset]
        else:
            base = PRESETS["cifar100-N" if dataset == "cifar100-lt" else "cifar10-N"]
        options = {**defaults, **base, **given, "preset": preset}
        cls.check_options(options, defaults)
        return options

    @classmethod
    def check_options(cls, options: dict[str, Any], defaults: dict[str, Any]) -> None:
        super().check_options(options, defaults)
        if float(options["head_scale"]) <= 0 or float(options["head_gamma"]) < 0:
            raise ConfigError("--head-scale must be > 0 and --head-gamma >= 0")
        if float(options["beta"]) < 0:
            raise ConfigError(f"--beta must be >= 0, got {options['beta']}")

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "head": "cosine",
            "head_scale": float(self.options["head_scale"]),
            "head_gamma": float(self.options["head_gamma"]),
        }

    def setup(self, net: nn.Module) -> None:
        if not isinstance(getattr(net, "head", None), CosineHead):
            raise ConfigError("RoBal needs a model with a cosine head (head='cosine')")
        o = self.options
        self.scale = float(o["head_scale"])
        self.margins = robal_margins(self.counts, self.scale, float(o["m0"]), float(o["tau_m"]))
        self.bias = float(o["tau_b"]) * log_prior(self.counts)
        self.attack = self.make_attack(CrossEntropy())

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        x_adv = self.attack(CosineView(classifier(model)), x, y, generator=self.generator)
        adv = model(x_adv, parts=True)
        nat = model(x, parts=True)
        z = robal_logits(adv["cosine"], y, scale=self.scale, margins=self.margins, bias=self.bias)
        ce = F.cross_entropy(z, y)
        kl = kl_per_sample(nat["cosine"], adv["cosine"]).mean()
        loss = ce + float(self.options["beta"]) * kl
        return {
            "loss": loss,
            "logits": adv["logits"].detach(),
            "margin_ce": ce.detach(),
            "kl": kl.detach(),
        }

    def logit_adjustment(self) -> list[float] | None:
        tau_p = float(self.options["tau_p"])
        if tau_p == 0.0:
            return None
        return (-tau_p * log_prior(self.counts)).tolist()
