"""Side-by-side comparison of N reports and the settings that make their numbers incomparable.

Torch-free. Rows are clean, every attack present in all reports (in the first report's order)
and the worst case; columns are overall and each group, per report; deltas are against the
first report, as fractions (renderers print percentage points). A value that is missing or not
a finite number is None and so is every delta it would enter: nothing is computed from NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrobust.metrics.fields import is_number
from ltrobust.report.schema import AuditReport

# Problems whose key is in HARD make a metric meaningless to compare across the two reports
# whatever the metric; the others matter only for some metrics (see ltrobust.report.gate).
HARD = ("dataset", "norm", "eps", "test_set", "groups")


@dataclass(frozen=True)
class Problem:
    """One setting that differs: ``key`` (dataset, norm, eps, test_set, groups, attacks,
    worst, attack:<name>, samples) and a one-line message."""

    key: str
    message: str


@dataclass(frozen=True)
class Facts:
    """What makes the numbers of two audits comparable: the report's ``dataset`` and
    ``config`` sections, every reported attack's settings, what the worst case counts
    (``over``; None when not known yet), the number of samples and their indices. An audit
    knows them all before its first batch but ``over``."""

    dataset: Mapping[str, Any]
    config: Mapping[str, Any]
    attacks: Mapping[str, Mapping[str, Any]]
    over: list[str] | None
    n: int
    indices: list[int] | None

    @classmethod
    def of(cls, report: AuditReport) -> Facts:
        over = report.worst_case.settings.get("over") if report.worst_case is not None else None
        idx = (report.per_sample or {}).get("index")
        return cls(
            dataset=report.dataset,
            config=report.config,
            attacks={name: o.settings for name, o in report.attacks.items()},
            over=list(over) if over else list(report.attacks),
            n=report.clean.summary.n,
            indices=list(idx) if idx else None,
        )


def _attack_settings(facts: Facts, name: str) -> dict[str, Any]:
    """Settings that change what an attack measures (a different seed does not)."""
    return {k: v for k, v in facts.attacks[name].items() if k not in ("name", "seed")}


def comparability_problems(
    base: AuditReport, other: AuditReport, base_label: str = "A", other_label: str = "B"
) -> list[Problem]:
    """Every setting in which ``other`` differs from ``base`` in a way that changes numbers."""
    return fact_problems(Facts.of(base), Facts.of(other), base_label, other_label)


def fact_problems(
    a: Facts, b: Facts, base_label: str = "A", other_label: str = "B"
) -> list[Problem]:
    """:func:`comparability_problems` on :class:`Facts` (e.g. of an audit about to run)."""
    out: list[Problem] = []

    def differ(key: str, what: str, va: object, vb: object) -> None:
        out.append(Problem(key, f"{what} differs: {base_label} {va}, {other_label} {vb}"))

    if a.dataset.get("name") != b.dataset.get("name"):
        differ("dataset", "dataset", a.dataset.get("name"), b.dataset.get("name"))
    if a.config.get("norm") != b.config.get("norm"):
        differ("norm", "threat model norm", a.config.get("norm"), b.config.get("norm"))
    ea, eb = a.config.get("eps"), b.config.get("eps")
    if not (is_number(ea) and is_number(eb) and math.isclose(ea, eb, rel_tol=1e-9, abs_tol=1e-12)):
        differ("eps", "eps", _num(ea), _num(eb))
    ta, tb = bool(a.dataset.get("test_imbalanced")), bool(b.dataset.get("test_imbalanced"))
    if ta != tb:
        differ("test_set", "test set", _balance(ta), _balance(tb))
    ga, gb = a.dataset.get("groups_mode"), b.dataset.get("groups_mode")
    if ga != gb:
        differ("groups", "groups mode", ga, gb)
    elif a.dataset.get("groups") != b.dataset.get("groups"):
        differ("groups", "group membership (training class counts)", _groups(a), _groups(b))
    sa, sb = list(a.attacks), list(b.attacks)
    if set(sa) != set(sb):
        differ("attacks", "attack set (so the worst case)", ",".join(sa), ",".join(sb))
    elif a.over is not None and b.over is not None and set(a.over) != set(b.over):
        only_a = _brief([x for x in a.over if x not in b.over])
        only_b = _brief([x for x in b.over if x not in a.over])
        out.append(
            Problem(
                "worst",
                f"the worst case counts other diagnostic attacks: only in {base_label}: "
                f"{only_a}; only in {other_label}: {only_b}",
            )
        )
    for name in sa:
        if name in b.attacks and _attack_settings(a, name) != _attack_settings(b, name):
            differ(
                f"attack:{name}",
                f"{name} settings",
                _attack_settings(a, name),
                _attack_settings(b, name),
            )
    if a.n != b.n:
        differ("samples", "number of test samples n", a.n, b.n)
    elif a.indices is not None and b.indices is not None and a.indices != b.indices:
        out.append(Problem("samples", f"test samples differ: same n={a.n}, other indices"))
    return out


def _brief(names: list[str], keep: int = 3) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - keep} more" if len(names) > keep else ""
    return ",".join(names[:keep]) + more


def _num(v: object) -> str:
    return f"{v:.6g}" if isinstance(v, float | int) else str(v)


def _balance(imbalanced: bool) -> str:
    return "long-tailed" if imbalanced else "balanced"


def _groups(r: Facts) -> str:
    return "; ".join(f"{g}={','.join(map(str, c))}" for g, c in r.dataset.get("groups", {}).items())


@dataclass
class CompareRow:
    """One outcome: ``values[r][s]`` is report r's recall in scope s; ``deltas`` vs report 0."""

    outcome: str
    values: list[list[float | None]]
    deltas: list[list[float | None]]


