"""Attack losses: callables ``(logits N x C, y N) -> per-sample loss N`` to be maximised.

A loss carries a logit ``scale``: the logit-scaling attack and the kappa sweep multiply the
logits before the loss instead of writing new loops (REAT §5.2; RoBal §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class CrossEntropy:
    """``CE(scale * logits, y)`` per sample."""

    scale: float = 1.0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = logits if self.scale == 1.0 else logits * self.scale
        return F.cross_entropy(z, y, reduction="none")

    def __repr__(self) -> str:
        return "ce" if self.scale == 1.0 else f"ce(scale={self.scale:g})"


@dataclass(frozen=True)
class CWMargin:
    """Carlini-Wagner margin ``min(max_{j != y} z_j - z_y, kappa)`` (docs/METHODS.md §2.3).

    "CW" of the LT-robustness papers is PGD on this loss, not the L2 minimisation attack; as in
    RoBal's and AT-BSL's code (``-max(z_y - max_{j != y} z_j + kappa, 0)``, the same up to a
    constant) the clamp binds only once a sample is misclassified by more than ``kappa``, so
    every correctly classified sample has a gradient whatever the scale of the logits. Before
    ltrobust 0.2.0 the clamp was below at ``-kappa``, which zeroed the gradient of every sample
    classified correctly by more than ``kappa`` (CHANGELOG.md).
    """

    kappa: float = 50.0
    scale: float = 1.0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = logits if self.scale == 1.0 else logits * self.scale
        true = z.gather(1, y[:, None]).squeeze(1)
        others = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf"))
        return (others.amax(dim=1) - true).clamp(max=self.kappa)

    def __repr__(self) -> str:
        s = f"cw(kappa={self.kappa:g}"
        return s + (")" if self.scale == 1.0 else f", scale={self.scale:g})")


@dataclass(frozen=True)
class TemperatureCE:
    """Scale-invariant CE: ``CE(z / T(z), y)`` with a per-sample temperature ``T(z)`` equal to
    the (detached) standard deviation of the sample's logits over classes.

    Multiplying the logits by any positive factor leaves this loss, its gradient direction and
    therefore the attack unchanged, so it needs no guessed scale: it defeats both logit
    stretching (saturated softmax, exactly-zero gradients) and logit shrinking (a flat softmax
    that ignores the runner-up class). Used by the ``adaptive-auto`` attack.
    """

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        temp = logits.detach().float().std(dim=1, keepdim=True)
        temp = torch.where(temp > 0, temp, torch.ones_like(temp)).to(logits.dtype)
        return F.cross_entropy(logits / temp, y, reduction="none")

    def __repr__(self) -> str:
        return "ce(per-sample temperature = std of logits)"
