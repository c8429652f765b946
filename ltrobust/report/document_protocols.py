"""The report's protocols section: what each paper's evaluation would have published for this
model, beside ltrobust's strict worst case on the same samples (docs/PROTOCOLS.md)."""

from __future__ import annotations

from typing import Any

from ltrobust.report.blocks import Block, Cell, Details, Heading, Para, Table, pct
from ltrobust.report.schema import AuditReport


def _gap(sec: dict[str, Any], scope: str) -> str:
    part = sec["gap"]["overall"] if scope == "overall" else sec["gap"]["groups"].get(scope) or {}
    delta, p = part.get("gap"), part.get("p")
    return "—" if delta is None else f"{100 * delta:+.1f} (p={p:.2g})"


def _rows(sec: dict[str, Any], groups: list[str]) -> list[list[Cell]]:
    out = []
    for label, row in (sec.get("rows") or {}).items():
        cells = [Cell(label), Cell(str(row.get("attack") or "—")), Cell(pct(row.get("overall")))]
        cells += [Cell(pct((row.get("groups") or {}).get(g))) for g in groups]
        out.append([*cells, Cell(pct(row.get("balanced")))])
    return out


def protocols_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    protocols = report.protocols or {}
    if not protocols:
        return []
    groups = list(report.dataset.get("groups", {}))
    header = ["protocol", "headline", "overall", *groups, "balanced", "gap to strict (overall)"]
    rows = []
    for name, sec in protocols.items():
        pub = sec.get("published") or {}
        rows.append(
            [Cell(name), Cell(str(sec.get("headline"))), Cell(pct(pub.get("overall")))]
            + [Cell(pct((pub.get("groups") or {}).get(g))) for g in groups]
            + [Cell(pct(pub.get("balanced"))), Cell(_gap(sec, "overall"))]
        )
    out: list[Block] = [
        Heading("Protocols: what each paper would have published", "protocols"),
        Para(
            "Each paper's evaluation code, replayed on the audited samples: its attacks with its "
            "settings, each scored on its own as the paper does, and the number it headlines. "
            "The gap is strict (the per-sample worst case over every attack run) minus that "
            "number, with an exact McNemar test on the same samples."
        ),
        Table(header, rows, "Robust recall in %; gap in points."),
    ]
    for name, sec in protocols.items():
        detail: list[Table | Para] = [
            Para(
                f"{sec.get('description')}."
                + (f" Leaves out: {sec['leaves_out']}." if sec.get("leaves_out") else "")
            ),
            Para(
                f"Verified against {sec.get('source')} ({sec.get('verified')}); test set: "
                f"{sec.get('test_set')}, n = {sec.get('n')}. Gap per group: "
                + ", ".join(f"{g} {_gap(sec, g)}" for g in groups)
                + "."
            ),
        ]
        if sec.get("rows"):
            head = ["row", "attack", "overall", *groups, "balanced"]
            detail.append(Table(head, _rows(sec, groups), "Recall in %."))
        if sec.get("deviations"):
            detail.append(Para("Deviations of the replay: " + "; ".join(sec["deviations"]) + "."))
        out.append(Details(f"{name}: rows, source and deviations", detail))
    return out
