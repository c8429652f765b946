"""The content of a rendered report as neutral blocks; Markdown and HTML only lay them out.

Order (verdict first): headline cards, verdict with warnings and sanity checks, the group
table (clean, each attack, worst case; Wilson 95% intervals), per-class recall, the kappa
sweep and zero-gradient ratios (when the audit recorded them), where adversarial examples land,
and provenance. Built from the JSON report alone; plots come from :mod:`ltrobust.report.plots`.
"""

from __future__ import annotations

from typing import Any

from ltrobust.report.blocks import (
    Block,
    Bullets,
    Cards,
    Cell,
    Details,
    Document,
    Figure,
    Heading,
    Para,
    Table,
    ci,
    frac,
    pct,
)
from ltrobust.report.schema import AuditReport, Outcome


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
        _verdict,
        _group_table,
        _per_class,
        _sweep,
        _zero_grad,
        _aa_targets,
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
    return [Cards(cards)]


def _verdict(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    out: list[Block] = [Heading("Verdict", "verdict")]
    v = report.verdict
    if not v:
        out.append(
            Para(
                "No verdict in this report: it was made without the sanity checks and the κ "
                "sweep (an older ltrobust, or --no-sweep). The numbers below are the attacks' "
                "raw results; gradient masking has not been ruled out.",
                "note",
            )
        )
    else:
        out.append(_verdict_table(v))
    diag = report.diagnostics or {}
    if diag.get("warnings"):
        out.append(Bullets([f"warning: {w}" for w in diag["warnings"]], "warn"))
    return out + _checks(report)


def _verdict_table(v: dict[str, Any]) -> Table:
    entries = [("overall", v.get("overall")), *(v.get("groups") or {}).items()]
    attacks = list(dict.fromkeys(a for _, e in entries if e for a in (e.get("inflation") or {})))
    header = ["scope", "verdict", "believed robust recall"]
    header += [f"inflation {a}" for a in attacks] + ["flags"]
    rows = []
    for scope, e in entries:
        if not e:
            continue
        word = str(e.get("verdict", "?"))
        infl = e.get("inflation") or {}
        rows.append(
            [Cell(scope), Cell(word, css=f"verdict-{word}"), Cell(pct(e.get("believed")))]
            + [Cell(_pp(infl.get(a))) for a in attacks]
            + [Cell("; ".join(e.get("flags") or []) or "—", css="text")]
        )
    thr = v.get("thresholds") or {}
    cap = "Inflation: the attack's robust recall minus the believed one, in points."
    if thr:
        cap += " Thresholds: " + ", ".join(f"{k}={frac(x)}" for k, x in thr.items()) + "."
    return Table(header, rows, cap)


def _check_rows(checks: list[dict[str, Any]]) -> list[list[Cell]]:
    rows = []
    for c in checks:
        trig = bool(c.get("triggered"))
        rows.append(
            [
                Cell(str(c.get("name", ""))),
                Cell(str(c.get("group", "overall"))),
                Cell("triggered" if trig else "ok", css="bad" if trig else "good"),
                Cell(_num(c.get("value"))),
                Cell(_num(c.get("threshold"))),
                Cell(str(c.get("message", "")), css="text"),
            ]
        )
    return rows


def _checks(report: AuditReport) -> list[Block]:
    """Triggered sanity checks in a table, the passed ones folded away; the unbounded attack."""
    diag = report.diagnostics or {}
    checks = diag.get("checks") or []
    header = ["check", "scope", "result", "value", "threshold", "message"]
    out: list[Block] = []
    if checks:
        out.append(Heading("Sanity checks", "checks", 3))
        bad = [c for c in checks if c.get("triggered")]
        good = [c for c in checks if not c.get("triggered")]
        if bad:
            out.append(Table(header, _check_rows(bad)))
        else:
            out.append(Para(f"All {len(checks)} sanity checks passed."))
        if good and bad:
            passed = f"{len(good)} check{'s' if len(good) != 1 else ''} passed"
            out.append(Details(passed, [Table(header, _check_rows(good))]))
        elif good:
            out.append(Details("show them", [Table(header, _check_rows(good))]))
    unb = diag.get("unbounded")
    if isinstance(unb, dict) and "overall" in unb:
        st = unb.get("settings") or {}
        scopes = ", ".join(f"{g} {pct(x)}%" for g, x in (unb.get("groups") or {}).items())
        out.append(
            Para(
                f"Unbounded attack ({st.get('norm', '')} eps={frac(unb.get('eps', st.get('eps')))}, "
                f"{st.get('steps', '?')} steps): recall {pct(unb.get('overall'))}% overall"
                + (f", {scopes}" if scopes else "")
                + " (anything above 0 means the gradients do not lead the attack)."
            )
        )
    return out


def _pp(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:+.1f}"


def _num(v: Any) -> str:
    return "—" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


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
        row.append(Cell(pct(s.worst_class_recall), wc.name if wc else None))
        rows.append(row)
    cap = (
        "Recall in % with its Wilson 95% interval. Worst case: a sample counts as robust only if "
        "it is correct clean and under every attack. "
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


def _scoped(part: dict[str, Any] | None, scope: str) -> float | None:
    if not part:
        return None
    return part.get("overall") if scope == "overall" else (part.get("groups") or {}).get(scope)


def _sweep(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    sweep = (report.diagnostics or {}).get("sweep")
    if not sweep or not sweep.get("rows"):
        return []
    scopes = ["overall", *report.dataset.get("groups", {})]
    out: list[Block] = [
        Heading("κ sweep (logit scaling)", "sweep"),
        Para(
            "The logits are multiplied by 10^-κ before the attack. Robust recall that changes "
            "with κ under PGD-20 but not under a scale-invariant attack points at gradient "
            "masking (RoBal's scale artefact)."
        ),
    ]
    if "sweep" in plots:
        out.append(Figure("sweep", plots["sweep"], "Robust recall against kappa"))
    header = ["κ", "clean", *[f"PGD-20 {s}" for s in scopes], "invariant overall"]
    rows = []
    for r in sorted(sweep["rows"], key=lambda r: r["kappa"]):
        inv = _scoped(r.get("invariant"), "overall")
        rows.append(
            [Cell(f"{r['kappa']:+g}"), Cell(pct(_scoped(r.get("clean"), "overall")))]
            + [Cell(pct(_scoped(r.get("pgd20"), s))) for s in scopes]
            + [
                Cell(
                    pct(inv) if inv is not None else "—",
                    r.get("invariant_attack") if inv is not None else None,
                )
            ]
        )
    out.append(Table(header, rows, "Recall in %."))
    return out


def _zero_grad(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    from ltrobust.report.plots import zero_grad_kinds

    zg = (report.diagnostics or {}).get("zero_grad")
    if not zg:
        return []
    scopes = ["overall", *report.dataset.get("groups", {})]
    out: list[Block] = [Heading("Zero-gradient ratios", "zero-grad")]
    if "zero_grad" in plots:
        out.append(Figure("zero_grad", plots["zero_grad"], "Zero-gradient ratios per group"))
    rows = [
        [Cell(label)] + [Cell(pct(_scoped(zg.get(key), s))) for s in scopes]
        for key, label in zero_grad_kinds(zg)
    ]
    cap = "Share (%) of input-gradient entries that are exactly 0; 'whole sample': samples whose entire gradient is 0."
    out.append(Table(["gradient at", *scopes], rows, cap))
    return out


def _aa_targets(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    """AutoAttack's target classes vs the tail, and what tail-targeted APGD added."""
    diag = report.diagnostics or {}
    stats, tail = diag.get("aa_targets"), diag.get("aa_tail")
    if not stats and not tail:
        return []
    out: list[Block] = [Heading("AutoAttack's targets and the tail", "aa-targets")]
    if stats:
        share = stats.get("tail_target_share") or {}
        never = stats.get("tail_classes_never_targeted") or []
        out.append(
            Para(
                f"APGD-T and FAB-T aim each sample at its top-{stats.get('k')} runner-up classes "
                f"by clean logit. {pct(share.get('overall'))}% of the "
                f"{stats.get('samples')} correctly classified samples have a tail class among "
                f"them (per group: "
                + ", ".join(f"{g} {pct(v)}%" for g, v in (share.get("groups") or {}).items())
                + f"); tail classes never targeted: {len(never)}"
                + (f" ({', '.join(map(str, never))})" if never else "")
                + ("." if stats.get("applies", True) else " (C <= 10: every class is a target).")
            )
        )
    if tail:
        st = tail.get("attack") or {}
        newly = tail.get("newly_broken_share") or {}
        out.append(
            Para(
                f"Targeted APGD towards the {st.get('max_targets')} highest-scoring tail classes "
                f"({st.get('n_iter')} iterations), run on the {tail.get('attacked')} samples every "
                f"other attack left correct, broke {tail.get('newly_broken')} more "
                f"({pct(newly.get('overall'))}% of all; "
                + ", ".join(f"{g} {pct(v)}%" for g, v in (newly.get("groups") or {}).items())
                + "); they count in the worst case."
            )
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
            f"{ds.get('name')} · {ds.get('num_classes')} classes · IR {_num(ds.get('imbalance_ratio'))} · "
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
