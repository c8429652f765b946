"""The diagnostics sections of a rendered report: the verdict with its warnings and sanity
checks, the kappa sweep, the zero-gradient ratios and AutoAttack's targets against the tail.

Each section takes the report and the drawn plots and returns its blocks (empty when the audit
did not record that diagnostic); :func:`ltrobust.report.document.build_document` puts them in
order.
"""

from __future__ import annotations

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
from ltrobust.report.findings import Check, Scoped
from ltrobust.report.schema import AuditReport
from ltrobust.report.sections import Verdict


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
    warnings = report.diagnostics.warnings
    if warnings:
        out.append(Bullets([f"warning: {w}" for w in warnings], "warn"))
    return out + _checks(report)


def _verdict_table(v: Verdict) -> Table:
    entries = [("overall", v.overall), *v.groups.items()]
    attacks = list(dict.fromkeys(a for _, e in entries if e for a in e.inflation))
    header = ["scope", "verdict", "believed robust recall"]
    header += [f"inflation {a}" for a in attacks] + ["flags"]
    rows = []
    for scope, e in entries:
        if not e:
            continue
        word = str(e.verdict)
        rows.append(
            [Cell(scope), Cell(word, css=f"verdict-{word}"), Cell(pct(e.believed))]
            + [Cell(_pp(e.inflation.get(a))) for a in attacks]
            + [Cell("; ".join(e.flags) or "—", css="text")]
        )
    thr = v.thresholds
    cap = "Inflation: the attack's robust recall minus the believed one, in points."
    if thr:
        cap += " Thresholds: " + ", ".join(f"{k}={frac(x)}" for k, x in thr.items()) + "."
    return Table(header, rows, cap)


def _check_rows(checks: list[Check]) -> list[list[Cell]]:
    rows = []
    for c in checks:
        trig = c.triggered
        rows.append(
            [
                Cell(c.name),
                Cell(c.group),
                Cell("triggered" if trig else "ok", css="bad" if trig else "good"),
                Cell(num(c.value)),
                Cell(num(c.threshold)),
                Cell(c.message, css="text"),
            ]
        )
    return rows


def _checks(report: AuditReport) -> list[Block]:
    """Triggered sanity checks in a table, the passed ones folded away; the unbounded attack."""
    diag = report.diagnostics
    checks = diag.checks or []
    header = ["check", "scope", "result", "value", "threshold", "message"]
    out: list[Block] = []
    if checks:
        out.append(Heading("Sanity checks", "checks", 3))
        bad = [c for c in checks if c.triggered]
        good = [c for c in checks if not c.triggered]
        if bad:
            out.append(Table(header, _check_rows(bad)))
        else:
            out.append(Para(f"All {len(checks)} sanity checks passed."))
        if good and bad:
            passed = f"{len(good)} check{'s' if len(good) != 1 else ''} passed"
            out.append(Details(passed, [Table(header, _check_rows(good))]))
        elif good:
            out.append(Details("show them", [Table(header, _check_rows(good))]))
    unb = diag.unbounded
    if unb is not None:
        st = unb.settings or {}
        scopes = ", ".join(f"{g} {pct(x)}%" for g, x in unb.groups.items())
        eps = unb.eps if unb.eps is not None else st.get("eps")
        out.append(
            Para(
                f"Unbounded attack ({st.get('norm', '')} eps={frac(eps)}, "
                f"{st.get('steps', '?')} steps): recall {pct(unb.overall)}% overall"
                + (f", {scopes}" if scopes else "")
                + " (anything above 0 means the gradients do not lead the attack)."
            )
        )
    return out


def _pp(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:+.1f}"


def _scoped(part: Scoped | None, scope: str) -> float | None:
    if part is None:
        return None
    return part.overall if scope == "overall" else part.groups.get(scope)


