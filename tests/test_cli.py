"""The CLI through CliRunner: exit 0 on success, 2 on bad input with one line and no files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app

from .conftest import NUM_CLASSES, TRAIN_COUNTS, save_test_cnn

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_cnn, balanced_test):
    d = tmp_path_factory.mktemp("cli")
    x, y = balanced_test
    torch.save({"x": x, "y": y}, d / "test.pt")
    torch.save({"x": x.repeat(1, 3, 1, 1), "y": y}, d / "rgb.pt")
    torch.save({"x": x, "y": y % 4}, d / "four.pt")
    (d / "counts.json").write_text(json.dumps(TRAIN_COUNTS))
    (d / "counts4.json").write_text(json.dumps(TRAIN_COUNTS[:4]))
    save_test_cnn(d / "model.pt", trained_cnn)
    torch.save(trained_cnn.state_dict(), d / "plain.pt")
    (d / "corrupt.pt").write_bytes((d / "model.pt").read_bytes()[:200])

    nan_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, NUM_CLASSES))
    with torch.no_grad():
        nan_model[1].bias.fill_(float("nan"))
    torch.jit.trace(nan_model, x[:2]).save(str(d / "nan.ts"))
    return d


def _audit(files: Path, *extra: str, model: str = "model.pt", data: str = "test.pt"):
    args = [
        "audit",
        str(files / model),
        "--dataset",
        f"tensors:{files / data}",
        "--class-counts",
        str(files / "counts.json"),
        "--quiet",
        "--eps",
        "0.1",
        "--step",
        "0.02",
        "--no-diagnostics",
        *extra,
    ]
    return runner.invoke(app, args)


@pytest.mark.parametrize("command", [[], ["audit"], ["datasets"]])
def test_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_datasets_lists_every_dataset():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0, result.output
    for name in ("cifar10-lt", "cifar100-lt", "fashion-mnist-lt", "folder:PATH"):
        assert name in result.output
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        assert "fashion-mnist-lt: files in" in result.output


def test_audit_writes_report(files, trained_cnn, balanced_test, tmp_path):
    out = tmp_path / "run"
    result = _audit(files, "--attacks", "fgsm,pgd20", "--out", str(out), "--batch-size", "64")
    assert result.exit_code == 0, result.output
    assert "worst case" in result.output and "tail" in result.output
    report = json.loads((out / "report.json").read_text())
    x, y = balanced_test
    with torch.no_grad():
        clean = float((trained_cnn(x).argmax(1) == y).float().mean())
    assert report["clean"]["summary"]["accuracy"] == pytest.approx(clean)
    assert list(report["attacks"]) == ["fgsm", "pgd20"]
    assert report["provenance"]["checkpoint"]["sha256"] and report["schema_version"] == 2
    assert report["dataset"]["groups"] == {"head": [0, 1], "body": [2, 3], "tail": [4, 5]}
    worst = report["worst_case"]["summary"]["accuracy"]
    assert worst <= min(report["attacks"][a]["summary"]["accuracy"] for a in ("fgsm", "pgd20"))
    assert (out / "per_class.csv").read_text().count("\n") == 1 + 4 * NUM_CLASSES


def test_audit_state_dict_with_arch(files, tmp_path):
    result = _audit(
        files,
        "--attacks",
        "fgsm",
        "--out",
        str(tmp_path / "o"),
        "--arch",
        "test_cnn",
        model="plain.pt",
    )
    assert result.exit_code == 0, result.output


BAD = [
    ({"model": "missing.pt"}, [], "not found"),
    ({"model": "corrupt.pt"}, [], "cannot read"),
    ({"model": "plain.pt"}, ["--arch", "resnet99"], "valid"),
    ({"data": "four.pt"}, ["--class-counts", "COUNTS4"], "classes"),
    ({"data": "rgb.pt"}, [], "shape"),
    ({}, ["--attacks", "pgd20,deepfool"], "valid: fgsm"),
    ({}, ["--eps", "0"], "eps"),
    ({}, ["--eps", "2"], "eps"),
    ({"model": "nan.ts"}, [], "NaN"),
]


@pytest.mark.parametrize(("where", "extra", "needle"), BAD)
def test_bad_input_exits_2_with_one_line(files, tmp_path, where, extra, needle):
    out = tmp_path / "never"
    extra = [str(files / "counts4.json") if e == "COUNTS4" else e for e in extra]
    result = _audit(files, *extra, "--out", str(out), **where)
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ltrobust: error:"), err
    assert needle.lower() in err.lower()
    assert not out.exists()


def test_unknown_dataset_lists_valid_names(files, tmp_path):
    result = runner.invoke(
        app,
        [
            "audit",
            str(files / "model.pt"),
            "--dataset",
            "imagenet-lt",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 2
    assert "cifar10-lt" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_default_attacks_match_the_library():
    from ltrobust.attacks.registry import DEFAULT_ATTACKS
    from ltrobust.cli.audit import DEFAULT_ATTACK_TEXT

    assert DEFAULT_ATTACK_TEXT.split(",") == list(DEFAULT_ATTACKS)