@dataclass
class Comparison:
    labels: list[str]
    scopes: list[str]
    rows: list[CompareRow]
    problems: list[tuple[str, Problem]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-ready data: recalls and deltas as fractions (the table shows
        them in percent and points), by report label and scope; None where a value is absent."""

        def by_label(cells: list[list[float | None]]) -> dict[str, dict[str, float | None]]:
            return {
                lab: dict(zip(self.scopes, vals, strict=True))
                for lab, vals in zip(self.labels, cells, strict=True)
            }

        return {
            "labels": list(self.labels),
            "reference": self.labels[0],
            "scopes": list(self.scopes),
            "rows": [
                {"outcome": r.outcome, "recall": by_label(r.values), "delta": by_label(r.deltas)}
                for r in self.rows
            ],
            "problems": [
                {"report": lab, "key": p.key, "message": p.message} for lab, p in self.problems
            ],
        }

    def to_markdown(self) -> str:
        """A Markdown table: a row per outcome, a column per report and scope, recall in % with
        the delta to the first report in points."""
        head = ["outcome"] + [f"{_md(lab)}: {s}" for lab in self.labels for s in self.scopes]
        lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
        for row in self.rows:
            cells = [_md("worst case" if row.outcome == "worst" else row.outcome)]
            for r, (vals, deltas) in enumerate(zip(row.values, row.deltas, strict=True)):
                for v, d in zip(vals, deltas, strict=True):
                    text = "—" if v is None else f"{100 * v:.1f}"
                    cells.append(text + (f" ({100 * d:+.1f})" if r and d is not None else ""))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def _scope_value(report: AuditReport, outcome: str, scope: str) -> float | None:
    """Recall of ``outcome`` in ``scope``; None when absent or not a finite number.
    ``protocol:<name>`` is a protocol's headline (published) number: in the ``overall`` column
    its headline metric (``protocol:taet · balanced`` names a balanced headline)."""
    if outcome.startswith("protocol:"):
        sec = (report.protocols or {}).get(outcome[len("protocol:") :].split(" · ")[0])
        if sec is None:
            return None
        part = sec.published
        metric = sec.headline_metric or "overall"
        v = part.get(metric) if scope == "overall" else part["groups"].get(scope)
        return v if is_number(v) else None
    o = next((x for x in report.outcomes() if x.name == outcome), None)
    if o is None:
        return None
    if scope == "overall":
        v = o.summary.accuracy
    else:
        g = o.summary.groups.get(scope)
        v = g.recall if g is not None else None
    return v if is_number(v) else None


def compare_reports(reports: list[AuditReport], labels: list[str]) -> Comparison:
    """Build the side-by-side table and list every incomparable setting (vs the first)."""
    first = reports[0]
    scopes = ["overall", *first.dataset.get("groups", {})]
    for r in reports[1:]:
        scopes += [g for g in r.dataset.get("groups", {}) if g not in scopes]
    common = [a for a in first.attacks if all(a in r.attacks for r in reports[1:])]
    outcomes = ["clean", *common]
    if all(r.worst_case is not None for r in reports):
        outcomes.append("worst")
    shared = [p for p in (first.protocols or {}) if all(p in (r.protocols or {}) for r in reports)]
    for p in shared:
        metric = (first.protocols or {})[p].get("headline_metric") or "overall"
        if p != "strict":
            outcomes.append(f"protocol:{p}" + (f" · {metric}" if metric != "overall" else ""))
    rows = []
    for name in outcomes:
        values = [[_scope_value(r, name, s) for s in scopes] for r in reports]
        deltas = [
            [
                None if v is None or v0 is None else v - v0
                for v, v0 in zip(vals, values[0], strict=True)
            ]
            for vals in values
        ]
        rows.append(CompareRow(name, values, deltas))
    problems = [
        (labels[i], p)
        for i, r in enumerate(reports[1:], start=1)
        for p in comparability_problems(first, r, labels[0], labels[i])
    ]
    return Comparison(labels, scopes, rows, problems)


def labels_for(paths: list[str]) -> list[str]:
    """Short, unique labels: the folder name for ``.../run1/report.json``, else the file stem."""
    raw = []
    for p in paths:
        path = Path(p)
        raw.append(path.parent.name if path.stem == "report" and path.parent.name else path.stem)
    out = []
    for i, lab in enumerate(raw):
        out.append(lab if raw.count(lab) == 1 else f"{lab}#{i + 1}")
    return out


#: the first ltrobust whose CW loss is ``min(margin, kappa)``; before, it was clamped below at
#: ``-kappa`` and had no gradient on confidently correct samples (CHANGELOG.md)
CW_FIXED_IN = (0, 2, 0)


def _version(report: AuditReport) -> tuple[int, ...] | None:
    text = str(((report.provenance or {}).get("versions") or {}).get("ltrobust", ""))
    parts = text.split("+")[0].split(".")
    return tuple(int(p) for p in parts) if parts and all(p.isdigit() for p in parts) else None


def stale_cw_warnings(reports: list[AuditReport], labels: list[str]) -> list[str]:
    """A line per report whose ``cwN`` rows were made before the CW loss fix: they can show
    robustness where the attack only had no gradient."""
    out = []
    for report, label in zip(reports, labels, strict=True):
        cw = [a for a in report.attacks if a.startswith("cw") and a[2:].isdigit()]
        version = _version(report)
        if cw and (version is None or version < CW_FIXED_IN):
            made = ".".join(map(str, version)) if version else "an unknown version"
            out.append(
                f"{label}: {', '.join(cw)} made by ltrobust {made}, before the CW loss fix of "
                "0.2.0 (CHANGELOG.md): those rows can be too high on models with large logits"
            )
    return out