def sweep_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    sweep = report.diagnostics.sweep
    if sweep is None or not sweep.rows:
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
    zero = any(r.zero_grad for r in sweep.rows)
    header = ["κ", "clean", *[f"PGD-20 {s}" for s in scopes], "invariant overall"]
    header += ["zero grad. pixels", "zero grad. samples"] if zero else []
    rows = []
    for r in sorted(sweep.rows, key=lambda r: r.kappa):
        inv = _scoped(r.invariant, "overall")
        zg = r.zero_grad
        rows.append(
            [Cell(f"{r.kappa:+g}"), Cell(pct(_scoped(r.clean, "overall")))]
            + [Cell(pct(_scoped(r.pgd20, s))) for s in scopes]
            + [
                Cell(
                    pct(inv) if inv is not None else "—",
                    r.invariant_attack if inv is not None else None,
                )
            ]
            + (
                [
                    Cell(pct(_scoped(p, "overall")))
                    for p in ((zg.pixel, zg.sample) if zg else (None, None))
                ]
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

    zg = report.diagnostics.zero_grad
    if zg is None:
        return []
    scopes = ["overall", *report.dataset.get("groups", {})]
    out: list[Block] = [Heading("Zero-gradient ratios", "zero-grad")]
    if "zero_grad" in plots:
        out.append(Figure("zero_grad", plots["zero_grad"], "Zero-gradient ratios per group"))
    rows = [
        [Cell(label)] + [Cell(pct(_scoped(getattr(zg, key), s))) for s in scopes]
        for key, label in zero_grad_kinds(zg)
    ]
    cap = "Share (%) of input-gradient entries that are exactly 0; 'whole sample': samples whose entire gradient is 0."
    out.append(Table(["gradient at", *scopes], rows, cap))
    return out


def aa_targets_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    """AutoAttack's target classes vs the tail, and what tail-targeted APGD added."""
    stats, tail = report.diagnostics.aa_targets, report.diagnostics.aa_tail
    if stats is None and tail is None:
        return []
    out: list[Block] = [Heading("AutoAttack's targets and the tail", "aa-targets")]
    if stats is not None:
        share = stats.tail_target_share
        never = stats.tail_classes_never_targeted
        out.append(
            Para(
                f"APGD-T and FAB-T aim each sample at its top-{stats.k} runner-up classes "
                f"by clean logit. {pct(share.overall)}% of the "
                f"{stats.samples} correctly classified samples have a tail class among "
                f"them (per group: "
                + ", ".join(f"{g} {pct(v)}%" for g, v in share.groups.items())
                + f"); tail classes never targeted: {len(never)}"
                + (f" ({', '.join(map(str, never))})" if never else "")
                + ("." if stats.applies else " (C <= 10: every class is a target).")
            )
        )
    if tail is not None:
        st = tail.attack
        newly = tail.newly_broken_share
        out.append(
            Para(
                f"Targeted APGD towards the {st.get('max_targets')} highest-scoring tail classes "
                f"({st.get('n_iter')} iterations), run on the {tail.attacked} samples every "
                f"other attack left correct, broke {tail.newly_broken} more "
                f"({pct(newly.overall)}% of all; "
                + ", ".join(f"{g} {pct(v)}%" for g, v in newly.groups.items())
                + "); they count in the worst case."
            )
        )
    return out


def escalation_section(report: AuditReport, plots: dict[str, bytes]) -> list[Block]:
    """The attacks the diagnostics escalated to (Square, EOT), why, and what they broke."""
    esc = report.diagnostics.escalation
    if esc is None:
        return []
    newly = esc.newly_broken_share
    rows = [
        [Cell(r.attack), Cell(r.why), Cell(str(r.attacked)), Cell(str(r.newly_broken))]
        for r in esc.ran
    ]
    return [
        Heading("Escalation past gradient masking", "escalation"),
        Para(
            f"The diagnostics found what gradient attacks cannot see through, so stronger attacks "
            f"ran on the {esc.attacked} samples every attack had left correct. They broke "
            f"{esc.newly_broken} more ({pct(newly.overall)}% of all; "
            + ", ".join(f"{g} {pct(v)}%" for g, v in newly.groups.items())
            + "); the worst case and the believed accuracy include them."
        ),
        Table(["attack", "why", "attacked", "newly broken"], rows, "One after the other."),
    ]
