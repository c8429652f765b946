"""Every writer maps a failed write to one line (``cannot write PATH: REASON``, exit 2) and leaves
no partial or temporary file; a resumed run keeps the run's output options; the learning rate
and the optimiser's other values are bounded before any data is read.

A full disk is made for real and without privileges: a subprocess runs the CLI with an audit
hook that, the moment the temporary file of the chosen output is created, lowers the process's
file-size limit to 0 (RLIMIT_FSIZE, SIGXFSZ ignored), so the kernel refuses that write and every
later one with EFBIG (``file too large``). ENOSPC itself comes from ``/dev/full``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.errors import OutputError
from ltrobust.fileio import atomic_path, atomic_write_text
from ltrobust.models import create_model

from .conftest import NUM_CLASSES, save_audit_set, save_test_cnn, synthetic

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

#: the CLI, with the disk "filling up" when a temporary file whose name holds argv[1] is made
FULL_DISK = """
import resource, signal, sys
from ltrobust.cli.main import main

pattern = sys.argv.pop(1)
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]

def fill_disk(event, args):
    if event == "tempfile.mkstemp" and pattern in str(args[0]):
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
sys.addaudithook(fill_disk)
sys.argv[0] = "ltrobust"
main()
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory, balanced_test):
    d = tmp_path_factory.mktemp("writers")
    x, y = synthetic([12, 8, 6, 4, 3, 3], seed=5)
    torch.save({"x": x, "y": y}, d / "train.pt")
    torch.manual_seed(0)
    model = create_model("test_cnn", num_classes=NUM_CLASSES, in_channels=1, input_size=12)
    save_test_cnn(d / "model.pt", model)
    save_audit_set(d, balanced_test)
    return d


def train_args(d: Path, out: Path, *extra: str) -> list[str]:
    args = ["train", "--method", "at", "--dataset", f"tensors:{d / 'train.pt'}"]
    args += ["--arch", "test_cnn", "--epochs", "1", "--batch-size", "16", "--attack-steps", "1"]
    return [*args, "--monitor-n", "0", "--device", "cpu", "--quiet", "--out", str(out), *extra]


def audit_args(d: Path, out: Path) -> list[str]:
    args = ["audit", str(d / "model.pt"), "--dataset", f"tensors:{d / 'test.pt'}"]
    args += ["--class-counts", str(d / "counts.json"), "--attacks", "fgsm", "--eps", "0.1"]
    return [*args, "--no-diagnostics", "--device", "cpu", "--quiet", "--out", str(out)]


