"""The orchestration of one audit: clean, every attack, the diagnostics, the worst case, the
verdict, each a pass of an :class:`~ltrobust.audit.session.AuditSession` that returns its values.

Per-attack numbers use every sample. The worst case is per sample (docs/METHODS.md §2): a
sample is robust only if it is classified correctly clean and under every attack run — the mean
over samples of the min over attacks, never the min over attacks of the means. Attacks that only
feed the worst case (``worst_only``, the tail-targeted APGD, the sweep's attacks) attack only the
samples still robust at their turn, or count in the worst case without a row of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import torch

from ltrobust.attacks.autoattack import steps_to
from ltrobust.attacks.registry import name_with_role, names_with_role
from ltrobust.audit.attack_plan import AuditPlan, make_plan
from ltrobust.audit.config import AuditConfig, DiagnosticsConfig
from ltrobust.audit.diagnostics import is_randomised
from ltrobust.audit.escalation import run_escalations
from ltrobust.audit.plan import PARTS, audit_plan, part_of, plan_lines
from ltrobust.audit.protocol_run import RowMap, protocol_sections
from ltrobust.audit.session import AuditSession, CleanResult, make_outcome
from ltrobust.audit.sweep import run_sweep, run_unbounded
from ltrobust.audit.tail_targets import AA_TARGETS, TailTargets, wants_aa_targets
from ltrobust.audit.verdict import judge
from ltrobust.metrics.recall import group_means
from ltrobust.report.findings import Diagnostics, Scoped, SurvivorPass, ZeroGrad
from ltrobust.report.schema import AuditReport, Outcome
from ltrobust.report.sections import (
    Config,
    Dataset,
    PerSample,
    ProtocolSection,
    Provenance,
    Verdict,
)
from ltrobust.runtime.progress import PlanProgress, StepProgress

#: AutoAttack's versions, whose passes report which component broke each sample
AUTOATTACKS = tuple(names_with_role("components"))
#: the attack whose gradients the zero-gradient diagnostics observe
OBSERVED = name_with_role("observed")


@dataclass
class AttackRuns:
    """The attacks of the audit: an outcome and predictions per reported attack, predictions
    of the worst-case-only ones, and what the diagnostics read from the passes."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    preds: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    worst_only: dict[str, SurvivorPass] = field(default_factory=dict)
    zero_grad: torch.Tensor | None = None
    broken_by: list[str] | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class AuditParts:
    """Everything :func:`run_audit` found, before provenance and config are added."""

    clean: Outcome
    attacks: dict[str, Outcome]
    worst_case: Outcome | None
    per_sample: PerSample
    diagnostics: Diagnostics
    verdict: Verdict | None
    warnings: list[str]
    protocols: dict[str, ProtocolSection] | None = None
    timing: dict[str, float] | None = None


def robust_mask(y: torch.Tensor, *preds: torch.Tensor) -> torch.Tensor:
    """Samples correct under every prediction in ``preds`` (bool, N)."""
    alive = torch.ones(len(y), dtype=torch.bool)
    for p in preds:
        alive &= p.cpu() == y.cpu()
    return alive


def run_attacks(
    session: AuditSession, config: AuditConfig, clean: CleanResult, observe: bool, plan: AuditPlan
) -> AttackRuns:
    """Every attack of ``config`` in order (the objects ``plan`` built); ``worst_only`` ones on
    the survivors so far."""
    runs = AttackRuns()
    for name in config.attacks:
        attack = plan.attacks[name]
        if name in config.worst_only:
            alive = robust_mask(session.y, clean.pred, *runs.preds.values(), *runs.extra.values())
            survived = session.survivors(attack, alive, clean.pred, label=name)
            runs.extra[name] = survived.pred
            runs.seconds[name] = survived.seconds
            runs.worst_only[name] = SurvivorPass(
                attack.settings(), survived.attacked, survived.newly_broken, survived.seconds
            )
            continue
        res = session.attack(
            attack, name, observe=observe and name == OBSERVED, details=name in AUTOATTACKS
        )
        runs.preds[name] = res.pred
        runs.seconds[name] = res.seconds
        runs.outcomes[name] = session.outcome(
            name, attack.settings(), res.pred, res.seconds, clean.outcome
        )
        runs.zero_grad = res.zero_grad if res.zero_grad is not None else runs.zero_grad
        runs.broken_by = res.broken_by if res.broken_by is not None else runs.broken_by
    return runs


