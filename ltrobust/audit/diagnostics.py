"""Diagnostics of fake robustness (METHODS §3): zero-gradient ratios, the kappa sweep, an
unbounded-eps attack and a randomness probe.

Everything here is measured on the deployed logits, with the same attack objects as the audit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.attacks import CrossEntropy, IterativeAttack, ThreatModel

#: RoBal §3.3, Fig. 2: kappa in {-2, -1.5, ..., 2}
DEFAULT_KAPPAS = tuple(k / 2 for k in range(-4, 5))


@dataclass
class Thresholds:
    """When a check counts as triggered; fractions of samples (0.03 = 3 points)."""

    inflation: float = 0.05  #: headline minus believed accuracy that makes "inflated"
    kappa_gap: float = 0.05  #: PGD-20 at kappa 0 above the sweep's lowest PGD-20
    adaptive_gap: float = 0.05  #: PGD-20 above the logit-scaling adaptive attacks
    aa_gap: float = 0.08  #: PGD-20 above AutoAttack (standard AT models show 2-4 points)
    fgsm_margin: float = 0.01  #: FGSM below PGD-20 by more than this
    steps_gap: float = 0.02  #: PGD-20 above PGD-100 by more than this
    zero_grad: float = 0.05  #: share of samples whose whole clean input gradient is 0
    unbounded: float = 0.05  #: accuracy an eps = whole-box attack may leave
    square: float = 0.005  #: share of samples only Square breaks
    tail_targets: float = 0.005  #: share of samples only tail-targeted APGD breaks
    min_samples: int = 5  #: a gap must concern at least this many samples to count


@dataclass
class DiagnosticsConfig:
    """Which diagnostics an audit runs (all by default)."""

    sweep: bool = True
    kappas: tuple[float, ...] = DEFAULT_KAPPAS
    invariant: bool = True  #: APGD-DLR at the smallest, zero and largest kappa
    unbounded: bool = True
    unbounded_n: int = 500  #: samples for the unbounded attack (evenly spaced)
    thresholds: Thresholds = field(default_factory=Thresholds)


def parse_kappas(text: str) -> tuple[float, ...]:
    """``"-2:2:0.5"`` (start:stop:step, inclusive) or ``"-2,0,2"`` -> sorted kappas."""
    from ltrobust.attacks.threat import parse_number
    from ltrobust.errors import ConfigError

    if ":" in text:
        parts = [parse_number(p, name="--kappa") for p in text.split(":")]
        if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
            raise ConfigError(f"--kappa {text!r}: use START:STOP:STEP with STEP > 0, e.g. -2:2:0.5")
        count = int(round((parts[1] - parts[0]) / parts[2])) + 1
        values = [round(parts[0] + i * parts[2], 10) for i in range(count)]
    else:
        values = [parse_number(p, name="--kappa") for p in text.split(",") if p.strip()]
    if not values or len(values) > 101:
        raise ConfigError(f"--kappa {text!r}: give 1 to 101 values")
    return tuple(sorted(set(values)))


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

    Use :meth:`hook` as an attack's ``grad_hook``; call :meth:`end_batch` after each batch.
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


def clean_gradient_zero(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """2 x N: per-sample share of exactly-zero entries of the CE input gradient at ``x``, and
    whether the whole gradient is zero (RoBal §3.3)."""
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(xg), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    zero = (grad == 0).flatten(1)
    return torch.stack([zero.float().mean(1), zero.all(1).float()]).cpu()


def by_group(
    values: torch.Tensor, y: torch.Tensor, groups: Mapping[str, Sequence[int]]
) -> dict[str, Any]:
    """``{"overall": mean, "groups": {g: mean over the group's samples or None}}``."""
    y, values = y.cpu(), values.double().cpu()
    out: dict[str, float | None] = {}
    for g, classes in groups.items():
        mask = torch.isin(y, torch.tensor(list(classes), dtype=y.dtype))
        out[g] = float(values[mask].mean()) if bool(mask.any()) else None
    return {"overall": float(values.mean()) if len(values) else None, "groups": out}


def accuracy_by_group(
    pred: torch.Tensor, y: torch.Tensor, groups: Mapping[str, Sequence[int]]
) -> dict[str, Any]:
    """Accuracy overall and per group (pooled recall) from predictions."""
    return by_group((pred.cpu() == y.cpu()).float(), y, groups)


def unbounded_attack(threat: ThreatModel, shape: Sequence[int]) -> IterativeAttack:
    """PGD-20 on CE with an eps-ball that holds the whole box: it must reach about 0%.

    L-inf: eps = 1, step 0.1. L2: eps = the box diagonal sqrt(d), step eps / 10.
    """
    d = 1
    for s in shape:
        d *= int(s)
    eps = 1.0 if threat.norm == "linf" else float(d) ** 0.5
    return IterativeAttack(
        ThreatModel(threat.norm, eps, threat.bounds),
        CrossEntropy(),
        steps=20,
        step_size=eps / 10,
        name="unbounded",
    )


def is_randomised(model: nn.Module, x: torch.Tensor) -> bool:
    """True if two forward passes on the same inputs differ (dropout at test time, noise...)."""
    with torch.no_grad():
        return not torch.equal(model(x), model(x))
