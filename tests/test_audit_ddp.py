"""Multi-process audit: ``torchrun --nproc_per_node 2 -m ltrobust audit ...``
on the CPU with gloo shards the batches by rank, gathers the per-sample results, and writes one
report identical to the single-process one (compared without timings, the command line and
``provenance.execution``; see :func:`ltrobust.audit.engine.comparable`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ltrobust.audit.engine import comparable
from ltrobust.cli.main import app

from .conftest import EPS, save_audit_set, save_test_cnn

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_cnn, balanced_test):
    d = tmp_path_factory.mktemp("ddp")
    save_audit_set(d, balanced_test)
    save_test_cnn(d / "model.pt", trained_cnn)
    return d


def _args(files: Path, out: Path, *extra: str) -> list[str]:
    # batch size 14: 5 batches (14, 14, 14, 14, 4), 3 on rank 0 and 2 on rank 1; AutoAttack's
    # result depends on its batches, so it shows whether the boundaries were kept
    return [
        "audit",
        str(files / "model.pt"),
        "--dataset",
        f"tensors:{files / 'test.pt'}",
        "--class-counts",
        str(files / "counts.json"),
        "--attacks",
        "fgsm,pgd20,aa-fast",
        "--kappa",
        "0",
        "--eps",
        str(EPS),
        "--step",
        "0.02",
        "--batch-size",
        "14",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


def _torchrun(files: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        str(TORCHRUN),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "ltrobust",
        *_args(files, out, *extra),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def single(files):
    out = files / "single"
    result = CliRunner().invoke(app, _args(files, out))
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text())


def test_torchrun_two_processes_write_the_single_process_report(files, single):
    out = files / "two"
    proc = _torchrun(files, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("report: ") == 1  # only rank 0 prints and writes
    two = json.loads((out / "report.json").read_text())
    ex = two["provenance"]["execution"]
    assert (ex["world_size"], ex["reused"]) == (2, 0)
    assert ex["batches"] == single["provenance"]["execution"]["batches"]
    assert two["per_sample"]["aa_broken_by"] and "sweep" in two["diagnostics"]
    assert comparable(two) == comparable(single)


@pytest.mark.slow
def test_torchrun_resumes_a_single_process_cache(files, single):
    """The cache does not depend on the number of processes: two processes resume what one
    started (here: everything but the clean pass and the attacks' first batches is removed)."""
    import shutil

    out = files / "mixed"
    shutil.copytree(files / "single", out)
    records = sorted(out.glob(".ltrobust-cache/*/*/*.pt"))
    removed = [p for p in records if "clean" not in p.parent.name and p.name != "000000.pt"]
    for p in removed:
        p.unlink()
    proc = _torchrun(files, out, "--resume")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    two = json.loads((out / "report.json").read_text())
    ex = two["provenance"]["execution"]
    assert (ex["computed"], ex["reused"]) == (len(removed), len(records) - len(removed))
    assert f"reused {len(records) - len(removed)} of {len(records)} batches" in proc.stderr
    assert comparable(two) == comparable(single)
