"""``ltrobust.report.load(path).to_frame()``: a report as one tidy pandas DataFrame.

One row per (attack, class) with ``level == "class"``, one per (attack, group) with
``level == "group"`` and one per attack with ``level == "overall"``. ``attack`` is ``clean``,
an attack name or ``worst`` (the per-sample worst case). Group and overall rows have
``class`` = <NA> and ``class_name`` = None; the ``group`` column holds the class's group, the
group's name, or ``overall``, so

    df[df.level != "class"].pivot(index="attack", columns="group", values="recall")

is the headline table. Recall and its Wilson 95% interval are fractions (None/NaN where a
class has no samples). pandas is imported on first use; torch never is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltrobust.report.schema import AuditReport

if TYPE_CHECKING:
    import pandas as pd

FRAME_COLUMNS = (
    "level",
    "attack",
    "class",
    "class_name",
    "group",
    "train_count",
    "n",
    "correct",
    "recall",
    "ci_low",
    "ci_high",
)


def frame_rows(report: AuditReport) -> list[dict[str, Any]]:
    """The rows of :func:`report_frame` as plain dicts (no pandas needed)."""
    groups = report.dataset.get("groups", {})
    group_of = {c: g for g, classes in groups.items() for c in classes}
    counts = report.dataset.get("class_counts") or []
    rows: list[dict[str, Any]] = []
    for o in report.outcomes():
        s = o.summary
        for c in s.per_class:
            rows.append(
                {
                    "level": "class",
                    "attack": o.name,
                    "class": c.cls,
                    "class_name": c.name,
                    "group": group_of.get(c.cls),
                    "train_count": counts[c.cls] if c.cls < len(counts) else None,
                    "n": c.n,
                    "correct": c.correct,
                    "recall": c.recall,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                }
            )
        for g in s.groups.values():
            train = sum(counts[c] for c in g.classes if c < len(counts)) if counts else None
            rows.append(_agg_row("group", o.name, g.name, train, g.n, g.correct, g))
        rows.append(
            _agg_row("overall", o.name, "overall", sum(counts) or None, s.n, s.correct, None)
        )
    return rows


def _agg_row(
    level: str, attack: str, group: str, train: int | None, n: int, k: int, stat: Any
) -> dict[str, Any]:
    from ltrobust.metrics.stats import wilson_interval

    lo, hi = (stat.ci_low, stat.ci_high) if stat is not None else wilson_interval(k, n)
    return {
        "level": level,
        "attack": attack,
        "class": None,
        "class_name": None,
        "group": group,
        "train_count": train,
        "n": n,
        "correct": k,
        "recall": k / n if n else None,
        "ci_low": lo,
        "ci_high": hi,
    }


def report_frame(report: AuditReport) -> pd.DataFrame:
    """The tidy DataFrame described in the module docstring."""
    import pandas as pd

    df = pd.DataFrame(frame_rows(report), columns=list(FRAME_COLUMNS))
    for col in ("class", "train_count"):
        df[col] = df[col].astype("Int64")
    for col in ("n", "correct"):
        df[col] = df[col].astype("int64")
    for col in ("recall", "ci_low", "ci_high"):
        df[col] = df[col].astype("float64")
    return df


class LoadedReport:
    """An :class:`AuditReport` read from disk, with notebook helpers.

    Attribute access falls through to the report (``r.worst_case.summary.groups``).
    """

    def __init__(self, report: AuditReport, path: str | None = None) -> None:
        self.report = report
        self.path = path

    def __getattr__(self, name: str) -> Any:
        return getattr(self.report, name)

    def __repr__(self) -> str:
        ds = self.report.dataset.get("name", "?")
        names = ", ".join(o.name for o in self.report.outcomes())
        return f"LoadedReport({self.path!r}, dataset={ds!r}, outcomes=[{names}])"

    def to_frame(self) -> pd.DataFrame:
        return report_frame(self.report)


def load(path: str | Path) -> LoadedReport:
    """Read a ``report.json``; raises :class:`ltrobust.errors.LtRobustError` on bad input."""
    from ltrobust.report.reader import read_report

    return LoadedReport(read_report(path), str(path))
