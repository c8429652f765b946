"""Progress a log can see, the plan before an audit, the total after it, and Ctrl-C (issue 21,
items 2 and 3): real subprocesses whose stderr is a pipe, the CLI in process, AutoAttack."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.audit.config import AuditConfig
from ltrobust.audit.plan import audit_plan, plan_lines
from ltrobust.audit.protocols import protocol_attacks
from ltrobust.cli.main import app
from ltrobust.report.validate import ReportSchemaError, validate_report

from .conftest import EPS, save_audit_set
from .test_audit_resume import Slow, audit_args

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_cnn, balanced_test):
    d = tmp_path_factory.mktemp("progress")
    save_audit_set(d, balanced_test)
    torch.save(Slow(trained_cnn, 0.004), d / "slow.pt")  # pickled: --unsafe-load
    return d


def _args(files: Path, out: Path, *extra: str, attacks: str = "fgsm,pgd20") -> list[str]:
    return audit_args(files, out, *extra, attacks=attacks, quiet=False)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}


def test_plain_progress_lines_when_stderr_is_a_pipe(files):
    out = files / "piped"
    proc = subprocess.run(
        [sys.executable, "-m", "ltrobust", *_args(files, out)],
        cwd=ROOT,
        env=_env(LTROBUST_PROGRESS_INTERVAL="0.05"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    report = json.loads((out / "report.json").read_text())
    # the plan comes first, then every pass starts, reports while it runs, and ends
    plan, start = err.index("[audit] plan: 3 passes over 60 samples"), err.index("clean: start")
    assert plan < start
    assert re.search(r"\[audit\]   pgd20 +attacks: PGD on CE", err), err
    for name in ("clean", "fgsm", "pgd20"):
        assert f"[audit] {name}: start, 60 samples\n" in err
        acc = 100 * report[name]["summary"]["accuracy"] if name == "clean" else None
        if acc is None:
            acc = 100 * report["attacks"][name]["summary"]["accuracy"]
        done = re.search(rf"\[audit\] {name}: done, accuracy ([\d.]+)%, [\d.]+ s\n", err)
        assert done and float(done[1]) == pytest.approx(acc, abs=0.05), err
    assert re.search(r"\[audit\] pgd20: \d+% \(\d+/60\), \d+ s", err), err
    assert "\x1b[" not in err and "━" not in err  # plain lines, no bars
    # the total after the table, per part, and the same in report.json
    timing = report["provenance"]["execution"]["timing"]
    assert set(timing) == {"total", "clean", "attacks", "protocols", "diagnostics", "escalation"}
    assert timing["total"] >= timing["clean"] + timing["attacks"] > 0
    assert timing["protocols"] == timing["diagnostics"] == timing["escalation"] == 0
    line = re.search(
        r"total ([\d.]+) s: clean [\d.]+, attacks ([\d.]+), protocols 0\.0", proc.stdout
    )
    assert line and float(line[1]) == pytest.approx(timing["total"], abs=0.06), proc.stdout
    seconds = report["worst_case"]["seconds"]
    assert seconds == pytest.approx(timing["attacks"])  # the worst row counts every pass
    # the schema: timing is optional (old reports), and its values are seconds
    validate_report(report)
    del report["provenance"]["execution"]["timing"]
    validate_report(report)
    report["provenance"]["execution"]["timing"] = {"total": -1.0}
    with pytest.raises(ReportSchemaError, match="timing"):
        validate_report(report)


def test_ctrl_c_names_the_cache_and_resume(files):
    out = files / "interrupted"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltrobust", *_args(files, out)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        while not any(": start, " in line for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == 130, rest
    cache = out / ".ltrobust-cache"
    assert rest.strip().splitlines()[-1] == (
        f"ltrobust: interrupted; finished batches are kept in {cache}: rerun the same command "
        "with --resume"
    )
    assert "Traceback" not in rest


def test_quiet_prints_no_plan_and_no_progress(files, tmp_path):
    result = runner.invoke(app, [*_args(files, tmp_path / "q", attacks="fgsm"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "[audit]" not in result.stderr
    assert re.search(r"^total [\d.]+ s: clean", result.stdout, re.M), result.stdout


def test_plan_names_protocol_rows_diagnostics_and_escalations():
    config = AuditConfig(attacks=["fgsm", "pgd20"], protocols=["strict", "reat"])
    rows = {(p, label): a for p, label, a in protocol_attacks(["reat"])}
    merged = replace(config, attacks=[*config.attacks, *dict.fromkeys(rows.values())])
    plan = {p.name: p for p in audit_plan(merged, rows, num_classes=10)}
    assert plan["fgsm"].part == "attacks" and plan["clean"].part == "clean"
    hidden = plan["ta-pgd20"]
    assert hidden.part == "protocols"
    assert hidden.what.startswith("torchattacks 3.5.1 PGD-20")
    assert "[protocol rows: reat PGD-20]" in hidden.what
    assert plan["sweep pgd20"].part == "diagnostics" and "-2, -1.5" in plan["sweep pgd20"].what
    assert "kappa -2, 0, 2" in plan["sweep apgd-dlr"].what
    assert plan["unbounded"].part == "diagnostics"
    assert plan["square"].maybe and plan["square"].part == "escalation"
    lines = plan_lines(list(plan.values()), 100)
    runs = sum(not p.maybe for p in plan.values())
    assert lines[0] == f"plan: {runs} passes over 100 samples"
    assert any("escalation (may follow)" in line for line in lines)
    # without diagnostics: no sweep, no unbounded attack, no escalation
    bare = audit_plan(replace(merged, diagnose=False), rows, num_classes=10)
    assert {p.part for p in bare} == {"clean", "attacks", "protocols"}


@pytest.fixture
def ltrobust_logger():
    logger = logging.getLogger("ltrobust")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_verbose_shows_info_lines(files, tmp_path, ltrobust_logger):
    plain = runner.invoke(
        app, [*_args(files, tmp_path / "a", attacks="fgsm"), "--quiet", "--resume"]
    )
    assert plain.exit_code == 0, plain.output
    assert "nothing to resume" not in plain.stderr
    loud = runner.invoke(
        app, ["-v", *_args(files, tmp_path / "b", attacks="fgsm"), "--quiet", "--resume"]
    )
    assert loud.exit_code == 0, loud.output
    assert "ltrobust: info: --resume: nothing to resume in" in loud.stderr, loud.stderr


def test_autoattack_reports_its_runs_without_changing_them(trained_cnn, balanced_test):
    from ltrobust.attacks.autoattack import AutoAttackAdapter, steps_to
    from ltrobust.attacks.threat import ThreatModel

    x, y = balanced_test
    x, y = x[::12], y[::12]
    attack = AutoAttackAdapter(ThreatModel("linf", EPS), version="fast", seed=0)
    silent = attack(trained_cnn, x, y)
    heard: list[str] = []
    with steps_to(heard.append):
        loud = attack(trained_cnn, x, y)
    assert torch.equal(silent, loud)
    assert heard[0].startswith("apgd-ce: start, ")
    assert any(h.startswith("apgd-ce: run 1 of at most 1,") for h in heard), heard
    assert any(h.startswith("apgd-t: run 1 of at most 5,") for h in heard), heard
    heard.clear()
    attack(trained_cnn, x, y)
    assert heard == []  # outside the block nobody hears
