"""The audit report: a versioned, self-describing dataclass that round-trips through JSON.

Numbers are numbers (fractions in [0, 1]), never formatted strings; classes with no samples have
``None``. ``AuditReport.from_json(report.to_json())`` equals ``report``. Reading validates the
data first (:mod:`ltrobust.report.validate`). The dataclasses here, in
:mod:`ltrobust.report.findings` and :mod:`ltrobust.report.sections` are the schema: the audit
constructs them, the validation reads JSON into them, and ``ltrobust schema`` prints their JSON
Schema (the file ``report.schema.json`` of this package).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrobust.errors import LtRobustError
from ltrobust.fileio import atomic_write_text
from ltrobust.metrics.fields import Count, Difference, Seconds, Settings, Text
from ltrobust.metrics.stats import STRICT_RECORD, RecallSummary
from ltrobust.report.findings import Diagnostics, to_data
from ltrobust.report.sections import (
    Config,
    Dataset,
    PerSample,
    ProtocolSection,
    Provenance,
    Verdict,
)
from ltrobust.report.text import visible
from ltrobust.report.validate import (
    REPORT_TYPE,
    SCHEMA_VERSION,
    ReportSchemaError,
    parse_report,
    validate_report,
)

#: writes a report's folder; :mod:`ltrobust.report.folder` (loaded with this package) puts it
#: here, since the renderers it calls import this module
FOLDER_WRITER: list[Callable[[AuditReport, Path], list[Path]]] = []


@dataclass
class Outcome:
    """Result of clean evaluation, one attack, or the per-sample worst case.

    Attributes:
        name: ``clean``, an attack name, or ``worst``.
        settings: the attack's settings (its ``repr`` as data); empty for clean.
        summary: accuracy, per-class, group, balanced and worst-class recall, landing.
        confusion: C x C counts of (true class, predicted class) on the attacked inputs.
        boundary_error: clean minus this outcome's recall, ``overall`` and per group.
        seconds: wall time spent.
    """

    __pydantic_config__ = STRICT_RECORD

    name: Text
    settings: Settings
    summary: RecallSummary
    confusion: list[list[Count]]
    boundary_error: dict[str, Difference]
    seconds: Seconds


@dataclass
class AuditReport:
    """Everything an audit found; see :mod:`ltrobust.audit` for how it is produced."""

    __pydantic_config__ = STRICT_RECORD

    provenance: Provenance
    config: Config
    dataset: Dataset
    clean: Outcome
    attacks: dict[str, Outcome]
    worst_case: Outcome | None
    per_sample: PerSample
    diagnostics: Diagnostics = field(default_factory=lambda: Diagnostics(warnings=[]))
    verdict: Verdict | None = None
    schema_version: int = SCHEMA_VERSION
    #: the papers' protocols replayed on the same samples (``--protocol``; absent otherwise)
    protocols: dict[str, ProtocolSection] | None = None

    def outcomes(self) -> list[Outcome]:
        """Clean, every attack in run order, then the worst case."""
        rows = [self.clean, *self.attacks.values()]
        return rows + ([self.worst_case] if self.worst_case is not None else [])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_data(self)
        if out["protocols"] is None:  # an audit without --protocol writes the format it always did
            del out["protocols"]
        return out

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON report atomically, after validating it (an invalid report is never
        written: :class:`~ltrobust.report.validate.ReportSchemaError` names the field).

        A ``path`` that is a folder, or does not end in ``.json``, receives the files of
        ``ltrobust audit --out``: ``report.json``, ``per_class.csv``, ``report.html`` and
        ``report.md`` (:func:`ltrobust.report.folder.write_report_folder`)."""
        target = Path(path)
        if target.is_dir() or target.suffix.lower() != ".json":
            assert FOLDER_WRITER, "ltrobust.report installs the folder writer on import"
            FOLDER_WRITER[0](self, target)
            return
        text = self.to_json()
        validate_report(json.loads(text))
        atomic_write_text(path, text + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditReport:
        """Build a report from its JSON data, validated by
        :func:`ltrobust.report.validate.parse_report` (raises :class:`LtRobustError` on data
        that does not match the schema; ``data`` is never changed)."""
        report = parse_report(data)
        assert isinstance(report, cls)
        return report

    @classmethod
    def from_json(cls, text: str) -> AuditReport:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LtRobustError(
                f"report is not valid JSON: {exc.msg} at line {exc.lineno}"
            ) from None
        except RecursionError:
            raise LtRobustError("report is not valid JSON: nested too deeply") from None
        except ValueError as exc:  # an integer of more digits than Python converts
            raise LtRobustError(f"report is not valid JSON: {visible(exc)}") from None
        if not isinstance(data, dict):
            raise LtRobustError("report is not a JSON object")
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str) -> AuditReport:
        """Read and validate a report.json; every error is one line that names ``path``."""
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise LtRobustError(f"cannot read report {visible(path)}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise LtRobustError(f"{visible(path)}: report is not UTF-8 text") from None
        try:
            return cls.from_json(text)
        except ReportSchemaError as exc:
            raise exc.with_source(path) from None
        except LtRobustError as exc:
            raise LtRobustError(f"{visible(path)}: {exc}") from None


REPORT_TYPE.append(AuditReport)
