"""The orchestration of one audit: clean, every attack, the diagnostics, the worst case, the
verdict, each a pass of an :class:`~ltrobust.audit.session.AuditSession` that returns its values.

Per-attack numbers use every sample. The worst case is per sample (docs/METHODS.md §2): a
sample is robust only if it is classified correctly clean and under every attack run — the mean
over samples of the min over attacks, never the min over attacks of the means. Attacks that only
feed the worst case (``worst_only``, the tail-targeted APGD, the sweep's attacks) attack only the
samples still robust at their turn, or count in the worst case without a row of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ltrobust.attacks.registry import build_attack
from ltrobust.audit.config import AuditConfig, DiagnosticsConfig
from ltrobust.audit.diagnostics import is_randomised
from ltrobust.audit.escalation import run_escalations
from ltrobust.audit.protocol_run import RowMap, protocol_sections
from ltrobust.audit.session import AuditSession, CleanResult, make_outcome
from ltrobust.audit.sweep import run_sweep, run_unbounded
from ltrobust.audit.tail_targets import AA_TARGETS, TailTargets, wants_aa_targets
from ltrobust.audit.verdict import judge
from ltrobust.metrics.recall import group_means
from ltrobust.report.schema import AuditReport, Outcome

#: AutoAttack's versions, whose passes report which component broke each sample
AUTOATTACKS = ("aa", "aa-fast")
#: the attack whose gradients the zero-gradient diagnostics observe
OBSERVED = "pgd20"


@dataclass
class AttackRuns:
    """The attacks of the audit: an outcome and predictions per reported attack, predictions
    of the worst-case-only ones, and what the diagnostics read from the passes."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    preds: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    worst_only: dict[str, dict[str, Any]] = field(default_factory=dict)
    zero_grad: torch.Tensor | None = None
    broken_by: list[str] | None = None


@dataclass
class AuditParts:
    """Everything :func:`run_audit` found, before provenance and config are added."""

    clean: Outcome
    attacks: dict[str, Outcome]
    worst_case: Outcome | None
    per_sample: dict[str, Any]
    diagnostics: dict[str, Any]
    verdict: dict[str, Any] | None
    warnings: list[str]
    protocols: dict[str, Any] | None = None


def robust_mask(y: torch.Tensor, *preds: torch.Tensor) -> torch.Tensor:
    """Samples correct under every prediction in ``preds`` (bool, N)."""
    alive = torch.ones(len(y), dtype=torch.bool)
    for p in preds:
        alive &= p.cpu() == y.cpu()
    return alive


def run_attacks(
    session: AuditSession, config: AuditConfig, clean: CleanResult, observe: bool
) -> AttackRuns:
    """Every attack of ``config`` in order; ``worst_only`` ones on the survivors so far."""
    runs = AttackRuns()
    for name in config.attacks:
        attack = build_attack(name, session.threat, session.step, seed=config.seed)
        if name in config.worst_only:
            alive = robust_mask(session.y, clean.pred, *runs.preds.values(), *runs.extra.values())
            res = session.attack(attack, name, alive=alive, clean_pred=clean.pred)
            runs.extra[name] = res.pred
            runs.worst_only[name] = {
                "settings": attack.settings(),
                "attacked": int(alive.sum()),
                "newly_broken": int((alive & (res.pred != session.y)).sum()),
                "seconds": res.seconds,
            }
            continue
        res = session.attack(
            attack, name, observe=observe and name == OBSERVED, details=name in AUTOATTACKS
        )
        runs.preds[name] = res.pred
        runs.outcomes[name] = session.outcome(
            name, attack.settings(), res.pred, res.seconds, clean.outcome
        )
        runs.zero_grad = res.zero_grad if res.zero_grad is not None else runs.zero_grad
        runs.broken_by = res.broken_by if res.broken_by is not None else runs.broken_by
    return runs


def measure(
    session: AuditSession, diag: DiagnosticsConfig, clean: CleanResult, runs: AttackRuns
) -> dict[str, Any]:
    """Zero-gradient ratios, the kappa sweep, the unbounded attack and Square-only breaks; the
    sweep's predictions join ``runs.extra`` (they count in the worst case)."""
    groups, y, out = session.info.groups, session.y, {}
    assert clean.zero is not None
    out["zero_grad"] = {
        "clean": group_means(clean.zero[:, 0], y, groups),
        "sample_level": group_means(clean.zero[:, 1], y, groups),
    }
    if runs.zero_grad is not None:
        out["zero_grad"]["pgd_mean"] = group_means(runs.zero_grad[:, 0], y, groups)
        out["zero_grad"]["pgd_sample_level"] = group_means(runs.zero_grad[:, 1], y, groups)
    if diag.sweep:
        sweep = run_sweep(session, diag, clean, runs.preds, runs.zero_grad)
        out["sweep"] = sweep.section
        runs.extra.update(sweep.preds)
    if diag.unbounded:
        out["unbounded"] = run_unbounded(session, diag.unbounded_n)
    if runs.broken_by:
        white = [p for k, p in runs.preds.items() if k not in AUTOATTACKS]
        square = torch.tensor([b == "square" for b in runs.broken_by]) & robust_mask(y, *white)
        out["square_only"] = group_means(square.float(), y, groups)
    return out