def measure(
    session: AuditSession,
    cfg: DiagnosticsConfig,
    clean: CleanResult,
    runs: AttackRuns,
    diag: Diagnostics,
) -> None:
    """Zero-gradient ratios, the kappa sweep, the unbounded attack and Square-only breaks,
    into ``diag``; the sweep's predictions join ``runs.extra`` (they count in the worst case)."""
    groups, y = session.info.groups, session.y
    assert clean.zero is not None

    def shares(values: torch.Tensor) -> Scoped:
        return Scoped.of(group_means(values, y, groups))

    diag.zero_grad = ZeroGrad(clean=shares(clean.zero[:, 0]), sample_level=shares(clean.zero[:, 1]))
    if runs.zero_grad is not None:
        diag.zero_grad.pgd_mean = shares(runs.zero_grad[:, 0])
        diag.zero_grad.pgd_sample_level = shares(runs.zero_grad[:, 1])
    if cfg.sweep:
        sweep = run_sweep(session, cfg, clean, runs.preds, runs.zero_grad)
        diag.sweep = sweep.section
        runs.extra.update(sweep.preds)
    if cfg.unbounded:
        diag.unbounded = run_unbounded(session, cfg.unbounded_n)
    if runs.broken_by:
        white = [p for k, p in runs.preds.items() if k not in AUTOATTACKS]
        square = torch.tensor([b == "square" for b in runs.broken_by]) & robust_mask(y, *white)
        diag.square_only = shares(square.float())


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


def announce(session: AuditSession, config: AuditConfig, rows: RowMap) -> None:
    """Hand the plan of the audit (:func:`~ltrobust.audit.plan.audit_plan`) to a progress that
    prints plans, before the first pass."""
    progress = session.engine.progress
    if isinstance(progress, PlanProgress):
        plan = audit_plan(config, rows, session.info.num_classes)
        progress.plan(plan_lines(plan, len(session)))


def timing(
    spent: dict[str, float], runs: AttackRuns, config: AuditConfig, rows: RowMap, start: float
) -> dict[str, float]:
    """Wall seconds per part (:data:`~ltrobust.audit.plan.PARTS`) and in total: an attack's
    pass counts in ``attacks`` or ``protocols`` as :func:`~ltrobust.audit.plan.part_of` says."""
    for name, secs in runs.seconds.items():
        spent[part_of(name, config, rows)] += secs
    return {"total": time.perf_counter() - start, **spent}


def diagnose(
    session: AuditSession,
    diag_cfg: DiagnosticsConfig,
    diag: Diagnostics,
    clean: CleanResult,
    runs: AttackRuns,
    spent: dict[str, float],
) -> None:
    """The diagnostics passes, then the escalations they call for (into ``diag`` and
    ``runs.extra``), their wall seconds added to ``spent``."""
    t0 = time.perf_counter()
    measure(session, diag_cfg, clean, runs, diag)
    t1 = time.perf_counter()
    spent["diagnostics"] += t1 - t0
    survivors = robust_mask(session.y, clean.pred, *runs.preds.values(), *runs.extra.values())
    escalation = run_escalations(session, diag_cfg, diag, survivors, clean.pred)
    if escalation is not None:
        diag.escalation = escalation.section
        runs.extra.update(escalation.preds)
    spent["escalation"] += time.perf_counter() - t1


def run_audit(
    session: AuditSession,
    config: AuditConfig,
    indices: torch.Tensor,
    on_ready: Callable[[], None] | None = None,
    plan: AuditPlan | None = None,
) -> AuditParts:
    """Clean, every attack of ``config`` (as ``plan`` built them; default: a plan of
    ``config``), (with ``config.diagnose``) the diagnostics and the
    verdict, and the per-sample worst case; see the module doc. ``on_ready`` is called once
    the model is known to fit the data, before the first pass (e.g. to prepare the cache:
    bad input writes nothing); then the plan goes to the progress (:func:`announce`), which
    also hears AutoAttack's steps inside a batch when it takes them (a ``StepProgress``)."""
    progress = session.engine.progress
    with steps_to(progress.step if isinstance(progress, StepProgress) else None):
        plan = plan or make_plan(config, session.threat, session.step)
        return _run_audit(session, config, indices, on_ready, plan)


