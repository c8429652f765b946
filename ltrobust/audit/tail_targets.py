"""AutoAttack's blind spot on long-tailed data (issue 4, item 7).

APGD-T and FAB-T attack each sample towards its top-9 runner-up classes by clean logit
(:func:`ltrobust.attacks.aa_target_classes`). With more than 10 classes and a long tail, the
tail classes' logits are pushed down by the imbalance, so they are seldom among those nine: no
attack of AutoAttack ever tries to move a sample into the tail. :func:`aa_target_stats` measures
how often a tail class is among the targets; :func:`run_tail_targets` (``--aa-tail-targets``)
runs targeted APGD towards tail classes on the samples every other attack left correct, and its
predictions join the per-sample worst case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ltrobust.attacks import TailTargetedAPGD
from ltrobust.audit.diagnostics import by_group

if TYPE_CHECKING:
    from ltrobust.audit.runner import AuditConfig, _AuditRun

#: AutoAttack standard's number of target classes for APGD-T and FAB-T
AA_TARGETS = 9
TAIL_ATTACK = "aa-tail"


def wants_aa_targets(config: AuditConfig, num_classes: int) -> bool:
    """Whether the audit reports AutoAttack's targets: with ``--aa-tail-targets``, or with
    ``aa``/``aa-fast`` on more than ``AA_TARGETS + 1`` classes (else every class is a target)."""
    uses_aa = any(a in ("aa", "aa-fast") for a in config.attacks)
    return config.aa_tail_targets or (uses_aa and num_classes > AA_TARGETS + 1)


def aa_target_stats(
    run: _AuditRun, clean_pred: torch.Tensor, targets: torch.Tensor, k: int = AA_TARGETS
) -> dict[str, Any]:
    """Which classes AutoAttack's targeted attacks aim at, on the correctly classified samples.

    ``targets`` (N x k, CPU) are each sample's target classes, recorded by the clean pass.
    Returns ``k`` (targets per sample), ``applies`` (False when C <= k + 1: every other class is
    a target), ``tail_target_share`` (per true-class group: the share of correctly classified
    samples with at least one tail class among their targets), ``pairs_by_group`` (the share of
    all (sample, target) pairs whose target is in each group), ``tail_classes_targeted`` and
    ``tail_classes_never_targeted``.
    """
    groups, c = run.info["groups"], run.info["num_classes"]
    tail = sorted(groups.get("tail") or list(groups.values())[-1])
    y = run.y.cpu()
    tg = targets
    correct = clean_pred.cpu() == y
    tg, yc = tg[correct], y[correct]
    is_tail = torch.isin(tg, torch.tensor(tail))
    pairs = {
        g: float(torch.isin(tg, torch.tensor(list(cls))).float().mean()) if tg.numel() else None
        for g, cls in groups.items()
    }
    hit = sorted(set(tg[is_tail].tolist()))
    return {
        "k": int(tg.shape[1]) if tg.ndim == 2 else 0,
        "applies": c > k + 1,
        "samples": int(correct.sum()),
        "tail_target_share": by_group(is_tail.any(dim=1).float(), yc, groups),
        "pairs_by_group": pairs,
        "tail_classes_targeted": hit,
        "tail_classes_never_targeted": [t for t in tail if t not in hit],
    }


def run_tail_targets(
    run: _AuditRun,
    clean_pred: torch.Tensor,
    preds: dict[str, torch.Tensor],
    max_targets: int = AA_TARGETS,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Targeted APGD towards the ``max_targets`` highest-scoring tail classes, only on samples
    still correct clean and under every attack in ``preds`` (it only feeds the worst case).

    Returns the per-sample predictions (the clean prediction for samples not attacked) and a
    summary: samples attacked, the share newly broken per group (of all samples of the group),
    and the targets tried.
    """
    y = run.y.cpu()
    alive = clean_pred.cpu() == y
    for p in preds.values():
        alive &= p.cpu() == y
    tail = sorted(run.info["groups"].get("tail") or list(run.info["groups"].values())[-1])
    attack = TailTargetedAPGD(
        run.threat, tail, max_targets=max_targets, seed=run.config.seed, name=TAIL_ATTACK
    )
    pred, seconds = run.predictions(attack, TAIL_ATTACK, TAIL_ATTACK, alive=alive)
    newly = alive & (pred != y)
    info = {
        "attack": attack.settings(),
        "attacked": int(alive.sum()),
        "newly_broken": int(newly.sum()),
        "newly_broken_share": by_group(newly.float(), y, run.info["groups"]),
        "seconds": seconds,
    }
    return pred, info


def tail_targets(
    run: _AuditRun,
    config: AuditConfig,
    diag: dict[str, Any],
    clean_pred: torch.Tensor,
    adv_preds: dict[str, torch.Tensor],
    extra_preds: dict[str, torch.Tensor],
) -> None:
    """AutoAttack's targets vs the tail (into ``diag["aa_targets"]``, with ``aa``/``aa-fast``
    on more than 10 classes, or with ``--aa-tail-targets``) and the tail-targeted APGD (into
    ``diag["aa_tail"]``; its predictions join ``extra_preds`` and so the worst case)."""
    if run.clean_targets is not None:
        diag["aa_targets"] = aa_target_stats(run, clean_pred, run.clean_targets)
    if config.aa_tail_targets:
        pred, diag["aa_tail"] = run_tail_targets(run, clean_pred, {**adv_preds, **extra_preds})
        extra_preds[TAIL_ATTACK] = pred
