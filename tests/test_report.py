"""Report schema: exact JSON round trip, refusal of unknown versions, a golden pinned format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ltrobust.audit.runner import AuditParts, assemble_report
from ltrobust.audit.session import DataInfo, make_outcome
from ltrobust.errors import LtRobustError
from ltrobust.report import SCHEMA_VERSION, AuditReport, per_class_rows, write_per_class_csv
from ltrobust.report.findings import Diagnostics

GOLDEN = Path(__file__).parent / "golden" / "report_v2.json"


def tiny_report() -> AuditReport:
    info = DataInfo("toy", 3, ["x", "y", "z"], {"head": [0], "body": [1], "tail": [2]})
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    clean = make_outcome("clean", {}, y, torch.tensor([0, 0, 1, 1, 2, 0]), info, 0.5, None)
    pgd = make_outcome(
        "pgd20", {"steps": 20}, y, torch.tensor([0, 1, 1, 0, 0, 0]), info, 1.5, clean
    )
    per_sample = {"index": list(range(6)), "y": y.tolist()}
    parts = AuditParts(
        clean, {"pgd20": pgd}, pgd, per_sample, Diagnostics(warnings=[]), None, ["w"]
    )
    dataset = {"name": "toy", "groups": info.groups, "class_counts": [100, 10, 1]}
    return assemble_report(parts, provenance={"seed": 0}, config={"eps": 0.1}, dataset=dataset)


def test_round_trip_is_exact():
    report = tiny_report()
    back = AuditReport.from_json(report.to_json())
    assert back == report
    assert back.to_json() == report.to_json()
    assert back.attacks["pgd20"].boundary_error["overall"] == pytest.approx(5 / 6 - 2 / 6)
    assert back.attacks["pgd20"].summary.groups["tail"].recall == 0.0


def test_unknown_schema_version_is_refused():
    data = json.loads(tiny_report().to_json())
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(LtRobustError, match="unsupported report schema_version"):
        AuditReport.from_dict(data)


def test_golden_report_pins_the_format():
    """If this fails, the JSON format changed: bump SCHEMA_VERSION and regenerate the golden
    file on purpose (python -c 'from tests.test_report import write_golden; write_golden()')."""
    assert json.loads(tiny_report().to_json()) == json.loads(GOLDEN.read_text())
    assert AuditReport.load(str(GOLDEN)) == tiny_report()


def write_golden() -> None:
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(tiny_report().to_json() + "\n")


def test_per_class_csv(tmp_path):
    report = tiny_report()
    rows = per_class_rows(report)
    assert len(rows) == 3 * 3  # clean, pgd20, worst x 3 classes
    path = tmp_path / "per_class.csv"
    write_per_class_csv(report, str(path))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("outcome,class,name,group,train_count")
    assert lines[1].split(",")[:6] == ["clean", "0", "x", "head", "100", "2"]
