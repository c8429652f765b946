"""Resume: an audit killed with SIGKILL and started again with ``--resume``
reuses every finished batch and ends with the report of an uninterrupted run; a changed setup
is refused with one line.

Reports are compared with :func:`ltrobust.audit.engine.comparable`: everything except timings,
the creation time, the command line and ``provenance.execution``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import ltrobust
from ltrobust.audit.engine import comparable
from ltrobust.cli.main import app

from .conftest import EPS, TRAIN_COUNTS, save_audit_set

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


class Slow(nn.Module):
    """The session's CNN with a pause in every forward pass, so that an audit in a subprocess
    is still running when the test kills it (saved pickled, loaded with ``--unsafe-load``)."""

    def __init__(self, net: nn.Module, pause: float) -> None:
        super().__init__()
        self.net, self.pause = net, pause

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.pause)
        return self.net(x)


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_cnn, balanced_test):
    d = tmp_path_factory.mktemp("resume")
    save_audit_set(d, balanced_test)
    torch.save(Slow(trained_cnn, 0.004), d / "slow.pt")
    return d


def audit_args(
    files: Path, out: Path, *extra: str, attacks: str = "fgsm,pgd20", quiet: bool = True
) -> list[str]:
    """``ltrobust audit`` of the slow model on the saved set (also the progress tests')."""
    return [
        "audit",
        str(files / "slow.pt"),
        "--unsafe-load",
        "--dataset",
        f"tensors:{files / 'test.pt'}",
        "--class-counts",
        str(files / "counts.json"),
        "--attacks",
        attacks,
        "--eps",
        str(EPS),
        "--step",
        "0.02",
        "--batch-size",
        "6",
        "--no-diagnostics",
        "--device",
        "cpu",
        *(["--quiet"] if quiet else []),
        "--out",
        str(out),
        *extra,
    ]


def _records(out: Path) -> int:
    return len(list((out / ".ltrobust-cache").glob("*/*/*.pt")))


@pytest.fixture(scope="module")
def reference(files):
    """The uninterrupted run (in this process): 3 passes x 10 batches."""
    out = files / "reference"
    result = runner.invoke(app, audit_args(files, out))
    assert result.exit_code == 0, result.output
    assert _records(out) == 30
    return json.loads((out / "report.json").read_text())


def test_resume_after_sigkill_gives_the_same_report(files, reference):
    out = files / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltrobust", *audit_args(files, out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        # clean and fgsm (20 records) are quick; kill in the middle of pgd20 (~0.1 s a batch)
        while _records(out) < 23 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = _records(out)
    assert 23 <= done < 30 and not (out / "report.json").exists()
    assert not list(out.rglob("*.tmp"))  # atomic writes: no half-written record is left

    result = runner.invoke(app, audit_args(files, out, "--resume"))
    assert result.exit_code == 0, result.output
    m = re.search(r"resume: reused (\d+) of (\d+) batches", result.stderr)
    assert m and (int(m[1]), int(m[2])) == (done, 30), result.stderr
    resumed = json.loads((out / "report.json").read_text())
    assert resumed["provenance"]["execution"]["reused"] == done
    assert comparable(resumed) == comparable(reference)


def test_changed_setup_is_refused_with_one_line(files, reference):
    out = files / "reference"
    for extra, needle in (
        (["--eps", "0.05"], "audit.eps 0.1 -> 0.05"),
        (["--batch-size", "7"], "audit.batch_size 6 -> 7"),
        (["--seed", "1"], "audit.seed 0 -> 1"),
    ):
        args = audit_args(files, out, "--resume", *extra)  # the last value of an option counts
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        err = result.stderr.strip()
        assert len(err.splitlines()) == 1 and err.startswith("ltrobust: error: --resume:"), err
        assert needle in err and "without --resume" in err
    assert json.loads((out / "report.json").read_text()) == reference  # nothing was written
    # a new attack list is a new setup too; without --resume it simply starts over
    result = runner.invoke(app, [*audit_args(files, out, "--resume"), "--attacks", "fgsm"])
    assert result.exit_code == 2 and "audit.attacks" in result.stderr


def test_resume_reuses_diagnostics_and_recomputes_what_is_missing(
    tmp_path, trained_cnn, balanced_test
):
    """Every pass (clean with its zero-gradient shares, attacks, AutoAttack's broken_by, the
    sweep, the unbounded attack) is resumed from its records; removed records are computed."""
    save_audit_set(tmp_path, balanced_test, "d.pt", counts=False)
    cache = tmp_path / "cache"

    def run(**kw):
        return ltrobust.audit(
            trained_cnn,
            dataset=f"tensors:{tmp_path / 'd.pt'}",
            attacks="pgd20,aa-fast",
            class_counts=TRAIN_COUNTS,
            eps=EPS,
            step=0.02,
            batch_size=16,
            kappas=[0],
            device="cpu",
            cache_dir=cache,
            **kw,
        )

    first = run()
    ex = first.provenance["execution"]
    # passes of 4 batches: clean, pgd20, aa-fast, apgd-dlr@kappa=0 (sweep), unbounded
    assert (ex["batches"], ex["computed"], ex["reused"]) == (20, 20, 0)
    assert first.per_sample["aa_broken_by"] and first.diagnostics["zero_grad"]["pgd_mean"]
    records = sorted(cache.glob("*/*/*.pt"))
    removed = [p for p in records if p.name in ("000001.pt", "000003.pt")]
    for p in removed:
        p.unlink()
    again = run(resume=True)
    ex = again.provenance["execution"]
    assert (ex["computed"], ex["reused"]) == (len(removed), 20 - len(removed))
    assert comparable(again.to_dict()) == comparable(first.to_dict())
    # thresholds only change the verdict: everything is reused
    from ltrobust.audit.config import Thresholds

    judged = run(resume=True, thresholds=Thresholds(aa_gap=0.5))
    assert judged.provenance["execution"]["reused"] == 20
    assert judged.per_sample == first.per_sample
