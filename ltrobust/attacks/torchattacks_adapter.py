"""Attacks of torchattacks (Kim 2020), the package AT-BSL, RobustLT, TAET and REAT evaluate
with, run as those papers run them (docs/PROTOCOLS.md).

torchattacks draws its random starts from torch's global RNG; here every call runs in a forked
RNG seeded with the attack's ``seed``, so a batch always gets the same starts and the caller's
RNG is untouched (like AutoAttack, the result depends on how the samples are batched). Its
AutoAttack is not fra31's: APGD, APGD-T and FAB take 10 iterations, the targeted ones C − 1
targets, and Square's schedule is rescaled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ltrobust.attacks.base import Attack, AttackOutput, GradObserver
from ltrobust.attacks.threat import ThreatModel
from ltrobust.errors import ConfigError

KINDS = ("AutoAttack", "PGD", "FGSM")


def _torchattacks() -> Any:
    try:
        import torchattacks
    except ImportError:
        raise ConfigError(
            "this protocol runs torchattacks, which is not installed: pip install "
            "'torchattacks==3.5.1' (make installs it)"
        ) from None
    return torchattacks


class TorchattacksAttack(Attack):
    """torchattacks' ``kind`` (AutoAttack, PGD or FGSM) with ``settings`` (``steps``,
    ``step_size``), in the threat model's L-inf ball."""

    def __init__(
        self,
        threat: ThreatModel,
        kind: str,
        *,
        settings: Mapping[str, Any],
        seed: int = 0,
        name: str = "ta",
    ) -> None:
        super().__init__(threat, name)
        if kind not in KINDS:
            raise ValueError(f"unknown torchattacks attack {kind!r}")
        if threat.norm != "linf":
            raise ConfigError(f"torchattacks' {kind} replays L-inf protocols only")
        self.kind, self.seed = kind, int(seed)
        self.options = dict(settings)
        self._freeze()

    def _build(self, model: nn.Module, num_classes: int) -> Any:
        ta, eps = _torchattacks(), self.threat.eps
        if self.kind == "AutoAttack":
            return ta.AutoAttack(
                model,
                norm="Linf",
                eps=eps,
                version="standard",
                n_classes=num_classes,
                seed=self.seed,
            )
        if self.kind == "PGD":
            return ta.PGD(
                model,
                eps=eps,
                alpha=float(self.options["step_size"]),
                steps=int(self.options["steps"]),
                random_start=True,
            )
        return ta.FGSM(model, eps=eps)

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        start: torch.Tensor,
        observer: GradObserver | None,
    ) -> AttackOutput:
        with torch.no_grad():
            num_classes = int(model(x[:1]).shape[1])
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            x_adv = self._build(model, num_classes)(x, y)
        model.eval()  # torchattacks restores the mode it found; the caller's contract is eval
        return AttackOutput(x_adv.detach().to(x.dtype))

    def settings(self) -> dict[str, object]:
        out: dict[str, object] = {
            **super().settings(),
            "implementation": "torchattacks 3.5.1",
            "attack": self.kind,
            "seed": self.seed,
        }
        out.update({k: v for k, v in self.options.items() if k in ("steps", "step_size")})
        return out
