"""Run clean evaluation and every attack over a dataset; keep per-sample results.

Per-attack numbers use every sample. The worst case is per sample (house rule 4): a sample is
robust only if it is classified correctly clean and under every attack run — the mean over
samples of the min over attacks, never the min over attacks of the means. Attacks that only
feed the worst case (``worst_only``, the tail-targeted APGD) attack only the samples still
robust at their turn and have no row of their own.

Every pass runs batch by batch through :class:`ltrobust.audit.engine.Engine` (streaming,
sharding under torchrun, resume, out-of-memory halving); what a batch computes is in
:mod:`ltrobust.audit.passes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from ltrobust.attacks import (
    ATTACK_NAMES,
    Attack,
    IterativeAttack,
    ThreatModel,
    build_attack,
    salt_of,
)
from ltrobust.audit.cache import RecordCache, prepare_cache
from ltrobust.audit.checks import probe_model
from ltrobust.audit.diagnostics import (
    DiagnosticsConfig,
    ZeroGradMeter,
    by_group,
    is_randomised,
)
from ltrobust.audit.engine import prepare_model
from ltrobust.audit.passes import (
    AttackPass,
    BatchView,
    amp_flips,
    attack_hook,
    clean_record,
    engine_results,
    kappa_key,
    make_engine,
    predict,
)
from ltrobust.audit.sweep import run_sweep, run_unbounded
from ltrobust.audit.tail_targets import AA_TARGETS, tail_targets, wants_aa_targets
from ltrobust.audit.verdict import judge
from ltrobust.errors import ConfigError
from ltrobust.metrics import confusion_matrix, summarize
from ltrobust.report.schema import AuditReport, Outcome
from ltrobust.train.ddp import DistContext, resolve_device

#: every named attack of METHODS §2 except aa-fast, which aa already contains
DEFAULT_ATTACKS = tuple(name for name in ATTACK_NAMES if name != "aa-fast")
AMP_CHOICES = ("none", "bf16")


class ProgressCallback(Protocol):
    """Receives progress; the CLI draws rich bars with it, the library never prints."""

    def start(self, name: str, total: int) -> None: ...

    def advance(self, name: str, n: int, correct: int, seen: int) -> None: ...

    def finish(self, name: str) -> None: ...


@dataclass
class AuditConfig:
    """What to run. ``eps``/``step`` of ``None`` take the dataset's defaults (METHODS §1)."""

    attacks: list[str] = field(default_factory=lambda: list(DEFAULT_ATTACKS))
    norm: str = "linf"
    eps: float | None = None
    step: float | None = None
    batch_size: int = 256
    seed: int = 0
    groups: str = "thirds"
    device: str = "auto"
    #: also run targeted APGD towards tail classes on the survivors (``--aa-tail-targets``)
    aa_tail_targets: bool = False
    #: ``bf16``: attacks iterate under bfloat16 autocast; final predictions stay float32
    amp: str = "none"
    #: channels-last memory format for the model and the batches (4-D inputs)
    channels_last: bool = False
    #: run attacks and predictions on ``torch.compile(model)``
    compile: bool = False
    #: attacks of ``attacks`` that only feed the worst case: they attack only the samples
    #: still robust at their turn and get no row of their own
    worst_only: list[str] = field(default_factory=list)

    def validate(self) -> None:
        stray = [a for a in self.worst_only if a not in self.attacks]
        if stray:
            raise ConfigError(f"--worst-only names attacks not in --attacks: {', '.join(stray)}")
        if self.amp not in AMP_CHOICES:
            raise ConfigError(f"--amp must be one of {', '.join(AMP_CHOICES)}, got {self.amp!r}")
        if self.eps is not None and not 0 < self.eps <= 1:
            raise ConfigError(f"--eps must be in (0, 1] for [0, 1] pixels, got {self.eps:g}")
        if self.step is not None and not 0 < self.step <= 1:
            raise ConfigError(f"--step must be in (0, 1], got {self.step:g}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")


_logits_pred = predict  # the argmax of the logits, checked to be finite


