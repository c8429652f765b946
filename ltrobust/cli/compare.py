"""``ltrobust compare A.json B.json ...``: side-by-side recall with deltas vs the first report,
as a rich table, JSON (``--json``) or a Markdown table (``--markdown``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ltrobust.cli.common import fail, guarded, pct, shown, stdout, warn

if TYPE_CHECKING:
    from ltrobust.report.compare import Comparison


def _delta(d: float | None) -> str:
    if d is None:
        return ""
    pp = 100 * d
    color = "red" if pp < -0.05 else "green" if pp > 0.05 else "dim"
    return f" [{color}]({pp:+.1f})[/]"


def _table(cmp: Comparison) -> Table:
    """The rich table: recall in %, deltas vs the first report in points."""
    labels = cmp.labels
    table = Table(
        title="recall % (delta vs " + shown(labels[0]) + " in points)", title_justify="left"
    )
    table.add_column("", style="bold", no_wrap=True)
    for lab in labels:
        for j, s in enumerate(cmp.scopes):
            table.add_column(f"{shown(lab)}\n{s}" if j == 0 else f"\n{s}", justify="right")
    for row in cmp.rows:
        cells = []
        for r, (vals, deltas) in enumerate(zip(row.values, row.deltas, strict=True)):
            for v, d in zip(vals, deltas, strict=True):
                cells.append(pct(v) + (_delta(d) if r > 0 else ""))
        name = "worst case" if row.outcome == "worst" else row.outcome
        table.add_row(name, *cells, end_section=row.outcome == "clean")
    return table


def compare_command(
    reports: Annotated[
        list[Path],
        typer.Argument(
            help="Two or more report.json files; deltas are vs the first.", metavar="REPORT.JSON"
        ),
    ],
    strict: Annotated[
        bool,
        typer.Option(
            help="Exit 2 when settings make the numbers incomparable (instead of a warning).",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON instead of the table: recall and delta as fractions by report and "
            "scope, the files, the attacks left out and the incomparable settings.",
        ),
    ] = False,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the table as a Markdown table (for a review)."),
    ] = False,
) -> None:
    """Compare reports side by side: clean, common attacks and worst case, overall and per group."""

    def run() -> None:
        from ltrobust.report import read_report
        from ltrobust.report.compare import compare_reports, labels_for, stale_cw_warnings

        if len(reports) < 2:
            fail("compare needs at least two reports")
        if as_json and markdown:
            fail("--json and --markdown exclude each other: choose one")
        loaded = [read_report(p) for p in reports]
        labels = labels_for([str(p) for p in reports])
        cmp = compare_reports(loaded, labels)
        dropped = sorted({a for r in loaded for a in r.attacks} - {row.outcome for row in cmp.rows})
        if as_json:
            data = {**cmp.to_dict(), "files": [str(p) for p in reports], "left_out": dropped}
            print(json.dumps(data, indent=2, allow_nan=False))
        elif markdown:
            print(cmp.to_markdown(), end="")
        else:
            stdout.print(_table(cmp))
            for i, (lab, path) in enumerate(zip(labels, reports, strict=True)):
                text = f"{shown(lab)}: {shown(path)}" + ("" if i else " (reference)")
                stdout.print(f"[dim]{text}[/]")
        if dropped:
            warn(f"not in every report, left out: {', '.join(dropped)}")
        for lab, problem in cmp.problems:
            warn(f"{lab} vs {labels[0]}: {problem.message}")
        for line in stale_cw_warnings(loaded, labels):
            warn(line)
        if cmp.problems and strict:
            fail(
                f"reports are not comparable ({len(cmp.problems)} setting(s) differ); see the "
                "warnings above"
            )

    guarded(run)
