"""Run clean evaluation and every attack over a dataset; keep per-sample results.

Per-attack numbers use every sample. The worst case is per sample (house rule 4): a sample is
robust only if it is classified correctly clean and under every attack run — the mean over
samples of the min over attacks, never the min over attacks of the means.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from ltrobust.attacks import ATTACK_NAMES, Attack, ThreatModel, build_attack, salt_of, sample_seeds
from ltrobust.audit.checks import check_finite, probe_model
from ltrobust.audit.diagnostics import (
    DiagnosticsConfig,
    ZeroGradMeter,
    by_group,
    clean_gradient_zero,
    is_randomised,
)
from ltrobust.audit.sweep import run_sweep, run_unbounded
from ltrobust.audit.verdict import judge
from ltrobust.errors import ConfigError
from ltrobust.metrics import confusion_matrix, summarize
from ltrobust.report.schema import AuditReport, Outcome

#: every named attack of METHODS §2 except aa-fast, which aa already contains
DEFAULT_ATTACKS = tuple(name for name in ATTACK_NAMES if name != "aa-fast")


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

    def validate(self) -> None:
        if self.eps is not None and not 0 < self.eps <= 1:
            raise ConfigError(f"--eps must be in (0, 1] for [0, 1] pixels, got {self.eps:g}")
        if self.step is not None and not 0 < self.step <= 1:
            raise ConfigError(f"--step must be in (0, 1], got {self.step:g}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA device is available")
    return dev


class _Batches:
    """Fixed-order batches of (dataset index, x, y) moved to ``device``."""

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, bs: int, device: torch.device
    ) -> None:
        self.x, self.y, self.idx, self.bs, self.device = x, y, idx, bs, device

    def __len__(self) -> int:
        return len(self.y)

    def __iter__(self):
        for s in range(0, len(self.y), self.bs):
            yield (
                self.idx[s : s + self.bs],
                self.x[s : s + self.bs].to(self.device),
                self.y[s : s + self.bs].to(self.device),
            )


def _predict_all(
    batches: _Batches,
    name: str,
    predict: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    progress: ProgressCallback | None,
) -> tuple[torch.Tensor, float]:
    """Predictions (CPU int64, N) of ``predict(idx, x, y)`` over all batches, and seconds."""
    t0 = time.perf_counter()
    preds, correct, seen = [], 0, 0
    if progress:
        progress.start(name, len(batches))
    for idx, xb, yb in batches:
        pred = predict(idx, xb, yb).cpu()
        preds.append(pred)
        correct += int((pred == yb.cpu()).sum())
        seen += len(yb)
        if progress:
            progress.advance(name, len(yb), correct, seen)
    if progress:
        progress.finish(name)
    out = torch.cat(preds) if preds else torch.empty(0, dtype=torch.int64)
    return out, time.perf_counter() - t0


def _logits_pred(model: nn.Module, x: torch.Tensor, where: str) -> torch.Tensor:
    with torch.no_grad():
        logits = model(x)
    check_finite(logits, where)
    return logits.argmax(dim=1)


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
) -> tuple[dict[str, Any], list[str]]:
    """Evaluate ``model`` clean and under each attack of ``config`` on (x N x C x H x W, y N),
    then (unless ``diagnostics`` is None) the diagnostics of fake robustness and the verdict.

    ``data_info`` holds ``name``, ``num_classes``, ``class_names`` and ``groups``. Returns the
    report's parts (``clean``, ``attacks``, ``worst_case``, ``per_sample``, ``diagnostics``,
    ``verdict``) and warnings.
    """
    device = resolve_device(config.device)
    model = model.to(device).eval()
    probe = x[: min(len(x), config.batch_size)].to(device)
    warnings = probe_model(model, probe[:2], data_info["num_classes"], data_info["name"])
    run = _AuditRun(
        model,
        _Batches(x, y, indices, config.batch_size, device),
        y,
        data_info,
        config,
        threat,
        step_size,
        progress,
        diagnostics,
    )
    diag: dict[str, Any] = {}
    if diagnostics is not None:
        diag["randomised"] = is_randomised(model, probe)
        diag["softmax_outputs"] = any("probabilities" in w for w in warnings)
    clean, clean_pred = run.clean()
    outcomes, adv_preds = run.attacks(clean)
    extra_preds: dict[str, torch.Tensor] = {}
    if diagnostics is not None:
        diag.update(run.measure(adv_preds, extra_preds))
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
        batches: _Batches,
        y: torch.Tensor,
        data_info: dict[str, Any],
        config: AuditConfig,
        threat: ThreatModel,
        step_size: float,
        progress: ProgressCallback | None,
        diagnostics: DiagnosticsConfig | None,
    ) -> None:
        self.model, self.batches, self.y, self.info = model, batches, y, data_info
        self.config, self.threat, self.step = config, threat, step_size
        self.progress, self.diagnostics = progress, diagnostics
        self.clean_zero: list[torch.Tensor] = []
        self.meter = ZeroGradMeter() if diagnostics is not None else None
        self.aa_broken_by: list[str] = []

    def clean(self) -> tuple[Outcome, torch.Tensor]:
        def predict(i, xb, yb):
            if self.diagnostics is not None:
                self.clean_zero.append(clean_gradient_zero(self.model, xb, yb))
            return _logits_pred(self.model, xb, "clean inputs")

        pred, secs = _predict_all(self.batches, "clean", predict, self.progress)
        return _outcome("clean", {}, self.y, pred, self.info, secs, None), pred

    def predictions(
        self, attack: Attack, salt_name: str, label: str, model: nn.Module | None = None
    ) -> tuple[torch.Tensor, float]:
        """Predictions of the model under ``attack`` (on ``model``, default the audited one)."""
        net = model if model is not None else self.model
        salt = salt_of(salt_name)

        def predict(i, xb, yb):
            x_adv = attack(net, xb, yb, seeds=sample_seeds(self.config.seed, salt, i))
            if getattr(attack, "grad_hook", None) is not None and self.meter is not None:
                self.meter.end_batch()
            details = getattr(attack, "last_details", None)
            if details and attack.name in ("aa", "aa-fast"):
                self.aa_broken_by.extend(details["broken_by"])
            return _logits_pred(self.model, x_adv, f"{label} adversarial inputs")

        return _predict_all(self.batches, label, predict, self.progress)

    def attacks(self, clean: Outcome) -> tuple[dict[str, Outcome], dict[str, torch.Tensor]]:
        outcomes: dict[str, Outcome] = {}
        preds: dict[str, torch.Tensor] = {}
        for name in self.config.attacks:
            hook = self.meter.hook if self.meter is not None and name == "pgd20" else None
            attack = build_attack(
                name, self.threat, self.step, seed=self.config.seed, grad_hook=hook
            )
            preds[name], secs = self.predictions(attack, name, name)
            outcomes[name] = _outcome(
                name, attack.settings(), self.y, preds[name], self.info, secs, clean
            )
        return outcomes, preds

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
        if len(self.meter.entry_ratio()):
            out["zero_grad"]["pgd_mean"] = by_group(self.meter.entry_ratio(), y, groups)
            out["zero_grad"]["pgd_sample_level"] = by_group(self.meter.sample_ratio(), y, groups)
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
