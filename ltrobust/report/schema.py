"""The audit report: a versioned, self-describing dataclass that round-trips through JSON.

Numbers are numbers (fractions in [0, 1]), never formatted strings; classes with no samples have
``None``. ``AuditReport.from_json(report.to_json())`` equals ``report``. Reading validates the
data first (:mod:`ltrobust.report.validate`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrobust.errors import LtRobustError
from ltrobust.fileio import atomic_write_text
from ltrobust.metrics.stats import ClassStat, GroupStat, RecallSummary
from ltrobust.report.text import visible
from ltrobust.report.validate import SCHEMA_VERSION, ReportSchemaError, validate_report

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

    name: str
    settings: dict[str, Any]
    summary: RecallSummary
    confusion: list[list[int]]
    boundary_error: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class AuditReport:
    """Everything an audit found; see :mod:`ltrobust.audit` for how it is produced."""

    provenance: dict[str, Any]
    config: dict[str, Any]
    dataset: dict[str, Any]
    clean: Outcome
    attacks: dict[str, Outcome]
    worst_case: Outcome | None
    per_sample: dict[str, Any]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION
    #: the papers' protocols replayed on the same samples (``--protocol``; absent otherwise)
    protocols: dict[str, Any] | None = None

    def outcomes(self) -> list[Outcome]:
        """Clean, every attack in run order, then the worst case."""
        rows = [self.clean, *self.attacks.values()]
        return rows + ([self.worst_case] if self.worst_case is not None else [])

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
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
        """Build a report from its JSON data after :func:`ltrobust.report.validate.validate_report`
        (raises :class:`LtRobustError` on data that does not match the schema)."""
        validate_report(data)
        fields = {k: v for k, v in data.items() if k not in ("clean", "attacks", "worst_case")}
        worst = data.get("worst_case")
        return cls(
            clean=_outcome_from_dict(data["clean"]),
            attacks={k: _outcome_from_dict(v) for k, v in data["attacks"].items()},
            worst_case=_outcome_from_dict(worst) if worst is not None else None,
            **fields,
        )

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


def _outcome_from_dict(d: dict[str, Any]) -> Outcome:
    s = dict(d["summary"])
    s["per_class"] = [ClassStat(**c) for c in s["per_class"]]
    s["groups"] = {k: GroupStat(**g) for k, g in s["groups"].items()}
    return Outcome(**{**d, "summary": RecallSummary(**s)})
