"""Read a report file for the CLI and the notebook API, with one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

from ltrobust.errors import LtRobustError
from ltrobust.report.schema import AuditReport


def read_report(path: str | Path) -> AuditReport:
    """Load ``path``; a missing file, bad JSON, unknown schema_version or a JSON object that
    does not have the report's fields raises :class:`LtRobustError` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise LtRobustError(
            f"report {p} does not exist" if not p.exists() else f"{p} is not a file"
        )
    try:
        return AuditReport.load(str(p))
    except LtRobustError as exc:
        raise LtRobustError(f"{p}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc).split("\n")[0]
        raise LtRobustError(f"{p} does not match the report schema: {what}") from None
