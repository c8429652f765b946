"""The attack contract, owned by the base class (after foolbox's ``attacks/base.py``).

:meth:`Attack.run` validates input, switches the model to eval mode and restores it, projects
the result onto the threat model, detaches it and never mutates ``x``; calling an attack gives
just the adversarial batch. Subclasses only implement :meth:`Attack._run`.

Attacks are immutable after construction: what varies per call comes in as arguments (the random
seeds, an observer of the gradients) and what a call finds beyond the adversarial batch comes
back in :class:`AttackOutput` (e.g. which AutoAttack component broke each sample).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ltrobust.attacks.rng import per_sample_noise
from ltrobust.attacks.spec import UNIFORM, StartRule
from ltrobust.attacks.threat import ThreatModel

#: observes every input gradient of an iterative attack: (step index, x_adv N x ..., grad N x ...);
#: it must not modify its arguments
GradObserver = Callable[[int, torch.Tensor, torch.Tensor], None]


@dataclass(frozen=True)
class AttackOutput:
    """What one call of an attack returns: the adversarial batch and, for attacks that report
    them, per-call details (e.g. ``{"broken_by": [component or "" per sample]}``)."""

    x_adv: torch.Tensor
    details: Mapping[str, Any] = field(default_factory=dict)


class Attack(ABC):
    """Base class of all attacks.

    Args:
        threat: the allowed perturbation set.
        name: the short name reports use (``pgd20``, ``aa``, ...).

    Subclasses set their own attributes in ``__init__`` and end it with :meth:`_freeze`; any
    later assignment raises ``AttributeError``.
    """

    #: whether the attack draws a random start (it then needs ``seeds`` or a ``generator``)
    random_start: bool = False
    #: how a random start is drawn (:class:`~ltrobust.attacks.spec.StartRule`): uniform in the
    #: ball, clipped to the box or not before the first gradient (RoBal's and AT-BSL's evaluation
    #: code), or ``x + sigma * N(0, 1)``, not clipped (AT-BSL's FGSM, sigma = 0.001)
    start_rule: StartRule = UNIFORM

    def __init__(self, threat: ThreatModel, name: str) -> None:
        self.threat = threat
        self.name = name

    def _freeze(self) -> None:
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, key: str, value: Any) -> None:
        if self.__dict__.get("_frozen"):
            raise AttributeError(
                f"{type(self).__name__} is immutable; build a new attack instead of setting {key}"
            )
        object.__setattr__(self, key, value)

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        seeds: torch.Tensor | None = None,
        observer: GradObserver | None = None,
    ) -> torch.Tensor:
        """The adversarial batch of :meth:`run` (same arguments)."""
        return self.run(model, x, y, generator=generator, seeds=seeds, observer=observer).x_adv

    def run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        seeds: torch.Tensor | None = None,
        observer: GradObserver | None = None,
    ) -> AttackOutput:
        """Adversarial examples for ``x`` (N x C x H x W in bounds) with labels ``y`` (N).

        Randomness: ``seeds`` (int64, N) gives every sample its own random start, independent
        of how samples are batched; otherwise ``generator`` draws the batch's noise; otherwise a
        generator seeded with 0 does. ``observer`` sees every gradient of an iterative attack
        (other attacks ignore it).
        """
        self._validate(x, y, seeds)
        was_training = model.training
        model.eval()
        try:
            x0 = x.detach()
            if self.threat.eps == 0:
                return AttackOutput(x0.clone())
            with torch.enable_grad():
                out = self._run(model, x0, y, self._start(x0, generator, seeds), observer)
            x_adv = self.threat.project_if_outside(out.x_adv.detach(), x0)
            return AttackOutput(x_adv, out.details)
        finally:
            model.train(was_training)

    @abstractmethod
    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        start: torch.Tensor,
        observer: GradObserver | None,
    ) -> AttackOutput:
        """Compute the adversarial batch from the clean ``x`` and the starting point ``start``."""

    def _start(
        self, x: torch.Tensor, generator: torch.Generator | None, seeds: torch.Tensor | None
    ) -> torch.Tensor:
        if not self.random_start:
            return x.clone()
        rule = self.start_rule
        normal = self.threat.norm == "l2" or rule.kind == "normal"
        if seeds is not None:
            uniform = per_sample_noise(x.shape, seeds)
            gauss = per_sample_noise(x.shape, seeds, normal=True) if normal else uniform
        else:
            gen = generator if generator is not None else torch.Generator().manual_seed(0)
            dev = gen.device
            uniform = torch.rand(x.shape, generator=gen, device=dev)
            gauss = torch.randn(x.shape, generator=gen, device=dev) if normal else uniform
        uniform = uniform.to(device=x.device, dtype=x.dtype)
        gauss = gauss.to(device=x.device, dtype=x.dtype)
        if rule.kind == "normal":
            return x + rule.sigma * gauss
        return self.threat.random_start(x, uniform, gauss, clip=rule.clip)

    def _validate(self, x: torch.Tensor, y: torch.Tensor, seeds: torch.Tensor | None) -> None:
        if x.dim() < 2 or not x.is_floating_point():
            raise ValueError(f"x must be a float tensor N x ..., got {tuple(x.shape)} {x.dtype}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
        if seeds is not None and seeds.shape != (x.shape[0],):
            raise ValueError(f"seeds must have shape ({x.shape[0]},), got {tuple(seeds.shape)}")
        lo, hi = self.threat.bounds
        if x.numel() and (x.min().item() < lo - 1e-6 or x.max().item() > hi + 1e-6):
            raise ValueError(f"inputs must lie in [{lo}, {hi}] (normalise inside the model)")

    def settings(self) -> dict[str, object]:
        """All settings as data (stored in reports)."""
        return {"name": self.name, "norm": self.threat.norm, "eps": self.threat.eps}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if k != "name")
        return f"{type(self).__name__}({self.name}: {args})"
