"""Writing a report in every format: html, md, csv, parquet; and the files ``audit --out``
writes beside ``report.json``."""

from __future__ import annotations

import enum
import importlib.util
from pathlib import Path

from ltrobust.errors import ConfigError
from ltrobust.fileio import atomic_path
from ltrobust.report.schema import AuditReport


class ReportFormat(str, enum.Enum):
    html = "html"
    md = "md"
    csv = "csv"
    parquet = "parquet"
    terminal = "terminal"


SUFFIX = {"html": ".html", "md": ".md", "csv": ".csv", "parquet": ".parquet"}


def default_output(report_path: str | Path, fmt: str) -> Path:
    """``runs/x/report.json`` -> ``runs/x/report.html`` (beside the JSON)."""
    return Path(report_path).with_suffix(SUFFIX[fmt])


def write_format(report: AuditReport, fmt: str, path: str | Path) -> list[Path]:
    """Write ``report`` as ``fmt`` to ``path`` atomically; returns the files written.

    Markdown also writes its plots to ``<stem>_plots/``. Parquet needs pyarrow: without it a
    :class:`ConfigError` says so and nothing is written.
    """
    if fmt == "html":
        from ltrobust.report.render_html import write_html

        return [write_html(report, path)]
    if fmt == "md":
        from ltrobust.report.render_md import write_markdown

        return write_markdown(report, path)
    if fmt == "csv":
        from ltrobust.report.frame import report_frame

        with atomic_path(path) as tmp:
            report_frame(report).to_csv(tmp, index=False)
        return [Path(path)]
    if fmt == "parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise ConfigError(
                "--format parquet needs pyarrow: pip install pyarrow (or use --format csv)"
            )
        from ltrobust.report.frame import report_frame

        with atomic_path(path) as tmp:
            report_frame(report).to_parquet(tmp, index=False, engine="pyarrow")
        return [Path(path)]
    raise ConfigError(f"unknown report format {fmt!r}; use html, md, csv or parquet")


def write_report_files(report: AuditReport, directory: str | Path) -> list[Path]:
    """``report.md`` (+ ``report_plots/``) and ``report.html`` in ``directory``; the plots are
    drawn once and shared. Each file is written atomically."""
    from ltrobust.report.plots import all_plots
    from ltrobust.report.render_html import write_html
    from ltrobust.report.render_md import write_markdown

    d = Path(directory)
    plots = all_plots(report)
    return [
        *write_markdown(report, d / "report.md", plots),
        write_html(report, d / "report.html", plots),
    ]
