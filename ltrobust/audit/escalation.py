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

import torch

from ltrobust.attacks.base import Attack
from ltrobust.attacks.registry import (
    attack_roles,
    attack_spec,
    build_attack,
    build_variant,
    names_with_role,
)
from ltrobust.audit.config import DiagnosticsConfig
from ltrobust.audit.session import AuditSession
from ltrobust.metrics.recall import group_means
from ltrobust.report.findings import Diagnostics, Escalation, EscalationRun, Scoped, Unbounded


@dataclass(frozen=True)
class EscalationResult:
    """The report's ``escalation`` section and the predictions of every escalation attack."""

    section: Escalation
    preds: dict[str, torch.Tensor]


def _overall(section: Scoped | Unbounded | None) -> float:
    """A finding's share over every sample (0 when it was not measured or has no samples)."""
    value = section.overall if section is not None else None
    return float(value) if value is not None else 0.0


def reasons(diag: Diagnostics, cfg: DiagnosticsConfig) -> dict[str, str]:
    """Which escalations the diagnostics call for, by the role of their attacks
    (``gradient-free``, ``eot``), each with the reason (one sentence)."""
    th, out = cfg.thresholds, {}
    zero = diag.zero_grad
    vanished = max(
        _overall(zero.sample_level if zero else None),
        _overall(zero.pgd_sample_level if zero else None),
    )
    unbounded = _overall(diag.unbounded)
    if vanished > th.zero_grad:
        out["gradient-free"] = (
            f"the whole input gradient is exactly 0 on {100 * vanished:.1f}% of the samples "
            f"(> {100 * th.zero_grad:.1f}%): gradient attacks cannot move them"
        )
    elif diag.unbounded is not None and unbounded > th.unbounded:
        out["gradient-free"] = (
            f"PGD with an unbounded budget leaves {100 * unbounded:.1f}% correct "
            f"(> {100 * th.unbounded:.1f}%): its gradients do not lead anywhere"
        )
    if diag.randomised:
        out["eot"] = (
            "two forward passes on the same inputs differ: gradients and predictions are "
            "random, so attacks average gradients over draws and final points are evaluated "
            "repeatedly"
        )
    return out


#: the attack table's escalation rows (Square; AutoAttack rand and the EOT PGD-20)
ESCALATION = names_with_role("escalation", hidden=True)


def attacks_for(kind: str, session: AuditSession, cfg: DiagnosticsConfig) -> list[Attack]:
    """The escalation attacks of ``kind``, a role (``gradient-free`` or ``eot``): the table's
    escalation rows with it, in table order; a row that averages its own gradients draws
    ``cfg.eot_draws`` of them per step."""
    threat, seed, step = session.threat, session.seed, session.step
    return [
        build_variant(name, threat, step, label=name, seed=seed, eot=cfg.eot_draws)
        if attack_spec(name).eot > 1
        else build_attack(name, threat, step, seed=seed)
        for name in ESCALATION
        if kind in attack_roles(name)
    ]


def run_escalations(
    session: AuditSession,
    cfg: DiagnosticsConfig,
    diag: Diagnostics,
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
            res = session.survivors(attack, alive, clean_pred, repeats=repeats)
            preds[attack.name] = res.pred
            alive &= ~res.broken
            ran.append(
                EscalationRun(
                    attack=attack.name,
                    why=reason,
                    settings=attack.settings(),
                    repeats=repeats,
                    attacked=res.attacked,
                    newly_broken=res.newly_broken,
                    seconds=res.seconds,
                )
            )
    newly = survivors & ~alive
    section = Escalation(
        ran=ran,
        attacked=int(survivors.sum()),
        newly_broken=int(newly.sum()),
        newly_broken_share=Scoped.of(group_means(newly.float(), y, groups)),
    )
    return EscalationResult(section, preds)
