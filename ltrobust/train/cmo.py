"""Context-rich Minority Oversampling (CMO; Park et al., CVPR 2022), with any outer loss.

With probability ``--mix-prob`` (0.5) a batch of the long-tailed order gets, on every image, the
same CutMix box (``lam ~ Beta(--mix-beta, --mix-beta)``, Beta(1, 1)) filled from a batch drawn by
a class-balanced sampler (probability of an image proportional to ``1 / n_y``, with replacement)
and augmented like the training batch; the labels are mixed by the area kept,
``lam L(z, y) + (1 - lam) L(z, y_patch)`` with ``L`` = ``--loss`` (``bsl`` is BS+CMO). As in the
official code (``naver-ai/cmo`` ``cifar_train.py``: ``start_data_aug 3 < epoch <
epochs - end_data_aug 3``, 0-based) no batch is mixed in the first ``--cmo-skip-first`` (4) and
the last ``--cmo-skip-last`` (3) epochs. docs/METHODS.md §4.6.
"""

from __future__ import annotations

import torch
from torch import nn

from ltrobust.train.base import TrainMethod
from ltrobust.train.losses import build_outer_loss
from ltrobust.train.method_options import CmoOptions
from ltrobust.train.mixing import balanced_indices, mix_batch, mixed_loss, unmixed


class Cmo(TrainMethod[CmoOptions]):
    """``cmo``: class-balanced CutMix patches on the long-tailed batch, ``--loss`` outer loss."""

    name = "cmo"
    inner_attack = False

    def setup(self, net: nn.Module) -> None:
        self.outer = build_outer_loss(self.options, self.counts)
        self.beta = self.options.mix_beta
        self.mixing = False

    def begin_epoch(self, epoch: int, model: nn.Module) -> dict[str, float]:
        o = self.options
        self.mixing = o.cmo_skip_first < epoch <= self.config.epochs - o.cmo_skip_last
        return {}

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        mixed = unmixed(x, y)
        gen, data = self.generator, self.data
        draw = self.mixing and data is not None and gen is not None
        if draw and float(torch.rand(1, generator=gen)) < self.options.mix_prob:
            assert data is not None and gen is not None
            idx = balanced_indices(data.y, len(y), gen)
            patches = data.augment(data.x[idx]).to(x.device)
            mixed = mix_batch(x, patches, data.y[idx].to(y.device), self.beta, gen)
        logits = model(mixed.x)
        loss = mixed_loss(self.outer, logits, y, mixed).mean()
        share = torch.tensor(0.0 if mixed.x is x else 1.0)
        return {"loss": loss, "logits": logits.detach(), "mixed_share": share}
