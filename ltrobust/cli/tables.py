"""The terminal tables of a report and of a gate, printed by several commands (audit, report,
gate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from ltrobust.cli.common import pct, shown, stdout, warn

if TYPE_CHECKING:
    from ltrobust.report.gate import GateResult


def timing_line(report: Any) -> str | None:
    """``total 123.4 s: clean 1.0, attacks 80.1, ...``: wall seconds of the audit's passes and
    per part (``provenance.execution.timing``), or None for a report without them."""
    timing = (report.provenance.get("execution") or {}).get("timing")
    if not isinstance(timing, dict) or not isinstance(timing.get("total"), (int, float)):
        return None
    parts = ", ".join(
        f"{k} {v:.1f}" for k, v in timing.items() if k != "total" and isinstance(v, (int, float))
    )
    return f"total {timing['total']:.1f} s: {parts}"


def _train_range(counts: list[int] | None, classes: list[int]) -> str:
    if not counts:
        return ""
    return f" ({max(counts[i] for i in classes)}–{min(counts[i] for i in classes)} train)"


def print_report_table(report: Any) -> None:
    """Rows clean / attacks / worst case; columns overall, each group, worst class, time; then
    the total line (:func:`timing_line`) when the report has it."""
    from ltrobust.report import headline_rows

    ds, cfg = report.dataset, report.config
    groups = list(ds.get("groups", {}))
    eps = cfg.get("eps")
    budget = f"{cfg.get('norm', '?')} eps={eps:.4g}" if isinstance(eps, (int, float)) else "eps ?"
    title = f"{shown(ds.get('name', '?'))} · n={report.clean.summary.n} · {budget} · recall %"
    caption = " · ".join(
        f"{shown(g)}: classes {','.join(map(str, c))}{_train_range(ds.get('class_counts'), c)}"
        for g, c in ds.get("groups", {}).items()
        if c
    )
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("", style="bold")
    for col in ["overall", *groups, "worst class"]:
        table.add_column(shown(col), justify="right")
    table.add_column("time", justify="right", style="dim")
    for row in headline_rows(report):
        worst = pct(row["worst_class"])
        cls_name = row["worst_class_name"]
        name_or_note = cls_name if cls_name is not None else row.get("worst_class_note")
        if name_or_note is not None:
            worst = f"{worst} ({shown(name_or_note)})"
        style = "bold" if row["outcome"] == "worst" else None
        name = "worst case" if row["outcome"] == "worst" else row["outcome"]
        table.add_row(
            name,
            pct(row["overall"]),
            *[pct(row[g]) for g in groups],
            worst,
            f"{row['seconds']:.1f}s",
            style=style,
        )
    stdout.print(table)
    total = timing_line(report)
    if total is not None:
        stdout.print(total, highlight=False, soft_wrap=True)


def print_gate(result: GateResult, title: str = "gate") -> None:
    """Rich table of every check, then a one-line summary."""
    table = Table(title=f"{title} (alpha={result.alpha:g})", title_justify="left")
    for col in ("check", "value", "baseline", "Δ pp", "p", "test", "result"):
        table.add_column(col, justify="left" if col in ("check", "test", "result") else "right")
    for c in result.checks:
        table.add_row(
            shown(c.threshold.label),
            _pct(c.value),
            _pct(c.baseline),
            "—" if c.delta_pp is None else f"{c.delta_pp:+.2f}",
            "—" if c.p_value is None else f"{c.p_value:.3g}",
            c.method,
            "[green]pass[/]" if c.passed else "[bold red]FAIL[/]",
        )
    stdout.print(table)
    for c in result.checks:
        if not c.passed:
            text = f"{shown(c.threshold.label)}: {shown(c.detail)}"
            stdout.print(f"[red]FAIL[/] {text}", highlight=False)
    for note in result.notes:
        warn(f"{note}: statistics use Wilson intervals, not paired McNemar tests")
    n_fail = len(result.failures)
    stdout.print(
        f"[bold green]gate passed[/] ({len(result.checks)} checks)"
        if not n_fail
        else f"[bold red]gate failed[/]: {n_fail} of {len(result.checks)} checks",
        highlight=False,
    )


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}"
