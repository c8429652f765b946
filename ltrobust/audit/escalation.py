"""Escalation: attack what the gradient attacks could not see through (docs/METHODS.md §3.9).

The diagnostics flag gradient masking; escalation then measures past it, on the samples every
attack so far left correct (like the worst-case-only attacks):

- **vanishing gradients** (the whole clean or PGD input gradient exactly 0 on more than the
  ``zero_grad`` threshold of the samples, e.g. an input-quantising model), or an
  unbounded-budget PGD that cannot reach ~0%: the gradient-free **Square** attack, as
  AutoAttack's standard version runs it (5000 queries, p_init 0.8, pyautoattack);
- **a randomised model** (two forward passes differ): the **expectation-over-transformation**
  attacks of AutoAttack's ``rand`` version (APGD-CE and APGD-DLR, gradients averaged over 20
  draws) and an EOT PGD-20 on CE, every final point classified ``repeats`` times (a sample is
  broken if any draw is wrong).

What they break joins the per-sample worst case, so the believed accuracy includes it; the
report's ``diagnostics.escalation`` says which attack ran, why, and what it broke.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ltrobust.attacks.autoattack import AutoAttackAdapter
from ltrobust.attacks.base import Attack
from ltrobust.attacks.registry import build_variant, name_with_role
from ltrobust.audit.config import DiagnosticsConfig
from ltrobust.audit.session import AuditSession
from ltrobust.metrics.recall import group_means


@dataclass(frozen=True)
class EscalationResult:
    """The report's ``escalation`` section and the predictions of every escalation attack."""

    section: dict[str, Any]
    preds: dict[str, torch.Tensor]


def _overall(section: Any) -> float:
    value = (section or {}).get("overall") if isinstance(section, dict) else None
    return float(value) if isinstance(value, (int, float)) else 0.0


def reasons(diag: dict[str, Any], cfg: DiagnosticsConfig) -> dict[str, str]:
    """Which escalations the diagnostics call for, each with the reason (one sentence)."""
    th, out = cfg.thresholds, {}
    zero = diag.get("zero_grad") or {}
    vanished = max(_overall(zero.get("sample_level")), _overall(zero.get("pgd_sample_level")))
    unbounded = _overall(diag.get("unbounded"))
    if vanished > th.zero_grad:
        out["square"] = (
            f"the whole input gradient is exactly 0 on {100 * vanished:.1f}% of the samples "
            f"(> {100 * th.zero_grad:.1f}%): gradient attacks cannot move them"
        )
    elif diag.get("unbounded") and unbounded > th.unbounded:
        out["square"] = (
            f"PGD with an unbounded budget leaves {100 * unbounded:.1f}% correct "
            f"(> {100 * th.unbounded:.1f}%): its gradients do not lead anywhere"
        )
    if diag.get("randomised"):
        out["eot"] = (
            "two forward passes on the same inputs differ: gradients and predictions are "
            "random, so attacks average gradients over draws and final points are evaluated "
            "repeatedly"
        )
    return out


#: the attack whose EOT variant the escalation runs (PGD-20)
HEADLINE = name_with_role("headline")


def attacks_for(kind: str, session: AuditSession, cfg: DiagnosticsConfig) -> list[Attack]:
    """The escalation attacks of ``kind`` (``square`` or ``eot``)."""
    threat, seed = session.threat, session.seed
    if kind == "square":
        return [AutoAttackAdapter(threat, version="square", seed=seed, name="square")]
    eot_pgd = build_variant(
        HEADLINE, threat, session.step, label=f"{HEADLINE}-eot", seed=seed, eot=cfg.eot_draws
    )
    return [AutoAttackAdapter(threat, version="rand", seed=seed, name="aa-rand"), eot_pgd]


def run_escalations(
    session: AuditSession,
    cfg: DiagnosticsConfig,
    diag: dict[str, Any],
    survivors: torch.Tensor,
    clean_pred: torch.Tensor,
) -> EscalationResult | None:
    """Run every escalation the diagnostics call for on the ``survivors`` (bool, N: correct
    clean and under every attack so far), one attack after the other on what is still
    robust; None when none is called for or ``cfg.escalate`` is off."""
    why = reasons(diag, cfg) if cfg.escalate else {}
    if not why:
        return None
    y, groups = session.y, session.info.groups
    alive, preds, ran = survivors.clone(), {}, []
    for kind, reason in why.items():
        repeats = cfg.repeats if kind == "eot" else 1
        for attack in attacks_for(kind, session, cfg):
            before = int(alive.sum())
            res = session.attack(
                attack, attack.name, alive=alive.clone(), clean_pred=clean_pred, repeats=repeats
            )
            preds[attack.name] = res.pred
            broken = alive & (res.pred != y)
            alive &= ~broken
            ran.append(
                {
                    "attack": attack.name,
                    "why": reason,
                    "settings": attack.settings(),
                    "repeats": repeats,
                    "attacked": before,
                    "newly_broken": int(broken.sum()),
                    "seconds": res.seconds,
                }
            )
    newly = survivors & ~alive
    section = {
        "ran": ran,
        "attacked": int(survivors.sum()),
        "newly_broken": int(newly.sum()),
        "newly_broken_share": group_means(newly.float(), y, groups),
    }
    return EscalationResult(section, preds)
