"""Build AuditReports from per-sample predictions in pure Python (no torch, no model).

Mirrors the audit runner: per-class/group recall with Wilson intervals, landing by group, the
per-sample worst case (robust iff correct clean and under every attack; a non-robust sample's
prediction is its first wrong one) and the per-sample block. Used by the report, compare, gate
and browser tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from ltrobust.metrics.stats import ClassStat, GroupStat, RecallSummary, wilson_interval
from ltrobust.report.findings import Diagnostics
from ltrobust.report.schema import AuditReport, Outcome
from ltrobust.report.sections import Verdict

NAMES = ["plane", "car", "bird", "cat", "deer", "dog"]
COUNTS = [500, 300, 150, 80, 40, 10]
GROUPS = {"head": [0, 1], "body": [2, 3], "tail": [4, 5]}


def _stat(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    lo, hi = wilson_interval(k, n)
    return (k / n if n else None), lo, hi


def summarize_py(
    cm: list[list[int]],
    groups: dict[str, list[int]],
    names: list[str],
    eligible: list[bool] | None = None,
) -> RecallSummary:
    totals = [sum(r) for r in cm]
    hits = [cm[i][i] for i in range(len(cm))]
    per = [
        ClassStat(c, names[c], totals[c], hits[c], *_stat(hits[c], totals[c]))
        for c in range(len(cm))
    ]
    present = [s for s in per if s.recall is not None]
    candidates = [s for s in present if eligible is None or eligible[s.cls]]
    worst = min(candidates, key=lambda s: (s.recall, s.cls)) if candidates else None
    gstats = {}
    for g, cls in groups.items():
        n, k = sum(totals[c] for c in cls), sum(hits[c] for c in cls)
        gstats[g] = GroupStat(g, list(cls), n, k, *_stat(k, n))
    landing = {
        g: {h: sum(cm[t][p] for t in tc for p in pc if t != p) for h, pc in groups.items()}
        for g, tc in groups.items()
    }
    n_all, k_all = sum(totals), sum(hits)
    return RecallSummary(
        n_all,
        k_all,
        k_all / n_all if n_all else None,
        sum(s.recall for s in present) / len(present) if present else None,
        worst.recall if worst else None,
        worst.cls if worst else None,
        per,
        gstats,
        landing,
    )


def _outcome(name, settings, y, pred, groups, names, clean=None) -> Outcome:
    c = len(names)
    cm = [[0] * c for _ in range(c)]
    for t, p in zip(y, pred, strict=True):
        cm[t][p] += 1
    eligible = None if clean is None else [bool(c.recall) for c in clean.summary.per_class]
    s = summarize_py(cm, groups, names, eligible)
    be: dict[str, float | None] = {}
    if clean is not None:
        be["overall"] = clean.summary.accuracy - s.accuracy
        be.update({g: clean.summary.groups[g].recall - s.groups[g].recall for g in groups})
    return Outcome(name, settings, s, cm, be, 1.0)


def attack_settings(name: str, eps: float, norm: str) -> dict[str, Any]:
    steps = int("".join(ch for ch in name if ch.isdigit()) or 1)
    return {
        "name": name,
        "norm": norm,
        "eps": eps,
        "loss": "ce",
        "steps": steps,
        "step_size": eps / 4,
    }


def make_report(
    y: list[int],
    clean_pred: list[int],
    adv_preds: dict[str, list[int]],
    *,
    index: list[int] | None = None,
    eps: float = 8 / 255,
    norm: str = "linf",
    dataset: str = "toy-lt",
    names: list[str] | None = None,
    counts: list[int] | None = None,
    groups: dict[str, list[int]] | None = None,
    test_imbalanced: bool = False,
    groups_mode: str = "thirds",
    diagnostics: dict[str, Any] | None = None,
    verdict: dict[str, Any] | None = None,
) -> AuditReport:
    names = names or NAMES
    counts = counts or COUNTS
    groups = groups or GROUPS
    clean = _outcome("clean", {}, y, clean_pred, groups, names)
    attacks = {
        a: _outcome(a, attack_settings(a, eps, norm), y, p, groups, names, clean)
        for a, p in adv_preds.items()
    }
    pred, robust = list(clean_pred), [p == t for p, t in zip(clean_pred, y, strict=True)]
    for p_adv in adv_preds.values():
        for i, (p, t) in enumerate(zip(p_adv, y, strict=True)):
            if robust[i] and p != t:
                pred[i] = p
            robust[i] = robust[i] and p == t
    worst = (
        _outcome("worst", {"over": list(adv_preds)}, y, pred, groups, names, clean)
        if adv_preds
        else None
    )
    index = index if index is not None else list(range(len(y)))
    test_counts = [sum(1 for t in y if t == c) for c in range(len(names))]
    return AuditReport(
        provenance={
            "versions": {"ltrobust": "0.1.0", "python": "3.11"},
            "created": "2026-01-01T00:00:00+00:00",
            "command": "ltrobust audit model.pt --dataset toy-lt",
            "checkpoint": {
                "path": "model.pt",
                "sha256": "ab" * 32,
                "format": "ltrobust",
                "arch": "test_cnn",
            },
            "device": "cpu",
            "seed": 0,
        },
        config={
            "attacks": list(adv_preds),
            "norm": norm,
            "eps": eps,
            "step": eps / 4,
            "seed": 0,
            "batch_size": 64,
            "n": len(y),
        },
        dataset={
            "name": dataset,
            "num_classes": len(names),
            "class_names": names,
            "class_counts": counts,
            "test_counts": test_counts,
            "groups_mode": groups_mode,
            "groups": groups,
            "test_imbalanced": test_imbalanced,
            "imbalance_ratio": counts[0] / counts[-1],
            "n": len(y),
        },
        clean=clean,
        attacks=attacks,
        worst_case=worst,
        per_sample={
            "index": index,
            "y": list(y),
            "clean_pred": list(clean_pred),
            "adv_pred": {a: list(p) for a, p in adv_preds.items()},
            "robust": robust,
        },
        # the sections as the audit builds them: typed, from their JSON data
        diagnostics=TypeAdapter(Diagnostics).validate_python(diagnostics or {"warnings": []}),
        verdict=TypeAdapter(Verdict).validate_python(verdict) if verdict is not None else None,
    )


def balanced_labels(per_class: int = 40, classes: int = 6) -> list[int]:
    return [c for c in range(classes) for _ in range(per_class)]


def flip(pred: list[int], y: list[int], which: list[int], correct: bool) -> list[int]:
    """Copy of ``pred`` with samples ``which`` made correct (or wrong: label + 1)."""
    out = list(pred)
    for i in which:
        out[i] = y[i] if correct else (y[i] + 1) % 6
    return out


def standard_pair() -> tuple[list[int], list[int], dict[str, list[int]]]:
    """Labels, clean predictions and pgd20/aa predictions of a plausible model."""
    y = balanced_labels()
    clean = [t if i % 10 else (t + 1) % 6 for i, t in enumerate(y)]  # 90% clean
    pgd = [
        p if (i % 10) < 6 else (t + 2) % 6 for i, (p, t) in enumerate(zip(clean, y, strict=True))
    ]
    aa = [p if (i % 10) < 5 else (t + 3) % 6 for i, (p, t) in enumerate(zip(pgd, y, strict=True))]
    return y, clean, {"pgd20": pgd, "aa": aa}


def full_diagnostics(groups: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Diagnostics in the schema the audit is about to write (zero_grad, sweep, checks)."""
    gs = list(groups or GROUPS)

    def part(base: float) -> dict[str, Any]:
        return {"overall": base, "groups": {g: min(1.0, base + 0.05 * i) for i, g in enumerate(gs)}}

    rows = []
    for k in (-2.0, -1.0, 0.0, 1.0, 2.0):
        inv = part(0.3) if k in (-2.0, 0.0, 2.0) else None
        rows.append(
            {
                "kappa": k,
                "clean": part(0.8),
                "pgd20": part(0.3 + 0.1 * max(0.0, k)),
                "invariant": inv,
                "invariant_attack": "apgd-dlr" if inv else None,
            }
        )
    return {
        "warnings": ["model output looks like probabilities (softmax inside the model)"],
        "zero_grad": {
            "clean": part(0.01),
            "pgd_mean": part(0.2),
            "sample_level": part(0.05),
            "pgd_sample_level": part(0.0),
        },
        "unbounded": {
            **part(0.0),
            "n": 240,
            "eps": 1.0,
            "settings": {"norm": "linf", "eps": 1.0, "steps": 20},
        },
        "sweep": {"kappas": [r["kappa"] for r in rows], "rows": rows},
        "checks": [
            {
                "name": "kappa_monotone",
                "group": "tail",
                "triggered": True,
                "value": 0.2,
                "threshold": 0.05,
                "message": "PGD-20 recall rises with kappa",
            },
            {
                "name": "fgsm_vs_pgd",
                "group": "overall",
                "triggered": False,
                "value": None,
                "threshold": None,
                "message": "PGD no weaker than FGSM",
            },
        ],
    }


def full_verdict(groups: dict[str, list[int]] | None = None) -> dict[str, Any]:
    entry = {
        "verdict": "suspect",
        "believed": 0.41,
        "inflation": {"pgd20": 0.03, "aa": 0.0},
        "flags": ["kappa_monotone"],
    }
    out = {g: dict(entry) for g in groups or GROUPS}
    out[list(out)[-1]] = {
        **entry,
        "verdict": "inflated",
        "believed": 0.12,
        "inflation": {"pgd20": 0.18, "aa": 0.01},
    }
    return {
        "overall": {**entry, "verdict": "reliable", "flags": []},
        "groups": out,
        "thresholds": {"inflation": 0.05},
    }
