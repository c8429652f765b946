"""Report schema (versioned JSON) and renderers; reading a report needs no model and no GPU."""

from ltrobust.report.schema import SCHEMA_VERSION, AuditReport, Outcome
from ltrobust.report.tables import headline_rows, per_class_rows, write_per_class_csv

__all__ = [
    "SCHEMA_VERSION",
    "AuditReport",
    "Outcome",
    "headline_rows",
    "per_class_rows",
    "write_per_class_csv",
]
