"""The report's protocols section: what each paper's evaluation would have published for this
model, beside ltrobust's strict worst case on the same samples (docs/PROTOCOLS.md).

The headline is the number the paper leads with: its row (``headline``) in its metric
(``headline_metric``: overall or balanced accuracy), shown in bold. Group cells are ltrobust's
numbers on its own groups; a group the paper does not publish (not in ``groups_published``) is
shown in parentheses, its number kept in report.json but never presented as the paper's. A
report written before ltrobust recorded the two keys reads as it did: overall, groups unmarked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ltrobust.report.blocks import Block, Cell, Details, Heading, Para, Table, pct
from ltrobust.report.schema import AuditReport
from ltrobust.report.sections import ProtocolRow, ProtocolSection, Scores

#: the caption's key to the marks of the protocol tables
MARKS = (
    "Bold: the number the paper leads with (its headline row, in its metric). In parentheses: "
    "ltrobust's number for a group the paper does not publish."
)

#: the metrics a headline can be in (``ltrobust.audit.protocols.HEADLINE_METRICS``)
HEADLINE_METRICS = ("overall", "balanced")


def headline_metric(sec: ProtocolSection) -> str:
    """The metric of the number a protocol leads with (overall where not recorded)."""
    metric = sec.get("headline_metric")
    return str(metric) if metric in HEADLINE_METRICS else "overall"


def group_published(sec: ProtocolSection, group: str) -> bool:
    """Whether the paper publishes ``group``'s number (every group where not recorded)."""
    names = sec.get("groups_published")
    return not isinstance(names, list) or group in names


def group_text(sec: ProtocolSection, group: str, value: float | None) -> str:
    """A group's recall in %, in parentheses when the paper does not publish the group."""
    text = pct(value)
    return text if value is None or group_published(sec, group) else f"({text})"


def headline_label(sec: ProtocolSection) -> str:
    """``AA · overall``, ``PGD-20 · balanced``: the headline row and its metric."""
    return f"{sec.get('headline')} · {headline_metric(sec)}"


def gap_text(part: Mapping[str, Any]) -> str:
    """``-9.0 · 9/100 credited [4.2–16.4%]``: the gap in points, the samples the protocol
    credits as robust that strict breaks, and the exact 95% interval of that share (a report
    before 0.3: McNemar's p)."""
    delta = part.get("gap")
    if delta is None:
        return "—"
    if "p" in part:
        return f"{100 * delta:+.1f} (p={part['p']:.2g})"
    lo, hi = part.get("interval") or (None, None)
    cred = f"{part.get('b')}/{part.get('n')} credited"
    return f"{100 * delta:+.1f} · {cred} [{pct(lo)}–{pct(hi)}%]" if lo is not None else cred


def _gap(sec: ProtocolSection, scope: str) -> str:
    part: Mapping[str, Any] = (
        sec.gap.overall if scope == "overall" else sec.gap.groups.get(scope) or {}
    )
    return gap_text(part)


def _scores(
    sec: ProtocolSection, part: Scores | ProtocolRow, groups: list[str], bold: bool
) -> list[Cell]:
    """Overall, each group and balanced of ``part``; the headline metric in bold if ``bold``."""
    metric = headline_metric(sec) if bold else None
    by_group = part.get("groups") or {}
    return (
        [Cell(pct(part.get("overall")), css="strong" if metric == "overall" else None)]
        + [Cell(group_text(sec, g, by_group.get(g))) for g in groups]
        + [Cell(pct(part.get("balanced")), css="strong" if metric == "balanced" else None)]
    )


def _rows(sec: ProtocolSection, groups: list[str]) -> list[list[Cell]]:
    out = []
    for label, row in (sec.get("rows") or {}).items():
        head = [Cell(label), Cell(str(row.get("attack") or "—"))]
        out.append(head + _scores(sec, row, groups, label == sec.get("headline")))
    return out


def _published(sec: ProtocolSection, groups: list[str]) -> str:
    shown = [g for g in groups if group_published(sec, g)]
    return ", ".join(shown) if shown else "none"


def protocols_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    protocols = report.protocols or {}
    if not protocols:
        return []
    groups = list(report.dataset.get("groups", {}))
    header = ["protocol", "headline", "overall", *groups, "balanced", "gap to strict (overall)"]
    rows = []
    for name, sec in protocols.items():
        pub = sec.published
        rows.append(
            [Cell(name), Cell(headline_label(sec))]
            + _scores(sec, pub, groups, True)
            + [Cell(_gap(sec, "overall"))]
        )
    out: list[Block] = [
        Heading("Protocols: what each paper would have published", "protocols"),
        Para(
            "Each paper's evaluation code, replayed on the audited samples: its attacks with its "
            "settings, each scored on its own as the paper does, and the number it leads with "
            "(its abstract's and main table's attack and metric). The gap is strict (the "
            "per-sample worst case over every attack run) minus that row's overall accuracy "
            "on the same samples: the samples the paper's row credits as robust that another "
            "attack breaks, with the exact (Clopper-Pearson) 95% interval of their share. "
            "Strict includes the row's own attack, so no sample goes the other way and no "
            "paired test is reported: it would only restate the count."
        ),
        Table(header, rows, f"Robust recall in %; gap in points. {MARKS}"),
    ]
    for name, sec in protocols.items():
        detail: list[Table | Para] = [
            Para(
                f"{sec.get('description')}."
                + (f" Leaves out: {sec['leaves_out']}." if sec.get("leaves_out") else "")
            ),
            Para(
                f"Headline: {headline_label(sec)}; groups the paper publishes: "
                f"{_published(sec, groups)}. Verified against {sec.get('source')} "
                f"({sec.get('verified')}); test set: {sec.get('test_set')}, n = {sec.get('n')}. "
                "Gap per group: " + ", ".join(f"{g} {_gap(sec, g)}" for g in groups) + "."
            ),
        ]
        if sec.get("rows"):
            head = ["row", "attack", "overall", *groups, "balanced"]
            detail.append(Table(head, _rows(sec, groups), f"Recall in %. {MARKS}"))
        if sec.get("deviations"):
            detail.append(Para("Deviations of the replay: " + "; ".join(sec["deviations"]) + "."))
        out.append(Details(f"{name}: rows, source and deviations", detail))
    return out
