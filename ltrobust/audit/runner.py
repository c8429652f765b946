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

from ltrobust.attacks import ThreatModel, build_attack, salt_of, sample_seeds
from ltrobust.audit.checks import check_finite, probe_model
from ltrobust.errors import ConfigError
from ltrobust.metrics import confusion_matrix, summarize
from ltrobust.report.schema import AuditReport, Outcome

DEFAULT_ATTACKS = ("fgsm", "pgd20", "pgd100", "mim", "cw20", "cw100", "adaptive", "aa")


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
) -> tuple[dict[str, Any], list[str]]:
    """Evaluate ``model`` clean and under each attack of ``config`` on (x N x C x H x W, y N).

    ``data_info`` holds ``num_classes``, ``class_names`` and ``groups``. Returns the report's
    parts (``clean``, ``attacks``, ``worst_case``, ``per_sample``) and warnings.
    """
    device = resolve_device(config.device)
    model = model.to(device).eval()
    warnings = probe_model(model, x[:2].to(device), data_info["num_classes"], data_info["name"])
    batches = _Batches(x, y, indices, config.batch_size, device)
    clean_pred, secs = _predict_all(
        batches, "clean", lambda i, xb, yb: _logits_pred(model, xb, "clean inputs"), progress
    )
    clean = _outcome("clean", {}, y, clean_pred, data_info, secs, None)
    outcomes: dict[str, Outcome] = {}
    adv_preds: dict[str, torch.Tensor] = {}
    for name in config.attacks:
        attack = build_attack(name, threat, step_size, seed=config.seed)
        salt = salt_of(name)

        def predict(i, xb, yb, attack=attack, salt=salt, name=name):
            x_adv = attack(model, xb, yb, seeds=sample_seeds(config.seed, salt, i))
            return _logits_pred(model, x_adv, f"{name} adversarial inputs")

        adv_preds[name], secs = _predict_all(batches, name, predict, progress)
        outcomes[name] = _outcome(
            name, attack.settings(), y, adv_preds[name], data_info, secs, clean
        )
    worst_pred, robust = worst_case_predictions(y, clean_pred, adv_preds)
    worst = None
    if adv_preds:
        worst = _outcome(
            "worst",
            {"over": list(adv_preds)},
            y,
            worst_pred,
            data_info,
            sum(o.seconds for o in outcomes.values()),
            clean,
        )
    per_sample = {
        "index": indices.tolist(),
        "y": y.tolist(),
        "clean_pred": clean_pred.tolist(),
        "adv_pred": {k: v.tolist() for k, v in adv_preds.items()},
        "robust": robust.tolist(),
    }
    parts = {"clean": clean, "attacks": outcomes, "worst_case": worst, "per_sample": per_sample}
    return parts, warnings


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
    """Wrap run results into an :class:`AuditReport`."""
    return AuditReport(
        provenance=provenance,
        config=config,
        dataset=dataset,
        diagnostics={"warnings": warnings},
        **parts,
    )
