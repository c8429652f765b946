"""A report's protocols section is believed only where its per-sample records support it: every
row, headline, strict, gap and McNemar number is recomputed on load, positions are checked
before anything indexes with them, and a protocol or row the audit never ran is refused, by
the Python reader and by ``gate`` and ``compare`` (one line naming the JSON path, exit 2)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ltrobust.audit.protocol_run import long_tailed_positions
from ltrobust.cli.main import app
from ltrobust.report import read_report
from ltrobust.report.protocol_scores import extra_scores, first_of_each_class
from ltrobust.report.validate import ReportSchemaError, validate_report

from .conftest import save_audit_set, save_test_cnn

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
GATE = ["--min", "protocol:robal.headline.overall=0", "--min", "protocol:taet.headline.overall=0"]


@pytest.fixture(scope="module")
def audited(tmp_path_factory, trained_cnn, balanced_test) -> tuple[Path, dict[str, Any]]:
    """One real audit with RoBal (five rows), TAET (a long-tailed subset: positions) and strict."""
    d = tmp_path_factory.mktemp("protocols")
    save_test_cnn(d / "model.pt", trained_cnn)
    save_audit_set(d, balanced_test)
    args = ["audit", str(d / "model.pt"), "--dataset", f"tensors:{d / 'test.pt'}"]
    args += ["--class-counts", str(d / "counts.json"), "--eps", "0.1", "--no-diagnostics"]
    args += ["--attacks", "fgsm", "--protocol", "robal,taet,strict", "--out", str(d / "r")]
    res = runner.invoke(app, [*args, "--quiet"])
    assert res.exit_code == 0, res.output + res.stderr
    report = json.loads((d / "r" / "report.json").read_text())
    assert 0 < len(report["protocols"]["taet"]["positions"]) < report["clean"]["summary"]["n"]
    return d / "r" / "report.json", report


def one_line_refusal(res: Any, needle: str) -> None:
    """Exit 2, one stderr line naming ``needle``, no traceback."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, (res.exit_code, res.output, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("ltrobust: error:"), res.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in res.output + res.stderr


def _robustbench(d: dict[str, Any]) -> None:
    """A protocol the audit never ran, listed in the config too, whose AA row names AutoAttack:
    the audit ran no ``aa``, so no per-sample record backs it."""
    d["config"]["protocols"].append("robustbench")
    sec = copy.deepcopy(d["protocols"]["strict"])
    sec["rows"] = {
        "clean": d["protocols"]["robal"]["rows"]["clean"],
        "AA": {**d["protocols"]["robal"]["rows"]["AA"], "attack": "aa"},
    }
    sec["headline"] = "AA"
    d["protocols"]["robustbench"] = sec


def _set(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return edit


P = ("protocols",)
# (tampering, the JSON path the refusal names)
TAMPERED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "headline 0.99": (
        _set(*P, "robal", "published", "overall", value=0.99),
        "robal.published.overall",
    ),
    "row 0.99": (_set(*P, "robal", "rows", "AA", "overall", value=0.99), "robal.rows.AA.overall"),
    "protocol never ran": (
        lambda d: d["protocols"].__setitem__("robustbench", d["protocols"]["strict"]),
        "protocols.robustbench is no protocol the audit ran",
    ),
    "protocol without records": (_robustbench, "protocols.robustbench.rows.AA.attack"),
    "row never ran": (
        lambda d: d["protocols"]["robal"]["rows"].__setitem__(
            "PGD-50", {**d["protocols"]["robal"]["rows"]["PGD-20"], "attack": "pgd50"}
        ),
        "protocols.robal.rows.PGD-50.attack must name an attack whose predictions",
    ),
    "row on another attack": (
        _set(*P, "robal", "rows", "AA", "attack", value="fgsm"),
        "protocols.robal.rows.AA.overall is",
    ),
    "position out of range": (
        lambda d: d["protocols"]["taet"]["positions"].__setitem__(-1, 10**6),
        "protocols.taet.positions[",
    ),
    "another position": (
        lambda d: d["protocols"]["taet"]["positions"].__setitem__(
            -1, d["clean"]["summary"]["n"] - 1
        ),
        "but the test set takes the first samples of each class in audit order",
    ),
    "n": (_set(*P, "robal", "n", value=7), "protocols.robal.n is 7"),
    "test set": (
        _set(*P, "taet", "test_set", value="balanced"),
        "protocols.taet.positions must be absent: a balanced test set is every sample",
    ),
    "headline on clean": (_set(*P, "taet", "headline", value="clean"), "protocols.taet.headline"),
    "rows in strict": (
        lambda d: d["protocols"]["strict"]["rows"].__setitem__(
            "FGSM", d["protocols"]["robal"]["rows"]["FGSM"]
        ),
        "protocols.strict.rows.FGSM is no row of the strict protocol",
    ),
    "strict": (_set(*P, "robal", "strict", "overall", value=0.5), "robal.strict.overall is 0.5"),
    "group": (
        _set(*P, "robal", "rows", "PGD-20", "groups", "head", value=0.01),
        "protocols.robal.rows.PGD-20.groups.head is 0.01",
    ),
    "per class": (
        _set(*P, "taet", "rows", "FGSM", "per_class", 0, value=0.5),
        "protocols.taet.rows.FGSM.per_class[0] is 0.5",
    ),
    "gap": (_set(*P, "taet", "gap", "overall", "gap", value=0.0), "protocols.taet.gap.overall.gap"),
    "credited b": (
        _set(*P, "taet", "gap", "overall", "b", value=0),
        "protocols.taet.gap.overall.b",
    ),
    "interval": (
        _set(*P, "robal", "gap", "groups", "tail", "interval", value=[0.5, 0.6]),
        "tail.interval[0] is 0.5",
    ),
    "a p-value on a new report": (
        _set(*P, "robal", "gap", "overall", "p", value=0.5),
        "protocols.robal.gap.overall.n is not a field the audit writes here",
    ),
}


