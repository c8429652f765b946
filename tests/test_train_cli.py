"""``ltrobust train`` through CliRunner: a run writes its files; bad input exits 2 with one line."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.cli.train import default_out, epoch_line
from ltrobust.metrics.collapse import collapse_of

from .conftest import NUM_CLASSES, TRAIN_COUNTS, synthetic

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("train-cli")
    x, y = synthetic(TRAIN_COUNTS, seed=1)
    torch.save({"x": x, "y": y}, d / "train.pt")
    x, y = synthetic([20] * NUM_CLASSES, seed=2)
    torch.save({"x": x, "y": y}, d / "test.pt")
    return d


def _train(files, *extra: str):
    args = [
        "train",
        "--dataset",
        f"tensors:{files / 'train.pt'}",
        "--arch",
        "test_mlp",
        "--epochs",
        "1",
        "--eps",
        "1/10",
        "--attack-steps",
        "2",
        "--quiet",
        *extra,
    ]
    return runner.invoke(app, args)


def test_help():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "--tail-form" in result.output and "--preset" in result.output


def test_cli_run_writes_checkpoints_and_history(files, tmp_path):
    out = tmp_path / "run"
    result = _train(
        files,
        "--method",
        "robal",
        "--test-dataset",
        f"tensors:{files / 'test.pt'}",
        "--monitor-n",
        "60",
        "--head-gamma",
        "1/16",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert f"final: {out / 'final.pt'}" in result.stdout.replace("\n", "")
    assert "test pgd20" in result.stderr  # the epoch summary line
    for name in ("last.pt", "final.pt", "history.csv", "history.json", "adv_counts.json"):
        assert (out / name).is_file(), name
    ckpt = torch.load(out / "final.pt", weights_only=True)
    assert ckpt["model_args"]["head"] == "cosine" and ckpt["model_args"]["head_gamma"] == 1 / 16
    assert ckpt["method_config"]["eps"] == pytest.approx(0.1)
    assert ckpt["extra"]["training"]["command"].startswith("ltrobust")
    assert len(ckpt["logit_adjustment"]) == NUM_CLASSES


def test_stop_after_then_resume(files, tmp_path):
    out = tmp_path / "run"
    result = _train(
        files, "--method", "at", "--epochs", "2", "--stop-after", "1", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "--resume" in result.stdout and not (out / "final.pt").exists()
    result = runner.invoke(app, ["train", "--resume", str(out / "last.pt"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (out / "final.pt").is_file()


BAD = [
    (["--method", "madry"], "valid: at, trades, robal, reat"),
    (["--method", "at", "--loss", "hinge"], "valid: ce, bsl, la, ldam, cb, focal"),
    (["--method", "robal", "--preset", "cifar10-X"], "valid: cifar10-N"),
    (["--method", "at", "--tau-p", "1"], "--tau-p does not apply to --method at"),
    (["--method", "trades", "--tail-form", "paper"], "does not apply"),
    (["--method", "reat", "--tail-form", "both"], "valid: official, paper"),
    (["--method", "at", "--eps", "8/0"], "--eps"),
    (["--method", "at", "--epochs", "0"], "--epochs"),
    (["--dataset", "tensors:/nonexistent/train.pt", "--method", "at"], "nonexistent"),
    (["--arch", "resnet99", "--method", "at"], "valid"),
    (["--resume", "/nonexistent/last.pt"], "not found"),
    ([], "--method"),
]


@pytest.mark.parametrize(("extra", "needle"), BAD)
def test_bad_input_exits_2_with_one_line(files, tmp_path, extra, needle):
    out = tmp_path / "never"
    result = _train(files, *extra, "--out", str(out))
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ltrobust: error:"), err
    assert needle.lower() in err.lower(), err
    assert not out.exists()


def test_preset_for_another_dataset_exits_2():
    args = ["train", "--method", "robal", "--preset", "cifar100-R", "--dataset", "cifar10-lt"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "cifar100-R is for cifar100-lt, not cifar10-lt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_preset_data_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("LTROBUST_DATA", str(tmp_path))
    monkeypatch.setattr("ltrobust.data.discovery.network_available", lambda host: False)
    args = ["train", "--method", "at", "--dataset", "cifar10-lt", "--data-dir", str(tmp_path)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "cifar10-lt: data not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_existing_run_needs_resume_or_overwrite(files, tmp_path):
    out = tmp_path / "run"
    assert _train(files, "--method", "at", "--monitor-n", "0", "--out", str(out)).exit_code == 0
    result = _train(files, "--method", "at", "--out", str(out))
    assert result.exit_code == 2 and "already holds a run" in result.stderr


def test_default_out_and_epoch_line():
    assert (
        str(default_out("reat", "cifar100-lt", "resnet18"))
        == "checkpoints/reat-cifar100-lt-resnet18"
    )
    assert default_out("at", "tensors:/a/b/t.pt", "test_mlp").name == "at-a_b_t.pt-test_mlp"
    row = {"epoch": 2, "lr": 0.1, "seconds": 3.0, "loss": 1.5, "bsl": 1.2, "tail": 0.3}
    row.update(train_clean_acc=0.5, train_adv_acc=0.25, monitor_clean_acc=0.6)
    row.update(monitor_clean_head=0.9, monitor_clean_tail=0.1, monitor_pgd20_acc=0.3)
    row.update(monitor_pgd20_head=0.5, monitor_pgd20_tail=0.0, monitor_seconds=1.0)
    line = epoch_line(row)
    assert "loss 1.5000 (bsl 1.2000, tail 0.3000)" in line and "adv 25.0%" in line
    assert "test pgd20 30.0% (head 50.0 / tail 0.0)" in line


def test_a_collapsed_model_is_warned_about(files, tmp_path):
    """A training set of one class and a few strays: after an epoch of plain CE the monitor
    sees one class predicted for every test image, and train says so on stderr (the audit of
    such a model is 'degenerate': tests/test_verdict.py)."""
    x, y = synthetic([300, 1, 1, 1, 1, 1], seed=3)
    torch.save({"x": x, "y": y}, tmp_path / "skewed.pt")
    args = ["train", "--dataset", f"tensors:{tmp_path / 'skewed.pt'}", "--arch", "test_mlp"]
    args += ["--method", "ce", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]
    args += ["--test-dataset", f"tensors:{files / 'test.pt'}", "--monitor-n", "60"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("look collapsed (one class takes 100.0% of them") == 1, result.stderr
    history = torch.load(tmp_path / "run" / "final.pt", weights_only=True)["history"]
    assert history[-1]["monitor_collapsed"] == 1.0 and history[-1]["monitor_top_share"] == 1.0
    # the rule itself, on the numbers of a healthy epoch: no warning
    assert not collapse_of([[9, 1], [2, 8]]).collapsed  # type: ignore[union-attr]