def _run_audit(
    session: AuditSession,
    config: AuditConfig,
    indices: torch.Tensor,
    on_ready: Callable[[], None] | None,
    plan: AuditPlan,
) -> AuditParts:
    """:func:`run_audit`'s passes (its AutoAttack listener set)."""
    start, rows = time.perf_counter(), plan.rows
    diag_cfg = config.diagnostics()
    warnings = session.check_model()
    if on_ready is not None:
        on_ready()
    announce(session, config, rows)
    diag = Diagnostics(warnings=[])
    spent = dict.fromkeys(PARTS, 0.0)
    if diag_cfg is not None:
        diag.randomised = is_randomised(session.model, session.probe)
        diag.softmax_outputs = any("probabilities" in w for w in warnings)
    kappas = list(diag_cfg.kappas) if diag_cfg is not None and diag_cfg.sweep else []
    targets = AA_TARGETS if wants_aa_targets(config, session.info.num_classes) else 0
    clean = session.clean(kappas, gradient=diag_cfg is not None, targets=targets)
    spent["clean"] = clean.outcome.seconds
    runs = run_attacks(session, config, clean, diag_cfg is not None, plan)
    if runs.worst_only:
        diag.worst_only = runs.worst_only
    if diag_cfg is not None:
        diagnose(session, diag_cfg, diag, clean, runs, spent)
    tail = TailTargets(session, clean)
    if clean.aa_targets is not None:
        diag.aa_targets = tail.stats(clean.aa_targets)
    if config.aa_tail_targets:
        t0 = time.perf_counter()
        pred, diag.aa_tail = tail.run({**runs.preds, **runs.extra})
        runs.extra[tail.name] = pred
        spent["diagnostics"] += time.perf_counter() - t0
    diag.amp = session.amp_report()
    warnings.extend(session.notes())
    y = session.y
    worst_pred, robust = worst_case_predictions(y, clean.pred, {**runs.preds, **runs.extra})
    clock = timing(spent, runs, config, rows, start)
    worst = None
    if runs.preds or runs.extra:
        secs = sum(v for k, v in spent.items() if k != "clean")  # every pass that fed it
        over = {"over": [*runs.preds, *runs.extra]}
        worst = make_outcome("worst", over, y, worst_pred, session.info, secs, clean.outcome)
    per_sample: PerSample = {
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
        diag.checks, verdict = judge(
            runs.outcomes, worst, diag, groups, diag_cfg.thresholds, clean.outcome
        )
    protocols = None
    if config.protocols != ["strict"]:
        preds = {**runs.preds, **runs.extra}
        counts = session.info.class_counts
        eps = session.threat.eps
        protocols = protocol_sections(
            config, rows, preds, clean.pred, robust, y, session.info, counts, eps
        )
    return AuditParts(
        clean.outcome, runs.outcomes, worst, per_sample, diag, verdict, warnings, protocols, clock
    )


def assemble_report(
    parts: AuditParts,
    *,
    provenance: Mapping[str, Any],
    config: Mapping[str, Any],
    dataset: Dataset,
) -> AuditReport:
    """Wrap run results into an :class:`AuditReport` (warnings go into its diagnostics). The
    ``provenance`` and ``config`` sections are open objects (the audit's environment and
    options, as :mod:`ltrobust.audit.api` composes them); the schema types their known keys."""
    return AuditReport(
        provenance=cast(Provenance, dict(provenance)),
        config=cast(Config, dict(config)),
        dataset=dataset,
        clean=parts.clean,
        attacks=parts.attacks,
        worst_case=parts.worst_case,
        per_sample=parts.per_sample,
        diagnostics=replace(parts.diagnostics, warnings=list(parts.warnings)),
        verdict=parts.verdict,
        protocols=parts.protocols,
    )
