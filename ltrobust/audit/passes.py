"""What one batch of a pass computes: the records of :mod:`ltrobust.audit.engine`.

- the clean pass (:func:`clean_record`): ONE forward pass per batch gives the clean
  predictions, the sweep's clean predictions at every kappa (argmax of the logits times
  10^-kappa: no extra forward passes) and, with diagnostics, the zero-gradient shares at the
  clean input (the same forward, with its backward);
- an attack pass (:class:`AttackPass`): the adversarial batch, its float32 prediction and,
  as asked, the bfloat16 prediction of the ``--amp`` re-check, the zero-gradient shares seen
  by a gradient observer, and which AutoAttack component broke each sample.

Attacks that only feed the worst case get an ``alive`` mask and attack only the samples still
robust; the others keep their clean prediction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.attacks.autoattack import aa_target_classes
from ltrobust.attacks.base import Attack
from ltrobust.attacks.iterative import IterativeAttack
from ltrobust.attacks.rng import sample_seeds
from ltrobust.audit.adversarial import Sink
from ltrobust.audit.checks import check_finite
from ltrobust.audit.diagnostics import ZeroGradMeter
from ltrobust.audit.engine import Batch, Engine, Record


def kappa_key(kappa: float) -> str:
    return f"kappa={kappa:g}"


def clean_logits(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, gradient: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits (B x K) at the clean ``x`` and, with ``gradient``, per sample the share of
    exactly-zero entries of the CE input gradient and whether all are zero (B x 2, CPU;
    RoBal §3.3), from the same forward pass."""
    if not gradient:
        with torch.no_grad():
            logits = model(x)
        check_finite(logits, "clean inputs")
        return logits, None
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(xg)
        check_finite(logits.detach(), "clean inputs")
        loss = F.cross_entropy(logits, y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    zero = (grad == 0).flatten(1)
    return logits.detach(), torch.stack([zero.float().mean(1), zero.all(1).float()], 1).cpu()


def clean_record(
    net: nn.Module, kappas: Sequence[float], gradient: bool, targets: int = 0
) -> Callable[[Batch], Record]:
    """The clean pass's batch function: ``pred`` (B), ``kappa=<k>`` (B) for every kappa,
    with ``gradient`` ``zero`` (B x 2) and, with ``targets`` k > 0, ``aa_targets`` (B x k: the
    classes AutoAttack's targeted attacks aim at, :func:`aa_target_classes`)."""

    def fn(b: Batch) -> Record:
        logits, zero = clean_logits(net, b.x, b.y, gradient=gradient)
        rec: Record = {"pred": logits.argmax(dim=1).cpu()}
        if zero is not None:
            rec["zero"] = zero
        if targets:
            rec["aa_targets"] = aa_target_classes(logits, targets).cpu()
        for k in kappas:
            scaled = logits * (10.0 ** (-k))  # what LogitScale(net, 10 ** -k) computes
            check_finite(scaled, "clean inputs")
            rec[kappa_key(k)] = scaled.argmax(dim=1).cpu()
        return rec

    return fn


def predict(model: nn.Module, x: torch.Tensor, where: str) -> torch.Tensor:
    """argmax of ``model(x)`` (no gradient); non-finite logits raise ModelOutputError."""
    with torch.no_grad():
        logits = model(x)
    check_finite(logits, where)
    return logits.argmax(dim=1)


def predict_worst(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int, where: str
) -> torch.Tensor:
    """Predictions of ``repeats`` forward passes of a randomised model: per sample the first
    wrong one, else the label (a sample counts as robust only if every draw is correct)."""
    pred = predict(model, x, where)
    for _ in range(repeats - 1):
        again = predict(model, x, where)
        pred = torch.where(pred != y, pred, again)
    return pred


def amp_flips(pred: torch.Tensor, low: torch.Tensor, y: torch.Tensor) -> dict[str, int]:
    """How many verdicts (correct or not) the float32 re-check changed: ``fp32_correct``
    samples looked broken in bfloat16 only, ``fp32_wrong`` ones looked correct in it only."""
    ok32, ok16 = pred == y, low == y
    return {
        "flipped": int((ok32 != ok16).sum()),
        "fp32_correct": int((ok32 & ~ok16).sum()),
        "fp32_wrong": int((~ok32 & ok16).sum()),
    }


@dataclass(frozen=True)
class AttackPass:
    """The batch function of one attack pass (call it with a :class:`Batch`).

    Attributes:
        attack: the attack; it runs on ``net`` with per-sample seeds from ``(seed, salt)``.
        net: what the attack runs on (the audited network, or a wrapper of it).
        judge: what classifies the adversarial examples (the audited network, float32).
        engine: gives the autocast context of ``--amp``.
        alive: bool (N, audit order): attack only these; the rest keep ``clean_pred``.
        observe: record ``zg`` (B x 2), the zero-gradient shares of the attack's gradients.
        details: record ``broken_by`` (the attack's per-sample details, e.g. AutoAttack's).
        repeats: classify each final point this many times (randomised models; the first
            wrong prediction counts).
        keep: receives each attacked batch's positions, images and predictions (--save-adv).
    """

    attack: Attack
    net: nn.Module
    judge: nn.Module
    engine: Engine
    seed: int
    salt: int
    where: str
    alive: torch.Tensor | None = None
    clean_pred: torch.Tensor | None = None
    observe: bool = False
    details: bool = False
    repeats: int = 1
    keep: Sink | None = None

    @property
    def amp(self) -> bool:
        """bfloat16 autocast applies to our iterative attacks; pyautoattack stays float32."""
        return self.engine.amp and isinstance(self.attack, IterativeAttack)

    def __call__(self, b: Batch) -> Record:
        keep = self.alive[b.pos] if self.alive is not None else None
        sub = b.select(keep) if keep is not None else b
        meter = ZeroGradMeter() if self.observe else None
        p32 = p16 = torch.empty(0, dtype=torch.int64)
        broken_by: list[str] = []
        if len(sub):
            with self.engine.autocast() if self.amp else contextlib.nullcontext():
                seeds = sample_seeds(self.seed, self.salt, sub.idx)
                out = self.attack.run(
                    self.net, sub.x, sub.y, seeds=seeds, observer=meter.hook if meter else None
                )
            p32 = predict_worst(self.judge, out.x_adv, sub.y, self.repeats, self.where).cpu()
            broken_by = list(out.details.get("broken_by", []))
            if self.keep is not None:
                self.keep(sub.pos, out.x_adv, p32)
            if self.amp:
                with torch.no_grad(), self.engine.autocast():
                    p16 = self.judge(out.x_adv).argmax(dim=1).cpu()
        rec: Record = {"pred": p32}
        if keep is not None:
            assert self.clean_pred is not None
            rec["pred"] = self.clean_pred[b.pos].clone()
            rec["pred"][keep] = p32
        if self.amp:
            rec["amp_pred"] = rec["pred"].clone()
            rec["amp_pred"][keep if keep is not None else slice(None)] = p16
        if meter is not None:
            meter.end_batch()
            rec["zg"] = torch.stack([meter.entry_ratio(), meter.sample_ratio()], 1)
        if self.details:
            rec["broken_by"] = broken_by
        return rec
