"""Threat models: the set of allowed perturbations around an input.

Inputs are pixels in ``bounds`` (default [0, 1]); normalisation belongs to the model, never here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ltrobust.errors import ConfigError
from ltrobust.values import NORMS


@dataclass(frozen=True)
class ThreatModel:
    """An ``norm``-ball of radius ``eps`` intersected with the box ``bounds``.

    Args:
        norm: ``"linf"`` or ``"l2"``.
        eps: radius of the ball, in pixel units of [0, 1] images.
        bounds: valid pixel range.
    """

    norm: str = "linf"
    eps: float = 8 / 255
    bounds: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ConfigError(f"unknown norm {self.norm!r}; valid: {', '.join(NORMS)}")
        if not (self.eps >= 0 and math.isfinite(self.eps)):
            raise ConfigError(f"eps must be >= 0, got {self.eps}")

    def distance(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-sample distance ``||x_adv - x||`` in this norm: N."""
        d = (x_adv - x).flatten(1)
        return d.abs().amax(dim=1) if self.norm == "linf" else d.norm(p=2, dim=1)

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Project ``x_adv`` (N x ...) onto the ball around ``x`` and clamp to ``bounds``."""
        delta = x_adv - x
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            norms = delta.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
            factor = (self.eps / norms).clamp(max=1.0)
            delta = delta * factor.view(-1, *([1] * (delta.dim() - 1)))
        lo, hi = self.bounds
        return (x + delta).clamp(lo, hi)

    def contains(self, x_adv: torch.Tensor, x: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
        """Per-sample flags (N): ``x_adv`` lies in the ball (up to ``tol``) and in bounds."""
        lo, hi = self.bounds
        flat = x_adv.flatten(1)
        in_box = (flat >= lo).all(dim=1) & (flat <= hi).all(dim=1)
        return in_box & (self.distance(x_adv, x) <= self.eps + tol)

    def project_if_outside(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Project only the samples that leave the ball or the box; others stay bit-identical
        (so a reference implementation's output is returned unchanged)."""
        inside = self.contains(x_adv, x)
        if bool(inside.all()):
            return x_adv
        keep = inside.view(-1, *([1] * (x.dim() - 1)))
        return torch.where(keep, x_adv, self.project(x_adv, x))

    def step_direction(self, grad: torch.Tensor) -> torch.Tensor:
        """Steepest-ascent direction for this norm: sign (L-inf) or unit-L2 gradient (L2)."""
        if self.norm == "linf":
            return grad.sign()
        norms = grad.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
        return grad / norms.view(-1, *([1] * (grad.dim() - 1)))

    def random_start(
        self, x: torch.Tensor, uniform: torch.Tensor, gauss: torch.Tensor, clip: bool = True
    ) -> torch.Tensor:
        """A point drawn uniformly from the ball around ``x``, clamped to ``bounds`` (unless
        ``clip`` is False: some reference code takes its first gradient there).

        Args:
            x: N x ... clean inputs.
            uniform: U(0, 1) noise shaped like ``x`` (L-inf uses it element-wise; L2 uses its
                first entry per sample as the radius draw).
            gauss: standard normal noise shaped like ``x`` (L2 direction; unused for L-inf).
        """
        if self.norm == "linf":
            delta = (2.0 * uniform - 1.0) * self.eps
        else:
            d = x[0].numel()
            direction = self.step_direction(gauss)
            radius = self.eps * uniform.flatten(1)[:, 0] ** (1.0 / d)
            delta = direction * radius.view(-1, *([1] * (x.dim() - 1)))
        lo, hi = self.bounds
        return (x + delta).clamp(lo, hi) if clip else x + delta
