"""``ltrobust report REPORT.json --format html|md|csv|parquet|terminal``: render a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltrobust.cli.common import guarded, shown, stdout, warn
from ltrobust.report.render import ReportFormat


def report_command(
    report: Annotated[Path, typer.Argument(help="A report.json written by `ltrobust audit`.")],
    fmt: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            help="html: one self-contained file; md: Markdown + PNG plots in <name>_plots/; "
            "csv/parquet: the tidy per-class and per-group table; terminal: the rich table.",
        ),
    ] = ReportFormat.html,
    out: Annotated[
        Path | None,
        typer.Option(help="Output file (default: beside the JSON, e.g. report.html)."),
    ] = None,
) -> None:
    """Render a JSON report as HTML, Markdown, CSV, Parquet or a terminal table (no model, no GPU)."""

    def run() -> None:
        from ltrobust.fileio import check_output_file, write_all
        from ltrobust.report import read_report
        from ltrobust.report.render import default_output, write_format

        target = None
        if fmt is not ReportFormat.terminal:
            target = check_output_file(
                out if out is not None else default_output(report, fmt.value)
            )
        r = read_report(report)
        if fmt is ReportFormat.terminal:
            from ltrobust.cli.tables import print_report_table

            for w in r.diagnostics.warnings:
                warn(w)
            print_report_table(r)
            verdict = r.verdict.overall if r.verdict is not None else None
            if verdict is not None:
                stdout.print(f"verdict: [bold]{shown(verdict.verdict)}[/]", highlight=False)
            return
        assert target is not None
        files: list[Path] = []
        write_all([(target, lambda: files.extend(write_format(r, fmt.value, target)))])
        stdout.print("wrote " + "  ".join(shown(f) for f in files), highlight=False, soft_wrap=True)

    guarded(run)
