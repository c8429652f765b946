"""One iterative first-order attack; FGSM, PGD, MIM, CW-PGD and the logit-scaling attacks are
settings of it (after MadryLab's ``attack_steps``; docs/METHODS.md §2).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ltrobust.attacks.base import Attack, AttackOutput, GradObserver
from ltrobust.attacks.spec import UNIFORM, StartRule
from ltrobust.attacks.threat import ThreatModel

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class IterativeAttack(Attack):
    """Projected steepest ascent on a per-sample ``loss`` for ``steps`` iterations.

    Each step: ``x <- Proj(x + step_size * dir(g))`` where ``dir`` is the sign (L-inf) or the
    unit-L2 gradient (L2), and ``g`` is the input gradient of the summed per-sample loss or,
    with ``momentum`` mu, ``g <- mu * g + grad / mean(|grad|)`` per sample (MIM, Dong et al.).
    The last iterate is returned.

    Args:
        threat: threat model.
        loss: ``(logits N x K, y N) -> N`` to maximise (see :mod:`ltrobust.attacks.losses`).
        steps: number of gradient steps.
        step_size: step length in the threat model's norm.
        random_start: start from a random point (see ``start``) instead of ``x``.
        momentum: MIM decay factor, or ``None`` for plain PGD.
        name: short name for reports.
        eot: expectation over transformation: the gradient of every step is the mean over
            ``eot`` forward and backward passes (for randomised models; Athalye et al. 2018).
        start: how the random start is drawn (see :attr:`Attack.start_rule`); a rule of kind
            ``none`` means no random start whatever ``random_start`` says.

    A call's ``observer`` (see :meth:`Attack.run`) sees every gradient, before momentum.
    """

    def __init__(
        self,
        threat: ThreatModel,
        loss: LossFn,
        *,
        steps: int,
        step_size: float,
        random_start: bool = True,
        momentum: float | None = None,
        name: str = "pgd",
        eot: int = 1,
        start: StartRule = UNIFORM,
    ) -> None:
        super().__init__(threat, name)
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.loss = loss
        self.steps = steps
        self.step_size = float(step_size)
        self.random_start = random_start and start.random
        self.momentum = momentum
        if eot < 1:
            raise ValueError(f"eot must be >= 1, got {eot}")
        self.eot = eot
        self.start_rule = start
        self._freeze()

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        start: torch.Tensor,
        observer: GradObserver | None,
    ) -> AttackOutput:
        x_adv = start
        mu = self.momentum
        velocity = torch.zeros_like(x) if mu is not None else None
        for t in range(self.steps):
            grad = self._gradient(model, x_adv, y)
            x_adv = x_adv.detach()
            if observer is not None:
                observer(t, x_adv, grad)
            if velocity is not None and mu is not None:
                scale = grad.abs().flatten(1).mean(dim=1).clamp_min(1e-12)
                velocity = mu * velocity + grad / scale.view(-1, *[1] * (x.dim() - 1))
                grad = velocity
            x_adv = self.threat.project(
                x_adv + self.step_size * self.threat.step_direction(grad), x
            )
        return AttackOutput(x_adv)

    def _gradient(self, model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The input gradient of the summed loss, averaged over ``eot`` draws."""
        x_adv.requires_grad_(True)
        grads = []
        for _ in range(self.eot):
            loss = self.loss(model(x_adv), y).sum()
            grads.append(torch.autograd.grad(loss, x_adv)[0])
        return grads[0] if self.eot == 1 else torch.stack(grads).mean(dim=0)

    def settings(self) -> dict[str, object]:
        out: dict[str, object] = {
            **super().settings(),
            "loss": repr(self.loss),
            "steps": self.steps,
            "step_size": self.step_size,
            "random_start": self.random_start,
            "momentum": self.momentum,
        }
        if self.eot > 1:
            out["eot"] = self.eot
        if self.random_start and self.start_rule != UNIFORM:
            out["start"] = self.start_rule.label
        return out
