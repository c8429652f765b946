"""Worst class under attack: the lowest recall among the classes the model recognises clean.

Reports are built by the audit's own code (``make_outcome``, ``worst_case_predictions``,
``assemble_report``) from hand-picked predictions, written to disk and read back by the real
validator and the real CLI (a subprocess).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from ltrobust.audit.runner import AuditParts, assemble_report, worst_case_predictions
from ltrobust.audit.session import DataInfo, make_outcome
from ltrobust.report import AuditReport, headline_rows
from ltrobust.report.findings import Diagnostics
from ltrobust.report.render import write_format
from ltrobust.report.tables import NO_WORST_CLASS
from ltrobust.report.validate import ReportSchemaError, validate_report

ROOT = Path(__file__).resolve().parent.parent
INFO = DataInfo("toy", 3, ["x", "y", "z"], {"head": [0], "body": [1], "tail": [2]})
Y = [0, 0, 1, 1, 2, 2]
#: class 1 is never right clean (recall 0), class 0 always, class 2 half the time
ONE_UNRECOGNISED = ([0, 0, 0, 0, 2, 1], [0, 0, 0, 0, 0, 2])
#: no class is ever right clean
NONE_RECOGNISED = ([1, 1, 2, 2, 0, 0], [1, 1, 2, 2, 0, 0])


def build(clean_pred: list[int], adv_pred: list[int]) -> AuditReport:
    """A report with one attack (pgd20) and the worst case, as the audit assembles it."""
    y, clean_t, adv_t = torch.tensor(Y), torch.tensor(clean_pred), torch.tensor(adv_pred)
    clean = make_outcome("clean", {}, y, clean_t, INFO, 0.5, None)
    pgd = make_outcome("pgd20", {"steps": 20}, y, adv_t, INFO, 1.5, clean)
    worst_pred, robust = worst_case_predictions(y, clean_t, {"pgd20": adv_t})
    worst = make_outcome("worst", {"over": ["pgd20"]}, y, worst_pred, INFO, 1.5, clean)
    per_sample = {
        "index": list(range(len(Y))),
        "y": Y,
        "clean_pred": clean_pred,
        "adv_pred": {"pgd20": adv_pred},
        "robust": robust.tolist(),
    }
    parts = AuditParts(clean, {"pgd20": pgd}, worst, per_sample, Diagnostics(warnings=[]), None, [])
    dataset = {"name": "toy", "groups": INFO.groups, "class_counts": [100, 10, 1]}
    return assemble_report(parts, provenance={"seed": 0}, config={"eps": 0.1}, dataset=dataset)


def as_data(report: AuditReport) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(report.to_json())
    return data


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ltrobust", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_a_class_never_right_clean_is_not_the_worst_class_under_attack():
    report = build(*ONE_UNRECOGNISED)
    assert report.clean.summary.worst_class == 1  # clean: the lowest clean recall (0.0)
    pgd = report.attacks["pgd20"].summary
    assert pgd.per_class[1].recall == 0.0  # the lowest under attack, but never right clean
    assert (pgd.worst_class, pgd.worst_class_recall) == (2, 0.5)
    worst = report.worst_case
    assert worst is not None
    assert (worst.summary.worst_class, worst.summary.worst_class_recall) == (2, 0.0)
    back = AuditReport.from_json(report.to_json())  # the validator accepts it
    assert back == report and back.schema_version == 2


def test_no_class_recognised_clean_gives_no_worst_class(tmp_path):
    report = build(*NONE_RECOGNISED)
    assert report.clean.summary.worst_class == 0
    worst = report.worst_case
    assert worst is not None
    for s in (report.attacks["pgd20"].summary, worst.summary):
        assert s.worst_class is None and s.worst_class_recall is None
    rows = {r["outcome"]: r for r in headline_rows(report)}
    assert rows["pgd20"]["worst_class_note"] == NO_WORST_CLASS
    assert rows["clean"]["worst_class_note"] is None
    path = tmp_path / "report.json"
    path.write_text(report.to_json())
    result = cli("report", str(path), "--format", "terminal")
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stdout.splitlines() if "pgd20" in ln or "worst case" in ln]
    assert len(lines) == 2 and all("no class is" in ln for ln in lines), result.stdout
    write_format(report, "md", tmp_path / "report.md")
    assert NO_WORST_CLASS in (tmp_path / "report.md").read_text()


def test_terminal_still_names_the_worst_class(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(build(*ONE_UNRECOGNISED).to_json())
    result = cli("report", str(path), "--format", "terminal")
    assert result.returncode == 0, result.stderr
    pgd = next(ln for ln in result.stdout.splitlines() if "pgd20" in ln)
    assert "50.0 (z)" in pgd and NO_WORST_CLASS not in result.stdout


@pytest.mark.parametrize("outcome", ["attacks.pgd20", "worst_case"])
def test_validator_refuses_the_old_rule_in_a_new_report(outcome):
    data = as_data(build(*ONE_UNRECOGNISED))
    node = data
    for key in outcome.split("."):
        node = node[key]
    node["summary"]["worst_class"] = 1  # the lowest recall, but class 1 is never right clean
    node["summary"]["worst_class_recall"] = 0.0
    with pytest.raises(ReportSchemaError, match="among the classes with clean recall above zero"):
        validate_report(data)


def test_validator_refuses_a_worst_class_where_none_is_recognised():
    data = as_data(build(*NONE_RECOGNISED))
    data["attacks"]["pgd20"]["summary"]["worst_class"] = 0
    data["attacks"]["pgd20"]["summary"]["worst_class_recall"] = 0.0
    with pytest.raises(ReportSchemaError, match="must be null: no class has clean recall above"):
        validate_report(data)


def test_clean_keeps_the_lowest_clean_recall():
    data = as_data(build(*ONE_UNRECOGNISED))
    data["clean"]["summary"]["worst_class"] = 2
    data["clean"]["summary"]["worst_class_recall"] = 0.5
    with pytest.raises(ReportSchemaError, match=r"clean\.summary\.worst_class must be 1"):
        validate_report(data)


def test_version_1_reports_keep_the_old_rule():
    """A report written before the change (schema_version 1) chose among every class: that
    still validates, and its check is not weakened (the new rule's answer is refused)."""
    old = as_data(build(*ONE_UNRECOGNISED))
    old["schema_version"] = 1
    pgd = old["attacks"]["pgd20"]["summary"]
    pgd["worst_class"], pgd["worst_class_recall"] = 1, 0.0
    old["worst_case"]["summary"]["worst_class"] = 1
    validate_report(old)
    pgd["worst_class"], pgd["worst_class_recall"] = 2, 0.5
    with pytest.raises(ReportSchemaError, match=r"pgd20\.summary\.worst_class must be 1"):
        validate_report(old)


@pytest.mark.parametrize(
    "path",
    [
        ROOT / "tests" / "golden" / "report_v1.json",
        *sorted((ROOT / "benchmarks" / "results" / "protocols").glob("*-x*.json")),
    ],
    ids=lambda p: p.name,
)
def test_reports_written_before_still_validate(path):
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1
    validate_report(data, str(path))


def test_gate_checks_the_worst_class_among_recognised_classes(tmp_path):
    one, none = tmp_path / "one.json", tmp_path / "none.json"
    one.write_text(build(*ONE_UNRECOGNISED).to_json())
    none.write_text(build(*NONE_RECOGNISED).to_json())
    passed = cli("gate", str(one), "--min", "pgd20.worst_class=0.4")
    assert passed.returncode == 0, passed.stdout + passed.stderr  # 0.5 (z), not 0.0 (y)
    failed = cli("gate", str(none), "--min", "pgd20.worst_class=0.4")
    assert failed.returncode == 1 and "no class is recognised clean" in failed.stdout