def full_disk(pattern: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", FULL_DISK, pattern, *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def refused_with(res: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2 and exactly ``ltrobust: error: message`` on stderr (besides epoch lines)."""
    lines = [s for s in res.stderr.splitlines() if s.strip() and not s.startswith("epoch ")]
    assert res.returncode == 2, res.stderr
    assert lines == [f"ltrobust: error: {message}"], res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def hidden_files(folder: Path) -> list[Path]:
    """Temporary files (ours ``.NAME.xxx.tmp``, safetensors' ``.tmpxxx``) left anywhere."""
    return [p for p in folder.rglob(".*") if p.is_file()]


def test_full_disk_at_final_safetensors(data, tmp_path):
    out = tmp_path / "run"
    args = train_args(data, out, "--save-format", "safetensors")
    res = full_disk(".final.safetensors.", args)
    final = out / "final.safetensors"
    refused_with(res, f"cannot write {final}: file too large (written: {out / 'final.pt'})")
    assert not final.exists() and not hidden_files(out)
    assert torch.load(out / "final.pt", weights_only=True)["arch"] == "test_cnn"  # complete


def test_full_disk_at_an_audit_cache_record(data, tmp_path):
    out = tmp_path / "audit"
    res = full_disk(".000000.pt.", audit_args(data, out))
    records = list((out / ".ltrobust-cache").glob("*/*/000000.pt"))
    record = next((out / ".ltrobust-cache").glob("*/clean-*")) / "000000.pt"
    refused_with(res, f"cannot write {record}: file too large")
    assert not records and not hidden_files(out) and not (out / "report.json").exists()


def test_full_disk_at_report_json(data, tmp_path):
    out = tmp_path / "audit"
    res = full_disk(".report.json.", audit_args(data, out))
    refused_with(res, f"cannot write {out / 'report.json'}: file too large (written: none)")
    assert not (out / "report.json").exists() and not hidden_files(out)


def _torch_file(path: Path) -> None:
    with open(path, "wb") as fh:
        torch.save({"w": torch.zeros(4096)}, fh)


def _text(path: Path) -> None:
    path.write_text("x" * 100_000, encoding="utf-8")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("write", [_torch_file, _text])
def test_no_space_left_reads_as_such(tmp_path, write):
    target = tmp_path / "out.pt"
    with pytest.raises(OutputError) as info, atomic_path(target):
        write(Path("/dev/full"))  # ENOSPC on the first write, as on a full disk
    assert str(info.value) == f"cannot write {target}: no space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_place_of_the_folder_is_named(tmp_path):
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(OutputError, match=r"cannot write .*taken/x\.json: .*taken is not a folder"):
        atomic_write_text(tmp_path / "taken" / "x.json", "{}")
    with pytest.raises(OutputError, match=r"cannot write .*: is a directory$"):
        atomic_write_text(tmp_path, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def _two_epochs_stopped(data: Path, out: Path) -> None:
    args = train_args(data, out, "--save-format", "safetensors", "--stop-after", "1")
    args[args.index("--epochs") + 1] = "2"
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert not (out / "final.pt").exists()


def test_resume_keeps_the_save_format(data, tmp_path):
    out = tmp_path / "run"
    _two_epochs_stopped(data, out)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["extra"]["resume"]["outputs"] == {"save_format": "safetensors"}
    res = runner.invoke(app, ["train", "--resume", str(out / "last.pt"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "also:" in res.stdout and (out / "final.safetensors").is_file()
    from safetensors.torch import load_file

    tensors = load_file(out / "final.safetensors")
    weights = torch.load(out / "final.pt", weights_only=True)["state_dict"]
    assert tensors.keys() == weights.keys()
    assert all(torch.equal(tensors[k], weights[k]) for k in weights)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "final.safetensors").stat().st_mode) == 0o666 & ~umask


def test_an_old_last_pt_without_output_options_resumes_as_before(data, tmp_path):
    out = tmp_path / "run"
    _two_epochs_stopped(data, out)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    del ckpt["extra"]["resume"]["outputs"]  # as written before the options were stored
    torch.save(ckpt, out / "last.pt")
    res = runner.invoke(app, ["train", "--resume", str(out / "last.pt"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (out / "final.pt").is_file() and not (out / "final.safetensors").exists()


def test_a_stored_unknown_save_format_is_refused(data, tmp_path):
    out = tmp_path / "run"
    _two_epochs_stopped(data, out)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    ckpt["extra"]["resume"]["outputs"] = {"save_format": "zip"}
    torch.save(ckpt, out / "last.pt")
    res = runner.invoke(app, ["train", "--resume", str(out / "last.pt"), "--quiet"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().endswith("stores an unknown save format 'zip'"), res.stderr


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--lr", "1e300"], "--lr must be a number in (0, 100], got 1e+300"),
        (["--lr", "101"], "--lr must be a number in (0, 100], got 101"),
        (["--lr-steps", "1:1e300"], "--lr 0.1 x --lr-steps factor 1e+300 = 1e+299 is above"),
        (["--lr", "50", "--lr-steps", "1:3"], "--lr 50 x --lr-steps factor 3 = 150 is above"),
        (["--momentum", "1e300"], "--momentum must be in [0, 1), got 1e+300"),
        (["--momentum", "1"], "--momentum must be in [0, 1), got 1"),
        (["--weight-decay", "1e300"], "--weight-decay must be in [0, 1], got 1e+300"),
    ],
)
def test_optimiser_values_are_bounded_before_any_data_is_read(tmp_path, extra, needle):
    missing = tmp_path / "no-such-data.pt"  # never read: the values are refused first
    args = ["train", "--method", "at", "--dataset", f"tensors:{missing}", "--arch", "test_cnn"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), *extra])
    lines = [s for s in res.stderr.splitlines() if s.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and needle in lines[0], res.stderr
    assert not (tmp_path / "out").exists()


def test_afr_stage2_lr_is_bounded(tmp_path):
    args = ["train", "--method", "afr", "--dataset", f"tensors:{tmp_path / 'none.pt'}"]
    res = runner.invoke(app, [*args, "--arch", "test_cnn", "--stage2-lr", "1e300"])
    assert res.exit_code == 2 and "--stage2-lr must be a number in (0, 100]" in res.stderr
