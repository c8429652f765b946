"""``--config run.toml`` and ``--print-config``: the file's options, the command line over them,
the merged config in report.json, and a printed config that reads back the same."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ltrobust.cli.main import app

from .conftest import TRAIN_COUNTS, save_audit_set, save_test_cnn

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_cnn, balanced_test):
    d = tmp_path_factory.mktemp("config")
    data = save_audit_set(d, balanced_test, counts=False)
    save_test_cnn(d / "model.pt", trained_cnn)
    counts = ", ".join(map(str, TRAIN_COUNTS))
    (d / "run.toml").write_text(
        f'model = "{d / "model.pt"}"\n'
        f'dataset = "tensors:{data}"\n'
        f"class-counts = [{counts}]\n"
        'attacks = ["fgsm", "pgd20"]\n'
        'eps = "1/20"\n'
        "step = 0.02\n"
        "batch_size = 16\n"
        "diagnostics = false\n"
        "[thresholds]\n"
        "aa_gap = 0.2\n"
    )
    return d


def test_command_line_overrides_the_file_and_the_report_records_the_merge(files):
    out = files / "out"
    args = ["audit", "--config", str(files / "run.toml"), "--eps", "0.1", "--quiet"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["eps"] == 0.1  # the command line wins
    assert report["config"]["attacks"] == ["fgsm", "pgd20"]  # the rest comes from the file
    assert report["config"]["batch_size"] == 16 and report["config"]["diagnostics"] is None
    assert report["dataset"]["class_counts"] == TRAIN_COUNTS


def test_printed_config_reads_back_the_same(files):
    first = runner.invoke(
        app, ["audit", "--config", str(files / "run.toml"), "--n", "30", "--print-config"]
    )
    assert first.exit_code == 0, first.output
    text = first.stdout
    assert "n = 30\n" in text and 'attacks = ["fgsm", "pgd20"]\n' in text
    assert "eps = 0.05\n" in text and "aa_gap = 0.2\n" in text
    assert "batch_size = 16\n" in text and "diagnostics = false\n" in text
    (files / "printed.toml").write_text(text)
    again = runner.invoke(app, ["audit", "--config", str(files / "printed.toml"), "--print-config"])
    assert again.exit_code == 0, again.output
    assert again.stdout == text


def test_defaults_print_without_a_model():
    result = runner.invoke(app, ["audit", "--print-config"])
    assert result.exit_code == 0, result.output
    assert 'protocol = ["strict"]\n' in result.stdout and "# model =" not in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('atacks = "fgsm"\n', "unknown key 'atacks'; did you mean 'attacks'?"),
        ("[load]\narc = 'x'\n", "unknown key 'load.arc'; did you mean 'load.arch'?"),
        ("diagnostics = 1\n", "diagnostics must be true or false"),
        ("eps = [\n", "not valid TOML"),
    ],
)
def test_bad_files_are_one_line(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    result = runner.invoke(app, ["audit", "m.pt", "--config", str(tmp_path / "bad.toml")])
    assert result.exit_code == 2
    err = result.stderr.strip()
    assert err.startswith("ltrobust: error: --config ") and message in err
    assert len(err.splitlines()) == 1


def test_a_missing_model_is_an_error():
    result = runner.invoke(app, ["audit", "--n", "5"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("ltrobust: error: Missing argument 'MODEL'")


def test_train_reads_the_file_and_the_command_line_wins(tmp_path, lt_train):
    import torch

    x, y = lt_train
    torch.save({"x": x[::4].clone(), "y": y[::4].clone()}, tmp_path / "train.pt")
    (tmp_path / "train.toml").write_text(
        f'dataset = "tensors:{tmp_path / "train.pt"}"\n'
        'arch = "test_mlp"\nmethod = "at"\nepochs = 3\neps = "1/10"\nattack-steps = 1\n'
    )
    out = tmp_path / "run"
    args = ["train", "--config", str(tmp_path / "train.toml"), "--epochs", "1", "--quiet"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    ckpt = torch.load(out / "final.pt", weights_only=True)
    assert ckpt["method_config"]["eps"] == pytest.approx(0.1)  # from the file
    assert ckpt["method_config"]["epochs"] == 1  # the command line over the file's 3
    (tmp_path / "bad.toml").write_text("epoch = 2\n")
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "bad.toml")])
    assert result.exit_code == 2 and "did you mean 'epochs'?" in result.stderr
