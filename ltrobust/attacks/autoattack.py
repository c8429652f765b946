"""Adapter to AutoAttack's reference implementation (``pyautoattack``, Croce & Hein 2020).

``aa`` is the standard version (APGD-CE, APGD-T with 9 targets, FAB-T with 9 targets, Square
with 5000 queries), worst case per sample. ``aa-fast`` is APGD-CE + APGD-T with the standard
version's settings (as RoBal evaluated). With fewer than 10 classes the number of targets is
capped at C - 1.

pyautoattack re-seeds torch's global RNG with its fixed ``seed`` for every batch; we run it in a
forked RNG so the caller's global state is untouched. Its random starts depend on how samples
are batched, so (unlike our own attacks) its result can change with the batch size: the audit
passes it fixed chunks of ``batch_size`` samples, and calling ``AutoAttack`` directly on the same
chunk with the same seed gives the same adversarial examples.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ltrobust.attacks.base import Attack
from ltrobust.attacks.threat import ThreatModel

logger = logging.getLogger(__name__)

AA_VERSIONS = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "fast": ("apgd-ce", "apgd-t"),
    "dlr": ("apgd-dlr",),  # logit-scale invariant: the kappa sweep's reference attack
}


def make_autoattack(
    model: nn.Module,
    threat: ThreatModel,
    *,
    version: str,
    seed: int,
    num_classes: int,
    device: torch.device,
):  # -> pyautoattack.AutoAttack (typed loosely: the package ships no stubs)
    """Build a configured ``pyautoattack.AutoAttack`` (exposed so tests can call it directly)."""
    from pyautoattack import AutoAttack

    norm = {"linf": "Linf", "l2": "L2"}[threat.norm]
    if version == "standard":
        aa = AutoAttack(
            model, norm=norm, eps=threat.eps, seed=seed, version="standard", device=device
        )
    else:
        aa = AutoAttack(
            model,
            norm=norm,
            eps=threat.eps,
            seed=seed,
            version="custom",
            device=device,
            attacks=list(AA_VERSIONS[version]),
        )
        aa.apgd.n_restarts = 1
        aa.apgd_targeted.n_restarts = 1
    targets = max(1, min(9, num_classes - 1))
    aa.apgd_targeted.n_target_classes = targets
    aa.fab.n_target_classes = targets
    aa.verbose = False
    return aa


class AutoAttackAdapter(Attack):
    """AutoAttack as an :class:`Attack`: one call runs the whole ensemble on the batch."""

    def __init__(
        self, threat: ThreatModel, *, version: str = "standard", seed: int = 0, name: str = "aa"
    ) -> None:
        super().__init__(threat, name)
        if version not in AA_VERSIONS:
            raise ValueError(f"unknown AutoAttack version {version!r}")
        self.version = version
        self.seed = seed
        self.last_details: dict[str, list[str]] | None = None

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor
    ) -> torch.Tensor:
        """Run the components one after the other on the samples still robust.

        Each component gets the survivors of the previous ones, in order, in one batch: exactly
        the batches AutoAttack's own ``run_standard_evaluation`` forms, so the result equals one
        standard call, and ``last_details["broken_by"]`` says which component broke each sample
        (``""`` for none).
        """
        with torch.no_grad():
            logits = model(x)
        robust = logits.argmax(1) == y
        broken_by = [""] * len(y)
        x_adv = x.clone()
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            aa = make_autoattack(
                model,
                self.threat,
                version=self.version,
                seed=self.seed,
                num_classes=int(logits.shape[1]),
                device=x.device,
            )
            for component in AA_VERSIONS[self.version]:
                idx = robust.nonzero().flatten()
                if len(idx) == 0:
                    break
                aa.attacks_to_run = [component]
                xa, ya = aa.run_standard_evaluation(x[idx], y[idx], batch_size=len(x))
                newly = idx[ya != y[idx]]
                x_adv[newly] = xa[ya != y[idx]].to(x.dtype)
                robust[newly] = False
                for i in newly.tolist():
                    broken_by[i] = component
        self.last_details = {"broken_by": broken_by}
        return x_adv

    def settings(self) -> dict[str, object]:
        return {
            **super().settings(),
            "implementation": "pyautoattack",
            "version": self.version,
            "components": list(AA_VERSIONS[self.version]),
            "seed": self.seed,
        }
