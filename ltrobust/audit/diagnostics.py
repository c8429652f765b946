"""Tools of the diagnostics of fake robustness (docs/METHODS.md §3): the logit rescaling of
the kappa sweep, the zero-gradient meter, the unbounded-budget attack and a randomness probe.

Everything here is measured on the deployed logits, with the same attack objects as the audit.
Their settings are :class:`ltrobust.audit.config.DiagnosticsConfig`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ltrobust.attacks.base import Attack
from ltrobust.attacks.registry import build_attack, name_with_role
from ltrobust.attacks.threat import ThreatModel


class LogitScale(nn.Module):
    """``model(x) * factor``: the kappa re-scaling, factor = 10 ** (-kappa)."""

    def __init__(self, model: nn.Module, factor: float) -> None:
        super().__init__()
        self.model = model
        self.factor = float(factor)
        # take the wrapped model's mode: an attack restores the wrapper's mode on exit, and a
        # wrapper left in train mode would switch the audited model's dropout/BN on with it
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.factor


class ZeroGradMeter:
    """Collects, per sample, the share of input-gradient entries that are exactly 0.

    Pass :meth:`hook` as an attack call's ``observer``; call :meth:`end_batch` after each batch.
    ``entry_ratio()`` is the mean over iterations of the per-sample zero-entry share;
    ``sample_ratio()`` the share of iterations whose whole gradient was 0.
    """

    def __init__(self) -> None:
        self._entries: list[torch.Tensor] = []
        self._whole: list[torch.Tensor] = []
        self._cur: list[torch.Tensor] | None = None

    def hook(self, step: int, x_adv: torch.Tensor, grad: torch.Tensor) -> None:
        zero = (grad == 0).flatten(1)
        stats = torch.stack([zero.float().mean(1), zero.all(1).float()]).cpu()
        self._cur = [stats] if self._cur is None else [*self._cur, stats]

    def end_batch(self) -> None:
        if self._cur:
            mean = torch.stack(self._cur).mean(0)
            self._entries.append(mean[0])
            self._whole.append(mean[1])
        self._cur = None

    def entry_ratio(self) -> torch.Tensor:
        return torch.cat(self._entries) if self._entries else torch.empty(0)

    def sample_ratio(self) -> torch.Tensor:
        return torch.cat(self._whole) if self._whole else torch.empty(0)


#: the attack table's row of the unbounded attack
UNBOUNDED = name_with_role("whole-box")


def unbounded_attack(threat: ThreatModel, shape: Sequence[int]) -> Attack:
    """PGD-20 on CE with an eps-ball that holds the whole box: it must reach about 0%.

    The table's ``whole-box`` row: L-inf eps = the box's width (1), step eps / 10; L2 eps = the
    box diagonal sqrt(d) for samples of ``shape``, step eps / 10.
    """
    return build_attack(UNBOUNDED, threat, None, sample_shape=shape)


def is_randomised(model: nn.Module, x: torch.Tensor) -> bool:
    """True if two forward passes on the same inputs differ (dropout at test time, noise...)."""
    with torch.no_grad():
        return not torch.equal(model(x), model(x))
