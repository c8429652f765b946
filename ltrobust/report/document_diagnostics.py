"""The diagnostics sections of a rendered report: the verdict with its warnings and sanity
checks, the kappa sweep, the zero-gradient ratios and AutoAttack's targets against the tail.

Each section takes the report and the drawn plots and returns its blocks (empty when the audit
did not record that diagnostic); :func:`ltrobust.report.document.build_document` puts them in
order.
"""

from __future__ import annotations

from typing import Any

from ltrobust.report.blocks import (
    Block,
    Bullets,
    Cell,
    Details,
    Figure,
    Heading,
    Para,
    Table,
    frac,
    num,
    pct,
)
from ltrobust.report.schema import AuditReport


def verdict_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
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
                Cell(num(c.get("value"))),
                Cell(num(c.get("threshold"))),
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


def _scoped(part: dict[str, Any] | None, scope: str) -> float | None:
    if not part:
        return None
    return part.get("overall") if scope == "overall" else (part.get("groups") or {}).get(scope)


def sweep_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
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
    zero = any(r.get("zero_grad") for r in sweep["rows"])
    header = ["κ", "clean", *[f"PGD-20 {s}" for s in scopes], "invariant overall"]
    header += ["zero grad. pixels", "zero grad. samples"] if zero else []
    rows = []
    for r in sorted(sweep["rows"], key=lambda r: r["kappa"]):
        inv = _scoped(r.get("invariant"), "overall")
        zg = r.get("zero_grad") or {}
        rows.append(
            [Cell(f"{r['kappa']:+g}"), Cell(pct(_scoped(r.get("clean"), "overall")))]
            + [Cell(pct(_scoped(r.get("pgd20"), s))) for s in scopes]
            + [
                Cell(
                    pct(inv) if inv is not None else "—",
                    r.get("invariant_attack") if inv is not None else None,
                )
            ]
            + (
                [Cell(pct(_scoped(zg.get(k), "overall"))) for k in ("pixel", "sample")]
                if zero
                else []
            )
        )
    note = (
        " Zero gradients: share of input-gradient entries (pixels) or of whole gradients (samples) exactly 0 during PGD-20, overall."
        if zero
        else ""
    )
    out.append(Table(header, rows, "Recall in %." + note))
    return out


def zero_grad_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
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


def aa_targets_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
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


def escalation_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    """The attacks the diagnostics escalated to (Square, EOT), why, and what they broke."""
    esc = (report.diagnostics or {}).get("escalation")
    if not esc:
        return []
    newly = esc.get("newly_broken_share") or {}
    rows = [
        [
            Cell(str(r.get("attack"))),
            Cell(str(r.get("why"))),
            Cell(str(r.get("attacked"))),
            Cell(str(r.get("newly_broken"))),
        ]
        for r in esc.get("ran") or []
    ]
    return [
        Heading("Escalation past gradient masking", "escalation"),
        Para(
            f"The diagnostics found what gradient attacks cannot see through, so stronger attacks "
            f"ran on the {esc.get('attacked')} samples every attack had left correct. They broke "
            f"{esc.get('newly_broken')} more ({pct(newly.get('overall'))}% of all; "
            + ", ".join(f"{g} {pct(v)}%" for g, v in (newly.get("groups") or {}).items())
            + "); the worst case and the believed accuracy include them."
        ),
        Table(["attack", "why", "attacked", "newly broken"], rows, "One after the other."),
    ]
