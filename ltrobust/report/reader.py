"""Read a report file for the CLI and the notebook API, with one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

from ltrobust.errors import LtRobustError
from ltrobust.report.schema import AuditReport
from ltrobust.report.text import visible


def read_report(path: str | Path) -> AuditReport:
    """Load ``path``; a missing file, bad JSON, unknown schema_version or data that does not
    match the schema (see :mod:`ltrobust.report.validate`) raises :class:`LtRobustError`, one
    line naming the file."""
    p = Path(path)
    where = visible(p)
    if not p.is_file():
        raise LtRobustError(
            f"report {where} does not exist" if not p.exists() else f"{where} is not a file"
        )
    try:
        return AuditReport.load(str(p))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a gap in the schema
        what = visible(str(exc).split("\n")[0])
        raise LtRobustError(f"{where} does not match the report schema: {what}") from None
