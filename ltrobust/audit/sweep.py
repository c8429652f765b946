"""The kappa re-scaling sweep and the unbounded-budget attack (docs/METHODS.md §3).

Sweep: the deployed logits are multiplied by ``10 ** -kappa`` (RoBal §3.3, Fig. 2; for a
bias-free head the same as dividing W by 10^kappa). Clean accuracy and the DLR-based APGD are
invariant to that; PGD on CE is not: its accuracy is U-shaped in kappa, lowest where the CE
gradient is informative. Every PGD-20 of the sweep starts from the same per-sample random points
as ``pgd20``, so kappa is the only thing that changes; at kappa = 0 the sweep reuses ``pgd20``.
The clean predictions at every kappa come from the audit's one clean pass (the argmax of the
clean logits times 10^-kappa), not from extra forward passes. At every kappa the share of
exactly-zero input-gradient entries during PGD-20 is recorded (RoBal Fig. 2), at pixel and
sample level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ltrobust.attacks.registry import build_attack, build_variant, name_with_role
from ltrobust.audit.config import DiagnosticsConfig
from ltrobust.audit.diagnostics import LogitScale, unbounded_attack
from ltrobust.audit.session import AuditSession, CleanResult
from ltrobust.metrics.recall import accuracy_by_group, group_means
from ltrobust.report.findings import Scoped, Sweep, SweepRow, Unbounded, ZeroGradShares


@dataclass(frozen=True)
class SweepResult:
    """The report's ``sweep`` section (``{"kappas", "rows"}``) and the per-sample predictions
    of every attack the sweep ran (they count in the worst case)."""

    section: Sweep
    preds: dict[str, torch.Tensor]


#: the attack the sweep repeats at every kappa: the one the zero-gradient diagnostics observe
SWEPT = name_with_role("observed")
#: the scale-invariant attack the sweep runs at its ends and at 0 (APGD-DLR)
INVARIANT = name_with_role("kappa-invariant")


def _key(name: str, kappa: float) -> str:
    return f"{name}@kappa={kappa:g}"


def _zero_grad(
    zg: torch.Tensor | None, y: torch.Tensor, groups: dict[str, list[int]]
) -> ZeroGradShares | None:
    """Per-sample (pixel share, sample share) of zero gradients over PGD's steps, per group."""
    if zg is None:
        return None
    return ZeroGradShares(
        pixel=Scoped.of(group_means(zg[:, 0], y, groups)),
        sample=Scoped.of(group_means(zg[:, 1], y, groups)),
    )


def _scoped(pred: torch.Tensor, y: torch.Tensor, groups: dict[str, list[int]]) -> Scoped:
    return Scoped.of(accuracy_by_group(pred, y, groups))


def run_sweep(
    session: AuditSession,
    cfg: DiagnosticsConfig,
    clean: CleanResult,
    adv_preds: Mapping[str, torch.Tensor],
    pgd_zero: torch.Tensor | None = None,
) -> SweepResult:
    """Clean, PGD-20 and (at the ends and 0) APGD-DLR accuracy at every kappa, per group, and
    PGD-20's zero-gradient ratios at every kappa (``pgd_zero``: those of the audit's own
    ``pgd20``, reused at kappa 0)."""
    kappas = list(cfg.kappas)
    with_invariant = cfg.invariant and session.info.num_classes >= 3
    ends = {kappas[0], kappas[-1], 0.0} if with_invariant else set()
    groups, y = session.info.groups, session.y
    rows: list[SweepRow] = []
    preds: dict[str, torch.Tensor] = {}
    for kappa in kappas:
        if kappa == 0 and SWEPT in adv_preds:
            pgd, zero = adv_preds[SWEPT], pgd_zero
        else:
            label = _key(SWEPT, kappa)
            attack = build_variant(
                SWEPT, session.threat, session.step, label=label, loss_scale=10.0 ** (-kappa)
            )
            res = session.attack(attack, label, salt=SWEPT, observe=True)
            pgd, zero = res.pred, res.zero_grad
            preds[label] = pgd
        row = SweepRow(
            kappa=kappa,
            clean=_scoped(clean.sweep[kappa], y, groups),
            pgd20=_scoped(pgd, y, groups),
            invariant=None,
            invariant_attack=None,
            zero_grad=_zero_grad(zero, y, groups),
        )
        if kappa in ends:
            scaled = LogitScale(session.net, 10.0 ** (-kappa))
            dlr = build_attack(INVARIANT, session.threat, session.step, seed=session.seed)
            label = _key(INVARIANT, kappa)
            pred = session.attack(dlr, label, salt=INVARIANT, model=scaled).pred
            preds[label] = pred
            row.invariant = _scoped(pred, y, groups)
            row.invariant_attack = INVARIANT
        rows.append(row)
    return SweepResult(Sweep(kappas=kappas, rows=rows), preds)


def run_unbounded(session: AuditSession, max_n: int) -> Unbounded:
    """Accuracy under PGD-20 with a budget that holds the whole box, on up to ``max_n`` evenly
    spaced samples; anything well above 0% means masked gradients."""
    n = len(session)
    pick = torch.unique(torch.linspace(0, n - 1, min(n, max_n)).round().long())
    attack = unbounded_attack(session.threat, session.sample_shape)
    pred = session.attack(attack, attack.name, pos=pick).pred
    out = accuracy_by_group(pred, session.y[pick], session.info.groups)
    return Unbounded(
        overall=out["overall"],
        groups=out["groups"],
        n=len(pick),
        eps=attack.threat.eps,
        settings=attack.settings(),
    )
