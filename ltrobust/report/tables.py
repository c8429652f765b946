"""Flat tables from a report: the per-class CSV and the headline rows of the terminal table."""

from __future__ import annotations

import csv
import io
from typing import Any

from ltrobust.fileio import atomic_write_text
from ltrobust.metrics.stats import RecallSummary
from ltrobust.report.schema import AuditReport

#: what stands for an attack's worst class when the model recognises no class clean
NO_WORST_CLASS = "no class is recognised clean"

PER_CLASS_COLUMNS = (
    "outcome",
    "class",
    "name",
    "group",
    "train_count",
    "n",
    "correct",
    "recall",
    "ci_low",
    "ci_high",
)


def per_class_rows(report: AuditReport) -> list[dict[str, Any]]:
    """One row per (outcome, class): clean, each attack, worst case."""
    group_of = {c: g for g, classes in report.dataset.get("groups", {}).items() for c in classes}
    counts = report.dataset.get("class_counts") or []
    rows = []
    for outcome in report.outcomes():
        for s in outcome.summary.per_class:
            rows.append(
                {
                    "outcome": outcome.name,
                    "class": s.cls,
                    "name": s.name,
                    "group": group_of.get(s.cls, ""),
                    "train_count": counts[s.cls] if s.cls < len(counts) else None,
                    "n": s.n,
                    "correct": s.correct,
                    "recall": s.recall,
                    "ci_low": s.ci_low,
                    "ci_high": s.ci_high,
                }
            )
    return rows


def write_per_class_csv(report: AuditReport, path: str) -> None:
    """Write ``per_class.csv`` atomically (empty cells for classes with no samples)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PER_CLASS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in per_class_rows(report):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    atomic_write_text(path, buf.getvalue())


def worst_class_note(s: RecallSummary) -> str | None:
    """:data:`NO_WORST_CLASS` for a summary with samples but no worst class (an attack's worst
    class is chosen among the classes with clean recall above zero), else None."""
    has_samples = any(c.n for c in s.per_class)
    return NO_WORST_CLASS if s.worst_class is None and has_samples else None


def headline_rows(report: AuditReport) -> list[dict[str, Any]]:
    """Rows clean / each attack / worst case with overall, each group and the worst class (its
    recall, name, and :func:`worst_class_note` where there is none)."""
    rows = []
    for outcome in report.outcomes():
        s = outcome.summary
        row: dict[str, Any] = {"outcome": outcome.name, "overall": s.accuracy}
        for g, stat in s.groups.items():
            row[g] = stat.recall
        row["worst_class"] = s.worst_class_recall
        row["worst_class_name"] = (
            s.per_class[s.worst_class].name if s.worst_class is not None else None
        )
        row["worst_class_note"] = worst_class_note(s)
        row["seconds"] = outcome.seconds
        rows.append(row)
    return rows
