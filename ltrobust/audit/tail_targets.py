"""AutoAttack's blind spot on long-tailed data (docs/METHODS.md §3).

APGD-T and FAB-T attack each sample towards its top-9 runner-up classes by clean logit
(:func:`ltrobust.attacks.aa_target_classes`). With more than 10 classes and a long tail, the
tail classes' logits are pushed down by the imbalance, so they are seldom among those nine: no
attack of AutoAttack ever tries to move a sample into the tail. :meth:`TailTargets.stats`
measures how often a tail class is among the targets; :meth:`TailTargets.run`
(``--aa-tail-targets``) runs targeted APGD towards tail classes on the samples every other attack
left correct, and its predictions join the per-sample worst case.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ltrobust.attacks.registry import build_variant, name_with_role, names_with_role
from ltrobust.audit.config import AuditConfig
from ltrobust.audit.session import AuditSession, CleanResult
from ltrobust.metrics.recall import group_means
from ltrobust.report.findings import AATail, AATargets, Scoped

#: AutoAttack standard's number of target classes for APGD-T and FAB-T
AA_TARGETS = 9


def wants_aa_targets(config: AuditConfig, num_classes: int) -> bool:
    """Whether the audit reports AutoAttack's targets: with ``--aa-tail-targets``, or with
    ``aa``/``aa-fast`` on more than ``AA_TARGETS + 1`` classes (else every class is a target)."""
    uses_aa = bool(names_with_role("components", config.attacks))
    return config.aa_tail_targets or (uses_aa and num_classes > AA_TARGETS + 1)


class TailTargets:
    """AutoAttack's targets against the tail, and targeted APGD towards the tail, for one
    audit's ``session`` and clean pass."""

    #: the pass and the worst-case entry of the tail-targeted APGD (the table's row)
    name = name_with_role("tail-targeted")

    def __init__(self, session: AuditSession, clean: CleanResult) -> None:
        self.session, self.clean = session, clean
        groups = session.info.groups
        self.tail = sorted(groups.get("tail") or list(groups.values())[-1])

    def stats(self, targets: torch.Tensor, k: int = AA_TARGETS) -> AATargets:
        """Which classes AutoAttack's targeted attacks aim at, on the correctly classified
        samples.

        ``targets`` (N x k, CPU) are each sample's target classes, recorded by the clean pass.
        Returns ``k`` (targets per sample), ``applies`` (False when C <= k + 1: every other
        class is a target), ``tail_target_share`` (per true-class group: the share of correctly
        classified samples with at least one tail class among their targets),
        ``pairs_by_group`` (the share of all (sample, target) pairs whose target is in each
        group), ``tail_classes_targeted`` and ``tail_classes_never_targeted``.
        """
        groups, c = self.session.info.groups, self.session.info.num_classes
        y = self.session.y
        correct = self.clean.pred.cpu() == y
        tg, yc = targets[correct], y[correct]
        is_tail = torch.isin(tg, torch.tensor(self.tail))
        pairs = {
            g: float(torch.isin(tg, torch.tensor(list(cls))).float().mean()) if tg.numel() else None
            for g, cls in groups.items()
        }
        hit = sorted(set(tg[is_tail].tolist()))
        return AATargets(
            k=int(tg.shape[1]) if tg.ndim == 2 else 0,
            applies=c > k + 1,
            samples=int(correct.sum()),
            tail_target_share=Scoped.of(group_means(is_tail.any(dim=1).float(), yc, groups)),
            pairs_by_group=pairs,
            tail_classes_targeted=hit,
            tail_classes_never_targeted=[t for t in self.tail if t not in hit],
        )

    def run(
        self, preds: Mapping[str, torch.Tensor], max_targets: int = AA_TARGETS
    ) -> tuple[torch.Tensor, AATail]:
        """Targeted APGD towards the ``max_targets`` highest-scoring tail classes, only on
        samples still correct clean and under every attack in ``preds``.

        Returns the per-sample predictions (the clean prediction for samples not attacked) and
        a summary: samples attacked, the share newly broken per group (of all samples of the
        group), and the targets tried.
        """
        session = self.session
        y = session.y
        alive = self.clean.pred.cpu() == y
        for p in preds.values():
            alive &= p.cpu() == y
        attack = build_variant(
            self.name,
            session.threat,
            session.step,
            label=self.name,
            seed=session.seed,
            tail=self.tail,
            targets=max_targets,
        )
        res = session.survivors(attack, alive, self.clean.pred, label=self.name)
        info = AATail(
            attack=attack.settings(),
            attacked=res.attacked,
            newly_broken=res.newly_broken,
            newly_broken_share=Scoped.of(group_means(res.broken.float(), y, session.info.groups)),
            seconds=res.seconds,
        )
        return res.pred, info