def _outcome(
    name: str,
    settings: dict[str, Any],
    y: torch.Tensor,
    pred: torch.Tensor,
    data_info: dict[str, Any],
    seconds: float,
    clean: Outcome | None,
) -> Outcome:
    cm = confusion_matrix(y, pred, data_info["num_classes"])
    summary = summarize(cm, data_info["groups"], data_info["class_names"])
    boundary: dict[str, float | None] = {}
    if clean is not None:
        boundary["overall"] = _diff(clean.summary.accuracy, summary.accuracy)
        for g, stat in summary.groups.items():
            boundary[g] = _diff(clean.summary.groups[g].recall, stat.recall)
    return Outcome(name, settings, summary, cm.tolist(), boundary, seconds)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def run_audit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    indices: torch.Tensor,
    data_info: dict[str, Any],
    config: AuditConfig,
    *,
    threat: ThreatModel,
    step_size: float,
    progress: ProgressCallback | None = None,
    diagnostics: DiagnosticsConfig | None = None,
    ctx: DistContext | None = None,
    cache: RecordCache | None = None,
    execution: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Evaluate ``model`` clean and under each attack of ``config`` on (x N x C x H x W, y N),
    then (unless ``diagnostics`` is None) the diagnostics of fake robustness and the verdict.

    ``data_info`` holds ``name``, ``num_classes``, ``class_names`` and ``groups``. Returns the
    report's parts (``clean``, ``attacks``, ``worst_case``, ``per_sample``, ``diagnostics``,
    ``verdict``) and warnings. Batches run through :class:`~ltrobust.audit.engine.Engine`:
    ``ctx`` shares them among torchrun processes (default: this process alone, on
    ``config.device``), ``cache`` stores each finished batch and, when resuming, supplies it;
    ``execution``, if given, receives the process count and the batches computed and reused.
    """
    ctx = ctx if ctx is not None else DistContext(device=resolve_device(config.device))
    model, net = prepare_model(
        model, ctx.device, channels_last=config.channels_last, compile=config.compile
    )
    engine = make_engine(x, y, indices, config, ctx, cache, progress)
    probe = engine.to_device(x[: min(len(x), config.batch_size)])
    warnings = probe_model(model, probe[:2], data_info["num_classes"], data_info["name"])
    prepare_cache(cache, ctx)
    run = _AuditRun(
        model,
        BatchView(engine),
        y,
        data_info,
        config,
        threat,
        step_size,
        progress,
        diagnostics,
        net=net,
    )
    diag: dict[str, Any] = {}
    if diagnostics is not None:
        diag["randomised"] = is_randomised(model, probe)
        diag["softmax_outputs"] = any("probabilities" in w for w in warnings)
    clean, clean_pred = run.clean()
    outcomes, adv_preds = run.attacks(clean)
    extra_preds: dict[str, torch.Tensor] = dict(run.worst_only)
    if run.worst_only:
        diag["worst_only"] = run.worst_only_info
    if diagnostics is not None:
        diag.update(run.measure(adv_preds, extra_preds))
    run.clean_pred = clean_pred
    tail_targets(run, config, diag, clean_pred, adv_preds, extra_preds)
    engine_results(run, diag, warnings, execution)
    worst_pred, robust = worst_case_predictions(y, clean_pred, {**adv_preds, **extra_preds})
    worst = None
    if adv_preds or extra_preds:
        secs = sum(o.seconds for o in outcomes.values())
        over = {"over": [*adv_preds, *extra_preds]}
        worst = _outcome("worst", over, y, worst_pred, data_info, secs, clean)
    per_sample = {
        "index": indices.tolist(),
        "y": y.tolist(),
        "clean_pred": clean_pred.tolist(),
        "adv_pred": {k: v.tolist() for k, v in adv_preds.items()},
        "extra_pred": {k: v.tolist() for k, v in extra_preds.items()},
        "robust": robust.tolist(),
    }
    if run.aa_broken_by:
        per_sample["aa_broken_by"] = run.aa_broken_by
    verdict = None
    if diagnostics is not None:
        diag["checks"], verdict = judge(
            outcomes, worst, diag, list(data_info["groups"]), diagnostics.thresholds, clean
        )
    parts = {
        "clean": clean,
        "attacks": outcomes,
        "worst_case": worst,
        "per_sample": per_sample,
        "diagnostics": diag,
        "verdict": verdict,
    }
    return parts, warnings


class _AuditRun:
    """The pieces of one audit that share the model, the batches and the settings."""

    def __init__(
        self,
        model: nn.Module,
        batches: BatchView,
        y: torch.Tensor,
        data_info: dict[str, Any],
        config: AuditConfig,
        threat: ThreatModel,
        step_size: float,
        progress: ProgressCallback | None,
        diagnostics: DiagnosticsConfig | None,
        net: nn.Module | None = None,
    ) -> None:
        self.model, self.batches, self.y, self.info = model, batches, y, data_info
        #: what attacks and predictions run on: ``model`` or its torch.compile version
        self.net = net if net is not None else model
        self.engine = batches.engine
        self.pgd_zero: torch.Tensor | None = None  # N x 2 from pgd20's gradient hook
        self.sweep_clean: dict[float, torch.Tensor] = {}  # kappa -> clean predictions
        self.amp_flips: dict[str, dict[str, int]] = {}  # pass label -> flips of the re-check
        self.worst_only: dict[str, torch.Tensor] = {}  # predictions of worst-case-only attacks
        self.worst_only_info: dict[str, dict[str, Any]] = {}
        self.config, self.threat, self.step = config, threat, step_size
        self.progress, self.diagnostics = progress, diagnostics
        self.clean_zero: list[torch.Tensor] = []
        self.meter = ZeroGradMeter() if diagnostics is not None else None
        self.aa_broken_by: list[str] = []
        self.clean_pred: torch.Tensor | None = None
        self.clean_targets: torch.Tensor | None = None

    def clean(self) -> tuple[Outcome, torch.Tensor]:
        """The clean pass: one forward per batch gives the predictions, the sweep's clean
        predictions at every kappa (argmax of the logits x 10^-kappa) and, with diagnostics,
        the zero-gradient shares at the clean input."""
        diag = self.diagnostics
        kappas = list(diag.kappas) if diag is not None and diag.sweep else []

        targets = AA_TARGETS if wants_aa_targets(self.config, self.info["num_classes"]) else 0
        fn = clean_record(self.net, kappas, gradient=diag is not None, targets=targets)
        rec, secs = self.engine.run_pass("clean", fn)
        pred = rec["pred"]
        self.clean_targets = rec.get("aa_targets")
        if diag is not None:
            self.clean_zero = [rec["zero"].T]
        self.sweep_clean = {k: rec[kappa_key(k)] for k in kappas}
        self.clean_pred = pred
        return _outcome("clean", {}, self.y, pred, self.info, secs, None), pred

    def predictions(
        self,
        attack: Attack,
        salt_name: str,
        label: str,
        model: nn.Module | None = None,
        alive: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, float]:
        """Predictions (CPU int64) of the model under ``attack`` (run on ``model``, default
        the audited network) for every sample, or for the samples at positions ``pos``.

        With ``alive`` (bool, N, audit order) only those samples are attacked; the others keep
        their clean prediction (for attacks that only feed the worst case). With ``--amp
        bf16`` an :class:`IterativeAttack` iterates under bfloat16 autocast; its final
        adversarial examples are classified in float32 (that prediction counts) and in
        bfloat16, and the verdicts that differ are counted in ``amp_flips``. AutoAttack
        (pyautoattack) always runs in float32.
        """
        fn = AttackPass(
            attack,
            net=model if model is not None else self.net,
            judge=self.net,
            engine=self.engine,
            seed=self.config.seed,
            salt=salt_of(salt_name),
            where=f"{label} adversarial inputs",
            alive=alive,
            clean_pred=self.clean_pred,
            hooked=alive is None and self.meter is not None and attack_hook(attack) is not None,
            details=alive is None and attack.name in ("aa", "aa-fast"),
        )
        rec, secs = self.engine.run_pass(
            label, fn, pos=pos, batch_sensitive=not isinstance(attack, IterativeAttack)
        )
        if fn.hooked:
            self.pgd_zero = rec["zg"]
        if fn.details:
            self.aa_broken_by = rec["broken_by"]
        if fn.amp:
            y = self.y.cpu() if pos is None else self.y.cpu()[pos]
            self.amp_flips[label] = amp_flips(rec["pred"], rec["amp_pred"], y)
        return rec["pred"], secs

    def attacks(self, clean: Outcome) -> tuple[dict[str, Outcome], dict[str, torch.Tensor]]:
        outcomes: dict[str, Outcome] = {}
        preds: dict[str, torch.Tensor] = {}
        for name in self.config.attacks:
            hook = self.meter.hook if self.meter is not None and name == "pgd20" else None
            attack = build_attack(
                name, self.threat, self.step, seed=self.config.seed, grad_hook=hook
            )
            if name in self.config.worst_only:
                self.worst_only[name] = self._worst_only(attack, name, preds)
                continue
            preds[name], secs = self.predictions(attack, name, name)
            outcomes[name] = _outcome(
                name, attack.settings(), self.y, preds[name], self.info, secs, clean
            )
        return outcomes, preds

    def _worst_only(
        self, attack: Attack, name: str, preds: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Run ``attack`` only on the samples correct clean and under every attack so far."""
        assert self.clean_pred is not None
        y = self.y.cpu()
        alive = self.clean_pred == y
        for p in [*preds.values(), *self.worst_only.values()]:
            alive &= p == y
        pred, secs = self.predictions(attack, name, name, alive=alive)
        self.worst_only_info[name] = {
            "settings": attack.settings(),
            "attacked": int(alive.sum()),
            "newly_broken": int((alive & (pred != y)).sum()),
            "seconds": secs,
        }
        return pred

    def measure(
        self, adv_preds: dict[str, torch.Tensor], extra: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        """Zero-gradient ratios, the kappa sweep, the unbounded attack, Square-only breaks."""
        assert self.diagnostics is not None and self.meter is not None
        groups, y, out = self.info["groups"], self.y, {}
        zero = torch.cat(self.clean_zero, dim=1)
        out["zero_grad"] = {
            "clean": by_group(zero[0], y, groups),
            "sample_level": by_group(zero[1], y, groups),
        }
        if self.pgd_zero is not None:
            out["zero_grad"]["pgd_mean"] = by_group(self.pgd_zero[:, 0], y, groups)
            out["zero_grad"]["pgd_sample_level"] = by_group(self.pgd_zero[:, 1], y, groups)
        if self.diagnostics.sweep:
            out["sweep"] = run_sweep(self, adv_preds, extra)
        if self.diagnostics.unbounded:
            out["unbounded"] = run_unbounded(self)
        if self.aa_broken_by:
            white = [p for k, p in adv_preds.items() if k not in ("aa", "aa-fast")]
            survived = torch.ones(len(y), dtype=torch.bool)
            for p in white:
                survived &= p == y.cpu()
            square = torch.tensor([b == "square" for b in self.aa_broken_by]) & survived
            out["square_only"] = by_group(square.float(), y, groups)
        return out


def worst_case_predictions(
    y: torch.Tensor, clean_pred: torch.Tensor, adv_preds: dict[str, torch.Tensor]
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


def assemble_report(
    parts: dict[str, Any],
    *,
    provenance: dict[str, Any],
    config: dict[str, Any],
    dataset: dict[str, Any],
    warnings: list[str],
) -> AuditReport:
    """Wrap run results into an :class:`AuditReport` (warnings go into its diagnostics)."""
    parts = dict(parts)
    diagnostics = {"warnings": warnings, **(parts.pop("diagnostics", None) or {})}
    return AuditReport(
        provenance=provenance, config=config, dataset=dataset, diagnostics=diagnostics, **parts
    )
