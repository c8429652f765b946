"""Terminal rendering of the diagnostics: the kappa sweep table and the verdict per group."""

from __future__ import annotations

from typing import Any

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

STYLE = {
    "reliable": "bold green",
    "suspect": "bold yellow",
    "inflated": "bold red",
    "degenerate": "bold magenta",
}


def zero_cols(sweep: dict[str, Any]) -> bool:
    """Whether the sweep recorded PGD-20's zero-gradient ratios (ltrobust 0.2.0 and later)."""
    return any(r.get("zero_grad") for r in sweep["rows"])


def print_sweep(report: Any) -> None:
    """PGD-20 (and the invariant attack where run) per kappa, overall and per group."""
    sweep = report.diagnostics.get("sweep")
    if not sweep:
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
    for row in sweep["rows"]:
        inv = row["invariant"]

        def cell(scope: str, row: dict[str, Any] = row, inv: Any = inv) -> str:
            def pick(d: dict[str, Any]) -> float | None:
                return d["overall"] if scope == "overall" else d["groups"][scope]

            text = pct(pick(row["pgd20"]))
            return text + (f" [{pct(pick(inv))}]" if inv else "")

        zg = (row.get("zero_grad") or {}).get("pixel") or {}
        table.add_row(
            f"{row['kappa']:g}",
            pct(row["clean"]["overall"]),
            *[cell(s) for s in ["overall", *groups]],
            *([pct(zg.get("overall"))] if zero else []),
        )
    stdout.print(table)


def print_verdict(report: Any) -> None:
    """One line per scope: verdict, believed accuracy, PGD-20 inflation, then the flags."""
    verdict = report.verdict
    if not verdict:
        return
    print_sweep(report)
    stdout.print(
        "[bold]verdict[/] (believed = per-sample worst case over every attack, the "
        "adaptive ones and the sweep)"
    )
    scopes = {"overall": verdict["overall"], **verdict["groups"]}
    for scope, v in scopes.items():
        infl = v["inflation"].get("pgd20")
        extra = f", PGD-20 inflated by {100 * infl:.1f} points" if infl is not None else ""
        stdout.print(
            f"  {shown(scope):<8} [{STYLE.get(v['verdict'], 'bold')}]{shown(v['verdict']):<9}[/] "
            f"believe {pct(v['believed'])}%{extra}",
            highlight=False,
        )
        for flag in v["flags"]:
            stdout.print(f"           - {shown(flag)}", highlight=False)


def print_escalation(report: Any) -> None:
    """The escalation attacks that ran (Square, EOT), why, and what they broke."""
    esc = report.diagnostics.get("escalation")
    if not esc:
        return
    for r in esc.get("ran") or []:
        stdout.print(
            f"escalation: {shown(r['attack'])} on {r['attacked']} surviving samples broke "
            f"{r['newly_broken']} more ({shown(r['why'])})",
            highlight=False,
        )


def print_aa_targets(report: Any) -> None:
    """AutoAttack's target classes against the tail, and what tail-targeted APGD added."""
    diag = report.diagnostics
    stats, tail = diag.get("aa_targets"), diag.get("aa_tail")
    if stats:
        share = stats["tail_target_share"]
        never = stats["tail_classes_never_targeted"]
        note = "" if stats["applies"] else " (every other class is a target: C <= 10)"
        stdout.print(
            f"AutoAttack targets (top-{stats['k']} runners-up of the clean logits){note}: "
            f"{pct(share['overall'])}% of correctly classified samples have a tail class among "
            f"them; tail share of all targets {pct(stats['pairs_by_group'].get('tail'))}%; "
            f"tail classes never targeted: {len(never)}"
            + (
                f" ({', '.join(map(str, never[:12]))}{', ...' if len(never) > 12 else ''})"
                if never
                else ""
            ),
            highlight=False,
        )
    if tail:
        groups = tail["newly_broken_share"]["groups"]
        per = ", ".join(f"{shown(g)} {pct(v)}%" for g, v in groups.items())
        stdout.print(
            f"tail-targeted APGD ({tail['attack']['max_targets']} tail targets, "
            f"{tail['attack']['n_iter']} iterations) on {tail['attacked']} surviving samples: "
            f"broke {tail['newly_broken']} more ({pct(tail['newly_broken_share']['overall'])}% of "
            f"all; {per})",
            highlight=False,
        )


def print_protocols(report: Any) -> None:
    """One row per replayed protocol: the headline robust number it would publish, overall,
    per group and balanced, and its gap to strict on the same samples (the samples it credits
    wrongly, with their exact 95% interval)."""
    protocols = getattr(report, "protocols", None)
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
        pub = sec["published"]
        metric = headline_metric(sec)
        table.add_row(
            shown(name),
            shown(headline_label(sec)) + (f" · n={sec['n']}" if sec.get("positions") else ""),
            _bold(pct(pub.get("overall")), metric == "overall"),
            *[shown(group_text(sec, g, (pub.get("groups") or {}).get(g))) for g in groups],
            _bold(pct(pub.get("balanced")), metric == "balanced"),
            gap_text(sec["gap"]["overall"]),
        )
    stdout.print(table)
    stdout.print(f"[dim]{MARKS}[/dim]", highlight=False)


def _bold(text: str, on: bool) -> str:
    return f"[bold]{text}[/bold]" if on else text