def worst_case_predictions(
    y: torch.Tensor, clean_pred: torch.Tensor, adv_preds: Mapping[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample worst case over clean and every attack.

    Returns (prediction N, robust flags N): a sample is robust iff it is correct clean and
    under every attack; a non-robust sample's prediction is the first wrong one in run order
    (clean first), so "where it lands" is a real prediction of the model.
    """
    y = y.cpu()
    pred = clean_pred.clone()
    robust = clean_pred == y
    for adv in adv_preds.values():
        newly = robust & (adv != y)
        pred[newly] = adv[newly]
        robust &= adv == y
    return pred, robust


def run_audit(
    session: AuditSession,
    config: AuditConfig,
    indices: torch.Tensor,
    on_ready: Callable[[], None] | None = None,
    rows: RowMap | None = None,
) -> AuditParts:
    """Clean, every attack of ``config``, (with ``config.diagnose``) the diagnostics and the
    verdict, and the per-sample worst case; see the module doc. ``on_ready`` is called once
    the model is known to fit the data, before the first pass (e.g. to prepare the cache:
    bad input writes nothing)."""
    diag_cfg = config.diagnostics()
    warnings = session.check_model()
    if on_ready is not None:
        on_ready()
    diag: dict[str, Any] = {}
    if diag_cfg is not None:
        diag["randomised"] = is_randomised(session.model, session.probe)
        diag["softmax_outputs"] = any("probabilities" in w for w in warnings)
    kappas = list(diag_cfg.kappas) if diag_cfg is not None and diag_cfg.sweep else []
    targets = AA_TARGETS if wants_aa_targets(config, session.info.num_classes) else 0
    clean = session.clean(kappas, gradient=diag_cfg is not None, targets=targets)
    runs = run_attacks(session, config, clean, observe=diag_cfg is not None)
    if runs.worst_only:
        diag["worst_only"] = runs.worst_only
    if diag_cfg is not None:
        diag.update(measure(session, diag_cfg, clean, runs))
        survivors = robust_mask(session.y, clean.pred, *runs.preds.values(), *runs.extra.values())
        escalation = run_escalations(session, diag_cfg, diag, survivors, clean.pred)
        if escalation is not None:
            diag["escalation"] = escalation.section
            runs.extra.update(escalation.preds)
    tail = TailTargets(session, clean)
    if clean.aa_targets is not None:
        diag["aa_targets"] = tail.stats(clean.aa_targets)
    if config.aa_tail_targets:
        pred, diag["aa_tail"] = tail.run({**runs.preds, **runs.extra})
        runs.extra[tail.name] = pred
    amp = session.amp_report()
    if amp is not None:
        diag["amp"] = amp
    warnings.extend(session.notes())
    y = session.y
    worst_pred, robust = worst_case_predictions(y, clean.pred, {**runs.preds, **runs.extra})
    worst = None
    if runs.preds or runs.extra:
        secs = sum(o.seconds for o in runs.outcomes.values())
        over = {"over": [*runs.preds, *runs.extra]}
        worst = make_outcome("worst", over, y, worst_pred, session.info, secs, clean.outcome)
    per_sample = {
        "index": indices.tolist(),
        "y": y.tolist(),
        "clean_pred": clean.pred.tolist(),
        "adv_pred": {k: v.tolist() for k, v in runs.preds.items()},
        "extra_pred": {k: v.tolist() for k, v in runs.extra.items()},
        "robust": robust.tolist(),
    }
    if runs.broken_by:
        per_sample["aa_broken_by"] = runs.broken_by
    verdict = None
    if diag_cfg is not None:
        groups = list(session.info.groups)
        diag["checks"], verdict = judge(
            runs.outcomes, worst, diag, groups, diag_cfg.thresholds, clean.outcome
        )
    protocols = None
    if config.protocols != ["strict"]:
        preds = {**runs.preds, **runs.extra}
        counts = session.info.class_counts
        eps = session.threat.eps
        protocols = protocol_sections(
            config, rows or {}, preds, clean.pred, robust, y, session.info, counts, eps
        )
    return AuditParts(
        clean.outcome, runs.outcomes, worst, per_sample, diag, verdict, warnings, protocols
    )


def assemble_report(
    parts: AuditParts,
    *,
    provenance: dict[str, Any],
    config: dict[str, Any],
    dataset: dict[str, Any],
) -> AuditReport:
    """Wrap run results into an :class:`AuditReport` (warnings go into its diagnostics)."""
    return AuditReport(
        provenance=provenance,
        config=config,
        dataset=dataset,
        clean=parts.clean,
        attacks=parts.attacks,
        worst_case=parts.worst_case,
        per_sample=parts.per_sample,
        diagnostics={"warnings": parts.warnings, **parts.diagnostics},
        verdict=parts.verdict,
        protocols=parts.protocols,
    )
