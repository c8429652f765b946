"""A report's folder, as ``ltrobust audit --out`` and ``AuditReport.save(folder)`` write it."""

from __future__ import annotations

from pathlib import Path

from ltrobust.fileio import check_output_dir
from ltrobust.report.render import write_report_files
from ltrobust.report.schema import FOLDER_WRITER, AuditReport
from ltrobust.report.tables import write_per_class_csv


def write_report_folder(report: AuditReport, directory: Path) -> list[Path]:
    """``report.json``, ``per_class.csv``, ``report.html`` and ``report.md`` (with its plots)
    in ``directory``, created if needed; returns the files written."""
    folder = check_output_dir(directory, "report folder")
    folder.mkdir(parents=True, exist_ok=True)
    report.save(folder / "report.json")
    write_per_class_csv(report, str(folder / "per_class.csv"))
    return [folder / "report.json", folder / "per_class.csv", *write_report_files(report, folder)]


FOLDER_WRITER[:] = [write_report_folder]
