"""The kappa re-scaling sweep and the unbounded-budget attack (METHODS §3).

Sweep: the deployed logits are multiplied by ``10 ** -kappa`` (RoBal §3.3, Fig. 2; for a
bias-free head the same as dividing W by 10^kappa). Clean accuracy and the DLR-based APGD are
invariant to that; PGD on CE is not: its accuracy is U-shaped in kappa, lowest where the CE
gradient is informative. Every PGD-20 of the sweep starts from the same per-sample random points
as ``pgd20``, so kappa is the only thing that changes; at kappa = 0 the sweep reuses ``pgd20``.
The clean predictions at every kappa come from the audit's one clean pass (the argmax of the
clean logits times 10^-kappa), not from extra forward passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ltrobust.attacks import AutoAttackAdapter, CrossEntropy, IterativeAttack
from ltrobust.audit.diagnostics import LogitScale, accuracy_by_group, unbounded_attack

if TYPE_CHECKING:
    from ltrobust.audit.runner import _AuditRun


def _key(name: str, kappa: float) -> str:
    return f"{name}@kappa={kappa:g}"


def run_sweep(
    run: _AuditRun, adv_preds: dict[str, torch.Tensor], extra: dict[str, torch.Tensor]
) -> dict[str, Any]:
    """Clean, PGD-20 and (at the ends and 0) APGD-DLR accuracy at every kappa, per group.

    Adds the per-sample predictions of every sweep attack to ``extra`` (they count in the
    worst case). Returns ``{"kappas": [...], "rows": [...]}``.
    """
    cfg = run.diagnostics
    assert cfg is not None
    kappas = list(cfg.kappas)
    ends = {kappas[0], kappas[-1], 0.0} if cfg.invariant and run.info["num_classes"] >= 3 else set()
    groups, y, rows = run.info["groups"], run.y, []
    for kappa in kappas:
        clean = run.sweep_clean[kappa]
        if kappa == 0 and "pgd20" in adv_preds:
            pgd = adv_preds["pgd20"]
        else:
            attack = IterativeAttack(
                run.threat,
                CrossEntropy(scale=10.0 ** (-kappa)),
                steps=20,
                step_size=run.step,
                name=_key("pgd20", kappa),
            )
            pgd, _ = run.predictions(attack, "pgd20", _key("pgd20", kappa))
            extra[_key("pgd20", kappa)] = pgd
        row = {
            "kappa": kappa,
            "clean": accuracy_by_group(clean, y, groups),
            "pgd20": accuracy_by_group(pgd, y, groups),
            "invariant": None,
            "invariant_attack": None,
        }
        if kappa in ends:
            scaled = LogitScale(run.net, 10.0 ** (-kappa))
            dlr = AutoAttackAdapter(
                run.threat, version="dlr", seed=run.config.seed, name="apgd-dlr"
            )
            pred, _ = run.predictions(dlr, "apgd-dlr", _key("apgd-dlr", kappa), model=scaled)
            extra[_key("apgd-dlr", kappa)] = pred
            row["invariant"] = accuracy_by_group(pred, y, groups)
            row["invariant_attack"] = "apgd-dlr"
        rows.append(row)
    return {"kappas": kappas, "rows": rows}


def run_unbounded(run: _AuditRun) -> dict[str, Any]:
    """Accuracy under PGD-20 with a budget that holds the whole box, on up to
    ``unbounded_n`` evenly spaced samples; anything well above 0% means masked gradients."""
    cfg = run.diagnostics
    assert cfg is not None
    n = len(run.batches)
    pick = torch.unique(torch.linspace(0, n - 1, min(n, cfg.unbounded_n)).round().long())
    attack = unbounded_attack(run.threat, run.batches.x.shape[1:])
    pred, _ = run.predictions(attack, "unbounded", "unbounded", pos=pick)
    out = accuracy_by_group(pred, run.y.cpu()[pick], run.info["groups"])
    out.update({"n": len(pick), "eps": attack.threat.eps, "settings": attack.settings()})
    return out
