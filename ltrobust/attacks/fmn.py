"""FMN, the fast minimum-norm attack (Pintor et al., NeurIPS 2021), for L-inf and L2.

Written for ltrobust after its reference implementations (the authors'
``maurapintor/Fast-Minimum-Norm-FMN-Attack`` and adv-lib's ``fmn``; docs/METHODS.md §2.9). Each
step, per sample:

1. ``margin = z_y - max_{j != y} z_j`` at ``x + delta`` and its input gradient ``g``; if the
   point is misclassified and ``||delta||`` is the smallest so far, it is the best point;
2. the radius bound ``rho`` shrinks to ``min(rho (1 - gamma), best norm)`` at an adversarial
   point, grows to ``rho (1 + gamma)`` at a robust one once any adversarial point was found,
   and before that jumps to the linearised boundary ``||delta|| + |margin| / ||g||_*`` (``*``
   the dual norm), but at least to ``||delta|| (1 + gamma)``;
3. ``delta <- delta - alpha g / ||g||_2`` (the L2-normalised gradient for both norms, as the
   reference code), then projected onto the ``rho``-ball and clamped to the box.

``alpha`` and ``gamma`` follow cosine annealing from ``alpha_init`` to ``alpha_init / 100`` and
from ``gamma_init`` to ``gamma_final``. Unlike the reference code: the bound grows by at least
``1 + gamma`` before the first adversarial point (otherwise, on a linear model, the step lands
exactly on the boundary, the tie keeps the true class and the bound never grows again); the
point reached by the last step is also checked (one more forward pass); and a sample never
broken has radius ``inf`` rather than the largest norm in the box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.attacks.base import Attack, AttackOutput, GradObserver
from ltrobust.attacks.threat import ThreatModel


@dataclass(frozen=True)
class MinimalNorm:
    """Per sample (N): the smallest adversarial radius found (0 misclassified clean, ``inf``
    none found) and the point found (the clean input where none was)."""

    radius: torch.Tensor
    x_adv: torch.Tensor


def _norm(v: torch.Tensor, p: float) -> torch.Tensor:
    return v.flatten(1).norm(p=p, dim=1)


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def _margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``z_y - max_{j != y} z_j`` per sample: negative when misclassified."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return true - others.amax(dim=1)


class FastMinimumNorm(Attack):
    """FMN (see the module docstring) as an :class:`Attack`.

    :meth:`minimal` gives every sample's smallest radius found and its point, whatever the
    threat's ``eps``; a call of the attack (:meth:`Attack.run`) returns the point found where
    its radius is at most ``eps`` and the clean input elsewhere, with ``details["radius"]`` (N,
    on the CPU). Deterministic: no random start.

    Args:
        threat: norm (``linf`` or ``l2``), the ``eps`` a call is judged at, and the box.
        steps: iterations (the reference implementations default to 10; ltrobust to 100 since
            the radius itself is reported).
        alpha_init: initial step size (annealed to ``alpha_init / 100``).
        gamma_init, gamma_final: initial and final factor of the radius-bound update.
    """

    def __init__(
        self,
        threat: ThreatModel,
        *,
        steps: int = 100,
        alpha_init: float = 1.0,
        gamma_init: float = 0.05,
        gamma_final: float = 0.001,
        name: str = "fmn",
    ) -> None:
        super().__init__(threat, name)
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps = int(steps)
        self.alpha_init, self.alpha_final = float(alpha_init), float(alpha_init) / 100
        self.gamma_init, self.gamma_final = float(gamma_init), float(gamma_final)
        self._freeze()

    @property
    def p(self) -> float:
        """The norm's exponent."""
        return math.inf if self.threat.norm == "linf" else 2.0

    @property
    def dual(self) -> float:
        """The dual norm's exponent (L1 for L-inf, L2 for L2)."""
        return 1.0 if self.threat.norm == "linf" else 2.0

    def minimal(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MinimalNorm:
        """Run FMN on ``x`` (N x ..., in the box) with labels ``y``; the model is put in eval
        mode and restored, ``x`` is not modified."""
        self._validate(x, y, None)
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                return self._search(model, x.detach(), y)
        finally:
            model.train(was_training)

    def _project(self, delta: torch.Tensor, rho: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``delta`` onto the ``rho``-ball (per sample), then ``x + delta`` into the box."""
        if self.threat.norm == "linf":
            bound = _view(rho, delta)
            delta = torch.maximum(torch.minimum(delta, bound), -bound)
        else:
            factor = (rho / _norm(delta, 2).clamp_min(1e-12)).clamp(max=1.0)
            delta = delta * _view(factor, delta)
        lo, hi = self.threat.bounds
        return (x + delta).clamp(lo, hi) - x

    def _search(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MinimalNorm:
        lo, hi = self.threat.bounds
        worst = _norm(torch.maximum(x - lo, hi - x), self.p)
        best = torch.full_like(worst, math.inf)
        best_x = x.clone()
        found = torch.zeros_like(best, dtype=torch.bool)
        rho = torch.full_like(best, math.inf)
        delta = torch.zeros_like(x)
        for i in range(self.steps + 1):
            delta.requires_grad_(True)
            logits = model(x + delta)
            margin = _margin(logits, y)
            grad = torch.autograd.grad(margin.sum(), delta)[0] if i < self.steps else None
            delta, margin = delta.detach(), margin.detach()
            point = (x + delta).clamp(lo, hi)  # x + delta up to rounding
            size = _norm(point - x, self.p)
            adv = logits.detach().argmax(1) != y
            better = adv & (size < best)
            best = torch.where(better, size, best)
            best_x = torch.where(_view(better, x), point, best_x)
            found |= adv
            if grad is None:
                break
            cosine = (1 + math.cos(math.pi * i / self.steps)) / 2
            alpha = self.alpha_final + (self.alpha_init - self.alpha_final) * cosine
            gamma = self.gamma_final + (self.gamma_init - self.gamma_final) * cosine
            boundary = size + margin.abs() / _norm(grad, self.dual).clamp_min(1e-12)
            grown = torch.where(found, rho * (1 + gamma), boundary.maximum(size * (1 + gamma)))
            rho = torch.where(adv, torch.minimum(rho * (1 - gamma), best), grown)
            rho = torch.minimum(rho, worst)
            step = grad / _view(_norm(grad, 2).clamp_min(1e-12), grad)
            delta = self._project(delta - alpha * step, rho, x)
        return MinimalNorm(best.detach(), best_x.detach())

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        start: torch.Tensor,
        observer: GradObserver | None,
    ) -> AttackOutput:
        found = self._search(model, x, y)
        inside = found.radius <= self.threat.eps
        x_adv = torch.where(_view(inside, x), found.x_adv, x)
        return AttackOutput(x_adv, {"radius": found.radius.cpu()})

    def settings(self) -> dict[str, object]:
        return {
            **super().settings(),
            "implementation": "ltrobust FMN (Pintor et al. 2021)",
            "steps": self.steps,
            "alpha_init": self.alpha_init,
            "alpha_final": self.alpha_final,
            "gamma_init": self.gamma_init,
            "gamma_final": self.gamma_final,
        }
