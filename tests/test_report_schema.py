"""The report's schema is declared once, by the dataclasses the audit returns: the JSON Schema
shipped in the package is the one they generate, every golden and freshly written report
satisfies it under an independent validator (jsonschema), and a key the schema does not
declare is refused by both validators with one line naming it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
from typer.testing import CliRunner

import ltrobust
from ltrobust.cli.main import app
from ltrobust.report import AuditReport
from ltrobust.report.json_schema import SCHEMA_FILE, report_json_schema, schema_text
from ltrobust.report.validate import ReportSchemaError, validate_report

from .conftest import TRAIN_COUNTS

ROOT = Path(__file__).parent.parent
#: every report kept in the repository: the golden ones and the benchmarks' evidence
REPORTS = sorted((ROOT / "tests" / "golden").glob("*.json")) + sorted(
    p
    for p in (ROOT / "benchmarks" / "results").rglob("*.json")
    if '"schema_version"' in p.read_text()
)
runner = CliRunner()


def shipped() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_the_generated_one():
    """If this fails, the report's dataclasses changed: regenerate the file with
    ``ltrobust schema --out ltrobust/report/report.schema.json`` (and bump SCHEMA_VERSION if
    the format changed for old readers)."""
    assert SCHEMA_FILE.read_text() == schema_text()
    assert json.loads(SCHEMA_FILE.read_text()) == report_json_schema()


def test_the_schema_command_prints_and_writes_it(tmp_path):
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0 and res.stdout == schema_text()
    out = tmp_path / "sub" / "report.schema.json"
    assert runner.invoke(app, ["schema", "--out", str(out)]).exit_code == 0
    assert out.read_text() == schema_text()
    res = runner.invoke(app, ["schema", "--out", str(tmp_path)])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "is a folder" in res.stderr


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.name)
def test_every_kept_report_matches_the_schema_and_reads_back_byte_for_byte(path):
    assert len(REPORTS) >= 3
    text = path.read_text()
    shipped().validate(json.loads(text))
    assert AuditReport.load(str(path)).to_json() + "\n" == text


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, trained_cnn, balanced_test) -> tuple[AuditReport, Path]:
    """A small real audit with its diagnostics (sweep, zero gradients, checks, verdict) and
    AutoAttack's targets, written to report.json."""
    d = tmp_path_factory.mktemp("schema")
    x, y = balanced_test
    torch.save({"x": x, "y": y}, d / "test.pt")
    report = ltrobust.audit(
        trained_cnn,
        dataset=f"tensors:{d / 'test.pt'}",
        attacks=["fgsm", "pgd20"],
        class_counts=TRAIN_COUNTS,
        eps=0.1,
        step=0.02,
        kappas=(-1.0, 0.0, 1.0),
    )
    report.save(d / "report.json")
    return report, d / "report.json"


def test_a_freshly_written_report_matches_the_schema(fresh):
    report, path = fresh
    data = json.loads(path.read_text())
    shipped().validate(data)
    assert {"sweep", "zero_grad", "checks"} <= set(data["diagnostics"])
    back = AuditReport.load(str(path))
    assert back == report and back.to_json() + "\n" == path.read_text()


def _unknown(data: dict[str, Any], *path: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = 1
    return out


@pytest.mark.parametrize(
    "where",
    [
        ("diagnostics", "foo"),
        ("diagnostics", "sweep", "rows", 0, "foo"),
        ("diagnostics", "zero_grad", "foo"),
        ("verdict", "overall", "foo"),
        ("dataset", "foo"),
        ("per_sample", "foo"),
        ("clean", "summary", "per_class", 0, "foo"),
    ],
    ids=lambda w: ".".join(map(str, w)),
)
def test_an_unknown_key_is_refused_by_both_validators(fresh, where):
    _, path = fresh
    data = _unknown(json.loads(path.read_text()), *where)
    with pytest.raises(jsonschema.ValidationError):
        shipped().validate(data)
    with pytest.raises(ReportSchemaError) as exc:
        validate_report(data, "report.json")
    named = ".".join(map(str, where)).replace(".0.", "[0].")
    assert str(exc.value) == f"report.json does not match the report schema: unknown key {named}"


def test_the_open_sections_keep_their_unknown_keys(fresh):
    """``config`` and ``provenance`` record the audit's options and environment: their keys
    grow with the audit, so other keys are kept (as JSON data with finite numbers)."""
    _, path = fresh
    data = json.loads(path.read_text())
    data["config"]["new_option"] = [1, "a"]
    shipped().validate(data)
    assert AuditReport.from_dict(data).to_dict() == data
    data["config"]["new_option"] = [float("inf")]
    with pytest.raises(ReportSchemaError, match=r"config\.new_option\[0\] must be a finite"):
        validate_report(data)
