"""Report schema (versioned JSON) and renderers; reading a report needs no model and no GPU.

``load(path)`` returns a :class:`LoadedReport` whose ``to_frame()`` is a tidy pandas table;
``report``-rendering, comparing and gating live in the submodules (render, compare, gate) and
never import torch. Every reader validates the JSON first (:func:`validate_report`); a report
that does not match the schema raises :class:`ReportSchemaError`, one line naming the field.
"""

from ltrobust.report.folder import write_report_folder
from ltrobust.report.frame import FRAME_COLUMNS, LoadedReport, load, report_frame
from ltrobust.report.reader import read_report
from ltrobust.report.render import ReportFormat, write_format, write_report_files
from ltrobust.report.schema import SCHEMA_VERSION, AuditReport, Outcome
from ltrobust.report.tables import headline_rows, per_class_rows, write_per_class_csv
from ltrobust.report.validate import ReportSchemaError, validate_report

__all__ = [
    "FRAME_COLUMNS",
    "SCHEMA_VERSION",
    "AuditReport",
    "LoadedReport",
    "Outcome",
    "ReportFormat",
    "ReportSchemaError",
    "headline_rows",
    "load",
    "per_class_rows",
    "read_report",
    "report",
    "report_frame",
    "validate_report",
    "write_format",
    "write_per_class_csv",
    "write_report_folder",
    "write_report_files",
]


def report(path: str, fmt: str = "html", out: str | None = None) -> list:
    """Render the report at ``path`` as ``fmt`` (html, md, csv, parquet) to ``out`` (default:
    beside the JSON); returns the files written."""
    from ltrobust.report.render import default_output

    return write_format(read_report(path), fmt, out or default_output(path, fmt))
