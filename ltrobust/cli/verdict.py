"""Terminal rendering of the diagnostics: the kappa sweep table and the verdict per group."""

from __future__ import annotations

from rich import box
from rich.table import Table

from ltrobust.cli.common import pct, shown, stdout
from ltrobust.report.document_protocols import (
    MARKS,
    gap_text,
    group_text,
    headline_label,
    headline_metric,
)
from ltrobust.report.findings import Scoped, Sweep
from ltrobust.report.schema import AuditReport

STYLE = {
    "reliable": "bold green",
    "suspect": "bold yellow",
    "inflated": "bold red",
    "degenerate": "bold magenta",
}


def zero_cols(sweep: Sweep) -> bool:
    """Whether the sweep recorded PGD-20's zero-gradient ratios (ltrobust 0.2.0 and later)."""
    return any(r.zero_grad for r in sweep.rows)


def print_sweep(report: AuditReport) -> None:
    """PGD-20 (and the invariant attack where run) per kappa, overall and per group."""
    sweep = report.diagnostics.sweep
    if sweep is None:
        return
    groups = list(report.dataset["groups"])
    table = Table(
        title="kappa sweep: logits x 10^-kappa · PGD-20 recall % (APGD-DLR in [ ])"
        + (
            " · 0-grad px: pixels with a zero gradient during PGD-20, %" if zero_cols(sweep) else ""
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("kappa", justify="right")
    for col in ["clean", "overall", *groups]:
        table.add_column(shown(col), justify="right")
    zero = zero_cols(sweep)
    if zero:
        table.add_column("0-grad px", justify="right", style="dim")
    for row in sweep.rows:
        inv = row.invariant

        def cell(scope: str, pgd: Scoped = row.pgd20, inv: Scoped | None = inv) -> str:
            def pick(d: Scoped) -> float | None:
                return d.overall if scope == "overall" else d.groups[scope]

            return pct(pick(pgd)) + (f" [{pct(pick(inv))}]" if inv else "")

        zg = row.zero_grad.pixel.overall if row.zero_grad else None
        table.add_row(
            f"{row.kappa:g}",
            pct(row.clean.overall),
            *[cell(s) for s in ["overall", *groups]],
            *([pct(zg)] if zero else []),
        )
    stdout.print(table)


def print_verdict(report: AuditReport) -> None:
    """One line per scope: verdict, believed accuracy, PGD-20 inflation, then the flags."""
    verdict = report.verdict
    if verdict is None:
        return
    print_sweep(report)
    stdout.print(
        "[bold]verdict[/] (believed = per-sample worst case over every attack, the "
        "adaptive ones and the sweep)"
    )
    scopes = {"overall": verdict.overall, **verdict.groups}
    for scope, v in scopes.items():
        if v is None:
            continue
        infl = v.inflation.get("pgd20")
        extra = f", PGD-20 inflated by {100 * infl:.1f} points" if infl is not None else ""
        stdout.print(
            f"  {shown(scope):<8} [{STYLE.get(v.verdict, 'bold')}]{shown(v.verdict):<9}[/] "
            f"believe {pct(v.believed)}%{extra}",
            highlight=False,
        )
        for flag in v.flags:
            stdout.print(f"           - {shown(flag)}", highlight=False)


def print_escalation(report: AuditReport) -> None:
    """The escalation attacks that ran (Square, EOT), why, and what they broke."""
    esc = report.diagnostics.escalation
    if esc is None:
        return
    for r in esc.ran:
        stdout.print(
            f"escalation: {shown(r.attack)} on {r.attacked} surviving samples broke "
            f"{r.newly_broken} more ({shown(r.why)})",
            highlight=False,
        )


def print_aa_targets(report: AuditReport) -> None:
    """AutoAttack's target classes against the tail, and what tail-targeted APGD added."""
    stats, tail = report.diagnostics.aa_targets, report.diagnostics.aa_tail
    if stats is not None:
        share = stats.tail_target_share
        never = stats.tail_classes_never_targeted
        note = "" if stats.applies else " (every other class is a target: C <= 10)"
        stdout.print(
            f"AutoAttack targets (top-{stats.k} runners-up of the clean logits){note}: "
            f"{pct(share.overall)}% of correctly classified samples have a tail class among "
            f"them; tail share of all targets {pct(stats.pairs_by_group.get('tail'))}%; "
            f"tail classes never targeted: {len(never)}"
            + (
                f" ({', '.join(map(str, never[:12]))}{', ...' if len(never) > 12 else ''})"
                if never
                else ""
            ),
            highlight=False,
        )
    if tail is not None:
        share = tail.newly_broken_share
        per = ", ".join(f"{shown(g)} {pct(v)}%" for g, v in share.groups.items())
        stdout.print(
            f"tail-targeted APGD ({tail.attack['max_targets']} tail targets, "
            f"{tail.attack['n_iter']} iterations) on {tail.attacked} surviving samples: "
            f"broke {tail.newly_broken} more ({pct(share.overall)}% of all; {per})",
            highlight=False,
        )


def print_protocols(report: AuditReport) -> None:
    """One row per replayed protocol: the headline robust number it would publish, overall,
    per group and balanced, and its gap to strict on the same samples (the samples it credits
    wrongly, with their exact 95% interval)."""
    protocols = report.protocols
    if not protocols:
        return
    groups = list(report.dataset["groups"])
    table = Table(
        title="protocols: what each paper's evaluation would publish · robust recall %",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for col in ("protocol", "headline", "overall", *groups, "balanced", "gap to strict"):
        table.add_column(shown(col), justify="left" if col in ("protocol", "headline") else "right")
    for name, sec in protocols.items():
        pub = sec.published
        metric = headline_metric(sec)
        table.add_row(
            shown(name),
            shown(headline_label(sec)) + (f" · n={sec.n}" if sec.positions else ""),
            _bold(pct(pub["overall"]), metric == "overall"),
            *[shown(group_text(sec, g, pub["groups"].get(g))) for g in groups],
            _bold(pct(pub["balanced"]), metric == "balanced"),
            gap_text(sec.gap.overall),
        )
    stdout.print(table)
    stdout.print(f"[dim]{MARKS}[/dim]", highlight=False)


def _bold(text: str, on: bool) -> str:
    return f"[bold]{text}[/bold]" if on else text
