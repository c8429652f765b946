"""The content of a rendered report as neutral blocks; Markdown and HTML only lay them out.

Order (verdict first): headline cards, verdict with warnings and sanity checks, the group
table (clean, each attack, worst case; Wilson 95% intervals), per-class recall, the kappa
sweep and zero-gradient ratios (when the audit recorded them), where adversarial examples land,
and provenance. Built from the JSON report alone; plots come from :mod:`ltrobust.report.plots`,
the diagnostics sections from :mod:`ltrobust.report.document_diagnostics`.
"""

from __future__ import annotations

from ltrobust.report.blocks import (
    Block,
    Cards,
    Cell,
    Document,
    Figure,
    Heading,
    Table,
    ci,
    frac,
    num,
    pct,
)
from ltrobust.report.document_diagnostics import (
    aa_targets_section,
    escalation_section,
    sweep_section,
    verdict_section,
    zero_grad_section,
)
from ltrobust.report.document_protocols import protocols_section
from ltrobust.report.schema import AuditReport, Outcome
from ltrobust.report.tables import worst_class_note


def outcome_label(name: str) -> str:
    return "worst case" if name == "worst" else name


def build_document(report: AuditReport, plots: dict[str, bytes]) -> Document:
    """All blocks of the report; ``plots`` maps plot names (recall, sweep, zero_grad,
    landing) to PNG bytes, missing ones are left out."""
    ds, cfg = report.dataset, report.config
    ck = (report.provenance or {}).get("checkpoint") or {}
    model = ck.get("path") or ck.get("arch") or "model"
    doc = Document(
        title=f"ltrobust audit: {model} on {ds.get('name', '?')}",
        subtitle=(
            f"n={ds.get('n', report.clean.summary.n)} test samples · {cfg.get('norm', '?')} "
            f"eps={frac(cfg.get('eps'))} · attacks: {', '.join(report.attacks) or 'none'} · "
            f"{(report.provenance or {}).get('created', '')}"
        ),
    )
    for section in (
        _headline,
        verdict_section,
        protocols_section,
        _group_table,
        _per_class,
        sweep_section,
        zero_grad_section,
        aa_targets_section,
        escalation_section,
        _landing,
        _provenance,
    ):
        doc.blocks += section(report, plots)
    return doc