@pytest.fixture(scope="module")
def tampered(audited, tmp_path_factory) -> dict[str, Path]:
    """Every tampering of :data:`TAMPERED` written next to the real report."""
    _, report = audited
    d = tmp_path_factory.mktemp("tampered")
    out = {}
    for i, (name, (edit, _)) in enumerate(TAMPERED.items()):
        data = copy.deepcopy(report)
        edit(data)
        assert data != report, name
        out[name] = d / f"t{i}.json"
        out[name].write_text(json.dumps(data))
    return out


def test_the_untampered_report_passes_gate_compare_and_the_reader(audited):
    path, report = audited
    assert read_report(path).to_dict()["protocols"] == report["protocols"]
    assert runner.invoke(app, ["gate", str(path), *GATE]).exit_code == 0
    assert runner.invoke(app, ["compare", str(path), str(path)]).exit_code == 0


@pytest.mark.parametrize("name", list(TAMPERED))
def test_a_tampered_protocols_section_is_refused(audited, tampered, name):
    path, _ = audited
    needle = TAMPERED[name][1]
    with pytest.raises(ReportSchemaError, match="protocols") as err:
        read_report(tampered[name])
    assert needle in str(err.value) and "\n" not in str(err.value)
    one_line_refusal(runner.invoke(app, ["gate", str(tampered[name]), *GATE]), needle)
    one_line_refusal(runner.invoke(app, ["compare", str(path), str(tampered[name])]), needle)


def test_the_inflated_headline_no_longer_passes_the_real_cli_gate(tampered):
    """Before, ``gate --min protocol:robal.headline.overall=0.9`` passed on the 0.99 written
    over the records' number; now the command refuses the file."""
    cmd = [sys.executable, "-m", "ltrobust", "gate", str(tampered["headline 0.99"])]
    res = subprocess.run(
        [*cmd, "--min", "protocol:robal.headline.overall=0.9"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.count("\n") == 1 and "robal.published.overall is 0.99" in res.stderr
    assert "gate passed" not in res.stdout


def test_reports_without_tampering_still_validate():
    """The golden report (no protocols) and the protocol evidence reports in benchmarks/."""
    paths = [ROOT / "tests" / "golden" / "report_v1.json"]
    paths += sorted((ROOT / "benchmarks" / "results" / "protocols").glob("*-fmnist-lt-x*.json"))
    assert len(paths) > 1
    for path in paths:
        validate_report(json.loads(path.read_text()), str(path))


def test_mcats_tail_number_is_recomputed_too():
    """A real report of benchmarks/ with MCAT's extra tail number: tampered, it is refused."""
    path = ROOT / "benchmarks" / "results" / "protocols" / "robal-fmnist-lt-x1.json"
    data = json.loads(path.read_text())
    (key,) = [k for k in data["protocols"]["mcat"]["rows"]["AA"] if k.startswith("tail_below")]
    data["protocols"]["mcat"]["rows"]["AA"][key] = 0.99
    with pytest.raises(ReportSchemaError, match=f"protocols.mcat.rows.AA.{key} is 0.99"):
        validate_report(data, "report.json")


def test_the_shared_formulas():
    # TAET's subset: the training profile (IR 5) with n_max 4 (class 0) keeps 4, 1 and 0
    # samples of the classes, the first ones in audit order
    y = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    assert long_tailed_positions(y, [50, 20, 10]) == first_of_each_class(y, [4, 1, 0])
    assert first_of_each_class(y, [4, 1, 0]) == [0, 1, 3, 6, 9]
    assert first_of_each_class(y, [9, 0, 1]) == [0, 2, 3, 6, 9]  # a class short of its size
    # MCAT's tail: classes with fewer than 20 training images; null when there is none
    ok = [True, False, True, True, False, False, True, True, True, False]
    assert extra_scores(ok, y, [50, 20, 10], tail_below=20) == {"tail_below_20": 2 / 3}
    assert extra_scores(ok, y, [50, 20, 10], tail_below=5) == {"tail_below_5": None}


def test_compare_shows_each_protocols_headline_metric(audited):
    """TAET leads with balanced robustness: compare's protocol row says so and holds that
    number in its first column, RoBal's (overall) row the overall one."""
    from ltrobust.report.compare import compare_reports

    path, data = audited
    report = read_report(str(path))
    rows = {r.outcome: r for r in compare_reports([report, report], ["a", "b"]).rows}
    taet, robal = data["protocols"]["taet"]["published"], data["protocols"]["robal"]["published"]
    assert rows["protocol:taet · balanced"].values[0][0] == taet["balanced"]
    assert rows["protocol:robal"].values[0][0] == robal["overall"]
