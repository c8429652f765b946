"""REAT (Li et al.): re-balanced adversarial examples (RBL) and tail feature alignment (TAIL).

* Inner attack: PGD-10 on RBL, CE weighted per class by ``w_i`` (Eq. 1), from the number
  ``a_i`` of the previous epoch's training adversarial examples predicted as class i (epoch 1:
  ``a_i = n_i``). The loop hands over the counts summed over all processes.
* Outer loss: Balanced Softmax (``--loss``, default ``bsl``) on x_adv + TAIL on the penultimate
  features of x_adv; ``--tail-form official`` (default, the published code) or ``paper`` (Eq. 3).
  Tail classes: the tail group of docs/METHODS.md §1.
* With a sign-gradient L-inf step and the model in eval mode, a positive per-sample weight does
  not change the sign of that sample's input gradient, so RBL yields the same adversarial
  examples as plain CE (tested in ``tests/test_train_losses.py``). We keep it as published.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ltrobust.data.profile import class_groups
from ltrobust.train.base import TrainMethod, classifier
from ltrobust.train.losses import (
    ClassWeightedCE,
    build_outer_loss,
    rbl_weights,
    tail_official,
    tail_paper,
    tail_weights,
)
from ltrobust.train.method_options import ReatOptions


class Reat(TrainMethod[ReatOptions]):
    """``reat``: RBL inner attack, Balanced Softmax + TAIL outer loss."""

    name = "reat"

    def setup(self, net: nn.Module) -> None:
        self.outer = build_outer_loss(self.options, self.counts)
        self.omega = tail_weights(self.counts)
        tail = class_groups([int(c) for c in self.counts])["tail"]
        self.tail_mask = torch.zeros(len(self.counts), dtype=torch.bool)
        self.tail_mask[tail] = True
        self.tail_fn = tail_official if self.options.tail_form == "official" else tail_paper
        self.set_adv_counts(self.counts.clone())

    def set_adv_counts(self, adv_counts: torch.Tensor) -> None:
        """Set ``a`` (C) and rebuild the RBL attack with the new weights."""
        self.adv_counts = adv_counts.to(torch.float64).cpu()
        self.weights = rbl_weights(self.counts, self.adv_counts)
        self.attack = self.make_attack(ClassWeightedCE(self.weights.float(), "rbl"))

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        x_adv = self.attack(classifier(model), x, y, generator=self.generator)
        out = model(x_adv, parts=True)
        lt = self.outer(out["logits"], y).mean()
        tail = self.tail_fn(out["features"], y, self.omega, self.tail_mask)
        return {
            "loss": lt + tail,
            "logits": out["logits"].detach(),
            self.options.loss: lt.detach(),
            "tail": tail.detach(),
        }

    def end_epoch(self, adv_counts: torch.Tensor) -> None:
        self.set_adv_counts(adv_counts.sum(dim=0))

    def state_dict(self) -> dict[str, Any]:
        return {"adv_counts": self.adv_counts.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "adv_counts" in state:
            self.set_adv_counts(torch.as_tensor(state["adv_counts"]))