def _headline(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    o = report.worst_case or report.clean
    s = o.summary
    cards = [("clean recall", pct(report.clean.summary.accuracy) + "%", "overall")]
    cards.append((f"{outcome_label(o.name)} recall", pct(s.accuracy) + "%", "overall"))
    groups = list(s.groups.values())
    if groups:
        g = groups[-1]
        cards.append(
            (
                f"{outcome_label(o.name)}, {g.name}",
                pct(g.recall) + "%",
                ci(g.ci_low, g.ci_high) or "",
            )
        )
    if s.worst_class is not None:
        cards.append(
            ("weakest class", pct(s.worst_class_recall) + "%", s.per_class[s.worst_class].name)
        )
    elif (note := worst_class_note(s)) is not None:
        cards.append(("weakest class", "—", note))
    return [Cards(cards)]


def _groups_caption(report: AuditReport) -> str:
    counts = report.dataset.get("class_counts") or []
    parts = []
    for g, cls in report.dataset.get("groups", {}).items():
        if cls and counts:
            tr = [counts[c] for c in cls]
            parts.append(f"{g}: classes {','.join(map(str, cls))} ({max(tr)}–{min(tr)} train)")
    return " · ".join(parts)


def _group_table(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    groups = list(report.dataset.get("groups", {}))
    header = ["", "overall", *groups, "balanced", "worst class"]
    rows = []
    for o in report.outcomes():
        s = o.summary
        row = [Cell(outcome_label(o.name), css="strong" if o.name == "worst" else None)]
        row.append(Cell(pct(s.accuracy), ci(*_wilson(s.correct, s.n))))
        for g in groups:
            st = s.groups.get(g)
            row.append(Cell(pct(st.recall), ci(st.ci_low, st.ci_high)) if st else Cell("—"))
        row.append(Cell(pct(s.balanced_accuracy)))
        wc = s.per_class[s.worst_class] if s.worst_class is not None else None
        row.append(Cell(pct(s.worst_class_recall), wc.name if wc else worst_class_note(s)))
        rows.append(row)
    cap = (
        "Recall in % with its Wilson 95% interval. Worst case: a sample counts as robust only if "
        "it is correct clean and under every attack. Worst class under attack: the lowest "
        "recall among the classes with clean recall above zero. "
        + _extra_attacks(report)
        + _groups_caption(report)
    )
    return [Heading("Robust recall by group", "groups"), Table(header, rows, cap)]


def _extra_attacks(report: AuditReport) -> str:
    """The worst case may also count the diagnostics' attacks (kappa sweep, ...): say which."""
    over = (report.worst_case.settings.get("over") if report.worst_case else None) or []
    extra = [a for a in over if a not in report.attacks]
    if not extra:
        return ""
    return (
        f"The worst case also counts the diagnostics' {len(extra)} attacks ({', '.join(extra)}). "
    )


def _wilson(k: int, n: int) -> tuple[float | None, float | None]:
    from ltrobust.metrics.stats import wilson_interval

    return wilson_interval(k, n)


def _per_class(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    from ltrobust.report.plots import class_order

    out: list[Block] = [Heading("Per-class recall", "classes")]
    if "recall" in plots:
        out.append(
            Figure("recall", plots["recall"], "Per-class recall, clean against the worst case")
        )
    group_of = {c: g for g, cls in report.dataset.get("groups", {}).items() for c in cls}
    counts = report.dataset.get("class_counts") or []
    outcomes: list[Outcome] = report.outcomes()
    header = ["class", "group", "train", "n", *[outcome_label(o.name) for o in outcomes]]
    rows = []
    for c in class_order(report):
        base = report.clean.summary.per_class[c]
        row = [
            Cell(f"{c} {base.name}"),
            Cell(group_of.get(c, "")),
            Cell(str(counts[c]) if c < len(counts) else "—"),
            Cell(str(base.n)),
        ]
        for o in outcomes:
            st = o.summary.per_class[c]
            row.append(Cell(pct(st.recall), ci(st.ci_low, st.ci_high)))
        rows.append(row)
    out.append(
        Table(header, rows, "Recall in % with its Wilson 95% interval; classes by training count.")
    )
    return out


def _landing(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    o = report.worst_case or next(iter(report.attacks.values()), None)
    if o is None:
        return []
    groups = list(report.dataset.get("groups", {}))
    out: list[Block] = [Heading("Where adversarial examples land", "landing")]
    if "landing" in plots:
        out.append(
            Figure("landing", plots["landing"], "Heatmaps of where misclassified samples land")
        )
    rows = [
        [Cell(g)] + [Cell(str(o.summary.landing.get(g, {}).get(h, 0))) for h in groups]
        for g in groups
    ]
    cap = f"{outcome_label(o.name)}: misclassified samples, true group (rows) by predicted group (columns)."
    out.append(Table(["true \\ predicted", *groups], rows, cap))
    return out


def _provenance(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    p, cfg, ds = report.provenance or {}, report.config or {}, report.dataset or {}
    ck = p.get("checkpoint") or {}
    versions = p.get("versions") or {}
    items = [
        (
            "model",
            ", ".join(f"{k}={v}" for k, v in ck.items() if k != "sha256" and v not in (None, "")),
        ),
        ("model sha256", ck.get("sha256")),
        (
            "dataset",
            f"{ds.get('name')} · {ds.get('num_classes')} classes · IR {num(ds.get('imbalance_ratio'))} · "
            f"{'long-tailed' if ds.get('test_imbalanced') else 'balanced'} test set · n={ds.get('n')}",
        ),
        ("groups", f"{ds.get('groups_mode')}: {_groups_caption(report)}"),
        ("data source", p.get("data_source")),
        (
            "threat model",
            f"{cfg.get('norm')} eps={frac(cfg.get('eps'))} step={frac(cfg.get('step'))} (pixels in [0, 1])",
        ),
        *[
            (
                f"attack {name}",
                ", ".join(f"{k}={frac(v)}" for k, v in a.settings.items() if k != "name"),
            )
            for name, a in report.attacks.items()
        ],
        ("seed", p.get("seed", cfg.get("seed"))),
        ("batch size", cfg.get("batch_size")),
        ("device", " · ".join(str(x) for x in (p.get("device"), p.get("device_name")) if x)),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
        ("created", p.get("created")),
        ("command", p.get("command")),
        ("schema version", report.schema_version),
    ]
    rows = [
        [
            Cell(k),
            Cell(
                "—" if v in (None, "") else str(v),
                css="mono" if k in ("model sha256", "command") else None,
            ),
        ]
        for k, v in items
    ]
    return [Heading("Provenance", "provenance"), Table(["", ""], rows)]
